#include "ledger/domain/validate.h"

#include <capnp/any.h>
#include <capnp/dynamic.h>
#include <capnp/schema.h>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ledger/core/genesis.h"
#include "ledger/util/formats.h"
#include "ledger/util/note.h"

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

// ---------------------------------------------------------------------------------------------
// Plans: how each field of each struct is read and checked, decided once per schema from the
// fields' names and types (the table in validate.h). Checking an event walks the plan and reads
// the fields raw (AnyStruct): reflection (DynamicStruct) and comparing names at every field took
// most of the time of validation. The walk reads what reflection read, in the same order, so that
// a damaged entry throws the same error at the same field (verify.cc reports it).

// How a value is read.
enum class Kind : uint8_t {
  kSkip,  // Nothing is checked of it (Void, Bool, floats, a number no rule names, ...).
  kText,
  kData,
  kList,
  kStruct,
  kGroup,  // The fields of a group are in the struct that holds it.
  kUInt,
  kInt,
  kEnum,
};

// What is checked of it, by the field's name.
enum class Rule : uint8_t {
  kNone,
  kRegionCode,    // Text.
  kRegionPrefix,  // Text.
  kCountyCode,    // Text.
  kPublicKey,     // Text.
  kId,            // Text.
  kFreeText,      // Text.
  kSignature,     // Data.
  kDate,          // UInt.
  kPeriod,        // UInt.
  kFen,           // Int.
};

struct StructPlan;

// The pointer slots of a protected number's fields (PersonId, BankCard).
struct SecretSlots {
  uint32_t number = 0;
  uint32_t masked = 0;
  uint32_t keyed_hash = 0;
};

// How one value is checked: a field's, or each item's of a list field.
struct Check {
  Kind kind = Kind::kSkip;
  Rule rule = Rule::kNone;
  bool optional = false;               // kDate: 0 allowed (reviewDueDate); kStruct: may be absent (payeeCard).
  int min_year = kMinYear;             // kDate.
  std::vector<bool> unspecified;       // kEnum: by raw value, whether the enumerant is "unspecified".
  capnp::ListSchema list;              // kList.
  std::unique_ptr<const Check> items;  // kList.
  const StructPlan* fields = nullptr;  // kStruct (not a secret), kGroup.
  std::optional<SecretSlots> secret;   // kStruct: a PersonId or BankCard.
};

struct FieldPlan {
  std::string name;      // For the field path of an error.
  uint32_t offset = 0;   // In the data section in units of the value's size, or in the pointers.
  uint8_t bytes = 0;     // kUInt, kInt: the value's size.
  bool pointer = false;  // Text, Data, List, struct or AnyPointer: first asked whether it is set.
  Check check;
};

struct StructPlan {
  std::vector<FieldPlan> fields;  // The fields outside the union, in schema order.
  uint32_t discriminant_offset = 0;
  std::vector<FieldPlan> members;  // The union's fields, by discriminant value; empty if none.
};

uint8_t ByteSize(capnp::schema::Type::Which type) {
  using T = capnp::schema::Type;
  switch (type) {
    case T::UINT8:
    case T::INT8: return 1;
    case T::UINT16:
    case T::INT16: return 2;
    case T::UINT32:
    case T::INT32: return 4;
    default: return 8;
  }
}

Rule TextRule(std::string_view name) {
  if (name == "householdId") return Rule::kNone;  // By event kind: see CheckHouseholdScope.
  if (name == "regionCode") return Rule::kRegionCode;
  if (name == "regionPrefix" || name == "jurisdiction") return Rule::kRegionPrefix;
  if (name == "countyCode") return Rule::kCountyCode;
  if (name == "publicKey") return Rule::kPublicKey;
  if (EndsWith(name, "Id") || name == "paymentIds") return Rule::kId;
  return Rule::kFreeText;
}

// Plans a struct and every struct it reaches, each once: Event reaches itself through
// Correction.amend.
class Planner {
 public:
  const StructPlan* Plan(StructSchema schema);

 private:
  FieldPlan PlanField(StructSchema::Field field);
  Check PlanValue(std::string_view name, capnp::Type type);
  Check PlanStruct(std::string_view name, StructSchema schema);

  std::map<uint64_t, std::unique_ptr<StructPlan>> plans_;  // By schema id.
};

