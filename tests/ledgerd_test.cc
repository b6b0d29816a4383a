// ledgerd end to end (issue 16): each test makes a ledger with ledgerctl, issues credentials,
// starts the ledgerd binary on 127.0.0.1 with a port the system chooses, talks to it over mutual
// TLS with the client library (tools/ledgerd/client.h), and stops it by its process id. What is
// shown: 32 writers and 8 readers at once with every acknowledged event present once and the
// ledger verifying; an impersonating append refused; an integration actor submitting for others
// within its jurisdiction, recorded as submittedBy; an auditor refused outside its
// jurisdiction and refused any write; garbage on a socket closing that connection only;
// SIGKILL under load then restart losing nothing acknowledged; SIGTERM draining and exiting 0;
// payroll, reconcile, checkpoints, proofs and verify through ledgerctl --server answering what
// ledgerctl --dir answers on an identical copy, with who may do what.
#include <arpa/inet.h>
#include <capnp/message.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <mutex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "benefit_ledger/events.h"
#include "benefit_ledger/ledger.h"
#include "ledgerd/client.h"
#include "ledgerd/tls_ca.h"
#include "ledgerd/wire.h"
#include "testing/history.h"
#include "tests/ledgerd_server.h"
#include "tests/test_util.h"

namespace {

using ledger::Status;
using Outcome = ledger::AppendResult::Outcome;
using namespace std::chrono_literals;
using testing::Server;

constexpr const char* kCounty = "341502";
constexpr const char* kTownIn = "341502001001";   // Inside the auditor's township 341502001.
constexpr const char* kTownOut = "341502002001";  // Outside it.

std::string Writer(int i) {
  return fmt::format("cw{:02}", i);
}

// A householdRegistered by `actor` for household `household` in `region`, its one member's
// identity number made unique by `n`.
std::string Registration(const std::string& actor, const std::string& household, const std::string& region, int n) {
  std::string body =
      fmt::format("{}{:04}{:02}{:02}{:03}", kCounty, 1930 + n / 300, 1 + (n / 25) % 12, 1 + n % 25, n % 1000);
  std::string person = testing::IdentityNumber(body.substr(0, 17));
  return testing::EventLine("reg-" + household, household, region, actor, 20240105, "householdRegistered",
                            testing::HouseholdMembers({testing::Member(person, "m", "head")}));
}

// The ledger of every test: an administrator, 32 caseworkers, an auditor of one township, an
// inspector of the county, and a household inside and one outside the auditor's township.
struct Fixture {
  testing::TempDir tmp;
  std::string dir = tmp.Sub("ledger");
  std::map<std::string, std::string> creds;  // Actor -> credential file.

  Fixture() {
    std::vector<std::string> lines = {
        testing::EventLine("act-admin1", "", kTownIn, "admin1", 20240102, "actorRegistered",
                           R"("newActorId":"admin1","name":"a","role":"administrator","jurisdiction":"341502")")};
    for (int i = 0; i < 32; ++i) {
      lines.push_back(testing::ActorRegistered(kTownIn, "admin1",
                                               {.id = Writer(i), .role = "caseworker", .jurisdiction = kCounty}));
    }
    lines.push_back(
        testing::ActorRegistered(kTownIn, "admin1", {.id = "aud1", .role = "auditor", .jurisdiction = "341502001"}));
    lines.push_back(
        testing::ActorRegistered(kTownIn, "admin1", {.id = "insp1", .role = "inspector", .jurisdiction = kCounty}));
    lines.push_back(Registration("cw00", "H-IN", kTownIn, 9990));
    lines.push_back(Registration("cw00", "H-OUT", kTownOut, 9991));
    testing::LedgerctlLedger(dir, lines);
    for (int i = 0; i < 32; ++i) Issue(Writer(i));
    for (const char* a : {"admin1", "aud1", "insp1"}) Issue(a);
  }
  void Issue(const std::string& actor) {
    std::string out = tmp.Sub(actor + ".cred");
    auto r = testing::RunLedgerctl({"credential", "issue", "--dir", dir, "--actor", actor, "--out", out});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    struct stat st {};
    REQUIRE(::stat(out.c_str(), &st) == 0);
    CHECK((st.st_mode & 0777) == 0600);  // It holds the actor's private key.
    creds[actor] = out;
  }
};

std::unique_ptr<ledgerd::Client> Connect(const Server& server, const std::string& cred) {
  std::unique_ptr<ledgerd::Client> c;
  Status s = ledgerd::Client::Connect(server.address(), cred, &c);
  REQUIRE_MESSAGE(s.ok(), s.ToString());
  return c;
}

// Appends `lines` in one call; throws (kj::Exception) if the call fails.
std::vector<ledger::AppendResult> Append(ledgerd::Client& c, const std::vector<std::string>& lines) {
  auto request = c.session().appendRequest();
  auto events = request.initEvents(static_cast<unsigned>(lines.size()));
  for (size_t i = 0; i < lines.size(); ++i) {
    capnp::MallocMessageBuilder m;
    REQUIRE(ledger::ParseEventJson(lines[i], &m).ok());
    events.setWithCaveats(static_cast<unsigned>(i), m.getRoot<ledger::schema::Event>().asReader());
  }
  auto response = request.send().wait(c.wait_scope());
  std::vector<ledger::AppendResult> out;
  for (auto o : response.getOutcomes()) out.push_back(ledgerd::FromWire(o));
  return out;
}

// What the writers were told: event id -> seq, for every "created".
struct Acked {
  std::mutex mu;
  std::map<std::string, uint64_t> seqs;
  void Add(const std::vector<std::string>& ids, const std::vector<ledger::AppendResult>& results) {
    std::lock_guard lock(mu);
    for (size_t i = 0; i < results.size(); ++i) {
      if (results[i].outcome == Outcome::kCreated) seqs[ids[i]] = results[i].seq;
    }
  }
};

// Writer `w` appends `batches` calls of `per_call` new households (or until `stop`), recording
// what it was told; a broken connection ends it.
void RunWriter(const Server& server, const Fixture& f, int w, int batches, int per_call, Acked* acked,
               std::atomic<bool>* stop, std::atomic<int>* failures) {
  std::unique_ptr<ledgerd::Client> c;
  if (!ledgerd::Client::Connect(server.address(), f.creds.at(Writer(w)), &c).ok()) return (void)++*failures;
  for (int b = 0; b < batches && !stop->load(); ++b) {
    std::vector<std::string> lines, ids;
    for (int j = 0; j < per_call; ++j) {
      std::string h = fmt::format("W{}-{}-{}", w, b, j);
      lines.push_back(Registration(Writer(w), h, kTownIn, (w * batches + b) * per_call + j));
      ids.push_back("reg-" + h);
    }
    std::vector<ledger::AppendResult> results;
    KJ_IF_MAYBE (e, kj::runCatchingExceptions([&] { results = Append(*c, lines); })) {
      ++*failures;
      return;
    }
    acked->Add(ids, results);
  }
}

// After the server is gone: the ledger verifies, and every acknowledged event is at its seq,
// each at a seq of its own.
void CheckAcked(const std::string& dir, const Acked& acked) {
  std::unique_ptr<ledger::Ledger> l;
  REQUIRE(ledger::Ledger::Open(dir, &l).ok());
  capnp::MallocMessageBuilder m;
  auto verify = m.initRoot<ledger::results::VerifyResult>();
  REQUIRE(l->Verify(verify).ok());
  CHECK_MESSAGE(verify.getOk(), verify.getProblem().cStr());
  std::set<uint64_t> seqs;
  size_t missing = 0;
  for (const auto& [id, seq] : acked.seqs) {
    seqs.insert(seq);
    std::string json;
    if (!l->ShowEntry(seq, &json).ok() || json.find(fmt::format(R"("eventId":"{}")", id)) == std::string::npos) {
      ++missing;
    }
  }
  CHECK(missing == 0);
  CHECK(seqs.size() == acked.seqs.size());
}

// Connects as the credential's actor over TLS, sends what is not a Cap'n Proto message, and
// expects the server to close the connection within 10 s.
void SendGarbageOverTls(const Server& server, const std::string& cred_path) {
  ledgerd::Credential cred;
  REQUIRE(ledgerd::ReadCredential(cred_path, &cred).ok());
  auto io = kj::setupAsyncIo();
  kj::TlsKeypair keypair{kj::TlsPrivateKey(cred.key_pem.c_str()), kj::TlsCertificate(cred.cert_pem.c_str())};
  kj::TlsCertificate ca(cred.ca_pem.c_str());
  kj::TlsContext::Options options;
  options.useSystemTrustStore = false;
  options.trustedCertificates = kj::arrayPtr(&ca, 1);
  options.defaultKeypair = keypair;
  kj::TlsContext tls(kj::mv(options));
  auto raw = io.provider->getNetwork().parseAddress(server.address()).wait(io.waitScope)->connect().wait(io.waitScope);
  auto stream = tls.wrapClient(kj::mv(raw), ledgerd::kServerName).wait(io.waitScope);
  const uint32_t header[2] = {0, 0x0fffffff};  // One segment of 2^28 words: over any traversal limit.
  stream->write(header, sizeof header).wait(io.waitScope);
  std::string junk(1024, 'x');
  stream->write(junk.data(), junk.size()).wait(io.waitScope);
  // The server may say why (an RPC abort message) before it closes: read to the end, 10 s at most.
  char buf[256];
  size_t n = 1;
  for (int reads = 0; n > 0 && reads < 100; ++reads) {
    auto read = io.provider->getTimer().timeoutAfter(10 * kj::SECONDS, stream->tryRead(buf, 1, sizeof buf));
    KJ_IF_MAYBE (e, kj::runCatchingExceptions([&] { n = read.wait(io.waitScope); })) {
      CHECK_MESSAGE(e->getType() == kj::Exception::Type::DISCONNECTED, e->getDescription().cStr());
      n = 0;  // A reset is a close too; a timeout is not.
    }
  }
  CHECK(n == 0);
}

// The most append calls the server's log shows merged into one group ("event":"group").
int MostCallsInOneGroup(const std::string& log) {
  int most = 0;
  const std::string key = R"("event":"group","jobs":)";
  for (size_t at = log.find(key); at != std::string::npos; at = log.find(key, at + 1)) {
    most = std::max(most, std::atoi(log.c_str() + at + key.size()));
  }
  return most;
}

}  // namespace

