// ParseEventJson (json.h): one line of JSON into a schema::Event, with simdjson and the schema.
//
// The fast path: simdjson parses the line (UTF-8 checked, every escape decoded, surrogate pairs
// joined, lone surrogates refused) into its DOM; a walk of the DOM driven by tables made once per
// struct type of the schema (member name -> field, its type, whether it is a union member, the
// JSON names of enums, hex for Data) checks each value and sets it in the Cap'n Proto builder.
// The walk checks what the JsonCodec-based parser before it checked, with the same field paths
// and reasons ("approval.monthlyAmountFen: expected an integer, got a string").
//
// The slow path, only for a line simdjson refuses (or a decoded string with a NUL in it): a small
// scanner that reads the line again to say where and what ("malformed JSON at byte 17: expected
// ',' or '}' after an object member"; "payee.name: \u escape is a lone surrogate (byte 57)").
// Bytes are counted from 1, as an editor counts the columns of ASCII text.
//
// Thread-safe: the tables are built once (a function-local static); each thread has its own
// simdjson parser (thread_local), reused from line to line.
#include <capnp/any.h>
#include <capnp/dynamic.h>
#include <capnp/schema.h>
#include <fmt/format.h>
#include <simdjson.h>

#include <bit>
#include <bitset>
#include <charconv>
#include <climits>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <vector>

#include "ledger/util/formats.h"
#include "ledger/domain/json.h"
#include "ledger/domain/validate.h"

namespace ledger {

namespace {
constexpr uint64_t kJsonNameAnnotationId = 0xfa5b1fd61c2e7c3dull;  // $Json.name in json.capnp
constexpr uint64_t kJsonHexAnnotationId = 0xf061e22f0ae5c7b5ull;   // $Json.hex
}  // namespace

std::string JsonEnumerantName(capnp::EnumSchema::Enumerant e) {
  for (auto a : e.getProto().getAnnotations()) {
    if (a.getId() == kJsonNameAnnotationId) return a.getValue().getText();
  }
  return e.getProto().getName();
}

namespace {

using capnp::StructSchema;
using simdjson::dom::element;
using simdjson::dom::element_type;
using T = capnp::schema::Type;

// ---------------------------------------------------------------------------------------------
// The tables, made once from the schema.

struct StructTable;

struct EnumTable {
  capnp::EnumSchema schema;
  std::vector<std::pair<std::string, uint16_t>> names;  // JSON name -> ordinal
  std::string all_names;                                // "head, spouse, ..." for errors
};

// What a JSON value is read as: a field's type, or a list's element type.
struct TypeInfo {
  capnp::Type type;
  T::Which which = T::VOID;
  unsigned bytes = 0;                         // Width of a value in the data section (0: Bool, Void, pointers).
  bool hex = false;                           // Data as hex text ($Json.hex)
  const EnumTable* enum_table = nullptr;      // ENUM
  const StructTable* struct_table = nullptr;  // STRUCT (also groups)
  std::unique_ptr<TypeInfo> element;          // LIST
};

// A field and where it lives in its struct's sections: values are written there directly (not
// through the dynamic API, whose Field::getType() on every set costs more than the parse).
struct FieldInfo {
  std::string name;
  TypeInfo type;
  bool group = false;         // A group: its fields are in the same sections as its parent's.
  uint32_t offset = 0;        // Slot offset, in units of the value's width (bits for Bool).
  uint64_t default_bits = 0;  // Data-section values are stored XOR their default.
  bool in_union = false;
  uint16_t discriminant = 0;     // Its discriminant value, for a union member...
  uint32_t discriminant_at = 0;  // ...stored at this offset (16-bit units) of the data section.
};

// Member names to fields by open addressing (FNV-1a): no std::string made, no dynamic-API
// lookup by name on the hot path.
class NameIndex {
 public:
  void Build(const std::vector<FieldInfo>& fields) {
    size_t size = 8;
    while (size < fields.size() * 4) size *= 2;
    slots_.assign(size, -1);
    for (size_t i = 0; i < fields.size(); ++i) {
      size_t at = Hash(fields[i].name) & (size - 1);
      while (slots_[at] >= 0) at = (at + 1) & (size - 1);
      slots_[at] = static_cast<int16_t>(i);
    }
  }
  int Find(const std::vector<FieldInfo>& fields, std::string_view name) const {
    const size_t mask = slots_.size() - 1;
    for (size_t at = Hash(name) & mask; slots_[at] >= 0; at = (at + 1) & mask) {
      if (fields[slots_[at]].name == name) return slots_[at];
    }
    return -1;
  }

