#include "testing/events.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "ledger/util/formats.h"

namespace testing {

std::string EventLine(const std::string& event_id, const std::string& household, const std::string& region,
                      const std::string& actor, uint32_t business_date, const std::string& kind,
                      const std::string& body) {
  std::string hh = household.empty() ? "" : fmt::format(R"("householdId":"{}",)", household);
  return fmt::format(R"({{"eventId":"{}",{}"regionCode":"{}","actorId":"{}","businessDate":{},"{}":{{{}}}}})", event_id,
                     hh, region, actor, business_date, kind, body);
}

std::string ActorRegistered(const std::string& region, const std::string& registrar, const NewActor& actor,
                            uint32_t business_date) {
  std::string key = actor.public_key.empty() ? "" : fmt::format(R"(,"publicKey":"{}")", actor.public_key);
  return EventLine("act-" + actor.id, "", region, registrar, business_date, "actorRegistered",
                   fmt::format(R"("newActorId":"{}","name":"{}","role":"{}","jurisdiction":"{}"{})", actor.id, actor.id,
                               actor.role, actor.jurisdiction, key));
}

std::string IdentityNumber(const std::string& body17) {
  return body17 + ledger::IdentityCheckCharacter(body17);
}

std::string Member(const std::string& number, const std::string& name, const std::string& relation) {
  return fmt::format(R"({{"person":{{"number":"{}"}},"name":"{}","relation":"{}","birthDate":{}}})", number, name,
                     relation, number.substr(6, 8));
}

std::string HouseholdMembers(const std::vector<std::string>& members, const std::string& address) {
  std::string body = fmt::format(R"("members":[{}])", fmt::join(members, ","));
  if (!address.empty()) body += fmt::format(R"(,"address":"{}")", address);
  return body;
}

std::string JsonMember(const std::string& line, const std::string& key) {
  std::string needle = "\"" + key + "\":";
  size_t at = line.find(needle);
  if (at == std::string::npos) return "";
  at += needle.size();
  bool quoted = line[at] == '"';
  size_t end = quoted ? line.find('"', at + 1) : line.find_first_of(",}", at);
  return line.substr(at + (quoted ? 1 : 0), end - at - (quoted ? 1 : 0));
}

}  // namespace testing
