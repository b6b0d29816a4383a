// ledgerd: one Benefit Ledger served to many authenticated users at once (issue 16), over Cap'n
// Proto RPC (ledgerd.capnp) on mutual TLS. Written against include/benefit_ledger/ only, as
// ledgerctl is.
//
//   ledgerd --dir D --listen 127.0.0.1:PORT [--tls-dir T] [--port-file F] [--checkpoint-key K] [limits...]
//
// Authentication: mutual TLS with certificates issued by the ledger's own CA (tls_ca.h). The
// client certificate's common name is the actor id; a connection is served only if that actor
// is registered in the ledger, and every call looks the actor up again. No anonymous access:
// kj-tls refuses a client without a certificate of the CA during the handshake. Every event
// appended records the connection's actor as its submittedBy; an actor appends only its own
// events, except an integration actor, which submits other actors' (Session::MayAppend).
//
// Threads: this one runs the event loop (accepting, TLS, RPC, the access checks that need no
// ledger); the Writer (writer.h) owns the Ledger and runs appends (group commit) and the writes
// that are not appends of the caller's events (payroll issue, bank results, checkpoints), between
// groups once the group in flight is durable; its readers run reads on snapshots of it.
//
// Input never crashes the server: a malformed message, a message over --max-message-bytes or
// garbage on the socket breaks that connection only (logged); the others go on.
// SIGTERM/SIGINT: stop accepting, refuse new appends, answer what is queued, close the ledger,
// exit 0. Logs: one JSON object per line on standard error.

#include <capnp/any.h>
#include <capnp/message.h>
#include <capnp/rpc-twoparty.h>
#include <capnp/schema.h>
#include <fmt/format.h>
#include <kj/async-io.h>
#include <kj/async-unix.h>
#include <kj/compat/http.h>
#include <kj/compat/tls.h>
#include <kj/debug.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <deque>
#include <fstream>
#include <functional>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "access.h"
#include "benefit_ledger/events.h"
#include "benefit_ledger/evidence.h"
#include "benefit_ledger/format.h"
#include "benefit_ledger/keys.h"
#include "benefit_ledger/ledger.h"
#include "console.h"
#include "finance.h"
#include "metrics.h"
#include "replica.h"
#include "tls_ca.h"
#include "tools/ledgerd/ledgerd.capnp.h"
#include "wire.h"
#include "writer.h"