 private:
  static size_t Hash(std::string_view s) {
    uint64_t h = 0xcbf29ce484222325ull;
    for (char c : s) h = (h ^ static_cast<unsigned char>(c)) * 0x100000001b3ull;
    return static_cast<size_t>(h ^ (h >> 29));
  }
  std::vector<int16_t> slots_;
};

constexpr size_t kMaxFieldsPerStruct = 128;

struct StructTable {
  StructSchema schema;
  uint16_t data_words = 0, pointers = 0;  // Its size, for a new struct or list of structs.
  std::vector<FieldInfo> fields;
  NameIndex index;
  bool must_choose = false;  // An unnamed union (event kind; annul or amend): one member must be given.
  std::string union_names;   // "annul, amend" for errors
};

class Tables {
 public:
  static const Tables& Get() {
    static const Tables* tables = new Tables();
    return *tables;
  }
  const StructTable& event() const { return *event_; }

 private:
  Tables() { event_ = Struct(capnp::Schema::from<schema::Event>()); }

  const StructTable* Struct(StructSchema s) {
    auto [it, fresh] = structs_.try_emplace(s.getProto().getId());
    if (!fresh) return it->second.get();  // Made already, or being made (Event inside Correction).
    it->second = std::make_unique<StructTable>();
    StructTable* t = it->second.get();
    t->schema = s;
    auto fields = s.getFields();
    KJ_REQUIRE(fields.size() <= kMaxFieldsPerStruct, "struct with too many fields for the JSON tables");
    auto node = s.getProto().getStruct();
    t->data_words = node.getDataWordCount();
    t->pointers = node.getPointerCount();
    for (auto f : fields) {
      auto proto = f.getProto();
      FieldInfo info;
      info.name = proto.getName();
      Type(f.getType(), &info.type);
      for (auto a : proto.getAnnotations()) info.type.hex |= a.getId() == kJsonHexAnnotationId;
      info.group = proto.isGroup();
      if (proto.isSlot()) {
        info.offset = proto.getSlot().getOffset();
        info.default_bits = DefaultBits(proto.getSlot().getDefaultValue());
      }
      info.in_union = proto.getDiscriminantValue() != capnp::schema::Field::NO_DISCRIMINANT;
      info.discriminant = proto.getDiscriminantValue();
      info.discriminant_at = node.getDiscriminantOffset();
      t->fields.push_back(std::move(info));
    }
    t->index.Build(t->fields);
    t->must_choose = !s.getProto().getStruct().getIsGroup() && s.getUnionFields().size() > 0;
    for (auto f : s.getUnionFields())
      t->union_names += (t->union_names.empty() ? "" : ", ") + std::string(f.getProto().getName());
    return t;
  }

  const EnumTable* Enum(capnp::EnumSchema s) {
    auto& slot = enums_[s.getProto().getId()];
    if (slot) return slot.get();
    slot = std::make_unique<EnumTable>();
    slot->schema = s;
    for (auto e : s.getEnumerants()) {
      slot->names.emplace_back(JsonEnumerantName(e), static_cast<uint16_t>(e.getOrdinal()));
      slot->all_names += (slot->all_names.empty() ? "" : ", ") + slot->names.back().first;
    }
    return slot.get();
  }

  static uint64_t DefaultBits(capnp::schema::Value::Reader v) {
    using V = capnp::schema::Value;
    switch (v.which()) {
      case V::BOOL: return v.getBool();
      case V::INT8: return static_cast<uint8_t>(v.getInt8());
      case V::INT16: return static_cast<uint16_t>(v.getInt16());
      case V::INT32: return static_cast<uint32_t>(v.getInt32());
      case V::INT64: return static_cast<uint64_t>(v.getInt64());
      case V::UINT8: return v.getUint8();
      case V::UINT16: return v.getUint16();
      case V::UINT32: return v.getUint32();
      case V::UINT64: return v.getUint64();
      case V::FLOAT32: return std::bit_cast<uint32_t>(v.getFloat32());
      case V::FLOAT64: return std::bit_cast<uint64_t>(v.getFloat64());
      case V::ENUM: return v.getEnum();
      default: return 0;  // Void, and pointers: a written pointer is the value, whatever the default.
    }
  }

  static unsigned Width(T::Which which) {
    switch (which) {
      case T::INT8:
      case T::UINT8: return 1;
      case T::INT16:
      case T::UINT16:
      case T::ENUM: return 2;
      case T::INT32:
      case T::UINT32:
      case T::FLOAT32: return 4;
      case T::INT64:
      case T::UINT64:
      case T::FLOAT64: return 8;
      default: return 0;
    }
  }

  void Type(capnp::Type type, TypeInfo* out) {
    out->type = type;
    out->which = type.which();
    out->bytes = Width(out->which);
    if (type.isEnum()) out->enum_table = Enum(type.asEnum());
    if (type.isStruct()) out->struct_table = Struct(type.asStruct());
    if (type.isList()) {
      out->element = std::make_unique<TypeInfo>();
      Type(type.asList().getElementType(), out->element.get());
    }
  }

