#include <capnp/schema.h>
#include <fmt/format.h>

#include <cmath>
#include <optional>
#include <unordered_map>
#include <vector>

#include "benefit_ledger/results.h"
#include "ledger/domain/json.h"
#include "ledger/util/calendar.h"
#include "ledger/util/hash.h"

namespace ledger::json {
namespace {

using capnp::DynamicStruct;
using capnp::DynamicValue;
using capnp::StructSchema;

// The annotations of benefit_ledger/results.capnp (their ids are fixed there) and $Json.name.
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

// What the writer needs to know of a field, read from the schema once per struct type (reading
// names and annotations from the schema for every value would cost more than writing it).
struct FieldInfo {
  StructSchema::Field field;
  std::string key;        // "\"name\":"
  std::string row;        // $row name, "" if none.
  bool pointer = false;   // A struct field (not a group): null when not set.
  bool optional = false;  // $optional: null at its default.
  bool date = false, period = false;
};
struct StructInfo {
  std::vector<FieldInfo> fields;  // By field index.
  std::vector<uint> non_union;    // Indices of the fields outside the union, in order.
};

const StructInfo& InfoOf(StructSchema schema) {
  thread_local std::unordered_map<uint64_t, StructInfo> cache;
  auto [it, added] = cache.try_emplace(schema.getProto().getId());
  if (!added) return it->second;
  for (auto f : schema.getFields()) {
    FieldInfo info;
    info.field = f;
    info.key = JsonString(f.getProto().getName().cStr()) + ':';
    auto row = Annotation(f.getProto(), kRowId);
    if (row) info.row = row->getValue().getText().cStr();
    info.pointer = f.getProto().isSlot() && f.getType().isStruct();
    info.optional = Annotation(f.getProto(), kOptionalId).has_value();
    info.date = Annotation(f.getProto(), kDateId).has_value();
    info.period = Annotation(f.getProto(), kPeriodId).has_value();
    it->second.fields.push_back(std::move(info));
  }
  for (auto f : schema.getNonUnionFields()) it->second.non_union.push_back(f.getIndex());
  return it->second;
}

// An enumerant's JSON name (quoted), by enum type, read once.
const std::string& EnumName(capnp::EnumSchema schema, uint16_t value) {
  thread_local std::unordered_map<uint64_t, std::vector<std::string>> cache;
  auto [it, added] = cache.try_emplace(schema.getProto().getId());
  if (added) {
    for (auto e : schema.getEnumerants()) {
      auto name = Annotation(e.getProto(), kJsonNameId);
      it->second.push_back(JsonString(name ? name->getValue().getText().cStr() : e.getProto().getName().cStr()));
    }
  }
  static const std::string kUnknown;
  return value < it->second.size() ? it->second[value] : kUnknown;
}

// Text as a JSON string: plain ASCII as it is, anything else through JsonString.
void AppendString(std::string_view text, std::string* out) {
  for (char c : text) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 || u >= 0x7f || c == '"' || c == '\\') return void(*out += JsonString(text));
  }
  *out += '"';
  *out += text;
  *out += '"';
}

void AppendValue(DynamicValue::Reader v, const FieldInfo* field, std::string* out);

void AppendDate(uint32_t v, bool month, std::string* out) {
  if (v == 0) {
    *out += "null";
  } else if (month) {
    *out += '"' + calendar::IsoPeriod(v) + '"';
  } else {
    *out += '"' + calendar::IsoDate(v) + '"';
  }
}

// The value of a field of `s`: null for a struct field not set and an $optional field at its
// default.
void AppendFieldValue(DynamicStruct::Reader s, const FieldInfo& f, std::string* out) {
  if ((f.pointer && !s.has(f.field)) || (f.optional && !s.has(f.field, capnp::HasMode::NON_DEFAULT))) {
    *out += "null";
  } else {
    AppendValue(s.get(f.field), &f, out);
  }
}

void AppendFields(DynamicStruct::Reader s, std::string* out, bool* first) {
  const StructInfo& info = InfoOf(s.getSchema());
  auto append_field = [&](const FieldInfo& f) {
    if (!*first) *out += ',';
    *first = false;
    *out += f.key;
    AppendFieldValue(s, f, out);
  };
  for (uint i : info.non_union) append_field(info.fields[i]);
  KJ_IF_MAYBE (active, s.which()) {
    append_field(info.fields[active->getIndex()]);
  }
}

