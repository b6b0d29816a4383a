// Replication's two ends in the library (ledger/core/log.h): the committer a replicated ledger's
// leader runs before each group's own write (SetGroupCommitter), and a follower's ApplyEntries,
// which checks every entry as its append was checked and must come out byte for byte the same.
// ledgerd's replication over etcd (tools/ledgerd/replica.h) is built on these two alone.
#include <capnp/message.h>
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ledger/core/entry.h"
#include "ledger/domain/json.h"
#include "ledger/domain/machine.h"
#include "ledger/reports/verify.h"
#include "testing/history.h"
#include "tests/test_util.h"

namespace {

using ledger::GroupEntries;
using ledger::Log;
using ledger::Status;
using Outcome = ledger::AppendResult::Outcome;

// Every row of every column family: two copies equal here are the same ledger, byte for byte.
std::map<std::string, std::string> DumpAll(const Log& l) {
  std::map<std::string, std::string> out;
  for (int cf = 0; cf < static_cast<int>(ledger::kCfCount); ++cf) {
    auto family = static_cast<ledger::Cf>(cf);
    std::unique_ptr<rocksdb::Iterator> it(l.store().db()->NewIterator(rocksdb::ReadOptions(), l.store().cf(family)));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      out[std::to_string(cf) + "/" + it->key().ToString()] = it->value().ToString();
    }
  }
  return out;
}

// A leader and a follower: two copies of one new ledger (its genesis alone), copied while closed,
// so that they share the secret as the nodes of a cluster do.
struct Pair {
  testing::TempDir dir;
  std::unique_ptr<Log> leader, follower;
  std::vector<GroupEntries> committed;  // What the leader's committer saw, in order.

  explicit Pair(ledger::Policy policy) {
    REQUIRE(Log::Create(ledger::domain::Rules(), dir.Sub("leader"), policy).ok());
    std::filesystem::copy(dir.Sub("leader"), dir.Sub("follower"), std::filesystem::copy_options::recursive);
    leader = testing::OpenLedger(dir.Sub("leader"));
    follower = testing::OpenLedger(dir.Sub("follower"));
    leader->SetGroupCommitter([this](const GroupEntries& g) {
      committed.push_back(g);
      return Status::Ok();
    });
  }
  // Appends `lines` in groups of `group_size`, pipelined (SubmitGroup), as a server does.
  void Append(const std::vector<std::string>& lines, size_t group_size) {
    std::vector<std::unique_ptr<capnp::MallocMessageBuilder>> messages;
    for (const auto& line : lines) {
      messages.push_back(std::make_unique<capnp::MallocMessageBuilder>());
      REQUIRE(ledger::ParseEventJson(line, messages.back().get()).ok());
    }
    for (size_t first = 0; first < messages.size(); first += group_size) {
      std::vector<capnp::MessageBuilder*> group;
      for (size_t i = first; i < std::min(first + group_size, messages.size()); ++i) group.push_back(messages[i].get());
      auto done = [](std::vector<ledger::AppendResult>*, const Status& write) { CHECK(write.ok()); };
      REQUIRE(leader->SubmitGroup(group, Log::GroupMode::kEachOnItsOwn, done).ok());
    }
    REQUIRE(leader->FlushGroups().ok());
  }
};

// `g` with one byte of entry `index` changed: a letter of its event id, so that the entry still
// reads and checks alone (only the chain can tell).
GroupEntries Flipped(GroupEntries g, size_t index) {
  ledger::EntryReader reader;
  REQUIRE(reader.Init(g.entries.at(index)).ok());
  std::string id = reader.entry().getEvent().getEventId();
  size_t at = g.entries[index].find(id);
  REQUIRE(at != std::string::npos);
  g.entries[index][at + id.size() - 1] ^= 0x01;  // '1' <-> '0', 'a' <-> '`' ...
  return g;
}

}  // namespace

