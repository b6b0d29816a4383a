#include "ledger/domain/signing.h"

#include <capnp/dynamic.h>
#include <capnp/schema.h>
#include <fmt/format.h>

#include <cstring>

#include "ledger/core/entry.h"
#include "ledger/domain/identity.h"
#include "ledger/domain/validate.h"

namespace ledger::signing {
namespace {

using capnp::DynamicList;
using capnp::DynamicStruct;
using capnp::DynamicValue;
using schema::Event;
using Which = Event::Which;

Status NumberIn(DynamicStruct::Reader s);

// InvalidArgument (field: the path below `v`) if `v` is or holds a PersonId, or a BankCard given
// by its number (one named by reference is marked onFile by ProtectNumbers).
Status NumberInValue(DynamicValue::Reader v, capnp::Type type) {
  if (type.isStruct()) {
    auto id = type.asStruct().getProto().getId();
    auto value = v.as<DynamicStruct>();
    bool number = id == capnp::typeId<schema::PersonId>() ||
                  (id == capnp::typeId<schema::BankCard>() && !value.get("onFile").as<bool>());
    if (number) {
      return Status::Invalid("",
                             "an event its actor signs cannot hold an identity or card number: the ledger "
                             "stores only its keyed hash, which the signer cannot compute (name a card on file "
                             "by keyedHash and masked, or have an actor without a key record it)");
    }
    return NumberIn(value);
  }
  if (!type.isList()) return Status::Ok();
  auto list = v.as<DynamicList>();
  for (uint i = 0; i < list.size(); ++i) {
    Status s = NumberInValue(list[i], type.asList().getElementType());
    if (!s.ok()) return s.WithFieldPrefix(fmt::format("[{}]", i));
  }
  return Status::Ok();
}

Status NumberInField(DynamicStruct::Reader s, capnp::StructSchema::Field field) {
  auto type = field.getType();
  if (!type.isStruct() && !type.isList()) return Status::Ok();
  if (!field.getProto().isGroup() && !s.has(field)) return Status::Ok();
  return NumberInValue(s.get(field), type).WithFieldPrefix(field.getProto().getName());
}

Status NumberIn(DynamicStruct::Reader s) {
  for (auto field : s.getSchema().getNonUnionFields()) {
    Status st = NumberInField(s, field);
    if (!st.ok()) return st;
  }
  KJ_IF_MAYBE (active, s.which()) {
    return NumberInField(s, *active);
  }
  return Status::Ok();
}

bool HasSignature(Event::Reader event) {
  return event.getActorSignature().size() > 0;
}

// "name+keyid", as the key's texts begin: which key, without the key itself.
std::string KeyName(const note::Verifier& key) {
  return fmt::format("{}+{:08x}", key.name, note::KeyId(key.name, key.public_key));
}

Status NotSignedKind(Event::Reader event) {
  return Status::Invalid("actorSignature", fmt::format("{} is not a signed kind (only approvals, rejections, payment "
                                                       "rolls and corrections are signed)",
                                                       KindName(event)));
}

// The checks for an event of a signed kind by an actor with `key`.
Status CheckSigned(Event::Reader event, const note::Verifier& key) {
  Status s = NumberIn(DynamicStruct::Reader(event));
  if (!s.ok()) return s;
  std::string actor = event.getActorId();
  if (!HasSignature(event)) {
    return Status::Invalid("actorSignature", fmt::format("required: actor \"{}\" has a public key, so their {} must be "
                                                         "signed with it (signing::SignEvent)",
                                                         actor, KindName(event)));
  }
  auto bytes = event.getActorSignature();
  note::Signature signature{};
  if (bytes.size() != signature.size()) return Status::Invalid("actorSignature", "not 64 bytes");
  memcpy(signature.data(), bytes.begin(), signature.size());
  if (!note::VerifySignature(key.public_key, AsBytes(SignedEventBytes(event)), signature)) {
    return Status::Invalid("actorSignature", fmt::format("the signature of actor \"{}\" does not verify with their "
                                                         "public key {}",
                                                         actor, KeyName(key)));
  }
  return Status::Ok();
}

// The key an actorRegistered or actorKeySet event gives, and whose it is; false for other kinds.
bool KeyEventOf(Event::Reader event, std::string* actor, std::string* key_text) {
  if (event.isActorRegistered()) {
    *actor = event.getActorRegistered().getNewActorId();
    *key_text = event.getActorRegistered().getPublicKey();
    return true;
  }
  if (event.isActorKeySet()) {
    *actor = event.getActorKeySet().getTargetActorId();
    *key_text = event.getActorKeySet().getPublicKey();
    return true;
  }
  return false;
}

}  // namespace

bool IsSignedKind(Which kind) {
  return kind == Which::APPROVAL || kind == Which::REJECTION || kind == Which::PAYMENT_ROLL_ISSUED ||
         kind == Which::CORRECTION;
}

std::string SignedEventBytes(Event::Reader event) {
  capnp::MallocMessageBuilder copy;
  copy.setRoot(event);
  auto root = copy.getRoot<Event>();
  root.disownActorSignature();
  return std::string(kEventSignatureContext) + CanonicalEvent(root.asReader());
}

Status ParseActorKey(std::string_view text, std::string_view actor_id, note::Verifier* key) {
  Status s = note::ParseVerifierKey(text, key);
  if (!s.ok()) return s;
  if (key->name != actor_id) {
    return Status::Invalid(
        "name", fmt::format("the key is named \"{}\"; it must be named after the actor \"{}\"", key->name, actor_id));
  }
  return Status::Ok();
}

Status CheckSignature(Event::Reader event, const note::Verifier* key) {
  if (event.isCorrection() && event.getCorrection().isAmend() && HasSignature(event.getCorrection().getAmend())) {
    return Status::Invalid("correction.amend.actorSignature",
                           "an amendment is not signed on its own: the correction's signature covers it");
  }
  if (!IsSignedKind(event.which())) return HasSignature(event) ? NotSignedKind(event) : Status::Ok();
  if (key != nullptr) return CheckSigned(event, *key);
  if (!HasSignature(event)) return Status::Ok();
  return Status::Invalid("actorSignature",
                         fmt::format("actor \"{}\" has no public key to check it with", event.getActorId().cStr()));
}

Status CheckActorSignature(Event::Reader event, state::StateTxn* txn) {
  std::string actor = event.getActorId();
  auto record = txn->Load<state::ActorPublicKey>(state::ActorPublicKeyKey(actor));
  if (!txn->status().ok()) return txn->status();
  if (!record || record->verifier_key.empty()) return CheckSignature(event, nullptr);
  note::Verifier key;
  Status s = ParseActorKey(record->verifier_key, actor, &key);
  if (!s.ok()) {
    return Status::Corruption(
        fmt::format("the key of actor \"{}\" in the state does not read ({}); rebuild the state", actor, s.ToString()));
  }
  return CheckSignature(event, &key);
}

Status SignEvent(capnp::MessageBuilder* message, const note::KeyPair& key) {
  auto event = message->getRoot<Event>();
  if (key.name != event.getActorId().cStr()) {
    return Status::Invalid(
        "actorId", fmt::format("the event is by \"{}\"; the key is \"{}\"'s", event.getActorId().cStr(), key.name));
  }
  if (!IsSignedKind(event.which())) return NotSignedKind(event.asReader());
  // The event as the ledger will store it. No secret is needed: an event that is signed holds
  // no number, so ProtectNumbers only marks card references (a number is refused below).
  capnp::MallocMessageBuilder stored;
  stored.setRoot(event.asReader());
  auto stored_event = stored.getRoot<Event>();
  stored_event.disownActorSignature();
  const std::string no_secret(kSecretBytes, '\0');
  Status s = ProtectNumbers(DynamicStruct::Builder(stored_event), AsBytes(no_secret));
  if (s.ok()) s = ValidateEvent(stored_event.asReader());
  note::Signature signature{};
  if (s.ok()) s = note::Sign(key.seed, AsBytes(SignedEventBytes(stored_event.asReader())), &signature);
  if (!s.ok()) return s;
  capnp::Data::Reader data(signature.data(), signature.size());
  stored_event.setActorSignature(data);
  // What append will check, so that nothing is signed that the ledger would refuse.
  note::Verifier verifier = note::VerifierOf(key);
  if (!(s = CheckSignature(stored_event.asReader(), &verifier)).ok()) return s;
  event.setActorSignature(data);
  return Status::Ok();
}

Status LogSignatures::Check(Event::Reader event) {
  auto it = keys_.find(event.getActorId().cStr());
  Status s = CheckSignature(event, it == keys_.end() ? nullptr : &it->second);
  return s.ok() ? Learn(event) : s;
}

Status LogSignatures::Learn(Event::Reader event) {
  std::string actor, text;
  if (!KeyEventOf(event, &actor, &text)) return Status::Ok();
  if (text.empty()) {
    keys_.erase(actor);
    return Status::Ok();
  }
  note::Verifier key;
  Status s = ParseActorKey(text, actor, &key);
  if (!s.ok()) return s.WithFieldPrefix(KindName(event) + ".publicKey");
  keys_[actor] = key;
  return Status::Ok();
}

}  // namespace ledger::signing
