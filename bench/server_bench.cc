// server_bench: ledgerd's append rate and ack latency over loopback (issue 16), beside the
// embedded append rate of the same events (JSON parsed and appended in groups, in-process).
//
//   server_bench --dir D [--ledgerd PATH] [--calls N] [--events-per-call N]
//
// For 1, 8 and 32 clients, each client (a thread with its own TLS connection, as a caseworker of
// its own) sends --calls calls of --events-per-call new households, one call at a time, and
// times each call from send to answer (the answer comes once the events are durable). Prints
// events/s and the p50/p99 ack latency per client count. D is made fresh, and left for a look.
#include <capnp/message.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <latch>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "benefit_ledger/events.h"
#include "benefit_ledger/ledger.h"
#include "ledgerd/client.h"
#include "ledgerd/tls_ca.h"
#include "testing/events.h"

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;
using Messages = std::vector<std::unique_ptr<capnp::MallocMessageBuilder>>;

constexpr int kMaxClients = 32;

std::string Caseworker(int c) {
  return fmt::format("cw{:02}", c);
}

// Household `n`'s registration by `actor`, with a member of its own.
std::string Registration(const std::string& actor, const std::string& tag, int n) {
  std::string body = fmt::format("341502{:04}{:02}{:02}{:03}", 1930 + (n / 300) % 90, 1 + (n / 25) % 12, 1 + n % 25,
                                 (n / 27000) % 1000);
  return testing::EventLine(
      fmt::format("reg-{}-{}", tag, n), fmt::format("{}-{}", tag, n), "341502001001", actor, 20240105,
      "householdRegistered",
      testing::HouseholdMembers({testing::Member(testing::IdentityNumber(body.substr(0, 17)), "m", "head")}));
}

Messages Parse(const std::vector<std::string>& lines) {
  Messages out;
  for (const auto& line : lines) {
    out.push_back(std::make_unique<capnp::MallocMessageBuilder>());
    if (!ledger::ParseEventJson(line, out.back().get()).ok()) throw std::runtime_error("bad line: " + line);
  }
  return out;
}

void AppendAll(ledger::Ledger* l, const std::vector<std::string>& lines, size_t group) {
  for (size_t at = 0; at < lines.size(); at += group) {
    auto messages = Parse({lines.begin() + at, lines.begin() + std::min(lines.size(), at + group)});
    std::vector<capnp::MessageBuilder*> ptrs;
    for (auto& m : messages) ptrs.push_back(m.get());
    std::vector<ledger::AppendResult> results;
    if (!l->AppendGroup(ptrs, &results).ok()) throw std::runtime_error("append failed");
  }
}

// A ledger with an administrator and kMaxClients caseworkers, and their credentials.
void MakeLedger(const std::string& dir) {
  std::filesystem::remove_all(dir);
  if (!ledger::Ledger::Create(dir).ok()) throw std::runtime_error("cannot create " + dir);
  std::unique_ptr<ledger::Ledger> l;
  if (!ledger::Ledger::Open(dir, &l).ok()) throw std::runtime_error("cannot open " + dir);
  std::vector<std::string> actors = {
      testing::EventLine("act-admin1", "", "341502001001", "admin1", 20240102, "actorRegistered",
                         R"("newActorId":"admin1","name":"a","role":"administrator","jurisdiction":"341502")")};
  for (int c = 0; c < kMaxClients; ++c) {
    actors.push_back(testing::ActorRegistered("341502001001", "admin1",
                                              {.id = Caseworker(c), .role = "caseworker", .jurisdiction = "341502"}));
  }
  AppendAll(l.get(), actors, actors.size());
  bool made = false;
  std::string tls = ledgerd::TlsDir(dir, "");
  if (!ledgerd::EnsureCa(tls, &made).ok()) throw std::runtime_error("cannot make the CA");
  for (int c = 0; c < kMaxClients; ++c) {
    std::string cred;
    if (!ledgerd::IssueCredential(tls, Caseworker(c), &cred).ok()) throw std::runtime_error("cannot issue");
    std::ofstream(dir + "/" + Caseworker(c) + ".cred") << cred;
  }
}

