// The etcd client (tools/ledgerd/etcd.h) against real etcd members (etcd_cluster.h): the KV, txn,
// lease, compaction and maintenance calls, the request limit, failover when the member in use is
// killed, and the unknown outcome of a write that was sent and not answered.
#include "ledgerd/etcd.h"

#include <doctest/doctest.h>
#include <signal.h>

#include <algorithm>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "etcd_cluster.h"
#include "test_util.h"

namespace {

using ledgerd::etcd::Client;
using ledgerd::etcd::Compare;
using ledgerd::etcd::Op;
using ledgerd::etcd::PrefixEnd;
using ledgerd::etcd::RangeResult;
using ledgerd::etcd::TxnResult;

std::unique_ptr<Client> Connect(const std::vector<std::string>& endpoints, int request_timeout_ms = 3000) {
  std::unique_ptr<Client> client;
  ledger::Status s = Client::Make({endpoints, request_timeout_ms, 500}, &client);
  REQUIRE_MESSAGE(s.ok(), s.ToString());
  return client;
}

#define CHECK_OK(expr)                                                 \
  do {                                                                 \
    ledger::Status check_ok_status = (expr);                           \
    REQUIRE_MESSAGE(check_ok_status.ok(), check_ok_status.ToString()); \
  } while (0)

void Sleep(int ms) {
  std::this_thread::sleep_for(std::chrono::milliseconds(ms));
}

// Retries `f` (at most 15 s) while it fails: for the moments of an election.
template <class F>
ledger::Status Eventually(F&& f) {
  ledger::Status s;
  for (int i = 0; i < 150; ++i) {
    if ((s = f()).ok()) return s;
    Sleep(100);
  }
  return s;
}

}  // namespace

TEST_CASE("etcd: endpoints parsed, PrefixEnd, and nothing sent before a call") {
  std::unique_ptr<Client> client;
  CHECK(Client::Make({{}, 3000, 500}, &client).code() == ledger::Status::Code::kInvalidArgument);
  CHECK(Client::Make({{"https://127.0.0.1:2379"}, 3000, 500}, &client).code() ==
        ledger::Status::Code::kInvalidArgument);
  CHECK(Client::Make({{"127.0.0.1"}, 3000, 500}, &client).code() == ledger::Status::Code::kInvalidArgument);
  CHECK(Client::Make({{"127.0.0.1:70000"}, 3000, 500}, &client).code() == ledger::Status::Code::kInvalidArgument);
  CHECK_OK(Client::Make({{"127.0.0.1:1/", "http://localhost:2"}, 3000, 500}, &client));
  CHECK(client->current_endpoint() == "http://127.0.0.1:1");
  CHECK(PrefixEnd("ab") == "ac");
  CHECK(PrefixEnd(std::string("a\xff", 2)) == "b");
  CHECK(PrefixEnd(std::string("\xff\xff", 2)) == std::string(1, '\0'));
  CHECK(PrefixEnd("") == std::string(1, '\0'));
  // Nothing listens there: an error that names both endpoints, within the deadline.
  auto start = std::chrono::steady_clock::now();
  RangeResult r;
  ledger::Status s = client->Range("k", "", 0, &r);
  CHECK(s.code() == ledger::Status::Code::kIOError);
  CHECK(s.reason().find("127.0.0.1:1") != std::string::npos);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(4));
  CHECK_FALSE(client->outcome_unknown());  // Never connected: a write would not be unknown either.
  CHECK(client->Put("k", "v").code() == ledger::Status::Code::kIOError);
  CHECK_FALSE(client->outcome_unknown());
}

TEST_CASE("etcd: a request above kRequestBytesMax is refused before it is sent") {
  testing::TempDir dir;
  testing::EtcdCluster cluster(dir.path(), 1);
  std::unique_ptr<Client> client = Connect(cluster.endpoints());
  std::string big(ledgerd::etcd::kRequestBytesMax, 'x');
  ledger::Status s = client->Put("big", big);
  CHECK(s.code() == ledger::Status::Code::kInvalidArgument);
  CHECK_MESSAGE(s.reason().find(std::to_string(ledgerd::etcd::kRequestBytesMax)) != std::string::npos, s.reason());
  std::unique_ptr<Client> nowhere = Connect({"127.0.0.1:1"});  // Refused before a connection is tried.
  CHECK(nowhere->Put("big", big).code() == ledger::Status::Code::kInvalidArgument);
  // 1 MiB (1.33 MiB of base64) passes, and reads back byte for byte, binary included.
  std::string value(1024 * 1024, '\0');
  for (size_t i = 0; i < value.size(); ++i) value[i] = static_cast<char>(i * 7 + 1);
  CHECK_OK(client->Put(std::string("bin\0\xff", 5), value));
  RangeResult r;
  CHECK_OK(client->Range(std::string("bin\0\xff", 5), "", 0, &r));
  REQUIRE(r.kvs.size() == 1);
  CHECK(r.kvs[0].value == value);
  CHECK(r.kvs[0].key == std::string("bin\0\xff", 5));
}

