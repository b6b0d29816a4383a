// Integration actors and Entry.submittedBy (issue 16, item 3): who submitted an event through a
// server is part of its entry and hashed with it; an entry without a submitter has the bytes it
// had before the field existed; an integration actor submits other actors' events within its
// jurisdiction only, for registered, active actors, and never acts itself.
#include <capnp/message.h>
#include <doctest/doctest.h>
#include <rocksdb/db.h>

#include <cstring>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "benefit_ledger/events.h"
#include "ledger/core/entry.h"
#include "ledger/core/log.h"
#include "ledger/core/store.h"
#include "ledger/reports/verify.h"
#include "tests/test_util.h"

namespace {

using ledger::AppendResult;
using Outcome = AppendResult::Outcome;

constexpr const char* kTown = "341502001001";   // Inside the integration actor's township.
constexpr const char* kOther = "341502002001";  // Another township of the same county.

// The actors: an administrator of the county, two caseworkers of the county and an
// integration actor (the bureau's MIS) of township 341502001.
std::vector<std::string> Actors() {
  return {
      testing::EventLine("act-admin1", "", kTown, "admin1", 20240102, "actorRegistered",
                         R"("newActorId":"admin1","name":"a","role":"administrator","jurisdiction":"341502")"),
      testing::ActorRegistered(kTown, "admin1", {.id = "cw1", .role = "caseworker", .jurisdiction = "341502"}),
      testing::ActorRegistered(kTown, "admin1", {.id = "cw2", .role = "caseworker", .jurisdiction = "341502"}),
      testing::ActorRegistered(kTown, "admin1", {.id = "mis1", .role = "integration", .jurisdiction = "341502001"})};
}

// A householdRegistered of `household` in `region` by `actor`, its member's number made unique by `n`.
std::string Registration(const std::string& actor, const std::string& household, const std::string& region, int n) {
  std::string person = testing::IdentityNumber("34150219600101" + std::to_string(100 + n));
  return testing::EventLine("reg-" + household, household, region, actor, 20240105, "householdRegistered",
                            testing::HouseholdMembers({testing::Member(person, "m", "head")}));
}

// Appends `lines` as one group, lines[i] submitted by submitters[i].
std::vector<AppendResult> Submit(ledger::Log* l, const std::vector<std::string>& lines,
                                 const std::vector<std::string>& submitters) {
  std::vector<std::unique_ptr<capnp::MallocMessageBuilder>> messages;
  std::vector<capnp::MessageBuilder*> group;
  for (const auto& line : lines) {
    messages.push_back(std::make_unique<capnp::MallocMessageBuilder>());
    REQUIRE_MESSAGE(ledger::ParseEventJson(line, messages.back().get()).ok(), line);
    group.push_back(messages.back().get());
  }
  std::vector<AppendResult> results;
  ledger::Status s = l->AppendGroup(group, &results, ledger::GroupMode::kEachOnItsOwn, submitters);
  REQUIRE_MESSAGE(s.ok(), s.ToString());
  return results;
}

std::string EntryBytes(const ledger::Log& l, uint64_t seq) {
  std::string bytes;
  REQUIRE(l.ReadEntry(seq, &bytes).ok());
  return bytes;
}

std::string SubmittedByAt(const ledger::Log& l, uint64_t seq) {
  ledger::EntryReader reader;
  std::string bytes = EntryBytes(l, seq);
  REQUIRE(reader.Init(bytes).ok());
  return reader.entry().hasSubmittedBy() ? std::string(reader.entry().getSubmittedBy().cStr()) : "(null)";
}

ledger::VerifyReport Verify(const ledger::Log& l) {
  ledger::VerifyReport report;
  REQUIRE(ledger::Verify(l, &report).ok());
  return report;
}

ledger::EntryLinks LinksOf(ledger::schema::Entry::Reader entry) {
  ledger::EntryLinks links;
  links.seq = entry.getSeq();
  links.recorded_at_us = entry.getRecordedAtUs();
  memcpy(links.prev_hash.data(), entry.getPrevHash().begin(), links.prev_hash.size());
  links.household_prev_seq = entry.getHouseholdPrevSeq();
  memcpy(links.household_prev_hash.data(), entry.getHouseholdPrevHash().begin(), links.household_prev_hash.size());
  return links;
}

std::vector<ledger::Finding> FindingsOf(ledger::schema::Entry::Reader entry) {
  std::vector<ledger::Finding> findings;
  for (auto f : entry.getFindings()) {
    ledger::Finding finding{f.getRule(), f.getMessage(), {}};
    for (auto id : f.getEventIds()) finding.event_ids.emplace_back(id.cStr());
    findings.push_back(std::move(finding));
  }
  return findings;
}

std::string FromHex(const std::string& hex) {
  std::string bytes;
  for (size_t i = 0; i + 1 < hex.size(); i += 2)
    bytes.push_back(static_cast<char>(std::stoi(hex.substr(i, 2), nullptr, 16)));
  return bytes;
}

}  // namespace

