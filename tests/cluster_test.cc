// A replicated ledger (ledgerd --etcd, issue 18) end to end: three etcd members and three ledgerd
// nodes on 127.0.0.1 (tests/etcd_cluster.h, tests/ledgerd_server.h), every process stopped by
// the test by its pid. Each test runs a steady load of concurrent writers (4 caseworkers, calls of
// 10 events) that find the leader in etcd, resend a call that failed (the same event ids: a
// resent event that is in the ledger already is "exists"), and remember every event acknowledged.
// Then it breaks something: SIGKILL of the leader; SIGSTOP of the leader past its lease, then
// SIGCONT; SIGKILL of an etcd member and of a follower that is restarted; a flipped byte in a
// follower's RocksDB. At the end every node still up is stopped and its directory opened: every
// acknowledged event is in every copy exactly once at the seq it was acknowledged with, each copy
// verifies, and all heads are the same entry.
#include <capnp/message.h>
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <signal.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "benefit_ledger/events.h"
#include "ledger/core/entry.h"
#include "ledger/core/store.h"
#include "ledger/reports/verify.h"
#include "ledgerd/client.h"
#include "ledgerd/cluster_layout.h"
#include "ledgerd/etcd.h"
#include "ledgerd/wire.h"
#include "tests/etcd_cluster.h"
#include "tests/ledgerd_server.h"
#include "tests/test_util.h"

