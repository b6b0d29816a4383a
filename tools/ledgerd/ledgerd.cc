// ledgerd: one Benefit Ledger served to many authenticated users at once (issue 16), over Cap'n
// Proto RPC (ledgerd.capnp) on mutual TLS. Written against include/benefit_ledger/ only, as
// ledgerctl is.
//
//   ledgerd --dir D --listen 127.0.0.1:PORT [--tls-dir T] [--port-file F] [limits...]
//
// Authentication: mutual TLS with certificates issued by the ledger's own CA (tls_ca.h). The
// client certificate's common name is the actor id; a connection is served only if that actor
// is registered in the ledger, and every call looks the actor up again. No anonymous access:
// kj-tls refuses a client without a certificate of the CA during the handshake. Every event
// appended records the connection's actor as its submittedBy; an actor appends only its own
// events, except an integration actor, which submits other actors' (Session::MayAppend).
//
// Threads: this one runs the event loop (accepting, TLS, RPC, the access checks that need no
// ledger); the Writer (writer.h) owns the Ledger and runs appends (group commit), and its
// readers run reads on snapshots of it.
//
// Input never crashes the server: a malformed message, a message over --max-message-bytes or
// garbage on the socket breaks that connection only (logged); the others go on.
// SIGTERM/SIGINT: stop accepting, refuse new appends, answer what is queued, close the ledger,
// exit 0. Logs: one JSON object per line on standard error.

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

#include <chrono>
#include <csignal>
#include <cstdio>
#include <ctime>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "benefit_ledger/events.h"
#include "benefit_ledger/format.h"
#include "benefit_ledger/ledger.h"
#include "metrics.h"
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
  size_t max_connections = 256;
  size_t max_events_per_call = 10000;
  size_t max_message_bytes = 64 << 20;    // Cap'n Proto traversal limit of one incoming message.
  size_t max_inflight_bytes = 128 << 20;  // Per connection: calls received and not yet answered.
  size_t queue_events_max = 20000;        // Events waiting for the writer, from all connections.
};

const char* const kUsage =
    "usage: ledgerd --dir D --listen HOST:PORT [--tls-dir T] [--port-file F] [--metrics-listen HOST:PORT]\n"
    "               [--max-connections N] [--max-events-per-call N] [--max-message-bytes N]\n"
    "               [--max-inflight-bytes N] [--queue-events N]\n\n"
    "Serves ledger D over Cap'n Proto RPC on mutual TLS. Clients connect with a credential from\n"
    "ledgerctl credential issue --dir D --actor A --out A.cred. The CA and the server's key and\n"
    "certificate are in T (default D/tls), made on first use. PORT 0 lets the system choose; the\n"
    "port is logged and written to F. --metrics-listen serves GET /metrics (Prometheus text) and\n"
    "GET /healthz over plain HTTP: keep it on a local address. SIGTERM drains and exits 0.\n";

std::optional<Options> ParseOptions(int argc, char** argv) {
  Options o;
  std::map<std::string, size_t*> counts = {{"max-connections", &o.max_connections},
                                           {"max-events-per-call", &o.max_events_per_call},
                                           {"max-message-bytes", &o.max_message_bytes},
                                           {"max-inflight-bytes", &o.max_inflight_bytes},
                                           {"queue-events", &o.queue_events_max}};
  std::map<std::string, std::string*> texts = {{"dir", &o.dir},
                                               {"listen", &o.listen},
                                               {"tls-dir", &o.tls_dir},
                                               {"port-file", &o.port_file},
                                               {"metrics-listen", &o.metrics_listen}};
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
  if (o.max_events_per_call > o.queue_events_max || o.max_events_per_call > ledger::Ledger::kGroupEventsMax) {
    fmt::print(stderr, "ledgerd: --max-events-per-call must not exceed --queue-events nor {}\n",
               ledger::Ledger::kGroupEventsMax);
    return std::nullopt;
  }
  return o;
}

// ---------------------------------------------------------------------------------------------
// Access: who may read what. An actor's jurisdiction is a region prefix; "" is everywhere.

bool Within(std::string_view region, std::string_view jurisdiction) {
  return region.substr(0, jurisdiction.size()) == jurisdiction;
}

Status Refused(const char* field, const ledger::ActorInfo& me, std::string_view what) {
  return Status::Invalid(field, fmt::format("refused: {} is outside actor \"{}\"'s jurisdiction {}", what, me.id,
                                            me.jurisdiction.empty() ? "(everywhere)" : me.jurisdiction));
}

