// Invariants that stay on, and errors that are not taken for absence:
//   - LEDGER_ASSERT (ledger/assert.h) stops the process, in the build `make test` uses
//     (RelWithDebInfo, which defines NDEBUG), with where and why on stderr;
//   - a real invariant of the ledger (an evidence batch touches only evidence families) stops a
//     process that breaks it, and the ledger is as its last write left it;
//   - a group larger than Log::kGroupEventsMax is refused, naming the limit;
//   - a state record that cannot be read (an injected I/O error of the state family's files)
//     fails the event with IOError and writes nothing: it is never read as "absent", which
//     would let the rules write over the record they did not see; one that does not decode
//     fails it with Corruption naming the record (before, the rules' early refusal "no
//     household" hid it);
//   - an entry whose text Cap'n Proto cannot read makes Rebuild return Corruption at its seq
//     rather than throw a kj::Exception at its caller.
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <kj/exception.h>
#include <rocksdb/env.h>
#include <rocksdb/file_system.h>
#include <rocksdb/write_batch.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "benefit_ledger/ledger.h"
#include "ledger/core/log.h"
#include "ledger/core/store.h"
#include "ledger/domain/machine.h"
#include "ledger/domain/state.h"
#include "ledger/util/assert.h"
#include "tests/test_util.h"

namespace {

struct ChildEnd {
  bool aborted = false;  // Killed by SIGABRT.
  int status = 0;        // waitpid's status.
  std::string err;       // What it wrote on stderr.
};

// Runs `body` in a forked child with stderr captured; the child exits 0 if `body` returns.
ChildEnd RunInChild(const std::function<void()>& body) {
  int pipe_fds[2];
  REQUIRE(::pipe(pipe_fds) == 0);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::signal(SIGABRT, SIG_DFL);  // Not doctest's handler: the parent looks at how the child ended.
    ::close(pipe_fds[0]);
    ::dup2(pipe_fds[1], STDERR_FILENO);
    body();
    ::_exit(0);
  }
  ::close(pipe_fds[1]);
  ChildEnd end;
  char buf[4096];
  for (ssize_t n; (n = ::read(pipe_fds[0], buf, sizeof buf)) > 0;) end.err.append(buf, static_cast<size_t>(n));
  ::close(pipe_fds[0]);
  REQUIRE(::waitpid(pid, &end.status, 0) == pid);
  end.aborted = WIFSIGNALED(end.status) && WTERMSIG(end.status) == SIGABRT;
  return end;
}

}  // namespace

TEST_CASE("LEDGER_ASSERT stops the process with where and why, NDEBUG or not") {
#ifdef NDEBUG
  MESSAGE("built with NDEBUG: assert() is off here, LEDGER_ASSERT is not");
#endif
  const int line = __LINE__ + 1;
  ChildEnd end = RunInChild([] { LEDGER_ASSERT(1 + 1 == 3, "seq {} is not the tree's next leaf ({})", 7, 6); });
  CHECK(end.aborted);
  CHECK(end.err.find("invariants_test.cc:" + std::to_string(line)) != std::string::npos);
  CHECK(end.err.find("1 + 1 == 3") != std::string::npos);
  CHECK(end.err.find("seq 7 is not the tree's next leaf (6)") != std::string::npos);

  // One that holds does nothing (and does not evaluate its message).
  ChildEnd fine = RunInChild([] {
    int formatted = 0;
    auto count = [&formatted] { return ++formatted; };
    LEDGER_ASSERT(1 + 1 == 2, "{}", count());
    if (formatted != 0) ::_exit(3);
  });
  CHECK_FALSE(fine.aborted);
  CHECK(WIFEXITED(fine.status));
  CHECK(WEXITSTATUS(fine.status) == 0);
}