TEST_CASE("a follower that applies the leader's groups is the leader's ledger, byte for byte") {
  for (auto policy : {ledger::Policy::kRecord, ledger::Policy::kEnforce}) {
    INFO("policy ", ledger::PolicyName(policy));
    Pair pair(policy);
    const auto lines = testing::CountyYear({.seed = 7, .households = 25});
    pair.Append(lines, 9);  // Households' procedures cross many group boundaries.
    REQUIRE(pair.committed.size() > 10);
    uint64_t next = 2;  // After the genesis.
    for (const auto& g : pair.committed) {
      CHECK(g.first_seq == next);
      next += g.entries.size();
      Status s = pair.follower->ApplyEntries(g);
      REQUIRE_MESSAGE(s.ok(), s.ToString());
      CHECK(pair.follower->head().hash == g.last_hash);
    }
    CHECK(pair.follower->head() == pair.leader->head());
    CHECK(pair.leader->head().seq > lines.size() / 2);  // Most of the year was accepted, under either policy.
    CHECK(DumpAll(*pair.follower) == DumpAll(*pair.leader));
    ledger::VerifyReport report;
    REQUIRE(ledger::Verify(*pair.follower, &report).ok());
    CHECK_MESSAGE(report.ok, report.problem);
  }
}

TEST_CASE("a follower refuses entries that do not follow its copy, names the seq and writes nothing") {
  Pair pair(ledger::Policy::kRecord);
  pair.Append(testing::CountyYear({.seed = 3, .households = 8}), 20);
  REQUIRE(pair.committed.size() >= 3);
  const auto& first = pair.committed[0];
  const auto& second = pair.committed[1];
  auto before = DumpAll(*pair.follower);
  auto refused = [&](const GroupEntries& group, const std::string& names) {
    Status s = pair.follower->ApplyEntries(group);
    CHECK(s.code() == Status::Code::kCorruption);
    CHECK_MESSAGE(s.reason().find(names) != std::string::npos, s.reason(), " (wanted: ", names, ")");
    CHECK(DumpAll(*pair.follower) == before);  // Nothing of the group, nothing of the entries before it.
  };
  refused(second,
          fmt::format("seq 2: not applied: the group follows seq {}, the head here is seq 1", second.first_seq - 1));
  // The group's entries, but not from where it says: each is checked against this copy's head.
  GroupEntries misplaced = second;
  misplaced.first_seq = 2, misplaced.prev_hash = first.prev_hash;
  refused(misplaced, fmt::format("seq 2: not applied: it is seq {}, the next here is 2", second.first_seq));
  // A flipped byte in an entry: the next entry does not link to it, or (the last) the group's
  // last hash does not match; the entries before it in the group are not applied either.
  const size_t last = first.entries.size() - 1;
  refused(Flipped(first, 1), fmt::format("seq {}: not applied: its previous hash", first.first_seq + 2));
  refused(Flipped(first, last),
          fmt::format("seq {}: not applied: its hash is not the last hash", first.first_seq + last));
  // An entry re-encoded with a finding its event does not have (the group's last hash made to
  // match): checked here, the event gives another entry.
  {
    ledger::EntryReader reader;
    REQUIRE(reader.Init(first.entries[0]).ok());
    auto e = reader.entry();
    ledger::EntryLinks links{e.getSeq(), e.getRecordedAtUs(), {}, e.getHouseholdPrevSeq(), {}};
    std::copy_n(e.getPrevHash().begin(), 32, links.prev_hash.begin());
    std::copy_n(e.getHouseholdPrevHash().begin(), 32, links.household_prev_hash.begin());
    const ledger::Finding invented{"notice.period", "invented", {e.getEvent().getEventId()}};
    GroupEntries forged = first;
    forged.entries = {ledger::EncodeEntry(links, e.getEvent(), {&invented, 1})};
    forged.last_hash = ledger::LeafHash(ledger::AsBytes(forged.entries[0]));
    refused(forged, fmt::format("seq {}: not applied: checked here, the event gives another entry", links.seq));
  }
  // The group itself, then again: the second time it does not follow.
  REQUIRE(pair.follower->ApplyEntries(first).ok());
  before = DumpAll(*pair.follower);
  refused(first, "the head here is seq");
  for (size_t i = 1; i < pair.committed.size(); ++i) REQUIRE(pair.follower->ApplyEntries(pair.committed[i]).ok());
  CHECK(DumpAll(*pair.follower) == DumpAll(*pair.leader));
}