// A report's region prefix: the caller's jurisdiction when none is given, else one inside it.
Status ScopeRegion(const ledger::ActorInfo& me, std::string* region_prefix) {
  if (region_prefix->empty()) {
    *region_prefix = me.jurisdiction;
    return Status::Ok();
  }
  if (!ledger::IsValidRegionPrefix(*region_prefix)) {
    return Status::Invalid("region",
                           fmt::format("\"{}\" is not a region prefix (2, 4, 6, 9 or 12 digits)", *region_prefix));
  }
  if (!Within(*region_prefix, me.jurisdiction)) return Refused("region", me, "region " + *region_prefix);
  return Status::Ok();
}

Status ScopeHousehold(ledger::Ledger& l, const ledger::ActorInfo& me, std::string_view household) {
  std::string region;
  Status s = l.HouseholdRegion(household, &region);
  if (!s.ok()) return s;
  if (!Within(region, me.jurisdiction)) return Refused("household", me, fmt::format("household {}", household));
  return Status::Ok();
}

// Ok for an actor the log has not deactivated.
Status Active(const ledger::ActorInfo& a) {
  if (a.active) return Status::Ok();
  return Status::Invalid("actor", fmt::format("refused: actor \"{}\" was deactivated ({}: {})", a.id, a.deactivated_by,
                                              a.deactivation_reason));
}

// The role's schema name ("countyApprover"), for the log.
std::string RoleName(Role role) {
  auto enumerants = capnp::Schema::from<Role>().getEnumerants();
  auto i = static_cast<unsigned>(role);
  return i < enumerants.size() ? std::string(enumerants[i].getProto().getName()) : std::to_string(i);
}

bool ReadsOnly(Role role) {
  return role == Role::AUDITOR || role == Role::INSPECTOR;
}

// ---------------------------------------------------------------------------------------------
// The server: connections, the parked appends (backpressure) and the writer.

// What a read job hands back to the event loop: a result record and the texts beside it.
struct Reply {
  ledger::ActorInfo actor;  // The caller, as the ledger has it now.
  capnp::MallocMessageBuilder message;
  Status status;
  std::vector<std::string> texts, entries;
  std::string text;
};
using ReadFn = std::function<void(ledger::Ledger&, const ledger::ActorInfo&, Reply*)>;

struct AppendReply {
  std::vector<ledger::AppendResult> results;
  Status refused, write;
};

class LedgerServer {
 public:
  LedgerServer(const Options& options, kj::AsyncIoContext& io, kj::TlsContext& tls,
               std::unique_ptr<ledger::Ledger> ledger)
      : options_(options),
        io_(io),
        tls_(tls),
        writer_(
            std::move(ledger), {options.queue_events_max, options.queue_events_max},
            [](const std::string& e, const std::string& f) { Log("info", e, f); }, &metrics_),
        tasks_(handler_) {}

  const Options& options() const { return options_; }
  Metrics& metrics() { return metrics_; }
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
  kj::Promise<std::shared_ptr<AppendReply>> Append(AppendJob job);
  // Closes every open connection of `actor` (just deactivated).
  void CutOff(const std::string& actor);

 private:
  struct ErrorHandler : kj::TaskSet::ErrorHandler {
    void taskFailed(kj::Exception&& e) override {
      Log("warn", "task_failed", fmt::format("\"reason\":{}", ledger::JsonString(e.getDescription().cStr())));
    }
  };
  // Read's body; with `write`, on the writer thread with the writing handle, between groups
  // (for the writes that are not appends).
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
  Metrics metrics_;  // Before writer_, which reports into it.
  Writer writer_;
  ErrorHandler handler_;
  kj::Own<kj::ConnectionReceiver> receiver_;
  kj::Maybe<kj::Promise<void>> accepting_;
  std::deque<AppendJob> parked_;  // Waiting for room in the writer's queue, in arrival order.
  bool space_armed_ = false, draining_ = false;
  size_t open_ = 0;
  uint64_t next_id_ = 0;
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

 private:
  // Why event `e` may not be appended on this connection, or ok.
  Status MayAppend(ledger::schema::Event::Reader e) const;
  template <class Result, class Context>
  kj::Promise<void> Report(Context context, ReadFn fn);

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
      .then([context](std::shared_ptr<Reply> r) mutable {
        KJ_REQUIRE(r->status.ok(), r->status.ToString().c_str());
        auto out = context.getResults();
        out.setActorId(r->actor.id);
        out.setRole(r->actor.role);
        out.setJurisdiction(r->actor.jurisdiction);
        out.setHeadSeq(std::stoull(r->text));
      });
}

