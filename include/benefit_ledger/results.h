// The result records of results.capnp (one per report: what the ledger's report methods fill,
// what ledgerctl prints and the server sends), and JSON out of them.
//
// JSON is driven by the records' schema: one JSON document (an object) per result, or JSON
// Lines, one record a line. The schema's annotations say how:
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

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "benefit_ledger/results.capnp.h"

namespace ledger {

// Which cases a report covers.
struct ReportFilter {
  std::string region_prefix;          // "" for every region.
  std::optional<uint16_t> programme;  // schema::Programme
};

// A county's monthly payment roll, to issue (Ledger::IssuePayroll).
struct PayrollRequest {
  std::string county;  // 6 digits.
  schema::Programme programme = schema::Programme::UNSPECIFIED;
  uint32_t period = 0;  // YYYYMM.
  std::string actor_id;
  uint32_t date = 0;  // YYYYMMDD: the business date of the events.
};

}  // namespace ledger

namespace ledger::results {

// What a trace was asked for: one actor, one household, or a region prefix.
enum class TraceScope { kActor, kHousehold, kRegion };

// A reconciliation category for people: "matched", "amount mismatch", "paid after exit".
const char* CategoryName(ReconcileCategory category);

}  // namespace ledger::results

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