TEST_CASE("an evidence batch that writes the log stops the process, the ledger is unchanged") {
  testing::TempDir tmp;
  const std::string dir = tmp.Sub("l");
  uint64_t head_seq = 0;
  {
    auto l = testing::NewLedger(dir);
    head_seq = l->head().seq;
  }
  ChildEnd end = RunInChild([&dir] {
    std::unique_ptr<ledger::Log> l;
    if (!ledger::Log::Open(ledger::domain::Rules(), dir, &l).ok()) ::_exit(2);
    rocksdb::WriteBatch batch;
    batch.Put(l->store().cf(ledger::kLog), ledger::SeqKey(l->head().seq + 1), "not an entry");
    (void)l->WriteEvidence(&batch);  // Must not return.
    ::_exit(4);
  });
  CHECK(end.aborted);
  CHECK(end.err.find("an evidence batch writes column family") != std::string::npos);
  auto l = testing::OpenLedger(dir);
  CHECK(l->head().seq == head_seq);
  std::string bytes;
  CHECK(l->ReadEntry(head_seq + 1, &bytes).code() == ledger::Status::Code::kNotFound);
}

TEST_CASE("a group larger than kGroupEventsMax is refused, naming the limit") {
  testing::TempDir tmp;
  auto l = testing::NewLedger(tmp.Sub("l"));
  const uint64_t head_seq = l->head().seq;
  capnp::MallocMessageBuilder one;  // Never read: the size is checked first.
  std::vector<capnp::MessageBuilder*> events(ledger::Log::kGroupEventsMax + 1, &one);
  std::vector<ledger::AppendResult> results;
  ledger::Status s = l->AppendGroup(events, &results);
  CHECK(s.code() == ledger::Status::Code::kInvalidArgument);
  CHECK(s.ToString().find("kGroupEventsMax") != std::string::npos);
  CHECK(s.ToString().find("100000") != std::string::npos);
  CHECK(l->head().seq == head_seq);
  // The ledger still appends a group within the bound.
  auto r = testing::AppendLine(l.get(), testing::ReadDataLines("every_kind.jsonl").front());
  CHECK(r.outcome == ledger::AppendResult::Outcome::kCreated);
}

namespace {

// A file system whose random-access reads of the chosen files fail while armed: a disk that
// returns EIO for some blocks. Files are matched by the end of their path ("/000012.sst").
class FailingReadsFs : public rocksdb::FileSystemWrapper {
 public:
  FailingReadsFs() : FileSystemWrapper(rocksdb::FileSystem::Default()) {}
  const char* Name() const override { return "FailingReadsFs"; }

  void Arm(std::set<std::string> file_suffixes) {
    std::lock_guard lock(mu_);
    failing_ = std::move(file_suffixes);
  }
  void Disarm() { Arm({}); }
  int failed_reads() const { return failed_reads_; }

  rocksdb::IOStatus NewRandomAccessFile(const std::string& name, const rocksdb::FileOptions& options,
                                        std::unique_ptr<rocksdb::FSRandomAccessFile>* file,
                                        rocksdb::IODebugContext* dbg) override {
    rocksdb::IOStatus s = target()->NewRandomAccessFile(name, options, file, dbg);
    if (s.ok()) *file = std::make_unique<File>(std::move(*file), this, name);
    return s;
  }

 private:
  class File : public rocksdb::FSRandomAccessFileOwnerWrapper {
   public:
    File(std::unique_ptr<rocksdb::FSRandomAccessFile> f, FailingReadsFs* fs, std::string name)
        : FSRandomAccessFileOwnerWrapper(std::move(f)), fs_(fs), name_(std::move(name)) {}
    rocksdb::IOStatus Read(uint64_t offset, size_t n, const rocksdb::IOOptions& options, rocksdb::Slice* result,
                           char* scratch, rocksdb::IODebugContext* dbg) const override {
      if (fs_->Fails(name_)) return rocksdb::IOStatus::IOError("injected read error", name_);
      return FSRandomAccessFileOwnerWrapper::Read(offset, n, options, result, scratch, dbg);
    }
    rocksdb::IOStatus MultiRead(rocksdb::FSReadRequest* reqs, size_t num_reqs, const rocksdb::IOOptions& options,
                                rocksdb::IODebugContext* dbg) override {
      if (fs_->Fails(name_)) return rocksdb::IOStatus::IOError("injected read error", name_);
      return FSRandomAccessFileOwnerWrapper::MultiRead(reqs, num_reqs, options, dbg);
    }

