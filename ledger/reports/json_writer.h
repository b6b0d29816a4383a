// JSON out of result records (benefit_ledger/results.capnp), driven by their schema: one JSON document
// (an object) per result, or JSON Lines, one record a line. The schema's annotations say how:
//   - integers are JSON numbers (exact: a value beyond 2^53 would be written as a string);
//   - Data is lowercase hex (a SHA-256 hash: 64 characters);
//   - enums by their $Json.name ("urban_dibao"), else their schema name;
//   - $date UInt32 YYYYMMDD as "YYYY-MM-DD", $period YYYYMM as "YYYY-MM", 0 as null;
//   - $optional fields holding their default, and struct fields not set, as null;
//   - every other field always, in ordinal order, so that each record has a fixed set of keys.
// JSON Lines: for each field of the result, in order, a list marked $row("name") gives a line
// per element, {"type":"name", ...the element's fields}; a struct field a line
// {"type":"<field name>", ...its fields} (none if not set); the result's other fields (scalars)
// come last, on one line {"type":"result", ...}.
//
// A list too long to hold in one message (a reconciliation's lines) can be streamed: the result
// is given without it, and a callback hands its elements one by one. Thread-compatible.
#pragma once

#include <capnp/dynamic.h>

#include <functional>
#include <string>
#include <string_view>

namespace ledger::json {

enum class Mode { kDocument, kLines };

// Appends `value` as one JSON object (no line break) to *out.
void AppendObject(capnp::DynamicStruct::Reader value, std::string* out);
inline std::string ToJson(capnp::DynamicStruct::Reader value) {
  std::string out;
  AppendObject(value, &out);
  return out;
}

// Writes a result through `write` (which may be called many times; the pieces joined are the
// output). In kDocument mode the output is one JSON object and a line break; in kLines mode, one
// line per record. If `streamed_list` names a list field of the result, its elements are not
// read from `result` but from `stream`, which calls its argument once per element, in order.
using Emit = std::function<void(capnp::DynamicStruct::Reader)>;
void WriteResult(capnp::DynamicStruct::Reader result, Mode mode, const std::function<void(std::string_view)>& write,
                 std::string_view streamed_list = "", const std::function<void(const Emit&)>& stream = nullptr);

}  // namespace ledger::json