TEST_CASE("etcd: put, range, a prefix range with a limit and more, delete range") {
  testing::TempDir dir;
  testing::EtcdCluster cluster(dir.path(), 1);
  std::unique_ptr<Client> client = Connect(cluster.endpoints());
  for (std::string k : {"p/1", "p/2", "p/3", "q/1"}) CHECK_OK(client->Put(k, "v" + k));
  CHECK_OK(client->Put("p/2", ""));  // An empty value is a value.
  RangeResult r;
  CHECK_OK(client->Range("p/1", "", 0, &r));
  REQUIRE(r.kvs.size() == 1);
  CHECK(r.kvs[0].value == "vp/1");
  CHECK(r.kvs[0].version == 1);
  CHECK(r.kvs[0].create_revision == r.kvs[0].mod_revision);
  CHECK(r.revision == 6);
  CHECK_OK(client->Range("p/", PrefixEnd("p/"), 2, &r));
  REQUIRE(r.kvs.size() == 2);
  CHECK(r.more);
  CHECK(r.count == 3);
  CHECK(r.kvs[1].key == "p/2");
  CHECK(r.kvs[1].value == "");
  CHECK(r.kvs[1].version == 2);
  CHECK_OK(client->Range("p/", PrefixEnd("p/"), 0, &r));
  CHECK(r.kvs.size() == 3);
  CHECK_FALSE(r.more);
  CHECK(client->Range("", "", 0, &r).code() == ledger::Status::Code::kInvalidArgument);  // "key is not provided"
  CHECK_OK(client->Range("nothing", "", 0, &r));
  CHECK(r.kvs.empty());
  CHECK(r.count == 0);
  int64_t deleted = -1;
  CHECK_OK(client->DeleteRange("p/", PrefixEnd("p/"), &deleted));
  CHECK(deleted == 3);
  CHECK_OK(client->DeleteRange("p/", PrefixEnd("p/"), &deleted));
  CHECK(deleted == 0);
  std::string zero(1, '\0');
  CHECK_OK(client->Range(zero, zero, 0, &r));  // Every key: etcd refuses an empty key.
  REQUIRE(r.kvs.size() == 1);
  CHECK(r.kvs[0].key == "q/1");
}

