// Events in and out: JSON Lines to the Cap'n Proto events of event.capnp (the schema documents
// every field), an actor's signature on its events, and an event or entry back as JSON. Pure
// functions over messages the caller owns; thread-safe.
#pragma once

#include <capnp/message.h>

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "benefit_ledger/event.capnp.h"
#include "benefit_ledger/keys.h"
#include "benefit_ledger/status.h"
#include "benefit_ledger/types.h"

namespace ledger {

// Most nested JSON accepted in an event (objects and arrays).
inline constexpr size_t kMaxJsonDepth = 24;

// The first segment, in words, of a message builder for one event: most events take under 1 KB,
// and Cap'n Proto's default first segment (1,024 words) is 8 KB that calloc zeroes per message,
// which was a tenth of an append's instructions (bench/PERFORMANCE.md). A larger event grows the
// message by further segments.
inline constexpr unsigned kEventMessageWords = 128;

// Parses `line` into a new Event, the root of `out`. Does not protect or validate the values
// (the ledger does, on append), but refuses strings that are not text. If `event_id` is
// given, it is set to the line's "eventId" whenever the line is a JSON object with one (read
// before the fault, if the JSON is malformed), also when the line is rejected: so that an error
// can name the event as well as the line. On error, `out` may hold part of an event: discard it.
// Members are read as the schema names them; enums by their $Json.name (else their name); Data
// marked $Json.hex as hex text; 64-bit integers as JSON numbers up to 2^53 - 1 or as decimal
// strings; integers in the type's range (a number such as 1e3 or 2.0 is an integer).
Status ParseEventJson(std::string_view line, capnp::MessageBuilder* out, std::string* event_id = nullptr);

// One line of JSON for an event, as ParseEventJson reads it back.
std::string EventToJson(schema::Event::Reader event);

// Programme code names as in JSON ("urban_dibao") to and from schema::Programme values.
std::optional<uint16_t> ParseProgramme(std::string_view name);
std::string ProgrammeName(uint16_t programme);

}  // namespace ledger

namespace ledger::signing {

// Approvals, rejections, payment rolls and corrections.
bool IsSignedKind(schema::Event::Which kind);

// Signs the event at the root of `message` with the actor's `key`: sets actorSignature over the
// event as the ledger will store it (card references marked as on file). The event is left as
// it was otherwise, so it can be written out and appended. InvalidArgument naming the field if
// the event is not one the key's actor signs: another actor ("actorId"), a kind that is not
// signed, an identity or card number, or a field that does not validate.
Status SignEvent(capnp::MessageBuilder* message, const note::KeyPair& key);

}  // namespace ledger::signing