TEST_CASE("entries written before submittedBy existed re-encode to the same bytes without one") {
  // tests/data/entries_v1.txt: entries of the first schema (schema_test.cc), hex bytes in the third column.
  auto lines = testing::ReadDataLines("entries_v1.txt");
  REQUIRE(lines.size() == 29);
  for (const auto& line : lines) {
    std::istringstream fields(line);
    std::string hash_hex, kind, bytes_hex;
    fields >> hash_hex >> kind >> bytes_hex;
    const std::string stored = FromHex(bytes_hex);
    ledger::EntryReader reader;
    REQUIRE(reader.Init(stored).ok());
    auto entry = reader.entry();
    CAPTURE(kind);
    CHECK_FALSE(entry.hasSubmittedBy());
    std::vector<ledger::Finding> findings = FindingsOf(entry);
    // Encoded today with no submitter: byte for byte the old entry, so its hash is unchanged.
    CHECK(ledger::EncodeEntry(LinksOf(entry), entry.getEvent(), findings) == stored);
    // With one: other bytes, which read back with the submitter.
    std::string with = ledger::EncodeEntry(LinksOf(entry), entry.getEvent(), findings, "mis1");
    CHECK(with != stored);
    ledger::EntryReader again;
    REQUIRE(again.Init(with).ok());
    CHECK(std::string(again.entry().getSubmittedBy().cStr()) == "mis1");
  }
}

