// The values the API and the library share: hashes, the policy, findings, append results,
// household heads. Plain structs, thread-compatible.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "benefit_ledger/status.h"

namespace ledger {

// A SHA-256 digest: entry hashes (the RFC 6962 leaf hash of the entry's bytes), Merkle roots.
using Hash = std::array<uint8_t, 32>;

// What an event that breaks a domain rule does: it is refused (enforce), or appended with its
// findings recorded in its entry (record, for importing an existing system's history). Fixed for
// a ledger's life: its genesis entry records it.
enum class Policy { kEnforce, kRecord };
const char* PolicyName(Policy p);  // "enforce", "record": the meta row and the CLI
bool ParsePolicy(std::string_view name, Policy* out);

// A domain finding recorded in an entry (schema::Finding): a rule the event breaks.
struct Finding {
  std::string rule;  // e.g. "notice.period"
  std::string message;
  std::vector<std::string> event_ids;  // This event first, then the others involved.
};

// How a group of events is appended: each on its own (a rejected event does not stop the
// others), or all or nothing (a generated payment roll: one rejected event rejects the group).
enum class GroupMode { kEachOnItsOwn, kAllOrNothing };

struct AppendResult {
  enum class Outcome {
    kCreated,   // Appended at `seq` with entry hash `hash`.
    kExists,    // Same event id, same content, already at `seq`: nothing appended.
    kRejected,  // Not appended; `error` says why (and names the field).
  };
  Outcome outcome = Outcome::kRejected;
  uint64_t seq = 0;
  Hash hash{};
  Status error;
  // Domain rules the event breaks: the reason for kRejected under `enforce` (error is
  // then the first of them); recorded with a kCreated event under `record`.
  std::vector<Finding> findings;
  // GroupMode::kAllOrNothing: acceptable alone, rejected only because another event of the
  // group was (error names it). The rejections without this flag say why the group failed.
  bool dropped_with_group = false;
};

// A group of entries as one copy of a ledger wrote them (one synced write): what a replicated
// ledger's leader commits to the cluster before its own write (Ledger::SetGroupCommitter), and
// what a follower applies (Ledger::ApplyEntries).
struct GroupEntries {
  uint64_t first_seq = 0;            // The first entry's seq: the head's before the group, + 1.
  Hash prev_hash{};                  // The hash of entry first_seq - 1: the head before.
  Hash last_hash{};                  // The hash of the last entry: the head after.
  std::vector<std::string> entries;  // Each entry's canonical bytes (STORAGE.md), in seq order.
};

// The last entry of one household, and how many it has (a household's head).
struct HouseholdHead {
  uint64_t version = 0;  // Number of the household's entries.
  uint64_t last_seq = 0;
  Hash last_hash{};
  std::string Encode() const;  // Its 48 bytes: version, last seq (8 BE each), last hash.
  static std::optional<HouseholdHead> Decode(std::string_view v);
  bool operator==(const HouseholdHead&) const = default;
};

// What upgrading a ledger did (Ledger::Upgrade).
struct UpgradeReport {
  std::string from;       // The format found.
  std::string to;         // The format it is in now (the current one).
  bool upgraded = false;  // False: it already was current and had its genesis.
  uint64_t entries = 0;
  uint64_t genesis_seq = 0;  // Where upgrade appended the genesis; 0 if it had one.
  double seconds = 0;
};

// What rebuilding the state from the log found (Ledger::Rebuild): the entries where the rules,
// run again, do not give the findings recorded (the rules changed since, or the entry was
// refused then): counted, the first named.
struct RebuildReport {
  uint64_t entries = 0;
  uint64_t mismatches = 0;
  uint64_t first_mismatch_seq = 0;
  std::string first_mismatch;
  double seconds = 0;
};

}  // namespace ledger
