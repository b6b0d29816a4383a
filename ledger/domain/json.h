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
#include "benefit_ledger/events.h"
#include "benefit_ledger/status.h"
#include "ledger/util/hash.h"
#include "ledger/util/json_text.h"

namespace ledger {

// An enumerant's name in JSON: its $Json.name, else its name in the schema.
std::string JsonEnumerantName(capnp::EnumSchema::Enumerant e);

// One line of JSON for an entry and its hash.
std::string EntryToJson(schema::Entry::Reader entry, const Hash& hash);

}  // namespace ledger