TEST_CASE("ledgerd: 32 writers and 8 readers at once, every acknowledged event there once, and it verifies") {
  Fixture f;
  Server server(f.dir);
  Acked acked;
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0}, reads{0}, read_failures{0};
  constexpr int kBatches = 10, kPerCall = 5;
  std::vector<std::thread> threads;
  for (int w = 0; w < 32; ++w) {
    threads.emplace_back([&, w] { RunWriter(server, f, w, kBatches, kPerCall, &acked, &stop, &failures); });
  }
  std::atomic<bool> writers_done{false};
  std::vector<std::thread> readers;
  for (int r = 0; r < 8; ++r) {
    readers.emplace_back([&, r] {
      auto c = Connect(server, f.creds.at(r % 2 ? "aud1" : "insp1"));
      do {  // At least one read each, however fast the writers are.
        auto request = c->session().rollRequest();
        request.setAsOf(20240301);
        auto response = request.send().wait(c->wait_scope());
        (response.hasFailure() ? read_failures : reads)++;
      } while (!writers_done.load());
    });
  }
  for (auto& t : threads) t.join();
  writers_done = true;
  for (auto& t : readers) t.join();
  CHECK(failures == 0);
  CHECK(read_failures == 0);
  CHECK(reads >= 8);
  CHECK(acked.seqs.size() == 32 * kBatches * kPerCall);
  int status = server.Stop(SIGTERM);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  // Group commit: the writer merged calls of several connections into one synced write.
  CHECK(MostCallsInOneGroup(server.Log()) > 1);
  CheckAcked(f.dir, acked);
}

namespace {

// GET `path` from 127.0.0.1:`port` over plain HTTP; the whole response, headers included.
std::string HttpGet(int port, const std::string& path) {
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  std::string request = "GET " + path + " HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n";
  REQUIRE(::write(fd, request.data(), request.size()) == static_cast<ssize_t>(request.size()));
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  // Read the headers, then Content-Length bytes of body (the server may keep the connection open).
  std::string response;
  char buf[4096];
  size_t want = std::string::npos;
  while (want == std::string::npos || response.size() < want) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    response.append(buf, static_cast<size_t>(n));
    size_t end = response.find("\r\n\r\n"), length = response.find("Content-Length: ");
    if (end != std::string::npos && length != std::string::npos && length < end) {
      want = end + 4 + std::stoul(response.substr(length + 16));
    }
  }
  ::close(fd);
  return response;
}

// The port the server's log says its metrics listen on.
int MetricsPort(const Server& server) {
  std::string log = server.Log();
  const std::string key = R"("event":"metrics_listening","port":)";
  REQUIRE(log.find(key) != std::string::npos);
  return std::atoi(log.c_str() + log.find(key) + key.size());
}

// The value of metric `name` (a line "name value") in a /metrics response; "" if absent.
std::string Metric(const std::string& text, const std::string& name) {
  size_t at = text.find("\n" + name + " ");
  if (at == std::string::npos) return "";
  at += name.size() + 2;
  return text.substr(at, text.find('\n', at) - at);
}

}  // namespace

TEST_CASE("ledgerd: a queue smaller than what 16 writers send parks their calls, and drops nothing") {
  Fixture f;
  Server server(f.dir, {"--queue-events", "10", "--max-events-per-call", "5", "--metrics-listen", "127.0.0.1:0"});
  Acked acked;
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < 16; ++w) {
    threads.emplace_back([&, w] { RunWriter(server, f, w, 8, 5, &acked, &stop, &failures); });
  }
  for (auto& t : threads) t.join();
  CHECK(failures == 0);
  CHECK(acked.seqs.size() == 16 * 8 * 5);
  // No group holds more than the queue: at most two calls of five events; the others waited.
  CHECK(MostCallsInOneGroup(server.Log()) <= 2);
  std::string parked = Metric(HttpGet(MetricsPort(server), "/metrics"), "ledgerd_parked_calls_total");
  CHECK(std::stoi(parked) > 0);
  CHECK(server.Stop(SIGTERM) == 0);
  CheckAcked(f.dir, acked);
}

