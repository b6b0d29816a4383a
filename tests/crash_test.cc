// Crash test: `ledgerctl append` is killed with SIGKILL at a random point while it appends a
// stream of events, then the ledger is reopened and checked:
//   - every event it reported "created" is at its reported seq with exactly the reported hash
//     (results are only printed after their group's synced write, so none may be lost);
//   - the ledger verifies: nothing half-written (a group is one atomic write batch);
//   - the log holds at least everything reported (committed but unreported groups are allowed);
// then the same input is appended again from the start: what is already in the ledger comes
// back "exists" at its seq, the rest "created" right after it, and the ledger verifies.
//
// The kill points are random within each round; the seed is printed on failure and can be set
// with CRASH_TEST_SEED to replay a run.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "ledger/core/entry.h"
#include "ledger/core/log.h"
#include "ledger/reports/verify.h"
#include "ledger/util/hash.h"
#include "tests/test_util.h"

extern char** environ;

namespace {

// Enough events that ledgerctl is still busy when the last kill point (< 4000 results) comes:
// it can run ahead of what we have read by at most a pipe of input and a pipe of output.
constexpr size_t kEventCount = 10000;
// Longest wait for ledgerctl's next output before the test gives up on it.
constexpr int kOutputTimeoutMs = 20000;

// ---------------------------------------------------------------------------------------------
// Input: one householdRegistered event per household H0, H1, …, each with one member.

// A valid identity number whose birth date (digits 7-14) is `birth_date`.
std::string IdentityNumberBornOn(const std::string& birth_date, size_t i) {
  std::string sequence = std::to_string(100 + i % 900);  // Three digits.
  return testing::IdentityNumber("341502" + birth_date + sequence);
}

std::string EventLine(size_t i) {
  char birth_date[9];
  snprintf(birth_date, sizeof birth_date, "%04zu%02zu%02zu", 1940 + i % 60, 1 + i % 12, 1 + i % 28);
  std::string household = "H" + std::to_string(i);
  // expectedVersion 0: a household must be new. A retried event must still come back "exists"
  // (idempotency is checked first), not as a version conflict.
  return R"({"eventId":"reg-)" + household + R"(","householdId":")" + household +
         R"(","regionCode":"341502001001","actorId":"cw1","businessDate":20240105,"expectedVersion":{"exactly":0},)"
         R"("householdRegistered":{"members":[{"person":{"number":")" +
         IdentityNumberBornOn(birth_date, i) + R"("},"name":"张三","relation":"head","birthDate":)" + birth_date +
         R"(}],"address":"城东街道 3 号"}})";
}

std::vector<std::string> EventLines() {
  std::vector<std::string> lines;
  for (size_t i = 0; i < kEventCount; ++i) lines.push_back(EventLine(i));
  return lines;
}

// ---------------------------------------------------------------------------------------------
// Output: ledgerctl append's result lines, {"line":3,"status":"created","eventId":"e2","seq":3,"hash":"…"}.

struct Result {
  size_t line = 0;
  std::string status;
  std::string event_id;
  uint64_t seq = 0;
  std::string hash_hex;  // Only for "created".
};

// The value of `key` in a flat JSON object as ledgerctl prints it: a number, or a string
// without escapes (true of the ids and hashes here). Empty if absent.
std::string Field(std::string_view json, std::string_view key) {
  std::string pattern = "\"" + std::string(key) + "\":";
  size_t at = json.find(pattern);
  if (at == std::string_view::npos) return "";
  at += pattern.size();
  if (at < json.size() && json[at] == '"') {
    size_t end = json.find('"', at + 1);
    return end == std::string_view::npos ? "" : std::string(json.substr(at + 1, end - at - 1));
  }
  size_t end = json.find_first_not_of("0123456789", at);
  return std::string(json.substr(at, end == std::string_view::npos ? std::string_view::npos : end - at));
}

Result ParseResult(const std::string& json) {
  INFO("result line: ", json);
  Result r;
  r.status = Field(json, "status");
  r.event_id = Field(json, "eventId");
  r.hash_hex = Field(json, "hash");
  std::string line = Field(json, "line"), seq = Field(json, "seq");
  REQUIRE(!line.empty());
  r.line = std::stoull(line);
  r.seq = seq.empty() ? 0 : std::stoull(seq);
  return r;
}