  const StructTable* event_ = nullptr;
  std::map<uint64_t, std::unique_ptr<StructTable>> structs_;
  std::map<uint64_t, std::unique_ptr<EnumTable>> enums_;
};

// ---------------------------------------------------------------------------------------------
// The fast path: the simdjson DOM into the builder.

const char* TypeName(element v) {
  switch (v.type()) {
    case element_type::NULL_VALUE: return "null";
    case element_type::BOOL: return "a boolean";
    case element_type::INT64:
    case element_type::UINT64:
    case element_type::DOUBLE: return "a number";
    case element_type::STRING: return "a string";
    case element_type::ARRAY: return "an array";
    default: return "an object";
  }
}

Status Expected(const char* what, element got) {
  return Status::Invalid("", fmt::format("expected {}, got {}", what, TypeName(got)));
}

struct IntRange {
  bool wide, is_signed;
  int bits;
};

IntRange RangeOf(T::Which which) {
  bool wide = which == T::INT64 || which == T::UINT64;
  bool is_signed = which == T::INT8 || which == T::INT16 || which == T::INT32 || which == T::INT64;
  int bits = which == T::INT8 || which == T::UINT8     ? 8
             : which == T::INT16 || which == T::UINT16 ? 16
             : which == T::INT32 || which == T::UINT32 ? 32
                                                       : 64;
  return {wide, is_signed, bits};
}

Status OutOfRange(const std::string& number, IntRange r) {
  return Status::Invalid(
      "", fmt::format("{} is out of range{}", number, r.wide ? " (write 64-bit integers above 2^53 as strings)" : ""));
}

// An integer field's value: a JSON number that is an integer in the type's range (64-bit ones up
// to 2^53 - 1, what a double holds exactly), or, for 64-bit fields, a decimal string.
Status ReadInteger(element v, T::Which which, uint64_t* out) {
  const IntRange r = RangeOf(which);
  // Bounds as JSON numbers (doubles) carry them exactly.
  const int64_t lo = !r.is_signed ? 0 : r.bits == 64 ? INT64_MIN : -(int64_t{1} << (r.bits - 1));
  const int64_t hi = (int64_t{1} << (r.wide ? 53 : (r.is_signed ? r.bits - 1 : r.bits))) - 1;
  switch (v.type()) {
    case element_type::STRING: {
      if (!r.wide) return Expected("an integer", v);
      std::string_view s = v.get_string().value_unsafe();
      size_t start = r.is_signed && !s.empty() && s[0] == '-' ? 1 : 0;
      bool digits = s.size() > start && s.size() - start <= 19 &&
                    s.find_first_not_of("0123456789", start) == std::string_view::npos;
      if (!digits) return Status::Invalid("", fmt::format("\"{}\" is not an integer", s.substr(0, 40)));
      if (r.is_signed) {
        int64_t x = 0;
        if (std::from_chars(s.data(), s.data() + s.size(), x).ec != std::errc()) {
          return Status::Invalid("", fmt::format("\"{}\" is out of range", s));
        }
        *out = static_cast<uint64_t>(x);
      } else {
        std::from_chars(s.data(), s.data() + s.size(), *out);  // 19 digits always fit
      }
      return Status::Ok();
    }
    case element_type::INT64: {
      int64_t x = v.get_int64().value_unsafe();
      if (x < lo || x > hi) return OutOfRange(std::to_string(x), r);
      *out = static_cast<uint64_t>(x);
      return Status::Ok();
    }
    case element_type::UINT64: return OutOfRange(std::to_string(v.get_uint64().value_unsafe()), r);
    case element_type::DOUBLE: {
      double x = v.get_double().value_unsafe();
      if (x != std::floor(x)) return Status::Invalid("", fmt::format("{} is not an integer", x));
      if (x < static_cast<double>(lo) || x > static_cast<double>(hi)) return OutOfRange(fmt::format("{}", x), r);
      *out = static_cast<uint64_t>(static_cast<int64_t>(x));
      return Status::Ok();
    }
    default: return Expected("an integer", v);
  }
}

int HexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// A scalar value as read: its bits (integers two's complement, floats IEEE, bools, enum ordinals)
// or its bytes (text, data).
struct Value {
  uint64_t bits = 0;
  std::string_view bytes;
};

// `value` as the dynamic API takes it (lists of scalars other than text; none in events today).
capnp::DynamicValue::Reader Dynamic(const Value& value, const TypeInfo& type) {
  switch (type.which) {
    case T::VOID: return capnp::VOID;
    case T::BOOL: return value.bits != 0;
    case T::INT8:
    case T::INT16:
    case T::INT32:
    case T::INT64: return static_cast<int64_t>(value.bits);
    case T::FLOAT32: return std::bit_cast<float>(static_cast<uint32_t>(value.bits));
    case T::FLOAT64: return std::bit_cast<double>(value.bits);
    case T::TEXT: return capnp::Text::Reader(value.bytes.data(), value.bytes.size());
    case T::DATA: return capnp::Data::Reader(reinterpret_cast<const kj::byte*>(value.bytes.data()), value.bytes.size());
    case T::ENUM: return capnp::DynamicEnum(type.enum_table->schema, static_cast<uint16_t>(value.bits));
    default: return value.bits;
  }
}

// `bits` little-endian into `bytes` bytes of the data section at `at` (Cap'n Proto's wire order).
void Store(kj::ArrayPtr<kj::byte> data, size_t at, unsigned bytes, uint64_t bits) {
  KJ_REQUIRE(at + bytes <= data.size(), "field beyond its struct's data section");
  for (unsigned k = 0; k < bytes; ++k) data[at + k] = static_cast<kj::byte>(bits >> (8 * k));
}

// The walk of one line: checks each value as the schema says and writes it. Not thread-safe;
// one per call.
class Walk {
 public:
  explicit Walk(std::string* event_id) : event_id_(event_id) {}