namespace {

using ledger::Status;
using Outcome = ledger::AppendResult::Outcome;
using namespace std::chrono_literals;
namespace c = ledgerd::cluster;

constexpr const char* kCounty = "341502";
constexpr const char* kTown = "341502001001";
constexpr const char* kLedgerId = "c1";
constexpr int kWriters = 4;

std::string Writer(int i) {
  return fmt::format("cw{:02}", i);
}

double SecondsSince(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

// A householdRegistered of household `household` by `actor`, its member's number unique by `n`
// (month, day and sequence repeat every 3000, the year changes with each 3000; n < 200000).
std::string Registration(const std::string& actor, const std::string& household, int n) {
  std::string body =
      fmt::format("{}{:04}{:02}{:02}{:03}", kCounty, 1930 + n / 3000, 1 + (n / 25) % 12, 1 + n % 25, n % 1000);
  std::string person = testing::IdentityNumber(body.substr(0, 17));
  return testing::EventLine("reg-" + household, household, kTown, actor, 20240105, "householdRegistered",
                            testing::HouseholdMembers({testing::Member(person, "m", "head")}));
}

// Three etcd members, a seed ledger (an administrator, the writers) with a credential per writer,
// and three copies of it, one per node: the members of a cluster start from one directory.
struct Cluster {
  testing::TempDir tmp;
  testing::EtcdCluster etcd{tmp.path(), 3};
  std::map<std::string, std::string> creds;
  std::vector<std::unique_ptr<testing::Server>> nodes{3};

  Cluster() {
    std::string seed = tmp.Sub("seed");
    std::vector<std::string> lines = {
        testing::EventLine("act-admin1", "", kTown, "admin1", 20240102, "actorRegistered",
                           R"("newActorId":"admin1","name":"a","role":"administrator","jurisdiction":"341502")")};
    for (int i = 0; i < kWriters; ++i) {
      lines.push_back(
          testing::ActorRegistered(kTown, "admin1", {.id = Writer(i), .role = "caseworker", .jurisdiction = kCounty}));
    }
    testing::LedgerctlLedger(seed, lines);
    for (int i = 0; i < kWriters; ++i) {
      std::string out = tmp.Sub(Writer(i) + ".cred");
      auto r = testing::RunLedgerctl({"credential", "issue", "--dir", seed, "--actor", Writer(i), "--out", out});
      REQUIRE_MESSAGE(r.exit_code == 0, r.err);
      creds[Writer(i)] = out;
    }
    for (int i = 0; i < 3; ++i) {
      std::filesystem::copy(seed, Dir(i), std::filesystem::copy_options::recursive);
    }
    for (int i = 0; i < 3; ++i) Start(i);
  }
  std::string Dir(int i) const { return tmp.Sub(fmt::format("n{}", i)); }
  std::string Endpoints() const { return fmt::format("{}", fmt::join(etcd.endpoints(), ",")); }
  std::vector<std::string> Args(int i) const {
    return {"--etcd",    Endpoints(),           "--ledger-id",     kLedgerId,
            "--node-id", fmt::format("n{}", i), "--lease-seconds", "2"};
  }
  void Start(int i) { nodes[i] = std::make_unique<testing::Server>(Dir(i), Args(i)); }

  std::unique_ptr<ledgerd::etcd::Client> Etcd() const {
    std::unique_ptr<ledgerd::etcd::Client> client;
    REQUIRE(ledgerd::etcd::Client::Make({etcd.endpoints(), 2000, 300}, &client).ok());
    return client;
  }
  // The node that holds the leader key (-1 if none).
  int Leader() const {
    ledgerd::etcd::RangeResult r;
    if (!Etcd()->Range(c::LeaderKey(c::Prefix(kLedgerId)), "", 0, &r).ok() || r.kvs.empty()) return -1;
    return r.kvs[0].value[1] - '0';  // "n<i> <address>"
  }
  // Waits (at most `seconds`) for a leader other than `not_this` that takes writes.
  int WaitLeader(int not_this, double seconds) {
    auto start = std::chrono::steady_clock::now();
    while (SecondsSince(start) < seconds) {
      int leader = Leader();
      if (leader >= 0 && leader != not_this && nodes[leader] && Writable(leader)) return leader;
      std::this_thread::sleep_for(50ms);
    }
    return -1;
  }
  bool Writable(int i) {
    std::unique_ptr<ledgerd::Client> client;
    if (!ledgerd::Client::Connect(nodes[i]->address(), creds[Writer(0)], &client).ok()) return false;
    bool ok = false;
    KJ_IF_MAYBE (e, kj::runCatchingExceptions([&] {
                   auto r = client->session().whoAmIRequest().send().wait(client->wait_scope());
                   ok = std::string(r.getReplica().cStr()).rfind("leader", 0) == 0;
                 })) {
      (void)e;
    }
    return ok;
  }
  // The members' records in etcd, by node id.
  std::map<std::string, c::MemberRecord> Members() const {
    std::string p = c::MembersPrefix(c::Prefix(kLedgerId));
    ledgerd::etcd::RangeResult r;
    REQUIRE(Etcd()->Range(p, ledgerd::etcd::PrefixEnd(p), 0, &r).ok());
    std::map<std::string, c::MemberRecord> out;
    for (const auto& kv : r.kvs) {
      auto m = c::DecodeMember(kv.value);
      out[m.node] = m;
    }
    return out;
  }
  uint64_t HeadSeq() const {
    ledgerd::etcd::RangeResult r;
    REQUIRE(Etcd()->Range(c::HeadKey(c::Prefix(kLedgerId)), "", 0, &r).ok());
    uint64_t seq = 0;
    ledger::Hash hash{};
    if (!r.kvs.empty()) REQUIRE(c::ParseHead(r.kvs[0].value, &seq, &hash));
    return seq;
  }
  // Waits (at most 20 s) until each running node has recorded the cluster's head as applied.
  void WaitApplied() {
    auto start = std::chrono::steady_clock::now();
    uint64_t head = 0;
    while (SecondsSince(start) < 20) {
      head = HeadSeq();
      auto members = Members();
      bool all = true;
      for (int i = 0; i < 3; ++i) {
        if (nodes[i] && members[fmt::format("n{}", i)].applied_seq != head) all = false;
      }
      if (all) return;
      std::this_thread::sleep_for(100ms);
    }
    FAIL("the running nodes did not apply the cluster's head (seq " << head << ") within 20 s");
  }
};

// The writers: each sends calls of 10 registrations of its own households to the leader, resends
// a call until every event in it is created or exists, and records what was acknowledged.
class Load {
 public:
  explicit Load(Cluster* cluster) : cluster_(cluster) {
    for (int w = 0; w < kWriters; ++w) threads_.emplace_back([this, w] { Run(w); });
  }
  ~Load() { Stop(); }
  void Stop() {
    stop_ = true;
    for (auto& t : threads_) {
      if (t.joinable()) t.join();
    }
  }
  size_t acked() {
    std::lock_guard lock(mu_);
    return acked_.size();
  }
  std::map<std::string, uint64_t> Acked() {
    std::lock_guard lock(mu_);
    return acked_;
  }
  std::vector<std::string> Unexpected() {
    std::lock_guard lock(mu_);
    return unexpected_;
  }
  // Seconds from `t` to the first acknowledgement after it (-1 if none came).
  double FirstAckAfter(std::chrono::steady_clock::time_point t) {
    std::lock_guard lock(mu_);
    for (auto a : ack_times_) {
      if (a > t) return std::chrono::duration<double>(a - t).count();
    }
    return -1;
  }

 private:
  void Run(int w) {
    for (int call = 0; !stop_; ++call) {
      std::vector<std::string> ids, lines;
      for (int k = 0; k < 10; ++k) {
        int n = w * 20000 + call * 10 + k;
        std::string household = fmt::format("W{}-{}", w, call * 10 + k);
        lines.push_back(Registration(Writer(w), household, n));
        ids.push_back("reg-" + household);
      }
      while (!stop_ && !Send(w, ids, lines)) std::this_thread::sleep_for(50ms);
    }
  }
  // One attempt at the leader; true once every event of the call is in the ledger.
  bool Send(int w, const std::vector<std::string>& ids, const std::vector<std::string>& lines) {
    int leader = cluster_->Leader();
    if (leader < 0 || !cluster_->nodes[leader]) return false;
    std::unique_ptr<ledgerd::Client> client;
    if (!ledgerd::Client::Connect(cluster_->nodes[leader]->address(), cluster_->creds[Writer(w)], &client).ok()) {
      return false;
    }
    bool all = false;
    KJ_IF_MAYBE (e, kj::runCatchingExceptions([&] {
                   auto request = client->session().appendRequest();
                   auto events = request.initEvents(static_cast<unsigned>(lines.size()));
                   for (size_t i = 0; i < lines.size(); ++i) {
                     capnp::MallocMessageBuilder m;
                     KJ_REQUIRE(ledger::ParseEventJson(lines[i], &m).ok());
                     events.setWithCaveats(static_cast<unsigned>(i), m.getRoot<ledger::schema::Event>().asReader());
                   }
                   auto response = request.send().wait(client->wait_scope());
                   all = Record(ids, response.getOutcomes());
                 })) {
      (void)e;  // The node died or went away mid-call: resend to the leader.
    }
    return all;
  }
  bool Record(const std::vector<std::string>& ids, capnp::List<ledgerd::rpc::AppendOutcome>::Reader outcomes) {
    std::lock_guard lock(mu_);
    bool all = true;
    for (unsigned i = 0; i < outcomes.size(); ++i) {
      ledger::AppendResult r = ledgerd::FromWire(outcomes[i]);
      if (r.outcome == Outcome::kCreated || r.outcome == Outcome::kExists) {
        auto [it, fresh] = acked_.emplace(ids[i], r.seq);
        if (!fresh && it->second != r.seq) {
          unexpected_.push_back(fmt::format("{} acknowledged at seq {} and at seq {}", ids[i], it->second, r.seq));
        }
        ack_times_.push_back(std::chrono::steady_clock::now());
        continue;
      }
      all = false;
      const std::string& why = r.error.reason();
      // A follower's refusal, a commit the cluster refused (a deposed leader's) or could not
      // confirm, a group dropped with it, a node stopping: resent to the leader.
      bool expected = false;
      for (const char* known : {"not the leader", "not committed", "the cluster's commit failed", "not written",
                                "appends refused", "stopping", "shutting down"}) {
        expected = expected || why.find(known) != std::string::npos;
      }
      refusals_ += why.find("not committed") != std::string::npos;
      if (!expected) unexpected_.push_back(ids[i] + ": " + r.error.ToString());
    }
    return all;
  }

  Cluster* cluster_;
  std::atomic<bool> stop_{false};
  std::vector<std::thread> threads_;
  std::mutex mu_;
  std::map<std::string, uint64_t> acked_;
  std::vector<std::chrono::steady_clock::time_point> ack_times_;
  std::vector<std::string> unexpected_;
  size_t refusals_ = 0;  // Events a deposed leader's fenced commit refused.

 public:
  size_t refusals() {
    std::lock_guard lock(mu_);
    return refusals_;
  }
};

// Stops the nodes still running (SIGTERM: they drain and exit 0), then checks each copy: every
// acknowledged event exactly once, at its seq; verifying; one head for all.
void CheckCopies(Cluster* cluster, Load* load) {
  load->Stop();
  for (const auto& u : load->Unexpected()) FAIL_CHECK(u);
  cluster->WaitApplied();
  auto acked = load->Acked();
  REQUIRE(acked.size() > 100);
  std::optional<ledger::HeadValue> head;
  for (int i = 0; i < 3; ++i) {
    if (!cluster->nodes[i]) continue;
    CHECK(cluster->nodes[i]->Stop(SIGTERM) == 0);
    cluster->nodes[i].reset();
    INFO("node n", i);
    auto copy = testing::OpenLedger(cluster->Dir(i));
    std::map<std::string, uint64_t> seen;  // Event id -> its seq, each entry of the log read.
    for (uint64_t seq = 1; seq <= copy->head().seq; ++seq) {
      std::string bytes;
      REQUIRE(copy->ReadEntry(seq, &bytes).ok());
      ledger::EntryReader entry;
      REQUIRE(entry.Init(bytes).ok());
      auto [it, fresh] = seen.emplace(entry.entry().getEvent().getEventId().cStr(), seq);
      CHECK_MESSAGE(fresh, it->first, " is at seq ", it->second, " and again at seq ", seq);
    }
    size_t missing = 0;
    for (const auto& [id, seq] : acked) missing += !(seen.count(id) && seen[id] == seq);
    CHECK_MESSAGE(missing == 0, missing, " of ", acked.size(), " acknowledged events not at their seq");
    ledger::VerifyReport report;
    REQUIRE(ledger::Verify(*copy, &report).ok());
    CHECK_MESSAGE(report.ok, report.problem);
    if (!head) head = copy->head();
    CHECK(copy->head() == *head);
  }
  MESSAGE(acked.size(), " events acknowledged, head seq ", head ? head->seq : 0);
}

// A copy's entry `seq` with one letter of its event id changed, written into its RocksDB as
// someone with the disk would: the entry still reads; only the chains can tell.
void FlipEntry(const std::string& dir, uint64_t seq) {
  auto copy = testing::OpenLedger(dir);
  std::string bytes;
  REQUIRE(copy->ReadEntry(seq, &bytes).ok());
  ledger::EntryReader entry;
  REQUIRE(entry.Init(bytes).ok());
  std::string id = entry.entry().getEvent().getEventId();
  size_t at = bytes.find(id);
  REQUIRE(at != std::string::npos);
  bytes[at + id.size() - 1] ^= 0x01;
  auto s = copy->store().db()->Put(rocksdb::WriteOptions(), copy->store().cf(ledger::kLog), ledger::SeqKey(seq), bytes);
  REQUIRE(s.ok());
}

}  // namespace

TEST_CASE("cluster: SIGKILL of the leader under load, a new leader within 10 s, nothing acknowledged lost") {
  Cluster cluster;
  int leader = cluster.WaitLeader(-1, 20);
  REQUIRE(leader >= 0);
  Load load(&cluster);
  std::this_thread::sleep_for(1500ms);
  size_t before = load.acked();
  CHECK(before > 0);
  auto killed = std::chrono::steady_clock::now();
  cluster.nodes[leader]->Stop(SIGKILL);
  cluster.nodes[leader].reset();
  int next = cluster.WaitLeader(leader, 10);
  double elected = SecondsSince(killed);
  REQUIRE_MESSAGE(next >= 0, "no new leader within 10 s of the SIGKILL");
  std::this_thread::sleep_for(1500ms);
  double acked_again = load.FirstAckAfter(killed);
  MESSAGE(fmt::format("failover: a new leader {:.2f} s after the SIGKILL, the first acknowledgement after it {:.2f} s",
                      elected, acked_again));
  CHECK(elected < 10);
  CHECK(load.acked() > before);  // The writers go on against the new leader.
  CheckCopies(&cluster, &load);
}

TEST_CASE("cluster: SIGSTOP of the leader past its lease then SIGCONT, the old leader steps down and commits nothing") {
  Cluster cluster;
  int leader = cluster.WaitLeader(-1, 20);
  REQUIRE(leader >= 0);
  Load load(&cluster);
  std::this_thread::sleep_for(1000ms);
  cluster.nodes[leader]->Signal(SIGSTOP);
  int next = cluster.WaitLeader(leader, 10);
  REQUIRE_MESSAGE(next >= 0, "no new leader within 10 s of the SIGSTOP");
  std::this_thread::sleep_for(1000ms);
  cluster.nodes[leader]->Signal(SIGCONT);
  // It finds its lease gone and steps down; what it had in flight meets a compare that fails.
  auto start = std::chrono::steady_clock::now();
  while (SecondsSince(start) < 10 && cluster.nodes[leader]->Log().find("replica_stepped_down") == std::string::npos) {
    std::this_thread::sleep_for(50ms);
  }
  CHECK(cluster.nodes[leader]->Log().find("replica_stepped_down") != std::string::npos);
  MESSAGE(load.refusals(), " events of calls the old leader held were refused by its fenced commit (resent)");
  CHECK(cluster.Leader() == next);
  std::this_thread::sleep_for(1000ms);
  auto members = cluster.Members();
  CHECK(members[fmt::format("n{}", leader)].role == "follower");
  CheckCopies(&cluster, &load);  // It applied the new leader's groups: one history, nothing twice.
}

TEST_CASE("cluster: SIGKILL of an etcd member and of a follower, which is restarted and catches up") {
  Cluster cluster;
  int leader = cluster.WaitLeader(-1, 20);
  REQUIRE(leader >= 0);
  Load load(&cluster);
  std::this_thread::sleep_for(1000ms);
  cluster.etcd.Kill(0, SIGKILL);  // Two of three: still a quorum.
  size_t before = load.acked();
  std::this_thread::sleep_for(1500ms);
  CHECK(load.acked() > before);
  int follower = (leader + 1) % 3;
  cluster.nodes[follower]->Stop(SIGKILL);
  cluster.nodes[follower].reset();
  std::this_thread::sleep_for(1500ms);  // The others go on without it; etcd keeps its groups.
  CHECK(cluster.HeadSeq() > cluster.Members()[fmt::format("n{}", follower)].applied_seq);
  cluster.Start(follower);
  CheckCopies(&cluster, &load);  // Waits until it has applied the head, then compares the copies.
}

TEST_CASE("cluster: a follower whose copy was altered on its disk refuses to apply past it and says where") {
  Cluster cluster;
  int leader = cluster.WaitLeader(-1, 20);
  REQUIRE(leader >= 0);
  {
    Load load(&cluster);
    std::this_thread::sleep_for(1000ms);
  }
  cluster.WaitApplied();
  int follower = (leader + 1) % 3;
  REQUIRE(cluster.nodes[follower]->Stop(SIGTERM) == 0);
  cluster.nodes[follower].reset();
  const uint64_t altered = 12;
  FlipEntry(cluster.Dir(follower), altered);
  testing::Server refused(cluster.Dir(follower), cluster.Args(follower), /*wait_for_port=*/false);
  int status = refused.WaitExit(30);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 3);
  std::string log = refused.Log();
  CHECK(log.find("replica_refused") != std::string::npos);
  CHECK_MESSAGE(log.find(fmt::format("seq {}", altered)) != std::string::npos, log);
  auto record = cluster.Members()[fmt::format("n{}", follower)];
  CHECK(record.role == "refused");
  CHECK_MESSAGE(record.error.find(fmt::format("seq {}", altered)) != std::string::npos, record.error);
  auto before = record.applied_seq;
  // The others go on; the refused copy applied nothing past its head.
  Load load(&cluster);
  std::this_thread::sleep_for(1000ms);
  load.Stop();
  CHECK(cluster.HeadSeq() > before);
  auto copy = testing::OpenLedger(cluster.Dir(follower));
  CHECK(copy->head().seq == before);
}