pid_t StartServer(const std::string& ledgerd, const std::string& dir, int* port) {
  std::string port_file = dir + ".port";
  std::filesystem::remove(port_file);
  std::vector<std::string> args = {ledgerd, "--dir", dir, "--listen", "127.0.0.1:0", "--port-file", port_file};
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  std::string log = dir + ".log";
  posix_spawn_file_actions_addopen(&actions, 2, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = 0;
  if (posix_spawn(&pid, ledgerd.c_str(), &actions, nullptr, argv.data(), environ) != 0) {
    throw std::runtime_error("cannot start " + ledgerd);
  }
  posix_spawn_file_actions_destroy(&actions);
  for (int i = 0; i < 400 && *port == 0; ++i) {
    std::ifstream in(port_file);
    if (!(in >> *port)) std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (*port == 0) throw std::runtime_error("ledgerd did not start; see " + log);
  return pid;
}

struct Run {
  int clients = 0;
  double events_per_s = 0, p50_ms = 0, p99_ms = 0;
};

// `clients` threads, each `calls` calls of `per_call` events; `round` keeps households apart.
// Each client parses its events before the clock starts: what is timed is the server's work.
Run Measure(const std::string& dir, int port, int clients, int calls, int per_call, int round) {
  std::vector<double> latencies_ms;
  std::mutex mu;
  std::vector<std::thread> threads;
  std::latch ready(clients + 1);
  for (int c = 0; c < clients; ++c) {
    threads.emplace_back([&, c] {
      std::unique_ptr<ledgerd::Client> client;
      auto address = fmt::format("127.0.0.1:{}", port);
      auto s = ledgerd::Client::Connect(address, dir + "/" + Caseworker(c) + ".cred", &client);
      if (!s.ok()) throw std::runtime_error(s.ToString());
      std::vector<Messages> prepared;
      for (int k = 0; k < calls; ++k) {
        std::vector<std::string> lines;
        for (int e = 0; e < per_call; ++e) {
          lines.push_back(Registration(Caseworker(c), fmt::format("r{}c{}", round, c), k * per_call + e));
        }
        prepared.push_back(Parse(lines));
      }
      ready.arrive_and_wait();
      std::vector<double> mine;
      for (auto& messages : prepared) {
        auto request = client->session().appendRequest();
        auto events = request.initEvents(static_cast<unsigned>(messages.size()));
        for (size_t i = 0; i < messages.size(); ++i) {
          events.setWithCaveats(static_cast<unsigned>(i), messages[i]->getRoot<ledger::schema::Event>().asReader());
        }
        auto sent = Clock::now();
        request.send().wait(client->wait_scope());
        mine.push_back(std::chrono::duration<double, std::milli>(Clock::now() - sent).count());
      }
      std::lock_guard lock(mu);
      latencies_ms.insert(latencies_ms.end(), mine.begin(), mine.end());
    });
  }
  ready.arrive_and_wait();
  auto start = Clock::now();
  for (auto& t : threads) t.join();
  double seconds = std::chrono::duration<double>(Clock::now() - start).count();
  std::sort(latencies_ms.begin(), latencies_ms.end());
  auto at = [&](double q) { return latencies_ms[std::min(latencies_ms.size() - 1, size_t(q * latencies_ms.size()))]; };
  return {clients, clients * calls * per_call / seconds, at(0.5), at(0.99)};
}

// The embedded rate: the same kind of events as JSON, parsed and appended in groups of 1000
// (what `ledgerctl append` does, without its pipelining), parsing included.
double EmbeddedRate(const std::string& dir, int events) {
  MakeLedger(dir);
  std::unique_ptr<ledger::Ledger> l;
  if (!ledger::Ledger::Open(dir, &l).ok()) throw std::runtime_error("cannot open " + dir);
  std::vector<std::string> lines;
  for (int n = 0; n < events; ++n) lines.push_back(Registration("cw00", "emb", n));
  auto start = Clock::now();
  AppendAll(l.get(), lines, 1000);
  return events / std::chrono::duration<double>(Clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  std::string dir = "build/server-bench", ledgerd = LEDGERD_PATH;
  int calls = 50, per_call = 20;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--dir") dir = argv[i + 1];
    if (a == "--ledgerd") ledgerd = argv[i + 1];
    if (a == "--calls") calls = std::stoi(argv[i + 1]);
    if (a == "--events-per-call") per_call = std::stoi(argv[i + 1]);
  }
  try {
    double embedded = EmbeddedRate(dir + "/embedded", kMaxClients * calls * per_call);
    std::string served = dir + "/served";
    MakeLedger(served);
    int port = 0;
    pid_t pid = StartServer(ledgerd, served, &port);
    std::vector<Run> runs;
    int round = 0;
    for (int clients : {1, 8, 32}) runs.push_back(Measure(served, port, clients, calls, per_call, round++));
    ::kill(pid, SIGTERM);
    int status = 0;
    ::waitpid(pid, &status, 0);
    fmt::print("embedded (JSON, groups of 1000): {:.0f} events/s\n", embedded);
    fmt::print("{:>8} {:>12} {:>10} {:>10}   ({} calls of {} events per client, binary, loopback TLS)\n", "clients",
               "events/s", "p50 ms", "p99 ms", calls, per_call);
    for (const auto& r : runs) {
      fmt::print("{:>8} {:>12.0f} {:>10.2f} {:>10.2f}   {:.2f}x embedded\n", r.clients, r.events_per_s, r.p50_ms,
                 r.p99_ms, r.events_per_s / embedded);
    }
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
  } catch (const std::exception& e) {
    fmt::print(stderr, "server_bench: {}\n", e.what());
    return 2;
  }
}
