// Pipelined appending (Log::SubmitGroup): each group is checked while the group before it is
// still being written, so its events must see that group's entries, state, heads, event ids and
// Merkle nodes as if they were in the database. These tests cut a history into small groups, so
// that households, approvals and payments continually depend on the group in flight.
#include <capnp/message.h>
#include <doctest/doctest.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ledger/domain/json.h"
#include "ledger/domain/machine.h"
#include "ledger/reports/verify.h"
#include "testing/history.h"
#include "tests/test_util.h"

namespace {

using Outcome = ledger::AppendResult::Outcome;

std::map<std::string, std::string> DumpFamily(const ledger::Log& l, ledger::Cf cf) {
  std::map<std::string, std::string> out;
  std::unique_ptr<rocksdb::Iterator> it(l.store().db()->NewIterator(rocksdb::ReadOptions(), l.store().cf(cf)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) out[it->key().ToString()] = it->value().ToString();
  return out;
}

std::vector<std::unique_ptr<capnp::MallocMessageBuilder>> Parse(const std::vector<std::string>& lines) {
  std::vector<std::unique_ptr<capnp::MallocMessageBuilder>> messages;
  for (const auto& line : lines) {
    messages.push_back(std::make_unique<capnp::MallocMessageBuilder>());
    REQUIRE(ledger::ParseEventJson(line, messages.back().get()).ok());
  }
  return messages;
}

// What the done callbacks of a stream saw.
struct Reports {
  std::vector<size_t> order;                               // Group numbers, in the order reported.
  std::vector<std::vector<ledger::AppendResult>> results;  // By group number.
};

// Submits lines[first, first + n) as group `number`; its report goes into `reports`.
void Submit(ledger::Log* l, std::vector<std::unique_ptr<capnp::MallocMessageBuilder>>* messages, size_t first, size_t n,
            size_t number, Reports* reports) {
  std::vector<capnp::MessageBuilder*> group;
  for (size_t i = first; i < first + n; ++i) group.push_back((*messages)[i].get());
  if (reports->results.size() <= number) reports->results.resize(number + 1);
  auto done = [l, number, reports](std::vector<ledger::AppendResult>* results, const ledger::Status& write) {
    CHECK_MESSAGE(write.ok(), write.ToString());
    reports->order.push_back(number);
    // Reported only once durable: the ledger's head already includes the group.
    for (const auto& r : *results) {
      if (r.outcome == Outcome::kCreated) CHECK(r.seq <= l->head().seq);
    }
    reports->results[number] = *results;
  };
  REQUIRE(l->SubmitGroup(group, ledger::Log::GroupMode::kEachOnItsOwn, done).ok());
}

}  // namespace

TEST_CASE("a history appended as a stream of small groups equals the same history appended group by group") {
  const auto lines = testing::CountyYear({.seed = 21, .households = 30});
  constexpr size_t kGroup = 7;  // Households' procedures run across many group boundaries.
  testing::TempDir dir;
  // Two copies of one new ledger (its genesis alone), closed while copied: the same secret, so
  // that both key identity numbers alike and their states can be compared.
  REQUIRE(ledger::Log::Create(ledger::domain::Rules(), dir.Sub("a"), ledger::Policy::kRecord).ok());
  std::filesystem::copy(dir.Sub("a"), dir.Sub("b"), std::filesystem::copy_options::recursive);
  auto one_by_one = testing::OpenLedger(dir.Sub("a"));
  auto streamed = testing::OpenLedger(dir.Sub("b"));
  auto messages = Parse(lines);
  Reports reports;
  size_t groups = 0;
  for (size_t first = 0; first < lines.size(); first += kGroup, ++groups) {
    size_t n = std::min(kGroup, lines.size() - first);
    std::vector<std::string> chunk(lines.begin() + first, lines.begin() + first + n);
    for (const auto& r : testing::AppendLines(one_by_one.get(), chunk))
      REQUIRE_MESSAGE(r.error.ok(), r.error.ToString());
    Submit(streamed.get(), &messages, first, n, groups, &reports);
  }
  REQUIRE(streamed->FlushGroups().ok());

  REQUIRE(reports.order.size() == groups);
  for (size_t i = 0; i < groups; ++i) CHECK(reports.order[i] == i);  // In submission order.
  uint64_t seq = 1;                                                  // The genesis entry.
  for (const auto& group : reports.results) {
    for (const auto& r : group) {
      INFO("seq ", seq + 1, ": ", r.error.ToString());
      REQUIRE(r.outcome == Outcome::kCreated);
      CHECK(r.seq == ++seq);
    }
  }
  CHECK(streamed->head().seq == lines.size() + 1);
  CHECK(one_by_one->head().seq == lines.size() + 1);
  // The same domain state, household heads' versions and event ids; entry hashes differ only by
  // their recordedAt times, so the chains are checked by verify instead.
  CHECK(DumpFamily(*streamed, ledger::kState) == DumpFamily(*one_by_one, ledger::kState));
  CHECK(DumpFamily(*streamed, ledger::kActor) == DumpFamily(*one_by_one, ledger::kActor));
  ledger::VerifyReport report;
  REQUIRE(ledger::Verify(*streamed, &report).ok());
  CHECK_MESSAGE(report.ok, report.problem);  // Chains, indexes and the Merkle tree across groups.
  CHECK(report.entries == lines.size() + 1);
}

TEST_CASE("an event sees the event ids of the group still being written") {
  testing::TempDir dir;
  auto l = testing::NewLedger(dir.Sub("l"));
  const std::string level =
      R"({"eventId":"lvl","regionCode":"341502000000","actorId":"admin1","businessDate":20250201,"approvalLevelSet":{"regionPrefix":"341502003","level":"township"}})";
  const std::string level_changed =
      R"({"eventId":"lvl","regionCode":"341502000000","actorId":"admin1","businessDate":20250201,"approvalLevelSet":{"regionPrefix":"341502004","level":"township"}})";
  auto messages = Parse({level, level, level_changed, level});
  Reports reports;
  Submit(l.get(), &messages, 0, 1, 0, &reports);  // Created at seq 2, being written...
  Submit(l.get(), &messages, 1, 2, 1, &reports);  // ...while this group is checked against it.
  Submit(l.get(), &messages, 3, 1, 2, &reports);  // Nothing to write: still reported in order.
  REQUIRE(l->FlushGroups().ok());

  REQUIRE(reports.order == std::vector<size_t>{0, 1, 2});
  CHECK(reports.results[0][0].outcome == Outcome::kCreated);
  CHECK(reports.results[1][0].outcome == Outcome::kExists);
  CHECK(reports.results[1][0].seq == 2);
  CHECK(reports.results[1][1].outcome == Outcome::kRejected);
  CHECK(reports.results[1][1].error.code() == ledger::Status::Code::kConflict);
  CHECK(reports.results[2][0].outcome == Outcome::kExists);
  CHECK(l->head().seq == 2);
}
