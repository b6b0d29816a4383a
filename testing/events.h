// Event lines in the ledger's input format (one JSON object, README "The event format"), built
// the one way the tests and the history generators (history.h, province.h) write them.
//
// EventLine is the envelope every builder uses; the kind builders below are for the pieces that
// tests and generators repeat. A test whose lines are deliberately odd (bad input, a field out
// of place) writes them by hand instead. Plain functions of their arguments: safe from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace testing {

// One event: the envelope (`household` empty for an event about no household) with the kind's
// object holding `body`, the inside of that object ("" for an empty one). `business_date` is
// YYYYMMDD.
std::string EventLine(const std::string& event_id, const std::string& household, const std::string& region,
                      const std::string& actor, uint32_t business_date, const std::string& kind,
                      const std::string& body);

// An official to register: actorRegistered names it after its id.
struct NewActor {
  std::string id;
  std::string role;             // "caseworker", "countyApprover", … (event.capnp ActorRole).
  std::string jurisdiction;     // A region code prefix.
  std::string public_key = {};  // Optional (ledger/signing.h): empty for an actor that does not sign.
};
// actorRegistered of `actor` as event "act-ID", recorded in `region` by `registrar` (the
// registrar itself for the first administrator) on `business_date`.
std::string ActorRegistered(const std::string& region, const std::string& registrar, const NewActor& actor,
                            uint32_t business_date = 20240102);

// A valid 18-character identity number for a 17-digit body (appends the check character).
std::string IdentityNumber(const std::string& body17);

// One member of a household, for HouseholdMembers: born on the date inside the identity number
// (its characters 7 to 14).
std::string Member(const std::string& number, const std::string& name, const std::string& relation);
// The body of householdRegistered: `members` (each from Member) and, unless empty, the address.
std::string HouseholdMembers(const std::vector<std::string>& members, const std::string& address = "");

// The text of the member "key":"value" or "key":123 of a flat JSON line ("" if absent): for
// reading a field of an event line or a result line back in a test.
std::string JsonMember(const std::string& line, const std::string& key);

}  // namespace testing
