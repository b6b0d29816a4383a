// A ledgerd process for the tests that start one (ledgerd_test, console_test): the binary at
// LEDGERD_PATH on 127.0.0.1, its port chosen by the system and read from its --port-file, its
// log in DIR.log, stopped by the test by its process id (SIGKILLed if the test leaves it).
#pragma once

#include <doctest/doctest.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <exception>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace testing {

// A ledgerd process on 127.0.0.1, port chosen by the system; SIGKILLed if the test leaves it.
class Server {
 public:
  // Waits for its port unless `wait_for_port` is false (a server expected to refuse to start).
  explicit Server(const std::string& dir, std::vector<std::string> extra = {}, bool wait_for_port = true) : dir_(dir) {
    port_file_ = dir + ".port";
    ::unlink(port_file_.c_str());
    std::vector<std::string> args = {LEDGERD_PATH, "--dir", dir, "--listen", "127.0.0.1:0", "--port-file", port_file_};
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    log_ = dir + ".log";
    posix_spawn_file_actions_addopen(&actions, 2, log_.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    REQUIRE(posix_spawn(&pid_, LEDGERD_PATH, &actions, nullptr, argv.data(), environ) == 0);
    posix_spawn_file_actions_destroy(&actions);
    for (int i = 0; i < 400 && port_ == 0 && wait_for_port; ++i) {  // At most 20 s to start.
      std::ifstream in(port_file_);
      if (!(in >> port_)) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    REQUIRE_MESSAGE((port_ != 0 || !wait_for_port), "ledgerd did not start: " << Log());
  }
  ~Server() {
    if (std::uncaught_exceptions() > 0) MESSAGE("ledgerd's log:\n" << Log());  // The test threw: say why.
    if (pid_ > 0) Stop(SIGKILL);
  }
  std::string address() const { return fmt::format("127.0.0.1:{}", port_); }
  pid_t pid() const { return pid_; }
  // Sends `signo` without waiting (SIGSTOP, SIGCONT).
  void Signal(int signo) const { ::kill(pid_, signo); }
  // Waits (at most `seconds`) for an exit the process makes on its own; its wait status, -1 if none.
  int WaitExit(int seconds) {
    int status = 0;
    for (int i = 0; i < seconds * 100; ++i) {
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = 0;
        return status;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return -1;
  }
  int port() const { return port_; }
  // Sends `signo` and waits (at most 30 s) for the exit; the wait status.
  int Stop(int signo) {
    ::kill(pid_, signo);
    int status = 0;
    for (int i = 0; i < 3000; ++i) {
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = 0;
        return status;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status, 0);
    pid_ = 0;
    FAIL("ledgerd did not exit within 30 s of signal " << signo);
    return status;
  }
  std::string Log() const {
    std::ifstream in(log_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

 private:
  std::string dir_, port_file_, log_;
  pid_t pid_ = 0;
  int port_ = 0;
};

}  // namespace testing
