#include "ledger/validate.h"

#include <capnp/dynamic.h>
#include <capnp/schema.h>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <string_view>

#include "ledger/formats.h"
#include "ledger/note.h"

namespace ledger {
namespace {

using capnp::DynamicList;
using capnp::DynamicStruct;
using capnp::DynamicValue;
using capnp::StructSchema;
using Which = schema::Event::Which;

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

bool IsPeriodName(std::string_view name) {
  return name == "period" || EndsWith(name, "Period");
}

// An actor's key (signing.h): empty, or a verifier key text (note.h).
Status CheckPublicKey(std::string_view value) {
  note::Verifier key;
  Status s = value.empty() ? Status::Ok() : note::ParseVerifierKey(value, &key);
  if (s.ok()) return s;
  return Status::Invalid("", "not a verifier key (name+keyid+base64, as ledgerctl keygen writes): " + s.ToString());
}

// Signatures (fields named *Signature): absent, or 64 bytes of Ed25519.
Status CheckData(std::string_view name, size_t size) {
  if (!EndsWith(name, "Signature") || size == 0 || size == 64) return Status::Ok();
  return Status::Invalid("", fmt::format("{} bytes; an Ed25519 signature is 64", size));
}

Status CheckText(std::string_view name, std::string_view value, bool present) {
  if (name == "householdId") return Status::Ok();  // By event kind: see CheckHouseholdScope.
  if (name == "regionCode") {
    return IsValidRegionCode(value) ? Status::Ok()
                                    : Status::Invalid("", "not a 12-digit region code of a real province");
  }
  if (name == "regionPrefix" || name == "jurisdiction") {
    return IsValidRegionPrefix(value) ? Status::Ok()
                                      : Status::Invalid("", "not a region prefix (2, 4, 6, 9 or 12 digits)");
  }
  if (name == "countyCode") {
    return value.size() == 6 && IsValidRegionPrefix(value) ? Status::Ok()
                                                           : Status::Invalid("", "not a 6-digit county code");
  }
  if (name == "publicKey") return CheckPublicKey(value);
  if (EndsWith(name, "Id") || name == "paymentIds") {
    if (!present || value.empty()) return Status::Invalid("", "required");
    return IsValidId(value) ? Status::Ok()
                            : Status::Invalid("", "not an identifier (1 to 128 of A-Z a-z 0-9 . _ : / -)");
  }
  return IsValidText(value) ? Status::Ok()
                            : Status::Invalid("", "not text (valid UTF-8, no control characters, at most 4096 bytes)");
}

Status CheckUInt(std::string_view name, uint64_t value) {
  if (EndsWith(name, "Date")) {
    if (value == 0 && name == "reviewDueDate") return Status::Ok();
    if (value == 0) return Status::Invalid("", "required (YYYYMMDD)");
    int min_year = name == "birthDate" ? kMinBirthYear : kMinYear;
    return IsValidDate(static_cast<uint32_t>(value), min_year)
               ? Status::Ok()
               : Status::Invalid("", fmt::format("{} is not a date (YYYYMMDD)", value));
  }
  if (IsPeriodName(name)) {
    if (value == 0) return Status::Invalid("", "required (YYYYMM)");
    return IsValidPeriod(static_cast<uint32_t>(value))
               ? Status::Ok()
               : Status::Invalid("", fmt::format("{} is not a month (YYYYMM)", value));
  }
  return Status::Ok();
}

Status CheckInt(std::string_view name, int64_t value) {
  if (!EndsWith(name, "Fen")) return Status::Ok();
  if (value < 0) return Status::Invalid("", fmt::format("negative amount {} fen", value));
  if (value > kMaxAmountFen)
    return Status::Invalid("", fmt::format("{} fen is above the limit of {} fen", value, kMaxAmountFen));
  return Status::Ok();
}

Status CheckProtected(DynamicStruct::Reader ref) {
  if (ref.has("number")) return Status::Invalid("number", "full number present in a stored event");
  auto hash = ref.get("keyedHash").as<capnp::Data>();
  std::string_view masked = ref.get("masked").as<capnp::Text>().cStr();
  if (!ref.has("masked") || masked.find('*') == std::string_view::npos) {
    return Status::Invalid("masked", "missing or not masked");
  }
  if (hash.size() != 32) return Status::Invalid("keyedHash", "missing or not 32 bytes");
  return Status::Ok();
}

Status CheckStruct(DynamicStruct::Reader s);

Status CheckValue(std::string_view name, DynamicValue::Reader v, capnp::Type type, bool present) {
  switch (v.getType()) {
    case DynamicValue::TEXT: return CheckText(name, v.as<capnp::Text>().cStr(), present);
    case DynamicValue::UINT: return CheckUInt(name, v.as<uint64_t>());
    case DynamicValue::INT: return CheckInt(name, v.as<int64_t>());
    case DynamicValue::DATA: return CheckData(name, v.as<capnp::Data>().size());
    case DynamicValue::ENUM: {
      auto e = v.as<capnp::DynamicEnum>();
      KJ_IF_MAYBE (en, e.getEnumerant()) {
        if (en->getProto().getName() == "unspecified") return Status::Invalid("", "required");
        return Status::Ok();
      }
      return Status::Invalid("", fmt::format("unknown value {}", e.getRaw()));
    }
    case DynamicValue::LIST: {
      auto list = v.as<DynamicList>();
      if (list.size() > kMaxListItems) return Status::Invalid("", fmt::format("more than {} items", kMaxListItems));
      for (uint i = 0; i < list.size(); ++i) {
        Status st = CheckValue(name, list[i], type.asList().getElementType(), true);
        if (!st.ok()) return st.WithFieldPrefix(fmt::format("[{}]", i));
      }
      return Status::Ok();
    }
    case DynamicValue::STRUCT: {
      auto id = type.asStruct().getProto().getId();
      bool secret = id == capnp::typeId<schema::PersonId>() || id == capnp::typeId<schema::BankCard>();
      if (secret && !present) return name == "payeeCard" ? Status::Ok() : Status::Invalid("", "required");
      return secret ? CheckProtected(v.as<DynamicStruct>()) : CheckStruct(v.as<DynamicStruct>());
    }
    default: return Status::Ok();
  }
}

Status CheckField(DynamicStruct::Reader s, StructSchema::Field field) {
  std::string name = field.getProto().getName();
  auto t = field.getType();
  bool pointer =
      !field.getProto().isGroup() && (t.isText() || t.isData() || t.isList() || t.isStruct() || t.isAnyPointer());
  bool present = !pointer || s.has(field);
  return CheckValue(name, s.get(field), field.getType(), present).WithFieldPrefix(name);
}

Status CheckStruct(DynamicStruct::Reader s) {
  for (auto field : s.getSchema().getNonUnionFields()) {
    Status st = CheckField(s, field);
    if (!st.ok()) return st;
  }
  KJ_IF_MAYBE (active, s.which()) {
    return CheckField(s, *active);
  }
  return Status::Ok();
}

// Kinds that are not about one household.
constexpr std::array<Which, 7> kLedgerWideKinds = {
    Which::STANDARD_CHANGED, Which::PAYMENT_ROLL_ISSUED, Which::FUNDS_ALLOCATED, Which::RELATIVE_DECLARED,
    Which::ACTOR_REGISTERED, Which::APPROVAL_LEVEL_SET,  Which::ACTOR_KEY_SET};

Status CheckHouseholdScope(schema::Event::Reader event) {
  std::string_view hid = event.getHouseholdId().cStr();
  Which kind = event.which();
  if (kind == Which::CORRECTION) {
    return hid.empty() || IsValidId(hid) ? Status::Ok() : Status::Invalid("householdId", "not an identifier");
  }
  bool ledger_wide = std::find(kLedgerWideKinds.begin(), kLedgerWideKinds.end(), kind) != kLedgerWideKinds.end();
  if (ledger_wide && !hid.empty()) {
    return Status::Invalid("householdId", fmt::format("must be empty for {}", KindName(event)));
  }
  if (!ledger_wide && hid.empty())
    return Status::Invalid("householdId", fmt::format("required for {}", KindName(event)));
  if (!ledger_wide && !IsValidId(hid)) {
    return Status::Invalid("householdId", "not an identifier (1 to 128 of A-Z a-z 0-9 . _ : / -)");
  }
  return Status::Ok();
}

}  // namespace

std::string KindName(schema::Event::Reader event) {
  DynamicStruct::Reader dynamic = event;
  KJ_IF_MAYBE (active, dynamic.which()) {
    return active->getProto().getName();
  }
  return "";
}

std::optional<int64_t> AmountFenOf(schema::Event::Reader event) {
  DynamicStruct::Reader dynamic = event;
  KJ_IF_MAYBE (kind_field, dynamic.which()) {
    if (!kind_field->getType().isStruct()) return std::nullopt;
    auto kind = dynamic.get(*kind_field).as<DynamicStruct>();
    for (auto f : kind.getSchema().getFields()) {
      if (EndsWith(f.getProto().getName().cStr(), "Fen") && f.getType().isInt64()) return kind.get(f).as<int64_t>();
    }
  }
  return std::nullopt;
}

Status ValidateEvent(schema::Event::Reader event) {
  // A kind union left at its default would read as an empty first kind: the kind must be set.
  capnp::DynamicStruct::Reader dynamic = event;
  auto kind = dynamic.which();
  KJ_IF_MAYBE (field, kind) {
    if (!dynamic.has(*field)) return Status::Invalid("", "no event kind given");
  } else {
    return Status::Invalid("", "no event kind given (or one this version does not know)");
  }
  Status st = CheckHouseholdScope(event);
  if (!st.ok()) return st;
  return CheckStruct(event);
}

}  // namespace ledger
