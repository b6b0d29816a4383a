// The ledger's identity in its own log: the genesis entry and the checkpoint key entries.
//
// Every ledger's first entry (seq 1, written by Log::Create) is a ledgerGenesis event
// (benefit_ledger/event.capnp) recording what the ledger runs under: its policy, its checkpoint origin
// and verifier key, and a check value of its keyed-hash secret (HMAC of a fixed label, so the
// secret stays secret). A checkpointKeySet entry records a checkpoint key given later (ledgerctl
// setkey, for a ledger made without one). A ledger made before genesis entries existed gets its
// genesis appended at its head by Log::Upgrade: it is never inserted before existing entries.
//
// These kinds are written by the ledger alone: `append` refuses them, corrections cannot target
// them, the domain rules do not apply to them. What the ledger runs under (meta `policy`,
// `origin`, `checkpoint_key`, the secret file) is compared with what the log says by one
// function, IdentityMismatch, used by Log::Open (which then refuses to append) and by Verify
// (which fails). Pure functions; thread-safe.
#pragma once

#include <capnp/message.h>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "benefit_ledger/event.capnp.h"
#include "benefit_ledger/status.h"
#include "ledger/core/state_machine.h"
#include "ledger/util/hash.h"

namespace ledger {

inline constexpr std::string_view kGenesisEventId = "ledger:genesis";
// The n-th checkpointKeySet (from 1) has the event id kCheckpointKeyEventIdPrefix ‖ n.
inline constexpr std::string_view kCheckpointKeyEventIdPrefix = "ledger:checkpoint-key:";
// The actor of the ledger's own entries.
inline constexpr std::string_view kLedgerActorId = "ledger";
// What the secret check value is the HMAC of.
inline constexpr std::string_view kSecretCheckLabel = "benefit-ledger secret check v1";

// Kinds only the ledger writes: ledgerGenesis and checkpointKeySet.
bool IsLedgerOwnKind(schema::Event::Which kind);

// HMAC-SHA256(secret, kSecretCheckLabel).
Hash SecretCheck(Bytes secret);

// What a ledger runs under, or what its log says it runs under.
struct LedgerIdentity {
  Policy policy = Policy::kEnforce;
  std::string origin;          // "" if no checkpoint key.
  std::string checkpoint_key;  // Verifier key text; "" if none.
  Hash secret_check{};
};

// The identity the log states: its genesis, with the checkpoint key of the last checkpointKeySet
// after it. Fed the log's entries in seq order (Verify) or the few that matter (Log::Open).
class LogIdentity {
 public:
  // Takes one entry's event at `seq`. Corruption (saying what, not where) if it is a second
  // genesis, a checkpoint key set before the genesis, or a ledger-own event the ledger would not
  // have written (envelope, event id, key).
  Status Add(uint64_t seq, schema::Event::Reader event);
  bool has_genesis() const { return genesis_seq_ != 0; }
  uint64_t genesis_seq() const { return genesis_seq_; }
  uint64_t key_sets() const { return key_sets_; }
  const LedgerIdentity& identity() const { return identity_; }

 private:
  uint64_t genesis_seq_ = 0;
  uint64_t key_sets_ = 0;
  LedgerIdentity identity_;
};

// "" if `running` is what `logged` says (the log's genesis at `genesis_seq`); otherwise what
// differs, for people: the policy, the secret (a replaced secret file), the checkpoint key.
std::string IdentityMismatch(const LedgerIdentity& logged, uint64_t genesis_seq, const LedgerIdentity& running);

// The events the ledger writes, in `message` (a fresh MessageBuilder): its genesis, dated
// `business_date` (YYYYMMDD); and the `n`-th checkpoint key set.
void BuildGenesis(const LedgerIdentity& identity, uint32_t business_date, capnp::MessageBuilder* message);
void BuildCheckpointKeySet(uint64_t n, std::string_view origin, std::string_view checkpoint_key,
                           std::string_view reason, uint32_t business_date, capnp::MessageBuilder* message);

}  // namespace ledger