TEST_CASE("ledgerd: impersonation refused, and an auditor reads only its jurisdiction and writes nothing") {
  Fixture f;
  Server server(f.dir);
  auto cw = Connect(server, f.creds.at("cw00"));
  // cw00 sends an event as cw01, and one of its own: the first is refused, the second created.
  auto results = Append(*cw, {Registration("cw01", "H-IMP", kTownIn, 1), Registration("cw00", "H-OWN", kTownIn, 2)});
  REQUIRE(results.size() == 2);
  CHECK(results[0].outcome == Outcome::kRejected);
  CHECK(results[0].error.field() == "actorId");
  CHECK(results[0].error.reason().find("authenticated as \"cw00\"") != std::string::npos);
  CHECK(results[1].outcome == Outcome::kCreated);
  // Binary events are held to what JSON input is: a name with a NUL in it is refused, naming it.
  {
    auto request = cw->session().appendRequest();
    capnp::MallocMessageBuilder m;
    REQUIRE(ledger::ParseEventJson(Registration("cw00", "H-NUL", kTownIn, 5), &m).ok());
    m.getRoot<ledger::schema::Event>().getHouseholdRegistered().getMembers()[0].setName(capnp::Text::Reader("a\0b", 3));
    request.initEvents(1).setWithCaveats(0, m.getRoot<ledger::schema::Event>().asReader());
    auto outcome = ledgerd::FromWire(request.send().wait(cw->wait_scope()).getOutcomes()[0]);
    CHECK(outcome.outcome == Outcome::kRejected);
    CHECK(outcome.error.field() == "householdRegistered.members[0].name");
    CHECK(outcome.error.reason().find("NUL") != std::string::npos);
  }

  auto aud = Connect(server, f.creds.at("aud1"));
  auto who = aud->session().whoAmIRequest().send().wait(aud->wait_scope());
  CHECK(std::string(who.getActorId()) == "aud1");
  CHECK(who.getRole() == ledger::schema::Role::AUDITOR);
  // No write, not even its own event.
  auto own = Append(*aud, {Registration("aud1", "H-AUD", kTownIn, 3)});
  CHECK(own[0].outcome == Outcome::kRejected);
  CHECK(own[0].error.reason().find("auditors and inspectors read, never write") != std::string::npos);
  auto replay = [&](const char* household) {
    auto request = aud->session().replayRequest();
    request.setHousehold(household);
    auto r = request.send().wait(aud->wait_scope());
    return r.hasFailure() ? ledgerd::FromWire(r.getFailure()) : Status::Ok();
  };
  CHECK(replay("H-IN").ok());
  Status out = replay("H-OUT");
  CHECK(out.field() == "household");
  CHECK(out.reason().find("outside actor \"aud1\"'s jurisdiction 341502001") != std::string::npos);
  // A report over the county is wider than the township: refused; over its own township, served.
  auto roll = [&](const char* region) {
    auto request = aud->session().rollRequest();
    request.initFilter().setRegionPrefix(region);
    request.setAsOf(20240301);
    auto r = request.send().wait(aud->wait_scope());
    return r.hasFailure() ? ledgerd::FromWire(r.getFailure()) : Status::Ok();
  };
  CHECK(roll("341502").field() == "region");
  CHECK(roll("3415020019").reason().find("not a region prefix") != std::string::npos);
  CHECK(roll("").ok());
  CHECK(roll("341502001").ok());
  CHECK(server.Stop(SIGTERM) == 0);
  CHECK(server.Log().find("\"event\":\"append_refused\"") != std::string::npos);
  // An unknown actor gets no credential (issued with the server stopped: it holds the ledger).
  auto r = testing::RunLedgerctl(
      {"credential", "issue", "--dir", f.dir, "--actor", "nobody", "--out", f.tmp.Sub("nobody.cred")});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("not registered") != std::string::npos);
}

// An approval of case C-IN of household H-IN (1 member, 200 yuan of income: 750 - 200 = 550
// yuan a month) by `actor`, as event `id` in `household`.
std::string Approval(const std::string& id, const std::string& household, const std::string& actor) {
  return testing::EventLine(id, household, kTownIn, actor, 20240126, "approval",
                            R"("caseId":"C-IN","programme":"urban_dibao","monthlyAmountFen":55000,"membersCovered":1,)"
                            R"("firstPeriod":202402,"reviewDueDate":20250126)");
}

// The fixture's ledger with a township reviewer, a county approver, an integration actor (the
// bureau's MIS) of township 341502001, an urban 低保 standard, and case C-IN of household H-IN
// taken lawfully up to its approval (the policy is enforce).
void AddIntegration(Fixture& f) {
  auto line = [](const char* id, const char* actor, uint32_t date, const char* kind, const char* body) {
    return testing::EventLine(id, "H-IN", kTownIn, actor, date, kind, body);
  };
  std::vector<std::string> lines = {
      testing::ActorRegistered(kTownIn, "admin1",
                               {.id = "tr1", .role = "townshipReviewer", .jurisdiction = "341502001"}),
      testing::ActorRegistered(kTownIn, "admin1", {.id = "ca1", .role = "countyApprover", .jurisdiction = kCounty}),
      testing::ActorRegistered(kTownIn, "admin1", {.id = "mis1", .role = "integration", .jurisdiction = "341502001"}),
      testing::EventLine("std-1", "", kTownIn, "admin1", 20240103, "standardChanged",
                         R"("regionPrefix":"341502","programme":"urban_dibao","amountFen":75000,)"
                         R"("unit":"perPersonPerMonth","effectiveDate":20240101)"),
      line("in-app", "cw00", 20240108, "applicationSubmitted",
           R"("caseId":"C-IN","programme":"urban_dibao","declaredMonthlyIncomeFen":20000,"relativeOfStaff":false)"),
      line("in-chk", "cw00", 20240110, "economicCheckRecorded",
           R"("caseId":"C-IN","perCapitaMonthlyIncomeFen":20000,"assetsWithinLimit":true,"secondActorId":"cw01")"),
      line("in-vis", "cw00", 20240112, "homeVisitRecorded",
           R"("caseId":"C-IN","secondActorId":"cw01","countyLevel":false,"findings":"x")"),
      line("in-rev", "tr1", 20240115, "townshipReview", R"("caseId":"C-IN","outcome":"pass","note":"ok")"),
      line("in-ntc", "tr1", 20240116, "publicNoticePosted",
           R"("caseId":"C-IN","fromDate":20240116,"toDate":20240122,"place":"p")")};
  std::string input;
  for (const auto& l : lines) input += l + "\n";
  auto r = testing::RunLedgerctl({"append", "--dir", f.dir}, input);
  REQUIRE_MESSAGE(r.exit_code == 0, r.out, r.err);
  f.Issue("mis1");
}

TEST_CASE("ledgerd: an integration actor submits other actors' events in its jurisdiction, recorded as submittedBy") {
  Fixture f;
  AddIntegration(f);
  Server server(f.dir);
  auto mis = Connect(server, f.creds.at("mis1"));
  auto results = Append(*mis, {Approval("in-apr", "H-IN", "ca1"), Approval("out-apr", "H-OUT", "ca1"),
                               Registration("mis1", "H-MIS", kTownIn, 1), Registration("ghost", "H-GH", kTownIn, 2),
                               Approval("in-apr2", "H-IN", "cw01")});
  REQUIRE(results.size() == 5);
  // For the county approver, in its township: created.
  REQUIRE_MESSAGE(results[0].outcome == Outcome::kCreated, results[0].error.ToString());
  // H-OUT is in township 341502002: outside its jurisdiction, though inside the approver's.
  CHECK(results[1].outcome == Outcome::kRejected);
  CHECK(results[1].error.field() == "submittedBy");
  CHECK(results[1].error.reason() ==
        "refused: region 341502002001 is outside integration actor \"mis1\"'s jurisdiction 341502001");
  // It records nothing as itself.
  CHECK(results[2].outcome == Outcome::kRejected);
  CHECK(results[2].error.field() == "actor.role");
  CHECK(results[2].error.reason().find("an integration actor") != std::string::npos);
  // Nor for an actor the ledger does not know.
  CHECK(results[3].outcome == Outcome::kRejected);
  CHECK(results[3].error.field() == "actorId");
  CHECK(results[3].error.reason().find("\"ghost\" is not registered") != std::string::npos);
  // The named actor's own role is checked as for its own events: a caseworker does not approve.
  CHECK(results[4].outcome == Outcome::kRejected);
  CHECK(results[4].error.field() == "actor.role");
  CHECK(results[4].error.reason().find("a caseworker may not record approval") != std::string::npos);

  // A caseworker still appends only as itself; its own event records it as the submitter.
  auto cw = Connect(server, f.creds.at("cw00"));
  auto mine = Append(*cw, {Registration("cw01", "H-IMP", kTownIn, 3), Registration("cw00", "H-OWN", kTownIn, 4)});
  CHECK(mine[0].outcome == Outcome::kRejected);
  CHECK(mine[0].error.field() == "actorId");
  CHECK(mine[0].error.reason().find("authenticated as \"cw00\"") != std::string::npos);
  REQUIRE(mine[1].outcome == Outcome::kCreated);

  auto show = [&](ledgerd::Client& c, uint64_t seq) {
    auto request = c.session().showRequest();
    request.setSeq(seq);
    auto response = request.send().wait(c.wait_scope());
    REQUIRE_FALSE(response.hasFailure());
    return std::string(response.getJson());
  };
  std::string approval = show(*mis, results[0].seq);
  CHECK(approval.find(R"("submittedBy":"mis1")") != std::string::npos);
  CHECK(approval.find(R"("actorId":"ca1")") != std::string::npos);
  CHECK(show(*cw, mine[1].seq).find(R"("submittedBy":"cw00")") != std::string::npos);
  CHECK(server.Stop(SIGTERM) == 0);

  // On the ledger directory: no submitter, in show; the trace says who submitted the approval.
  auto local = testing::RunLedgerctl({"append", "--dir", f.dir}, Registration("cw00", "H-DIR", kTownIn, 5) + "\n");
  REQUIRE_MESSAGE(local.exit_code == 0, local.out);
  auto shown = testing::RunLedgerctl({"show", "--dir", f.dir, "--seq", testing::JsonMember(local.out, "seq")});
  CHECK(shown.out.find("\"actorId\":\"cw00\"") != std::string::npos);
  CHECK(shown.out.find("submittedBy") == std::string::npos);
  auto trace = testing::RunLedgerctl({"trace", "--dir", f.dir, "--household", "H-IN", "--format", "json"});
  CHECK(trace.out.find(fmt::format(
            R"("approved":{{"date":"2024-01-26","actors":["ca1"],"seq":{},"submittedBy":"mis1"}})", results[0].seq)) !=
        std::string::npos);
  CHECK(trace.out.find(R"("actors":["tr1"],"seq":)") != std::string::npos);
}