std::vector<Result> ParseResults(const std::string& out) {
  std::vector<Result> results;
  size_t start = 0;
  for (size_t end; (end = out.find('\n', start)) != std::string::npos; start = end + 1) {
    results.push_back(ParseResult(out.substr(start, end - start)));
  }
  return results;
}

// ---------------------------------------------------------------------------------------------
// The ledgerctl append process.

// `ledgerctl append --dir D [args] -` with its standard input and output piped to the test and
// its standard error in a file (read on failure).
class AppendProcess {
 public:
  AppendProcess(const std::string& dir, const std::vector<std::string>& args, const std::string& stderr_path) {
    int in[2], out[2];
    REQUIRE(pipe2(in, O_CLOEXEC) == 0);
    REQUIRE(pipe2(out, O_CLOEXEC) == 0);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in[0], 0);  // dup2 clears O_CLOEXEC on 0 and 1.
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    posix_spawn_file_actions_addopen(&actions, 2, stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    // The test ignores SIGPIPE (test_util.cc); the child gets the default back, as from a shell.
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t defaults;
    sigemptyset(&defaults);
    sigaddset(&defaults, SIGPIPE);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF);

    std::vector<std::string> argv_text = {LEDGERCTL_PATH, "append", "--dir", dir};
    argv_text.insert(argv_text.end(), args.begin(), args.end());
    argv_text.push_back("-");
    std::vector<char*> argv;
    for (auto& a : argv_text) argv.push_back(a.data());
    argv.push_back(nullptr);
    int rc = posix_spawn(&pid_, LEDGERCTL_PATH, &actions, &attr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    close(in[0]);
    close(out[1]);
    stdin_fd_ = in[1];
    stdout_fd_ = out[0];
    REQUIRE_MESSAGE(rc == 0, "posix_spawn: ", strerror(rc));
  }

  ~AppendProcess() {
    if (pid_ > 0) {  // Not waited for: the test failed on the way. Do not leave it running.
      kill(pid_, SIGKILL);
      Wait();
    }
    close(stdout_fd_);
  }