  // Set when a decoded string has a NUL in it: the scanner then names the byte.
  bool nul_in_string() const { return nul_in_string_; }

  Status Struct(element v, const StructTable& t, capnp::AnyStruct::Builder out, size_t depth, bool top) {
    simdjson::dom::object object;
    if (v.get_object().get(object) != simdjson::SUCCESS) return Expected("an object", v);
    if (depth > kMaxJsonDepth) return Status::Invalid("", fmt::format("nested deeper than {} levels", kMaxJsonDepth));
    std::bitset<kMaxFieldsPerStruct> seen;
    const FieldInfo* union_member = nullptr;
    for (auto [name, value] : object) {
      int i = t.index.Find(t.fields, name);
      if (i < 0) {
        std::string shown(name.substr(0, 80));
        return Status::Invalid(shown, top ? "unknown field or event kind" : "unknown field");
      }
      const FieldInfo& f = t.fields[i];
      if (seen[i]) return Status::Invalid(f.name, "given twice");
      seen[i] = true;
      if (f.in_union) {
        if (union_member != nullptr) {
          return Status::Invalid(
              f.name, fmt::format("cannot be given together with \"{}\" (one of them only)", union_member->name));
        }
        union_member = &f;
        Store(out.getDataSection(), 2 * size_t{f.discriminant_at}, 2, f.discriminant);
      }
      if (top && event_id_ != nullptr && f.name == "eventId" && value.is_string()) {
        *event_id_ = std::string(value.get_string().value_unsafe().substr(0, kMaxIdBytes));
      }
      Status s = Field(value, f, out, depth);
      if (!s.ok()) return s.WithFieldPrefix(f.name);
    }
    // An unnamed union must be chosen: its default would be a silent choice. A named union (a
    // group such as expectedVersion) defaults to its first member.
    if (union_member == nullptr && t.must_choose) {
      return Status::Invalid(
          "", top ? "no event kind given (one of: " + t.union_names + ")" : "give one of: " + t.union_names);
    }
    return Status::Ok();
  }

 private:
  Status Field(element v, const FieldInfo& f, capnp::AnyStruct::Builder out, size_t depth) {
    switch (f.type.which) {
      case T::STRUCT: {
        if (!v.is_object()) return Expected("an object", v);
        const StructTable& t = *f.type.struct_table;
        if (f.group) return Struct(v, t, out, depth + 1, false);  // The group's fields are the parent's.
        return Struct(v, t, out.getPointerSection()[f.offset].initAsAnyStruct(t.data_words, t.pointers), depth + 1,
                      false);
      }
      case T::LIST: {
        simdjson::dom::array items;
        if (v.get_array().get(items) != simdjson::SUCCESS) return Expected("an array", v);
        if (items.size() > kMaxListItems) return Status::Invalid("", fmt::format("more than {} items", kMaxListItems));
        if (depth + 1 > kMaxJsonDepth) {
          return Status::Invalid("", fmt::format("nested deeper than {} levels", kMaxJsonDepth));
        }
        return List(items, f.type, out.getPointerSection()[f.offset], depth + 1);
      }
      default: {
        Value value;
        Status s = Scalar(v, f.type, &value);
        if (s.ok()) Put(value, f, out);
        return s;
      }
    }
  }