TEST_CASE("cluster: a group larger than one etcd request is committed in chunks and applied whole") {
  Cluster cluster;
  int leader = cluster.WaitLeader(-1, 20);
  REQUIRE(leader >= 0);
  std::unique_ptr<ledgerd::Client> client;
  REQUIRE(ledgerd::Client::Connect(cluster.nodes[leader]->address(), cluster.creds[Writer(0)], &client).ok());
  constexpr unsigned kEvents = 4000;  // About 1.5 MB of entries: chunks of at most 1 MB.
  {                                   // The request and its answer go before the client (and its event loop).
    auto request = client->session().appendRequest();
    auto events = request.initEvents(kEvents);
    for (unsigned i = 0; i < kEvents; ++i) {
      capnp::MallocMessageBuilder m;
      REQUIRE(ledger::ParseEventJson(Registration(Writer(0), fmt::format("B-{}", i), 100000 + static_cast<int>(i)), &m)
                  .ok());
      events.setWithCaveats(i, m.getRoot<ledger::schema::Event>().asReader());
    }
    auto response = request.send().wait(client->wait_scope());
    REQUIRE(response.getOutcomes().size() == kEvents);
    for (auto o : response.getOutcomes()) REQUIRE(ledgerd::FromWire(o).outcome == Outcome::kCreated);
  }
  client.reset();
  CHECK(cluster.nodes[leader]->Log().find("replica_chunked") != std::string::npos);
  cluster.WaitApplied();
  std::optional<ledger::HeadValue> head;
  for (int i = 0; i < 3; ++i) {
    REQUIRE(cluster.nodes[i]->Stop(SIGTERM) == 0);
    cluster.nodes[i].reset();
    auto copy = testing::OpenLedger(cluster.Dir(i));
    CHECK(copy->head().seq >= kEvents);
    if (!head) head = copy->head();
    CHECK(copy->head() == *head);
  }
}
