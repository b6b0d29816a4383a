// Reading beside the writer (benefit_ledger/ledger.h): Ledger::Snapshot, a read-only handle at
// the head now that reads on a thread of its own while another appends, and
// Ledger::OpenReadOnly, a RocksDB secondary instance on a ledger another handle holds.
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "benefit_ledger/events.h"
#include "benefit_ledger/ledger.h"
#include "benefit_ledger/results.h"
#include "test_util.h"

namespace {

using ledger::Ledger;
using ledger::Status;

// Registers household H{n} in township 341502001 (a group of `count` of them from `first`).
std::vector<std::string> Households(int first, int count) {
  std::vector<std::string> lines;
  for (int n = first; n < first + count; ++n) {
    std::string number = testing::IdentityNumber(fmt::format("34150219520314{:03}", n % 1000));
    lines.push_back(testing::EventLine(fmt::format("reg-{}", n), fmt::format("H{}", n), "341502001001", "cw1", 20240105,
                                       "householdRegistered",
                                       testing::HouseholdMembers({testing::Member(number, "张三", "head")})));
  }
  return lines;
}

Status AppendJson(Ledger* l, const std::vector<std::string>& lines, std::vector<ledger::AppendResult>* results) {
  std::vector<std::unique_ptr<capnp::MallocMessageBuilder>> owned;
  std::vector<capnp::MessageBuilder*> group;
  for (const auto& line : lines) {
    owned.push_back(std::make_unique<capnp::MallocMessageBuilder>());
    Status s = ledger::ParseEventJson(line, owned.back().get());
    if (!s.ok()) return s;
    group.push_back(owned.back().get());
  }
  return l->AppendGroup(group, results);
}

void AppendAll(Ledger* l, const std::vector<std::string>& lines) {
  std::vector<ledger::AppendResult> results;
  REQUIRE(AppendJson(l, lines, &results).ok());
  for (const auto& r : results) REQUIRE(r.outcome == ledger::AppendResult::Outcome::kCreated);
}

// A ledger with its administrator and a caseworker, open.
std::unique_ptr<Ledger> NewLedger(const std::string& dir) {
  ledger::CreateOptions options;
  options.policy = ledger::Policy::kRecord;
  REQUIRE(Ledger::Create(dir, options).ok());
  std::unique_ptr<Ledger> l;
  REQUIRE(Ledger::Open(dir, &l).ok());
  AppendAll(l.get(), {testing::ActorRegistered("341502000000", "admin1", {"admin1", "administrator", "341502"}),
                      testing::ActorRegistered("341502000000", "admin1", {"cw1", "caseworker", "341502001"})});
  return l;
}

bool Verifies(const Ledger& l) {
  capnp::MallocMessageBuilder message;
  auto out = message.initRoot<ledger::results::VerifyResult>();
  return l.Verify(out).ok() && out.getOk();
}

}  // namespace

TEST_CASE("a snapshot reads the ledger as it was, refuses writes, and outlives the writing handle") {
  testing::TempDir tmp;
  std::unique_ptr<Ledger> l = NewLedger(tmp.Sub("l"));
  AppendAll(l.get(), Households(1, 5));
  const uint64_t head = l->head_seq();

  std::unique_ptr<Ledger> snap;
  REQUIRE(l->Snapshot(&snap).ok());
  CHECK(snap->read_only());
  CHECK_FALSE(l->read_only());
  CHECK(snap->head_seq() == head);
  AppendAll(l.get(), Households(6, 5));
  CHECK(l->head_seq() == head + 5);

  // The snapshot does not see the later entries, nor their household, and still verifies.
  std::string json;
  CHECK(snap->ShowEntry(head, &json).ok());
  CHECK(snap->ShowEntry(head + 1, &json).code() == Status::Code::kNotFound);
  CHECK(l->ShowEntry(head + 1, &json).ok());
  std::string region;
  CHECK(snap->HouseholdRegion("H6", &region).code() == Status::Code::kNotFound);
  CHECK(l->HouseholdRegion("H6", &region).ok());
  CHECK(Verifies(*snap));

  // Its writes refuse, naming why, and write nothing.
  std::vector<ledger::AppendResult> results;
  Status s = AppendJson(snap.get(), Households(100, 1), &results);
  bool refused = !s.ok() || (results.size() == 1 && !results[0].error.ok());
  CHECK(refused);
  CHECK(snap->head_seq() == head);
  ledger::RebuildReport report;
  CHECK(snap->Rebuild(&report).code() == Status::Code::kBusy);

  // A snapshot keeps the database open after the writing handle is gone.
  l.reset();
  CHECK(snap->ShowEntry(head, &json).ok());
  CHECK(Verifies(*snap));
}