  int stdout_fd() const { return stdout_fd_; }
  // The writer takes the standard input over and closes it when done.
  int TakeStdin() { return std::exchange(stdin_fd_, -1); }
  void Kill() const { kill(pid_, SIGKILL); }
  // Waits for the process to end; returns its wait status.
  int Wait() {
    int status = 0;
    while (waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
    return status;
  }

 private:
  pid_t pid_ = -1;
  int stdin_fd_ = -1, stdout_fd_ = -1;
};

// True once nobody can read the pipe `fd` writes to any more (ledgerctl was killed).
bool ReaderGone(int fd) {
  pollfd p{fd, 0, 0};
  return poll(&p, 1, 0) > 0 && (p.revents & POLLERR) != 0;
}

// Waits until ledgerctl has read everything written to `fd` so far (or is gone), and a little
// more, so that it sees the input pause and closes its commit group there.
void WaitUntilDrained(int fd, std::chrono::microseconds extra) {
  for (int unread = 1; ioctl(fd, FIONREAD, &unread) == 0 && unread > 0 && !ReaderGone(fd);) {
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  std::this_thread::sleep_for(extra);
}

// Writes `lines` to `fd` in chunks of random size, sometimes pausing between them, so that
// ledgerctl's commit groups (closed when full or when the input pauses) vary in size. Stops at
// the first failed write: ledgerctl was killed (EPIPE: test_util.cc ignores SIGPIPE). Closes `fd`.
void Feed(int fd, const std::vector<std::string>& lines, uint64_t seed) {
  std::mt19937_64 rng(seed);
  size_t next = 0;
  bool open = true;
  while (open && next < lines.size()) {
    size_t chunk_lines = 1 + rng() % 300;
    std::string chunk;
    for (; chunk_lines > 0 && next < lines.size(); --chunk_lines) chunk += lines[next++] + "\n";
    for (size_t done = 0; open && done < chunk.size();) {
      ssize_t n = write(fd, chunk.data() + done, chunk.size() - done);
      open = n > 0 || (n < 0 && errno == EINTR);
      if (n > 0) done += static_cast<size_t>(n);
    }
    if (rng() % 3 == 0) WaitUntilDrained(fd, std::chrono::microseconds(rng() % 2000));
  }
  close(fd);
}

// Reads result lines until ledgerctl's output ends, sending it SIGKILL `kill_delay` after
// `kill_after_created` results said "created" (the delay varies what it is doing by then). Only
// whole lines count: killed in the middle of printing, it may leave half a line, which reports
// nothing.
std::vector<Result> ReadResultsAndKill(const AppendProcess& process, size_t kill_after_created,
                                       std::chrono::microseconds kill_delay) {
  std::vector<Result> results;
  size_t created = 0;
  bool killed = false;
  std::string pending;
  char buffer[65536];
  for (;;) {
    pollfd p{process.stdout_fd(), POLLIN, 0};
    int ready = poll(&p, 1, kOutputTimeoutMs);
    REQUIRE_MESSAGE(ready > 0, "no output from ledgerctl append for ", kOutputTimeoutMs, " ms");
    ssize_t n = read(process.stdout_fd(), buffer, sizeof buffer);
    if (n < 0 && errno == EINTR) continue;
    REQUIRE(n >= 0);
    if (n == 0) break;  // Every copy of the write end is closed: the process has ended.
    pending.append(buffer, static_cast<size_t>(n));
    size_t start = 0;
    for (size_t end; (end = pending.find('\n', start)) != std::string::npos; start = end + 1) {
      results.push_back(ParseResult(pending.substr(start, end - start)));
      created += results.back().status == "created";
    }
    pending.erase(0, start);
    if (!killed && created >= kill_after_created) {
      std::this_thread::sleep_for(kill_delay);
      process.Kill();
      killed = true;
    }
  }
  return results;
}

// ---------------------------------------------------------------------------------------------
// Checks on the ledger.

// Each result says "created" for the next line, at seq = line + 1 (the ledger started with its
// genesis entry alone).
void CheckReportedInOrder(const std::vector<Result>& results) {
  for (size_t i = 0; i < results.size(); ++i) {
    const Result& r = results[i];
    INFO("result ", i, ": line ", r.line, " ", r.status, " seq ", r.seq);
    REQUIRE(r.status == "created");
    REQUIRE(r.line == i + 1);
    REQUIRE(r.seq == r.line + 1);
    REQUIRE(r.event_id == "reg-H" + std::to_string(i));
  }
}

// Every reported entry is in the ledger at its seq, with the reported event and hash.
void CheckReportedEntries(const ledger::Log& l, const std::vector<Result>& results) {
  for (const Result& r : results) {
    INFO("line ", r.line, " reported created at seq ", r.seq, " hash ", r.hash_hex);
    std::string bytes;
    ledger::Status s = l.ReadEntry(r.seq, &bytes);
    REQUIRE_MESSAGE(s.ok(), s.ToString());
    // REQUIRE: the first entry that is not as reported tells it all.
    REQUIRE(ledger::Hex(ledger::LeafHash(ledger::AsBytes(bytes))) == r.hash_hex);
    ledger::EntryReader reader;
    REQUIRE(reader.Init(bytes).ok());
    REQUIRE(std::string(reader.entry().getEvent().getEventId().cStr()) == r.event_id);
  }
}

// `events` appended after the genesis entry.
void CheckVerifies(const ledger::Log& l, uint64_t events) {
  ledger::VerifyReport report;
  ledger::Status s = ledger::Verify(l, &report);
  REQUIRE_MESSAGE(s.ok(), s.ToString());
  INFO("verify: ", report.problem, " at seq ", report.bad_seq);
  CHECK(report.ok);
  CHECK(report.entries == events + 1);
  CHECK(report.households == events);  // One household per event.
}

// Appending the whole input again: lines 1..committed come back "exists" at their seq (line + 1),
// the rest "created" after them.
void CheckResumed(const std::vector<Result>& results, uint64_t committed) {
  REQUIRE(results.size() == kEventCount);
  size_t wrong = 0;  // Counted, so that one failure does not print ten thousand lines.
  for (size_t i = 0; i < results.size(); ++i) {
    const Result& r = results[i];
    const std::string expected = r.line <= committed ? "exists" : "created";
    bool right = r.line == i + 1 && r.status == expected && r.seq == r.line + 1;
    if (!right && wrong++ < 5) FAIL_CHECK("line ", r.line, ": ", r.status, " seq ", r.seq, ", expected ", expected);
  }
  CHECK(wrong == 0);
}

std::string ReadFile(const std::string& path) {
  std::string text;
  if (FILE* f = fopen(path.c_str(), "r")) {
    char buffer[4096];
    for (size_t n; (n = fread(buffer, 1, sizeof buffer, f)) > 0;) text.append(buffer, n);
    fclose(f);
  }
  return text;
}

uint64_t Seed() {
  if (const char* text = getenv("CRASH_TEST_SEED")) return std::strtoull(text, nullptr, 10);
  return std::random_device()();
}

// One crash and resume on a fresh ledger: ledgerctl append with `args` is killed after between
// `min_kill_after` and twice as many "created" results.
void RunCrashRound(size_t min_kill_after, const std::vector<std::string>& args) {
  const uint64_t seed = Seed();
  std::mt19937_64 rng(seed);
  const size_t kill_after = min_kill_after + rng() % min_kill_after;
  const auto kill_delay = std::chrono::microseconds(rng() % 3000);
  INFO("CRASH_TEST_SEED=", seed, ": killed ", kill_delay.count(), " µs after ", kill_after, " results");
  testing::TempDir tmp;
  const std::string dir = tmp.Sub("ledger");
  testing::NewLedger(dir).reset();  // Created, then closed for ledgerctl.
  const std::vector<std::string> lines = EventLines();

  // Append, and kill it midway.
  std::vector<Result> reported;
  {
    std::jthread writer;  // Declared first, so that a failing REQUIRE kills the process before joining it.
    AppendProcess process(dir, args, tmp.Sub("stderr"));
    writer = std::jthread(Feed, process.TakeStdin(), std::cref(lines), rng());
    reported = ReadResultsAndKill(process, kill_after, kill_delay);
    int status = process.Wait();
    writer.join();
    INFO("ledgerctl stderr: ", ReadFile(tmp.Sub("stderr")));
    REQUIRE_MESSAGE((WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL), "ledgerctl was not killed: status ", status);
  }
  REQUIRE(reported.size() >= kill_after);
  CheckReportedInOrder(reported);

  // Everything reported is there as reported; the ledger is whole.
  uint64_t committed = 0;  // Lines, not counting the genesis entry.
  {
    auto l = testing::OpenLedger(dir);
    committed = l->head().seq - 1;
    INFO(reported.size(), " reported, ", committed, " committed");
    CHECK(committed + 1 >= reported.back().seq);
    CHECK(committed < kEventCount);  // The kill did interrupt the append.
    CheckReportedEntries(*l, reported);
    CheckVerifies(*l, committed);
  }

  // Resume: the same input from the start.
  std::string input;
  for (const auto& line : lines) input += line + "\n";
  auto run = testing::RunLedgerctl({"append", "--dir", dir, "-"}, input);
  INFO("resumed append: exit ", run.exit_code, ", stderr ", run.err);
  CHECK(run.exit_code == 0);
  CheckResumed(ParseResults(run.out), committed);

  auto l = testing::OpenLedger(dir);
  CHECK(l->head().seq == kEventCount + 1);
  CheckReportedEntries(*l, reported);  // Resuming changed nothing already there.
  CheckVerifies(*l, kEventCount);
}

TEST_CASE("ledgerctl append killed early (default groups of 1000) loses nothing reported") {
  RunCrashRound(50, {});
}

TEST_CASE("ledgerctl append killed midway (groups of 100) loses nothing reported") {
  RunCrashRound(500, {"--group-size", "100"});
}

TEST_CASE("ledgerctl append killed late (groups of 7) loses nothing reported") {
  RunCrashRound(2000, {"--group-size", "7"});
}

}  // namespace