  void Put(const Value& value, const FieldInfo& f, capnp::AnyStruct::Builder out) {
    switch (f.type.which) {
      case T::VOID: return;
      case T::BOOL: {
        kj::ArrayPtr<kj::byte> data = out.getDataSection();
        KJ_REQUIRE(f.offset / 8 < data.size(), "field beyond its struct's data section");
        if ((value.bits ^ f.default_bits) & 1) data[f.offset / 8] |= static_cast<kj::byte>(1u << (f.offset % 8));
        return;
      }
      case T::TEXT:
        out.getPointerSection()[f.offset].setAs<capnp::Text>(
            capnp::Text::Reader(value.bytes.data(), value.bytes.size()));
        return;
      case T::DATA:
        out.getPointerSection()[f.offset].setAs<capnp::Data>(
            capnp::Data::Reader(reinterpret_cast<const kj::byte*>(value.bytes.data()), value.bytes.size()));
        return;
      default: Store(out.getDataSection(), size_t{f.offset} * f.type.bytes, f.type.bytes, value.bits ^ f.default_bits);
    }
  }

  // A list of structs, of text, or (through the dynamic API) of other scalars.
  Status List(simdjson::dom::array items, const TypeInfo& list, capnp::AnyPointer::Builder out, size_t depth) {
    const TypeInfo& type = *list.element;
    const auto n = static_cast<uint>(items.size());
    if (type.which == T::STRUCT) {
      const StructTable& t = *type.struct_table;
      auto structs = out.initAsListOfAnyStruct(t.data_words, t.pointers, n);
      return EachItem(items, [&](element item, uint i) {
        return item.is_object() ? Struct(item, t, structs[i], depth + 1, false) : Expected("an object", item);
      });
    }
    if (type.which == T::LIST || type.which == T::INTERFACE || type.which == T::ANY_POINTER) {
      return Status::Invalid("", "not supported in events");
    }
    if (type.which == T::TEXT) {
      auto texts = out.initAs<capnp::List<capnp::Text>>(n);
      return EachItem(items, [&](element item, uint i) {
        Value value;
        Status s = Scalar(item, type, &value);
        if (s.ok()) texts.set(i, capnp::Text::Reader(value.bytes.data(), value.bytes.size()));
        return s;
      });
    }
    auto values = out.initAs<capnp::DynamicList>(list.type.asList(), n);
    return EachItem(items, [&](element item, uint i) {
      Value value;
      Status s = Scalar(item, type, &value);
      if (s.ok()) values.set(i, Dynamic(value, type));
      return s;
    });
  }

  template <typename F>
  Status EachItem(simdjson::dom::array items, F&& read) {
    uint i = 0;
    for (element item : items) {
      Status s = read(item, i);
      if (!s.ok()) return s.WithFieldPrefix(fmt::format("[{}]", i));
      ++i;
    }
    return Status::Ok();
  }

  // A string's bytes; a NUL in them (from \u0000) stops the walk for the scanner to report.
  bool Text(element v, std::string_view* out) {
    *out = v.get_string().value_unsafe();
    if (std::memchr(out->data(), 0, out->size()) == nullptr) return true;
    nul_in_string_ = true;
    return false;
  }

  Status Scalar(element v, const TypeInfo& type, Value* out) {
    switch (type.which) {
      case T::VOID: return v.is_null() ? Status::Ok() : Expected("null", v);
      case T::BOOL:
        if (!v.is_bool()) return Expected("true or false", v);
        out->bits = v.get_bool().value_unsafe();
        return Status::Ok();
      case T::FLOAT32:
      case T::FLOAT64: {
        if (!v.is_number()) return Expected("a number", v);
        double x = v.get_double().value_unsafe();  // simdjson converts integers too
        out->bits =
            type.which == T::FLOAT32 ? std::bit_cast<uint32_t>(static_cast<float>(x)) : std::bit_cast<uint64_t>(x);
        return Status::Ok();
      }
      case T::TEXT:
        if (!v.is_string()) return Expected("a string", v);
        return Text(v, &out->bytes) ? Status::Ok() : Status::Invalid("", "NUL in text");
      case T::DATA: return Data(v, type, out);
      case T::ENUM: {
        if (!v.is_string()) return Expected("a string", v);
        std::string_view s;
        if (!Text(v, &s)) return Status::Invalid("", "NUL in text");
        for (const auto& [name, ordinal] : type.enum_table->names) {
          if (name == s) {
            out->bits = ordinal;
            return Status::Ok();
          }
        }
        return Status::Invalid("",
                               fmt::format("\"{}\" is not one of: {}", s.substr(0, 60), type.enum_table->all_names));
      }
      case T::INTERFACE:
      case T::ANY_POINTER: return Status::Invalid("", "not supported in events");
      default: return ReadInteger(v, type.which, &out->bits);
    }
  }