   private:
    FailingReadsFs* fs_;
    std::string name_;
  };

  bool Fails(const std::string& name) {
    std::lock_guard lock(mu_);
    for (const auto& suffix : failing_) {
      if (name.size() >= suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0) {
        ++failed_reads_;
        return true;
      }
    }
    return false;
  }

  std::mutex mu_;
  std::set<std::string> failing_;
  std::atomic<int> failed_reads_{0};
};

// Stores opened while it lives go through `fs`.
class StoreEnvScope {
 public:
  explicit StoreEnvScope(const std::shared_ptr<rocksdb::FileSystem>& fs) : env_(rocksdb::NewCompositeEnv(fs)) {
    ledger::SetStoreEnvForTesting(env_.get());
  }
  ~StoreEnvScope() { ledger::SetStoreEnvForTesting(nullptr); }

 private:
  std::unique_ptr<rocksdb::Env> env_;
};

// The table files of one column family (their names, "/000012.sst").
std::set<std::string> FilesOf(const ledger::Store& store, ledger::Cf cf) {
  rocksdb::ColumnFamilyMetaData meta;
  store.db()->GetColumnFamilyMetaData(store.cf(cf), &meta);
  std::set<std::string> names;
  for (const auto& level : meta.levels) {
    for (const auto& file : level.files) names.insert(file.name);
  }
  return names;
}

// Read without filling the block cache, so that the ledger's next read of the state still goes
// to the (failing) file.
std::string StateRecord(const ledger::Log& l, const std::string& key) {
  rocksdb::ReadOptions uncached;
  uncached.fill_cache = false;
  std::string value;
  rocksdb::Status s = l.store().db()->Get(uncached, l.store().cf(ledger::kState), key, &value);
  REQUIRE(s.ok());
  return value;
}

}  // namespace

TEST_CASE("a state read that fails is an I/O error for the event, never an absent record") {
  auto fs = std::make_shared<FailingReadsFs>();
  StoreEnvScope scope(fs);
  testing::TempDir tmp;
  const std::string dir = tmp.Sub("l");
  // every_kind.jsonl: actors, a relative, a standard, funds, then household H1 registered and
  // its members changed (the line the household record is read for).
  std::vector<std::string> lines = testing::ReadDataLines("every_kind.jsonl");
  REQUIRE(lines.size() > 5);
  REQUIRE(lines[4].find(R"("eventId":"h1-reg")") != std::string::npos);
  REQUIRE(lines[5].find(R"("membersChanged")") != std::string::npos);
  const std::string household_key = ledger::state::HouseholdKey("H1");
  std::string household_before;
  {
    auto l = testing::NewLedger(dir);
    for (const auto& r : testing::AppendLines(l.get(), {lines.begin(), lines.begin() + 5})) {
      REQUIRE(r.outcome == ledger::AppendResult::Outcome::kCreated);
    }
    household_before = StateRecord(*l, household_key);
    // Into table files, so that the reopened ledger reads the state from disk.
    rocksdb::FlushOptions flush;
    for (size_t cf = 0; cf < ledger::kCfCount; ++cf) {
      REQUIRE(l->store().db()->Flush(flush, l->store().cf(static_cast<ledger::Cf>(cf))).ok());
    }
  }
  auto l = testing::OpenLedger(dir);
  const uint64_t head_seq = l->head().seq;
  // Nothing of the state has been read since the reopen: its blocks are not in the cache.
  std::set<std::string> state_files = FilesOf(l->store(), ledger::kState);
  REQUIRE_FALSE(state_files.empty());

  // H1 registered again under another event id: read as absent, the rules would accept it and
  // write a new household record over the stored one.
  std::string register_again = lines[4];
  const std::string event_id = R"("eventId":"h1-reg")";
  register_again.replace(register_again.find(event_id), event_id.size(), R"("eventId":"h1-reg-again")");
  const std::string expected_version = R"("expectedVersion":{"exactly":0},)";
  REQUIRE(register_again.find(expected_version) != std::string::npos);
  register_again.erase(register_again.find(expected_version), expected_version.size());

  for (const std::string& line : {register_again, lines[5]}) {
    CAPTURE(line);
    fs->Arm(state_files);
    const int failed_before = fs->failed_reads();
    ledger::AppendResult r = testing::AppendLine(l.get(), line);
    fs->Disarm();
    CHECK(fs->failed_reads() > failed_before);
    CHECK(r.outcome == ledger::AppendResult::Outcome::kRejected);
    INFO(r.error.ToString());
    CHECK(r.error.code() == ledger::Status::Code::kIOError);
    CHECK(r.error.ToString().find("injected read error") != std::string::npos);
    CHECK(l->head().seq == head_seq);
    CHECK(StateRecord(*l, household_key) == household_before);
  }

  // The error was not cached as "absent": once the disk reads again, the same line appends on
  // top of the stored household.
  ledger::AppendResult r = testing::AppendLine(l.get(), lines[5]);
  CHECK(r.outcome == ledger::AppendResult::Outcome::kCreated);
  CHECK(r.seq == head_seq + 1);
  ledger::state::Household before, after;
  REQUIRE(ledger::state::Decode(household_before, &before));
  REQUIRE(ledger::state::Decode(StateRecord(*l, household_key), &after));
  CHECK(after.members.size() > before.members.size());
}