void AppendValue(DynamicValue::Reader v, const FieldInfo* field, std::string* out) {
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
      if (field != nullptr && (field->date || field->period)) {
        return AppendDate(static_cast<uint32_t>(u), field->period, out);
      }
      *out += u > kMaxExactInteger ? fmt::format("\"{}\"", u) : std::to_string(u);
      return;
    }
    case DynamicValue::FLOAT: {
      double d = v.as<double>();
      *out += std::isfinite(d) ? fmt::format("{}", d) : "null";
      return;
    }
    case DynamicValue::TEXT: {
      auto t = v.as<capnp::Text>();
      AppendString(std::string_view(t.begin(), t.size()), out);
      return;
    }
    case DynamicValue::DATA: {
      auto d = v.as<capnp::Data>();
      *out += '"' + Hex(Bytes(d.begin(), d.size())) + '"';
      return;
    }
    case DynamicValue::LIST: {
      *out += '[';
      bool first = true;
      for (auto item : v.as<capnp::DynamicList>()) {
        if (!first) *out += ',';
        first = false;
        AppendValue(item, field, out);  // A list field's $date or $period applies to each element.
      }
      *out += ']';
      return;
    }
    case DynamicValue::ENUM: {
      auto e = v.as<capnp::DynamicEnum>();
      const std::string& name = EnumName(e.getSchema(), e.getRaw());
      *out += name.empty() ? std::to_string(e.getRaw()) : name;  // A value this schema does not know: its number.
      return;
    }
    case DynamicValue::STRUCT: AppendObject(v.as<DynamicStruct>(), out); return;
    default: *out += "null"; return;  // Interfaces and AnyPointer: not in result records.
  }
}

// One JSON Lines record: {"type":NAME, ...fields of `value`}.
void AppendLine(std::string_view type, DynamicStruct::Reader value, std::string* out) {
  *out += "{\"type\":";
  AppendString(type, out);
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

namespace {

// Output gathered and handed to `write` in pieces of about kFlushBytes.
class Sink {
 public:
  explicit Sink(const std::function<void(std::string_view)>& write) : write_(write) {}
  std::string* text() { return &text_; }
  void Flush(bool force = false) {
    if (force || text_.size() >= kFlushBytes) write_(text_), text_.clear();
  }

 private:
  const std::function<void(std::string_view)>& write_;
  std::string text_;
};

bool IsStreamed(const FieldInfo& f, std::string_view streamed_list, const std::function<void(const Emit&)>& stream) {
  return stream && f.field.getProto().getName() == kj::StringPtr(streamed_list.data(), streamed_list.size());
}

void WriteDocument(DynamicStruct::Reader result, Sink* sink, std::string_view streamed_list,
                   const std::function<void(const Emit&)>& stream) {
  std::string* out = sink->text();
  *out += '{';
  bool first = true;
  const StructInfo& info = InfoOf(result.getSchema());
  for (uint index : info.non_union) {
    const FieldInfo& f = info.fields[index];
    *out += (first ? "" : ",") + f.key;
    first = false;
    if (!IsStreamed(f, streamed_list, stream)) {
      AppendFieldValue(result, f, out);
      sink->Flush();
      continue;
    }
    *out += '[';
    bool first_item = true;
    stream([&](DynamicStruct::Reader item) {
      if (!first_item) *out += ',';
      first_item = false;
      AppendObject(item, out);
      sink->Flush();
    });
    *out += ']';
  }
  *out += "}\n";
}

void WriteLines(DynamicStruct::Reader result, Sink* sink, std::string_view streamed_list,
                const std::function<void(const Emit&)>& stream) {
  std::string* out = sink->text();
  std::string own;  // The result's own scalar fields, written last.
  const StructInfo& info = InfoOf(result.getSchema());
  for (uint index : info.non_union) {
    const FieldInfo& f = info.fields[index];
    std::string type = f.row.empty() ? std::string(f.field.getProto().getName().cStr()) : f.row;
    if (IsStreamed(f, streamed_list, stream)) {
      stream([&](DynamicStruct::Reader item) {
        AppendLine(type, item, out);
        sink->Flush();
      });
    } else if (f.field.getType().isList() && !f.row.empty()) {  // $row is on lists of structs only.
      for (auto item : result.get(f.field).as<capnp::DynamicList>()) {
        AppendLine(type, item.as<DynamicStruct>(), out);
        sink->Flush();
      }
    } else if (f.field.getType().isStruct()) {
      if (!f.pointer || result.has(f.field)) AppendLine(type, result.get(f.field).as<DynamicStruct>(), out);
    } else {
      own += "," + f.key;
      AppendFieldValue(result, f, &own);
    }
    sink->Flush();
  }
  if (!own.empty()) *out += "{\"type\":\"result\"" + own + "}\n";
}

}  // namespace

void WriteResult(DynamicStruct::Reader result, Mode mode, const std::function<void(std::string_view)>& write,
                 std::string_view streamed_list, const std::function<void(const Emit&)>& stream) {
  Sink sink(write);
  if (mode == Mode::kDocument) {
    WriteDocument(result, &sink, streamed_list, stream);
  } else {
    WriteLines(result, &sink, streamed_list, stream);
  }
  sink.Flush(true);
}

}  // namespace ledger::json