TEST_CASE("etcd: txn compare-and-swap, success and failure, and create if absent") {
  testing::TempDir dir;
  testing::EtcdCluster cluster(dir.path(), 1);
  std::unique_ptr<Client> client = Connect(cluster.endpoints());
  // Create if absent: create_revision of a missing key is 0.
  Compare absent{"head", Compare::Target::kCreateRevision, Compare::Result::kEqual, "", 0};
  Op put_head{Op::Kind::kPut, "head", "1", "", 0, 0};
  Op read_head{Op::Kind::kRange, "head", "", "", 0, 0};
  TxnResult t;
  CHECK_OK(client->Txn({absent}, {put_head}, {read_head}, &t));
  CHECK(t.succeeded);
  CHECK(t.ranges.empty());
  int64_t created_at = t.revision;
  CHECK_OK(client->Txn({absent}, {put_head}, {read_head}, &t));  // Exists now: the failure branch.
  CHECK_FALSE(t.succeeded);
  REQUIRE(t.ranges.size() == 1);
  REQUIRE(t.ranges[0].size() == 1);
  CHECK(t.ranges[0][0].value == "1");
  CHECK(t.ranges[0][0].mod_revision == created_at);
  // Compare-and-swap on mod_revision, with the group written and read back in the same txn.
  Compare at{"head", Compare::Target::kModRevision, Compare::Result::kEqual, "", created_at};
  Op put_group{Op::Kind::kPut, "log/1", "group 1", "", 0, 0};
  Op put_head2{Op::Kind::kPut, "head", "2", "", 0, 0};
  Op read_log{Op::Kind::kRange, "log/", "", PrefixEnd("log/"), 0, 0};
  CHECK_OK(client->Txn({at}, {put_group, put_head2, read_log, read_head}, {read_head}, &t));
  CHECK(t.succeeded);
  REQUIRE(t.ranges.size() == 2);
  REQUIRE(t.ranges[0].size() == 1);
  CHECK(t.ranges[0][0].value == "group 1");
  CHECK(t.ranges[1][0].value == "2");
  CHECK_OK(client->Txn({at}, {put_group}, {read_head}, &t));  // The old revision: refused.
  CHECK_FALSE(t.succeeded);
  CHECK(t.ranges[0][0].value == "2");
  // Value, version and the other results.
  Compare value_is_2{"head", Compare::Target::kValue, Compare::Result::kEqual, "2", 0};
  Compare version_above_1{"head", Compare::Target::kVersion, Compare::Result::kGreater, "", 1};
  Compare version_below_2{"head", Compare::Target::kVersion, Compare::Result::kLess, "", 2};
  Compare value_not_2{"head", Compare::Target::kValue, Compare::Result::kNotEqual, "2", 0};
  CHECK_OK(client->Txn({value_is_2, version_above_1}, {}, {}, &t));
  CHECK(t.succeeded);
  CHECK_OK(client->Txn({version_below_2}, {}, {}, &t));
  CHECK_FALSE(t.succeeded);
  CHECK_OK(client->Txn({value_not_2}, {}, {}, &t));
  CHECK_FALSE(t.succeeded);
  // A delete in a txn.
  Op delete_log{Op::Kind::kDeleteRange, "log/", "", PrefixEnd("log/"), 0, 0};
  CHECK_OK(client->Txn({}, {delete_log, read_log}, {}, &t));
  REQUIRE(t.ranges.size() == 1);
  CHECK(t.ranges[0].empty());
}

TEST_CASE("etcd: a key on a lease goes when the lease expires, and stays while kept alive") {
  testing::TempDir dir;
  testing::EtcdCluster cluster(dir.path(), 1);
  std::unique_ptr<Client> client = Connect(cluster.endpoints());
  int64_t kept = 0, dropped = 0, ttl = 0;
  CHECK_OK(client->LeaseGrant(2, &kept, &ttl));
  CHECK(ttl >= 2);
  CHECK_OK(client->LeaseGrant(2, &dropped, &ttl));
  CHECK(kept != dropped);
  CHECK_OK(client->Put("kept", "x", kept));
  CHECK_OK(client->Put("dropped", "x", dropped));
  RangeResult r;
  CHECK_OK(client->Range("kept", "", 0, &r));
  REQUIRE(r.kvs.size() == 1);
  CHECK(r.kvs[0].lease == kept);
  // 4 s: twice the TTL. `kept` is renewed every 500 ms; `dropped` expires.
  for (int i = 0; i < 8; ++i) {
    int64_t left = 0;
    CHECK_OK(client->LeaseKeepAlive(kept, &left));
    CHECK(left > 0);
    Sleep(500);
  }
  CHECK_OK(client->Range("kept", "", 0, &r));
  CHECK(r.kvs.size() == 1);
  CHECK_OK(client->Range("dropped", "", 0, &r));
  CHECK(r.kvs.empty());
  int64_t left = -1;
  CHECK_OK(client->LeaseKeepAlive(dropped, &left));  // Gone: 0, not an error.
  CHECK(left == 0);
  // Revoked: its key goes at once; a second revoke is NotFound, quoting etcd.
  CHECK_OK(client->LeaseRevoke(kept));
  CHECK_OK(client->Range("kept", "", 0, &r));
  CHECK(r.kvs.empty());
  ledger::Status s = client->LeaseRevoke(kept);
  CHECK(s.code() == ledger::Status::Code::kNotFound);
  CHECK_MESSAGE(s.reason().find("etcdserver: requested lease not found") != std::string::npos, s.reason());
  CHECK_FALSE(client->outcome_unknown());
}