const StructPlan* Planner::Plan(StructSchema schema) {
  auto& plan = plans_[schema.getProto().getId()];
  if (plan) return plan.get();  // Planned, or being planned further up.
  plan = std::make_unique<StructPlan>();
  StructPlan* p = plan.get();  // plans_ may grow below; the plan does not move.
  for (auto field : schema.getNonUnionFields()) p->fields.push_back(PlanField(field));
  p->discriminant_offset = schema.getProto().getStruct().getDiscriminantOffset();
  for (uint16_t d = 0; d < schema.getProto().getStruct().getDiscriminantCount(); ++d) {
    p->members.push_back(PlanField(KJ_ASSERT_NONNULL(schema.getFieldByDiscriminant(d))));
  }
  return p;
}

FieldPlan Planner::PlanField(StructSchema::Field field) {
  FieldPlan plan;
  plan.name = field.getProto().getName();
  auto type = field.getType();
  if (field.getProto().isGroup()) {
    plan.check.kind = Kind::kGroup;
    plan.check.fields = Plan(type.asStruct());
    return plan;
  }
  auto slot = field.getProto().getSlot();
  plan.offset = slot.getOffset();
  plan.bytes = ByteSize(type.which());
  plan.pointer = type.isText() || type.isData() || type.isList() || type.isStruct() || type.isAnyPointer();
  plan.check = PlanValue(plan.name, type);
  // The fields are read raw, which knows no default values; the event schema gives none.
  KJ_REQUIRE(plan.check.kind == Kind::kSkip || !slot.getHadExplicitDefault(),
             "ValidateEvent does not support a field with a default value", plan.name);
  return plan;
}

Check Planner::PlanValue(std::string_view name, capnp::Type type) {
  using T = capnp::schema::Type;
  Check c;
  switch (type.which()) {
    case T::TEXT:
      c.kind = Kind::kText;
      c.rule = TextRule(name);
      break;
    case T::DATA:
      c.kind = Kind::kData;
      c.rule = EndsWith(name, "Signature") ? Rule::kSignature : Rule::kNone;
      break;
    case T::UINT8:
    case T::UINT16:
    case T::UINT32:
    case T::UINT64:
      c.rule = EndsWith(name, "Date") ? Rule::kDate : IsPeriodName(name) ? Rule::kPeriod : Rule::kNone;
      c.kind = c.rule == Rule::kNone ? Kind::kSkip : Kind::kUInt;
      c.optional = name == "reviewDueDate";
      c.min_year = name == "birthDate" ? kMinBirthYear : kMinYear;
      break;
    case T::INT8:
    case T::INT16:
    case T::INT32:
    case T::INT64:
      c.rule = EndsWith(name, "Fen") ? Rule::kFen : Rule::kNone;
      c.kind = c.rule == Rule::kNone ? Kind::kSkip : Kind::kInt;
      break;
    case T::ENUM:
      c.kind = Kind::kEnum;
      for (auto e : type.asEnum().getEnumerants()) c.unspecified.push_back(e.getProto().getName() == "unspecified");
      break;
    case T::LIST:
      c.kind = Kind::kList;
      c.list = type.asList();
      c.items = std::make_unique<const Check>(PlanValue(name, c.list.getElementType()));
      break;
    case T::STRUCT: return PlanStruct(name, type.asStruct());
    default: break;  // Void, Bool, floats, AnyPointer, interfaces: nothing to check.
  }
  return c;
}

Check Planner::PlanStruct(std::string_view name, StructSchema schema) {
  Check c;
  c.kind = Kind::kStruct;
  auto id = schema.getProto().getId();
  if (id != capnp::typeId<schema::PersonId>() && id != capnp::typeId<schema::BankCard>()) {
    c.fields = Plan(schema);
    return c;
  }
  auto slot = [&](const char* field) { return schema.getFieldByName(field).getProto().getSlot().getOffset(); };
  c.secret = SecretSlots{slot("number"), slot("masked"), slot("keyedHash")};
  c.optional = name == "payeeCard";
  return c;
}

const StructPlan& EventPlan() {
  // Planned on the first event, once even when threads race to it, and kept for the process (a
  // static Planner owns the plans: destroyed at exit, so no leak checker sees them lost).
  static Planner planner;
  static const StructPlan* const plan = planner.Plan(capnp::Schema::from<schema::Event>());
  return *plan;
}

