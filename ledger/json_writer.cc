#include "ledger/json_writer.h"

#include <capnp/schema.h>
#include <fmt/format.h>

#include <cmath>

#include "ledger/hash.h"
#include "ledger/json.h"

namespace ledger::json {
namespace {

using capnp::DynamicStruct;
using capnp::DynamicValue;
using capnp::StructSchema;

// The annotations of schema/results.capnp (their ids are fixed there) and $Json.name.
constexpr uint64_t kDateId = 0xfd16efd2cc716629ull;
constexpr uint64_t kPeriodId = 0xfe4a2c85890a5006ull;
constexpr uint64_t kOptionalId = 0x862f34b900118494ull;
constexpr uint64_t kRowId = 0x904bdeadee21013bull;
constexpr uint64_t kJsonNameId = 0xfa5b1fd61c2e7c3dull;

// Integers beyond this are not exact as JSON numbers (doubles) and are written as strings.
constexpr uint64_t kMaxExactInteger = uint64_t{1} << 53;

template <class Proto>
std::optional<capnp::schema::Annotation::Reader> Annotation(Proto proto, uint64_t id) {
  for (auto a : proto.getAnnotations()) {
    if (a.getId() == id) return a;
  }
  return std::nullopt;
}

bool Has(StructSchema::Field f, uint64_t id) {
  return Annotation(f.getProto(), id).has_value();
}

void AppendValue(DynamicValue::Reader v, StructSchema::Field* field, std::string* out);

void AppendDate(uint32_t v, bool month, std::string* out) {
  if (v == 0) {
    *out += "null";
  } else if (month) {
    *out += fmt::format("\"{:04}-{:02}\"", v / 100, v % 100);
  } else {
    *out += fmt::format("\"{:04}-{:02}-{:02}\"", v / 10000, v / 100 % 100, v % 100);
  }
}

void AppendEnum(capnp::DynamicEnum e, std::string* out) {
  KJ_IF_MAYBE (enumerant, e.getEnumerant()) {
    auto name = Annotation(enumerant->getProto(), kJsonNameId);
    *out += JsonString(name ? name->getValue().getText().cStr() : enumerant->getProto().getName().cStr());
  } else {
    *out += std::to_string(e.getRaw());  // A value this schema does not know.
  }
}

// The value of field `f` of `s`: null for a struct field not set and an $optional field at its
// default.
void AppendFieldValue(DynamicStruct::Reader s, StructSchema::Field f, std::string* out) {
  bool is_pointer = f.getProto().isSlot() && f.getType().isStruct();
  if ((is_pointer && !s.has(f)) || (Has(f, kOptionalId) && !s.has(f, capnp::HasMode::NON_DEFAULT))) {
    *out += "null";
  } else {
    AppendValue(s.get(f), &f, out);
  }
}

void AppendFields(DynamicStruct::Reader s, std::string* out, bool* first) {
  auto append_field = [&](StructSchema::Field f) {
    *out += *first ? "" : ",";
    *first = false;
    *out += JsonString(f.getProto().getName().cStr()) + ':';
    AppendFieldValue(s, f, out);
  };
  for (auto f : s.getSchema().getNonUnionFields()) append_field(f);
  KJ_IF_MAYBE (active, s.which()) {
    append_field(*active);
  }
}

void AppendValue(DynamicValue::Reader v, StructSchema::Field* field, std::string* out) {
  switch (v.getType()) {
    case DynamicValue::VOID: *out += "null"; return;
    case DynamicValue::BOOL: *out += v.as<bool>() ? "true" : "false"; return;
    case DynamicValue::INT: {
      int64_t i = v.as<int64_t>();
      uint64_t magnitude = i < 0 ? 0 - static_cast<uint64_t>(i) : static_cast<uint64_t>(i);
      *out += magnitude > kMaxExactInteger ? fmt::format("\"{}\"", i) : std::to_string(i);
      return;
    }
    case DynamicValue::UINT: {
      uint64_t u = v.as<uint64_t>();
      if (field != nullptr && (Has(*field, kDateId) || Has(*field, kPeriodId))) {
        return AppendDate(static_cast<uint32_t>(u), Has(*field, kPeriodId), out);
      }
      *out += u > kMaxExactInteger ? fmt::format("\"{}\"", u) : std::to_string(u);
      return;
    }
    case DynamicValue::FLOAT: {
      double d = v.as<double>();
      *out += std::isfinite(d) ? fmt::format("{}", d) : "null";
      return;
    }
    case DynamicValue::TEXT: *out += JsonString(v.as<capnp::Text>().cStr()); return;
    case DynamicValue::DATA: {
      auto d = v.as<capnp::Data>();
      *out += '"' + Hex(Bytes(d.begin(), d.size())) + '"';
      return;
    }
    case DynamicValue::LIST: {
      *out += '[';
      bool first = true;
      for (auto item : v.as<capnp::DynamicList>()) {
        *out += first ? "" : ",";
        first = false;
        AppendValue(item, nullptr, out);
      }
      *out += ']';
      return;
    }
    case DynamicValue::ENUM: AppendEnum(v.as<capnp::DynamicEnum>(), out); return;
    case DynamicValue::STRUCT: AppendObject(v.as<DynamicStruct>(), out); return;
    default: *out += "null"; return;  // Interfaces and AnyPointer: not in result records.
  }
}

// One JSON Lines record: {"type":NAME, ...fields of `value`}.
void AppendLine(std::string_view type, DynamicStruct::Reader value, std::string* out) {
  *out += "{\"type\":" + JsonString(type);
  bool first = false;
  AppendFields(value, out, &first);
  *out += "}\n";
}

constexpr size_t kFlushBytes = 1 << 16;

}  // namespace

void AppendObject(DynamicStruct::Reader value, std::string* out) {
  *out += '{';
  bool first = true;
  AppendFields(value, out, &first);
  *out += '}';
}

void WriteResult(DynamicStruct::Reader result, Mode mode, const std::function<void(std::string_view)>& write,
                 std::string_view streamed_list, const std::function<void(const Emit&)>& stream) {
  std::string out;
  auto flush = [&](bool force) {
    if (force || out.size() >= kFlushBytes) write(out), out.clear();
  };
  bool document = mode == Mode::kDocument;
  std::string own;  // JSON Lines: the result's own scalar fields, written last.
  if (document) out += '{';
  bool first = true;
  for (auto f : result.getSchema().getNonUnionFields()) {
    std::string name = f.getProto().getName().cStr();
    auto row = Annotation(f.getProto(), kRowId);
    bool streamed = name == streamed_list && stream;
    if (document && !streamed) {
      out += (first ? "" : ",") + JsonString(name) + ':';
      AppendFieldValue(result, f, &out);
      first = false;
      flush(false);
      continue;
    }
    if (document) {  // A streamed list.
      out += (first ? "" : ",") + JsonString(name) + ":[";
      first = false;
      bool first_item = true;
      stream([&](DynamicStruct::Reader item) {
        out += first_item ? "" : ",";
        first_item = false;
        AppendObject(item, &out);
        flush(false);
      });
      out += ']';
      continue;
    }
    // JSON Lines.
    std::string type = row ? std::string(row->getValue().getText().cStr()) : name;
    if (streamed) {
      stream([&](DynamicStruct::Reader item) {
        AppendLine(type, item, &out);
        flush(false);
      });
    } else if (f.getType().isList() && row) {
      for (auto item : result.get(f).as<capnp::DynamicList>()) {
        AppendLine(type, item.as<DynamicStruct>(), &out);
        flush(false);
      }
    } else if (f.getType().isStruct()) {
      if (result.has(f)) AppendLine(type, result.get(f).as<DynamicStruct>(), &out);
    } else {  // A scalar or a list of scalars: on the last line.
      own += "," + JsonString(name) + ':';
      AppendFieldValue(result, f, &own);
    }
    flush(false);
  }
  if (document) out += "}\n";
  if (!document && !own.empty()) out += "{\"type\":\"result\"" + own + "}\n";
  flush(true);
}

}  // namespace ledger::json
