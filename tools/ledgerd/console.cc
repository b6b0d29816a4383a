// ledgerd's web console: see console.h.
#include "console.h"

#include <capnp/dynamic.h>
#include <fmt/format.h>
#include <kj/compat/http.h>
#include <kj/compat/url.h>
#include <kj/debug.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>

#include "benefit_ledger/events.h"
#include "benefit_ledger/format.h"
#include "console_evidence.h"
#include "finance.h"

namespace ledgerd {
namespace {

using ledger::Status;
using Clock = std::chrono::steady_clock;

constexpr const char* kCookie = "ledger_console";
constexpr const char* kCsrfHeader = "X-Ledger-Console";  // Required of every POST: see Impl::request.
constexpr size_t kSecretBytes = 32;
constexpr size_t kMaxConnections = 128;  // Browsers open a few each; more is someone misbehaving.
constexpr uint32_t kDefaultLimit = 100, kMaxLimit = 1000;

// ---------------------------------------------------------------------------------------------
// Secrets: login tokens and session ids, 32 random bytes as hex. They are held by the SHA-256 of
// their text, so that finding one takes no comparison of the secret whose timing could leak it;
// the secret found is then compared in constant time all the same.

Status RandomHex(std::string* out) {
  unsigned char bytes[kSecretBytes];
  if (RAND_bytes(bytes, sizeof bytes) != 1) return Status::IOError("the console could not get random bytes (OpenSSL)");
  *out = ledger::Hex({bytes, sizeof bytes});
  return Status::Ok();
}

std::string Digest(std::string_view secret) {
  unsigned char d[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(secret.data()), secret.size(), d);
  return ledger::Hex({d, sizeof d});
}

bool SameSecret(std::string_view a, std::string_view b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

// Secrets that expire, each naming an actor.
class SecretStore {
 public:
  struct Held {
    std::string secret, actor;
    Clock::time_point expires;
  };
  Status Add(const std::string& actor, std::chrono::seconds ttl, std::string* secret) {
    Prune();
    Status s = RandomHex(secret);
    if (s.ok()) held_[Digest(*secret)] = {*secret, actor, Clock::now() + ttl};
    return s;
  }
  // The entry of `secret` if it has not expired; with `take`, it is removed either way (single use).
  std::optional<Held> Find(std::string_view secret, bool take) {
    if (secret.size() != 2 * kSecretBytes) return std::nullopt;
    auto it = held_.find(Digest(secret));
    if (it == held_.end() || !SameSecret(it->second.secret, secret)) return std::nullopt;
    Held h = it->second;
    bool expired = Clock::now() >= h.expires;
    if (take || expired) held_.erase(it);
    if (expired) return std::nullopt;
    return h;
  }
  void Forget(std::string_view secret) { held_.erase(Digest(secret)); }

 private:
  void Prune() {
    auto now = Clock::now();
    std::erase_if(held_, [now](const auto& kv) { return now >= kv.second.expires; });
  }
  std::map<std::string, Held> held_;  // By Digest(secret).
};

// ---------------------------------------------------------------------------------------------
// Requests

struct Request {
  std::string path;                           // "/api/household"
  std::map<std::string, std::string> params;  // The query, decoded; the last of a name wins.
  bool post = false;                          // A POST (with the CSRF header: see request).
};

std::optional<Request> ParseRequest(kj::StringPtr url) {
  KJ_IF_MAYBE (u, kj::Url::tryParse(url, kj::Url::HTTP_REQUEST)) {
    Request r;
    for (auto& part : u->path) r.path += "/" + std::string(part.cStr());
    if (r.path.empty() || u->hasTrailingSlash) r.path += "/";
    for (auto& q : u->query) r.params[q.name.cStr()] = q.value == nullptr ? "" : q.value.cStr();
    return r;
  }
  return std::nullopt;
}

// The value of cookie `name` in a Cookie header ("a=1; ledger_console=HEX").
std::string CookieValue(std::string_view header, std::string_view name) {
  size_t at = 0;
  while (at < header.size()) {
    size_t end = header.find(';', at);
    if (end == std::string_view::npos) end = header.size();
    auto pair = header.substr(at, end - at);
    while (!pair.empty() && pair.front() == ' ') pair.remove_prefix(1);
    if (pair.size() > name.size() && pair.substr(0, name.size()) == name && pair[name.size()] == '=') {
      return std::string(pair.substr(name.size() + 1));
    }
    at = end + 1;
  }
  return "";
}

// A date of the query, "YYYYMMDD" or "YYYY-MM-DD" (an <input type=date>); 0 if not given.
Status DateParam(const Request& r, const char* name, uint32_t* out, bool month = false) {
  *out = 0;
  auto it = r.params.find(name);
  if (it == r.params.end() || it->second.empty()) return Status::Ok();
  std::string digits;
  for (char c : it->second) {
    if (c != '-') digits += c;
  }
  size_t want = month ? 6 : 8;
  bool ok = digits.size() == want && digits.find_first_not_of("0123456789") == std::string::npos;
  if (ok) *out = static_cast<uint32_t>(std::stoul(digits));
  if (ok) ok = month ? ledger::IsValidPeriod(*out) : ledger::IsValidDate(*out);
  if (ok) return Status::Ok();
  return Status::Invalid(name,
                         fmt::format("\"{}\" is not a {}", it->second, month ? "month YYYY-MM" : "date YYYY-MM-DD"));
}

struct Page {
  uint32_t offset = 0, limit = kDefaultLimit;
};

Status PageParams(const Request& r, Page* page) {
  for (auto [name, field] : {std::pair{"offset", &page->offset}, std::pair{"limit", &page->limit}}) {
    auto it = r.params.find(name);
    if (it == r.params.end()) continue;
    const std::string& v = it->second;
    if (v.empty() || v.size() > 9 || v.find_first_not_of("0123456789") != std::string::npos) {
      return Status::Invalid(name, fmt::format("\"{}\" is not a whole number", v));
    }
    *field = static_cast<uint32_t>(std::stoul(v));
  }
  if (page->limit == 0 || page->limit > kMaxLimit) {
    return Status::Invalid("limit", fmt::format("limit is from 1 to {}, not {}", kMaxLimit, page->limit));
  }
  return Status::Ok();
}

std::string Param(const Request& r, const char* name) {
  auto it = r.params.find(name);
  return it == r.params.end() ? "" : it->second;
}

// ---------------------------------------------------------------------------------------------
// Results as JSON: the record's JSON (as ledgerctl --format json prints it) with each list of
// records cut to one page, inside {"offset":..,"limit":..,"total":{"list":N,..},"result":...}.

using Keep = std::function<bool(std::string_view list, capnp::DynamicStruct::Reader element)>;

// Copies `in` into `out` with each list of structs (or only the list named `paged`, if given: the
// others are a record's few totals, whole on every page) cut to `page` (of the elements `keep`
// keeps); *totals gets each list's length before the cut, as JSON members.
void CopyPage(capnp::DynamicStruct::Reader in, const Page& page, const Keep& keep, capnp::MessageBuilder* out,
              std::string* totals, std::string_view paged = "") {
  auto schema = in.getSchema();
  auto b = out->initRoot<capnp::DynamicStruct>(schema);
  for (auto field : schema.getFields()) {
    if (!in.has(field)) continue;
    auto type = field.getType();
    if (!type.isList() || !type.asList().getElementType().isStruct()) {
      b.set(field, in.get(field));
      continue;
    }
    std::string name = field.getProto().getName();
    auto list = in.get(field).as<capnp::DynamicList>();
    std::vector<uint32_t> kept;
    for (uint32_t i = 0; i < list.size(); ++i) {
      if (!keep || keep(name, list[i].as<capnp::DynamicStruct>())) kept.push_back(i);
    }
    bool cut = paged.empty() || name == paged;
    size_t begin = cut ? std::min<size_t>(page.offset, kept.size()) : 0;
    size_t end = cut ? std::min<size_t>(begin + page.limit, kept.size()) : kept.size();
    auto dst = b.init(field, static_cast<uint32_t>(end - begin)).as<capnp::DynamicList>();
    for (size_t i = begin; i < end; ++i) dst.set(static_cast<uint32_t>(i - begin), list[kept[i]]);
    *totals += fmt::format("{}{}:{}", totals->empty() ? "" : ",", ledger::JsonString(name), kept.size());
  }
}

// The page of `result` as the API's JSON, in r->text (run on the reader thread).
void PageJson(capnp::DynamicStruct::Reader result, const Page& page, const Keep& keep, const std::string& extra,
              Reply* r, std::string_view only = "") {
  capnp::MallocMessageBuilder paged;
  std::string totals, json;
  CopyPage(result, page, keep, &paged, &totals, only);
  ledger::json::WriteResult(paged.getRoot<capnp::DynamicStruct>(result.getSchema()).asReader(),
                            ledger::json::Mode::kDocument, [&json](std::string_view t) { json += t; });
  while (!json.empty() && json.back() == '\n') json.pop_back();
  r->text = fmt::format("{{\"offset\":{},\"limit\":{},\"total\":{{{}}}{}{},\"result\":{}}}\n", page.offset, page.limit,
                        totals, extra.empty() ? "" : ",", extra, json);
}

std::string ErrorJson(const Status& s) {
  return fmt::format("{{\"error\":{{\"code\":{},\"field\":{},\"reason\":{}}}}}\n", static_cast<int>(s.code()),
                     ledger::JsonString(s.field()), ledger::JsonString(s.reason()));
}

// The HTTP status of a failed read: refusals 403, the rest as their code says.
std::pair<unsigned, const char*> HttpStatusOf(const Status& s) {
  using Code = Status::Code;
  if (IsRefusal(s)) return {403, "Forbidden"};
  switch (s.code()) {
    case Code::kNotFound: return {404, "Not Found"};
    case Code::kInvalidArgument: return {400, "Bad Request"};
    case Code::kBusy: return {503, "Service Unavailable"};
    default: return {500, "Internal Server Error"};
  }
}

// ---------------------------------------------------------------------------------------------
// The API's reads: each parses its query here (the event loop) and reads, scoped as its RPC call,
// on a reader thread, where the JSON is written too.

ReadFn WhoAmI() {
  return [](ledger::Ledger& l, const ledger::ActorInfo& me, Reply* r) {
    r->text =
        fmt::format("{{\"actorId\":{},\"role\":{},\"jurisdiction\":{},\"headSeq\":{}}}\n", ledger::JsonString(me.id),
                    ledger::JsonString(RoleName(me.role)), ledger::JsonString(me.jurisdiction), l.head_seq());
  };
}

// As Session::replay, with the steps; "chainVerified" true (a broken chain is an error, 500).
ReadFn Household(std::string household, uint32_t as_of, Page page) {
  return [household, as_of, page](ledger::Ledger& l, const ledger::ActorInfo& me, Reply* r) {
    r->status = ScopeHousehold(l, me, household);
    if (!r->status.ok()) return;
    ledger::ReplayOptions options;
    options.as_of = as_of;
    options.keep_steps = true;
    auto result = r->message.initRoot<ledger::results::ReplayResult>();
    r->status = l.ReplayHousehold(
        household, options, [](const ledger::ReplayStepView&) {}, result);
    if (r->status.ok()) PageJson(capnp::toDynamic(result.asReader()), page, nullptr, "\"chainVerified\":true", r);
  };
}

// As Session::trace; `rule` keeps the flags of that rule only (the chains are all kept).
ReadFn Trace(ledger::results::TraceScope scope, std::string asked, std::string rule, Page page) {
  return [scope, asked, rule, page](ledger::Ledger& l, const ledger::ActorInfo& me, Reply* r) mutable {
    r->status = ScopeTrace(l, me, scope, &asked);
    auto result = r->message.initRoot<ledger::results::TraceResult>();
    if (r->status.ok()) r->status = l.Trace(scope, asked, result);
    if (!r->status.ok()) return;
    Keep keep = [&rule](std::string_view list, capnp::DynamicStruct::Reader e) {
      return rule.empty() || list != "flags" || std::string_view(e.get("rule").as<capnp::Text>().cStr()) == rule;
    };
    PageJson(capnp::toDynamic(result.asReader()), page, keep, "", r);
  };
}

ReadFn Totals(ledger::ReportFilter filter, uint32_t from, uint32_t to, Page page) {
  return [filter, from, to, page](ledger::Ledger& l, const ledger::ActorInfo& me, Reply* r) mutable {
    r->status = ScopeRegion(me, &filter.region_prefix);
    auto result = r->message.initRoot<ledger::results::TotalsResult>();
    if (r->status.ok()) r->status = l.Totals(filter, from, to, result);
    if (r->status.ok()) PageJson(capnp::toDynamic(result.asReader()), page, nullptr, "", r);
  };
}

ReadFn Roll(ledger::ReportFilter filter, uint32_t as_of, Page page) {
  return [filter, as_of, page](ledger::Ledger& l, const ledger::ActorInfo& me, Reply* r) mutable {
    r->status = ScopeRegion(me, &filter.region_prefix);
    auto result = r->message.initRoot<ledger::results::RollResult>();
    if (r->status.ok()) r->status = l.Roll(filter, as_of, result);
    if (r->status.ok()) PageJson(capnp::toDynamic(result.asReader()), page, nullptr, "", r);
  };
}

// ---------------------------------------------------------------------------------------------
// The finance office's routes (资金): recoveries outstanding, and a bank result file reconciled
// and recorded. Their jobs are finance.h's, as RPC runs them.

constexpr size_t kMaxBankFileBytes = size_t{32} << 20;  // A county's month is far less.

ReadFn Recoveries(ledger::ReportFilter filter, std::string household, Page page) {
  return [job = RecoveriesJob(filter, std::move(household)), page](ledger::Ledger& l, const ledger::ActorInfo& me,
                                                                   Reply* r) {
    job(l, me, r);
    if (!r->status.ok()) return;
    auto result = r->message.getRoot<ledger::results::RecoveriesResult>();
    PageJson(capnp::toDynamic(result.asReader()), page, nullptr, "", r);
  };
}

// What POST /api/reconcile asks: ?columns=SPEC&name=FILE (the file's name, shown as the CLI's
// --bank-file)&apply=yes&date=YYYYMMDD.
struct ReconcileAsk {
  std::optional<std::string> columns;
  std::string name;
  BankApply apply;
  Page page;
};

Status ParseReconcile(const Request& q, const std::string& actor, ReconcileAsk* ask) {
  Status s = PageParams(q, &ask->page);
  if (s.ok() && q.params.count("columns")) s = ledger::BankFile::CheckColumns(*(ask->columns = Param(q, "columns")));
  std::string apply = Param(q, "apply");
  if (s.ok() && !apply.empty() && apply != "yes" && apply != "no") {
    s = Status::Invalid("apply", fmt::format("apply is yes or no, not \"{}\"", apply));
  }
  ask->name = Param(q, "name");
  ask->apply.apply = apply == "yes";
  ask->apply.actor = ask->apply.apply ? actor : "";  // The signed-in actor records, in its own name.
  if (s.ok()) s = DateParam(q, "date", &ask->apply.date);
  if (!ask->apply.date) ask->apply.date = ledger::TodayUtc();  // As ledgerctl reconcile.
  return s;
}

// The results the ledger would not record, as a JSON member of the answer.
std::string RefusedJson(const std::vector<Status>& refused) {
  std::string out = "\"refused\":[";
  for (size_t i = 0; i < refused.size(); ++i) {
    std::string e = ErrorJson(refused[i]);  // {"error":{...}}\n: its inner object.
    out += (i ? "," : "") + e.substr(9, e.size() - 11);
  }
  return out + "]";
}

// The reconcile of `text` as the record `ledgerctl reconcile --format json` prints (its lines cut
// to the page), the results recorded first with apply.
ReadFn Reconcile(std::string text, ReconcileAsk ask) {
  auto extra = std::make_shared<Reconciled>();
  auto job = ReconcileJob(std::move(text), ask.columns, ask.apply, extra);
  return [job, extra, ask](ledger::Ledger& l, const ledger::ActorInfo& me, Reply* r) mutable {
    job(l, me, r);
    if (!r->status.ok()) return;
    auto result = r->message.getRoot<ledger::results::ReconcileResult>();
    auto query = result.initQuery();
    query.setBankFile(ask.name);
    query.setApply(ask.apply.apply);
    query.setActor(ask.apply.actor);
    result.setLines(extra->lines.getRoot<capnp::AnyPointer>().getAs<capnp::List<ledger::results::ReconcileLine>>());
    if (ask.apply.apply) result.setApplied(extra->applied.getRoot<ledger::results::ApplyOutcome>().asReader());
    PageJson(capnp::toDynamic(result.asReader()), ask.page, nullptr, RefusedJson(extra->refused), r, "lines");
  };
}

// The read of /api/NAME for query `q`, or null with *bad saying why (a bad query, or no such API).
std::optional<ReadFn> ApiRead(const std::string& name, const Request& q, Status* bad) {
  using Scope = ledger::results::TraceScope;
  Page page;
  uint32_t a = 0, b = 0;
  *bad = PageParams(q, &page);
  if (!bad->ok()) return std::nullopt;
  ledger::ReportFilter filter;
  filter.region_prefix = Param(q, "region");
  if (!Param(q, "programme").empty()) {
    filter.programme = ledger::ParseProgramme(Param(q, "programme"));
    if (!filter.programme) {
      *bad = Status::Invalid(
          "programme", fmt::format("unknown programme \"{}\" (e.g. urban_dibao, rural_dibao)", Param(q, "programme")));
      return std::nullopt;
    }
  }
  if (name == "whoami") return WhoAmI();
  if (name == "household") {
    if (Param(q, "id").empty()) *bad = Status::Invalid("id", "give the household: /api/household?id=H");
    if (bad->ok()) *bad = DateParam(q, "asOf", &a);
    if (bad->ok()) return Household(Param(q, "id"), a, page);
    return std::nullopt;
  }
  if (name == "trace") {
    int given = !Param(q, "region").empty() + !Param(q, "actor").empty() + !Param(q, "household").empty();
    if (given > 1) {
      *bad = Status::Invalid("region", "give one of region, actor or household (none: your whole jurisdiction)");
      return std::nullopt;
    }
    if (!Param(q, "actor").empty()) return Trace(Scope::kActor, Param(q, "actor"), Param(q, "rule"), page);
    if (!Param(q, "household").empty()) return Trace(Scope::kHousehold, Param(q, "household"), Param(q, "rule"), page);
    return Trace(Scope::kRegion, filter.region_prefix, Param(q, "rule"), page);
  }
  if (name == "totals") {
    *bad = DateParam(q, "from", &a, /*month=*/true);
    if (bad->ok()) *bad = DateParam(q, "to", &b, /*month=*/true);
    if (bad->ok()) return Totals(filter, a ? a : 199001, b ? b : 209912, page);  // As ledgerctl totals.
    return std::nullopt;
  }
  if (name == "roll") {
    *bad = DateParam(q, "asOf", &a);
    if (bad->ok()) return Roll(filter, a ? a : ledger::TodayUtc(), page);  // As ledgerctl roll.
    return std::nullopt;
  }
  if (name == "recoveries") return Recoveries(filter, Param(q, "household"), page);
  *bad = Status::NotFound(fmt::format("no API /api/{} (whoami, household, trace, totals, roll, recoveries)", name));
  return std::nullopt;
}

// A page of web_dir: a plain name of letters, digits, '-' and '_' with .html, .js or .css.
std::optional<std::string> ContentType(std::string_view name) {
  auto dot = name.rfind('.');
  if (dot == std::string_view::npos || dot == 0) return std::nullopt;
  if (name.substr(0, dot).find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-_") != std::string_view::npos) {
    return std::nullopt;
  }
  auto ext = name.substr(dot);
  if (ext == ".html") return "text/html; charset=utf-8";
  if (ext == ".js") return "text/javascript; charset=utf-8";
  if (ext == ".css") return "text/css; charset=utf-8";
  return std::nullopt;
}

bool ReadFile(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::stringstream ss;
  ss << in.rdbuf();
  *out = ss.str();
  return !in.bad();
}

std::string HtmlEscape(std::string_view s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// The service

struct Console::Impl final : public kj::HttpService, private kj::TaskSet::ErrorHandler {
  Impl(ConsoleOptions o, kj::Timer& t, ConsoleRead r, ConsoleLog l)
      : options(std::move(o)), timer(t), read(std::move(r)), log(std::move(l)), evidence(read), tasks(*this) {
    kj::HttpHeaderTable::Builder builder;
    cookie_header = builder.add("Cookie");
    csrf_header = builder.add(kCsrfHeader);
    table = builder.build();
    http = kj::heap<kj::HttpServer>(timer, *table, *this);
  }

  kj::Promise<void> request(kj::HttpMethod method, kj::StringPtr url, const kj::HttpHeaders& headers,
                            kj::AsyncInputStream&, Response& response) override;

  kj::Promise<void> AcceptLoop(kj::ConnectionReceiver& receiver, kj::TlsContext& tls);
  kj::Promise<void> Login(const Request& q, Response& response);
  kj::Promise<void> Authorized(const Request& q, const std::string& session, Response& response);
  kj::Promise<void> Api(const Request& q, const std::string& actor, Response& response);
  kj::Promise<void> File(const Request& q, Response& response);
  kj::Promise<void> Post(const Request& q, const kj::HttpHeaders& headers, kj::AsyncInputStream& body,
                         Response& response);
  kj::Promise<void> ApiAnswer(std::shared_ptr<Reply> r, Response& response);
  kj::Promise<void> Logout(const std::string& session, Response& response);
  kj::Promise<void> SendAnswer(Response& response, ConsoleAnswer a);
  kj::Promise<void> SignIn(Response& response, bool api, const std::string& why);
  kj::Promise<void> Send(Response& response, unsigned status, kj::StringPtr text, kj::StringPtr type, std::string body,
                         std::vector<std::pair<kj::StringPtr, std::string>> extra = {});
  void taskFailed(kj::Exception&& e) override {
    log("warn", "console_connection_failed",
        fmt::format("\"reason\":{}", ledger::JsonString(e.getDescription().cStr())));
  }

  ConsoleOptions options;
  kj::Timer& timer;
  ConsoleRead read, write;
  ConsoleLog log;
  std::string base_url;  // https://HOST:PORT
  kj::HttpHeaderId cookie_header = kj::HttpHeaderId::HOST, csrf_header = kj::HttpHeaderId::HOST;
  kj::Own<kj::HttpHeaderTable> table;
  kj::Own<kj::HttpServer> http;
  SecretStore logins, sessions;
  ConsoleEvidence evidence;  // Its routes under /api/ (console_evidence.h).
  size_t open = 0;
  kj::TaskSet tasks;  // Last: its connections go first.
};

kj::Promise<void> Console::Impl::AcceptLoop(kj::ConnectionReceiver& receiver, kj::TlsContext& tls) {
  return receiver.acceptAuthenticated().then([this, &receiver, &tls](kj::AuthenticatedStream raw) {
    if (open < kMaxConnections) {
      ++open;
      // A handshake that fails or stalls ends that connection alone.
      auto handshake = timer.timeoutAfter(10 * kj::SECONDS, tls.wrapServer(kj::mv(raw)));
      tasks.add(handshake.then([this](kj::AuthenticatedStream s) { return http->listenHttp(kj::mv(s.stream)); })
                    .attach(kj::defer([this] { --open; })));
    }
    return AcceptLoop(receiver, tls);
  });
}

kj::Promise<void> Console::Impl::Send(Response& response, unsigned status, kj::StringPtr text, kj::StringPtr type,
                                      std::string body, std::vector<std::pair<kj::StringPtr, std::string>> extra) {
  kj::HttpHeaders headers(*table);
  headers.set(kj::HttpHeaderId::CONTENT_TYPE, type);
  headers.add("Cache-Control", "no-store");
  headers.add("X-Content-Type-Options", "nosniff");
  headers.add("Referrer-Policy", "no-referrer");  // A login URL never leaves in a Referer.
  headers.add("Content-Security-Policy", "default-src 'self'; frame-ancestors 'none'");
  for (auto& [name, value] : extra) headers.add(name, kj::heapString(value.data(), value.size()));
  auto copy = kj::heapString(body.data(), body.size());
  auto stream = response.send(status, text, headers, copy.size());
  auto written = stream->write(copy.begin(), copy.size());
  return written.attach(kj::mv(stream), kj::mv(copy));
}

// 401 and how to sign in: the page, or its JSON for the API.
kj::Promise<void> Console::Impl::SignIn(Response& response, bool api, const std::string& why) {
  std::string command = fmt::format("ledgerctl --server {} --credential A.cred console-login", options.rpc_address);
  if (api) {
    std::string body = ErrorJson(Status::Invalid("session", why));  // {"error":{...}}, then how to sign in.
    body.replace(body.rfind('}'), 1, fmt::format(",\"signIn\":{}}}", ledger::JsonString(command)));
    return Send(response, 401, "Unauthorized", "application/json", body);
  }
  std::string page;
  if (!ReadFile(options.web_dir + "/signin.html", &page)) page = "<!doctype html><p>{{WHY}}</p><pre>{{COMMAND}}</pre>";
  for (auto [key, value] : {std::pair{"{{WHY}}", HtmlEscape(why)}, std::pair{"{{COMMAND}}", HtmlEscape(command)}}) {
    for (size_t at; (at = page.find(key)) != std::string::npos;) page.replace(at, std::string_view(key).size(), value);
  }
  return Send(response, 401, "Unauthorized", "text/html; charset=utf-8", page);
}

kj::Promise<void> Console::Impl::request(kj::HttpMethod method, kj::StringPtr url, const kj::HttpHeaders& headers,
                                         kj::AsyncInputStream& body, Response& response) {
  auto q = ParseRequest(url);
  if (!q) return Send(response, 400, "Bad Request", "text/plain; charset=utf-8", "bad URL\n");
  q->post = method == kj::HttpMethod::POST;
  if (method != kj::HttpMethod::GET && !q->post) {
    return Send(response, 405, "Method Not Allowed", "text/plain; charset=utf-8", "GET or POST only\n");
  }
  // A POST acts (sign-out, a verify): besides the SameSite=Strict cookie, it must carry a header
  // that a cross-site form cannot set and a cross-site script cannot without CORS, which we never allow.
  bool csrf = false;
  KJ_IF_MAYBE (h, headers.get(csrf_header)) {
    csrf = *h == "1";
  }
  if (q->post && !csrf) {
    return Send(response, 403, "Forbidden", "application/json",
                ErrorJson(Status::Invalid("csrf", fmt::format("refused: a POST needs the header {}: 1", kCsrfHeader))));
  }
  if (q->post && q->path == "/api/reconcile") return Post(*q, headers, body, response);  // With a body.
  if (q->path == "/login" && !q->post) return Login(*q, response);
  std::string cookie;
  KJ_IF_MAYBE (c, headers.get(cookie_header)) {
    cookie = CookieValue(c->cStr(), kCookie);
  }
  if (q->path == "/logout" && q->post) return Logout(cookie, response);
  return Authorized(*q, cookie, response);
}

// GET /login?token=T[&next=/PAGE]: the token is used up; a valid one, for an actor still active,
// gets a session cookie and a redirect to next (a path of this site) or /.
kj::Promise<void> Console::Impl::Login(const Request& q, Response& response) {
  auto token = logins.Find(Param(q, "token"), /*take=*/true);
  if (!token) {
    log("warn", "console_login_refused", "\"reason\":\"token not valid\"");
    return SignIn(response, false,
                  "This sign-in link is not valid: it was used already, it expired, or it was never "
                  "issued. 登录链接无效（已使用、已过期或不存在）。");
  }
  std::string next = Param(q, "next");
  if (next.empty() || next[0] != '/' || (next.size() > 1 && (next[1] == '/' || next[1] == '\\')) ||
      next.find_first_of("\r\n") != std::string::npos) {
    next = "/";  // Only a path of this site: never a redirect elsewhere.
  }
  std::string actor = token->actor;
  return read(actor, [](ledger::Ledger&, const ledger::ActorInfo&, Reply*) {})
      .then([this, actor, next, &response](std::shared_ptr<Reply> r) -> kj::Promise<void> {
        if (!r->status.ok()) return SignIn(response, false, r->status.reason());
        std::string id;
        Status s = sessions.Add(actor, std::chrono::seconds(options.session_seconds), &id);
        if (!s.ok()) return Send(response, 500, "Internal Server Error", "text/plain; charset=utf-8", s.ToString());
        log("info", "console_signed_in", fmt::format("\"actor\":{}", ledger::JsonString(actor)));
        std::string cookie = fmt::format("{}={}; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age={}", kCookie, id,
                                         options.session_seconds);
        return Send(response, 303, "See Other", "text/plain; charset=utf-8", "signed in\n",
                    {{"Set-Cookie", cookie}, {"Location", next}});
      });
}

// Everything but /login: a valid session's actor, checked again in the ledger, then the API or a page.
kj::Promise<void> Console::Impl::Authorized(const Request& q, const std::string& session, Response& response) {
  bool api = q.path.rfind("/api/", 0) == 0;
  auto ends = [&q](std::string_view ext) { return q.path.size() > ext.size() && q.path.ends_with(ext); };
  if (ends(".css") || ends(".js")) return File(q, response);  // Style and code, no data: the sign-in page's too.
  auto held = sessions.Find(session, /*take=*/false);
  if (!held) {
    return SignIn(
        response, api,
        session.empty() ? "Not signed in. 未登录。" : "The session is not valid or has expired. 会话无效或已过期。");
  }
  if (api) return Api(q, held->actor, response);
  if (q.post) return Send(response, 405, "Method Not Allowed", "text/plain; charset=utf-8", "GET only\n");
  std::string actor = held->actor;
  return read(actor, [](ledger::Ledger&, const ledger::ActorInfo&, Reply*) {})
      .then([this, q, session, &response](std::shared_ptr<Reply> r) -> kj::Promise<void> {
        if (r->status.ok()) return File(q, response);
        if (IsRefusal(r->status)) sessions.Forget(session);  // Deactivated: signed out for good.
        auto [code, text] = HttpStatusOf(r->status);
        return Send(response, code, text, "text/plain; charset=utf-8", r->status.reason() + "\n");
      });
}

kj::Promise<void> Console::Impl::Api(const Request& q, const std::string& actor, Response& response) {
  if (auto answer = evidence.Route(q.post, q.path.substr(5), q.params, actor)) {
    return answer->then([this, &response](ConsoleAnswer a) { return SendAnswer(response, std::move(a)); });
  }
  if (q.post) return Send(response, 405, "Method Not Allowed", "text/plain; charset=utf-8", "GET only\n");
  Status bad;
  auto fn = ApiRead(q.path.substr(5), q, &bad);
  if (!fn) {
    auto [code, text] = HttpStatusOf(bad);
    return Send(response, code, text, "application/json", ErrorJson(bad));
  }
  return read(actor, std::move(*fn)).then([this, &response](std::shared_ptr<Reply> r) {
    return ApiAnswer(std::move(r), response);
  });
}

// The API's answer of a job: its JSON, or its failure's.
kj::Promise<void> Console::Impl::ApiAnswer(std::shared_ptr<Reply> r, Response& response) {
  if (!r->status.ok()) {
    auto [code, text] = HttpStatusOf(r->status);
    return Send(response, code, text, "application/json", ErrorJson(r->status));
  }
  return Send(response, 200, "OK", "application/json", std::move(r->text));
}

// POST /api/reconcile (ParseReconcile), the body the bank's file, at most kMaxBankFileBytes. Only
// with the header X-Ledger-Console: 1 (CSRF): a cross-site form cannot send it, and a cross-site
// script that tries needs a CORS preflight this server never grants; the cookie is SameSite=Strict
// besides. Reconciling reads; with apply=yes the results are recorded on the writer thread.
kj::Promise<void> Console::Impl::Post(const Request& q, const kj::HttpHeaders& headers, kj::AsyncInputStream& body,
                                      Response& response) {
  auto fail = [this, &response](const Status& s) {
    auto [code, text] = HttpStatusOf(s);
    return Send(response, code, text, "application/json", ErrorJson(s));
  };
  // request() routes only POST /api/reconcile here, its CSRF header checked as for every POST.
  std::string cookie;
  KJ_IF_MAYBE (c, headers.get(cookie_header)) {
    cookie = CookieValue(c->cStr(), kCookie);
  }
  auto held = sessions.Find(cookie, /*take=*/false);
  if (!held) return SignIn(response, true, "Not signed in, or the session expired. 未登录或会话已过期。");
  ReconcileAsk ask;
  Status s = ParseReconcile(q, held->actor, &ask);
  if (s.ok() && ask.apply.apply && !write) s = Status::Busy("this console records nothing (no write path)");
  uint64_t length = 0;
  KJ_IF_MAYBE (n, body.tryGetLength()) {
    length = *n;
  } else if (s.ok()) {
    s = Status::Invalid("bankFile", "send the bank file with a Content-Length");
  }
  if (!s.ok()) return fail(s);
  if (length > kMaxBankFileBytes) {
    return Send(response, 413, "Content Too Large", "application/json",
                ErrorJson(Status::Invalid("bankFile", fmt::format("the bank file is {} bytes, over the console's "
                                                                  "limit of {} bytes (reconcile larger files with "
                                                                  "ledgerctl reconcile)",
                                                                  length, kMaxBankFileBytes))));
  }
  std::string actor = held->actor;
  return body.readAllText(kMaxBankFileBytes).then([this, actor, ask, &response](kj::String text) mutable {
    bool apply = ask.apply.apply;
    auto fn = Reconcile(std::string(text.cStr(), text.size()), std::move(ask));
    auto run = apply ? write(actor, std::move(fn)) : read(actor, std::move(fn));
    return run.then([this, &response](std::shared_ptr<Reply> r) { return ApiAnswer(std::move(r), response); });
  });
}

kj::Promise<void> Console::Impl::SendAnswer(Response& response, ConsoleAnswer a) {
  if (!a.error.ok()) {
    auto [code, text] = HttpStatusOf(a.error);
    return Send(response, code, text, "application/json", ErrorJson(a.error));
  }
  std::vector<std::pair<kj::StringPtr, std::string>> extra;
  for (auto& [name, value] : a.headers) extra.push_back({kj::StringPtr(name.c_str()), value});
  return Send(response, a.code, a.text, kj::StringPtr(a.type.c_str()), std::move(a.body), std::move(extra))
      .attach(kj::mv(a));
}

// POST /logout: the session ends here and now (its cookie is refused after), and the browser is
// told to drop the cookie.
kj::Promise<void> Console::Impl::Logout(const std::string& session, Response& response) {
  if (auto held = sessions.Find(session, /*take=*/true)) {
    log("info", "console_signed_out", fmt::format("\"actor\":{}", ledger::JsonString(held->actor)));
  }
  std::string cookie = fmt::format("{}=; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=0", kCookie);
  return Send(response, 200, "OK", "application/json", "{\"signedOut\":true}\n", {{"Set-Cookie", cookie}});
}

kj::Promise<void> Console::Impl::File(const Request& q, Response& response) {
  std::string name = q.path == "/" ? "index.html" : q.path.substr(1);
  auto type = ContentType(name);
  std::string body;
  if (!type || !ReadFile(options.web_dir + "/" + name, &body)) {
    return Send(response, 404, "Not Found", "text/plain; charset=utf-8", "no such page\n");
  }
  return Send(response, 200, "OK", kj::heapString(*type), std::move(body));
}

// ---------------------------------------------------------------------------------------------

Console::Console(ConsoleOptions options, kj::Timer& timer, ConsoleRead read, ConsoleLog log)
    : impl_(std::make_unique<Impl>(std::move(options), timer, std::move(read), std::move(log))) {}

Console::~Console() = default;

void Console::SetWrite(ConsoleRead write) {
  impl_->write = std::move(write);
}

const ConsoleOptions& Console::options() const {
  return impl_->options;
}

kj::Promise<void> Console::Serve(kj::Own<kj::ConnectionReceiver> receiver, kj::TlsContext& tls) {
  std::string host = impl_->options.listen.substr(0, impl_->options.listen.rfind(':'));
  impl_->base_url = fmt::format("https://{}:{}", host, receiver->getPort());
  auto& r = *receiver;
  return impl_->AcceptLoop(r, tls).attach(kj::mv(receiver));
}

Status Console::IssueLogin(const std::string& actor, std::string* url) {
  std::string token;
  Status s = impl_->logins.Add(actor, std::chrono::seconds(impl_->options.login_seconds), &token);
  if (s.ok()) *url = fmt::format("{}/login?token={}", impl_->base_url, token);
  return s;
}

}  // namespace ledgerd