// ---------------------------------------------------------------------------------------------
// Reading fields raw.

static_assert(std::endian::native == std::endian::little, "Cap'n Proto's data is read as it is stored");

// A data field as Cap'n Proto reads it: 0 past the end of a shorter (older) data section.
template <typename T>
T ReadData(capnp::AnyStruct::Reader s, uint32_t offset) {
  auto data = s.getDataSection();
  T value = 0;
  if ((offset + size_t{1}) * sizeof(T) <= data.size()) memcpy(&value, data.begin() + offset * sizeof(T), sizeof(T));
  return value;
}

uint64_t ReadUInt(capnp::AnyStruct::Reader s, const FieldPlan& f) {
  switch (f.bytes) {
    case 1: return ReadData<uint8_t>(s, f.offset);
    case 2: return ReadData<uint16_t>(s, f.offset);
    case 4: return ReadData<uint32_t>(s, f.offset);
    default: return ReadData<uint64_t>(s, f.offset);
  }
}

int64_t ReadInt(capnp::AnyStruct::Reader s, const FieldPlan& f) {
  switch (f.bytes) {
    case 1: return ReadData<int8_t>(s, f.offset);
    case 2: return ReadData<int16_t>(s, f.offset);
    case 4: return ReadData<int32_t>(s, f.offset);
    default: return ReadData<int64_t>(s, f.offset);
  }
}

// Null past the end of a shorter (older) pointer section.
capnp::AnyPointer::Reader PointerOf(capnp::AnyStruct::Reader s, uint32_t offset) {
  auto pointers = s.getPointerSection();
  return offset < pointers.size() ? pointers[offset] : capnp::AnyPointer::Reader();
}

// A text is checked up to its first NUL, as it always was.
std::string_view TextOf(capnp::Text::Reader text) {
  return text.cStr();
}

// ---------------------------------------------------------------------------------------------
// Checks.

// An actor's key (signing.h): empty, or a verifier key text (note.h).
Status CheckPublicKey(std::string_view value) {
  note::Verifier key;
  Status s = value.empty() ? Status::Ok() : note::ParseVerifierKey(value, &key);
  if (s.ok()) return s;
  return Status::Invalid("",
                         "not a verifier key (name+keyid+base64, as note::FormatVerifierKey writes): " + s.ToString());
}

// Signatures (fields named *Signature): absent, or 64 bytes of Ed25519.
Status CheckData(Rule rule, size_t size) {
  if (rule != Rule::kSignature || size == 0 || size == 64) return Status::Ok();
  return Status::Invalid("", fmt::format("{} bytes; an Ed25519 signature is 64", size));
}

Status CheckText(Rule rule, std::string_view value) {
  switch (rule) {
    case Rule::kRegionCode:
      return IsValidRegionCode(value) ? Status::Ok()
                                      : Status::Invalid("", "not a 12-digit region code of a real province");
    case Rule::kRegionPrefix:
      return IsValidRegionPrefix(value) ? Status::Ok()
                                        : Status::Invalid("", "not a region prefix (2, 4, 6, 9 or 12 digits)");
    case Rule::kCountyCode:
      return value.size() == 6 && IsValidRegionPrefix(value) ? Status::Ok()
                                                             : Status::Invalid("", "not a 6-digit county code");
    case Rule::kPublicKey: return CheckPublicKey(value);
    case Rule::kId:
      if (value.empty()) return Status::Invalid("", "required");  // Absent reads as empty.
      return IsValidId(value) ? Status::Ok()
                              : Status::Invalid("", "not an identifier (1 to 128 of A-Z a-z 0-9 . _ : / -)");
    case Rule::kFreeText:
      return IsValidText(value)
                 ? Status::Ok()
                 : Status::Invalid("", "not text (valid UTF-8, no control characters, at most 4096 bytes)");
    default: return Status::Ok();
  }
}