  // Data: hex text where the field says $Json.hex, else an array of byte values (the codec's rule).
  Status Data(element v, const TypeInfo& type, Value* out) {
    bytes_.clear();
    if (type.hex) {
      if (!v.is_string()) return Expected("hex text", v);
      std::string_view s = v.get_string().value_unsafe();
      for (size_t i = 0; i + 1 < s.size() && s.size() % 2 == 0; i += 2) {
        int hi = HexDigit(s[i]), lo = HexDigit(s[i + 1]);
        if (hi < 0 || lo < 0) break;
        bytes_.push_back(static_cast<char>(hi << 4 | lo));
      }
      if (bytes_.size() * 2 != s.size()) {
        return Status::Invalid("", fmt::format("\"{}\" is not hex text (two hex digits per byte)", s.substr(0, 40)));
      }
    } else {
      simdjson::dom::array items;
      if (v.get_array().get(items) != simdjson::SUCCESS) return Expected("an array of bytes", v);
      for (element item : items) {
        int64_t b = 0;
        if (item.get_int64().get(b) != simdjson::SUCCESS || b < 0 || b > 255) {
          return Status::Invalid(fmt::format("[{}]", bytes_.size()), "expected an integer from 0 to 255");
        }
        bytes_.push_back(static_cast<char>(b));
      }
    }
    out->bytes = bytes_;
    return Status::Ok();
  }

  std::string* event_id_;
  bool nul_in_string_ = false;
  std::string bytes_;  // Decoded Data, until it is written.
};

// ---------------------------------------------------------------------------------------------
// The slow path: where a line that simdjson refused goes wrong, and why.

// Reads JSON text as RFC 8259 says, and as the ledger needs it (strings are text: valid UTF-8,
// no NUL, no lone surrogate), at most kMaxJsonDepth deep; stops at the first fault.
class Scanner {
 public:
  explicit Scanner(std::string_view s) : s_(s) {}

  Status Run() {
    Status s = Value(true);
    if (!s.ok()) return s;
    Space();
    return i_ < s_.size() ? Malformed("unexpected text after the JSON object") : Status::Ok();
  }
  // The top-level "eventId" string, if the scanner read it before the fault.
  const std::string& event_id() const { return event_id_; }
  // Where the fault is, and whether it is in a string (the field is then named).
  size_t fault_at() const { return fault_at_; }
  bool fault_in_string() const { return fault_in_string_; }

 private:
  Status Malformed(const std::string& what) {
    fault_at_ = i_;
    return Status::Invalid("", fmt::format("malformed JSON at byte {}: {}", i_ + 1, what));
  }
  // A fault inside a string, at byte `at`: the field it is the value of is named.
  Status InString(size_t at, const std::string& what) {
    fault_at_ = at;
    fault_in_string_ = true;
    return Status::Invalid(path_, fmt::format("{} (byte {})", what, at + 1));
  }

  void Space() {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t' || s_[i_] == '\n' || s_[i_] == '\r')) ++i_;
  }
  bool At(char c) const { return i_ < s_.size() && s_[i_] == c; }

  Status Value(bool top) {
    Space();
    if (i_ >= s_.size()) return Malformed("expected a value, got the end of the line");
    switch (s_[i_]) {
      case '{': return Object(top);
      case '[': return Array();
      case '"': {
        std::string ignored;
        return String(&ignored);
      }
      case 't': return Word("true");
      case 'f': return Word("false");
      case 'n': return Word("null");
      default:
        if (s_[i_] == '-' || (s_[i_] >= '0' && s_[i_] <= '9')) return Number();
        return Malformed("expected a value (an object, array, string, number, true, false or null)");
    }
  }

  Status Deeper() {
    if (++depth_ > kMaxJsonDepth) {
      return Malformed(fmt::format("nested deeper than {} levels of objects and arrays", kMaxJsonDepth));
    }
    return Status::Ok();
  }

  Status Object(bool top) {
    if (Status s = Deeper(); !s.ok()) return s;
    ++i_;
    Space();
    if (At('}')) return ++i_, --depth_, Status::Ok();
    for (;;) {
      Space();
      if (!At('"')) return Malformed("expected a member name in double quotes");
      std::string name;
      if (Status s = String(&name); !s.ok()) return s;
      Space();
      if (!At(':')) return Malformed("expected ':' after a member name");
      ++i_;
      const size_t path_size = path_.size();
      path_ += (path_.empty() ? "" : ".") + name.substr(0, 80);
      Space();
      const bool id = top && name == "eventId" && At('"');
      std::string value;
      Status s = id ? String(&value) : Value(false);
      if (!s.ok()) return s;
      if (id) event_id_ = value.substr(0, kMaxIdBytes);
      path_.resize(path_size);
      Space();
      if (At('}')) return ++i_, --depth_, Status::Ok();
      if (!At(',')) return Malformed("expected ',' or '}' after an object member");
      ++i_;
    }
  }

  Status Array() {
    if (Status s = Deeper(); !s.ok()) return s;
    ++i_;
    Space();
    if (At(']')) return ++i_, --depth_, Status::Ok();
    for (size_t n = 0;; ++n) {
      const size_t path_size = path_.size();
      path_ += fmt::format("[{}]", n);
      if (Status s = Value(false); !s.ok()) return s;
      path_.resize(path_size);
      Space();
      if (At(']')) return ++i_, --depth_, Status::Ok();
      if (!At(',')) return Malformed("expected ',' or ']' after an array item");
      ++i_;
    }
  }

