// Evidence kept beside the log: the log's Merkle tree as stored, making and storing signed
// checkpoints and their household heads maps, making proofs, and verify's audit of them all.
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
// Checkpoints, the household heads map and the proofs: benefit_ledger/evidence.h.
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

#include "benefit_ledger/evidence.h"
#include "benefit_ledger/status.h"
#include "ledger/core/log.h"
#include "ledger/core/log_tree.h"
#include "ledger/core/store.h"
#include "ledger/util/hash.h"
#include "ledger/util/merkle.h"
#include "ledger/util/note.h"

namespace ledger::evidence {

// The proofs, checkpoints and their offline checks: benefit_ledger/evidence.h.

// ---- The log tree ---------------------------------------------------------------------------------

// The stored tree is the core's (core/log_tree.h): the log grows it with every group.
using ledger::CatchUpLogTree;
using ledger::GrowLogTree;
using ledger::LogTree;
using ledger::PutLogTreeNodes;

// The root of the log tree of `size` leaves (size <= head).
Status LogRoot(const Log& ledger, uint64_t size, Hash* root);

// ---- The household heads map --------------------------------------------------------------------

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

// Makes, signs and stores the checkpoint of the ledger's head, or, if one of that size is
// stored, returns it (*made = false). `key` must be the ledger's checkpoint key.
Status MakeCheckpoint(Log* ledger, const note::KeyPair& key, SignedCheckpoint* out, bool* made);
// The stored checkpoints, by size; each opened with the ledger's key.
Status ListCheckpoints(const Log& ledger, std::vector<SignedCheckpoint>* out);
// The stored checkpoint of `size`, or the latest one without a size. NotFound naming "size".
Status ReadCheckpoint(const Log& ledger, std::optional<uint64_t> size, SignedCheckpoint* out);

// ---- Proofs -----------------------------------------------------------------------------------------

// Entry `seq` in the tree of `size` (default: the head). NotFound / InvalidArgument name the
// parameter in the field ("seq", "size"; "size1", "size2").
Status ProveInclusion(const Log& ledger, uint64_t seq, std::optional<uint64_t> size, Proof* out);
Status ProveConsistency(const Log& ledger, uint64_t size1, uint64_t size2, Proof* out);
// Household `household` at the stored checkpoint of `size` (default: the latest).
Status ProveHousehold(const Log& ledger, std::string_view household, std::optional<uint64_t> size, Proof* out);

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