namespace ledgerd {
namespace {

using ledger::Status;
using Role = ledger::schema::Role;

// ---------------------------------------------------------------------------------------------
// Logging: {"ts":...,"level":...,"event":..., fields} per line, from either thread.

std::mutex log_mu;

void Log(const char* level, const std::string& event, const std::string& fields = "") {
  auto now = std::chrono::system_clock::now();
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(now.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(us / 1000000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char ts[32];
  std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%S", &tm);
  std::string line = fmt::format("{{\"ts\":\"{}.{:06}Z\",\"level\":\"{}\",\"event\":{}{}{}}}\n", ts, us % 1000000,
                                 level, ledger::JsonString(event), fields.empty() ? "" : ",", fields);
  std::lock_guard lock(log_mu);
  ::fputs(line.c_str(), stderr);
  ::fflush(stderr);
}

// ---------------------------------------------------------------------------------------------
// Options

struct Options {
  std::string dir, listen, tls_dir, port_file, metrics_listen;
  std::string console_listen, console_dir = LEDGER_CONSOLE_DIR;  // The web console (console.h), if listening.
  size_t console_session_seconds = 8 * 3600;
  std::string checkpoint_key;  // The checkpoint signer key file; "" for D/checkpoint.key if it exists.
  size_t max_connections = 256;
  size_t max_events_per_call = 10000;
  size_t max_message_bytes = 64 << 20;    // Cap'n Proto traversal limit of one incoming message.
  size_t max_inflight_bytes = 128 << 20;  // Per connection: calls received and not yet answered.
  size_t queue_events_max = 20000;        // Events waiting for the writer, from all connections.
  // Replication (replica.h): etcd's client URLs, the ledger's name in etcd and this node's.
  std::string etcd, ledger_id, node_id, advertise;
  size_t lease_seconds = 3;
};

const char* const kUsage =
    "usage: ledgerd --dir D --listen HOST:PORT [--tls-dir T] [--port-file F] [--metrics-listen HOST:PORT]\n"
    "               [--checkpoint-key K] [--max-connections N] [--max-events-per-call N] [--max-message-bytes N]\n"
    "               [--max-inflight-bytes N] [--queue-events N]\n"
    "               [--console-listen HOST:PORT] [--console-dir DIR] [--console-session-seconds N]\n"
    "               [--etcd URL[,URL...] --ledger-id ID --node-id N [--advertise HOST:PORT] [--lease-seconds N]]\n\n"
    "Serves ledger D over Cap'n Proto RPC on mutual TLS. Clients connect with a credential from\n"
    "ledgerctl credential issue --dir D --actor A --out A.cred. The CA and the server's key and\n"
    "certificate are in T (default D/tls), made on first use. PORT 0 lets the system choose; the\n"
    "port is logged and written to F. --metrics-listen serves GET /metrics (Prometheus text) and\n"
    "GET /healthz over plain HTTP: keep it on a local address. Checkpoints (made by administrators)\n"
    "are signed with the signer key in K (default D/checkpoint.key, if it exists). SIGTERM drains\n"
    "and exits 0. --console-listen serves the web console over HTTPS with the server's certificate:\n"
    "sign in with the URL of ledgerctl --server HOST:PORT --credential A.cred console-login; its\n"
    "pages are read from DIR (default " LEDGER_CONSOLE_DIR
    "); sessions last N s (default 8 h)\n"
    "and are held in memory only (a restart signs everyone out).\n"
    "--etcd makes this node a member of a replicated ledger (README \"Replication\"): groups are\n"
    "committed to the etcd cluster at the URLs before they are acknowledged; one member (the\n"
    "leader, on a lease of N s, default 3) takes writes, the others apply its groups and serve\n"
    "reads, and tell writers where the leader is (--advertise: this node's address for them,\n"
    "default the --listen host and port). Every member starts from a copy of one ledger directory.\n";

std::optional<Options> ParseOptions(int argc, char** argv) {
  Options o;
  std::map<std::string, size_t*> counts = {
      {"max-connections", &o.max_connections},     {"max-events-per-call", &o.max_events_per_call},
      {"max-message-bytes", &o.max_message_bytes}, {"max-inflight-bytes", &o.max_inflight_bytes},
      {"queue-events", &o.queue_events_max},       {"console-session-seconds", &o.console_session_seconds},
      {"lease-seconds", &o.lease_seconds}};
  std::map<std::string, std::string*> texts = {{"dir", &o.dir},
                                               {"listen", &o.listen},
                                               {"tls-dir", &o.tls_dir},
                                               {"port-file", &o.port_file},
                                               {"checkpoint-key", &o.checkpoint_key},
                                               {"metrics-listen", &o.metrics_listen},
                                               {"console-listen", &o.console_listen},
                                               {"console-dir", &o.console_dir},
                                               {"etcd", &o.etcd},
                                               {"ledger-id", &o.ledger_id},
                                               {"node-id", &o.node_id},
                                               {"advertise", &o.advertise}};
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--help" || a == "-h") return std::nullopt;
    std::string name = a.rfind("--", 0) == 0 ? a.substr(2) : "";
    if (i + 1 >= argc || (!counts.count(name) && !texts.count(name))) {
      fmt::print(stderr, "ledgerd: unknown option or missing value: {}\n", a);
      return std::nullopt;
    }
    std::string value = argv[++i];
    if (texts.count(name)) {
      *texts[name] = value;
    } else if (value.empty() || value.size() > 12 || value.find_first_not_of("0123456789") != std::string::npos ||
               std::stoull(value) == 0) {
      fmt::print(stderr, "ledgerd: --{} must be a whole number from 1, not \"{}\"\n", name, value);
      return std::nullopt;
    } else {
      *counts[name] = std::stoull(value);
    }
  }
  if (o.dir.empty() || o.listen.empty()) {
    fmt::print(stderr, "ledgerd: --dir and --listen are required\n");
    return std::nullopt;
  }
  if (!o.etcd.empty() && (!cluster::IsValidName(o.ledger_id) || !cluster::IsValidName(o.node_id))) {
    fmt::print(stderr, "ledgerd: --etcd needs --ledger-id and --node-id, each 1-64 of [A-Za-z0-9._-]\n");
    return std::nullopt;
  }
  if (o.max_events_per_call > o.queue_events_max || o.max_events_per_call > ledger::Ledger::kGroupEventsMax) {
    fmt::print(stderr, "ledgerd: --max-events-per-call must not exceed --queue-events nor {}\n",
               ledger::Ledger::kGroupEventsMax);
    return std::nullopt;
  }
  return o;
}

// ---------------------------------------------------------------------------------------------
// Access: who may read and write what is in access.h (Within, Refused, Scope*, Active, MayWrite*),
// shared with the console.

// The roll of `request`, planned, dry run or issued: by its county's finance officer (a dry run
// too: it shows the county's payees and their cards, masked).
Status MayIssue(const ledger::ActorInfo& me, const ledger::PayrollRequest& request) {
  Status s = MayWriteFinance(me, request.actor_id, "the roll");
  if (s.ok() && !Within(request.county, me.jurisdiction)) s = Refused("county", me, "county " + request.county);
  return s;
}

// Checkpoints sign and store evidence rows: the administrators' work.
Status MayCheckpoint(const ledger::ActorInfo& me) {
  if (me.role == Role::ADMINISTRATOR) return Status::Ok();
  return Status::Invalid("actor", fmt::format("refused: making a checkpoint is for administrators; actor \"{}\" has "
                                              "role {}",
                                              me.id, RoleName(me.role)));
}

// ---------------------------------------------------------------------------------------------
// The server: connections, the parked appends (backpressure) and the writer.

struct AppendReply {
  std::vector<ledger::AppendResult> results;
  Status refused, write;
};

class LedgerServer {
 public:
  LedgerServer(const Options& options, kj::AsyncIoContext& io, kj::TlsContext& tls,
               std::unique_ptr<ledger::Ledger> ledger, std::optional<ledger::note::KeyPair> checkpoint_key)
      : options_(options),
        io_(io),
        tls_(tls),
        checkpoint_key_(std::move(checkpoint_key)),
        writer_(
            std::move(ledger), {options.queue_events_max, options.queue_events_max},
            [](const std::string& e, const std::string& f) { Log("info", e, f); }, &metrics_),
        tasks_(handler_) {}

  const Options& options() const { return options_; }
  Metrics& metrics() { return metrics_; }
  kj::Timer& timer() { return io_.provider->getTimer(); }
  // The checkpoint signer key (--checkpoint-key), or null: it lives as long as the server.
  const ledger::note::KeyPair* checkpoint_key() const { return checkpoint_key_ ? &*checkpoint_key_ : nullptr; }
  // The body of /metrics and of /healthz (false: not healthy, 503).
  std::string MetricsText() const { return metrics_.Text(writer_.QueuedEvents()); }
  bool Healthy() const { return !draining_; }
  bool draining() const { return draining_; }
  void Listen(kj::Own<kj::ConnectionReceiver> receiver);
  kj::Promise<void> Drain();
  void Stop();  // After Drain: ends the writer and closes the ledger.

  // Runs `fn` on a reader thread for `actor`, with a snapshot of the ledger now, which never
  // waits for appends. The actor is looked up there again: one no longer registered, or
  // deactivated, gets a refusal, not a result.
  kj::Promise<std::shared_ptr<Reply>> Read(const std::string& actor, ReadFn fn);
  // Runs `fn` likewise on the writer thread with the writing handle, between groups once the
  // group in flight is durable: the writes that are not appends (payroll issue, bank results,
  // checkpoints). They hold appends up while they run.
  kj::Promise<std::shared_ptr<Reply>> Write(const std::string& actor, ReadFn fn);
  kj::Promise<std::shared_ptr<AppendReply>> Append(AppendJob job);
  // Closes every open connection of `actor` (just deactivated).
  void CutOff(const std::string& actor);
  // The web console, or null if ledgerd serves none (set before the first connection).
  Console* console() const { return console_; }
  void SetConsole(Console* console) { console_ = console; }
  // The cluster this node is a member of (--etcd), or null (set before the first connection).
  void SetReplica(Replica* replica) { replica_ = replica; }
  const Replica* replica() const { return replica_; }
  // Ok if writes may start here: always alone; in a cluster, on the leader only (else Busy naming it).
  Status MayWriteHere() const { return replica_ != nullptr ? replica_->MayWrite() : Status::Ok(); }
  // Runs `job` on the writer thread and waits for it (the replica's thread: apply, arm the committer).
  Status OnWriter(const std::function<Status(ledger::Ledger&)>& job);

 private:
  struct ErrorHandler : kj::TaskSet::ErrorHandler {
    void taskFailed(kj::Exception&& e) override {
      Log("warn", "task_failed", fmt::format("\"reason\":{}", ledger::JsonString(e.getDescription().cStr())));
    }
  };
  // Read's and Write's body.
  kj::Promise<std::shared_ptr<Reply>> Run(const std::string& actor, ReadFn fn, bool write);
  kj::Promise<void> AcceptLoop();
  kj::Promise<void> WaitIdle();
  kj::Promise<void> Serve(uint64_t id, kj::AuthenticatedStream raw);
  kj::Promise<void> Authenticated(uint64_t id, kj::AuthenticatedStream tls);
  void ArmSpace();
  void AdmitParked();

  const Options options_;
  kj::AsyncIoContext& io_;
  kj::TlsContext& tls_;
  const std::optional<ledger::note::KeyPair> checkpoint_key_;  // Before writer_, whose jobs use it.
  Metrics metrics_;                                            // Before writer_, which reports into it.
  Writer writer_;
  ErrorHandler handler_;
  kj::Own<kj::ConnectionReceiver> receiver_;
  kj::Maybe<kj::Promise<void>> accepting_;
  std::deque<AppendJob> parked_;  // Waiting for room in the writer's queue, in arrival order.
  bool space_armed_ = false, draining_ = false;
  size_t open_ = 0;
  uint64_t next_id_ = 0;
  Console* console_ = nullptr;
  Replica* replica_ = nullptr;
  struct Live {
    std::string actor;
    kj::Own<kj::PromiseFulfiller<void>> cut;  // Fulfilled: the connection is closed.
  };
  std::map<uint64_t, Live> live_;  // Authenticated connections, by id.
  // Last: destroyed first, while what its tasks touch when cancelled (live_, open_) still is.
  kj::TaskSet tasks_;
};

// The capability a connection's client gets: every call runs as `actor_`.
class Session final : public rpc::LedgerSession::Server {
 public:
  Session(LedgerServer& server, uint64_t conn, ledger::ActorInfo actor)
      : server_(server), conn_(conn), me_(std::move(actor)) {}

  kj::Promise<void> whoAmI(WhoAmIContext context) override;
  kj::Promise<void> append(AppendContext context) override;
  kj::Promise<void> show(ShowContext context) override;
  kj::Promise<void> replay(ReplayContext context) override;
  kj::Promise<void> roll(RollContext context) override;
  kj::Promise<void> reviews(ReviewsContext context) override;
  kj::Promise<void> totals(TotalsContext context) override;
  kj::Promise<void> trace(TraceContext context) override;
  kj::Promise<void> verify(VerifyContext context) override;
  kj::Promise<void> recoveries(RecoveriesContext context) override;
  kj::Promise<void> payrollRoll(PayrollRollContext context) override;
  kj::Promise<void> payroll(PayrollContext context) override;
  kj::Promise<void> exportRoll(ExportRollContext context) override;
  kj::Promise<void> reconcile(ReconcileContext context) override;
  kj::Promise<void> checkpointKey(CheckpointKeyContext context) override;
  kj::Promise<void> checkpoint(CheckpointContext context) override;
  kj::Promise<void> checkpoints(CheckpointsContext context) override;
  kj::Promise<void> proveInclusion(ProveInclusionContext context) override;
  kj::Promise<void> proveConsistency(ProveConsistencyContext context) override;
  kj::Promise<void> proveHousehold(ProveHouseholdContext context) override;
  kj::Promise<void> consoleLogin(ConsoleLoginContext context) override;

 private:
  // Why event `e` may not be appended on this connection, or ok.
  Status MayAppend(ledger::schema::Event::Reader e) const;
  // Runs `fn` on the writer thread, then answers the call with r->status as its failure, or the
  // root of r->message as its result.
  template <class Result, class Context>
  kj::Promise<void> Report(Context context, ReadFn fn);
  // Runs `fn` on the writer thread, then answers the call with r->status as its failure, or the
  // proof in r->text (its JSON) as its result.
  template <class Context>
  kj::Promise<void> Prove(Context context, ReadFn fn);
  // Ok, or why no write may start now (the server is draining).
  Status MayStartWrite() const;

  LedgerServer& server_;
  uint64_t conn_;
  const ledger::ActorInfo me_;  // As at connection time; calls check the actor again.
};

// ---- Server --------------------------------------------------------------------------------------

void LedgerServer::Listen(kj::Own<kj::ConnectionReceiver> receiver) {
  receiver_ = kj::mv(receiver);
  accepting_ = AcceptLoop().eagerlyEvaluate([](kj::Exception&& e) {
    Log("error", "accept_failed", fmt::format("\"reason\":{}", ledger::JsonString(e.getDescription().cStr())));
  });
}

kj::Promise<void> LedgerServer::AcceptLoop() {
  return receiver_->acceptAuthenticated().then([this](kj::AuthenticatedStream raw) {
    uint64_t id = ++next_id_;
    if (open_ >= options_.max_connections) {
      metrics_.Failed(Metrics::kConnectionRefused);
      Log("warn", "connection_refused",
          fmt::format("\"conn\":{},\"reason\":\"{} connections open, the limit (--max-connections)\"", id, open_));
    } else {
      ++open_;
      tasks_.add(Serve(id, kj::mv(raw)).attach(kj::defer([this] { --open_; })));
    }
    return AcceptLoop();
  });
}

kj::Promise<void> LedgerServer::Serve(uint64_t id, kj::AuthenticatedStream raw) {
  std::string peer = raw.peerIdentity->toString().cStr();
  Log("info", "connection_open", fmt::format("\"conn\":{},\"peer\":{}", id, ledger::JsonString(peer)));
  // A peer that never completes the handshake (or sends garbage) is cut off here, alone.
  auto handshake = io_.provider->getTimer().timeoutAfter(10 * kj::SECONDS, tls_.wrapServer(kj::mv(raw)));
  return handshake.then([this, id](kj::AuthenticatedStream tls) { return Authenticated(id, kj::mv(tls)); })
      .catch_([this, id](kj::Exception&& e) {
        metrics_.Failed(Metrics::kHandshakeFailed);
        Log("warn", "connection_closed",
            fmt::format("\"conn\":{},\"reason\":{}", id, ledger::JsonString(e.getDescription().cStr())));
      });
}

// The per-connection RPC state, kept alive until the peer disconnects.
struct Connection {
  Connection(kj::Own<kj::AsyncIoStream> s, const capnp::ReaderOptions& reader, kj::Own<Session> session,
             size_t flow_words)
      : stream(kj::mv(s)),
        network(*stream, capnp::rpc::twoparty::Side::SERVER, reader),
        rpc(capnp::makeRpcServer(network, kj::mv(session))) {
    rpc.setFlowLimit(flow_words);
  }
  kj::Own<kj::AsyncIoStream> stream;
  capnp::TwoPartyVatNetwork network;
  capnp::RpcSystem<capnp::rpc::twoparty::VatId> rpc;
};

kj::Promise<void> LedgerServer::Authenticated(uint64_t id, kj::AuthenticatedStream tls) {
  auto& identity = kj::downcast<kj::TlsPeerIdentity>(*tls.peerIdentity);
  KJ_REQUIRE(identity.hasCertificate(), "the client presented no certificate");
  std::string actor = identity.getCommonName().cStr();
  auto found = Read(actor, [](ledger::Ledger&, const ledger::ActorInfo&, Reply*) {});
  return found.then([this, id, actor, stream = kj::mv(tls.stream)](std::shared_ptr<Reply> r) mutable {
    if (!r->status.ok()) {  // A certificate of the CA, for an actor the ledger does not know (or no more).
      metrics_.Failed(Metrics::kConnectionRefused);
      Log("warn", "connection_refused",
          fmt::format("\"conn\":{},\"actor\":{},\"reason\":{}", id, ledger::JsonString(actor),
                      ledger::JsonString(r->status.ToString())));
      return kj::Promise<void>(kj::READY_NOW);
    }
    Log("info", "authenticated",
        fmt::format("\"conn\":{},\"actor\":{},\"role\":\"{}\"", id, ledger::JsonString(actor),
                    RoleName(r->actor.role)));
    capnp::ReaderOptions reader;
    reader.traversalLimitInWords = options_.max_message_bytes / sizeof(capnp::word);
    reader.nestingLimit = 64;
    auto conn = kj::heap<Connection>(kj::mv(stream), reader, kj::heap<Session>(*this, id, r->actor),
                                     options_.max_inflight_bytes / sizeof(capnp::word));
    metrics_.ConnectionOpened();
    auto cut = kj::newPromiseAndFulfiller<void>();
    live_[id] = {actor, kj::mv(cut.fulfiller)};
    // Ends when the peer goes or the actor is cut off; either way the connection is destroyed.
    auto done = conn->network.onDisconnect().exclusiveJoin(kj::mv(cut.promise));
    return done.attach(kj::mv(conn))
        .then([id, actor]() {
          Log("info", "connection_closed", fmt::format("\"conn\":{},\"actor\":{}", id, ledger::JsonString(actor)));
        })
        .attach(kj::defer([this, id]() {
          live_.erase(id);
          metrics_.ConnectionClosed();
        }));
  });
}

kj::Promise<std::shared_ptr<Reply>> LedgerServer::Read(const std::string& actor, ReadFn fn) {
  return Run(actor, std::move(fn), /*write=*/false);
}

kj::Promise<std::shared_ptr<Reply>> LedgerServer::Write(const std::string& actor, ReadFn fn) {
  return Run(actor, std::move(fn), /*write=*/true);
}

kj::Promise<std::shared_ptr<Reply>> LedgerServer::Run(const std::string& actor, ReadFn fn, bool write) {
  auto pair = kj::newPromiseAndCrossThreadFulfiller<void>();
  auto fulfiller = std::make_shared<kj::Own<kj::CrossThreadPromiseFulfiller<void>>>(kj::mv(pair.fulfiller));
  auto reply = std::make_shared<Reply>();
  auto job = [this, write, actor, fn = std::move(fn), fulfiller, reply](ledger::Ledger& l, const Status& snapshot) {
    auto start = std::chrono::steady_clock::now();
    reply->status = snapshot;
    if (reply->status.ok()) reply->status = l.LookupActor(actor, &reply->actor);
    if (reply->status.ok()) reply->status = Active(reply->actor);
    if (reply->status.ok()) fn(l, reply->actor, reply.get());
    if (!write) metrics_.Read(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    (*fulfiller)->fulfill();
  };
  if (write ? !writer_.EnqueueWrite(std::move(job)) : !writer_.EnqueueRead(std::move(job))) {
    if (!write) metrics_.Failed(Metrics::kReadsBusy);
    reply->status = draining_ || write ? Status::Busy("the server is stopping")
                                       : Status::Busy(fmt::format("the server has {} reads waiting (its limit): "
                                                                  "try again shortly",
                                                                  writer_.options().reads_queued_max));
    return reply;
  }
  return pair.promise.then([reply]() { return reply; });
}

kj::Promise<std::shared_ptr<AppendReply>> LedgerServer::Append(AppendJob job) {
  auto pair = kj::newPromiseAndCrossThreadFulfiller<void>();
  auto fulfiller = std::make_shared<kj::Own<kj::CrossThreadPromiseFulfiller<void>>>(kj::mv(pair.fulfiller));
  auto reply = std::make_shared<AppendReply>();
  job.done = [fulfiller, reply](std::vector<ledger::AppendResult>* results, const Status& refused,
                                const Status& write) {
    reply->results = std::move(*results);
    reply->refused = refused;
    reply->write = write;
    (*fulfiller)->fulfill();
  };
  // Behind parked calls, or into a full queue: park (the caller waits; nothing is dropped).
  if (!parked_.empty() || !writer_.TryEnqueue(&job)) {
    metrics_.Parked();
    parked_.push_back(std::move(job));
    ArmSpace();
  }
  return pair.promise.then([reply]() { return reply; });
}

Status LedgerServer::OnWriter(const std::function<Status(ledger::Ledger&)>& job) {
  std::promise<Status> done;
  auto answer = done.get_future();
  if (!writer_.EnqueueWrite([&](ledger::Ledger& l, const Status&) { done.set_value(job(l)); })) {
    return Status::Busy("the server is stopping");
  }
  return answer.get();  // The job refers to `done` and `job`: both live until it has run.
}

void LedgerServer::CutOff(const std::string& actor) {
  for (auto& [id, live] : live_) {
    if (live.actor != actor || !live.cut->isWaiting()) continue;
    Log("warn", "connection_cut",
        fmt::format("\"conn\":{},\"actor\":{},\"reason\":\"deactivated\"", id, ledger::JsonString(actor)));
    live.cut->fulfill();
  }
}

void LedgerServer::ArmSpace() {
  if (space_armed_) return;
  space_armed_ = true;
  auto pair = kj::newPromiseAndCrossThreadFulfiller<void>();
  auto fulfiller = std::make_shared<kj::Own<kj::CrossThreadPromiseFulfiller<void>>>(kj::mv(pair.fulfiller));
  tasks_.add(pair.promise.then([this]() {
    space_armed_ = false;
    AdmitParked();
  }));
  writer_.ArmSpaceWaiter([fulfiller]() { (*fulfiller)->fulfill(); });
}

void LedgerServer::AdmitParked() {
  while (!parked_.empty() && writer_.TryEnqueue(&parked_.front())) parked_.pop_front();
  if (!parked_.empty()) ArmSpace();
}

// Stops accepting and refuses new appends; resolves once every queued and parked call is
// answered by the writer. The caller then lets the answers reach their sockets and Stop()s.
kj::Promise<void> LedgerServer::Drain() {
  draining_ = true;
  accepting_ = nullptr;
  receiver_ = nullptr;
  Log("info", "draining",
      fmt::format("\"queued_events\":{},\"parked_calls\":{}", writer_.QueuedEvents(), parked_.size()));
  return WaitIdle();
}

kj::Promise<void> LedgerServer::WaitIdle() {
  if (parked_.empty() && writer_.Idle()) return kj::READY_NOW;
  return io_.provider->getTimer().afterDelay(5 * kj::MILLISECONDS).then([this]() { return WaitIdle(); });
}

void LedgerServer::Stop() {
  writer_.Stop();
}

// ---- Session -------------------------------------------------------------------------------------

kj::Promise<void> Session::whoAmI(WhoAmIContext context) {
  return server_
      .Read(me_.id,
            [](ledger::Ledger& l, const ledger::ActorInfo&, Reply* r) { r->text = std::to_string(l.head_seq()); })
      .then([context, max = server_.options().max_message_bytes,
             replica = server_.replica()](std::shared_ptr<Reply> r) mutable {
        KJ_REQUIRE(r->status.ok(), r->status.ToString().c_str());
        auto out = context.getResults();
        out.setActorId(r->actor.id);
        out.setRole(r->actor.role);
        out.setJurisdiction(r->actor.jurisdiction);
        out.setHeadSeq(std::stoull(r->text));
        out.setMaxMessageBytes(max);
        if (replica != nullptr) out.setReplica(replica->Describe());
      });
}

Status Session::MayAppend(ledger::schema::Event::Reader e) const {
  // An integration actor submits other actors' events: the ledger checks each such submission
  // against the actors and households as they are when it is appended (rules.cc CheckSubmitter:
  // the named actor registered and active, the region within the integration actor's
  // jurisdiction; then the named actor's own role and jurisdiction, as for its own events).
  if (me_.role == Role::INTEGRATION) return Status::Ok();
  return MayWrite(me_, e.getActorId().cStr(), "actorId", "the event");
}

Status Session::MayStartWrite() const {
  if (server_.draining()) return Status::Busy("ledgerd is shutting down: nothing was written");
  return server_.MayWriteHere();
}

kj::Promise<void> Session::append(AppendContext context) {
  auto events = context.getParams().getEvents();
  const size_t max = server_.options().max_events_per_call;
  if (events.size() > max || server_.draining()) server_.metrics().Failed(Metrics::kCallFailed);
  KJ_REQUIRE(events.size() <= max, "append: more events in one call than the limit (--max-events-per-call)",
             events.size(), max);
  KJ_REQUIRE(!server_.draining(), "ledgerd is shutting down: nothing of this call was appended");
  // Events refused here get their error; the others go to the writer, in order.
  auto early = std::make_shared<std::vector<Status>>(events.size());
  AppendJob job;
  job.actor_id = me_.id;
  const Status here = server_.MayWriteHere();  // A follower refuses, naming the leader.
  for (unsigned i = 0; i < events.size(); ++i) {
    (*early)[i] = here.ok() ? MayAppend(events[i]) : here;
    if (!(*early)[i].ok()) continue;
    auto message = std::make_unique<capnp::MallocMessageBuilder>(ledger::kEventMessageWords);
    (*early)[i] = CopyEvent(events[i], message.get());
    if ((*early)[i].ok()) job.events.push_back(std::move(message));
  }
  size_t refused = std::count_if(early->begin(), early->end(), [](const Status& s) { return !s.ok(); });
  if (refused > 0) server_.metrics().Appended(0, 0, refused);
  for (const auto& s : *early) {
    if (!s.ok()) {
      server_.metrics().Failed(Metrics::kAppendRefused);
      Log("warn", "append_refused",
          fmt::format("\"conn\":{},\"actor\":{},\"reason\":{}", conn_, ledger::JsonString(me_.id),
                      ledger::JsonString(s.reason())));
      break;
    }
  }
  auto answer = [context, early, server = &server_](std::shared_ptr<AppendReply> reply) mutable {
    auto outcomes = context.getResults().initOutcomes(static_cast<unsigned>(early->size()));
    // Read once: each read of the list pointer counts the whole list against the traversal
    // limit, so one per event made a call of a few thousand events exceed it.
    auto sent = context.getParams().getEvents();
    size_t next = 0;
    for (size_t i = 0; i < early->size(); ++i) {
      ledger::AppendResult r;
      if (!(*early)[i].ok()) {
        r.error = (*early)[i];
      } else if (!reply->refused.ok() || !reply->write.ok()) {
        r.error = reply->refused.ok() ? reply->write : reply->refused;
      } else {
        r = std::move(reply->results[next++]);
      }
      ToWire(r, outcomes[static_cast<unsigned>(i)]);
      // A deactivation takes effect at once: the actor's open connections are closed.
      auto e = sent[static_cast<unsigned>(i)];
      if (r.outcome == ledger::AppendResult::Outcome::kCreated && e.isActorDeactivated()) {
        server->CutOff(e.getActorDeactivated().getTargetActorId());
      }
    }
  };
  if (job.events.empty()) {
    answer(std::make_shared<AppendReply>());
    return kj::READY_NOW;
  }
  return server_.Append(std::move(job)).then(kj::mv(answer));  // Moved: kj keeps an lvalue by reference.
}

// The answer of a report: its failure, or its result record.
template <class Result, class Context>
auto AnswerReport(Context context) {
  return [context](std::shared_ptr<Reply> r) mutable {
    auto out = context.getResults();
    if (!r->status.ok()) return ToWire(r->status, out.initFailure());
    out.setResult(r->message.getRoot<Result>().asReader());
  };
}

template <class Result, class Context>
kj::Promise<void> Session::Report(Context context, ReadFn fn) {
  return server_.Read(me_.id, std::move(fn)).then(AnswerReport<Result>(context));
}

template <class Context>
kj::Promise<void> Session::Prove(Context context, ReadFn fn) {
  return server_.Read(me_.id, std::move(fn)).then([context](std::shared_ptr<Reply> r) mutable {
    auto out = context.getResults();
    if (!r->status.ok()) return ToWire(r->status, out.initFailure());
    out.setProof(r->text);
  });
}

kj::Promise<void> Session::show(ShowContext context) {
  uint64_t seq = context.getParams().getSeq();
  return server_
      .Read(me_.id,
            [seq](ledger::Ledger& l, const ledger::ActorInfo& me, Reply* r) {
              r->status = ScopeEntry(l, me, seq);
              if (r->status.ok()) r->status = l.ShowEntry(seq, &r->text);
            })
      .then([context](std::shared_ptr<Reply> r) mutable {
        auto out = context.getResults();
        if (!r->status.ok()) return ToWire(r->status, out.initFailure());
        out.setJson(r->text);
      });
}

kj::Promise<void> Session::replay(ReplayContext context) {
  auto p = context.getParams();
  std::string household = p.getHousehold();
  ledger::ReplayOptions options;
  options.as_of = p.getAsOf();
  options.keep_steps = true;
  options.entry_json = p.getEntries();
  options.state_text = true;
  auto fn = [household, options](ledger::Ledger& l, const ledger::ActorInfo& me, Reply* r) {
    r->status = ScopeHousehold(l, me, household);
    if (!r->status.ok()) return;
    auto result = r->message.initRoot<ledger::results::ReplayResult>();
    r->status = l.ReplayHousehold(
        household, options,
        [r](const ledger::ReplayStepView& v) {
          r->texts.emplace_back(v.state);
          r->entries.emplace_back(v.entry_json);
        },
        result, &r->text);
  };
  return server_.Read(me_.id, fn).then([context, entries = options.entry_json](std::shared_ptr<Reply> r) mutable {
    auto out = context.getResults();
    if (!r->status.ok()) return ToWire(r->status, out.initFailure());
    out.setResult(r->message.getRoot<ledger::results::ReplayResult>().asReader());
    auto states = out.initStates(static_cast<unsigned>(r->texts.size()));
    for (size_t i = 0; i < r->texts.size(); ++i) states.set(static_cast<unsigned>(i), r->texts[i]);
    if (entries) {
      auto list = out.initEntries(static_cast<unsigned>(r->entries.size()));
      for (size_t i = 0; i < r->entries.size(); ++i) list.set(static_cast<unsigned>(i), r->entries[i]);
    }
    out.setStateOnDate(r->text);
  });
}

ledger::ReportFilter FilterOf(rpc::Filter::Reader f) {
  ledger::ReportFilter filter;
  filter.region_prefix = f.getRegionPrefix();
  if (f.getProgramme() != ledger::schema::Programme::UNSPECIFIED)
    filter.programme = static_cast<uint16_t>(f.getProgramme());
  return filter;
}

kj::Promise<void> Session::roll(RollContext context) {
  auto filter = FilterOf(context.getParams().getFilter());
  uint32_t as_of = context.getParams().getAsOf();
  return Report<ledger::results::RollResult>(
      context, [filter, as_of](ledger::Ledger& l, const ledger::ActorInfo& me, Reply* r) mutable {
        r->status = ScopeRegion(me, &filter.region_prefix);
        if (r->status.ok()) r->status = l.Roll(filter, as_of, r->message.initRoot<ledger::results::RollResult>());
      });
}

kj::Promise<void> Session::reviews(ReviewsContext context) {
  auto filter = FilterOf(context.getParams().getFilter());
  uint32_t as_of = context.getParams().getAsOf(), due_by = context.getParams().getDueBy();
  return Report<ledger::results::RollResult>(
      context, [filter, as_of, due_by](ledger::Ledger& l, const ledger::ActorInfo& me, Reply* r) mutable {
        r->status = ScopeRegion(me, &filter.region_prefix);
        if (r->status.ok()) {
          r->status = l.Reviews(filter, as_of, due_by, r->message.initRoot<ledger::results::RollResult>());
        }
      });
}

kj::Promise<void> Session::totals(TotalsContext context) {
  auto filter = FilterOf(context.getParams().getFilter());
  uint32_t from = context.getParams().getFromPeriod(), to = context.getParams().getToPeriod();
  return Report<ledger::results::TotalsResult>(
      context, [filter, from, to](ledger::Ledger& l, const ledger::ActorInfo& me, Reply* r) mutable {
        r->status = ScopeRegion(me, &filter.region_prefix);
        if (r->status.ok())
          r->status = l.Totals(filter, from, to, r->message.initRoot<ledger::results::TotalsResult>());
      });
}

kj::Promise<void> Session::recoveries(RecoveriesContext context) {
  auto filter = FilterOf(context.getParams().getFilter());
  std::string household = context.getParams().getHousehold();
  return Report<ledger::results::RecoveriesResult>(context, RecoveriesJob(filter, household));
}

kj::Promise<void> Session::trace(TraceContext context) {
  using Scope = ledger::results::TraceScope;
  auto p = context.getParams();
  Scope scope = p.getScope() == rpc::TraceScope::ACTOR       ? Scope::kActor
                : p.getScope() == rpc::TraceScope::HOUSEHOLD ? Scope::kHousehold
                                                             : Scope::kRegion;
  std::string asked = p.getAsked();
  return Report<ledger::results::TraceResult>(
      context, [scope, asked](ledger::Ledger& l, const ledger::ActorInfo& me, Reply* r) mutable {
        r->status = ScopeTrace(l, me, scope, &asked);
        if (r->status.ok()) r->status = l.Trace(scope, asked, r->message.initRoot<ledger::results::TraceResult>());
      });
}

// verify's progress, from the reader running it to the client's VerifyProgress capability on the
// event loop: the writer posts the latest count, at most every kInterval (and the last one
// always); the event loop sends it, and the next only once the client has answered, so counts
// are coalesced and never queue up behind a slow client. Post is for the reader; Close
// and RelayProgress for the event loop.
class ProgressMailbox {
 public:
  static constexpr auto kInterval = std::chrono::milliseconds(250);

  void Post(uint64_t checked, uint64_t total) {
    auto now = std::chrono::steady_clock::now();
    if (checked < total && posted_ && now - last_ < kInterval) return;
    posted_ = true;
    last_ = now;
    std::lock_guard lock(mu_);
    pending_ = {checked, total};
    Wake();
  }
  // Verify is done: RelayProgress ends once it has sent what was posted.
  void Close() {
    std::lock_guard lock(mu_);
    closed_ = true;
    Wake();
  }

 private:
  friend kj::Promise<void> RelayProgress(std::shared_ptr<ProgressMailbox> box, rpc::VerifyProgress::Client client);
  void Wake() {  // Under mu_.
    if (wake_) wake_->fulfill();
    wake_ = nullptr;
  }

  std::chrono::steady_clock::time_point last_;  // The reader's only, as posted_.
  bool posted_ = false;
  std::mutex mu_;
  std::optional<std::pair<uint64_t, uint64_t>> pending_;
  bool closed_ = false;
  kj::Own<kj::CrossThreadPromiseFulfiller<void>> wake_;  // The relay waiting for a post.
};

// Sends `client` every count posted in `box`, one call at a time, until the box is closed.
kj::Promise<void> RelayProgress(std::shared_ptr<ProgressMailbox> box, rpc::VerifyProgress::Client client) {
  std::unique_lock lock(box->mu_);
  if (box->pending_) {
    auto [checked, total] = *box->pending_;
    box->pending_.reset();
    lock.unlock();
    auto request = client.progressRequest();
    request.setEntriesChecked(checked);
    request.setEntriesTotal(total);
    return request.send().ignoreResult().then(
        [box, client]() mutable { return RelayProgress(std::move(box), kj::mv(client)); });
  }
  if (box->closed_) return kj::READY_NOW;
  auto pair = kj::newPromiseAndCrossThreadFulfiller<void>();
  box->wake_ = kj::mv(pair.fulfiller);
  return pair.promise.then([box, client]() mutable { return RelayProgress(std::move(box), kj::mv(client)); });
}

// Verify reads the whole log on a reader's snapshot, beside appends: for the roles whose work it is. With a
// VerifyProgress, the client hears how far it has got; the answer comes after the last count was sent (or 5 s after
// verify ended, for a client that does not answer).
kj::Promise<void> Session::verify(VerifyContext context) {
  std::shared_ptr<ProgressMailbox> box;
  kj::Promise<void> relay = kj::READY_NOW;
  if (context.getParams().hasProgress()) {
    box = std::make_shared<ProgressMailbox>();
    relay = RelayProgress(box, context.getParams().getProgress())
                .catch_([](kj::Exception&&) {})  // A client that stops listening still gets its answer.
                .eagerlyEvaluate(nullptr);
  }
  auto fn = [box](ledger::Ledger& l, const ledger::ActorInfo& me, Reply* r) {
    r->status = MayVerify(me);
    if (!r->status.ok()) return;
    ledger::Ledger::VerifyProgress progress;
    if (box) progress = [box](uint64_t checked, uint64_t total) { box->Post(checked, total); };
    r->status = l.Verify(r->message.initRoot<ledger::results::VerifyResult>(), progress);
  };
  auto& timer = server_.timer();
  auto verified = server_.Read(me_.id, fn).then([box, relay = kj::mv(relay), &timer](std::shared_ptr<Reply> r) mutable {
    if (box) box->Close();  // The writer posts nothing more.
    return relay.exclusiveJoin(timer.afterDelay(5 * kj::SECONDS)).then([r]() { return r; });
  });
  return verified.then(AnswerReport<ledger::results::VerifyResult>(context));
}

// ---- Payroll ---------------------------------------------------------------------------------

ledger::PayrollRequest RequestOf(rpc::PayrollRequest::Reader r) {
  return {r.getCounty(), r.getProgramme(), r.getPeriod(), r.getActorId(), r.getDate()};
}

// The server's side of a roll its actor signed on the client: the event signed must be the roll
// the ledger would append now, the signature aside (the plan may have changed since payrollRoll:
// a case approved or paid in between); then its signature goes on the roll appended. The ledger
// checks the signature against the actor's key on append, as for any signed event.
ledger::Ledger::RollSigner SignatureOf(std::shared_ptr<capnp::MallocMessageBuilder> signed_roll) {
  return [signed_roll](capnp::MessageBuilder* roll) {
    auto theirs = signed_roll->getRoot<ledger::schema::Event>();
    capnp::MallocMessageBuilder unsigned_copy;
    unsigned_copy.setRoot(theirs.asReader());
    unsigned_copy.getRoot<ledger::schema::Event>().disownActorSignature();
    auto a = capnp::canonicalize(unsigned_copy.getRoot<ledger::schema::Event>().asReader());
    auto b = capnp::canonicalize(roll->getRoot<ledger::schema::Event>().asReader());
    if (a.asBytes() != b.asBytes()) {
      return Status::Conflict("signedRoll",
                              "the roll signed is not the roll the ledger would issue now (the payable cases changed "
                              "since it was planned): nothing issued; run payroll issue again to sign the new roll");
    }
    roll->getRoot<ledger::schema::Event>().setActorSignature(theirs.getActorSignature());
    return Status::Ok();
  };
}

kj::Promise<void> Session::payrollRoll(PayrollRollContext context) {
  auto request = RequestOf(context.getParams().getRequest());
  auto due = std::make_shared<bool>(false);
  auto fn = [request, due](ledger::Ledger& l, const ledger::ActorInfo& me, Reply* r) {
    r->status = MayIssue(me, request);
    if (r->status.ok()) r->status = l.PayrollRoll(request, &r->message, due.get());
  };
  return server_.Read(me_.id, fn).then([context, due](std::shared_ptr<Reply> r) mutable {
    auto out = context.getResults();
    if (!r->status.ok()) return ToWire(r->status, out.initFailure());
    if (*due) out.setRoll(r->message.getRoot<ledger::schema::Event>().asReader());
  });
}

// Issues (a write: see the file comment) or dry-runs the roll, signed with the client's signature
// if it sent one.
kj::Promise<void> Session::payroll(PayrollContext context) {
  auto p = context.getParams();
  auto request = RequestOf(p.getRequest());
  bool dry_run = p.getDryRun();
  Status early = dry_run ? Status::Ok() : MayStartWrite();
  std::shared_ptr<capnp::MallocMessageBuilder> signed_roll;
  if (early.ok() && p.hasSignedRoll()) {
    signed_roll = std::make_shared<capnp::MallocMessageBuilder>(ledger::kEventMessageWords);
    early = CopyEvent(p.getSignedRoll(), signed_roll.get());  // As append copies an event.
    if (!early.ok()) early = early.WithFieldPrefix("signedRoll");
  }
  if (!early.ok()) {
    ToWire(early, context.getResults().initFailure());
    return kj::READY_NOW;
  }
  auto fn = [request, dry_run, signed_roll](ledger::Ledger& l, const ledger::ActorInfo& me, Reply* r) {
    r->status = MayIssue(me, request);
    if (!r->status.ok()) return;
    auto sign = signed_roll ? SignatureOf(signed_roll) : ledger::Ledger::RollSigner();
    auto result = r->message.initRoot<ledger::results::PayrollResult>();
    r->status = l.IssuePayrollSignedBy(request, dry_run, sign, result, &r->text, me.id);  // me: the submitter.
  };
  auto run = dry_run ? server_.Read(me_.id, fn) : server_.Write(me_.id, fn);
  return run.then([context](std::shared_ptr<Reply> r) mutable {
    auto out = context.getResults();
    if (!r->status.ok()) return ToWire(r->status, out.initFailure());
    out.setResult(r->message.getRoot<ledger::results::PayrollResult>().asReader());
    out.setRefusal(r->text);
  });
}

// A roll's bank instruction file, for those whose jurisdiction covers its county.
kj::Promise<void> Session::exportRoll(ExportRollContext context) {
  std::string roll_id = context.getParams().getRollId();
  auto file = std::make_shared<ledger::RollFile>();
  auto fn = [roll_id, file](ledger::Ledger& l, const ledger::ActorInfo& me, Reply* r) {
    r->status = l.ExportRoll(roll_id, file.get());
    if (r->status.ok() && !Within(file->county, me.jurisdiction)) {
      r->status = Refused("roll_id", me, fmt::format("roll {} of county {}", roll_id, file->county));
    }
  };
  return server_.Read(me_.id, fn).then([context, file](std::shared_ptr<Reply> r) mutable {
    auto out = context.getResults();
    if (!r->status.ok()) return ToWire(r->status, out.initFailure());
    out.setCsv(file->csv);
    out.setPayments(file->payments);
    out.setSumFen(file->sum_fen);
    out.setCounty(file->county);
  });
}

// ---- Reconcile -------------------------------------------------------------------------------

// Parses and matches the file and, with apply (a write: see the file comment), records its
// results: by the caller's finance officer, in its own name.
kj::Promise<void> Session::reconcile(ReconcileContext context) {
  auto p = context.getParams();
  std::string text = p.getBankFile();
  std::optional<std::string> columns;
  if (p.getHasColumns()) columns = p.getColumns();
  BankApply apply{p.getApply(), p.getActorId(), p.getDate()};
  Status early = apply.apply ? MayStartWrite() : Status::Ok();
  if (!early.ok()) {
    ToWire(early, context.getResults().initFailure());
    return kj::READY_NOW;
  }
  auto extra = std::make_shared<Reconciled>();
  auto fn = ReconcileJob(std::move(text), columns, apply, extra);
  auto run = apply.apply ? server_.Write(me_.id, std::move(fn)) : server_.Read(me_.id, std::move(fn));
  return run.then([context, extra, applied = apply.apply](std::shared_ptr<Reply> r) mutable {
    auto out = context.getResults();
    if (!r->status.ok()) return ToWire(r->status, out.initFailure());
    out.setLines(extra->lines.getRoot<capnp::AnyPointer>().getAs<capnp::List<ledger::results::ReconcileLine>>());
    out.setSummary(r->message.getRoot<ledger::results::ReconcileResult>().asReader());
    if (applied) out.setApplied(extra->applied.getRoot<ledger::results::ApplyOutcome>().asReader());
    auto refused = out.initRefused(static_cast<unsigned>(extra->refused.size()));
    for (size_t i = 0; i < extra->refused.size(); ++i) ToWire(extra->refused[i], refused[static_cast<unsigned>(i)]);
  });
}

// ---- Evidence --------------------------------------------------------------------------------

// The ledger's checkpoint verifier key: public (auditors are given it), for every caller.
kj::Promise<void> Session::checkpointKey(CheckpointKeyContext context) {
  auto fn = [](ledger::Ledger& l, const ledger::ActorInfo&, Reply* r) {
    ledger::note::Verifier key;
    r->status = l.CheckpointKey(&key);
    if (r->status.ok()) r->text = ledger::note::FormatVerifierKey(key);
  };
  return server_.Read(me_.id, fn).then([context](std::shared_ptr<Reply> r) mutable {
    auto out = context.getResults();
    if (!r->status.ok()) return ToWire(r->status, out.initFailure());
    out.setKey(r->text);
  });
}

// Makes (a write: see the file comment) or finds the checkpoint of the head, signed with
// ledgerd's checkpoint key.
kj::Promise<void> Session::checkpoint(CheckpointContext context) {
  Status early = MayStartWrite();
  if (!early.ok()) {
    ToWire(early, context.getResults().initFailure());
    return kj::READY_NOW;
  }
  auto made = std::make_shared<bool>(false);
  auto fn = [key = server_.checkpoint_key(), made](ledger::Ledger& l, const ledger::ActorInfo& me, Reply* r) {
    r->status = MayCheckpoint(me);
    if (r->status.ok() && key == nullptr) {
      r->status = Status::Invalid("key",
                                  "ledgerd has no checkpoint signer key: start it with --checkpoint-key FILE "
                                  "(by default it reads D/checkpoint.key, which it did not find)");
    }
    ledger::evidence::SignedCheckpoint cp;
    if (r->status.ok()) r->status = l.MakeCheckpoint(*key, &cp, made.get());
    r->text = cp.note;
  };
  return server_.Write(me_.id, fn).then([context, made](std::shared_ptr<Reply> r) mutable {
    auto out = context.getResults();
    if (!r->status.ok()) return ToWire(r->status, out.initFailure());
    out.setNote(r->text);
    out.setMade(*made);
  });
}

// The stored checkpoints: sizes and roots, no personal data, for every caller.
kj::Promise<void> Session::checkpoints(CheckpointsContext context) {
  return Report<ledger::results::CheckpointList>(context, [](ledger::Ledger& l, const ledger::ActorInfo&, Reply* r) {
    r->status = l.ListCheckpoints(r->message.initRoot<ledger::results::CheckpointList>());
  });
}

std::optional<uint64_t> SizeOf(uint64_t size) {
  return size == 0 ? std::nullopt : std::optional<uint64_t>(size);
}

// An entry's inclusion proof holds the entry: for those whose jurisdiction covers it (as show).
kj::Promise<void> Session::proveInclusion(ProveInclusionContext context) {
  uint64_t seq = context.getParams().getSeq();
  auto size = SizeOf(context.getParams().getSize());
  return Prove(context, [seq, size](ledger::Ledger& l, const ledger::ActorInfo& me, Reply* r) {
    ledger::evidence::Proof proof;
    r->status = ScopeEntry(l, me, seq);
    if (r->status.ok()) r->status = l.ProveInclusion(seq, size, &proof);
    if (r->status.ok()) r->text = ledger::evidence::ProofToJson(proof);
  });
}

// Two roots and the hashes between them, no entry: for every caller.
kj::Promise<void> Session::proveConsistency(ProveConsistencyContext context) {
  uint64_t size1 = context.getParams().getSize1(), size2 = context.getParams().getSize2();
  return Prove(context, [size1, size2](ledger::Ledger& l, const ledger::ActorInfo&, Reply* r) {
    ledger::evidence::Proof proof;
    r->status = l.ProveConsistency(size1, size2, &proof);
    if (r->status.ok()) r->text = ledger::evidence::ProofToJson(proof);
  });
}

// Every entry of a household: for those whose jurisdiction covers it (as replay).
kj::Promise<void> Session::proveHousehold(ProveHouseholdContext context) {
  std::string household = context.getParams().getHousehold();
  auto size = SizeOf(context.getParams().getSize());
  return Prove(context, [household, size](ledger::Ledger& l, const ledger::ActorInfo& me, Reply* r) {
    ledger::evidence::Proof proof;
    r->status = ScopeHousehold(l, me, household);
    if (r->status.ok()) r->status = l.ProveHousehold(household, size, &proof);
    if (r->status.ok()) r->text = ledger::evidence::ProofToJson(proof);
  });
}

// ---- Web console ---------------------------------------------------------------------------

// A one-time sign-in URL of the console for the caller, still registered and active.
kj::Promise<void> Session::consoleLogin(ConsoleLoginContext context) {
  Console* console = server_.console();
  if (console == nullptr) {
    ToWire(Status::Invalid("console", "ledgerd serves no web console: start it with --console-listen HOST:PORT"),
           context.getResults().initFailure());
    return kj::READY_NOW;
  }
  auto noop = [](ledger::Ledger&, const ledger::ActorInfo&, Reply*) {};
  return server_.Read(me_.id, noop).then([context, console](std::shared_ptr<Reply> r) mutable {
    auto out = context.getResults();
    std::string url;
    if (r->status.ok()) r->status = console->IssueLogin(r->actor.id, &url);
    if (!r->status.ok()) return ToWire(r->status, out.initFailure());
    Log("info", "console_login_issued", fmt::format("\"actor\":{}", ledger::JsonString(r->actor.id)));
    out.setUrl(url);
    out.setExpiresInSeconds(console->options().login_seconds);
  });
}

// ---------------------------------------------------------------------------------------------
// /metrics and /healthz (plain HTTP, on --metrics-listen)

class MetricsService final : public kj::HttpService {
 public:
  MetricsService(const kj::HttpHeaderTable& table, const LedgerServer& server) : table_(table), server_(server) {}

  kj::Promise<void> request(kj::HttpMethod method, kj::StringPtr url, const kj::HttpHeaders&, kj::AsyncInputStream&,
                            Response& response) override {
    if (method != kj::HttpMethod::GET) return Send(response, 405, "Method Not Allowed", "GET only\n");
    if (url == "/metrics") return Send(response, 200, "OK", server_.MetricsText());
    if (url == "/healthz") {
      bool ok = server_.Healthy();
      return Send(response, ok ? 200 : 503, ok ? "OK" : "Service Unavailable", ok ? "ok\n" : "draining\n");
    }
    return Send(response, 404, "Not Found", "GET /metrics or /healthz\n");
  }

 private:
  kj::Promise<void> Send(Response& response, uint status, kj::StringPtr text, const std::string& body) {
    kj::HttpHeaders headers(table_);
    headers.set(kj::HttpHeaderId::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8");
    auto copy = kj::heapString(body.data(), body.size());
    auto stream = response.send(status, text, headers, copy.size());
    auto written = stream->write(copy.begin(), copy.size());
    return written.attach(kj::mv(stream), kj::mv(copy));
  }

  const kj::HttpHeaderTable& table_;
  const LedgerServer& server_;
};

// ---------------------------------------------------------------------------------------------
// main

// RPC's TLS (verify_clients: no certificate of the ledger's CA, no connection), or the console's
// (browsers sign in with a login URL instead: console.h).
kj::Own<kj::TlsContext> MakeTls(kj::Timer& timer, kj::TlsKeypair* keypair, kj::TlsCertificate* ca,
                                bool verify_clients = true) {
  kj::TlsContext::Options options;
  options.useSystemTrustStore = false;
  options.verifyClients = verify_clients;
  options.trustedCertificates = kj::arrayPtr(ca, 1);
  options.defaultKeypair = *keypair;
  options.timer = timer;
  options.acceptTimeout = 10 * kj::SECONDS;
  return kj::heap<kj::TlsContext>(kj::mv(options));
}

// The checkpoint signer key: --checkpoint-key (which must read), else D/checkpoint.key if there
// is one (else none: making a checkpoint is refused, saying why).
Status LoadCheckpointKey(const Options& o, std::optional<ledger::note::KeyPair>* key) {
  std::string path = o.checkpoint_key.empty() ? o.dir + "/checkpoint.key" : o.checkpoint_key;
  std::ifstream in(path);
  if (!in && o.checkpoint_key.empty()) return Status::Ok();
  std::string text(4096, '\0');  // A key text is under 200 bytes.
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<size_t>(in.gcount()));
  if (in.bad() || text.empty()) return Status::IOError(fmt::format("cannot read the checkpoint key {}", path));
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  Status s = ledger::note::ParseSignerKey(text, &key->emplace());
  if (!s.ok()) return Status::Invalid("checkpoint-key", fmt::format("{} is not a signer key: {}", path, s.ToString()));
  return Status::Ok();
}

// A cluster member's copy is checked whole before it applies or leads: an entry altered on its
// disk is found here (the chains and the tree), not taken on by the next group's links.
Status VerifyCopy(const ledger::Ledger& ledger) {
  capnp::MallocMessageBuilder message;
  auto result = message.initRoot<ledger::results::VerifyResult>();
  Status s = ledger.Verify(result);
  if (!s.ok() || result.getOk()) return s;
  std::string where = result.getBadSeq() != 0 ? fmt::format("seq {}: ", result.getBadSeq()) : "";
  return Status::Corruption(fmt::format("this copy does not verify: {}{}", where, result.getProblem().cStr()));
}

std::atomic<int> exit_code{0};  // Set before a SIGTERM ledgerd sends itself (a refused replica: 3).

// The cluster member --etcd names; `port` is the one listened on (0: not yet listening).
Replica::Options ReplicaOptions(const Options& o, unsigned port) {
  Replica::Options ro;
  for (size_t at = 0; at <= o.etcd.size();) {
    size_t comma = std::min(o.etcd.find(',', at), o.etcd.size());
    if (comma > at) ro.etcd_endpoints.push_back(o.etcd.substr(at, comma - at));
    at = comma + 1;
  }
  ro.ledger_id = o.ledger_id;
  ro.node_id = o.node_id;
  std::string host = o.listen.substr(0, o.listen.rfind(':'));
  ro.address = !o.advertise.empty() ? o.advertise : port != 0 ? fmt::format("{}:{}", host, port) : o.listen;
  ro.lease_seconds = static_cast<int>(std::min<size_t>(o.lease_seconds, 3600));
  return ro;
}

// The member of --etcd's cluster, started once the server (its writer) runs; null alone.
std::unique_ptr<Replica> StartReplica(const Options& o, LedgerServer* server, unsigned port, Status* s) {
  if (o.etcd.empty()) return nullptr;
  Replica::Options ro = ReplicaOptions(o, port);
  auto replica = std::make_unique<Replica>(
      ro, [server](const std::function<Status(ledger::Ledger&)>& job) { return server->OnWriter(job); },
      [](const char* level, const std::string& e, const std::string& f) { Log(level, e, f); },
      [](const Status&) {
        exit_code = 3;
        ::kill(::getpid(), SIGTERM);  // Drains and exits: the event loop takes the signal.
      });
  server->SetReplica(replica.get());
  *s = replica->Start();
  Log(s->ok() ? "info" : "error", s->ok() ? "replica_started" : "replica_failed",
      fmt::format("\"ledger_id\":{},\"node_id\":{},\"address\":{},\"etcd\":{},\"reason\":{}",
                  ledger::JsonString(ro.ledger_id), ledger::JsonString(ro.node_id), ledger::JsonString(ro.address),
                  ledger::JsonString(o.etcd), ledger::JsonString(s->ok() ? "" : s->ToString())));
  return replica;
}

int Run(const Options& o) {
  kj::UnixEventPort::captureSignal(SIGTERM);  // Before any thread: signals come to the event loop.
  kj::UnixEventPort::captureSignal(SIGINT);
  std::string tls_dir = TlsDir(o.dir, o.tls_dir);
  bool made = false;
  ServerFiles files;
  Status s = EnsureCa(tls_dir, &made);
  if (s.ok()) s = ReadServerFiles(tls_dir, &files);
  if (!s.ok())
    return Log("error", "tls_setup_failed", fmt::format("\"reason\":{}", ledger::JsonString(s.ToString()))), 2;
  if (made) Log("info", "tls_ca_created", fmt::format("\"tls_dir\":{}", ledger::JsonString(tls_dir)));
  std::unique_ptr<ledger::Ledger> ledger;
  s = ledger::Ledger::Open(o.dir, &ledger);
  if (!s.ok()) return Log("error", "open_failed", fmt::format("\"reason\":{}", ledger::JsonString(s.ToString()))), 2;
  if (!ledger->identity_error().ok()) {
    Log("warn", "appends_refused",
        fmt::format("\"reason\":{}", ledger::JsonString(ledger->identity_error().ToString())));
  }
  if (!o.etcd.empty()) {
    Log("info", "verifying_copy", fmt::format("\"head_seq\":{}", ledger->head_seq()));
    if (Status v = VerifyCopy(*ledger); !v.ok()) {
      Log("error", "replica_refused", fmt::format("\"reason\":{}", ledger::JsonString(v.ToString())));
      if (Status r = Replica::RecordRefused(ReplicaOptions(o, 0), ledger->head_seq(), v); !r.ok()) {
        Log("warn", "replica_record_failed", fmt::format("\"reason\":{}", ledger::JsonString(r.ToString())));
      }
      return 3;
    }
  }
  std::optional<ledger::note::KeyPair> checkpoint_key;
  if (Status k = LoadCheckpointKey(o, &checkpoint_key); !k.ok()) {
    return Log("error", "checkpoint_key_failed", fmt::format("\"reason\":{}", ledger::JsonString(k.ToString()))), 2;
  }
  uint64_t head = ledger->head_seq();
  // The state in memory before the first caller, who would otherwise wait for it (a state too
  // large for the budget is read as appends need it). A read error here is the first append's too.
  if (Status loaded = ledger->LoadState(); !loaded.ok()) {
    Log("warn", "state_not_loaded", fmt::format("\"reason\":{}", ledger::JsonString(loaded.ToString())));
  }

  auto io = kj::setupAsyncIo();
  kj::TlsKeypair keypair{kj::TlsPrivateKey(files.key_pem.c_str()), kj::TlsCertificate(files.cert_pem.c_str())};
  kj::TlsCertificate ca(files.ca_pem.c_str());
  auto tls = MakeTls(io.provider->getTimer(), &keypair, &ca);
  LedgerServer server(o, io, *tls, std::move(ledger), std::move(checkpoint_key));
  auto address = io.provider->getNetwork().parseAddress(o.listen).wait(io.waitScope);
  auto receiver = address->listen();
  unsigned port = receiver->getPort();
  Log("info", "listening",
      fmt::format("\"address\":{},\"port\":{},\"head_seq\":{},\"tls_dir\":{},\"checkpoint_key\":{}",
                  ledger::JsonString(o.listen), port, head, ledger::JsonString(tls_dir),
                  server.checkpoint_key() != nullptr ? ledger::JsonString(server.checkpoint_key()->name) : "null"));
  Status replicating;
  std::unique_ptr<Replica> replica = StartReplica(o, &server, port, &replicating);
  if (!replicating.ok()) return server.Stop(), 2;
  server.Listen(kj::mv(receiver));
  kj::HttpHeaderTable table;
  MetricsService service(table, server);
  kj::HttpServer http(io.provider->getTimer(), table, service);
  kj::Own<kj::ConnectionReceiver> metrics_receiver;
  kj::Promise<void> metrics_served = kj::NEVER_DONE;
  if (!o.metrics_listen.empty()) {
    metrics_receiver = io.provider->getNetwork().parseAddress(o.metrics_listen).wait(io.waitScope)->listen();
    Log("info", "metrics_listening", fmt::format("\"port\":{}", metrics_receiver->getPort()));
    metrics_served = http.listenHttp(*metrics_receiver).eagerlyEvaluate([](kj::Exception&& e) {
      Log("error", "metrics_failed", fmt::format("\"reason\":{}", ledger::JsonString(e.getDescription().cStr())));
    });
  }
  // The web console: HTTPS in this event loop, reading through the server as RPC calls do.
  auto console_tls = MakeTls(io.provider->getTimer(), &keypair, &ca, /*verify_clients=*/false);
  std::unique_ptr<Console> console;
  kj::Promise<void> console_served = kj::NEVER_DONE;
  if (!o.console_listen.empty()) {
    auto console_receiver = io.provider->getNetwork().parseAddress(o.console_listen).wait(io.waitScope)->listen();
    unsigned console_port = console_receiver->getPort();
    ConsoleOptions co{o.console_listen, o.console_dir,
                      fmt::format("{}:{}", o.listen.substr(0, o.listen.rfind(':')), port),
                      static_cast<uint32_t>(std::min<size_t>(o.console_session_seconds, 366 * 86400)), 120};
    console = std::make_unique<Console>(
        co, io.provider->getTimer(),
        [&server](const std::string& actor, ReadFn fn) { return server.Read(actor, std::move(fn)); },
        [](const char* level, const std::string& e, const std::string& f) { Log(level, e, f); });
    console->SetWrite([&server](const std::string& actor, ReadFn fn) {
      Status here = server.MayWriteHere();
      if (!server.draining() && here.ok()) return server.Write(actor, std::move(fn));
      auto r = std::make_shared<Reply>();  // As Session::MayStartWrite refuses.
      r->status = server.draining() ? Status::Busy("ledgerd is shutting down: nothing was written") : here;
      return kj::Promise<std::shared_ptr<Reply>>(kj::mv(r));
    });
    server.SetConsole(console.get());
    Log("info", "console_listening",
        fmt::format("\"port\":{},\"dir\":{}", console_port, ledger::JsonString(o.console_dir)));
    console_served = console->Serve(kj::mv(console_receiver), *console_tls).eagerlyEvaluate([](kj::Exception&& e) {
      Log("error", "console_failed", fmt::format("\"reason\":{}", ledger::JsonString(e.getDescription().cStr())));
    });
  }
  if (!o.port_file.empty()) {
    std::string tmp = o.port_file + ".tmp";
    FILE* f = ::fopen(tmp.c_str(), "w");
    if (f == nullptr || ::fprintf(f, "%u\n", port) < 0 || ::fclose(f) != 0 ||
        ::rename(tmp.c_str(), o.port_file.c_str())) {
      Log("error", "port_file_failed", fmt::format("\"path\":{}", ledger::JsonString(o.port_file)));
      return 2;
    }
  }
  auto& port_events = io.unixEventPort;
  auto sig = port_events.onSignal(SIGTERM).exclusiveJoin(port_events.onSignal(SIGINT)).wait(io.waitScope);
  Log("info", "signal", fmt::format("\"signo\":{}", sig.si_signo));
  server.Drain().wait(io.waitScope);
  // The last answers are fulfilled; give the event loop a moment to write them to their sockets.
  io.provider->getTimer().afterDelay(200 * kj::MILLISECONDS).wait(io.waitScope);
  if (replica) replica->Stop();  // After the drain: its groups needed the committer.
  server.Stop();
  Log("info", "stopped", fmt::format("\"exit_code\":{}", exit_code.load()));
  return exit_code;
}

}  // namespace
}  // namespace ledgerd

int main(int argc, char** argv) {
  ::signal(SIGPIPE, SIG_IGN);
  auto options = ledgerd::ParseOptions(argc, argv);
  if (!options) {
    fmt::print(stderr, "{}", ledgerd::kUsage);
    return 2;
  }
  int code = 2;
  KJ_IF_MAYBE (e, kj::runCatchingExceptions([&] { code = ledgerd::Run(*options); })) {
    ledgerd::Log("error", "fatal", fmt::format("\"reason\":{}", ledger::JsonString(e->getDescription().cStr())));
    return 2;
  }
  return code;
}
