// Merkle tree (ledger/merkle.h): checked against a naive RFC 6962 §2.1 reference
// (tests/merkle_reference.h), against the certificate-transparency test vectors, for its read counts, and with proofs
// broken on purpose.
#include "ledger/util/merkle.h"

#include <doctest/doctest.h>

#include <algorithm>
#include <bit>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

#include "benefit_ledger/evidence.h"
#include "tests/merkle_reference.h"

using namespace ledger;
using namespace ledger::merkle;

namespace {

constexpr uint64_t kBigSize = 100000;
constexpr uint64_t kSmallSizeMax = 300;

// Stored nodes in memory. Serves only nodes of the tree of `visible_size` leaves, so that a read
// outside the tree asked about fails; counts reads; can fail the n-th read.
class MemoryNodes : public NodeReader {
 public:
  Status Get(NodeId id, Hash* out) override {
    ++reads;
    if (fail_at_read != 0 && reads == fail_at_read) return failure;
    if (id.level >= 63 || ((id.index + 1) << id.level) > visible_size) {
      return Status::NotFound("node outside the tree of the visible size");
    }
    auto it = nodes.find({id.level, id.index});
    if (it == nodes.end()) return Status::NotFound("node not stored");
    *out = it->second;
    return Status::Ok();
  }

  // Stores `writes`; each node is written once (the store is append-only).
  void Put(const std::vector<Node>& writes) {
    for (const Node& node : writes) {
      bool inserted = nodes.insert({{node.id.level, node.id.index}, node.hash}).second;
      REQUIRE(inserted);
    }
  }

  std::map<std::pair<int, uint64_t>, Hash> nodes;
  uint64_t visible_size = 0;
  uint64_t reads = 0;
  uint64_t fail_at_read = 0;  // 1-based; 0 never fails
  Status failure = Status::IOError("injected read failure");
};

// Appends `leaves` to a store of `size_before` leaves with a fresh Appender, the way a batch would:
// the batch's own writes become visible only after it.
void AppendBatch(MemoryNodes* store, uint64_t size_before, std::span<const Hash> leaves) {
  store->visible_size = size_before;
  Appender appender(store, size_before);
  std::vector<Node> writes;
  for (const Hash& leaf : leaves) REQUIRE(appender.Add(leaf, &writes).ok());
  store->Put(writes);
  store->visible_size = size_before + leaves.size();
}

using Reference = testing::MerkleReference;  // The naive RFC 6962 reference (merkle_reference.h).

// ---- One big tree, built once through Appender in batches of varying size ----

struct World {
  std::vector<Hash> leaves;
  MemoryNodes store;
  Reference ref{&leaves};
};

World& Big() {
  static World* world = [] {
    auto* w = new World;
    for (uint64_t i = 0; i < kBigSize; ++i) w->leaves.push_back(LeafHash(AsBytes("leaf " + std::to_string(i))));
    std::mt19937_64 rng(6962);
    uint64_t size = 0;
    while (size < kBigSize) {
      uint64_t batch = std::min<uint64_t>(kBigSize - size, 1 + rng() % 700);
      AppendBatch(&w->store, size, std::span(w->leaves).subspan(size, batch));
      size += batch;
    }
    return w;
  }();
  return *world;
}

Hash RootOf(uint64_t size) {
  return Big().ref.Mth(0, size);
}

// Every size up to kSmallSizeMax, then random and edge sizes up to kBigSize.
std::vector<uint64_t> BigSizes() {
  std::vector<uint64_t> sizes = {511, 512, 513, 4095, 4096, 4097, 65535, 65536, 65537, 99999, kBigSize};
  std::mt19937_64 rng(9162);
  for (int i = 0; i < 50; ++i) sizes.push_back(kSmallSizeMax + 1 + rng() % (kBigSize - kSmallSizeMax));
  return sizes;
}

// ceil(log2 n), n >= 1: the height of the tree of n leaves.
uint64_t CeilLog2(uint64_t n) {
  return std::bit_width(n - 1);
}

// The read bounds promised in merkle.h.
uint64_t InclusionReadsMax(uint64_t n) {
  uint64_t h = CeilLog2(n);
  return n <= 2 ? h : 2 * h - 2;
}
uint64_t ConsistencyReadsMax(uint64_t size2) {
  return size2 == 1 ? 0 : 2 * CeilLog2(size2) - 1;
}

Hash FromHex(const char* hex) {
  Hash h{};
  REQUIRE(ParseHexHash(hex, &h));
  return h;
}

Hash Flipped(Hash h, int bit) {
  h[bit / 8] ^= static_cast<uint8_t>(1u << (bit % 8));
  return h;
}

// Runs the proof of (m, n) and checks it against the reference, the verifier and the read bound.
void CheckInclusion(uint64_t m, uint64_t n, uint64_t* max_reads) {
  World& w = Big();
  w.store.visible_size = n;
  w.store.reads = 0;
  std::vector<Hash> proof;
  REQUIRE(InclusionProof(w.store, m, n, &proof).ok());
  if (w.store.reads > *max_reads) *max_reads = w.store.reads;
  CHECK(w.store.reads <= InclusionReadsMax(n));
  CHECK(proof == w.ref.Path(m, 0, n));
  CHECK(VerifyInclusion(m, n, w.leaves[m], proof, RootOf(n)).ok());
}

void CheckConsistency(uint64_t size1, uint64_t size2, uint64_t* max_reads) {
  World& w = Big();
  w.store.visible_size = size2;
  w.store.reads = 0;
  std::vector<Hash> proof;
  REQUIRE(ConsistencyProof(w.store, size1, size2, &proof).ok());
  if (w.store.reads > *max_reads) *max_reads = w.store.reads;
  CHECK(w.store.reads <= ConsistencyReadsMax(size2));
  std::vector<Hash> expected = (size1 == 0 || size1 == size2) ? std::vector<Hash>{} : w.ref.Proof(size1, size2);
  CHECK(proof == expected);
  CHECK(VerifyConsistency(size1, size2, RootOf(size1), RootOf(size2), proof).ok());
}

}  // namespace