TEST_CASE("ledgerd: garbage on a socket, or too many events in a call, harms no other connection") {
  Fixture f;
  Server server(f.dir, {"--max-events-per-call", "10"});
  auto c = Connect(server, f.creds.at("cw00"));
  for (int attempt = 0; attempt < 2; ++attempt) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(server.port()));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
    std::string garbage(4096, '\0');
    for (size_t i = 0; i < garbage.size(); ++i) garbage[i] = static_cast<char>((i * 2654435761u) >> 13);
    if (attempt == 1) garbage.replace(0, 5, "\x16\x03\x01\xff\xff");  // A TLS record header, then nonsense.
    CHECK(::write(fd, garbage.data(), garbage.size()) > 0);
    timeval tv{10, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    char buf[256];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) {
    }
    CHECK(n == 0);  // Closed by the server (not a timeout).
    ::close(fd);
  }
  // Inside an authenticated TLS session: a message whose segment table claims 2 GiB, then
  // bytes that are no message. The server drops that connection (logged), and no other.
  std::thread([&] { SendGarbageOverTls(server, f.creds.at("cw01")); }).join();  // Its own event loop.
  // More events than --max-events-per-call: the call fails, naming the limit; the connection lives.
  std::vector<std::string> many;
  for (int i = 0; i < 11; ++i) many.push_back(Registration("cw00", fmt::format("H-M{}", i), kTownIn, 100 + i));
  std::string error;
  KJ_IF_MAYBE (e, kj::runCatchingExceptions([&] { Append(*c, many); })) {
    error = e->getDescription().cStr();
  }
  CHECK(error.find("--max-events-per-call") != std::string::npos);
  auto after = Append(*c, {Registration("cw00", "H-AFTER", kTownIn, 200)});
  CHECK(after[0].outcome == Outcome::kCreated);
  CHECK(server.Stop(SIGTERM) == 0);
  CHECK(server.Log().find("\"event\":\"connection_closed\"") != std::string::npos);
}

TEST_CASE("ledgerd: SIGKILL under load, restart: every acknowledged event is there and the chain verifies") {
  Fixture f;
  Acked acked;
  {
    Server server(f.dir);
    std::atomic<bool> stop{false};
    std::atomic<int> failures{0};
    std::vector<std::thread> threads;
    for (int w = 0; w < 8; ++w) {
      threads.emplace_back([&, w] { RunWriter(server, f, w, 1000, 5, &acked, &stop, &failures); });
    }
    std::this_thread::sleep_for(1500ms);
    server.Stop(SIGKILL);
    stop = true;
    for (auto& t : threads) t.join();
    CHECK(!acked.seqs.empty());
  }
  {
    Server again(f.dir);  // Restarts on the same ledger.
    auto c = Connect(again, f.creds.at("cw00"));
    auto more = Append(*c, {Registration("cw00", "H-RESTART", kTownIn, 9000)});
    CHECK(more[0].outcome == Outcome::kCreated);
    CHECK(again.Stop(SIGTERM) == 0);
  }
  CheckAcked(f.dir, acked);
}

TEST_CASE("ledgerd: SIGTERM drains: what was acknowledged is there, and it exits 0") {
  Fixture f;
  Acked acked;
  Server server(f.dir);
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  for (int w = 0; w < 8; ++w) {
    threads.emplace_back([&, w] { RunWriter(server, f, w, 1000, 5, &acked, &stop, &failures); });
  }
  std::this_thread::sleep_for(1000ms);
  int status = server.Stop(SIGTERM);
  stop = true;
  for (auto& t : threads) t.join();
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
  CHECK(!acked.seqs.empty());
  CHECK(server.Log().find("\"event\":\"stopped\"") != std::string::npos);
  CheckAcked(f.dir, acked);
}

TEST_CASE("ledgerctl --server prints what ledgerctl --dir prints, and appends as the credential's actor") {
  testing::TempDir tmp;
  const std::string dir = tmp.Sub("ledger");
  std::vector<std::string> lines = testing::ReadDataLines("every_kind.jsonl");
  lines.push_back(testing::ActorRegistered(kTownIn, "cw1", {.id = "aud0", .role = "auditor", .jurisdiction = kCounty}));
  lines.push_back(
      testing::ActorRegistered(kTownIn, "cw1", {.id = "cwS", .role = "caseworker", .jurisdiction = kCounty}));
  testing::LedgerctlLedger(dir, lines, "record");
  for (const char* actor : {"aud0", "cwS"}) {
    auto r = testing::RunLedgerctl(
        {"credential", "issue", "--dir", dir, "--actor", actor, "--out", tmp.Sub(std::string(actor) + ".cred")});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  }
  const std::vector<std::vector<std::string>> commands = {
      {"show", "--seq", "5"},
      {"replay", "--household", "H1"},
      {"replay", "--household", "H1", "--format", "json"},
      {"replay", "--household", "H1", "--format", "entries"},
      {"roll", "--as-of", "20241231"},
      {"reviews", "--as-of", "20241231", "--due-by", "20251231", "--format", "csv"},
      {"totals", "--from", "202401", "--to", "202412"},
      {"trace", "--household", "H1", "--format", "jsonl"},
      {"trace", "--region", "341502001"},
      {"recoveries", "--region", "341502"},
      {"recoveries", "--household", "H1", "--format", "json"},
  };
  std::vector<testing::RunResult> local;
  for (auto c : commands) {
    c.insert(c.begin() + 1, {"--dir", dir});
    local.push_back(testing::RunLedgerctl(c));
    REQUIRE_MESSAGE(local.back().exit_code == 0, local.back().err);
  }
  Server server(dir);
  auto remote = [&](const char* actor, std::vector<std::string> c, const std::string& input = "") {
    c.insert(c.begin(), {"--server", server.address(), "--credential", tmp.Sub(std::string(actor) + ".cred")});
    return testing::RunLedgerctl(c, input);
  };
  for (size_t i = 0; i < commands.size(); ++i) {
    auto r = remote("aud0", commands[i]);
    CAPTURE(commands[i][0]);
    CHECK(r.exit_code == 0);
    CHECK(r.out == local[i].out);
  }
  auto verify = remote("aud0", {"verify"});
  CHECK(verify.exit_code == 0);
  CHECK(verify.out.rfind("ok: ", 0) == 0);
  // Appending: created, then exists on resending; another actor's event is refused.
  std::string mine = Registration("cwS", "H-CLI", kTownIn, 42), theirs = Registration("cw1", "H-CLI2", kTownIn, 43);
  auto first = remote("cwS", {"append"}, mine + "\n");
  CHECK(first.exit_code == 0);
  CHECK(first.out.find(R"({"line":1,"status":"created","eventId":"reg-H-CLI","seq":)") == 0);
  auto again = remote("cwS", {"append"}, mine + "\n" + theirs + "\n");
  CHECK(again.exit_code == 1);
  CHECK(again.out.find(R"({"line":1,"status":"exists","eventId":"reg-H-CLI","seq":)") == 0);
  CHECK(again.out.find(R"({"line":2,"status":"error","eventId":"reg-H-CLI2","field":"actorId","reason":"refused: )") !=
        std::string::npos);
  // What the server does not serve yet says so; an auditor may not append.
  CHECK(remote("aud0", {"rebuild"}).err.find("not available with --server") != std::string::npos);
  CHECK(remote("aud0", {"append"}, Registration("aud0", "H-A", kTownIn, 44) + "\n").out.find("never write") !=
        std::string::npos);
  CHECK(server.Stop(SIGTERM) == 0);
  // What went in as binary is what JSON makes: the same line appended locally is there already.
  auto local_again = testing::RunLedgerctl({"append", "--dir", dir}, mine + "\n");
  CHECK(local_again.out.find(R"({"line":1,"status":"exists","eventId":"reg-H-CLI","seq":)") == 0);
}