TEST_CASE("etcd: compaction, then a read at a compacted revision is refused quoting etcd") {
  testing::TempDir dir;
  testing::EtcdCluster cluster(dir.path(), 1);
  std::unique_ptr<Client> client = Connect(cluster.endpoints());
  CHECK_OK(client->Put("k", "1"));
  RangeResult r;
  CHECK_OK(client->Range("k", "", 0, &r));
  int64_t first = r.revision;
  CHECK_OK(client->Put("k", "2"));
  CHECK_OK(client->Put("k", "3"));
  CHECK_OK(client->RangeAt("k", "", 0, first, &r));
  REQUIRE(r.kvs.size() == 1);
  CHECK(r.kvs[0].value == "1");
  CHECK_OK(client->Compact(first + 1));
  ledger::Status s = client->RangeAt("k", "", 0, first, &r);
  CHECK(s.code() == ledger::Status::Code::kInvalidArgument);
  CHECK_MESSAGE(s.reason().find("etcdserver: mvcc: required revision has been compacted") != std::string::npos,
                s.reason());
  CHECK_OK(client->RangeAt("k", "", 0, first + 1, &r));
  CHECK(r.kvs[0].value == "2");
  s = client->Compact(first);  // Already compacted past it.
  CHECK(s.code() == ledger::Status::Code::kInvalidArgument);
  CHECK_FALSE(client->outcome_unknown());
  CHECK_OK(client->Defragment(cluster.endpoint(0)));
}

TEST_CASE("etcd: a write sent to stopped members reports outcome unknown, and is not retried") {
  testing::TempDir dir;
  testing::EtcdCluster cluster(dir.path(), 1);
  std::unique_ptr<Client> client = Connect(cluster.endpoints(), 700);
  CHECK_OK(client->Put("k", "before"));  // The connection is up and kept.
  cluster.Kill(0, SIGSTOP);
  auto start = std::chrono::steady_clock::now();
  ledger::Status s = client->Put("k", "during");
  auto took = std::chrono::steady_clock::now() - start;
  CHECK(s.code() == ledger::Status::Code::kIOError);
  CHECK_MESSAGE(s.reason().find("outcome unknown") != std::string::npos, s.reason());
  CHECK(client->outcome_unknown());
  CHECK(took < std::chrono::milliseconds(1500));
  TxnResult t;
  Op put{Op::Kind::kPut, "k", "txn", "", 0, 0};
  CHECK(client->Txn({}, {put}, {}, &t).code() == ledger::Status::Code::kIOError);
  CHECK(client->outcome_unknown());
  RangeResult r;  // A read: failed, but its outcome is no question.
  s = client->Range("k", "", 0, &r);
  CHECK(s.code() == ledger::Status::Code::kIOError);
  CHECK_FALSE(client->outcome_unknown());
  cluster.Kill(0, SIGCONT);
  // The stopped member answers the requests it had once it runs: the client reads past them.
  CHECK_OK(Eventually([&] { return client->Range("k", "", 0, &r); }));
  REQUIRE(r.kvs.size() == 1);
  CHECK((r.kvs[0].value == "txn" || r.kvs[0].value == "during" || r.kvs[0].value == "before"));
  CHECK_OK(client->Put("k", "after"));
  CHECK_FALSE(client->outcome_unknown());
}

