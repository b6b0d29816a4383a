// RFC 6962 Merkle tree over the ledger's entries: roots, inclusion and consistency proofs, and
// their offline verification. Storage-agnostic: nodes are read through NodeReader and produced by
// Appender; the caller persists them.
//
// Leaves. Leaf i (0-based) is the entry hash of the entry with seq i+1, which already is the
// RFC 6962 leaf hash SHA-256(0x00 ‖ entry bytes). An inner node is SHA-256(0x01 ‖ left ‖ right).
// The tree of n leaves is the one of RFC 6962 §2.1: split at the largest power of two below n.
// The tree of 0 leaves has root SHA-256("").
//
// Storage model. Only perfect subtrees are stored: node (level k, index i) is the hash of leaves
// [i·2^k, (i+1)·2^k); level 0 holds the leaf hashes. Such a node never changes once its last leaf
// is appended, so the store is append-only like the ledger. Every subtree of the tree of size n
// that is not perfect ends at n and starts at a multiple of the largest power of two not above
// its length, so it is tiled by the perfect nodes given by the binary digits of its length, at
// most log2(n) of them (e.g. [8, 13) = [8, 12) + [12, 13)).
//
// Cost, in NodeReader::Get calls, for a tree of n leaves of height h = ceil(log2 n); all bounds
// are attained (e.g. at n = 2^h - 1) and checked by tests/merkle_test.cc:
//   Root              popcount(n) <= floor(log2 n) + 1
//   InclusionProof    <= max(h, 2h - 2): one read per proof hash (at most h of them), except
//                     that at most one proof hash is a non-perfect subtree, costing popcount of
//                     its length reads.
//   ConsistencyProof  <= 2h - 1 (h of size2), for the same reason.
//   Appender          popcount(size) reads at most per Appender, each frontier node once; none in
//                     steady state.
// No function reads a node outside the tree of the size it is asked about.
//
// Thread-safety: the free functions are thread-safe if the NodeReader is; an Appender is not.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <vector>

#include "ledger/util/hash.h"
#include "benefit_ledger/status.h"

namespace ledger::merkle {

// A perfect subtree: leaves [index·2^level, (index+1)·2^level).
struct NodeId {
  uint8_t level = 0;
  uint64_t index = 0;
};

// A node with its hash, as produced by Appender.
struct Node {
  NodeId id;
  Hash hash{};
};

// Reads stored perfect-subtree nodes. Get returns NotFound when the node is not stored, or
// Corruption / IOError; the algorithms below pass such a Status through unchanged.
class NodeReader {
 public:
  virtual ~NodeReader() = default;
  virtual Status Get(NodeId id, Hash* out) = 0;
};

// SHA-256(0x01 ‖ left ‖ right).
Hash HashChildren(const Hash& left, const Hash& right);
// SHA-256(""): the root of the tree of 0 leaves.
Hash EmptyTreeRoot();

// Computes the nodes to store as leaves are appended, keeping the tree's right frontier (the
// perfect nodes given by the binary digits of the size) in memory so that a batch reads each
// stored frontier node at most once and never needs its own pending writes read back.
class Appender {
 public:
  // `reader` must hold every node of the tree of `size` leaves (it is not read for size 0) and
  // outlive the Appender.
  Appender(NodeReader* reader, uint64_t size);

  // Appends `leaf` as leaf number size() and appends to *writes the nodes that become complete:
  // (0, leaf index) first, then one per level while the new size is a multiple of 2^level.
  // On error nothing is appended and the Appender is unchanged.
  Status Add(const Hash& leaf, std::vector<Node>* writes);
  // The root of the tree of size() leaves, including the ones added so far.
  Status Root(Hash* out);
  uint64_t size() const { return size_; }

 private:
  // The frontier node at `level`, a set bit of size_: from memory, else read once.
  Status Frontier(int level, Hash* out);

  NodeReader* reader_;
  uint64_t size_;
  std::array<Hash, 64> frontier_{};
  uint64_t frontier_known_mask_ = 0;  // bit k: frontier_[k] holds the frontier node at level k
};

// The root of the tree of the first `size` leaves; size 0 gives EmptyTreeRoot() without reads.
Status Root(NodeReader& reader, uint64_t size, Hash* out);

// RFC 6962 PATH(leaf_index, D[0:size]): sibling hashes from the leaf up. Requires
// leaf_index < size, else InvalidArgument.
Status InclusionProof(NodeReader& reader, uint64_t leaf_index, uint64_t size, std::vector<Hash>* proof);

// RFC 6962 PROOF(size1, D[0:size2]) = SUBPROOF(size1, D[0:size2], true). Requires
// size1 <= size2, else InvalidArgument; the proof is empty when size1 is 0 or size1 == size2.
Status ConsistencyProof(NodeReader& reader, uint64_t size1, uint64_t size2, std::vector<Hash>* proof);

// RFC 9162 §2.1.3.2: ok if `proof` shows that `leaf` is leaf number `leaf_index` of the tree of
// `size` leaves with root `root`; else InvalidArgument on field "proof" with the reason.
// `size` and `root` must come from the same trusted tree head: for a leaf on the left edge, the
// same proof shape serves several sizes, and only the root tells them apart.
Status VerifyInclusion(uint64_t leaf_index, uint64_t size, const Hash& leaf, std::span<const Hash> proof,
                       const Hash& root);

// RFC 9162 §2.1.4.2: ok if `proof` shows that the tree of size2 leaves with root2 extends the
// tree of size1 leaves with root1; else InvalidArgument on field "proof" with the reason.
// size1 == size2 needs an empty proof and root1 == root2; size1 == 0 needs an empty proof and
// root1 == EmptyTreeRoot() (any tree extends the empty one). As for inclusion, size2 and root2
// must come from the same trusted tree head.
Status VerifyConsistency(uint64_t size1, uint64_t size2, const Hash& root1, const Hash& root2,
                         std::span<const Hash> proof);

}  // namespace ledger::merkle
