#include "ledger/domain/identity.h"

#include <capnp/schema.h>
#include <fmt/format.h>

#include <mutex>
#include <set>
#include <unordered_map>
#include <vector>

#include "benefit_ledger/event.capnp.h"
#include "ledger/util/formats.h"

namespace ledger {
namespace {

using capnp::DynamicList;
using capnp::DynamicStruct;
using capnp::DynamicValue;

std::string Mask(std::string_view number, size_t keep_front) {
  std::string out(number);
  for (size_t i = keep_front; i + 4 < out.size(); ++i) out[i] = '*';
  return out;
}

// A card named by reference, as `payroll issue` does: `keyedHash` and `masked` of a card on
// file, no number. Marked `onFile`; the rules refuse it unless the household has that card.
Status MarkCardReference(DynamicStruct::Builder ref) {
  if (ref.get("keyedHash").as<capnp::Data>().size() != sizeof(Hash)) {
    return Status::Invalid("keyedHash",
                           "a card named without its number needs the 32-byte keyedHash of a card on file");
  }
  if (!IsMaskedCardNumber(ref.get("masked").as<capnp::Text>().cStr())) {
    return Status::Invalid("masked", "not a masked card number (first 4 and last 4 digits, * between)");
  }
  ref.set("onFile", true);
  return Status::Ok();
}

// Protects one PersonId / BankCard struct. `card` selects the format, mask and hash domain.
Status ProtectOne(DynamicStruct::Builder ref, bool card, Bytes secret) {
  if (card && ref.get("onFile").as<bool>()) return Status::Invalid("onFile", "is set by the ledger");
  if (card && !ref.has("number") && ref.has("keyedHash")) return MarkCardReference(ref);
  if (ref.has("masked") || ref.has("keyedHash")) {
    return Status::Invalid("masked", card ? "is set by the ledger; give the full number in `number`, or name a card "
                                            "on file by `keyedHash` and `masked` alone"
                                          : "is set by the ledger; give the full number in `number`");
  }
  if (!ref.has("number")) return Status::Invalid("number", "required");
  std::string number(ref.get("number").as<capnp::Text>().cStr());
  bool valid = card ? IsValidCardNumber(number) : IsValidIdentityNumber(number);
  if (!valid) {
    return Status::Invalid("number", card ? "not a bank card number (12 to 19 digits)"
                                          : "not a valid 18-character identity number (format or checksum)");
  }
  std::string keyed_input = (card ? "card:" : "id:") + number;
  Hash h = HmacSha256(secret, AsBytes(keyed_input));
  ref.set("masked", capnp::Text::Reader(card ? MaskCardNumber(number).c_str() : MaskIdentityNumber(number).c_str()));
  ref.set("keyedHash", capnp::Data::Reader(h.data(), h.size()));
  ref.clear("number");
  return Status::Ok();
}

Status Walk(DynamicStruct::Builder s, Bytes secret);

bool IsNumberStruct(uint64_t id) {
  return id == capnp::typeId<schema::PersonId>() || id == capnp::typeId<schema::BankCard>();
}

// Whether a value of `type` can hold a PersonId or BankCard at any depth: reachability in the
// graph of types (`seen` stops at types already visited; the schema is recursive through
// correction.amend).
bool MayHoldNumbers(capnp::Type type, std::set<uint64_t>* seen) {
  while (type.isList()) type = type.asList().getElementType();
  if (!type.isStruct()) return false;
  auto schema = type.asStruct();
  uint64_t id = schema.getProto().getId();
  if (IsNumberStruct(id)) return true;
  if (!seen->insert(id).second) return false;
  for (auto field : schema.getFields()) {
    if (MayHoldNumbers(field.getType(), seen)) return true;
  }
  return false;
}

// The fields of a struct type that may hold numbers, worked out once per type: a walk then
// skips every other field, which is most of them, without asking Cap'n Proto for their types.
struct NumberFields {
  std::vector<capnp::StructSchema::Field> non_union;  // In schema order, as Walk visits them.
  std::set<uint16_t> union_members;                   // Indexes of the union's fields that may.
};

const NumberFields& NumberFieldsOf(capnp::StructSchema schema) {
  static std::mutex mutex;
  static std::unordered_map<uint64_t, NumberFields> cache;
  std::lock_guard<std::mutex> lock(mutex);
  auto [it, inserted] = cache.try_emplace(schema.getProto().getId());
  if (!inserted) return it->second;
  auto may_hold = [](capnp::StructSchema::Field f) {
    std::set<uint64_t> seen;
    return MayHoldNumbers(f.getType(), &seen);
  };
  for (auto field : schema.getNonUnionFields()) {
    if (may_hold(field)) it->second.non_union.push_back(field);
  }
  for (auto field : schema.getUnionFields()) {
    if (may_hold(field)) it->second.union_members.insert(field.getIndex());
  }
  return it->second;
}

Status WalkValue(DynamicValue::Builder v, capnp::Type type, Bytes secret) {
  if (type.isStruct()) {
    auto sb = v.as<DynamicStruct>();
    auto id = type.asStruct().getProto().getId();
    if (id == capnp::typeId<schema::PersonId>()) return ProtectOne(sb, false, secret);
    if (id == capnp::typeId<schema::BankCard>()) return ProtectOne(sb, true, secret);
    return Walk(sb, secret);
  }
  if (type.isList()) {
    auto list = v.as<DynamicList>();
    auto element = type.asList().getElementType();
    for (uint i = 0; i < list.size(); ++i) {
      Status s = WalkValue(list[i], element, secret);
      if (!s.ok()) return s.WithFieldPrefix(fmt::format("[{}]", i));
    }
  }
  return Status::Ok();
}

Status WalkField(DynamicStruct::Builder s, capnp::StructSchema::Field field, Bytes secret) {
  auto type = field.getType();
  bool pointer = type.isStruct() || type.isList();
  if (!pointer) return Status::Ok();
  bool group = field.getProto().isGroup();
  if (!group && !s.has(field)) return Status::Ok();  // Absent: validate.cc decides if required.
  Status st = WalkValue(s.get(field), type, secret);
  return st.WithFieldPrefix(field.getProto().getName());
}

Status Walk(DynamicStruct::Builder s, Bytes secret) {
  const NumberFields& fields = NumberFieldsOf(s.getSchema());
  for (auto field : fields.non_union) {
    Status st = WalkField(s, field, secret);
    if (!st.ok()) return st;
  }
  if (fields.union_members.empty()) return Status::Ok();
  KJ_IF_MAYBE (active, s.which()) {
    if (fields.union_members.count(active->getIndex())) return WalkField(s, *active, secret);
  }
  return Status::Ok();
}

}  // namespace

std::string MaskIdentityNumber(std::string_view number) {
  return Mask(number, 6);
}
std::string MaskCardNumber(std::string_view number) {
  return Mask(number, 4);
}

Status ProtectNumbers(DynamicStruct::Builder message, Bytes secret) {
  return Walk(message, secret);
}

}  // namespace ledger