TEST_CASE("an integration actor submits other actors' events within its jurisdiction, and the submitter is recorded") {
  testing::TempDir tmp;
  auto l = testing::NewLedger(tmp.Sub("l"));  // Under `record`: the refusals below refuse under every policy.
  for (const auto& r : testing::AppendLines(l.get(), Actors()))
    REQUIRE_MESSAGE(r.outcome == Outcome::kCreated, r.error.ToString());
  const uint64_t before = l->head().seq;

  auto results = Submit(
      l.get(),
      {Registration("cw1", "H1", kTown, 1), Registration("cw1", "H2", kTown, 2), Registration("cw1", "H3", kOther, 3),
       Registration("ghost", "H4", kTown, 4), Registration("cw1", "H5", kTown, 5), Registration("cw2", "H6", kTown, 6)},
      {"mis1", "cw1", "mis1", "mis1", "cw2", ""});
  REQUIRE(results.size() == 6);
  SUBCASE("for a registered actor in its township: created, submitted by the integration actor") {
    REQUIRE(results[0].outcome == Outcome::kCreated);
    CHECK(SubmittedByAt(*l, results[0].seq) == "mis1");
  }
  SUBCASE("an actor's own event: submitted by itself; none given: no submitter at all") {
    REQUIRE(results[1].outcome == Outcome::kCreated);
    CHECK(SubmittedByAt(*l, results[1].seq) == "cw1");
    REQUIRE(results[5].outcome == Outcome::kCreated);
    CHECK(SubmittedByAt(*l, results[5].seq) == "(null)");
  }
  SUBCASE("outside its jurisdiction: refused, naming the region and the jurisdiction") {
    CHECK(results[2].outcome == Outcome::kRejected);
    CHECK(results[2].error.field() == "submittedBy");
    CHECK(results[2].error.reason() ==
          "refused: region 341502002001 is outside integration actor \"mis1\"'s jurisdiction 341502001");
  }
  SUBCASE("for an actor not registered: refused") {
    CHECK(results[3].outcome == Outcome::kRejected);
    CHECK(results[3].error.field() == "actorId");
    CHECK(results[3].error.reason().find("\"ghost\" is not registered") != std::string::npos);
  }
  SUBCASE("a caseworker submitting for another: refused, though the policy records rule breaks") {
    CHECK(results[4].outcome == Outcome::kRejected);
    CHECK(results[4].error.field() == "actorId");
    CHECK(results[4].error.reason().find("submitted by \"cw2\" (a caseworker)") != std::string::npos);
  }
  SUBCASE("the same event resent by another submitter is the same event") {
    auto again = Submit(l.get(), {Registration("cw1", "H1", kTown, 1)}, {"cw1"});
    CHECK(again[0].outcome == Outcome::kExists);
    CHECK(again[0].seq == results[0].seq);
    CHECK(SubmittedByAt(*l, results[0].seq) == "mis1");
  }
  SUBCASE("a deactivated actor is submitted for no more") {
    REQUIRE(
        testing::AppendLine(l.get(), testing::EventLine("off-cw2", "", kTown, "admin1", 20240301, "actorDeactivated",
                                                        R"("targetActorId":"cw2","reason":"retired")"))
            .outcome == Outcome::kCreated);
    auto off = Submit(l.get(), {Registration("cw2", "H7", kTown, 7)}, {"mis1"});
    CHECK(off[0].outcome == Outcome::kRejected);
    CHECK(off[0].error.reason() == "refused: actor \"cw2\" was deactivated (off-cw2: retired)");
  }
  SUBCASE("a submitter list that is not one per event appends nothing") {
    std::vector<std::unique_ptr<capnp::MallocMessageBuilder>> messages;
    std::vector<capnp::MessageBuilder*> group;
    for (int n : {8, 9}) {
      messages.push_back(std::make_unique<capnp::MallocMessageBuilder>());
      REQUIRE(
          ledger::ParseEventJson(Registration("cw1", "HX" + std::to_string(n), kTown, n), messages.back().get()).ok());
      group.push_back(messages.back().get());
    }
    const uint64_t head = l->head().seq;
    std::vector<AppendResult> none;
    std::vector<std::string> one = {"mis1"};
    ledger::Status s = l->AppendGroup(group, &none, ledger::GroupMode::kEachOnItsOwn, one);
    CHECK(s.code() == ledger::Status::Code::kInvalidArgument);
    CHECK(s.field() == "submitted_by");
    CHECK(l->head().seq == head);
  }
  CHECK(l->head().seq > before);
  // Rebuilt from the log alone, the rules find what they found on append.
  ledger::RebuildReport rebuilt;
  REQUIRE(l->Rebuild(&rebuilt).ok());
  CHECK(rebuilt.mismatches == 0);
  CHECK(Verify(*l).ok);
}