TEST_CASE("ledgerd: a deactivated actor is cut off at once, its open connection too, and gets no credential") {
  Fixture f;
  {
    Server server(f.dir);
    auto cw = Connect(server, f.creds.at("cw05"));
    REQUIRE(Append(*cw, {Registration("cw05", "H-D1", kTownIn, 1)})[0].outcome == Outcome::kCreated);
    auto admin = Connect(server, f.creds.at("admin1"));
    auto off = Append(*admin, {testing::EventLine("off-cw05", "", kTownIn, "admin1", 20240301, "actorDeactivated",
                                                  R"("targetActorId":"cw05","reason":"retired")")});
    REQUIRE_MESSAGE(off[0].outcome == Outcome::kCreated, off[0].error.ToString());
    // cw05's connection, opened before, is closed: its next call fails.
    std::string error;
    KJ_IF_MAYBE (e, kj::runCatchingExceptions([&] { Append(*cw, {Registration("cw05", "H-D2", kTownIn, 2)}); })) {
      error = e->getDescription().cStr();
    }
    CHECK(!error.empty());
    // A new connection with its credential gets nothing either.
    std::unique_ptr<ledgerd::Client> again;
    bool served = false;
    if (ledgerd::Client::Connect(server.address(), f.creds.at("cw05"), &again).ok()) {
      KJ_IF_MAYBE (e, kj::runCatchingExceptions([&] {
                     again->session().whoAmIRequest().send().wait(again->wait_scope());
                     served = true;
                   })) {
        CHECK(std::string(e->getDescription().cStr()).size() > 0);
      }
    }
    CHECK(!served);
    // The others go on.
    CHECK(Append(*admin, {testing::ActorRegistered(kTownIn, "admin1",
                                                   {.id = "cw99", .role = "caseworker", .jurisdiction = kCounty})})[0]
              .outcome == Outcome::kCreated);
    CHECK(server.Stop(SIGTERM) == 0);
    CHECK(server.Log().find("\"event\":\"connection_cut\",\"conn\":") != std::string::npos);
  }
  auto r = testing::RunLedgerctl(
      {"credential", "issue", "--dir", f.dir, "--actor", "cw05", "--out", f.tmp.Sub("cw05-new.cred")});
  CHECK(r.exit_code == 1);
  CHECK(r.err.find("was deactivated (off-cw05: retired)") != std::string::npos);
  // Without a server too, its events are refused (rule actor.registered).
  auto local = testing::RunLedgerctl({"append", "--dir", f.dir}, Registration("cw05", "H-D3", kTownIn, 3) + "\n");
  CHECK(local.exit_code == 1);
  CHECK(local.out.find("was deactivated") != std::string::npos);
}

TEST_CASE("ledgerd: /metrics in Prometheus text and /healthz on the metrics address") {
  Fixture f;
  Server server(f.dir, {"--metrics-listen", "127.0.0.1:0"});
  auto cw = Connect(server, f.creds.at("cw00"));
  auto results =
      Append(*cw, {Registration("cw00", "H-M1", kTownIn, 1), Registration("cw01", "H-M2", kTownIn, 2)});  // 1 refused.
  REQUIRE(results[0].outcome == Outcome::kCreated);
  int port = MetricsPort(server);
  std::string metrics = HttpGet(port, "/metrics");
  CHECK(metrics.rfind("HTTP/1.1 200", 0) == 0);
  CHECK(metrics.find("ledgerd_append_events_total{outcome=\"created\"} 1\n") != std::string::npos);
  CHECK(metrics.find("ledgerd_append_events_total{outcome=\"error\"} 1\n") != std::string::npos);
  CHECK(metrics.find("ledgerd_errors_total{kind=\"append_refused\"} 1\n") != std::string::npos);
  CHECK(metrics.find("ledgerd_connections_open 1\n") != std::string::npos);
  CHECK(metrics.find("ledgerd_commit_seconds_count 1\n") != std::string::npos);
  CHECK(metrics.find("# TYPE ledgerd_commit_seconds histogram\n") != std::string::npos);
  // Each read call is counted once it has run on its reader.
  const std::string reads = Metric(metrics, "ledgerd_read_seconds_count");
  REQUIRE_FALSE(reads.empty());
  (void)cw->session().whoAmIRequest().send().wait(cw->wait_scope());
  std::string after = HttpGet(port, "/metrics");
  CHECK(Metric(after, "ledgerd_read_seconds_count") == std::to_string(std::stoull(reads) + 1));
  CHECK(after.find("ledgerd_read_seconds_bucket{le=\"+Inf\"} " + std::to_string(std::stoull(reads) + 1) + "\n") !=
        std::string::npos);
  CHECK(HttpGet(port, "/healthz").find("\r\n\r\nok\n") != std::string::npos);
  CHECK(HttpGet(port, "/nothing").rfind("HTTP/1.1 404", 0) == 0);
  CHECK(server.Stop(SIGTERM) == 0);
}

TEST_CASE("ledgerd: --max-connections refuses connections over the limit, logged, and serves again below it") {
  Fixture f;
  Server server(f.dir, {"--max-connections", "2"});
  auto a = Connect(server, f.creds.at("cw00"));
  auto b = Connect(server, f.creds.at("cw01"));
  CHECK(std::string(b->session().whoAmIRequest().send().wait(b->wait_scope()).getActorId()) == "cw01");
  std::unique_ptr<ledgerd::Client> c;
  Status third = ledgerd::Client::Connect(server.address(), f.creds.at("cw02"), &c);
  bool served = false;
  if (third.ok()) {  // TLS 1.3 may report the close only on the first call.
    KJ_IF_MAYBE (e, kj::runCatchingExceptions([&] {
                   c->session().whoAmIRequest().send().wait(c->wait_scope());
                   served = true;
                 })) {
      CHECK(std::string(e->getDescription().cStr()).size() > 0);
    }
  }
  CHECK(!served);
  a.reset();  // One goes: room for another.
  bool again = false;
  for (int i = 0; i < 100 && !again; ++i) {
    std::unique_ptr<ledgerd::Client> d;
    if (ledgerd::Client::Connect(server.address(), f.creds.at("cw03"), &d).ok()) {
      KJ_IF_MAYBE (e, kj::runCatchingExceptions([&] {
                     d->session().whoAmIRequest().send().wait(d->wait_scope());
                     again = true;
                   })) {
        std::this_thread::sleep_for(50ms);
      }
    }
  }
  CHECK(again);
  CHECK(server.Stop(SIGTERM) == 0);
  CHECK(server.Log().find("the limit (--max-connections)") != std::string::npos);
}