TEST_CASE("a group the committer refuses is not written, and appends wait for a new committer") {
  testing::TempDir dir;
  auto l = testing::NewLedger(dir.Sub("l"));
  const uint64_t head = l->head().seq;
  l->SetGroupCommitter([](const GroupEntries&) { return Status::IOError("etcd: the compare on the head failed"); });
  const auto lines = testing::CountyYear({.seed = 5, .households = 8});
  auto append = [&](const std::string& line, std::vector<ledger::AppendResult>* results) {
    capnp::MallocMessageBuilder message;
    REQUIRE(ledger::ParseEventJson(line, &message).ok());
    capnp::MessageBuilder* group[] = {&message};
    return l->AppendGroup(group, results);
  };
  std::vector<ledger::AppendResult> results;
  Status s = append(lines[0], &results);
  CHECK(s.reason().find("the compare on the head failed") != std::string::npos);
  REQUIRE(results.size() == 1);
  CHECK(results[0].outcome == Outcome::kRejected);
  CHECK(results[0].error.reason().find("the cluster did not commit the group") != std::string::npos);
  CHECK(l->head().seq == head);
  s = append(lines[1], &results);
  CHECK(s.reason().find("set a committer again") != std::string::npos);
  CHECK(l->head().seq == head);
  // A new term: the same event appends, and is the only one after the genesis.
  std::vector<GroupEntries> committed;
  l->SetGroupCommitter([&](const GroupEntries& g) {
    committed.push_back(g);
    return Status::Ok();
  });
  REQUIRE(append(lines[0], &results).ok());
  CHECK(results[0].outcome == Outcome::kCreated);
  CHECK(results[0].seq == head + 1);
  REQUIRE(committed.size() == 1);
  CHECK(committed[0].first_seq == head + 1);
  l.reset();
  l = testing::OpenLedger(dir.Sub("l"));
  CHECK(l->head().seq == head + 1);
}

TEST_CASE("with a committer the ledger's own entries are refused: they are not replicated") {
  testing::TempDir dir;
  auto l = testing::NewLedger(dir.Sub("l"));
  l->SetGroupCommitter([](const GroupEntries&) { return Status::Ok(); });
  ledger::note::KeyPair key;
  REQUIRE(ledger::note::GenerateKey("county.example/341502", &key).ok());
  Status s = l->SetCheckpointKey(ledger::note::VerifierOf(key), "cluster");
  CHECK(s.code() == Status::Code::kBusy);
  CHECK(s.reason().find("not replicated") != std::string::npos);
}

TEST_CASE("a refused commit drops the group staged on it too, and the next term appends both") {
  testing::TempDir dir;
  auto l = testing::NewLedger(dir.Sub("l"));
  const uint64_t head = l->head().seq;
  int calls = 0;
  l->SetGroupCommitter([&](const GroupEntries&) {
    ++calls;
    return Status::IOError("etcd: outcome unknown");
  });
  const auto lines = testing::CountyYear({.seed = 9, .households = 8});
  std::vector<std::unique_ptr<capnp::MallocMessageBuilder>> messages;
  for (size_t i = 0; i < 20; ++i) {
    messages.push_back(std::make_unique<capnp::MallocMessageBuilder>());
    REQUIRE(ledger::ParseEventJson(lines[i], messages.back().get()).ok());
  }
  std::vector<capnp::MessageBuilder*> a, b;
  for (size_t i = 0; i < 10; ++i) a.push_back(messages[i].get()), b.push_back(messages[i + 10].get());
  std::vector<Status> reported;
  auto done = [&](std::vector<ledger::AppendResult>* results, const Status& write) {
    reported.push_back(write);
    for (const auto& r : *results) CHECK(r.outcome == Outcome::kRejected);
  };
  REQUIRE(l->SubmitGroup(a, Log::GroupMode::kEachOnItsOwn, done).ok());
  CHECK(!l->SubmitGroup(b, Log::GroupMode::kEachOnItsOwn, done).ok());  // Staged on a, then dropped.
  REQUIRE(reported.size() == 2);
  CHECK(calls == 1);  // b never reached the committer.
  CHECK(l->head().seq == head);
  l->SetGroupCommitter([](const GroupEntries&) { return Status::Ok(); });
  std::vector<ledger::AppendResult> results;
  REQUIRE(l->AppendGroup(a, &results).ok());
  REQUIRE(l->AppendGroup(b, &results).ok());
  CHECK(l->head().seq > head + 10);
  ledger::VerifyReport report;
  REQUIRE(ledger::Verify(*l, &report).ok());
  CHECK_MESSAGE(report.ok, report.problem);  // The tree's frontier was put back: the Merkle tree verifies.
}
