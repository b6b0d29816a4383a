// The layout of a replicated ledger in etcd (ledgerd --etcd, replica.h): every key and value
// that ledgerd and ledgerctl cluster read or write, in one place. Several ledgers (counties)
// share one etcd cluster, each under its own prefix P = "/benefit-ledger/<ledger id>/":
//
//   P head                "<seq> <entry hash, 64 hex>": the last committed entry. Every commit
//                         compares it with the head the group was built on: the fence.
//   P leader              "<node id> <RPC address>", attached to the leader's lease. Its
//                         create_revision is the leader's term: a commit also compares it, so a
//                         deposed or paused leader commits nothing once its lease is gone.
//   P g/<seq, 20 digits>  a committed group whose first entry is seq: EncodeGroup's bytes, or,
//                         for a group too large for one etcd request, a manifest of its chunks.
//   P c/<seq>/<term>/<k>  chunk k (6 digits) of such a group, written (fenced) before its manifest.
//   P members/<node id>   a member's record (MemberRecord): its address, role, applied head.
//
// Groups and chunks are deleted once every member's applied head is past them (replica.cc).
// Values are at most kInlineGroupBytesMax + a little, so each request stays under etcd's limit.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "benefit_ledger/status.h"
#include "benefit_ledger/types.h"

namespace ledgerd::cluster {

// A group's bytes up to this go in its g/ key; a larger one is cut into chunks of this size.
// Base64 makes them 4/3 larger in the JSON request: 1.33 MB, under etcd's 1.5 MiB.
constexpr size_t kInlineGroupBytesMax = 1000000;

std::string Prefix(std::string_view ledger_id);  // "/benefit-ledger/<id>/"
// A ledger id or node id: 1-64 of [A-Za-z0-9._-] (it is part of keys).
bool IsValidName(std::string_view name);

std::string HeadKey(std::string_view prefix);
std::string LeaderKey(std::string_view prefix);
std::string GroupsPrefix(std::string_view prefix);
std::string GroupKey(std::string_view prefix, uint64_t first_seq);
std::string ChunksPrefix(std::string_view prefix);
std::string ChunkKey(std::string_view prefix, uint64_t first_seq, int64_t term, size_t k);
std::string ChunkPrefix(std::string_view prefix, uint64_t first_seq, int64_t term);
std::string MembersPrefix(std::string_view prefix);
std::string MemberKey(std::string_view prefix, std::string_view node);
// The first seq of a g/ key; 0 if it is not one.
uint64_t GroupKeySeq(std::string_view prefix, std::string_view key);

std::string HeadText(uint64_t seq, const ledger::Hash& hash);
bool ParseHead(std::string_view text, uint64_t* seq, ledger::Hash* hash);
std::string HashHex(const ledger::Hash& hash);

// A group's bytes: "BLG1", first_seq (8, BE), prev_hash, last_hash (32 each), the entry count
// (4, BE), then each entry as its length (4, BE) and its canonical bytes.
std::string EncodeGroup(const ledger::GroupEntries& group);
// Corruption naming what is wrong with bytes that are not a group.
ledger::Status DecodeGroup(std::string_view bytes, ledger::GroupEntries* group);

// The manifest of a chunked group: "BLM1", first_seq (8), term (8), chunks (4), the group's
// length (8) and its SHA-256 (32).
struct Manifest {
  uint64_t first_seq = 0;
  int64_t term = 0;
  uint32_t chunks = 0;
  uint64_t bytes = 0;
  ledger::Hash sha256{};
};
bool IsManifest(std::string_view value);
std::string EncodeManifest(const Manifest& m);
ledger::Status DecodeManifest(std::string_view value, Manifest* m);
// Cuts `group_bytes` into chunks of at most kInlineGroupBytesMax.
std::vector<std::string_view> Chunks(std::string_view group_bytes);
ledger::Hash Sha256(std::string_view bytes);

// A member's record (P members/<node>), as "key=value" lines: readable with etcdctl get.
struct MemberRecord {
  std::string node, address;
  std::string role;  // "leader", "follower", "refused" (its copy does not check), "stopped".
  uint64_t applied_seq = 0;
  std::string applied_hash;  // Hex.
  std::string error;         // Why refused ("" otherwise).
  int64_t updated_unix_ms = 0;
};
std::string EncodeMember(const MemberRecord& m);
MemberRecord DecodeMember(std::string_view text);

}  // namespace ledgerd::cluster
