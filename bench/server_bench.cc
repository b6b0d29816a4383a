// The server run of issue 16 (`make bench`): events/s and acknowledgement latency for 1, 8 and 32
// clients appending binary events to ledgerd over loopback, beside the embedded append of the
// same events in the same run.
//
// The events are a province-month (testing/province.h) with one county per client. Everything
// but each county's payments is appended first, embedded, into a template ledger (actors,
// standards, households through approval, funds, the payment rolls). Each client then connects
// as its county's finance officer (a credential of `ledgerctl credential issue`) and sends that
// county's payment events, issued and the bank's results, in calls of 10 and, in a second run, of
// 100 events (--call-events), waiting for each answer before the next call: the ack latency is one call's round trip, which includes the
// synced write that group commit shares among the clients. Every run starts from a copy of the
// template, on a ledgerd of its own (127.0.0.1, a port the system chooses), stopped by its pid.
// The reference: the same payment events appended embedded (Ledger::AppendGroup, groups of 1000)
// to another copy, from JSON Lines with the parse timed, and as messages.
#include <capnp/message.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "benefit_ledger/events.h"
#include "benefit_ledger/ledger.h"
#include "ledgerd/client.h"
#include "testing/province.h"

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;
using ledger::Status;

struct Options {
  std::vector<int> clients = {1, 8, 32};
  int households = 1000;                     // Per county.
  std::vector<int> call_events = {10, 100};  // Events per call: each size is a run of its own.
  std::string dir = "build/bench-server", json, ledgerd, ledgerctl;
};

[[noreturn]] void Die(const std::string& why) {
  fmt::print(stderr, "server_bench: {}\n", why);
  std::exit(1);
}
void Check(const Status& s, const std::string& what) {
  if (!s.ok()) Die(what + ": " + s.ToString());
}
double SecondsSince(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}
void Run(const std::string& command) {
  if (std::system(command.c_str()) != 0) Die("failed: " + command);
}

// One county's lines, split: what is appended before the run, and the payment events of its
// finance officer, sent by its client.
struct County {
  std::string actor;  // <county>-fin1
  std::vector<std::string> payments;
};

bool IsPaymentLine(const std::string& line, const std::string& actor) {
  if (line.find("\"actorId\":\"" + actor + "\"") == std::string::npos) return false;
  for (const char* kind : {"\"paymentIssued\"", "\"paymentSettled\"", "\"paymentFailed\""}) {
    if (line.find(kind) != std::string::npos) return true;
  }
  return false;
}

std::vector<County> Generate(const Options& o, std::vector<std::string>* before) {
  testing::ProvinceMonthOptions p{.counties = *std::max_element(o.clients.begin(), o.clients.end()),
                                  .households = o.households};
  *before = testing::ProvinceMonthHeader(p);
  std::vector<County> counties;
  for (int c = 0; c < p.counties; ++c) {
    testing::CountyMonth month = testing::ProvinceMonthCounty(p, c);
    County county{month.county + "-fin1", {}};
    for (auto& line : month.lines) {
      (IsPaymentLine(line, county.actor) ? county.payments : *before).push_back(std::move(line));
    }
    counties.push_back(std::move(county));
  }
  return counties;
}

struct Parsed {
  std::vector<std::unique_ptr<capnp::MallocMessageBuilder>> owned;
  std::vector<capnp::MessageBuilder*> messages;
};
Parsed Parse(const std::vector<std::string>& lines, size_t first, size_t count) {
  Parsed p;
  for (size_t i = first; i < std::min(lines.size(), first + count); ++i) {
    p.owned.push_back(std::make_unique<capnp::MallocMessageBuilder>(ledger::kEventMessageWords));
    Check(ledger::ParseEventJson(lines[i], p.owned.back().get()), "parsing " + lines[i]);
    p.messages.push_back(p.owned.back().get());
  }
  return p;
}

// Appends `lines` embedded in groups of 1000; every one must be created. Returns the seconds of
// the appends alone; *parse_s gets the parsing's.
double AppendEmbedded(const std::string& dir, const std::vector<std::string>& lines, double* parse_s) {
  std::unique_ptr<ledger::Ledger> l;
  Check(ledger::Ledger::Open(dir, &l), "opening " + dir);
  double append_s = 0;
  *parse_s = 0;
  for (size_t first = 0; first < lines.size(); first += 1000) {
    auto t0 = Clock::now();
    Parsed p = Parse(lines, first, 1000);
    *parse_s += SecondsSince(t0);
    std::vector<ledger::AppendResult> results;
    auto t1 = Clock::now();
    Check(l->AppendGroup(p.messages, &results), "appending");
    append_s += SecondsSince(t1);
    for (const auto& r : results) {
      if (r.outcome != ledger::AppendResult::Outcome::kCreated) Die("not created: " + r.error.ToString());
    }
  }
  return append_s;
}