TEST_CASE(
    "ledgerctl --dir reads a ledger ledgerd holds, read-only and saying how far, and credentials issue meanwhile") {
  Fixture f;
  Server server(f.dir);
  auto cw = Connect(server, f.creds.at("cw00"));
  auto created = Append(*cw, {Registration("cw00", "H-RO", kTownIn, 7001)});
  REQUIRE(created.at(0).outcome == Outcome::kCreated);
  const uint64_t seq = created[0].seq;

  // The acknowledged entry is there for a command that only reads, which says it reads read-only.
  auto show = testing::RunLedgerctl({"show", "--dir", f.dir, "--seq", std::to_string(seq)});
  CHECK_MESSAGE(show.exit_code == 0, show.err);
  CHECK(show.out.find(R"("eventId":"reg-H-RO")") != std::string::npos);
  CHECK(show.err.find(fmt::format("reading it read-only as of entry {},", seq)) != std::string::npos);
  auto verify = testing::RunLedgerctl({"verify", "--dir", f.dir});
  CHECK_MESSAGE(verify.exit_code == 0, verify.err);
  CHECK(verify.out.rfind("ok: ", 0) == 0);
  auto roll = testing::RunLedgerctl({"roll", "--dir", f.dir, "--as-of", "20241231"});
  CHECK_MESSAGE(roll.exit_code == 0, roll.err);

  // One that writes is refused: the server holds the ledger, and nothing is appended.
  auto append = testing::RunLedgerctl({"append", "--dir", f.dir}, Registration("cw01", "H-RO2", kTownIn, 7002) + "\n");
  CHECK(append.exit_code == 2);
  CHECK(append.err.find("open in another process") != std::string::npos);

  // An actor registered through the server gets its credential while the server runs, and connects.
  auto admin = Connect(server, f.creds.at("admin1"));
  auto registered = Append(
      *admin,
      {testing::ActorRegistered(kTownIn, "admin1", {.id = "cw-new", .role = "caseworker", .jurisdiction = kCounty})});
  REQUIRE(registered.at(0).outcome == Outcome::kCreated);
  f.Issue("cw-new");
  auto fresh = Connect(server, f.creds.at("cw-new"));
  auto who = fresh->session().whoAmIRequest().send().wait(fresh->wait_scope());
  CHECK(std::string(who.getActorId().cStr()) == "cw-new");
  CHECK(who.getHeadSeq() >= registered[0].seq);
  CHECK(server.Stop(SIGTERM) == 0);
  auto after = testing::RunLedgerctl({"show", "--dir", f.dir, "--seq", std::to_string(seq)});
  CHECK(after.err.find("read-only") == std::string::npos);  // Nobody holds it now.
}

// ---- payroll, reconcile, checkpoints, proofs and verify over RPC (issue 16, item 1) -----------

namespace {

// Two identical ledgers of a county's two years (rolls up to 202601), one to serve and one to
// run ledgerctl --dir on, with: fin1, the county's finance officer (of the history); fin2, a
// finance officer of another county; fin3, one of the county with a registered key (fin3.key);
// aud1, the county's auditor; audt, an auditor of township 341502001. The history's admin1 is
// registered by a province administrator, adminP, who can register fin2.
struct CountyFixture {
  testing::TempDir tmp;
  std::string served = tmp.Sub("served"), local = tmp.Sub("local");