TEST_CASE("etcd: 3 members, member list and status, the member in use killed, the client goes on") {
  testing::TempDir dir;
  testing::EtcdCluster cluster(dir.path(), 3);
  std::unique_ptr<Client> client = Connect(cluster.endpoints());
  std::vector<ledgerd::etcd::Member> members;
  CHECK_OK(client->MemberList(&members));
  REQUIRE(members.size() == 3);
  std::vector<std::string> endpoints = cluster.endpoints();
  for (const auto& m : members) {
    CHECK(m.id != 0);
    REQUIRE(m.client_urls.size() == 1);
    CHECK(std::count(endpoints.begin(), endpoints.end(), m.client_urls[0]) == 1);
  }
  uint64_t leader = 0;
  for (size_t i = 0; i < 3; ++i) {
    ledgerd::etcd::EndpointStatus status;
    CHECK_OK(client->Status(cluster.endpoint(i), &status));
    CHECK(status.version.starts_with("3."));
    CHECK(status.member_id != 0);
    CHECK(status.leader_id != 0);
    CHECK(status.db_size_bytes > 0);
    CHECK(status.raft_index > 0);
    leader = leader == 0 ? status.leader_id : leader;
    CHECK(status.leader_id == leader);
  }
  CHECK(client->Status("http://127.0.0.1:1", nullptr).code() == ledger::Status::Code::kNotFound);

  // The median of a small compare-and-swap txn (the shape of a replicated group's commit).
  std::vector<double> us;
  TxnResult t;
  int64_t head = 0;
  for (int i = 0; i < 200; ++i) {
    Compare at{"head", Compare::Target::kModRevision, Compare::Result::kEqual, "", head};
    Op group{Op::Kind::kPut, "log/" + std::to_string(i), std::string(200, 'g'), "", 0, 0};
    Op put_head{Op::Kind::kPut, "head", std::to_string(i), "", 0, 0};
    auto start = std::chrono::steady_clock::now();
    CHECK_OK(client->Txn({at}, {group, put_head}, {}, &t));
    us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start).count());
    REQUIRE(t.succeeded);
    head = t.revision;
  }
  std::sort(us.begin(), us.end());
  MESSAGE("txn latency on 3 members: median " << us[us.size() / 2] << " us, p99 " << us[us.size() * 99 / 100]
                                              << " us, max " << us.back() << " us");

  // SIGKILL the member in use: reads and writes go on through the others.
  size_t victim = cluster.IndexOf(client->current_endpoint());
  cluster.Kill(victim, SIGKILL);
  RangeResult r;
  CHECK_OK(Eventually([&] { return client->Range("head", "", 0, &r); }));
  CHECK(r.kvs[0].value == "199");
  CHECK(client->current_endpoint() != cluster.endpoint(victim));
  CHECK_OK(Eventually([&] { return client->Put("after-kill", "1"); }));
  CHECK_FALSE(client->outcome_unknown());
  // Back on its data directory, it catches up.
  cluster.Restart(victim);
  std::unique_ptr<Client> direct = Connect({cluster.endpoint(victim)});
  CHECK_OK(Eventually([&] {
    ledger::Status s = direct->Range("after-kill", "", 0, &r);
    return s.ok() && r.kvs.size() != 1 ? ledger::Status::NotFound("not yet") : s;
  }));
}

TEST_CASE("etcd: 3 members, a hung follower in use, reads fail over within the deadline, then the leader killed") {
  testing::TempDir dir;
  testing::EtcdCluster cluster(dir.path(), 3);
  std::unique_ptr<Client> probe = Connect(cluster.endpoints());
  std::vector<uint64_t> ids(3);
  uint64_t leader_id = 0;
  for (size_t i = 0; i < 3; ++i) {
    ledgerd::etcd::EndpointStatus status;
    CHECK_OK(probe->Status(cluster.endpoint(i), &status));
    ids[i] = status.member_id;
    leader_id = status.leader_id;
  }
  size_t leader = std::find(ids.begin(), ids.end(), leader_id) - ids.begin();
  REQUIRE(leader < 3);
  size_t follower = (leader + 1) % 3, other = (leader + 2) % 3;
  // The client starts on the follower, which then hangs (SIGSTOP): a read waits at most half of
  // its deadline there, then is answered by the next member.
  std::unique_ptr<Client> client =
      Connect({cluster.endpoint(follower), cluster.endpoint(other), cluster.endpoint(leader)}, 2000);
  CHECK_OK(client->Put("k", "1"));
  cluster.Kill(follower, SIGSTOP);
  RangeResult r;
  auto start = std::chrono::steady_clock::now();
  CHECK_OK(client->Range("k", "", 0, &r));
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::milliseconds(2000));
  CHECK(r.kvs.size() == 1);
  CHECK(client->current_endpoint() == cluster.endpoint(other));
  int64_t left = 0, lease = 0, ttl = 0;
  CHECK_OK(client->LeaseGrant(5, &lease, &ttl));
  CHECK_OK(client->LeaseKeepAlive(lease, &left));
  CHECK(left > 0);
  // The leader killed too: one member of three left running, no quorum. A write sent is refused
  // by etcd or unknown, never reported done.
  cluster.Kill(leader, SIGKILL);
  ledger::Status s = client->Put("k", "2");
  CHECK_FALSE(s.ok());
  MESSAGE("a write without quorum: " << s.ToString());
  // The hung follower back: a quorum of two, a new leader, writes go on.
  cluster.Kill(follower, SIGCONT);
  CHECK_OK(Eventually([&] { return client->Put("k", "3"); }));
  CHECK_OK(client->Range("k", "", 0, &r));
  CHECK(r.kvs[0].value == "3");
}
