// JSON Lines in and out.
//
// Input: one event per line, parsed with simdjson straight into the Cap'n Proto builder, driven
// by the schema (json_parse.cc). Every string escape is decoded exactly (\uXXXX in either case,
// surrogate pairs joined), so an event's bytes do not depend on how its JSON was spelled. An
// error names the field path and says what was expected ("approval.monthlyAmountFen: expected an
// integer, got a string"); malformed JSON and what is not text (invalid UTF-8, lone surrogates,
// NUL) name the byte of the line, counted from 1. Unknown fields and unknown event kinds are
// errors, not silently dropped.
// Output: entries as EntryView (benefit_ledger/event.capnp): the entry with its hash and kind, through
// Cap'n Proto's JSON codec (capnp/compat/json.h). 64-bit integers are written as strings (JSON
// numbers are doubles).
// Thread-safe.
#pragma once

#include <capnp/message.h>
#include <capnp/schema.h>

#include <optional>
#include <string>
#include <string_view>

#include "benefit_ledger/event.capnp.h"
#include "benefit_ledger/status.h"
#include "ledger/util/hash.h"
#include "ledger/util/json_text.h"

namespace ledger {

// Most nested JSON accepted in an event (objects and arrays).
inline constexpr size_t kMaxJsonDepth = 24;

// Parses `line` into a new Event, the root of `out`. Does not protect or validate the values
// (identity.h, validate.h do that), but refuses strings that are not text. If `event_id` is
// given, it is set to the line's "eventId" whenever the line is a JSON object with one (read
// before the fault, if the JSON is malformed), also when the line is rejected: so that an error
// can name the event as well as the line. On error, `out` may hold part of an event: discard it.
// Members are read as the schema names them; enums by their $Json.name (else their name); Data
// marked $Json.hex as hex text; 64-bit integers as JSON numbers up to 2^53 - 1 or as decimal
// strings; integers in the type's range (a number such as 1e3 or 2.0 is an integer).
Status ParseEventJson(std::string_view line, capnp::MessageBuilder* out, std::string* event_id = nullptr);

// An enumerant's name in JSON: its $Json.name, else its name in the schema.
std::string JsonEnumerantName(capnp::EnumSchema::Enumerant e);

// One line of JSON for an entry and its hash.
std::string EntryToJson(schema::Entry::Reader entry, const Hash& hash);
std::string EventToJson(schema::Event::Reader event);

// Programme code names as in JSON ("urban_dibao") to and from schema::Programme values.
std::optional<uint16_t> ParseProgramme(std::string_view name);
std::string ProgrammeName(uint16_t programme);

}  // namespace ledger
