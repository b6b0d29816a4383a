// Evidence an auditor can check offline: the log's Merkle tree as stored, signed checkpoints,
// inclusion, consistency and household-completeness proofs, their JSON form and their check.
// For people: docs/EVIDENCE.md; the bytes on disk: STORAGE.md.
//
// The log tree. The RFC 6962 tree of merkle.h over the entries: leaf i (from 0) is the entry
// hash of seq i + 1, so leafIdx = seq - 1 everywhere. The leaves are not stored again, nor the
// three levels above them: LogTree recomputes a node there from its at most 8 entries in the log.
// Levels >= 4 are the `merkle` family, written in the batch of the group that completes them
// (GrowLogTree), so the tree of any size up to the head costs O(log n) node reads to prove, plus
// the entries under the low nodes it needs (15 for the path of one leaf, at most 15 more at the
// right edge). A ledger whose tree is behind its log (one made before the family existed) gets
// it built from the log (CatchUpLogTree, on opening and in Log::Upgrade).
//
// Checkpoints. A checkpoint is a c2sp.org/tlog-checkpoint note (note.h) signed with the ledger's
// checkpoint key: origin, size (= head seq), log root, and one extension line
//     households <count> <base64 heads root>
// committing to the household heads map at that size (below). The origin and the verifier key
// are set once (ledgerctl init or setkey), recorded in the log (the genesis entry, or a
// checkpointKeySet entry: genesis.h) and kept in meta; the signer key stays in a file.
//
// Household completeness. At each checkpoint of size M the ledger builds the heads map: an
// RFC 6962 tree (merkle.h, stored whole in the `heads` family) whose leaves, sorted by household
// id, are LeafHash(HeadsLeafBytes(id, head)) for every household with entries up to M, where
//     HeadsLeafBytes = id ‖ 0x00 ‖ version (8 BE) ‖ last seq (8 BE) ‖ last entry hash (32)
// (ids never hold 0x00). A household proof of H at M gives: H's leaf with its inclusion proof in
// the heads tree, its neighbours (indices i-1 and i+1, when they exist) with theirs, and every
// entry of H up to M with its inclusion proof in the log tree of size M. Checked offline against
// the signed note: each entry is in the log; they decode, belong to H and chain by their
// householdPrev links from the first (prev seq 0) to the head's (last seq, last hash); their
// number is the head's version; the head is in the signed map; the neighbours' ids sort strictly
// around H, so the map holds H once. A household absent at M is shown by two adjacent
// neighbours around where it would sort (or the map's first or last leaf, or an empty map).
// Trust: the office signs the map. A map that lies (a stale head, a household left out, leaves
// out of order) is caught by a full `verify`, which recomputes every stored checkpoint's map
// from the log (EvidenceAudit); an auditor without the log trusts that someone ran it.
//
// Exit-code contract of the tools: ParseProof and reading files fail as "unusable input" (2);
// OpenCheckpoint and CheckProof fail as "invalid" (1). Everything here is single-threaded, except
// the pure functions (HeadsLeafBytes, ProofToJson, ParseProof, OpenCheckpoint, CheckProof).
#pragma once

#include <rocksdb/db.h>

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "benefit_ledger/status.h"
#include "ledger/core/log.h"
#include "ledger/core/log_tree.h"
#include "ledger/core/store.h"
#include "ledger/util/hash.h"
#include "ledger/util/merkle.h"
#include "ledger/util/note.h"