TEST_CASE("an entry whose text lost its NUL terminator: rebuild reports Corruption at its seq, no exception") {
  testing::TempDir tmp;
  const std::string dir = tmp.Sub("l");
  std::vector<std::string> lines = testing::ReadDataLines("every_kind.jsonl");
  uint64_t registered_seq = 0;
  {
    auto l = testing::NewLedger(dir);
    auto results = testing::AppendLines(l.get(), {lines.begin(), lines.begin() + 6});
    for (const auto& r : results) REQUIRE(r.outcome == ledger::AppendResult::Outcome::kCreated);
    registered_seq = results[4].seq;  // h1-reg.
    // Its householdId "H1": the NUL after it becomes 'A'. The bytes are still canonical (the
    // NUL is inside the text's list), so EntryReader::Init accepts them; reading the text throws.
    std::string bytes;
    REQUIRE(l->ReadEntry(registered_seq, &bytes).ok());
    const size_t at = bytes.find(std::string("H1\0", 3));
    REQUIRE(at != std::string::npos);
    bytes[at + 2] = 'A';
    REQUIRE(l->store().db()->Put({}, l->store().cf(ledger::kLog), ledger::SeqKey(registered_seq), bytes).ok());
  }
  auto l = testing::OpenLedger(dir);
  ledger::Log::RebuildReport report;
  ledger::Status s;
  std::string thrown;
  try {
    s = l->Rebuild(&report);
  } catch (const kj::Exception& e) {
    thrown = e.getDescription().cStr();
  }
  CHECK_MESSAGE(thrown.empty(), "Rebuild threw: ", thrown);
  CHECK(s.code() == ledger::Status::Code::kCorruption);
  CHECK(s.ToString().find(fmt::format("seq {}: the entry does not read", registered_seq)) != std::string::npos);
}

