// The core without the domain: this test links ledger_core alone (tests/CMakeLists.txt), so the
// linker shows that the log depends on no rule, programme or projection. A toy state machine (a
// counter per household, and a finding that refuses events whose id ends in '!') plugs into it
// through core/state_machine.h, and the log sequences, chains, deduplicates and stores its state.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
#include <stdlib.h>

#include <filesystem>
#include <string>
#include <string_view>

#include "ledger/core/log.h"
#include "ledger/core/state_machine.h"

namespace {

using ledger::Decision;
using ledger::Log;
using Outcome = ledger::AppendResult::Outcome;

class Counter final : public ledger::StateMachine {
 public:
  ledger::Status Admit(capnp::MessageBuilder*, ledger::Bytes) const override { return ledger::Status::Ok(); }
  Decision Decide(ledger::schema::Event::Reader event, const ledger::schema::Event::Reader*, ledger::StateSource* state,
                  bool, std::string_view) const override {
    Decision d;
    std::string key = std::string("c/") + event.getHouseholdId().cStr(), value;
    bool found = false;
    if (!(d.refusal = state->Get(key, &value, &found)).ok()) return d;
    d.writes[key] = std::to_string(found ? std::stoi(value) + 1 : 1);
    std::string id = event.getEventId();
    if (!id.empty() && id.back() == '!') {
      d.findings.push_back({"toy.bang", "the id ends in !", {id}});
      d.refusing = 0;
    }
    return d;
  }
};

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/core_alone_XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

ledger::AppendResult AppendOne(Log* l, const std::string& id, const std::string& household) {
  capnp::MallocMessageBuilder message;
  auto e = message.initRoot<ledger::schema::Event>();
  e.setEventId(id);
  e.setHouseholdId(household);
  e.setActorId("a1");
  e.setBusinessDate(20260101);
  e.initHouseholdRegistered();
  capnp::MessageBuilder* events[] = {&message};
  std::vector<ledger::AppendResult> results;
  REQUIRE(l->AppendGroup(events, &results).ok());
  REQUIRE(results.size() == 1);
  return results.front();
}

TEST_CASE("the log runs any state machine: sequence, idempotency, refusals by policy, state kept") {
  const Counter counter;
  TempDir dir;
  REQUIRE(Log::Create(counter, dir.path + "/l", ledger::Policy::kEnforce).ok());
  std::unique_ptr<Log> l;
  REQUIRE(Log::Open(counter, dir.path + "/l", &l).ok());
  CHECK(l->head().seq == 1);  // The genesis.
  auto a = AppendOne(l.get(), "e1", "h1");
  CHECK(a.outcome == Outcome::kCreated);
  CHECK(a.seq == 2);
  CHECK(AppendOne(l.get(), "e1", "h1").outcome == Outcome::kExists);
  auto refused = AppendOne(l.get(), "e2!", "h1");
  CHECK(refused.outcome == Outcome::kRejected);
  CHECK(refused.error.ToString().find("toy.bang") != std::string::npos);
  CHECK(AppendOne(l.get(), "e3", "h1").seq == 3);
  CHECK(l->head().seq == 3);

  std::string value;
  bool found = false;
  REQUIRE(l->store().Get(ledger::kState, "c/h1", &value, &found).ok());
  CHECK(found);
  CHECK(value == "2");  // The refused event wrote nothing.
  int visited = 0;
  REQUIRE(l->ReadHousehold("h1", [&](const ledger::HouseholdEntry&) { ++visited; }).ok());
  CHECK(visited == 2);
}

TEST_CASE("under record, a refusing finding is recorded with its entry instead") {
  const Counter counter;
  TempDir dir;
  REQUIRE(Log::Create(counter, dir.path + "/l", ledger::Policy::kRecord).ok());
  std::unique_ptr<Log> l;
  REQUIRE(Log::Open(counter, dir.path + "/l", &l).ok());
  auto r = AppendOne(l.get(), "e1!", "h1");
  CHECK(r.outcome == Outcome::kCreated);
  REQUIRE(r.findings.size() == 1);
  CHECK(r.findings.front().rule == "toy.bang");
  Log::RebuildReport report;
  REQUIRE(l->Rebuild(&report).ok());
  CHECK(report.entries == 2);
  CHECK(report.mismatches == 0);
}

}  // namespace