Status Session::MayAppend(ledger::schema::Event::Reader e) const {
  if (ReadsOnly(me_.role)) {
    return Status::Invalid("actorId", fmt::format("refused: actor \"{}\" is an {}: auditors and inspectors read, "
                                                  "never write",
                                                  me_.id, me_.role == Role::AUDITOR ? "auditor" : "inspector"));
  }
  std::string actor = e.getActorId();
  // An integration actor submits other actors' events: the ledger checks each such submission
  // against the actors and households as they are when it is appended (rules.cc CheckSubmitter:
  // the named actor registered and active, the region within the integration actor's
  // jurisdiction; then the named actor's own role and jurisdiction, as for its own events).
  if (actor != me_.id && me_.role != Role::INTEGRATION) {
    return Status::Invalid("actorId", fmt::format("refused: the event is by \"{}\" but this connection is "
                                                  "authenticated as \"{}\": an actor appends only its own events "
                                                  "(an integration actor submits other actors')",
                                                  actor, me_.id));
  }
  return Status::Ok();
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
  for (unsigned i = 0; i < events.size(); ++i) {
    (*early)[i] = MayAppend(events[i]);
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
      auto e = context.getParams().getEvents()[static_cast<unsigned>(i)];
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

template <class Result, class Context>
kj::Promise<void> Session::Report(Context context, ReadFn fn) {
  return server_.Read(me_.id, std::move(fn)).then([context](std::shared_ptr<Reply> r) mutable {
    auto out = context.getResults();
    if (!r->status.ok()) return ToWire(r->status, out.initFailure());
    out.setResult(r->message.getRoot<Result>().asReader());
  });
}

kj::Promise<void> Session::show(ShowContext context) {
  uint64_t seq = context.getParams().getSeq();
  return server_
      .Read(me_.id,
            [seq](ledger::Ledger& l, const ledger::ActorInfo& me, Reply* r) {
              std::string household, region;
              r->status = l.EntryScope(seq, &household, &region);
              if (r->status.ok() && !Within(region, me.jurisdiction)) {
                r->status = Refused("seq", me, fmt::format("entry {} (region {})", seq, region));
              }
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
  return Report<ledger::results::RecoveriesResult>(
      context, [filter, household](ledger::Ledger& l, const ledger::ActorInfo& me, Reply* r) mutable {
        r->status = household.empty() ? ScopeRegion(me, &filter.region_prefix) : ScopeHousehold(l, me, household);
        if (r->status.ok()) {
          r->status = l.Recoveries(filter, household, r->message.initRoot<ledger::results::RecoveriesResult>());
        }
      });
}

// A trace of an actor is in scope if that actor's jurisdiction lies within the caller's.
Status ScopeTrace(ledger::Ledger& l, const ledger::ActorInfo& me, ledger::results::TraceScope scope,
                  std::string* asked) {
  using Scope = ledger::results::TraceScope;
  if (scope == Scope::kHousehold) return ScopeHousehold(l, me, *asked);
  if (scope == Scope::kRegion) return ScopeRegion(me, asked);
  ledger::ActorInfo target;
  Status s = l.LookupActor(*asked, &target);
  if (!s.ok()) return s;
  if (!Within(target.jurisdiction, me.jurisdiction)) return Refused("actor", me, "actor " + *asked);
  return Status::Ok();
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

// Verify reads the whole log on a reader's snapshot, beside appends: for the roles whose work it is.
kj::Promise<void> Session::verify(VerifyContext context) {
  return Report<ledger::results::VerifyResult>(context, [](ledger::Ledger& l, const ledger::ActorInfo& me, Reply* r) {
    if (me.role != Role::AUDITOR && me.role != Role::INSPECTOR && me.role != Role::ADMINISTRATOR) {
      r->status = Status::Invalid("actor", fmt::format("refused: verify is for auditors, inspectors and "
                                                       "administrators; actor \"{}\" is none",
                                                       me.id));
      return;
    }
    r->status = l.Verify(r->message.initRoot<ledger::results::VerifyResult>());
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

kj::Own<kj::TlsContext> MakeTls(kj::Timer& timer, kj::TlsKeypair* keypair, kj::TlsCertificate* ca) {
  kj::TlsContext::Options options;
  options.useSystemTrustStore = false;
  options.verifyClients = true;  // No certificate of the ledger's CA, no connection.
  options.trustedCertificates = kj::arrayPtr(ca, 1);
  options.defaultKeypair = *keypair;
  options.timer = timer;
  options.acceptTimeout = 10 * kj::SECONDS;
  return kj::heap<kj::TlsContext>(kj::mv(options));
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
  LedgerServer server(o, io, *tls, std::move(ledger));
  auto address = io.provider->getNetwork().parseAddress(o.listen).wait(io.waitScope);
  auto receiver = address->listen();
  unsigned port = receiver->getPort();
  Log("info", "listening",
      fmt::format("\"address\":{},\"port\":{},\"head_seq\":{},\"tls_dir\":{}", ledger::JsonString(o.listen), port, head,
                  ledger::JsonString(tls_dir)));
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
  server.Stop();
  Log("info", "stopped", "");
  return 0;
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
