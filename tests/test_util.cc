#include "tests/test_util.h"

#include <doctest/doctest.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <csignal>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <thread>

#include "ledger/domain/json.h"
#include "ledger/domain/machine.h"

extern char** environ;

namespace testing {

// A test that feeds a ledgerctl which exits early must see EPIPE, not die of SIGPIPE.
static const bool kSigpipeIgnored = [] { return signal(SIGPIPE, SIG_IGN) != SIG_ERR; }();

TempDir::TempDir() {
  const char* base = getenv("TMPDIR");
  std::string pattern = std::string(base ? base : "/tmp") + "/ledger-test-XXXXXX";
  char* made = mkdtemp(pattern.data());
  REQUIRE(made != nullptr);
  path_ = made;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::vector<std::string> ReadDataLines(const std::string& name) {
  std::ifstream in(std::string(TEST_DATA_DIR) + "/" + name);
  REQUIRE(in.good());
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

std::unique_ptr<ledger::Log> NewLedger(const std::string& dir, ledger::Policy policy) {
  ledger::Status s = ledger::Log::Create(ledger::domain::Rules(), dir, policy);
  REQUIRE_MESSAGE(s.ok(), s.ToString());
  return OpenLedger(dir);
}

std::unique_ptr<ledger::Log> OpenLedger(const std::string& dir) {
  std::unique_ptr<ledger::Log> l;
  ledger::Status s = ledger::Log::Open(ledger::domain::Rules(), dir, &l);
  REQUIRE_MESSAGE(s.ok(), s.ToString());
  return l;
}

std::vector<ledger::AppendResult> AppendLines(ledger::Log* l, const std::vector<std::string>& lines) {
  std::vector<std::unique_ptr<capnp::MallocMessageBuilder>> messages;
  std::vector<capnp::MessageBuilder*> parsed;
  std::vector<ledger::Status> parse_errors;
  for (const auto& line : lines) {
    auto m = std::make_unique<capnp::MallocMessageBuilder>();
    parse_errors.push_back(ledger::ParseEventJson(line, m.get()));
    if (parse_errors.back().ok()) parsed.push_back(m.get());
    messages.push_back(std::move(m));
  }
  std::vector<ledger::AppendResult> appended;
  ledger::Status s = l->AppendGroup(parsed, &appended);
  REQUIRE_MESSAGE(s.ok(), s.ToString());
  std::vector<ledger::AppendResult> results;
  size_t next = 0;
  for (const auto& e : parse_errors) {
    if (e.ok()) {
      results.push_back(appended[next++]);
    } else {
      ledger::AppendResult r;
      r.error = e;
      results.push_back(r);
    }
  }
  return results;
}

ledger::AppendResult AppendLine(ledger::Log* l, const std::string& line) {
  return AppendLines(l, {line})[0];
}

namespace {

std::string ReadAll(int fd) {
  std::string out;
  std::array<char, 65536> buf;
  for (ssize_t n; (n = read(fd, buf.data(), buf.size())) > 0;) out.append(buf.data(), static_cast<size_t>(n));
  return out;
}

}  // namespace

RunResult RunLedgerctl(const std::vector<std::string>& args, const std::string& input, const std::string& stdout_path) {
  int in_pipe[2], out_pipe[2], err_pipe[2];
  REQUIRE(pipe(in_pipe) == 0);
  REQUIRE(pipe(out_pipe) == 0);
  REQUIRE(pipe(err_pipe) == 0);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, in_pipe[0], 0);
  if (stdout_path.empty()) {
    posix_spawn_file_actions_adddup2(&actions, out_pipe[1], 1);
  } else {
    posix_spawn_file_actions_addopen(&actions, 1, stdout_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  }
  posix_spawn_file_actions_adddup2(&actions, err_pipe[1], 2);
  for (int fd : {in_pipe[0], in_pipe[1], out_pipe[0], out_pipe[1], err_pipe[0], err_pipe[1]}) {
    posix_spawn_file_actions_addclose(&actions, fd);
  }
  std::vector<std::string> argv_storage = {LEDGERCTL_PATH};
  argv_storage.insert(argv_storage.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_storage) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  int rc = posix_spawn(&pid, LEDGERCTL_PATH, &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  REQUIRE(rc == 0);
  close(in_pipe[0]);
  close(out_pipe[1]);
  close(err_pipe[1]);
  // Write input and read both outputs concurrently, so that no pipe fills up and blocks.
  std::thread writer([&] {
    size_t done = 0;
    while (done < input.size()) {
      ssize_t n = write(in_pipe[1], input.data() + done, input.size() - done);
      if (n <= 0) break;
      done += static_cast<size_t>(n);
    }
    close(in_pipe[1]);
  });
  RunResult result;
  std::thread err_reader([&] { result.err = ReadAll(err_pipe[0]); });
  result.out = ReadAll(out_pipe[0]);
  err_reader.join();
  writer.join();
  close(out_pipe[0]);
  close(err_pipe[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

std::string LedgerctlLedger(const std::string& dir, const std::vector<std::string>& lines, const std::string& policy) {
  REQUIRE(RunLedgerctl({"init", "--dir", dir, "--policy", policy}).exit_code == 0);
  std::string input;
  for (const auto& line : lines) input += line + "\n";
  auto append = RunLedgerctl({"append", "--dir", dir}, input);
  REQUIRE_MESSAGE(append.exit_code == 0, append.err);
  return dir;
}

int WriteBankAnswer(const std::string& roll_csv, const std::string& unknown_id, const std::string& bank_csv) {
  std::ifstream in(roll_csv);
  std::string line, csv = "end_to_end_id,amount,status,reason,bank_reference\n";
  int n = 0;
  for (int skip = 0; skip < 3 && std::getline(in, line); ++skip) {  // The file's header record.
  }
  while (std::getline(in, line)) {
    std::string id = line.substr(0, line.find(',')), amount = line.substr(line.rfind(',') + 1);
    csv += fmt::format("{},{},{},B{}\n", id, amount, n == 0 ? "failed,account closed" : "settled,", n);
    ++n;
  }
  REQUIRE(n >= 2);
  csv += unknown_id + ",5.00,settled,,B99\n";
  std::ofstream(bank_csv) << csv;
  return n;
}

}  // namespace testing
