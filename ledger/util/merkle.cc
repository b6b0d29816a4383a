#include "ledger/util/merkle.h"

#include <bit>
#include <cstring>
#include <limits>
#include <string>
#include <utility>

#include "ledger/util/assert.h"

namespace ledger::merkle {
namespace {

// Leaves [begin, end) of the tree.
struct Range {
  uint64_t begin = 0;
  uint64_t end = 0;
};

// Largest power of two strictly below `n`, n >= 2: where RFC 6962 splits a tree of n leaves.
uint64_t SplitPoint(uint64_t n) {
  LEDGER_ASSERT(n >= 2, "no split point for {} leaves", n);
  return std::bit_floor(n - 1);
}

// The hash of a subtree of an RFC 6962 tree: `range.begin` is a multiple of the largest power of
// two not above its length. Reads one perfect node per binary digit of the length, smallest (the
// rightmost) first, and folds them the way RFC 6962 splits: H(P1, H(P2, ... Pk)).
Status RangeHash(NodeReader& reader, Range range, Hash* out) {
  LEDGER_ASSERT(range.begin < range.end, "empty range [{}, {})", range.begin, range.end);
  LEDGER_ASSERT(range.begin % std::bit_floor(range.end - range.begin) == 0, "range [{}, {}) is not a subtree",
                range.begin, range.end);
  uint64_t end = range.end;
  bool first = true;
  while (end > range.begin) {
    int level = std::countr_zero(end - range.begin);
    Hash node;
    Status s = reader.Get({static_cast<uint8_t>(level), (end >> level) - 1}, &node);
    if (!s.ok()) return s;
    *out = first ? node : HashChildren(node, *out);
    first = false;
    end -= uint64_t{1} << level;
  }
  return Status::Ok();
}

// Hashes `ranges` into `proof`, last range first: the builders below collect them from the root
// down, and RFC 6962 lists them from the leaves up.
Status HashRangesReversed(NodeReader& reader, const std::vector<Range>& ranges, std::vector<Hash>* proof) {
  std::vector<Hash> hashes(ranges.size());
  for (size_t i = 0; i < ranges.size(); ++i) {
    Status s = RangeHash(reader, ranges[ranges.size() - 1 - i], &hashes[i]);
    if (!s.ok()) return s;
  }
  *proof = std::move(hashes);
  return Status::Ok();
}

Status ProofError(const std::string& reason) {
  return Status::Invalid("proof", reason);
}

std::string Sizes(uint64_t a, uint64_t b) {
  return std::to_string(a) + " and " + std::to_string(b);
}

// Shifts fn and sn right together until fn's lowest bit is set or fn is 0 (RFC 9162 step).
void ShiftUntilOdd(uint64_t* fn, uint64_t* sn) {
  while ((*fn & 1) == 0 && *fn != 0) {
    *fn >>= 1;
    *sn >>= 1;
  }
}

}  // namespace

Hash HashChildren(const Hash& left, const Hash& right) {
  std::array<uint8_t, 1 + 2 * sizeof(Hash)> buffer;
  buffer[0] = 0x01;
  std::memcpy(buffer.data() + 1, left.data(), left.size());
  std::memcpy(buffer.data() + 1 + left.size(), right.data(), right.size());
  return Sha256(buffer);
}

Hash EmptyTreeRoot() {
  return Sha256({});
}

// ---- Appender ----

Appender::Appender(NodeReader* reader, uint64_t size) : reader_(reader), size_(size) {
  LEDGER_ASSERT(reader != nullptr || size == 0, "a tree of {} leaves needs a node reader", size);
}

Status Appender::Frontier(int level, Hash* out) {
  LEDGER_ASSERT((size_ >> level & 1) == 1, "a tree of {} leaves has no frontier node at level {}", size_, level);
  uint64_t bit = uint64_t{1} << level;
  if ((frontier_known_mask_ & bit) == 0) {
    Status s = reader_->Get({static_cast<uint8_t>(level), (size_ >> level) - 1}, &frontier_[level]);
    if (!s.ok()) return s;
    frontier_known_mask_ |= bit;
  }
  *out = frontier_[level];
  return Status::Ok();
}

Status Appender::Add(const Hash& leaf, std::vector<Node>* writes) {
  if (size_ == std::numeric_limits<uint64_t>::max()) return Status::Invalid("size", "the tree is full");
  const uint64_t index = size_;
  const size_t writes_before = writes->size();
  writes->push_back({{0, index}, leaf});
  // Each set low bit of the old size is a left sibling that the new leaf's subtree completes.
  int level = 0;
  while ((index >> level & 1) == 1) {
    Hash left;
    Status s = Frontier(level, &left);
    if (!s.ok()) {
      writes->resize(writes_before);
      return s;
    }
    Hash parent = HashChildren(left, writes->back().hash);
    ++level;
    writes->push_back({{static_cast<uint8_t>(level), ((index + 1) >> level) - 1}, parent});
  }
  // Levels below `level` are now 0 bits of the size; `level` becomes a set bit.
  uint64_t completed_mask = (uint64_t{1} << level) - 1;
  frontier_known_mask_ = (frontier_known_mask_ & ~completed_mask) | (uint64_t{1} << level);
  frontier_[level] = writes->back().hash;
  size_ = index + 1;
  return Status::Ok();
}

Status Appender::Root(Hash* out) {
  if (size_ == 0) {
    *out = EmptyTreeRoot();
    return Status::Ok();
  }
  bool first = true;
  for (int level = 0; level < 64; ++level) {
    if ((size_ >> level & 1) == 0) continue;
    Hash node;
    Status s = Frontier(level, &node);
    if (!s.ok()) return s;
    *out = first ? node : HashChildren(node, *out);
    first = false;
  }
  return Status::Ok();
}

// ---- Building proofs ----

Status Root(NodeReader& reader, uint64_t size, Hash* out) {
  if (size == 0) {
    *out = EmptyTreeRoot();
    return Status::Ok();
  }
  return RangeHash(reader, {0, size}, out);
}

Status InclusionProof(NodeReader& reader, uint64_t leaf_index, uint64_t size, std::vector<Hash>* proof) {
  if (leaf_index >= size) {
    return Status::Invalid(
        "leaf_index", "leaf index and tree size are " + Sizes(leaf_index, size) + "; the index must be below the size");
  }
  // Walk from the root to the leaf; the subtree not taken at each split is a sibling.
  std::vector<Range> siblings;
  Range node = {0, size};
  while (node.end - node.begin > 1) {
    uint64_t mid = node.begin + SplitPoint(node.end - node.begin);
    if (leaf_index < mid) {
      siblings.push_back({mid, node.end});
      node.end = mid;
    } else {
      siblings.push_back({node.begin, mid});
      node.begin = mid;
    }
  }
  return HashRangesReversed(reader, siblings, proof);
}

Status ConsistencyProof(NodeReader& reader, uint64_t size1, uint64_t size2, std::vector<Hash>* proof) {
  if (size1 > size2) {
    return Status::Invalid("size1", "tree sizes are " + Sizes(size1, size2) + "; the first must not exceed the second");
  }
  proof->clear();
  if (size1 == 0 || size1 == size2) return Status::Ok();
  // SUBPROOF(size1, D[0:size2], true), unrolled: `node` is the current subtree and `whole` is b.
  std::vector<Range> ranges;
  Range node = {0, size2};
  bool whole = true;
  while (size1 != node.end) {
    uint64_t mid = node.begin + SplitPoint(node.end - node.begin);
    if (size1 <= mid) {
      ranges.push_back({mid, node.end});
      node.end = mid;
    } else {
      ranges.push_back({node.begin, mid});
      node.begin = mid;
      whole = false;
    }
  }
  if (!whole) ranges.push_back(node);  // MTH(D[0:m]) when the old tree is not a subtree here
  return HashRangesReversed(reader, ranges, proof);
}

// ---- Verifying proofs ----

Status VerifyInclusion(uint64_t leaf_index, uint64_t size, const Hash& leaf, std::span<const Hash> proof,
                       const Hash& root) {
  if (leaf_index >= size) {
    return ProofError("leaf index and tree size are " + Sizes(leaf_index, size) + "; the index must be below the size");
  }
  uint64_t fn = leaf_index;
  uint64_t sn = size - 1;
  Hash r = leaf;
  for (const Hash& p : proof) {
    if (sn == 0) return ProofError("inclusion proof has more hashes than the path to the root");
    if ((fn & 1) == 1 || fn == sn) {
      r = HashChildren(p, r);
      ShiftUntilOdd(&fn, &sn);
    } else {
      r = HashChildren(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) return ProofError("inclusion proof has fewer hashes than the path to the root");
  if (r != root) return ProofError("inclusion proof does not lead to the root");
  return Status::Ok();
}

Status VerifyConsistency(uint64_t size1, uint64_t size2, const Hash& root1, const Hash& root2,
                         std::span<const Hash> proof) {
  if (size1 > size2) {
    return ProofError("tree sizes are " + Sizes(size1, size2) + "; the first must not exceed the second");
  }
  if (size1 == size2 || size1 == 0) {
    if (!proof.empty()) return ProofError("consistency proof must be empty when the sizes are equal or the first is 0");
    if (size1 == 0 && root1 != EmptyTreeRoot()) return ProofError("the root of the empty tree is not SHA-256(\"\")");
    if (size1 == size2 && root1 != root2) return ProofError("trees of equal size have different roots");
    return Status::Ok();
  }
  if (proof.empty()) return ProofError("consistency proof is empty");
  // When size1 is a power of two, the old tree is a subtree of the new one and its root is the
  // implicit first proof hash.
  const bool root1_is_node = std::has_single_bit(size1);
  size_t next = root1_is_node ? 0 : 1;
  Hash fr = root1_is_node ? root1 : proof[0];
  Hash sr = fr;
  uint64_t fn = size1 - 1;
  uint64_t sn = size2 - 1;
  while ((fn & 1) == 1) {
    fn >>= 1;
    sn >>= 1;
  }
  for (; next < proof.size(); ++next) {
    const Hash& c = proof[next];
    if (sn == 0) return ProofError("consistency proof has more hashes than the path to the root");
    if ((fn & 1) == 1 || fn == sn) {
      fr = HashChildren(c, fr);
      sr = HashChildren(c, sr);
      ShiftUntilOdd(&fn, &sn);
    } else {
      sr = HashChildren(sr, c);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) return ProofError("consistency proof has fewer hashes than the path to the root");
  if (fr != root1) return ProofError("consistency proof does not lead to the first root");
  if (sr != root2) return ProofError("consistency proof does not lead to the second root");
  return Status::Ok();
}

}  // namespace ledger::merkle