TEST_CASE("known answers: the certificate-transparency test vectors") {
  const std::vector<std::string> inputs = {"",
                                           std::string(1, '\0'),
                                           "\x10",
                                           "\x20\x21",
                                           "\x30\x31",
                                           "\x40\x41\x42\x43",
                                           "\x50\x51\x52\x53\x54\x55\x56\x57",
                                           "\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f"};
  const char* roots[] = {"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
                         "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                         "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
                         "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
                         "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                         "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
                         "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
                         "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
                         "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"};
  std::vector<Hash> leaves;
  for (const std::string& input : inputs) leaves.push_back(LeafHash(AsBytes(input)));
  MemoryNodes store;
  AppendBatch(&store, 0, leaves);
  Reference ref(&leaves);
  for (uint64_t size = 0; size <= 8; ++size) {
    Hash root;
    REQUIRE(Root(store, size, &root).ok());
    CHECK(Hex(root) == roots[size]);
    CHECK(Hex(ref.Mth(0, size)) == roots[size]);
  }
  CHECK(EmptyTreeRoot() == FromHex(roots[0]));
  CHECK(ledger::evidence::kEmptyTreeRoot == EmptyTreeRoot());  // The public constant (evidence.h) is it.

  struct Vector {
    uint64_t a, b;  // leaf index and size, or size1 and size2
    std::vector<const char*> proof;
  };
  const Vector inclusion[] = {
      {0,
       8,
       {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
      {5,
       8,
       {"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
  };
  for (const Vector& v : inclusion) {
    std::vector<Hash> expected, proof;
    for (const char* hex : v.proof) expected.push_back(FromHex(hex));
    REQUIRE(InclusionProof(store, v.a, v.b, &proof).ok());
    CHECK(proof == expected);
    CHECK(VerifyInclusion(v.a, v.b, leaves[v.a], proof, FromHex(roots[v.b])).ok());
  }
  const Vector consistency[] = {
      {1, 1, {}},
      {1,
       8,
       {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
        "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
      {6,
       8,
       {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
        "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
      {2,
       5,
       {"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
        "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
  };
  for (const Vector& v : consistency) {
    std::vector<Hash> expected, proof;
    for (const char* hex : v.proof) expected.push_back(FromHex(hex));
    REQUIRE(ConsistencyProof(store, v.a, v.b, &proof).ok());
    CHECK(proof == expected);
    CHECK(VerifyConsistency(v.a, v.b, FromHex(roots[v.a]), FromHex(roots[v.b]), proof).ok());
  }
}

TEST_CASE("the appender writes exactly the perfect nodes that complete") {
  const uint64_t kLeaves = 3000;
  std::vector<Hash> leaves;
  for (uint64_t i = 0; i < kLeaves; ++i) leaves.push_back(LeafHash(AsBytes("leaf " + std::to_string(i))));
  Reference ref(&leaves);

  // One Appender from the empty tree: it never reads, and Root() follows every append.
  MemoryNodes store;
  Appender appender(&store, 0);
  for (uint64_t i = 0; i < kLeaves; ++i) {
    std::vector<Node> writes;
    REQUIRE(appender.Add(leaves[i], &writes).ok());
    std::vector<std::pair<int, uint64_t>> expected_ids = {{0, i}};
    for (int k = 1; (i + 1) % (uint64_t{1} << k) == 0; ++k)
      expected_ids.push_back({k, (i + 1) / (uint64_t{1} << k) - 1});
    REQUIRE(writes.size() == expected_ids.size());
    for (size_t j = 0; j < writes.size(); ++j) {
      CHECK(writes[j].id.level == expected_ids[j].first);
      CHECK(writes[j].id.index == expected_ids[j].second);
      uint64_t begin = writes[j].id.index << writes[j].id.level;
      CHECK(writes[j].hash == ref.Mth(begin, begin + (uint64_t{1} << writes[j].id.level)));
    }
    store.Put(writes);
    Hash root;
    REQUIRE(appender.Root(&root).ok());
    CHECK(root == ref.Mth(0, i + 1));
    CHECK(appender.size() == i + 1);
  }
  CHECK(store.reads == 0);

  // Fresh Appenders per batch: each reads at most the stored frontier, once, and the result is
  // the same store.
  MemoryNodes batched;
  std::mt19937_64 rng(42);
  uint64_t size = 0;
  while (size < kLeaves) {
    uint64_t batch = std::min<uint64_t>(kLeaves - size, 1 + rng() % 40);
    batched.reads = 0;
    AppendBatch(&batched, size, std::span(leaves).subspan(size, batch));
    CHECK(batched.reads <= static_cast<uint64_t>(std::popcount(size)));
    Appender reopened(&batched, size + batch);
    Hash root;
    REQUIRE(reopened.Root(&root).ok());
    CHECK(root == ref.Mth(0, size + batch));
    size += batch;
  }
  CHECK(batched.nodes == store.nodes);
}

TEST_CASE("a failed append changes nothing") {
  World& w = Big();
  const uint64_t size = 1023;  // appending leaf 1023 combines ten stored frontier nodes
  w.store.visible_size = size;
  for (uint64_t fail_at = 1; fail_at <= 10; ++fail_at) {
    Appender appender(&w.store, size);
    w.store.reads = 0;
    w.store.fail_at_read = fail_at;
    std::vector<Node> writes = {Node{}};  // a write from earlier in the batch stays untouched
    Status s = appender.Add(w.leaves[size], &writes);
    CHECK(s.code() == Status::Code::kIOError);
    CHECK(writes.size() == 1);
    CHECK(appender.size() == size);
    w.store.fail_at_read = 0;
    REQUIRE(appender.Add(w.leaves[size], &writes).ok());
    CHECK(writes.size() == 12);
    CHECK(writes.back().hash == RootOf(1024));
  }
  Appender appender(&w.store, size);
  w.store.reads = 0;
  w.store.fail_at_read = 1;
  Hash root;
  CHECK(appender.Root(&root).code() == Status::Code::kIOError);
  w.store.fail_at_read = 0;
}

TEST_CASE("the root of every size is MTH, in popcount(size) reads") {
  World& w = Big();
  std::vector<uint64_t> sizes;
  for (uint64_t n = 0; n <= kSmallSizeMax; ++n) sizes.push_back(n);
  for (uint64_t n : BigSizes()) sizes.push_back(n);
  for (uint64_t n : sizes) {
    CAPTURE(n);
    w.store.visible_size = n;
    w.store.reads = 0;
    Hash root;
    REQUIRE(Root(w.store, n, &root).ok());
    CHECK(root == RootOf(n));
    CHECK(w.store.reads == static_cast<uint64_t>(std::popcount(n)));
  }
}

TEST_CASE("inclusion proofs are RFC 6962 PATH and verify") {
  uint64_t max_reads = 0;
  for (uint64_t n = 1; n <= kSmallSizeMax; ++n) {
    for (uint64_t m = 0; m < n; ++m) {
      CAPTURE(n);
      CAPTURE(m);
      CheckInclusion(m, n, &max_reads);
    }
  }
  std::mt19937_64 rng(1);
  for (uint64_t n : BigSizes()) {
    std::vector<uint64_t> indices = {0, 1, n / 2, n - 2, n - 1};
    for (int i = 0; i < 20; ++i) indices.push_back(rng() % n);
    for (uint64_t m : indices) {
      CAPTURE(n);
      CAPTURE(m);
      CheckInclusion(m, n, &max_reads);
    }
  }
  MESSAGE("most reads for an inclusion proof: " << max_reads);
  CHECK(max_reads == InclusionReadsMax(65535));  // the bound is attained at n = 2^16 - 1, leaf 0
}

TEST_CASE("consistency proofs are RFC 6962 PROOF and verify") {
  uint64_t max_reads = 0;
  for (uint64_t size2 = 1; size2 <= kSmallSizeMax; ++size2) {
    for (uint64_t size1 = 0; size1 <= size2; ++size1) {
      CAPTURE(size1);
      CAPTURE(size2);
      CheckConsistency(size1, size2, &max_reads);
    }
  }
  std::mt19937_64 rng(2);
  for (uint64_t size2 : BigSizes()) {
    std::vector<uint64_t> sizes1 = {1, 2, std::bit_floor(size2), std::bit_floor(size2) - 1, size2 - 1, size2};
    for (int i = 0; i < 20; ++i) sizes1.push_back(1 + rng() % size2);
    for (uint64_t size1 : sizes1) {
      CAPTURE(size1);
      CAPTURE(size2);
      CheckConsistency(size1, size2, &max_reads);
    }
  }
  MESSAGE("most reads for a consistency proof: " << max_reads);
  CHECK(max_reads == ConsistencyReadsMax(65535));  // attained at 2^15 - 1 -> 2^16 - 1
}

TEST_CASE("inclusion verification rejects every broken proof") {
  World& w = Big();
  std::vector<std::pair<uint64_t, uint64_t>> cases;  // (leaf index, size)
  for (uint64_t n :
       {1, 2, 3, 4, 5, 6, 7, 8, 9, 15, 16, 17, 31, 32, 33, 100, 255, 256, 257, 1000, 65536, 65537, 99999}) {
    for (uint64_t m : {uint64_t{0}, uint64_t{1}, n / 3, n / 2, n - 2, n - 1}) {
      if (m < n) cases.push_back({m, n});
    }
  }
  for (auto [m, n] : cases) {
    CAPTURE(m);
    CAPTURE(n);
    w.store.visible_size = n;
    std::vector<Hash> proof;
    REQUIRE(InclusionProof(w.store, m, n, &proof).ok());
    const Hash leaf = w.leaves[m];
    const Hash root = RootOf(n);
    REQUIRE(VerifyInclusion(m, n, leaf, proof, root).ok());
    int wrong_codes = 0;
    auto accepted = [&](uint64_t mm, uint64_t nn, const Hash& l, const std::vector<Hash>& p, const Hash& r) {
      Status s = VerifyInclusion(mm, nn, l, p, r);
      wrong_codes += !s.ok() && (s.code() != Status::Code::kInvalidArgument || s.field() != "proof");
      return s.ok();
    };

    int accepted_count = 0;
    for (size_t i = 0; i < proof.size(); ++i) {
      for (int bit = 0; bit < 256; ++bit) {
        std::vector<Hash> bad = proof;
        bad[i] = Flipped(bad[i], bit);
        accepted_count += accepted(m, n, leaf, bad, root);
      }
    }
    for (int bit = 0; bit < 256; ++bit) {
      accepted_count += accepted(m, n, Flipped(leaf, bit), proof, root);
      accepted_count += accepted(m, n, leaf, proof, Flipped(root, bit));
    }
    CHECK(accepted_count == 0);

    // Wrong index or size (with the true root of that size), index not below size.
    CHECK_FALSE(accepted(m + 1, n, leaf, proof, root));
    CHECK_FALSE(accepted(m - 1, n, leaf, proof, root));  // wraps to 2^64-1 for m == 0
    CHECK_FALSE(accepted(m, n + 1, leaf, proof, RootOf(n + 1)));
    CHECK_FALSE(accepted(m, n - 1, leaf, proof, RootOf(n - 1)));
    CHECK_FALSE(accepted(n, n, leaf, proof, root));
    CHECK_FALSE(accepted(n + 7, n, leaf, proof, root));
    CHECK_FALSE(accepted(0, 0, leaf, proof, root));

    // Extra, missing and reordered hashes.
    for (const Hash& extra : {root, leaf, proof.empty() ? leaf : proof.back()}) {
      std::vector<Hash> longer = proof;
      longer.push_back(extra);
      CHECK_FALSE(accepted(m, n, leaf, longer, root));
      longer = proof;
      longer.insert(longer.begin(), extra);
      CHECK_FALSE(accepted(m, n, leaf, longer, root));
    }
    for (size_t i = 0; i < proof.size(); ++i) {
      std::vector<Hash> shorter = proof;
      shorter.erase(shorter.begin() + static_cast<std::ptrdiff_t>(i));
      CHECK_FALSE(accepted(m, n, leaf, shorter, root));
      if (i + 1 < proof.size()) {
        std::vector<Hash> swapped = proof;
        std::swap(swapped[i], swapped[i + 1]);
        CHECK_FALSE(accepted(m, n, leaf, swapped, root));
      }
    }

    // Proofs made for another size or another leaf.
    for (uint64_t other_n : {n - 1, n + 1, 2 * n}) {
      if (m >= other_n || other_n > kBigSize) continue;
      std::vector<Hash> other;
      w.store.visible_size = other_n;
      REQUIRE(InclusionProof(w.store, m, other_n, &other).ok());
      CHECK_FALSE(accepted(m, n, leaf, other, root));
    }
    if (n > 1) {
      uint64_t other_m = (m + 1) % n;
      std::vector<Hash> other;
      w.store.visible_size = n;
      REQUIRE(InclusionProof(w.store, other_m, n, &other).ok());
      CHECK_FALSE(accepted(m, n, leaf, other, root));
      CHECK_FALSE(accepted(other_m, n, leaf, other, root));
    }
    CHECK(wrong_codes == 0);
  }
}

TEST_CASE("a root only vouches for the size it was signed with") {
  // RFC 9162 verification fixes the proof's length, not the size: leaf 0's proof in the tree of 3
  // also fits the shape of the tree of 4. It proves nothing about the tree of 4, because its
  // root is the root of 3; callers must take size and root from the same tree head.
  World& w = Big();
  w.store.visible_size = 3;
  std::vector<Hash> proof;
  REQUIRE(InclusionProof(w.store, 0, 3, &proof).ok());
  CHECK(VerifyInclusion(0, 4, w.leaves[0], proof, RootOf(3)).ok());
  CHECK_FALSE(VerifyInclusion(0, 4, w.leaves[0], proof, RootOf(4)).ok());
  // Likewise the consistency proof 1 -> 3 fits the shape of 1 -> 4, with the root of 3.
  REQUIRE(ConsistencyProof(w.store, 1, 3, &proof).ok());
  CHECK(VerifyConsistency(1, 4, RootOf(1), RootOf(3), proof).ok());
  CHECK_FALSE(VerifyConsistency(1, 4, RootOf(1), RootOf(4), proof).ok());
}

TEST_CASE("consistency verification rejects every broken proof") {
  World& w = Big();
  std::vector<std::pair<uint64_t, uint64_t>> cases;  // (size1, size2), 0 < size1 < size2
  for (uint64_t size2 = 2; size2 <= 16; ++size2) {
    for (uint64_t size1 = 1; size1 < size2; ++size1) cases.push_back({size1, size2});
  }
  for (auto pair : std::vector<std::pair<uint64_t, uint64_t>>{{31, 32},
                                                              {32, 33},
                                                              {33, 100},
                                                              {64, 257},
                                                              {100, 256},
                                                              {255, 1000},
                                                              {1000, 65537},
                                                              {65536, 99999},
                                                              {3, 99999}}) {
    cases.push_back(pair);
  }
  for (auto [size1, size2] : cases) {
    CAPTURE(size1);
    CAPTURE(size2);
    w.store.visible_size = size2;
    std::vector<Hash> proof;
    REQUIRE(ConsistencyProof(w.store, size1, size2, &proof).ok());
    const Hash root1 = RootOf(size1);
    const Hash root2 = RootOf(size2);
    REQUIRE(VerifyConsistency(size1, size2, root1, root2, proof).ok());
    int wrong_codes = 0;
    auto accepted = [&](uint64_t s1, uint64_t s2, const Hash& r1, const Hash& r2, const std::vector<Hash>& p) {
      Status s = VerifyConsistency(s1, s2, r1, r2, p);
      wrong_codes += !s.ok() && (s.code() != Status::Code::kInvalidArgument || s.field() != "proof");
      return s.ok();
    };

    int accepted_count = 0;
    for (size_t i = 0; i < proof.size(); ++i) {
      for (int bit = 0; bit < 256; ++bit) {
        std::vector<Hash> bad = proof;
        bad[i] = Flipped(bad[i], bit);
        accepted_count += accepted(size1, size2, root1, root2, bad);
      }
    }
    for (int bit = 0; bit < 256; ++bit) {
      accepted_count += accepted(size1, size2, Flipped(root1, bit), root2, proof);
      accepted_count += accepted(size1, size2, root1, Flipped(root2, bit), proof);
    }
    CHECK(accepted_count == 0);

    // Wrong sizes with the true roots of those sizes; a wrong first size even with the original
    // roots (a wrong second size with the original root2 can fit: see the test above).
    for (auto [s1, s2] : std::vector<std::pair<uint64_t, uint64_t>>{
             {size1 - 1, size2}, {size1 + 1, size2}, {size1, size2 - 1}, {size1, size2 + 1}, {size2, size1}}) {
      CAPTURE(s1);
      CAPTURE(s2);
      CHECK_FALSE(accepted(s1, s2, RootOf(s1), RootOf(s2), proof));
      if (s2 == size2) CHECK_FALSE(accepted(s1, s2, root1, root2, proof));
    }
    CHECK_FALSE(accepted(size1, size2, root2, root1, proof));

    // Extra, missing and reordered hashes.
    for (const Hash& extra : {root1, root2, proof.back()}) {
      std::vector<Hash> longer = proof;
      longer.push_back(extra);
      CHECK_FALSE(accepted(size1, size2, root1, root2, longer));
      longer = proof;
      longer.insert(longer.begin(), extra);
      CHECK_FALSE(accepted(size1, size2, root1, root2, longer));
    }
    for (size_t i = 0; i < proof.size(); ++i) {
      std::vector<Hash> shorter = proof;
      shorter.erase(shorter.begin() + static_cast<std::ptrdiff_t>(i));
      CHECK_FALSE(accepted(size1, size2, root1, root2, shorter));
      if (i + 1 < proof.size() && proof[i] != proof[i + 1]) {
        std::vector<Hash> swapped = proof;
        std::swap(swapped[i], swapped[i + 1]);
        CHECK_FALSE(accepted(size1, size2, root1, root2, swapped));
      }
    }

    // Proofs made for other sizes.
    for (auto [s1, s2] : std::vector<std::pair<uint64_t, uint64_t>>{
             {size1 - 1, size2}, {size1 + 1, size2}, {size1, size2 - 1}, {size1, size2 + 1}}) {
      if (s1 == 0 || s1 >= s2 || s2 > kBigSize) continue;
      std::vector<Hash> other;
      w.store.visible_size = s2;
      REQUIRE(ConsistencyProof(w.store, s1, s2, &other).ok());
      if (other == proof) continue;  // the same hashes could serve two pairs
      CHECK_FALSE(accepted(size1, size2, root1, root2, other));
    }
    CHECK(wrong_codes == 0);
  }

  // The degenerate cases: equal sizes and the empty tree.
  const Hash root5 = RootOf(5);
  const Hash root6 = RootOf(6);
  CHECK(VerifyConsistency(5, 5, root5, root5, {}).ok());
  CHECK_FALSE(VerifyConsistency(5, 5, root5, root6, {}).ok());
  CHECK_FALSE(VerifyConsistency(5, 5, root5, root5, std::vector<Hash>{root5}).ok());
  CHECK_FALSE(VerifyConsistency(6, 5, root6, root5, {}).ok());
  CHECK_FALSE(VerifyConsistency(5, 6, root5, root6, {}).ok());
  CHECK(VerifyConsistency(0, 5, EmptyTreeRoot(), root5, {}).ok());
  CHECK(VerifyConsistency(0, 0, EmptyTreeRoot(), EmptyTreeRoot(), {}).ok());
  CHECK_FALSE(VerifyConsistency(0, 5, root5, root5, {}).ok());
  CHECK_FALSE(VerifyConsistency(0, 5, EmptyTreeRoot(), root5, std::vector<Hash>{root5}).ok());
  CHECK_FALSE(VerifyConsistency(0, 0, EmptyTreeRoot(), root5, {}).ok());
}

TEST_CASE("reader errors and bad arguments come back as Status") {
  World& w = Big();
  const uint64_t n = 99999;
  std::vector<Hash> proof;
  Hash root;
  // Every read of each operation, failed in turn, fails the operation with the reader's Status.
  using Op = std::function<Status()>;
  const std::vector<std::pair<const char*, Op>> ops = {
      {"root", [&] { return Root(w.store, n, &root); }},
      {"inclusion", [&] { return InclusionProof(w.store, 12345, n, &proof); }},
      {"consistency", [&] { return ConsistencyProof(w.store, 777, n, &proof); }},
  };
  for (const auto& [name, op] : ops) {
    CAPTURE(name);
    w.store.visible_size = n;
    w.store.reads = 0;
    w.store.fail_at_read = 0;
    REQUIRE(op().ok());
    const uint64_t reads = w.store.reads;
    REQUIRE(reads > 0);
    for (uint64_t k = 1; k <= reads; ++k) {
      w.store.failure = k % 2 == 0 ? Status::Corruption("node checksum mismatch") : Status::IOError("disk gone");
      w.store.reads = 0;
      w.store.fail_at_read = k;
      Status s = op();
      CHECK(s.code() == w.store.failure.code());
      CHECK(s.reason() == w.store.failure.reason());
    }
    w.store.fail_at_read = 0;
    // Nodes missing from storage surface as NotFound.
    w.store.visible_size = n - 1;
    CHECK(op().code() == Status::Code::kNotFound);
  }
  w.store.failure = Status::IOError("injected read failure");
  w.store.visible_size = n;

  Status s = InclusionProof(w.store, n, n, &proof);
  CHECK(s.code() == Status::Code::kInvalidArgument);
  CHECK(s.field() == "leaf_index");
  CHECK(InclusionProof(w.store, 0, 0, &proof).code() == Status::Code::kInvalidArgument);
  CHECK(ConsistencyProof(w.store, n, n - 1, &proof).code() == Status::Code::kInvalidArgument);
  REQUIRE(ConsistencyProof(w.store, 0, n, &proof).ok());
  CHECK(proof.empty());
  REQUIRE(ConsistencyProof(w.store, n, n, &proof).ok());
  CHECK(proof.empty());
  REQUIRE(Root(w.store, 0, &root).ok());
  CHECK(root == Sha256({}));
}