  CountyFixture() {
    auto keygen = testing::RunLedgerctl({"keygen", "--name", "fin3", "--out", tmp.Sub("fin3")});
    REQUIRE_MESSAGE(keygen.exit_code == 0, keygen.err);
    std::ifstream pub(tmp.Sub("fin3.pub"));
    std::string fin3_key;
    REQUIRE(std::getline(pub, fin3_key));
    auto lines = testing::CountyYear({.seed = 21, .households = 10, .years = 2});
    REQUIRE(lines[0].find(R"("eventId":"act-admin1")") != std::string::npos);
    lines[0].replace(lines[0].find(R"("actorId":"admin1")"), 18, R"("actorId":"adminP")");
    lines.insert(lines.begin(),
                 testing::ActorRegistered("340000000000", "adminP",
                                          {.id = "adminP", .role = "administrator", .jurisdiction = "34"}));
    auto actor = [&](const char* id, const char* role, const char* jurisdiction, std::string key = "") {
      lines.push_back(testing::ActorRegistered(
          kTownIn, "adminP", {.id = id, .role = role, .jurisdiction = jurisdiction, .public_key = key}));
    };
    actor("fin2", "financeOfficer", "341503");
    actor("fin3", "financeOfficer", kCounty, fin3_key);
    actor("aud1", "auditor", kCounty);
    actor("audt", "auditor", "341502001");
    testing::LedgerctlLedger(served, lines);
    for (const char* a : {"fin1", "fin2", "fin3", "aud1", "audt", "adminP"}) {
      auto r = testing::RunLedgerctl({"credential", "issue", "--dir", served, "--actor", a, "--out", Cred(a)});
      REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    }
    std::filesystem::copy(served, local, std::filesystem::copy_options::recursive);
  }
  std::string Cred(const std::string& actor) const { return tmp.Sub(actor + ".cred"); }
};

// `args` run by `actor` against `server`: ledgerctl --server S --credential C ARGS.
testing::RunResult Remote(const Server& server, const std::string& cred, std::vector<std::string> args,
                          const std::string& input = "") {
  args.insert(args.begin(), {"--server", server.address(), "--credential", cred});
  return testing::RunLedgerctl(args, input);
}

// `args` with --dir `dir` after the command's words (those before the first option).
testing::RunResult Local(const std::string& dir, std::vector<std::string> args, const std::string& input = "") {
  auto at = std::find_if(args.begin(), args.end(), [](const std::string& a) { return a.rfind("--", 0) == 0; });
  args.insert(at, {"--dir", dir});
  return testing::RunLedgerctl(args, input);
}

std::vector<std::string> Issue(const char* programme, const char* actor, std::vector<std::string> more = {}) {
  std::vector<std::string> args = {"payroll",  "issue",   "--county", kCounty, "--programme", programme,
                                   "--period", "2026-02", "--actor",  actor,   "--date",      "20260205"};
  args.insert(args.end(), more.begin(), more.end());
  return args;
}

std::string ReadText(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

uint64_t HeadSeq(const Server& server, const std::string& cred) {
  auto c = Connect(server, cred);
  return c->session().whoAmIRequest().send().wait(c->wait_scope()).getHeadSeq();
}

}  // namespace

TEST_CASE("ledgerd: payroll issue and export print what --dir prints, and only the county's finance officer issues") {
  CountyFixture f;
  Server server(f.served);
  // The dry run, then the issue, then again: the same answers as on the identical local copy.
  for (const auto& args : {Issue("rural_dibao", "fin1", {"--dry-run", "yes", "--format", "json"}),
                           Issue("rural_dibao", "fin1"), Issue("rural_dibao", "fin1")}) {
    auto remote = Remote(server, f.Cred("fin1"), args);
    auto local = Local(f.local, args);
    CAPTURE(remote.err);
    CHECK(remote.exit_code == 0);
    CHECK(remote.exit_code == local.exit_code);
    CHECK(remote.out == local.out);
  }
  auto again = Remote(server, f.Cred("fin1"), Issue("rural_dibao", "fin1"));
  CHECK(again.out.find("roll R-341502-rural_dibao-202602 was issued before: nothing issued") != std::string::npos);
  auto issued = Local(f.local, Issue("tekun_dispersed", "fin1", {"--dry-run", "yes"}));
  REQUIRE(issued.out.find("dry run: roll R-341502-tekun_dispersed-202602 not issued") != std::string::npos);
  // Refused, nothing issued: an auditor, a finance officer of another county, one in another's
  // name. The roll stays due (the dry run above, again, on the server).
  auto auditor = Remote(server, f.Cred("aud1"), Issue("tekun_dispersed", "aud1"));
  CHECK(auditor.exit_code == 2);
  CHECK(auditor.err.find("auditors and inspectors read, never write") != std::string::npos);
  auto other = Remote(server, f.Cred("fin2"), Issue("tekun_dispersed", "fin2"));
  CHECK(other.exit_code == 2);
  CHECK(other.err.find("refused: county 341502 is outside actor \"fin2\"'s jurisdiction 341503") != std::string::npos);
  auto impersonating = Remote(server, f.Cred("fin1"), Issue("tekun_dispersed", "fin3"));
  CHECK(impersonating.exit_code == 2);
  CHECK(impersonating.err.find("is by \"fin3\" but this connection is authenticated as \"fin1\"") != std::string::npos);
  CHECK(Remote(server, f.Cred("fin1"), Issue("tekun_dispersed", "fin1", {"--dry-run", "yes"})).out == issued.out);
  // fin3 has a key: without it the ledger refuses the roll; with it, the roll is signed here
  // (only the signature goes to the server) and issued as --dir issues it.
  auto unsigned_roll = Remote(server, f.Cred("fin3"), Issue("urban_dibao", "fin3"));
  CHECK(unsigned_roll.exit_code == 1);
  CHECK(unsigned_roll.err.find("must be signed") != std::string::npos);
  auto with_key = Issue("urban_dibao", "fin3", {"--key", f.tmp.Sub("fin3.key")});
  auto remote_signed = Remote(server, f.Cred("fin3"), with_key);
  auto local_signed = Local(f.local, with_key);
  CHECK_MESSAGE(remote_signed.exit_code == 0, remote_signed.err);
  CHECK(remote_signed.out == local_signed.out);
  CHECK(remote_signed.out.find("issued roll R-341502-urban_dibao-202602") != std::string::npos);
  // Its entries record who submitted them; the local copy's, appended on --dir, record no one.
  const std::string last = std::to_string(HeadSeq(server, f.Cred("fin3")));
  CHECK(Remote(server, f.Cred("aud1"), {"show", "--seq", last}).out.find(R"("submittedBy":"fin3")") !=
        std::string::npos);
  CHECK(Local(f.local, {"show", "--seq", last}).out.find("submittedBy") == std::string::npos);
  // The bank file: the same bytes; for the county's auditor too, not for another county's.
  auto out_remote = f.tmp.Sub("remote.csv"), out_local = f.tmp.Sub("local.csv");
  auto exported = Remote(server, f.Cred("aud1"),
                         {"payroll", "export", "--roll", "R-341502-urban_dibao-202602", "--out", out_remote});
  auto exported_local =
      Local(f.local, {"payroll", "export", "--roll", "R-341502-urban_dibao-202602", "--out", out_local});
  CHECK(exported.exit_code == 0);
  CHECK(exported.out.substr(exported.out.find(':')) == exported_local.out.substr(exported_local.out.find(':')));
  CHECK(ReadText(out_remote) == ReadText(out_local));
  CHECK(ReadText(out_remote).find("R-341502-urban_dibao-202602,341502,urban_dibao,202602,") != std::string::npos);
  auto foreign = Remote(server, f.Cred("fin2"),
                        {"payroll", "export", "--roll", "R-341502-urban_dibao-202602", "--out", f.tmp.Sub("x.csv")});
  CHECK(foreign.exit_code == 2);
  CHECK(foreign.err.find("outside actor \"fin2\"'s jurisdiction") != std::string::npos);
  // What the server appended verifies, fin3's signature on its roll included.
  auto verify = Remote(server, f.Cred("aud1"), {"verify"});
  CHECK_MESSAGE(verify.out.rfind("ok: ", 0) == 0, verify.out, verify.err);
  CHECK(server.Stop(SIGTERM) == 0);
}

TEST_CASE("ledgerd: reconcile answers what --dir answers, and --apply records the results once, by a finance officer") {
  CountyFixture f;
  Server server(f.served, {"--max-message-bytes", "1000000"});
  REQUIRE(Remote(server, f.Cred("fin1"), Issue("rural_dibao", "fin1")).exit_code == 0);
  REQUIRE(Local(f.local, Issue("rural_dibao", "fin1")).exit_code == 0);
  // The bank's answer to the roll: the first payment failed, the others settled, one id unknown.
  std::string roll = f.tmp.Sub("roll.csv"), bank = f.tmp.Sub("bank.csv");
  REQUIRE(Local(f.local, {"payroll", "export", "--roll", "R-341502-rural_dibao-202602", "--out", roll}).exit_code == 0);
  const int n = testing::WriteBankAnswer(roll, "P-202602-X9", bank);
  const std::vector<std::string> dry = {"reconcile", "--bank-file", bank};
  for (const char* format : {"table", "json"}) {
    std::vector<std::string> args = dry;
    args.insert(args.end(), {"--format", format});
    auto remote = Remote(server, f.Cred("aud1"), args);
    auto local = Local(f.local, args);
    CAPTURE(remote.err);
    CHECK(remote.exit_code == 1);  // Not clean: a failure and an unknown id.
    CHECK(remote.out == local.out);
  }
  CHECK(Remote(server, f.Cred("aud1"), dry).out.find("unknown        5.00") != std::string::npos);
  // Payments outside the caller's jurisdiction: refused, naming one.
  auto foreign = Remote(server, f.Cred("fin2"), dry);
  CHECK(foreign.exit_code == 2);
  CHECK(foreign.err.find("is outside actor \"fin2\"'s jurisdiction 341503") != std::string::npos);
  const std::vector<std::string> apply = {"reconcile", "--bank-file", bank, "--apply", "yes", "--date", "20260210"};
  auto as = [&](const char* actor) {
    auto args = apply;
    args.insert(args.end(), {"--actor", actor});
    return args;
  };
  auto auditor = Remote(server, f.Cred("aud1"), as("aud1"));
  CHECK(auditor.exit_code == 2);
  CHECK(auditor.err.find("auditors and inspectors read, never write") != std::string::npos);
  uint64_t head = HeadSeq(server, f.Cred("fin1"));
  auto first = Remote(server, f.Cred("fin1"), as("fin1"));
  auto first_local = Local(f.local, as("fin1"));
  CHECK(first.out == first_local.out);
  CHECK(first.out.find(fmt::format("applied: {} results recorded, 0 already recorded, 0 refused", n)) !=
        std::string::npos);
  CHECK(HeadSeq(server, f.Cred("fin1")) == head + n);
  CHECK(
      Remote(server, f.Cred("aud1"), {"show", "--seq", std::to_string(head + n)}).out.find(R"("submittedBy":"fin1")") !=
      std::string::npos);
  auto second = Remote(server, f.Cred("fin1"), as("fin1"));
  CHECK(second.out.find(fmt::format("applied: 0 results recorded, {} already recorded, 0 refused", n)) !=
        std::string::npos);
  CHECK(HeadSeq(server, f.Cred("fin1")) == head + n);
  // A file larger than one call may carry: refused before it is sent, naming the server's limit.
  std::string big = "end_to_end_id,amount,status,reason,bank_reference\n";
  for (int i = 0; big.size() < 1000000; ++i) big += fmt::format("P-202602-Z{:07},1.00,settled,,B{}\n", i, i);
  std::ofstream(f.tmp.Sub("big.csv")) << big;
  auto too_big = Remote(server, f.Cred("aud1"), {"reconcile", "--bank-file", f.tmp.Sub("big.csv")});
  CHECK(too_big.exit_code == 2);
  CHECK(too_big.err.find("--max-message-bytes") != std::string::npos);
  CHECK(too_big.err.find("1000000 bytes") != std::string::npos);
  CHECK(server.Stop(SIGTERM) == 0);
}

TEST_CASE("ledgerd: checkpoints by administrators, proofs over RPC, scoped, as --dir makes them, check offline") {
  Fixture f;
  std::string copy = f.tmp.Sub("copy");
  std::filesystem::copy(f.dir, copy, std::filesystem::copy_options::recursive);
  std::string note = f.tmp.Sub("checkpoint.note"), pub = f.dir + "/checkpoint.pub";
  {
    Server server(f.dir);
    auto auditor = Remote(server, f.creds.at("aud1"), {"checkpoint"});
    CHECK(auditor.exit_code == 2);
    CHECK(auditor.err.find("making a checkpoint is for administrators") != std::string::npos);
    auto made = Remote(server, f.creds.at("admin1"), {"checkpoint"});
    auto made_local = Local(copy, {"checkpoint"});
    REQUIRE_MESSAGE(made.exit_code == 0, made.err);
    CHECK(made.out == made_local.out);  // The same entries, the same key: the same signed note.
    CHECK(made.err.find("made and stored the checkpoint of size") != std::string::npos);
    std::ofstream(note) << made.out;
    auto listed = Remote(server, f.creds.at("aud1"), {"checkpoint", "--list", "yes"});
    CHECK(listed.out == Local(copy, {"checkpoint", "--list", "yes"}).out);
    // Entry 37 is H-IN's registration (in aud1's township), 38 H-OUT's (outside it).
    REQUIRE(Local(copy, {"show", "--seq", "37"}).out.find("\"eventId\":\"reg-H-IN\"") != std::string::npos);
    REQUIRE(Local(copy, {"show", "--seq", "38"}).out.find("\"eventId\":\"reg-H-OUT\"") != std::string::npos);
    const std::vector<std::vector<std::string>> proofs = {{"prove", "household", "--household", "H-IN"},
                                                          {"prove", "inclusion", "--seq", "37"},
                                                          {"prove", "consistency", "--from", "10", "--to", "38"}};
    for (const auto& args : proofs) {
      CAPTURE(args[1]);
      auto proof = Remote(server, f.creds.at("aud1"), args);
      CHECK(proof.exit_code == 0);
      CHECK(proof.out == Local(copy, args).out);
      std::string file = f.tmp.Sub(args[1] + ".json");
      std::ofstream(file) << proof.out;
      auto check = testing::RunLedgerctl({"verify-proof", file, "--checkpoint", note, "--key", pub});
      CHECK_MESSAGE(check.exit_code == 0, check.out);
      CHECK(check.out.rfind("valid: ", 0) == 0);
    }
    auto household = Remote(server, f.creds.at("aud1"), {"prove", "household", "--household", "H-OUT"});
    CHECK(household.exit_code == 2);
    CHECK(household.err.find("household H-OUT is outside actor \"aud1\"'s jurisdiction") != std::string::npos);
    // The genesis entry is about no region: in everyone's scope, for show as for proofs.
    CHECK(Remote(server, f.creds.at("aud1"), {"prove", "inclusion", "--seq", "1"}).exit_code == 0);
    CHECK(Remote(server, f.creds.at("aud1"), {"show", "--seq", "1"}).out.find("\"kind\":\"ledgerGenesis\"") !=
          std::string::npos);
    auto entry = Remote(server, f.creds.at("aud1"), {"prove", "inclusion", "--seq", "38"});
    CHECK(entry.exit_code == 2);
    CHECK(entry.err.find("entry 38 (region 341502002001) is outside") != std::string::npos);
    CHECK(server.Stop(SIGTERM) == 0);
  }
  // Without the signer key (D/checkpoint.key gone, no --checkpoint-key), checkpoints are refused
  // saying why; --checkpoint-key names where it is.
  std::string moved = f.tmp.Sub("signer.key");
  REQUIRE(std::rename((f.dir + "/checkpoint.key").c_str(), moved.c_str()) == 0);
  {
    Server server(f.dir);
    auto none = Remote(server, f.creds.at("admin1"), {"checkpoint"});
    CHECK(none.exit_code == 2);
    CHECK(none.err.find("ledgerd has no checkpoint signer key: start it with --checkpoint-key") != std::string::npos);
    CHECK(server.Stop(SIGTERM) == 0);
  }
  Server server(f.dir, {"--checkpoint-key", moved});
  auto again = Remote(server, f.creds.at("admin1"), {"checkpoint"});
  CHECK(again.exit_code == 0);
  CHECK(again.err.find("already stored: the checkpoint of size 38") != std::string::npos);
  CHECK(server.Stop(SIGTERM) == 0);
}

namespace {

// The client's side of verify's progress: every count the server sends.
class Progress final : public ledgerd::rpc::VerifyProgress::Server {
 public:
  explicit Progress(std::vector<std::pair<uint64_t, uint64_t>>* seen) : seen_(seen) {}
  kj::Promise<void> progress(ProgressContext context) override {
    seen_->emplace_back(context.getParams().getEntriesChecked(), context.getParams().getEntriesTotal());
    return kj::READY_NOW;
  }