  Status Word(std::string_view word) {
    if (s_.substr(i_, word.size()) != word) {
      return Malformed("expected a value (an object, array, string, number, true, false or null)");
    }
    i_ += word.size();
    return Status::Ok();
  }

  size_t Digits() {
    size_t from = i_;
    while (i_ < s_.size() && s_[i_] >= '0' && s_[i_] <= '9') ++i_;
    return i_ - from;
  }

  Status Number() {
    const size_t from = i_;
    if (At('-')) ++i_;
    if (At('0')) {
      if (i_ + 1 < s_.size() && s_[i_ + 1] >= '0' && s_[i_ + 1] <= '9')
        return Malformed("a number may not start with 0");
      ++i_;
    } else if (Digits() == 0) {
      return Malformed("expected a digit");
    }
    bool integer = true;
    if (At('.')) {
      ++i_, integer = false;
      if (Digits() == 0) return Malformed("expected a digit");
    }
    if (At('e') || At('E')) {
      ++i_, integer = false;
      if (At('+') || At('-')) ++i_;
      if (Digits() == 0) return Malformed("expected a digit");
    }
    // Well-formed; simdjson refuses integers beyond 64 bits and numbers beyond a double's range.
    std::string text(s_.substr(from, i_ - from));
    double x = std::strtod(text.c_str(), nullptr);
    bool too_big = !integer ? std::isinf(x) : text[0] == '-' ? x < -0x1p63 : x >= 0x1p64;
    if (too_big) {
      fault_at_ = from;
      return Status::Invalid(path_, fmt::format("{} is out of range (byte {})", text.substr(0, 40), from + 1));
    }
    return Status::Ok();
  }

  // Reads 4 hex digits after "\u" at i_ (which is at the backslash).
  bool Hex4(size_t at, uint32_t* unit) const {
    if (at + 6 > s_.size() || s_[at] != '\\' || s_[at + 1] != 'u') return false;
    *unit = 0;
    for (size_t k = at + 2; k < at + 6; ++k) {
      int d = HexDigit(s_[k]);
      if (d < 0) return false;
      *unit = *unit << 4 | static_cast<uint32_t>(d);
    }
    return true;
  }

  // A string from i_ (at its opening quote); its decoded text into *out.
  Status String(std::string* out) {
    const size_t opened = i_++;
    for (;;) {
      if (i_ >= s_.size()) return i_ = opened, Malformed("unterminated string (no closing quote)");
      const auto c = static_cast<unsigned char>(s_[i_]);
      if (c == '"') {
        ++i_;
        return Status::Ok();
      }
      if (c == '\\') {
        if (Status s = Escape(out); !s.ok()) return s;
      } else if (c == 0) {
        return InString(i_, "NUL byte in text");
      } else if (c < 0x20) {
        return InString(i_,
                        fmt::format("control character 0x{:02X} in a string: write it escaped (\\n, \\t, \\u00XX)", c));
      } else if (c < 0x80) {
        *out += static_cast<char>(c), ++i_;
      } else {
        size_t len = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : 2;
        std::string_view sequence = s_.substr(i_, len);
        size_t ignored = 0;
        if (c < 0xc0 || c > 0xf4 || sequence.size() < len || !IsValidUtf8(sequence, &ignored)) {
          fault_at_ = i_, fault_in_string_ = true;
          return Status::Invalid(path_, fmt::format("not UTF-8 text (bad byte 0x{:02X} at byte {})", c, i_ + 1));
        }
        *out += sequence, i_ += len;
      }
    }
  }

  Status Escape(std::string* out) {
    const size_t at = i_;
    if (i_ + 1 >= s_.size()) return Malformed("unterminated string (no closing quote)");
    const char e = s_[i_ + 1];
    static constexpr std::string_view kFrom = "\"\\/bfnrt", kTo = "\"\\/\b\f\n\r\t";
    if (size_t k = kFrom.find(e); k != std::string_view::npos) {
      *out += kTo[k], i_ += 2;
      return Status::Ok();
    }
    if (e != 'u') {
      bool shown = e > 0x20 && e < 0x7f;
      return InString(at, shown ? fmt::format("invalid escape \\{}", e) : "invalid escape");
    }
    uint32_t unit = 0, low = 0;
    if (!Hex4(at, &unit)) return InString(at, "\\u needs 4 hex digits");
    i_ += 6;
    uint32_t cp = unit;
    if (unit >= 0xdc00 && unit <= 0xdfff) {
      return InString(at,
                      "\\u escape is a lone low surrogate, or a pair reversed (a pair is \\uD800-\\uDBFF then "
                      "\\uDC00-\\uDFFF)");
    }
    if (unit >= 0xd800 && unit <= 0xdbff) {
      if (!Hex4(i_, &low) || low < 0xdc00 || low > 0xdfff) return InString(at, "\\u escape is a lone surrogate");
      cp = 0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00);
      i_ += 6;
    }
    if (cp == 0) return InString(at, "\\u0000 (NUL) in text");
    AppendUtf8(cp, out);
    return Status::Ok();
  }

