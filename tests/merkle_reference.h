// A naive RFC 6962 §2.1 Merkle tree, written as the RFC reads (MTH, PATH, PROOF/SUBPROOF over
// a vector of leaf hashes), for tests to compare ledger/merkle.h and the stored tree against.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "ledger/util/hash.h"

namespace testing {

inline ledger::Hash RefNode(const ledger::Hash& left, const ledger::Hash& right) {
  std::string bytes = "\x01";
  bytes.append(left.begin(), left.end());
  bytes.append(right.begin(), right.end());
  return ledger::Sha256(ledger::AsBytes(bytes));
}

inline uint64_t RefSplit(uint64_t n) {  // the largest power of two smaller than n
  uint64_t k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

// MTH, PATH and SUBPROOF over D[begin:end]. MTH results are memoized (a pure function) so that
// the exhaustive loops stay fast.
class MerkleReference {
 public:
  explicit MerkleReference(const std::vector<ledger::Hash>* leaves) : leaves_(leaves) {}

  ledger::Hash Mth(uint64_t begin, uint64_t end) {
    uint64_t n = end - begin;
    if (n == 0) return ledger::Sha256({});
    if (n == 1) return (*leaves_)[begin];
    uint64_t key = begin << 32 | end;
    if (auto it = memo_.find(key); it != memo_.end()) return it->second;
    uint64_t k = RefSplit(n);
    ledger::Hash h = RefNode(Mth(begin, begin + k), Mth(begin + k, end));
    memo_[key] = h;
    return h;
  }

  std::vector<ledger::Hash> Path(uint64_t m, uint64_t begin, uint64_t end) {
    uint64_t n = end - begin;
    if (n == 1) return {};
    uint64_t k = RefSplit(n);
    std::vector<ledger::Hash> path;
    if (m < k) {
      path = Path(m, begin, begin + k);
      path.push_back(Mth(begin + k, end));
    } else {
      path = Path(m - k, begin + k, end);
      path.push_back(Mth(begin, begin + k));
    }
    return path;
  }

  std::vector<ledger::Hash> Proof(uint64_t m, uint64_t n) { return Subproof(m, 0, n, true); }

  std::vector<ledger::Hash> Subproof(uint64_t m, uint64_t begin, uint64_t end, bool b) {
    uint64_t n = end - begin;
    if (m == n) return b ? std::vector<ledger::Hash>{} : std::vector<ledger::Hash>{Mth(begin, end)};
    uint64_t k = RefSplit(n);
    std::vector<ledger::Hash> proof;
    if (m <= k) {
      proof = Subproof(m, begin, begin + k, b);
      proof.push_back(Mth(begin + k, end));
    } else {
      proof = Subproof(m - k, begin + k, end, false);
      proof.push_back(Mth(begin, begin + k));
    }
    return proof;
  }

 private:
  const std::vector<ledger::Hash>* leaves_;
  std::unordered_map<uint64_t, ledger::Hash> memo_;
};

}  // namespace testing