// A ledgerd on 127.0.0.1 with the port the system chose; SIGTERM and wait on destruction.
class Server {
 public:
  Server(const Options& o, const std::string& dir) {
    std::string port_file = dir + ".port", log = dir + ".log";
    std::vector<std::string> args = {o.ledgerd, "--dir", dir, "--listen", "127.0.0.1:0", "--port-file", port_file};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 2, log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (posix_spawn(&pid_, o.ledgerd.c_str(), &actions, nullptr, argv.data(), environ) != 0)
      Die("cannot start ledgerd");
    posix_spawn_file_actions_destroy(&actions);
    for (int i = 0; i < 600 && port_ == 0; ++i) {  // At most 30 s to start.
      std::ifstream in(port_file);
      if (!(in >> port_)) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    if (port_ == 0) Die("ledgerd did not start; its log: " + log);
  }
  ~Server() {
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) fmt::print(stderr, "server_bench: ledgerd exited badly\n");
  }
  std::string address() const { return fmt::format("127.0.0.1:{}", port_); }

 private:
  pid_t pid_ = 0;
  int port_ = 0;
};

struct ClientFigures {
  std::vector<double> latencies_ms;  // One per call.
  uint64_t created = 0, other = 0;
};

// The calls of one client, parsed before the clock starts: its county's payments, call by call.
std::vector<Parsed> Calls(const County& county, int call_events) {
  std::vector<Parsed> calls;
  for (size_t first = 0; first < county.payments.size(); first += call_events) {
    calls.push_back(Parse(county.payments, first, call_events));
  }
  return calls;
}

// A start line for the clients: each connects, then waits until all have.
struct StartLine {
  std::atomic<int> connected{0};
  std::atomic<bool> go{false};
};

// One client: connects as its county's finance officer and sends its calls one after another.
void SendCounty(const std::string& address, const std::string& credential, const std::vector<Parsed>* calls,
                StartLine* start, ClientFigures* out) {
  std::unique_ptr<ledgerd::Client> c;
  Check(ledgerd::Client::Connect(address, credential, &c), "connecting with " + credential);
  start->connected++;
  while (!start->go) std::this_thread::yield();
  for (const Parsed& p : *calls) {
    auto t0 = Clock::now();
    auto request = c->session().appendRequest();
    auto events = request.initEvents(static_cast<unsigned>(p.owned.size()));
    for (size_t i = 0; i < p.owned.size(); ++i) {
      events.setWithCaveats(static_cast<unsigned>(i), p.owned[i]->getRoot<ledger::schema::Event>().asReader());
    }
    auto response = request.send().wait(c->wait_scope());
    out->latencies_ms.push_back(SecondsSince(t0) * 1e3);
    for (auto outcome : response.getOutcomes()) {
      (outcome.getStatus() == ledgerd::rpc::AppendStatus::CREATED ? out->created : out->other) += 1;
    }
  }
}

struct RunFigures {
  int clients = 0, call_events = 0;
  uint64_t events = 0, created = 0, other = 0;
  double seconds = 0, p50_ms = 0, p99_ms = 0, max_ms = 0;
};

double Percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<size_t>(q * static_cast<double>(v.size())))];
}

RunFigures RunClients(const Options& o, const std::string& template_dir, const std::vector<County>& counties,
                      int clients, int call_events) {
  const std::string dir = fmt::format("{}/served-{}-{}", o.dir, clients, call_events);
  Run(fmt::format("rm -rf '{}' && cp -a '{}' '{}'", dir, template_dir, dir));
  std::vector<std::string> credentials;
  for (int i = 0; i < clients; ++i) {
    credentials.push_back(fmt::format("{}/{}.cred", o.dir, counties[i].actor));
    Run(fmt::format("'{}' credential issue --dir '{}' --actor '{}' --out '{}' >/dev/null", o.ledgerctl, dir,
                    counties[i].actor, credentials.back()));
  }
  std::vector<std::vector<Parsed>> calls;
  for (int i = 0; i < clients; ++i) calls.push_back(Calls(counties[i], call_events));
  Server server(o, dir);
  std::vector<ClientFigures> figures(clients);
  std::vector<std::thread> threads;
  StartLine start;
  for (int i = 0; i < clients; ++i) {
    threads.emplace_back(SendCounty, server.address(), credentials[i], &calls[i], &start, &figures[i]);
  }
  while (start.connected < clients) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  auto t0 = Clock::now();
  start.go = true;
  for (auto& t : threads) t.join();
  RunFigures r{.clients = clients, .call_events = call_events, .seconds = SecondsSince(t0)};
  std::vector<double> all;
  for (const auto& f : figures) {
    all.insert(all.end(), f.latencies_ms.begin(), f.latencies_ms.end());
    r.created += f.created, r.other += f.other;
  }
  r.events = r.created + r.other;
  r.p50_ms = Percentile(all, 0.50), r.p99_ms = Percentile(all, 0.99), r.max_ms = Percentile(all, 1.0);
  return r;
}

std::vector<int> ParseList(const std::string& text) {
  std::vector<int> out;
  for (size_t at = 0; at < text.size();) {
    size_t comma = text.find(',', at);
    out.push_back(std::atoi(text.substr(at, comma - at).c_str()));
    at = comma == std::string::npos ? text.size() : comma + 1;
  }
  return out;
}