TEST_CASE("snapshots taken on other threads while one appends each verify, and never go back") {
  testing::TempDir tmp;
  std::unique_ptr<Ledger> l = NewLedger(tmp.Sub("l"));
  constexpr int kGroups = 40, kPerGroup = 25;
  std::atomic<bool> done{false};
  std::atomic<int> failures{0}, snapshots{0};
  auto read = [&] {
    uint64_t last = 0;
    while (!done.load()) {
      std::unique_ptr<Ledger> snap;
      if (!l->Snapshot(&snap).ok() || snap->head_seq() < last || !Verifies(*snap)) ++failures;
      // Every household the snapshot's head names is whole in it: registered, one event.
      std::string region;
      if (snap->head_seq() > 3) {
        int n = static_cast<int>(snap->head_seq() - 3);  // Entries 1-3: genesis, two actors.
        if (!snap->HouseholdRegion(fmt::format("H{}", n), &region).ok()) ++failures;
      }
      last = snap->head_seq();
      ++snapshots;
    }
  };
  std::thread r1(read), r2(read);
  for (int g = 0; g < kGroups; ++g) AppendAll(l.get(), Households(1 + g * kPerGroup, kPerGroup));
  done = true;
  r1.join();
  r2.join();
  CHECK(failures.load() == 0);
  CHECK(snapshots.load() > 2);
  CHECK(l->head_seq() == 3 + kGroups * kPerGroup);
}

TEST_CASE("a read-only open beside the writing handle reads up to its last write, and no later") {
  testing::TempDir tmp;
  const std::string dir = tmp.Sub("l");
  std::unique_ptr<Ledger> l = NewLedger(dir);
  AppendAll(l.get(), Households(1, 5));

  // The writing handle holds the lock: a second writing open is refused, a read-only one is not.
  std::unique_ptr<Ledger> other;
  CHECK(Ledger::Open(dir, &other).code() == Status::Code::kBusy);
  // The reader's temporary directory goes under TMPDIR: here, to see it removed at the end.
  const std::string tmpdir = tmp.Sub("tmp");
  std::filesystem::create_directory(tmpdir);
  const char* old_tmpdir = getenv("TMPDIR");
  std::string saved = old_tmpdir != nullptr ? old_tmpdir : "";
  setenv("TMPDIR", tmpdir.c_str(), 1);
  std::unique_ptr<Ledger> ro;
  REQUIRE(Ledger::OpenReadOnly(dir, &ro).ok());
  CHECK(!std::filesystem::is_empty(tmpdir));
  CHECK(ro->read_only());
  CHECK(ro->head_seq() == l->head_seq());
  CHECK(Verifies(*ro));
  std::string json;
  CHECK(ro->ShowEntry(l->head_seq(), &json).ok());

  AppendAll(l.get(), Households(6, 3));
  CHECK(ro->head_seq() == l->head_seq() - 3);  // Read as of its open.
  CHECK(ro->ShowEntry(l->head_seq(), &json).code() == Status::Code::kNotFound);
  std::vector<ledger::AppendResult> results;
  Status s = AppendJson(ro.get(), Households(100, 1), &results);
  CHECK((!s.ok() || (results.size() == 1 && !results[0].error.ok())));

  std::unique_ptr<Ledger> again;
  REQUIRE(Ledger::OpenReadOnly(dir, &again).ok());
  CHECK(again->head_seq() == l->head_seq());
  CHECK(Verifies(*again));

  // Their temporary directories go with them.
  ro.reset();
  again.reset();
  CHECK(std::filesystem::is_empty(tmpdir));
  if (old_tmpdir != nullptr) {
    setenv("TMPDIR", saved.c_str(), 1);
  } else {
    unsetenv("TMPDIR");
  }
}