 private:
  std::vector<std::pair<uint64_t, uint64_t>>* seen_;
};

// "ok: 38 entries, 2 households, head ..., 0.002 s, 19000 events/s" without its timing.
std::string WithoutTiming(std::string out) {
  auto at = out.find(" s, ");
  if (at != std::string::npos) out.erase(out.rfind(", ", at), out.find('\n', at) - out.rfind(", ", at));
  return out;
}

}  // namespace

TEST_CASE("ledgerd: verify reports its progress to the client while it runs, and its output is what --dir prints") {
  Fixture f;
  std::string copy = f.tmp.Sub("copy");
  std::filesystem::copy(f.dir, copy, std::filesystem::copy_options::recursive);
  Server server(f.dir);
  auto remote = Remote(server, f.creds.at("aud1"), {"verify"});
  auto local = Local(copy, {"verify"});
  CHECK(remote.exit_code == 0);
  CHECK(WithoutTiming(remote.out) == WithoutTiming(local.out));
  CHECK(WithoutTiming(remote.out).find("ok: 38 entries, 2 households, head ") == 0);
  CHECK(remote.err.find("verify: 38 of 38 entries checked (100%)\n") != std::string::npos);
  CHECK(local.err.find("verify:") == std::string::npos);
  // The last count reaches the client before the answer does.
  std::vector<std::pair<uint64_t, uint64_t>> seen;
  auto c = Connect(server, f.creds.at("insp1"));
  auto request = c->session().verifyRequest();
  request.setProgress(kj::heap<Progress>(&seen));
  auto answer = request.send().wait(c->wait_scope());
  CHECK(answer.getResult().getOk());
  REQUIRE(!seen.empty());
  CHECK(seen.back() == std::make_pair(uint64_t{38}, uint64_t{38}));
  // A caseworker may not verify, with or without a callback.
  auto cw = Remote(server, f.creds.at("cw00"), {"verify"});
  CHECK(cw.exit_code == 2);
  CHECK(cw.err.find("verify is for auditors, inspectors and administrators") != std::string::npos);
  CHECK(server.Stop(SIGTERM) == 0);
}