Options ParseOptions(int argc, char** argv) {
  Options o;
  std::string self_dir = std::string(argv[0]).substr(0, std::string(argv[0]).rfind('/') + 1);
  o.ledgerd = self_dir + "ledgerd", o.ledgerctl = self_dir + "ledgerctl";
  const char* usage = "(--clients 1,8,32 --call-events 10,100 --households N --dir D --json F)";
  for (int i = 1; i < argc; i += 2) {
    if (i + 1 == argc) Die(fmt::format("{} takes a value {}", argv[i], usage));
    std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--clients")
      o.clients = ParseList(value);
    else if (flag == "--households")
      o.households = std::atoi(value.c_str());
    else if (flag == "--call-events")
      o.call_events = ParseList(value);
    else if (flag == "--dir")
      o.dir = value;
    else if (flag == "--json")
      o.json = value;
    else
      Die(fmt::format("unknown option {} {}", flag, usage));
  }
  auto bad = [](const std::vector<int>& v) { return v.empty() || *std::min_element(v.begin(), v.end()) < 1; };
  if (bad(o.clients) || bad(o.call_events) || o.households < 1) Die("bad options");
  return o;
}

void Report(const Options& o, double embedded_json, double embedded_messages, const std::vector<RunFigures>& runs) {
  std::string json = fmt::format(
      "{{\"households_per_county\":{},\"embedded\":{{\"json_events_per_s\":{:.0f},"
      "\"messages_events_per_s\":{:.0f}}},\"runs\":[",
      o.households, embedded_json, embedded_messages);
  fmt::print(
      "\n| clients | events per call | events | created | events/s | ack p50 / p99 / max | ratio to embedded "
      "JSON | target (32 clients) |\n");
  fmt::print("|---|---|---|---|---|---|---|---|\n");
  for (size_t i = 0; i < runs.size(); ++i) {
    const RunFigures& r = runs[i];
    const double rate = r.events / r.seconds, ratio = rate / embedded_json;
    const bool last = r.clients == 32;
    fmt::print("| {} | {} | {} | {} | {:.0f} | {:.1f} / {:.1f} / {:.1f} ms | {:.2f} | {} |\n", r.clients, r.call_events,
               r.events, r.created, rate, r.p50_ms, r.p99_ms, r.max_ms, ratio,
               last ? fmt::format("≥ 2x and p99 ≤ 50 ms: {}", ratio >= 2 && r.p99_ms <= 50 ? "met" : "NOT met") : "");
    json += fmt::format(
        "{}{{\"clients\":{},\"call_events\":{},\"events\":{},\"created\":{},\"seconds\":{:.3f},\"events_per_s\":{:.0f},"
        "\"ack_p50_ms\":{:.2f},\"ack_p99_ms\":{:.2f},\"ack_max_ms\":{:.2f},\"ratio_to_embedded_json\":{:.3f}}}",
        i ? "," : "", r.clients, r.call_events, r.events, r.created, r.seconds, rate, r.p50_ms, r.p99_ms, r.max_ms,
        ratio);
  }
  fmt::print(
      "embedded, the same payment events: {:.0f} ev/s from JSON Lines (parse included), {:.0f} ev/s as "
      "messages\n",
      embedded_json, embedded_messages);
  if (o.json.empty()) return;
  std::ofstream(o.json) << json << "]}\n";
}

}  // namespace

int main(int argc, char** argv) {
  Options o = ParseOptions(argc, argv);
  Run(fmt::format("rm -rf '{}' && mkdir -p '{}'", o.dir, o.dir));
  std::vector<std::string> before;
  std::vector<County> counties = Generate(o, &before);
  const std::string template_dir = o.dir + "/template";
  Check(ledger::Ledger::Create(template_dir), "creating the ledger");
  double parse_s = 0;
  fmt::print(stderr, "server_bench: {} events before the payments, appended embedded\n", before.size());
  AppendEmbedded(template_dir, before, &parse_s);
  std::vector<std::string> payments;  // The largest run's, as the embedded reference appends them.
  for (int i = 0; i < *std::max_element(o.clients.begin(), o.clients.end()); ++i) {
    payments.insert(payments.end(), counties[i].payments.begin(), counties[i].payments.end());
  }
  Run(fmt::format("cp -a '{}' '{}/embedded'", template_dir, o.dir));
  const double append_s = AppendEmbedded(o.dir + "/embedded", payments, &parse_s);
  const double embedded_json = payments.size() / (append_s + parse_s), embedded_messages = payments.size() / append_s;
  std::vector<RunFigures> runs;
  for (int call_events : o.call_events) {
    for (int clients : o.clients) {
      fmt::print(stderr, "server_bench: {} client(s), {} events per call\n", clients, call_events);
      runs.push_back(RunClients(o, template_dir, counties, clients, call_events));
    }
  }
  Report(o, embedded_json, embedded_messages, runs);
  return 0;
}