namespace ledger::evidence {

// ---- The log tree ---------------------------------------------------------------------------------

// The stored tree is the core's (core/log_tree.h): the log grows it with every group.
using ledger::CatchUpLogTree;
using ledger::GrowLogTree;
using ledger::LogTree;
using ledger::PutLogTreeNodes;

// The root of the log tree of `size` leaves (size <= head).
Status LogRoot(const Log& ledger, uint64_t size, Hash* root);

// ---- The household heads map --------------------------------------------------------------------

struct HeadsLeaf {
  std::string household;
  HouseholdHead head;
};
// id ‖ 0x00 ‖ version (8 BE) ‖ last seq (8 BE) ‖ last hash (32); the leaf is its LeafHash.
std::string HeadsLeafBytes(std::string_view household, const HouseholdHead& head);

// What a checkpoint's extension line commits to.
struct HeadsCommitment {
  uint64_t count = 0;                   // households in the map
  Hash root = merkle::EmptyTreeRoot();  // RFC 6962 root over their leaves, sorted by id
  bool operator==(const HeadsCommitment&) const = default;
};
// "households <count> <base64 root>"
std::string FormatHeadsLine(const HeadsCommitment& heads);
bool ParseHeadsLine(std::string_view line, HeadsCommitment* heads);

// The heads family rows of the checkpoint of `size` over `leaves` (sorted by id, no repeats), in
// key order, and the map's commitment. The same function makes them and checks them.
void HeadsRows(uint64_t size, std::span<const HeadsLeaf> leaves, std::vector<std::pair<std::string, std::string>>* rows,
               HeadsCommitment* commitment);

// ---- Checkpoints ----------------------------------------------------------------------------------

// The ledger's checkpoint identity, from meta. NotFound if it has none (SetCheckpointKey adds one).
Status ReadCheckpointKey(const Log& ledger, note::Verifier* key);
// Sets it, once: Conflict if the ledger has one. The origin is the key's name. Recorded in the
// log (a checkpointKeySet entry, genesis.h) with the meta rows, in one write.
Status SetCheckpointKey(Log* ledger, const note::Verifier& key, std::string_view reason = "SetCheckpointKey");

struct SignedCheckpoint {
  std::string note;  // the signed note, as stored and printed
  note::Checkpoint checkpoint;
  HeadsCommitment heads;
};

// Opens a checkpoint note with `key`: signature, checkpoint body, origin = key name, exactly one
// extension line, the heads line. InvalidArgument / NotFound / Corruption naming what is wrong.
Status OpenCheckpoint(std::string_view note, const note::Verifier& key, SignedCheckpoint* out);

// Makes, signs and stores the checkpoint of the ledger's head, or, if one of that size is
// stored, returns it (*made = false). `key` must be the ledger's checkpoint key.
Status MakeCheckpoint(Log* ledger, const note::KeyPair& key, SignedCheckpoint* out, bool* made);
// The stored checkpoints, by size; each opened with the ledger's key.
Status ListCheckpoints(const Log& ledger, std::vector<SignedCheckpoint>* out);
// The stored checkpoint of `size`, or the latest one without a size. NotFound naming "size".
Status ReadCheckpoint(const Log& ledger, std::optional<uint64_t> size, SignedCheckpoint* out);

// ---- Proofs -----------------------------------------------------------------------------------------

enum class ProofType { kInclusion, kConsistency, kHousehold };

struct InclusionProof {
  std::optional<uint64_t> seq;  // leaf_index + 1 when given
  uint64_t leaf_index = 0;
  uint64_t tree_size = 0;
  Hash root{};
  Hash leaf_hash{};
  std::optional<std::string> entry;  // the entry bytes, so the leaf hash can be recomputed
  std::vector<Hash> path;
};

struct ConsistencyProof {
  uint64_t size1 = 0, size2 = 0;
  Hash root1{}, root2{};
  std::vector<Hash> path;
};

struct HeadsLeafProof {  // one leaf of a checkpoint's heads map
  uint64_t index = 0;
  HeadsLeaf leaf;
  std::vector<Hash> path;
};

struct EntryProof {  // one entry of the log with its inclusion proof
  uint64_t seq = 0;
  std::string entry;
  std::vector<Hash> path;
};

struct HouseholdProof {
  std::string household;
  uint64_t tree_size = 0;                       // a checkpoint's size
  Hash root{};                                  // its log root
  HeadsCommitment heads;                        // its heads map
  std::optional<HeadsLeafProof> head;           // absent: the household is not in the map
  std::optional<HeadsLeafProof> before, after;  // the neighbours, where they exist
  std::vector<EntryProof> entries;              // in seq order
};

struct Proof {
  ProofType type = ProofType::kInclusion;
  std::string origin;  // the ledger's checkpoint origin; "" if it has none
  // Annotations of the RFC 6962 test vectors' shape (transparency-dev): read, never checked.
  std::string description;         // "desc"
  std::optional<bool> want_error;  // "wantErr": the vector expects the proof to fail
  InclusionProof inclusion;
  ConsistencyProof consistency;
  HouseholdProof household;
};

// Entry `seq` in the tree of `size` (default: the head). NotFound / InvalidArgument name the
// parameter in the field ("seq", "size"; "size1", "size2").
Status ProveInclusion(const Log& ledger, uint64_t seq, std::optional<uint64_t> size, Proof* out);
Status ProveConsistency(const Log& ledger, uint64_t size1, uint64_t size2, Proof* out);
// Household `household` at the stored checkpoint of `size` (default: the latest).
Status ProveHousehold(const Log& ledger, std::string_view household, std::optional<uint64_t> size, Proof* out);

// JSON, hashes and entry bytes in base64 (layout in docs/EVIDENCE.md).
std::string ProofToJson(const Proof& proof);
// Strict: unknown, missing, repeated or mistyped fields, hashes that are not base64 of 32 bytes,
// numbers that are not whole numbers below 2^64: InvalidArgument naming the field.
Status ParseProof(std::string_view json, Proof* out);

// Checks the proof on its own and, with `checkpoint` (opened with the verifier's key), that its
// root and size are the signed ones. A household proof needs the checkpoint. InvalidArgument
// naming the field at fault; on success *summary says what was shown.
Status CheckProof(const Proof& proof, const SignedCheckpoint* checkpoint, std::string* summary);

// ---- Verify's part ----------------------------------------------------------------------------------

// Checks the evidence stored beside the log along verify's pass over it: every merkle node equals
// the hash of its children as recomputed from the log, every stored checkpoint is signed by the
// ledger's key over the recomputed root and the heads map recomputed from the log, and no node,
// checkpoint or heads row is extra. Reports the first problem only after the log has been read
// (verify names log problems first). `store` and `snapshot` must outlive it.
class EvidenceAudit {
 public:
  EvidenceAudit(const Store& store, const rocksdb::Snapshot* snapshot);
  // After entry `seq` (entry hash `hash`) verified, with every household's head after it.
  void Add(uint64_t seq, const Hash& hash, const std::unordered_map<std::string, HouseholdHead>& households);
  // After the whole log of `log_size` entries. False with the seq concerned and the problem.
  bool Finish(uint64_t log_size, uint64_t* bad_seq, std::string* problem);
  const Status& io_status() const { return io_; }
  uint64_t checkpoints() const { return checkpoints_.size(); }

 private:
  bool Lookup(Cf cf, const std::string& key, std::string* value);
  void Fail(uint64_t seq, std::string what);
  bool StoredNode(uint8_t level, uint64_t index, std::string_view* value);
  void CheckNodes(const std::vector<merkle::Node>& writes);
  void CheckCheckpoint(uint64_t size, const std::unordered_map<std::string, HouseholdHead>& households);
  void CheckHeadsRows(uint64_t size, const std::vector<std::pair<std::string, std::string>>& rows);
  void CheckCounts(uint64_t log_size);
  void CheckExtraNodes(uint64_t log_size);
  void CheckExtraHeadsRows();

  const Store& store_;
  const rocksdb::Snapshot* snapshot_;
  Status io_;
  merkle::Appender tree_{nullptr, 0};                          // recomputed from the log, never read
  std::array<std::unique_ptr<rocksdb::Iterator>, 64> levels_;  // the merkle family, one per level
  std::optional<note::Verifier> key_;
  std::vector<std::pair<uint64_t, std::string>> checkpoints_;  // size -> note, by size
  size_t next_checkpoint_ = 0;
  bool failed_ = false;
  uint64_t bad_seq_ = 0;
  std::string problem_;
};

}  // namespace ledger::evidence