  static void AppendUtf8(uint32_t cp, std::string* out) {
    if (cp < 0x80) {
      *out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      *out += static_cast<char>(0xc0 | cp >> 6);
      *out += static_cast<char>(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
      *out += static_cast<char>(0xe0 | cp >> 12);
      *out += static_cast<char>(0x80 | (cp >> 6 & 0x3f));
      *out += static_cast<char>(0x80 | (cp & 0x3f));
    } else {
      *out += static_cast<char>(0xf0 | cp >> 18);
      *out += static_cast<char>(0x80 | (cp >> 12 & 0x3f));
      *out += static_cast<char>(0x80 | (cp >> 6 & 0x3f));
      *out += static_cast<char>(0x80 | (cp & 0x3f));
    }
  }

  std::string_view s_;
  size_t i_ = 0, depth_ = 0;
  std::string path_;  // The field path of the value being read: "members[2].name".
  std::string event_id_;
  size_t fault_at_ = 0;
  bool fault_in_string_ = false;
};

// The first byte of `line` that is not UTF-8 or is a NUL, or npos.
size_t FirstNonText(std::string_view line) {
  size_t bad = std::string_view::npos;
  if (!IsValidUtf8(line, &bad)) bad = std::min(bad, line.size());
  return std::min(bad, line.find('\0'));
}

// Why simdjson refused `line` (or why a string of it is not text): the scanner's fault, or, when
// the line is not text and the scanner did not reach that byte in a string, the byte.
Status Diagnose(std::string_view line, const char* simdjson_error, std::string* event_id) {
  Scanner scanner(line);
  Status s = scanner.Run();
  if (event_id != nullptr) *event_id = scanner.event_id();
  const size_t bad = FirstNonText(line);
  if (bad != std::string_view::npos && !(scanner.fault_in_string() && scanner.fault_at() == bad)) {
    std::string what =
        line[bad] == '\0' ? "NUL byte" : fmt::format("bad byte 0x{:02X}", static_cast<unsigned char>(line[bad]));
    return Status::Invalid("", fmt::format("not UTF-8 text ({} at byte {})", what, bad + 1));
  }
  if (!s.ok()) return s;
  return Status::Invalid("", fmt::format("malformed JSON: {}", simdjson_error));  // Not expected: the scanner agrees.
}

simdjson::dom::parser& Parser() {
  // Each thread its own, made in place (simdjson 3.0.1's parser does not survive a move: its
  // destructor then frees a stale pointer). The limit on depth is the walk's (kMaxJsonDepth);
  // this one only stops a pathological line early, and simdjson counts a little differently
  // from the walk: keep it above.
  struct ThreadParser {
    simdjson::dom::parser parser;
    ThreadParser() {
      if (parser.allocate(64 << 10, kMaxJsonDepth + 2) != simdjson::SUCCESS) throw std::bad_alloc();
    }
  };
  thread_local ThreadParser local;
  return local.parser;
}

// The exception's description without the source location the KJ library puts in front.
std::string Describe(const kj::Exception& e) {
  std::string d = e.getDescription().cStr();
  if (auto semi = d.find("; "); d.rfind("expected ", 0) == 0 && semi != std::string::npos) d = d.substr(semi + 2);
  return d.substr(0, 200);
}

}  // namespace

Status ParseEventJson(std::string_view line, capnp::MessageBuilder* out, std::string* event_id) {
  if (event_id != nullptr) event_id->clear();
  element root;
  simdjson::error_code error = Parser().parse(line.data(), line.size(), true).get(root);
  if (error != simdjson::SUCCESS) return Diagnose(line, simdjson::error_message(error), event_id);
  Walk walk(event_id);
  Status s;
  KJ_IF_MAYBE (e, kj::runCatchingExceptions([&] {
                 capnp::AnyStruct::Builder event = out->initRoot<schema::Event>();
                 s = walk.Struct(root, Tables::Get().event(), event, 1, true);
               })) {
    return Status::Invalid("", "cannot decode: " + Describe(*e));
  }
  if (walk.nul_in_string()) return Diagnose(line, "NUL in a string", event_id);
  // The id is echoed also when the line is refused before its "eventId" member was read.
  if (!s.ok() && event_id != nullptr && event_id->empty() && root.is_object()) {
    std::string_view id;
    if (root["eventId"].get_string().get(id) == simdjson::SUCCESS) *event_id = std::string(id.substr(0, kMaxIdBytes));
  }
  return s;
}

}  // namespace ledger
