#include "ledger/json.h"

#include <capnp/compat/json.h>
#include <capnp/dynamic.h>
#include <capnp/schema.h>
#include <fmt/format.h>

#include <cmath>
#include <ctime>
#include <set>

#include "ledger/formats.h"
#include "ledger/validate.h"

namespace ledger {
namespace {

using capnp::JsonValue;
using capnp::StructSchema;

constexpr uint64_t kJsonNameAnnotationId = 0xfa5b1fd61c2e7c3dull;  // $Json.name in json.capnp

const capnp::JsonCodec& Codec() {
  static const capnp::JsonCodec* codec = [] {
    auto* c = new capnp::JsonCodec();
    c->setMaxNestingDepth(kMaxJsonDepth);
    c->setRejectUnknownFields(true);
    // $Json.name (programme names) and $Json.hex (hashes) apply only to types registered here.
    c->handleByAnnotation<schema::Event>();
    c->handleByAnnotation<schema::EntryView>();
    return c;
  }();
  return *codec;
}

const char* JsonTypeName(JsonValue::Reader v) {
  switch (v.which()) {
    case JsonValue::NULL_: return "null";
    case JsonValue::BOOLEAN: return "a boolean";
    case JsonValue::NUMBER: return "a number";
    case JsonValue::STRING: return "a string";
    case JsonValue::ARRAY: return "an array";
    case JsonValue::OBJECT: return "an object";
    default: return "a call";
  }
}

Status Expected(const std::string& what, JsonValue::Reader got) {
  return Status::Invalid("", fmt::format("expected {}, got {}", what, JsonTypeName(got)));
}

std::string JsonName(capnp::EnumSchema::Enumerant e) {
  for (auto a : e.getProto().getAnnotations()) {
    if (a.getId() == kJsonNameAnnotationId) return a.getValue().getText();
  }
  return e.getProto().getName();
}

Status CheckInteger(JsonValue::Reader v, capnp::schema::Type::Which which) {
  using T = capnp::schema::Type;
  bool wide = which == T::INT64 || which == T::UINT64;
  bool is_signed = which == T::INT8 || which == T::INT16 || which == T::INT32 || which == T::INT64;
  int bits = which == T::INT8 || which == T::UINT8     ? 8
             : which == T::INT16 || which == T::UINT16 ? 16
             : which == T::INT32 || which == T::UINT32 ? 32
                                                       : 64;
  if (wide && v.isString()) {
    std::string_view s = v.getString().cStr();
    size_t start = is_signed && !s.empty() && s[0] == '-' ? 1 : 0;
    bool digits = s.size() > start && s.size() - start <= 19 &&
                  s.find_first_not_of("0123456789", start) == std::string_view::npos;
    return digits ? Status::Ok() : Status::Invalid("", fmt::format("\"{}\" is not an integer", s.substr(0, 40)));
  }
  if (!v.isNumber()) return Expected("an integer", v);
  double x = v.getNumber();
  if (x != std::floor(x)) return Status::Invalid("", fmt::format("{} is not an integer", x));
  double lo = is_signed ? -std::ldexp(1.0, bits - 1) : 0.0;
  double hi = std::ldexp(1.0, wide ? 53 : (is_signed ? bits - 1 : bits)) - 1;
  if (x < lo || x > hi) {
    return Status::Invalid(
        "", fmt::format("{} is out of range{}", x, wide ? " (write 64-bit integers above 2^53 as strings)" : ""));
  }
  return Status::Ok();
}

Status CheckStruct(JsonValue::Reader v, StructSchema schema, bool top);

Status CheckValue(JsonValue::Reader v, capnp::Type type) {
  using T = capnp::schema::Type;
  switch (type.which()) {
    case T::VOID: return v.isNull() ? Status::Ok() : Expected("null", v);
    case T::BOOL: return v.isBoolean() ? Status::Ok() : Expected("true or false", v);
    case T::FLOAT32:
    case T::FLOAT64: return v.isNumber() ? Status::Ok() : Expected("a number", v);
    case T::TEXT: return v.isString() ? Status::Ok() : Expected("a string", v);
    case T::DATA: return v.isString() || v.isArray() ? Status::Ok() : Expected("hex text", v);
    case T::ENUM: {
      if (!v.isString()) return Expected("a string", v);
      std::string names;
      for (auto e : type.asEnum().getEnumerants()) {
        if (JsonName(e) == v.getString().cStr()) return Status::Ok();
        names += (names.empty() ? "" : ", ") + JsonName(e);
      }
      return Status::Invalid(
          "", fmt::format("\"{}\" is not one of: {}", std::string(v.getString().cStr()).substr(0, 60), names));
    }
    case T::LIST: {
      if (!v.isArray()) return Expected("an array", v);
      auto items = v.getArray();
      if (items.size() > kMaxListItems) return Status::Invalid("", fmt::format("more than {} items", kMaxListItems));
      for (uint i = 0; i < items.size(); ++i) {
        Status s = CheckValue(items[i], type.asList().getElementType());
        if (!s.ok()) return s.WithFieldPrefix(fmt::format("[{}]", i));
      }
      return Status::Ok();
    }
    case T::STRUCT: return CheckStruct(v, type.asStruct(), false);
    case T::INTERFACE:
    case T::ANY_POINTER: return Status::Invalid("", "not supported in events");
    default: return CheckInteger(v, type.which());
  }
}

Status CheckStruct(JsonValue::Reader v, StructSchema schema, bool top) {
  if (!v.isObject()) return Expected("an object", v);
  std::set<std::string> seen;
  std::string union_member;
  for (auto f : v.getObject()) {
    std::string name = f.getName();
    if (!seen.insert(name).second) return Status::Invalid(name, "given twice");
    KJ_IF_MAYBE (field, schema.findFieldByName(name)) {
      if (field->getProto().getDiscriminantValue() != capnp::schema::Field::NO_DISCRIMINANT) {
        if (!union_member.empty()) {
          return Status::Invalid(name,
                                 fmt::format("cannot be given together with \"{}\" (one of them only)", union_member));
        }
        union_member = name;
      }
      Status s = CheckValue(f.getValue(), field->getType());
      if (!s.ok()) return s.WithFieldPrefix(name);
    } else {
      return Status::Invalid(name.substr(0, 80), top ? "unknown field or event kind" : "unknown field");
    }
  }
  // An unnamed union (the event kind; annul or amend) must be chosen: its default would be a
  // silent choice. A named union (a group such as expectedVersion) defaults to its first member.
  bool group = schema.getProto().getStruct().getIsGroup();
  if (union_member.empty() && !group && schema.getUnionFields().size() > 0) {
    std::string names;
    for (auto f : schema.getUnionFields()) names += (names.empty() ? "" : ", ") + std::string(f.getProto().getName());
    return Status::Invalid("", top ? "no event kind given (one of: " + names + ")" : "give one of: " + names);
  }
  return Status::Ok();
}

// The exception's description without the source location the KJ library puts in front.
// KJ descriptions read "expected <condition>; <message>": keep the message.
std::string Describe(const kj::Exception& e) {
  std::string d = e.getDescription().cStr();
  if (auto semi = d.find("; "); d.rfind("expected ", 0) == 0 && semi != std::string::npos) d = d.substr(semi + 2);
  return d.substr(0, 200);
}

// The "eventId" string member of a JSON object, if any (at most an id's length).
std::string EventIdOf(JsonValue::Reader v) {
  if (!v.isObject()) return "";
  for (auto f : v.getObject()) {
    if (f.getName() == "eventId" && f.getValue().isString()) {
      return std::string(f.getValue().getString().cStr()).substr(0, kMaxIdBytes);
    }
  }
  return "";
}

}  // namespace

Status ParseEventJson(std::string_view line, capnp::MessageBuilder* out, std::string* event_id) {
  capnp::MallocMessageBuilder tree;
  auto root = tree.initRoot<JsonValue>();
  KJ_IF_MAYBE (e, kj::runCatchingExceptions([&] { Codec().decodeRaw(kj::arrayPtr(line.data(), line.size()), root); })) {
    return Status::Invalid("", "malformed JSON: " + Describe(*e));
  }
  if (event_id != nullptr) *event_id = EventIdOf(root.asReader());
  Status s = CheckStruct(root.asReader(), capnp::Schema::from<schema::Event>(), true);
  if (!s.ok()) return s;
  KJ_IF_MAYBE (e, kj::runCatchingExceptions([&] {
                 Codec().decode(root.asReader(), capnp::DynamicStruct::Builder(out->initRoot<schema::Event>()));
               })) {
    return Status::Invalid("", "cannot decode: " + Describe(*e));
  }
  return Status::Ok();
}

std::optional<uint16_t> ParseProgramme(std::string_view name) {
  for (auto e : capnp::Schema::from<schema::Programme>().getEnumerants()) {
    if (JsonName(e) == name && e.getOrdinal() != 0) return static_cast<uint16_t>(e.getOrdinal());
  }
  return std::nullopt;
}

std::string ProgrammeName(uint16_t programme) {
  auto enumerants = capnp::Schema::from<schema::Programme>().getEnumerants();
  return programme < enumerants.size() ? JsonName(enumerants[programme]) : std::to_string(programme);
}

std::string JsonString(std::string_view text) {
  std::string out = "\"";
  bool utf8 = IsValidUtf8(text, nullptr);  // Else (say, a cut-off quote of input) non-ASCII -> '?'.
  for (char c : text) {
    if (!utf8 && static_cast<unsigned char>(c) >= 0x80) c = '?';
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u == 0x7f) {
      out += fmt::format("\\u{:04x}", u);
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string FormatTimestampUs(int64_t us) {
  time_t secs = static_cast<time_t>(us / 1'000'000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec, us % 1'000'000);
}

std::string EntryToJson(schema::Entry::Reader entry, const Hash& hash) {
  capnp::MallocMessageBuilder message;
  auto view = message.initRoot<schema::EntryView>();
  view.setHash(capnp::Data::Reader(hash.data(), hash.size()));
  view.setRecordedAt(FormatTimestampUs(entry.getRecordedAtUs()));
  view.setKind(KindName(entry.getEvent()));
  view.setEntry(entry);
  return Codec().encode(view.asReader()).cStr();
}

std::string EventToJson(schema::Event::Reader event) {
  return Codec().encode(event).cStr();
}

}  // namespace ledger
