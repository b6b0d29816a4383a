// An etcd cluster for the tests of the etcd client (etcd_test): 1 or 3 members of the etcd at
// ETCD_PATH (found at configure time; `make test` installs Debian's etcd-server), on 127.0.0.1
// only, each with its own data directory under `dir` and its log in DIR/NAME.log, ports chosen
// free by the system. Short heartbeat and election (100 ms, 1 s) so that elections are quick.
// Every process started is SIGKILLed and reaped by its pid when the cluster is destroyed; the logs
// are printed if a test fails while the cluster is up.
#pragma once

#include <doctest/doctest.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <exception>
#include <fstream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "ledgerd/etcd.h"

extern char** environ;

namespace testing {

class EtcdCluster {
 public:
  EtcdCluster(const std::string& dir, int size) : dir_(dir) {
    REQUIRE_MESSAGE(std::string(ETCD_PATH) != "", "etcd is not installed: `make test` installs etcd-server");
    REQUIRE((size == 1 || size == 3));
    static int clusters = 0;
    token_ = fmt::format("benefit-ledger-{}-{}", ::getpid(), ++clusters);
    std::vector<int> ports = FreePorts(2 * size);
    for (int i = 0; i < size; ++i) {
      std::string name = fmt::format("m{}", i);
      members_.push_back(Process{name, dir + "/" + name, dir + "/" + name + ".log", ports[2 * i], ports[2 * i + 1], 0});
    }
    for (int i = 0; i < size; ++i) Start(i, "new");
    for (int i = 0; i < size; ++i) WaitReady(i);
  }
  ~EtcdCluster() {
    if (std::uncaught_exceptions() > 0) {
      for (size_t i = 0; i < members_.size(); ++i) MESSAGE("etcd log of m" << i << ":\n" << Log(i));
    }
    for (Process& m : members_) Reap(&m, SIGKILL);
  }

  size_t size() const { return members_.size(); }
  std::string endpoint(size_t i) const { return fmt::format("http://127.0.0.1:{}", members_[i].client_port); }
  std::vector<std::string> endpoints() const {
    std::vector<std::string> out;
    for (size_t i = 0; i < members_.size(); ++i) out.push_back(endpoint(i));
    return out;
  }
  // The member serving `endpoint`, by its URL.
  size_t IndexOf(const std::string& url) const {
    for (size_t i = 0; i < members_.size(); ++i) {
      if (endpoint(i) == url) return i;
    }
    FAIL("no member serves " << url);
    return 0;
  }

  // Sends `signo` to member i; SIGKILL and SIGTERM also wait (at most 30 s) for its exit.
  void Kill(size_t i, int signo) {
    REQUIRE(members_[i].pid > 0);
    if (signo == SIGKILL || signo == SIGTERM) {
      Reap(&members_[i], signo);
    } else {
      ::kill(members_[i].pid, signo);
    }
  }
  // Starts member i again, on its data directory, and waits until it answers.
  void Restart(size_t i) {
    REQUIRE(members_[i].pid == 0);
    Start(i, "existing");
    WaitReady(i);
  }
  // Waits (at most 20 s) until member i answers its status with a leader known.
  void WaitReady(size_t i) {
    std::unique_ptr<ledgerd::etcd::Client> client;
    REQUIRE(ledgerd::etcd::Client::Make({{endpoint(i)}, 1000, 200}, &client).ok());
    ledger::Status s;
    for (int attempt = 0; attempt < 200; ++attempt) {
      ledgerd::etcd::EndpointStatus status;
      s = client->Status(endpoint(i), &status);
      if (s.ok() && status.leader_id != 0) return;
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    FAIL("etcd member m" << i << " not ready within 20 s (" << s.ToString() << "), its log:\n" << Log(i));
  }
  std::string Log(size_t i) const {
    std::ifstream in(members_[i].log);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

 private:
  struct Process {
    std::string name, data_dir, log;
    int client_port, peer_port;
    pid_t pid;
  };

  // `n` ports free now: bound to port 0 together (so they differ), read, closed.
  static std::vector<int> FreePorts(int n) {
    std::vector<int> fds, ports;
    for (int i = 0; i < n; ++i) {
      int fd = ::socket(AF_INET, SOCK_STREAM, 0);
      sockaddr_in a{};
      a.sin_family = AF_INET;
      a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
      socklen_t size = sizeof a;
      REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
      REQUIRE(::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &size) == 0);
      fds.push_back(fd);
      ports.push_back(ntohs(a.sin_port));
    }
    for (int fd : fds) ::close(fd);
    return ports;
  }

  std::string InitialCluster() const {
    std::string out;
    for (const Process& m : members_) {
      out += fmt::format("{}{}=http://127.0.0.1:{}", out.empty() ? "" : ",", m.name, m.peer_port);
    }
    return out;
  }

  void Start(size_t i, const std::string& state) {
    Process& m = members_[i];
    std::string client = fmt::format("http://127.0.0.1:{}", m.client_port);
    std::string peer = fmt::format("http://127.0.0.1:{}", m.peer_port);
    std::vector<std::string> args = {ETCD_PATH,
                                     "--name",
                                     m.name,
                                     "--data-dir",
                                     m.data_dir,
                                     "--listen-client-urls",
                                     client,
                                     "--advertise-client-urls",
                                     client,
                                     "--listen-peer-urls",
                                     peer,
                                     "--initial-advertise-peer-urls",
                                     peer,
                                     "--initial-cluster",
                                     InitialCluster(),
                                     "--initial-cluster-state",
                                     state,
                                     "--initial-cluster-token",
                                     token_,
                                     "--heartbeat-interval",
                                     "100",
                                     "--election-timeout",
                                     "1000"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, m.log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    posix_spawn_file_actions_adddup2(&actions, 1, 2);
    int rc = posix_spawn(&m.pid, ETCD_PATH, &actions, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&actions);
    REQUIRE_MESSAGE(rc == 0, "could not start " << ETCD_PATH);
  }

  // Sends `signo` (and SIGCONT, should it be stopped) and waits at most 30 s for the exit; then
  // SIGKILL.
  static void Reap(Process* m, int signo) {
    if (m->pid <= 0) return;
    ::kill(m->pid, signo);
    ::kill(m->pid, SIGCONT);
    int status = 0;
    for (int i = 0; i < 3000; ++i) {
      if (::waitpid(m->pid, &status, WNOHANG) == m->pid) {
        m->pid = 0;
        return;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    ::kill(m->pid, SIGKILL);
    ::waitpid(m->pid, &status, 0);
    m->pid = 0;
  }

  std::string dir_, token_;
  std::vector<Process> members_;
};

}  // namespace testing
