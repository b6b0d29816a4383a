#include "ledger/core/genesis.h"

#include <fmt/format.h>

#include "ledger/util/note.h"

namespace ledger {
namespace {

using Which = schema::Event::Which;

Policy FromSchema(schema::LedgerPolicy p) {
  return p == schema::LedgerPolicy::RECORD ? Policy::kRecord : Policy::kEnforce;
}

schema::LedgerPolicy ToSchema(Policy p) {
  return p == Policy::kRecord ? schema::LedgerPolicy::RECORD : schema::LedgerPolicy::ENFORCE;
}

// A checkpoint key as recorded: none (both empty), or a verifier key named after the origin.
Status CheckKey(std::string_view origin, std::string_view key_text, std::string_view field) {
  if (origin.empty() && key_text.empty()) return Status::Ok();
  note::Verifier key;
  Status s = note::ParseVerifierKey(key_text, &key);
  if (!s.ok()) return Status::Invalid(std::string(field), "not a verifier key: " + s.ToString());
  if (key.name != origin) {
    return Status::Invalid(std::string(field), fmt::format("is named \"{}\", the origin is \"{}\"", key.name, origin));
  }
  return Status::Ok();
}

schema::Event::Builder Envelope(std::string_view event_id, uint32_t business_date, capnp::MessageBuilder* message) {
  auto event = message->initRoot<schema::Event>();
  event.setEventId(std::string(event_id));
  event.setActorId(std::string(kLedgerActorId));
  event.setBusinessDate(business_date);
  return event;
}

}  // namespace

bool IsLedgerOwnKind(schema::Event::Which kind) {
  return kind == Which::LEDGER_GENESIS || kind == Which::CHECKPOINT_KEY_SET;
}

Hash SecretCheck(Bytes secret) {
  return HmacSha256(secret, AsBytes(kSecretCheckLabel));
}

Status LogIdentity::Add(uint64_t seq, schema::Event::Reader event) {
  if (!IsLedgerOwnKind(event.which())) return Status::Ok();
  auto bad = [](std::string what) { return Status::Corruption(std::move(what)); };
  std::string_view id = event.getEventId().cStr();
  if (event.getActorId() != kLedgerActorId.data() || event.getHouseholdId().size() != 0 ||
      event.getRegionCode().size() != 0) {
    return bad(fmt::format("the ledger's own entry \"{}\" has an envelope the ledger does not write", id));
  }
  if (event.isLedgerGenesis()) {
    if (has_genesis()) return bad(fmt::format("a second genesis entry (the first is seq {})", genesis_seq_));
    if (id != kGenesisEventId) return bad(fmt::format("the genesis entry has the event id \"{}\"", id));
    auto g = event.getLedgerGenesis();
    Status s = CheckKey(g.getOrigin().cStr(), g.getCheckpointKey().cStr(), "ledgerGenesis.checkpointKey");
    if (!s.ok()) return bad(s.ToString());
    if (g.getSecretCheck().size() != identity_.secret_check.size())
      return bad("the genesis secretCheck is not 32 bytes");
    genesis_seq_ = seq;
    identity_.policy = FromSchema(g.getPolicy());
    identity_.origin = g.getOrigin().cStr();
    identity_.checkpoint_key = g.getCheckpointKey().cStr();
    std::copy(g.getSecretCheck().begin(), g.getSecretCheck().end(), identity_.secret_check.begin());
    return Status::Ok();
  }
  if (!has_genesis()) return bad("a checkpoint key set before the ledger's genesis entry");
  if (id != fmt::format("{}{}", kCheckpointKeyEventIdPrefix, key_sets_ + 1)) {
    return bad(fmt::format("checkpoint key set number {} has the event id \"{}\"", key_sets_ + 1, id));
  }
  auto k = event.getCheckpointKeySet();
  Status s = CheckKey(k.getOrigin().cStr(), k.getCheckpointKey().cStr(), "checkpointKeySet.checkpointKey");
  if (!s.ok()) return bad(s.ToString());
  if (k.getCheckpointKey().size() == 0) return bad("a checkpoint key set without a key");
  ++key_sets_;
  identity_.origin = k.getOrigin().cStr();
  identity_.checkpoint_key = k.getCheckpointKey().cStr();
  return Status::Ok();
}

std::string IdentityMismatch(const LedgerIdentity& logged, uint64_t genesis_seq, const LedgerIdentity& running) {
  if (running.policy != logged.policy) {
    return fmt::format(
        "the ledger runs under the policy \"{}\" (meta policy), its genesis entry (seq {}) says \"{}\": the policy "
        "row was altered; the policy is fixed for the ledger's life",
        PolicyName(running.policy), genesis_seq, PolicyName(logged.policy));
  }
  if (running.secret_check != logged.secret_check) {
    return fmt::format(
        "the keyed-hash secret (the file D/secret) is not the one the genesis entry (seq {}) records: it was "
        "replaced, and identity and card numbers would no longer match the ledger's; restore the original file",
        genesis_seq);
  }
  if (running.origin != logged.origin || running.checkpoint_key != logged.checkpoint_key) {
    return fmt::format(
        "the checkpoint key in meta (\"{}\") is not the one the log records last (\"{}\"): the meta origin or "
        "checkpoint_key row was altered",
        running.checkpoint_key, logged.checkpoint_key);
  }
  return "";
}

void BuildGenesis(const LedgerIdentity& identity, uint32_t business_date, capnp::MessageBuilder* message) {
  auto g = Envelope(kGenesisEventId, business_date, message).initLedgerGenesis();
  g.setPolicy(ToSchema(identity.policy));
  g.setOrigin(identity.origin);
  g.setCheckpointKey(identity.checkpoint_key);
  g.setSecretCheck(capnp::Data::Reader(identity.secret_check.data(), identity.secret_check.size()));
}

void BuildCheckpointKeySet(uint64_t n, std::string_view origin, std::string_view checkpoint_key,
                           std::string_view reason, uint32_t business_date, capnp::MessageBuilder* message) {
  auto k = Envelope(fmt::format("{}{}", kCheckpointKeyEventIdPrefix, n), business_date, message).initCheckpointKeySet();
  k.setOrigin(std::string(origin));
  k.setCheckpointKey(std::string(checkpoint_key));
  k.setReason(std::string(reason));
}

}  // namespace ledger