TEST_CASE("a state record that does not decode refuses the event with Corruption naming it") {
  testing::TempDir tmp;
  const std::string dir = tmp.Sub("l");
  std::vector<std::string> lines = testing::ReadDataLines("every_kind.jsonl");
  const std::string key = ledger::state::HouseholdKey("H1");
  {
    auto l = testing::NewLedger(dir);
    for (const auto& r : testing::AppendLines(l.get(), {lines.begin(), lines.begin() + 5})) {
      REQUIRE(r.outcome == ledger::AppendResult::Outcome::kCreated);
    }
    REQUIRE(l->store().db()->Put({}, l->store().cf(ledger::kState), key, "not a household record").ok());
  }
  // Reopened: the damaged record is what the ledger reads (an open ledger holds its state in
  // memory, state_cache.h, and would not see a write behind its back).
  auto l = testing::OpenLedger(dir);
  const uint64_t head_seq = l->head().seq;
  ledger::AppendResult r = testing::AppendLine(l.get(), lines[5]);  // H1's membersChanged.
  CHECK(r.outcome == ledger::AppendResult::Outcome::kRejected);
  CHECK(r.error.code() == ledger::Status::Code::kCorruption);
  CHECK(r.error.ToString().find("state record " + key + " does not read; rebuild the state") != std::string::npos);
  CHECK(l->head().seq == head_seq);
}

// The public API is the one boundary where Cap'n Proto exceptions stop (ledger/api/ledger.cc
// Guarded): with one entry that frames as canonical but does not read, every public read that
// meets it answers with a Status (Corruption for the reports that must read it), none throws.
TEST_CASE("through the public API, an entry that does not read gives Corruption from every reader, no exception") {
  testing::TempDir tmp;
  const std::string dir = tmp.Sub("l");
  std::vector<std::string> lines = testing::ReadDataLines("every_kind.jsonl");
  {
    auto l = testing::NewLedger(dir);
    auto results = testing::AppendLines(l.get(), lines);
    uint64_t registered_seq = results[4].seq;  // h1-reg, by cw1.
    std::string bytes;
    REQUIRE(l->ReadEntry(registered_seq, &bytes).ok());
    const size_t at = bytes.find(std::string("H1\0", 3));
    REQUIRE(at != std::string::npos);
    bytes[at + 2] = 'A';  // Its householdId's NUL: still canonical, throws when read.
    REQUIRE(l->store().db()->Put({}, l->store().cf(ledger::kLog), ledger::SeqKey(registered_seq), bytes).ok());
  }
  std::unique_ptr<ledger::Ledger> l;
  REQUIRE(ledger::Ledger::Open(dir, &l).ok());
  using Scope = ledger::results::TraceScope;
  const std::pair<const char*, std::function<ledger::Status()>> kReaders[] = {
      {"trace household",
       [&] {
         capnp::MallocMessageBuilder m;
         return l->Trace(Scope::kHousehold, "H1", m.initRoot<ledger::results::TraceResult>());
       }},
      {"trace actor",
       [&] {
         capnp::MallocMessageBuilder m;
         return l->Trace(Scope::kActor, "cw1", m.initRoot<ledger::results::TraceResult>());
       }},
      {"trace region",
       [&] {
         capnp::MallocMessageBuilder m;
         return l->Trace(Scope::kRegion, "341502", m.initRoot<ledger::results::TraceResult>());
       }},
      {"replay",
       [&] {
         capnp::MallocMessageBuilder m;
         return l->ReplayHousehold(
             "H1", {}, [](const ledger::ReplayStepView&) {}, m.initRoot<ledger::results::ReplayResult>());
       }},
      {"show",
       [&] {
         std::string json;
         return l->ShowEntry(5 + 1, &json);  // Seq 1 is the genesis: h1-reg is the fifth line.
       }},
  };
  for (const auto& [name, read] : kReaders) {
    CAPTURE(name);
    ledger::Status s;
    std::string thrown;
    try {
      s = read();
    } catch (const kj::Exception& e) {
      thrown = e.getDescription().cStr();
    }
    CHECK_MESSAGE(thrown.empty(), "threw: ", thrown);
    CHECK(s.code() == ledger::Status::Code::kCorruption);
  }
  // Verify reads it too, and says the ledger fails rather than failing itself.
  capnp::MallocMessageBuilder m;
  auto verify = m.initRoot<ledger::results::VerifyResult>();
  CHECK(l->Verify(verify).ok());
  CHECK(!verify.getOk());
}
