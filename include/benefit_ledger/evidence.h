// Evidence an auditor checks offline, with no ledger and no database: signed checkpoints, and
// inclusion, consistency and household-completeness proofs, their JSON form and their check.
// The ledger makes them (ledger.h: MakeCheckpoint, Prove*); for people: docs/EVIDENCE.md.
//
// The log tree is the RFC 6962 tree over the entries: leaf i (from 0) is the entry hash of
// seq i + 1, so leafIdx = seq - 1 everywhere.
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

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "benefit_ledger/keys.h"
#include "benefit_ledger/results.capnp.h"
#include "benefit_ledger/status.h"
#include "benefit_ledger/types.h"

namespace ledger::evidence {

// The root of the empty tree: SHA-256 of no bytes (RFC 6962 MTH({})).
inline constexpr Hash kEmptyTreeRoot = {0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14, 0x9a, 0xfb, 0xf4,
                                        0xc8, 0x99, 0x6f, 0xb9, 0x24, 0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b,
                                        0x93, 0x4c, 0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55};

// ---- The household heads map ---------------------------------------------------------------------

struct HeadsLeaf {
  std::string household;
  HouseholdHead head;
};
// id ‖ 0x00 ‖ version (8 BE) ‖ last seq (8 BE) ‖ last hash (32); the leaf is its LeafHash.
std::string HeadsLeafBytes(std::string_view household, const HouseholdHead& head);

// What a checkpoint's extension line commits to.
struct HeadsCommitment {
  uint64_t count = 0;          // households in the map
  Hash root = kEmptyTreeRoot;  // RFC 6962 root over their leaves, sorted by id
  bool operator==(const HeadsCommitment&) const = default;
};

// ---- Checkpoints ----------------------------------------------------------------------------------

struct SignedCheckpoint {
  std::string note;  // the signed note, as stored and printed
  note::Checkpoint checkpoint;
  HeadsCommitment heads;
};

// Opens a checkpoint note with `key`: signature, checkpoint body, origin = key name, exactly one
// extension line, the heads line. InvalidArgument / NotFound / Corruption naming what is wrong.
Status OpenCheckpoint(std::string_view note, const note::Verifier& key, SignedCheckpoint* out);

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

// JSON, hashes and entry bytes in base64 (layout in docs/EVIDENCE.md).
std::string ProofToJson(const Proof& proof);
// Strict: unknown, missing, repeated or mistyped fields, hashes that are not base64 of 32 bytes,
// numbers that are not whole numbers below 2^64: InvalidArgument naming the field.
Status ParseProof(std::string_view json, Proof* out);

// Checks the proof on its own and, with `checkpoint` (opened with the verifier's key), that its
// root and size are the signed ones. A household proof needs the checkpoint. InvalidArgument
// naming the field at fault; on success *summary says what was shown.
Status CheckProof(const Proof& proof, const SignedCheckpoint* checkpoint, std::string* summary);

}  // namespace ledger::evidence

namespace ledger::results {

// The answer of a proof check as a result record (verify-proof): `check` is CheckProof's answer
// (or why the checkpoint did not open), `summary` what a valid proof shows, `proof` the proof
// read (its test-vector annotations are echoed), `checkpoint` the one checked against (or null).
void BuildProofCheck(const Status& check, const std::string& summary, const evidence::Proof* proof,
                     const evidence::SignedCheckpoint* checkpoint, ProofCheckResult::Builder out);

}  // namespace ledger::results
