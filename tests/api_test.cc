// The public API alone (include/benefit_ledger), as ledgerctl and a server use it: this test is
// built with only include/ on its include path and linked with ledger_api only, so it cannot
// reach past the API. A ledger is made, a history appended from JSON Lines in groups, read back
// as result records (roll, totals, trace, replay, verify), proved and checked offline; and the
// API's errors are values naming the parameter.
#define DOCTEST_CONFIG_IMPLEMENT_WITH_MAIN
#include <doctest/doctest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "benefit_ledger/events.h"
#include "benefit_ledger/evidence.h"
#include "benefit_ledger/format.h"
#include "benefit_ledger/keys.h"
#include "benefit_ledger/ledger.h"
#include "benefit_ledger/results.h"
#include "benefit_ledger/status.h"

namespace {

using ledger::Status;
namespace fs = std::filesystem;

// A directory of its own, removed at the end.
struct ScratchDir {
  fs::path path = fs::temp_directory_path() / ("api_test-" + std::to_string(::getpid()));
  ScratchDir() { fs::remove_all(path); }
  ~ScratchDir() { fs::remove_all(path); }
  std::string Sub(const char* name) const { return (path / name).string(); }
};

std::vector<std::string> DataLines(const char* name) {
  std::ifstream in(std::string(TEST_DATA_DIR) + "/" + name);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

// Parses `lines` and appends them as one group; every result.
std::vector<ledger::AppendResult> Append(ledger::Ledger* l, const std::vector<std::string>& lines) {
  std::vector<std::unique_ptr<capnp::MallocMessageBuilder>> owned;
  std::vector<capnp::MessageBuilder*> group;
  for (const auto& line : lines) {
    owned.push_back(std::make_unique<capnp::MallocMessageBuilder>());
    REQUIRE(ledger::ParseEventJson(line, owned.back().get()).ok());
    group.push_back(owned.back().get());
  }
  std::vector<ledger::AppendResult> results;
  REQUIRE(l->AppendGroup(group, &results).ok());
  return results;
}

}  // namespace

TEST_CASE("the public API: create, append, report, replay, verify, prove and check offline") {
  ScratchDir tmp;
  const std::string dir = tmp.Sub("l");
  ledger::note::KeyPair key;
  REQUIRE(ledger::note::GenerateKey("benefit-ledger/api-test", &key).ok());
  ledger::CreateOptions options;
  options.policy = ledger::Policy::kRecord;
  options.checkpoint_key = ledger::note::VerifierOf(key);
  REQUIRE(ledger::Ledger::Create(dir, options).ok());
  CHECK(ledger::Ledger::Create(dir, options).field() == "dir");  // Exists and is not empty.

  std::unique_ptr<ledger::Ledger> l;
  REQUIRE(ledger::Ledger::Open(dir, &l).ok());
  CHECK(l->identity_error().ok());
  CHECK(l->policy() == ledger::Policy::kRecord);
  CHECK(l->head_seq() == 1);   // The genesis entry.
  CHECK(l->LoadState().ok());  // The state in memory before the first append, as a server does.

  const std::vector<std::string> lines = DataLines("every_kind.jsonl");
  REQUIRE(lines.size() > 20);
  auto results = Append(l.get(), lines);
  uint64_t created = 0;
  for (const auto& r : results) created += r.outcome == ledger::AppendResult::Outcome::kCreated;
  CHECK(created == lines.size());
  CHECK(l->head_seq() == 1 + lines.size());
  // Appending the same lines again creates nothing: each is already there.
  for (const auto& r : Append(l.get(), lines)) CHECK(r.outcome == ledger::AppendResult::Outcome::kExists);

  capnp::MallocMessageBuilder roll_message;
  auto roll = roll_message.initRoot<ledger::results::RollResult>();
  REQUIRE(l->Roll({"341502", std::nullopt}, 20241231, roll).ok());
  CHECK(roll.getSummary().getCases() == roll.getCases().size());

  capnp::MallocMessageBuilder none_message;
  Status unknown = l->Roll({"110101", std::nullopt}, 20241231, none_message.initRoot<ledger::results::RollResult>());
  CHECK(unknown.code() == Status::Code::kNotFound);
  CHECK(unknown.field() == "region");

  capnp::MallocMessageBuilder trace_message;
  auto trace = trace_message.initRoot<ledger::results::TraceResult>();
  REQUIRE(l->Trace(ledger::results::TraceScope::kHousehold, "H1", trace).ok());
  CHECK(trace.getChains().size() > 0);

  capnp::MallocMessageBuilder replay_message;
  auto replay = replay_message.initRoot<ledger::results::ReplayResult>();
  size_t visited = 0;
  ledger::ReplayOptions replay_options;
  replay_options.entry_json = true;
  replay_options.state_text = true;
  REQUIRE(l->ReplayHousehold(
               "H1", replay_options,
               [&](const ledger::ReplayStepView& step) {
                 ++visited;
                 CHECK(!step.state.empty());
                 CHECK(step.entry_json.find("\"householdId\":\"H1\"") != std::string_view::npos);
               },
               replay)
              .ok());
  CHECK(visited == replay.getEvents());
  CHECK(visited > 5);
  capnp::MallocMessageBuilder missing_message;
  Status missing = l->ReplayHousehold(
      "H404", {}, [](const ledger::ReplayStepView&) {}, missing_message.initRoot<ledger::results::ReplayResult>());
  CHECK(missing.code() == Status::Code::kNotFound);
  CHECK(missing.field() == "household");

  std::string json;
  CHECK(l->ShowEntry(2, &json).ok());
  CHECK(json.find("\"seq\":\"2\"") != std::string::npos);
  CHECK(l->ShowEntry(l->head_seq() + 1, &json).field() == "seq");

  capnp::MallocMessageBuilder verify_message;
  auto verify = verify_message.initRoot<ledger::results::VerifyResult>();
  REQUIRE(l->Verify(verify).ok());
  CHECK(verify.getOk());
  CHECK(verify.getEntries() == l->head_seq());

  // Evidence: a checkpoint, a household's proof, checked with no ledger.
  ledger::evidence::SignedCheckpoint made;
  bool is_new = false;
  REQUIRE(l->MakeCheckpoint(key, &made, &is_new).ok());
  CHECK(is_new);
  ledger::evidence::Proof proof;
  REQUIRE(l->ProveHousehold("H1", std::nullopt, &proof).ok());
  l.reset();  // The auditor has the proof text, the note and the verifier key only.

  ledger::evidence::Proof read;
  REQUIRE(ledger::evidence::ParseProof(ledger::evidence::ProofToJson(proof), &read).ok());
  ledger::evidence::SignedCheckpoint opened;
  REQUIRE(ledger::evidence::OpenCheckpoint(made.note, ledger::note::VerifierOf(key), &opened).ok());
  std::string summary;
  CHECK(ledger::evidence::CheckProof(read, &opened, &summary).ok());
  // One entry of it altered: the check fails, naming where.
  read.household.entries.front().entry[10] ^= 1;
  Status forged = ledger::evidence::CheckProof(read, &opened, &summary);
  CHECK(forged.code() == Status::Code::kInvalidArgument);
  CHECK(!forged.field().empty());
}

TEST_CASE("the public API's text helpers are the ledger's: money, hex, CSV, dates") {
  CHECK(ledger::FormatYuan(-5) == "-0.05");
  CHECK(ledger::FormatYuan(123456) == "1234.56");
  CHECK(ledger::Hex(ledger::evidence::kEmptyTreeRoot) ==
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");  // SHA-256 of nothing.
  CHECK(ledger::CsvField("a,b") == "\"a,b\"");
  CHECK(ledger::CsvField("say \"hi\"") == "\"say \"\"hi\"\"\"");
  CHECK(ledger::CsvField("plain") == "plain");
  CHECK(ledger::calendar::IsoDate(20240229) == "2024-02-29");
  CHECK(ledger::IsValidRegionPrefix("341502"));
  CHECK(!ledger::IsValidRegionPrefix("34150"));
}

TEST_CASE("the public API says who an actor is and where a household and an entry are") {
  ScratchDir tmp;
  const std::string dir = tmp.Sub("who");
  ledger::CreateOptions options;
  options.policy = ledger::Policy::kRecord;
  REQUIRE(ledger::Ledger::Create(dir, options).ok());
  std::unique_ptr<ledger::Ledger> l;
  REQUIRE(ledger::Ledger::Open(dir, &l).ok());
  auto results = Append(l.get(), DataLines("every_kind.jsonl"));
  REQUIRE(!results.empty());

  ledger::ActorInfo actor;
  REQUIRE(l->LookupActor("cw1", &actor).ok());
  CHECK(actor.id == "cw1");
  CHECK(actor.role == ledger::schema::Role::CASEWORKER);
  CHECK(actor.jurisdiction == "341502001");
  Status missing = l->LookupActor("nobody", &actor);
  CHECK(missing.code() == Status::Code::kNotFound);
  CHECK(missing.field() == "actor");
  CHECK(l->LookupActor("", &actor).field() == "actor");

  std::string region, household;
  REQUIRE(l->HouseholdRegion("H1", &region).ok());
  CHECK(region == "341502001001");
  CHECK(l->HouseholdRegion("H404", &region).field() == "household");

  REQUIRE(l->EntryScope(1, &household, &region).ok());  // The genesis: about no household.
  CHECK(household.empty());
  CHECK(region.empty());
  const auto lines = DataLines("every_kind.jsonl");
  for (size_t i = 0; i < lines.size(); ++i) {
    if (lines[i].find(R"("eventId":"h1-reg")") == std::string::npos) continue;
    REQUIRE(results[i].outcome == ledger::AppendResult::Outcome::kCreated);
    REQUIRE(l->EntryScope(results[i].seq, &household, &region).ok());
    CHECK(household == "H1");
    CHECK(region == "341502001001");
  }
  CHECK(l->EntryScope(l->head_seq() + 1, &household, &region).field() == "seq");
}
