// JSON Lines in and out, through Cap'n Proto's JSON codec (capnp/compat/json.h).
//
// Input: one event per line. The text is parsed by the codec into a JSON tree, the tree is
// checked against the schema (so that an error names the field path and says what was expected:
// "approval.monthlyAmountFen: expected an integer, got a string"), and only then decoded into an
// Event. Unknown fields and unknown event kinds are errors, not silently dropped.
// Output: entries as EntryView (schema/event.capnp): the entry with its hash and kind.
// 64-bit integers are written as strings (the codec's rule: JSON numbers are doubles).
// Thread-safe.
#pragma once

#include <capnp/message.h>

#include <optional>
#include <string>
#include <string_view>

#include "ledger/hash.h"
#include "ledger/schema/event.capnp.h"
#include "ledger/status.h"

namespace ledger {

// Most nested JSON accepted in an event (objects and arrays).
inline constexpr size_t kMaxJsonDepth = 24;

// Parses `line` into a new Event, the root of `out`. Does not protect or validate the values
// (identity.h, validate.h do that). If `event_id` is given, it is set to the line's "eventId"
// whenever the line is a JSON object with one, also when the line is rejected: so that an
// error can name the event as well as the line.
Status ParseEventJson(std::string_view line, capnp::MessageBuilder* out, std::string* event_id = nullptr);

// One line of JSON for an entry and its hash.
std::string EntryToJson(schema::Entry::Reader entry, const Hash& hash);
std::string EventToJson(schema::Event::Reader event);

// Programme code names as in JSON ("urban_dibao") to and from schema::Programme values.
std::optional<uint16_t> ParseProgramme(std::string_view name);
std::string ProgrammeName(uint16_t programme);

// `text` as a JSON string literal, quotes included (for tools writing small result objects).
std::string JsonString(std::string_view text);

// "2026-11-22T09:20:42.123456Z" for microseconds since the Unix epoch.
std::string FormatTimestampUs(int64_t us);

}  // namespace ledger