TEST_CASE("an integration actor acts as no official, and registers only with a jurisdiction") {
  testing::TempDir tmp;
  auto l = testing::NewLedger(tmp.Sub("l"), ledger::Policy::kEnforce);
  for (const auto& r : testing::AppendLines(l.get(), Actors()))
    REQUIRE_MESSAGE(r.outcome == Outcome::kCreated, r.error.ToString());
  // Its own event, submitted by itself or appended on the directory: the rule actor.role.
  for (const std::vector<std::string>& submitter : {std::vector<std::string>{"mis1"}, std::vector<std::string>{}}) {
    auto own = Submit(l.get(), {Registration("mis1", "H1", kTown, 1)}, submitter);
    CHECK(own[0].outcome == Outcome::kRejected);
    CHECK(own[0].error.field() == "actor.role");
    CHECK(own[0].error.reason().find("an integration actor (it submits other actors' events, never its own) may not "
                                     "record householdRegistered") != std::string::npos);
  }
  // Nor the second official of an economic check or a home visit.
  REQUIRE(testing::AppendLine(l.get(), Registration("cw1", "H2", kTown, 2)).outcome == Outcome::kCreated);
  auto check = testing::AppendLine(
      l.get(), testing::EventLine("h2-app", "H2", kTown, "cw1", 20240108, "applicationSubmitted",
                                  R"("caseId":"C2","programme":"temporary","declaredMonthlyIncomeFen":0)"));
  REQUIRE_MESSAGE(check.outcome == Outcome::kCreated, check.error.ToString());
  auto visit = testing::AppendLine(
      l.get(), testing::EventLine("h2-vis", "H2", kTown, "cw1", 20240110, "homeVisitRecorded",
                                  R"("caseId":"C2","secondActorId":"mis1","countyLevel":false,"findings":"x")"));
  CHECK(visit.outcome == Outcome::kRejected);
  CHECK(visit.error.field() == "actor.role");
  CHECK(visit.error.reason() ==
        "the second official of the home visit \"mis1\" is an integration actor, not an official");
  // Registered without a jurisdiction (empty, or left out): refused, naming the field. Every
  // actor's jurisdiction is a region prefix (validate.h), so none submits for everywhere.
  for (const char* jurisdiction : {R"(,"jurisdiction":"")", ""}) {
    auto everywhere = testing::AppendLine(
        l.get(),
        testing::EventLine("act-mis2", "", kTown, "admin1", 20240103, "actorRegistered",
                           std::string(R"("newActorId":"mis2","name":"MIS","role":"integration")") + jurisdiction));
    CHECK(everywhere.outcome == Outcome::kRejected);
    CHECK(everywhere.error.ToString() == "actorRegistered.jurisdiction: not a region prefix (2, 4, 6, 9 or 12 digits)");
  }
}

TEST_CASE("submittedBy is hashed with its entry: changing it in the stored bytes fails verify at that entry") {
  testing::TempDir tmp;
  const std::string dir = tmp.Sub("l");
  uint64_t seq = 0;
  {
    auto l = testing::NewLedger(dir);
    testing::AppendLines(l.get(), Actors());
    auto results =
        Submit(l.get(), {Registration("cw1", "H1", kTown, 1), Registration("cw1", "H2", kTown, 2)}, {"mis1", "mis1"});
    REQUIRE(results[0].outcome == Outcome::kCreated);
    seq = results[0].seq;
    REQUIRE(Verify(*l).ok);
  }
  {
    std::unique_ptr<ledger::Store> store;
    REQUIRE(ledger::Store::Open(dir + "/db", /*create=*/false, &store).ok());
    std::string bytes;
    bool found = false;
    REQUIRE(store->Get(ledger::kLog, ledger::SeqKey(seq), &bytes, &found).ok());
    REQUIRE(found);
    // "mis1" is stored as a text of its own: made "mis2", the entry still reads, canonically.
    size_t at = bytes.rfind("mis1");
    REQUIRE(at != std::string::npos);
    bytes[at + 3] = '2';
    ledger::EntryReader reader;
    REQUIRE(reader.Init(bytes).ok());
    REQUIRE(std::string(reader.entry().getSubmittedBy().cStr()) == "mis2");
    REQUIRE(store->db()->Put(rocksdb::WriteOptions(), store->cf(ledger::kLog), ledger::SeqKey(seq), bytes).ok());
  }
  auto l = testing::OpenLedger(dir);
  ledger::VerifyReport report = Verify(*l);
  CHECK_FALSE(report.ok);
  CHECK(report.bad_seq == seq);
  CHECK(report.problem.find("altered") != std::string::npos);
}
