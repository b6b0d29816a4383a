// Full verification of a ledger: every entry, both chains, every index.
//
// Verify reads the whole log in seq order and checks, for each entry:
//   - the log key is the entry's seq, and seqs run 1, 2, 3… without gaps;
//   - the bytes are the canonical encoding of an Entry, with a structurally valid event
//     (validate.h) and no identity or card number in full;
//   - prevHash is the hash of the previous entry (the global chain);
//   - householdPrevSeq/Hash name the household's previous entry (the household chain);
//   - recordedAt never goes back;
//   - the actor's signature, where one is required or present, verifies with the actor's key in
//     force at that point of the log, as the log's own actorRegistered and actorKeySet events
//     set it (signing.h);
//   - the household, actor and event-id indexes hold exactly the entries the log implies;
//   - the ledger's own entries (genesis.h): one genesis, checkpoint keys set only after it;
// then that the meta head and every household head match the end of their chains, and that no
// index holds an entry the log does not imply; then the evidence (evidence.h): every stored
// Merkle node is the hash of its children as recomputed from the log, and every stored
// checkpoint is signed by the ledger's key over the recomputed root and household heads map,
// with nothing extra; last, that the ledger runs under what its genesis entry (and the checkpoint
// key entries after it) say: the meta policy, the secret file's check value, the meta checkpoint
// key. A log without a genesis entry fails. It stops at the first problem and names its seq.
//
// Cost: one read of the log and of each index family in key order, no point reads (verify.cc,
// IndexCheck). Only a ledger that fails is read a second time, to name the entry concerned. The
// log is read, and each entry checked on its own (canonical form, hash, structural validity), on
// a second thread while the calling thread checks what depends on the entries before it.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "ledger/core/log.h"

namespace ledger {

struct VerifyReport {
  bool ok = false;
  uint64_t entries = 0;  // Entries read (up to the problem, if any).
  uint64_t households = 0;
  Hash head_hash{};
  uint64_t genesis_seq = 0;  // 1, or (a ledger made before genesis entries, upgraded) where it was appended.
  double seconds = 0;
  uint64_t bad_seq = 0;  // First seq with a problem (when !ok); 0 if not tied to one.
  std::string problem;   // What is wrong (when !ok).
  // The first pass (indexes read whole, in key order) found a problem, and a second pass, reading
  // each entry's index rows by key, named it. False on a ledger that verifies.
  bool rechecked_by_entry = false;
};

// Hears how far the log has been checked: entries checked so far of the head when verify began.
using VerifyProgressFn = std::function<void(uint64_t entries_checked, uint64_t entries_total)>;

// Returns non-ok only when the database cannot be read at all; a ledger that does not verify
// is reported in `report`. `progress` (if set) is called on the calling thread every
// kVerifyProgressEvery entries and once when the log has been read, in each pass (a ledger that
// fails is read twice, so its count starts again).
inline constexpr uint64_t kVerifyProgressEvery = 4096;
Status Verify(const Log& ledger, VerifyReport* report, const VerifyProgressFn& progress = {});

}  // namespace ledger