Status CheckUInt(const Check& c, uint64_t value) {
  if (c.rule == Rule::kDate) {
    if (value == 0 && c.optional) return Status::Ok();
    if (value == 0) return Status::Invalid("", "required (YYYYMMDD)");
    return IsValidDate(static_cast<uint32_t>(value), c.min_year)
               ? Status::Ok()
               : Status::Invalid("", fmt::format("{} is not a date (YYYYMMDD)", value));
  }
  if (c.rule == Rule::kPeriod) {
    if (value == 0) return Status::Invalid("", "required (YYYYMM)");
    return IsValidPeriod(static_cast<uint32_t>(value))
               ? Status::Ok()
               : Status::Invalid("", fmt::format("{} is not a month (YYYYMM)", value));
  }
  return Status::Ok();
}

Status CheckInt(Rule rule, int64_t value) {
  if (rule != Rule::kFen) return Status::Ok();
  if (value < 0) return Status::Invalid("", fmt::format("negative amount {} fen", value));
  if (value > kMaxAmountFen)
    return Status::Invalid("", fmt::format("{} fen is above the limit of {} fen", value, kMaxAmountFen));
  return Status::Ok();
}

Status CheckEnum(const Check& c, uint16_t raw) {
  if (raw >= c.unspecified.size()) return Status::Invalid("", fmt::format("unknown value {}", raw));
  return c.unspecified[raw] ? Status::Invalid("", "required") : Status::Ok();
}

Status CheckProtected(capnp::AnyStruct::Reader ref, const SecretSlots& slots) {
  if (!PointerOf(ref, slots.number).isNull()) return Status::Invalid("number", "full number present in a stored event");
  auto hash = PointerOf(ref, slots.keyed_hash).getAs<capnp::Data>();
  auto masked_pointer = PointerOf(ref, slots.masked);
  std::string_view masked = TextOf(masked_pointer.getAs<capnp::Text>());
  if (masked_pointer.isNull() || masked.find('*') == std::string_view::npos) {
    return Status::Invalid("masked", "missing or not masked");
  }
  if (hash.size() != 32) return Status::Invalid("keyedHash", "missing or not 32 bytes");
  return Status::Ok();
}

Status CheckStruct(capnp::AnyStruct::Reader s, const StructPlan& plan);

// A struct field or list item; a struct left absent reads as an empty one and is checked as such.
Status CheckObject(capnp::AnyStruct::Reader s, const Check& c, bool present) {
  if (!c.secret) return CheckStruct(s, *c.fields);
  if (!present) return c.optional ? Status::Ok() : Status::Invalid("", "required");
  return CheckProtected(s, *c.secret);
}

Status CheckItem(DynamicValue::Reader item, const Check& c);

Status CheckList(DynamicList::Reader list, const Check& c) {
  if (list.size() > kMaxListItems) return Status::Invalid("", fmt::format("more than {} items", kMaxListItems));
  for (uint i = 0; i < list.size(); ++i) {
    Status st = CheckItem(list[i], *c.items);
    if (!st.ok()) return st.WithFieldPrefix(fmt::format("[{}]", i));
  }
  return Status::Ok();
}

// Lists are read by reflection: they are few and short.
Status CheckItem(DynamicValue::Reader item, const Check& c) {
  switch (c.kind) {
    case Kind::kText: return CheckText(c.rule, TextOf(item.as<capnp::Text>()));
    case Kind::kData: return CheckData(c.rule, item.as<capnp::Data>().size());
    case Kind::kList: return CheckList(item.as<DynamicList>(), c);
    case Kind::kStruct: return CheckObject(item.as<DynamicStruct>(), c, true);
    case Kind::kUInt: return CheckUInt(c, item.as<uint64_t>());
    case Kind::kInt: return CheckInt(c.rule, item.as<int64_t>());
    case Kind::kEnum: return CheckEnum(c, item.as<capnp::DynamicEnum>().getRaw());
    default: return Status::Ok();
  }
}

Status CheckPointer(capnp::AnyStruct::Reader s, const FieldPlan& f) {
  const Check& c = f.check;
  auto p = PointerOf(s, f.offset);
  // Asked before the read, as always: of a damaged pointer, either throws, each its own message.
  bool present = !p.isNull();
  switch (c.kind) {
    case Kind::kText: return CheckText(c.rule, TextOf(p.getAs<capnp::Text>()));
    case Kind::kData: return CheckData(c.rule, p.getAs<capnp::Data>().size());
    case Kind::kList: return CheckList(p.getAs<DynamicList>(c.list), c);
    case Kind::kStruct: return CheckObject(p.getAs<capnp::AnyStruct>(), c, present);
    default: return Status::Ok();  // AnyPointer.
  }
}

Status CheckValue(capnp::AnyStruct::Reader s, const FieldPlan& f) {
  if (f.pointer) return CheckPointer(s, f);
  const Check& c = f.check;
  switch (c.kind) {
    case Kind::kGroup: return CheckStruct(s, *c.fields);
    case Kind::kUInt: return CheckUInt(c, ReadUInt(s, f));
    case Kind::kInt: return CheckInt(c.rule, ReadInt(s, f));
    case Kind::kEnum: return CheckEnum(c, ReadData<uint16_t>(s, f.offset));
    default: return Status::Ok();
  }
}

// The active union member, or null when the struct has no union or the discriminant is one this
// version does not know.
const FieldPlan* ActiveMember(capnp::AnyStruct::Reader s, const StructPlan& plan) {
  if (plan.members.empty()) return nullptr;
  uint16_t discriminant = ReadData<uint16_t>(s, plan.discriminant_offset);
  return discriminant < plan.members.size() ? &plan.members[discriminant] : nullptr;
}

Status CheckStruct(capnp::AnyStruct::Reader s, const StructPlan& plan) {
  for (const FieldPlan& f : plan.fields) {
    Status st = CheckValue(s, f);
    if (!st.ok()) return st.WithFieldPrefix(f.name);
  }
  const FieldPlan* active = ActiveMember(s, plan);
  // Prefixed even when ok: an ok result has always carried the path of the union members checked
  // last ("approval"), though no caller reads it.
  return active ? CheckValue(s, *active).WithFieldPrefix(active->name) : Status::Ok();
}

// Kinds that are not about one household.
constexpr std::array<Which, 8> kLedgerWideKinds = {
    Which::STANDARD_CHANGED, Which::PAYMENT_ROLL_ISSUED, Which::FUNDS_ALLOCATED, Which::RELATIVE_DECLARED,
    Which::ACTOR_REGISTERED, Which::APPROVAL_LEVEL_SET,  Which::ACTOR_KEY_SET,   Which::ACTOR_DEACTIVATED};

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

// The ledger's own entries (genesis.h): written by the ledger, with no household, no region and
// no signature; the kind's own fields are checked as any other kind's.
Status CheckLedgerOwn(schema::Event::Reader event, capnp::AnyStruct::Reader s, const FieldPlan& kind) {
  if (Status st = CheckText(Rule::kId, TextOf(event.getEventId())); !st.ok()) return st.WithFieldPrefix("eventId");
  if (Status st = CheckText(Rule::kId, TextOf(event.getActorId())); !st.ok()) return st.WithFieldPrefix("actorId");
  Check date;
  date.rule = Rule::kDate;
  if (Status st = CheckUInt(date, event.getBusinessDate()); !st.ok()) return st.WithFieldPrefix("businessDate");
  const std::string kind_name = KindName(event);
  auto must_be_empty = [&](const char* field) {
    return Status::Invalid(field, fmt::format("must be empty for {}, an entry the ledger writes itself", kind_name));
  };
  if (event.getHouseholdId().size() != 0) return must_be_empty("householdId");
  if (event.getRegionCode().size() != 0) return must_be_empty("regionCode");
  if (event.getActorSignature().size() != 0) return must_be_empty("actorSignature");
  if (event.getExpectedVersion().isExactly()) return must_be_empty("expectedVersion");
  return CheckValue(s, kind).WithFieldPrefix(kind.name);
}

}  // namespace

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
  const StructPlan& plan = EventPlan();
  capnp::AnyStruct::Reader s = event;
  const FieldPlan* kind = ActiveMember(s, plan);
  if (!kind) return Status::Invalid("", "no event kind given (or one this version does not know)");
  if (kind->pointer && PointerOf(s, kind->offset).isNull()) return Status::Invalid("", "no event kind given");
  if (IsLedgerOwnKind(event.which())) return CheckLedgerOwn(event, s, *kind);
  Status st = CheckHouseholdScope(event);
  if (!st.ok()) return st;
  return CheckStruct(s, plan);
}

}  // namespace ledger
