// ledgerd's web console end to end (issue 17): ledgerd started with --console-listen on
// 127.0.0.1 over a generated county-year, signed in to with `ledgerctl console-login`, read with
// a plain HTTPS client (OpenSSL, the server checked against the ledger's CA) and with Debian's
// chromium headless. What is shown: the household page and /api/household show what
// `ledgerctl replay --dir` shows of a copy; the red-flags page and /api/trace what `ledgerctl
// trace` shows; pagination; and refusals, never data, for no cookie, a forged cookie, a bad or
// reused login token, an expired session, a deactivated actor and an out-of-jurisdiction
// household; the funds page's roll and recoveries and /api/roll, /api/recoveries what `ledgerctl
// roll` and `recoveries` show; POST /api/reconcile what `ledgerctl reconcile` shows, its apply by
// the county's finance officer only, once, with the CSRF header only, and the page's upload,
// reconcile and confirmed apply driven over DevTools (console_upload.mjs). Screenshots of the
// pages go to CONSOLE_SCREENSHOT_DIR.
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <regex>
#include <string>
#include <thread>
#include <vector>

#include "benefit_ledger/format.h"
#include "testing/history.h"
#include "tests/ledgerd_server.h"
#include "tests/test_util.h"

namespace {

using testing::Server;
using namespace std::chrono_literals;

constexpr const char* kHousehold = "H0001";  // In township 341502002: outside audt's 341502001.

// A county-year (seed 21, 10 households) served from `served`, its copy in `local`, with aud1,
// the county's auditor, and audt, an auditor of township 341502001, registered by admin1.
struct ConsoleFixture {
  testing::TempDir tmp;
  std::string served = tmp.Sub("served"), local = tmp.Sub("local");

  ConsoleFixture() {
    auto lines = testing::CountyYear({.seed = 21, .households = 10, .years = 1});
    for (auto [id, jurisdiction] : {std::pair{"aud1", "341502"}, std::pair{"audt", "341502001"}}) {
      lines.push_back(testing::ActorRegistered("341502001001", "admin1",
                                               {.id = id, .role = "auditor", .jurisdiction = jurisdiction}));
    }
    // Red flags for the trace: caseworkers registering households outside their township
    // (actor.jurisdiction), which the record policy keeps with their finding.
    for (int i = 0; i < 3; ++i) {
      std::string person = testing::IdentityNumber(fmt::format("34150219{:02}0101{:03}", 50 + i, 900 + i));
      lines.push_back(testing::EventLine(fmt::format("reg-X{}", i), fmt::format("X{}", i), "341502002001", "cw1-1",
                                         20250105, "householdRegistered",
                                         testing::HouseholdMembers({testing::Member(person, "m", "head")})));
    }
    testing::LedgerctlLedger(served, lines, "record");
    for (const char* a : {"aud1", "audt", "admin1"}) {
      auto r = testing::RunLedgerctl({"credential", "issue", "--dir", served, "--actor", a, "--out", Cred(a)});
      REQUIRE_MESSAGE(r.exit_code == 0, r.err);
    }
    std::filesystem::copy(served, local, std::filesystem::copy_options::recursive);
  }
  std::string Cred(const std::string& actor) const { return tmp.Sub(actor + ".cred"); }
  Server Start(std::vector<std::string> extra = {}) const {
    extra.insert(extra.begin(), {"--console-listen", "127.0.0.1:0"});
    return Server(served, extra);
  }
};

// A one-time sign-in URL for `actor`, from `ledgerctl console-login`.
std::string LoginUrl(const Server& server, const ConsoleFixture& f, const std::string& actor) {
  auto r = testing::RunLedgerctl({"--server", server.address(), "--credential", f.Cred(actor), "console-login"});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  std::string url = r.out.substr(0, r.out.find('\n'));
  REQUIRE(url.rfind("https://127.0.0.1:", 0) == 0);
  REQUIRE(url.find("/login?token=") != std::string::npos);
  return url;
}

int ConsolePort(const std::string& url) {
  return std::stoi(url.substr(std::string("https://127.0.0.1:").size()));
}

// "/login?token=..." of a URL.
std::string PathOf(const std::string& url) {
  return url.substr(url.find('/', std::string("https://").size()));
}

// ---- A plain HTTPS client: OpenSSL, the server's certificate checked against the ledger's CA.

struct HttpReply {
  int status = 0;
  std::string head, body;
  std::string Cookie() const {  // The session id of Set-Cookie, or "".
    std::smatch m;
    return std::regex_search(head, m, std::regex("Set-Cookie: ledger_console=([0-9a-f]+);")) ? m[1].str() : "";
  }
};

// `method` `target` with the session `cookie` (if any), `headers` (lines ending "\r\n") and `body`.
HttpReply HttpsRequest(const ConsoleFixture& f, int port, const std::string& method, const std::string& target,
                       const std::string& cookie, const std::string& headers, const std::string& body) {
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  REQUIRE(SSL_CTX_load_verify_locations(ctx, (f.served + "/tls/ca.pem").c_str(), nullptr) == 1);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER, nullptr);
  int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  REQUIRE(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  timeval timeout{10, 0};  // Bounded: a server that does not answer fails the test.
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  REQUIRE_MESSAGE(SSL_connect(ssl) == 1, "TLS handshake with the console failed (not the ledger's CA?)");
  std::string request =
      fmt::format("{} {} HTTP/1.1\r\nHost: 127.0.0.1:{}\r\n{}{}Connection: close\r\n\r\n{}", method, target, port,
                  cookie.empty() ? "" : "Cookie: ledger_console=" + cookie + "\r\n", headers, body);
  REQUIRE(SSL_write(ssl, request.data(), static_cast<int>(request.size())) == static_cast<int>(request.size()));
  std::string raw;
  char buf[16384];
  size_t want = std::string::npos;  // Head and body, once the head says how long.
  for (int n; raw.size() < want && (n = SSL_read(ssl, buf, sizeof buf)) > 0;) {
    raw.append(buf, static_cast<size_t>(n));
    size_t end = raw.find("\r\n\r\n");
    std::smatch m;
    std::string head = end == std::string::npos ? "" : raw.substr(0, end);
    if (want == std::string::npos && std::regex_search(head, m, std::regex("Content-Length: (\\d+)"))) {
      want = end + 4 + std::stoul(m[1].str());
    }
  }
  SSL_free(ssl);
  ::close(fd);
  SSL_CTX_free(ctx);
  HttpReply r;
  size_t end = raw.find("\r\n\r\n");
  REQUIRE_MESSAGE(end != std::string::npos, "no HTTP answer: " << raw);
  r.head = raw.substr(0, end);
  r.body = raw.substr(end + 4);
  REQUIRE(r.head.rfind("HTTP/1.1 ", 0) == 0);
  r.status = std::stoi(r.head.substr(9, 3));
  return r;
}

HttpReply HttpsGet(const ConsoleFixture& f, int port, const std::string& target, const std::string& cookie = "") {
  return HttpsRequest(f, port, "GET", target, cookie, "", "");
}

// `method` TARGET with the session `cookie` (if any), `headers` ("Name: value\r\n" each) and no body.
HttpReply HttpsCall(const ConsoleFixture& f, int port, const std::string& method, const std::string& target,
                    const std::string& cookie, const std::string& headers) {
  return HttpsRequest(f, port, method, target, cookie, headers + (method == "POST" ? "Content-Length: 0\r\n" : ""), "");
}

// Signs in over HTTPS with a fresh login URL: the session id.
std::string SignIn(const Server& server, const ConsoleFixture& f, const std::string& actor) {
  std::string url = LoginUrl(server, f, actor);
  auto r = HttpsGet(f, ConsolePort(url), PathOf(url));
  REQUIRE(r.status == 303);
  REQUIRE(r.Cookie().size() == 64);
  return r.Cookie();
}

// ---- Chromium, headless, driven by its own flags.

bool HaveChromium() {
  return ::access("/usr/bin/chromium", X_OK) == 0;
}

std::string Quote(const std::string& s) {
  return "'" + s + "'";  // The URLs here hold no quote.
}

// The DOM of `url` once its scripts ran (virtual time), from a browser profile of its own; with
// `screenshot`, a PNG of the page too. At most 60 s.
std::string Browse(const ConsoleFixture& f, const std::string& url, const std::string& screenshot = "") {
  std::string profile =
      f.tmp.Sub(fmt::format("chromium-{}", std::chrono::steady_clock::now().time_since_epoch().count()));
  std::string flags =
      "--headless=new --no-sandbox --disable-gpu --ignore-certificate-errors --no-first-run "
      "--virtual-time-budget=8000 --user-data-dir=" +
      Quote(profile);
  std::string err = f.tmp.Sub("chromium.err");
  if (!screenshot.empty()) {
    std::filesystem::create_directories(std::filesystem::path(screenshot).parent_path());
    std::string shot = fmt::format("timeout 60 chromium {} --window-size=1280,900 --screenshot={} {} 2>>{} >/dev/null",
                                   flags, Quote(screenshot), Quote(url), err);
    CHECK(std::system(shot.c_str()) == 0);
    CHECK(std::filesystem::exists(screenshot));
    return "";
  }
  std::string command = fmt::format("timeout 60 chromium {} --dump-dom {} 2>>{}", flags, Quote(url), err);
  FILE* p = ::popen(command.c_str(), "r");
  REQUIRE(p != nullptr);
  std::string dom;
  char buf[65536];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) dom.append(buf, n);
  CHECK(::pclose(p) == 0);
  return dom;
}

// A login URL that lands on `page` (percent-encoded: it holds '?' and '=').
std::string Landing(const std::string& login_url, const std::string& page) {
  std::string encoded;
  for (char c : page) {
    encoded += std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '-' || c == '_'
                   ? std::string(1, c)
                   : fmt::format("%{:02X}", static_cast<unsigned char>(c));
  }
  return login_url + "&next=" + encoded;
}

size_t Count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t at = text.find(what); at != std::string::npos; at = text.find(what, at + what.size())) ++n;
  return n;
}

// The table row of `seq` in a page's DOM ("" if none).
std::string Row(const std::string& dom, const std::string& seq) {
  size_t at = dom.find(fmt::format("<tr data-seq=\"{}\">", seq));
  return at == std::string::npos ? "" : dom.substr(at, dom.find("</tr>", at) - at);
}

struct Step {
  std::string seq, date, kind, actor, amount, hash;
};

// The steps of `ledgerctl replay --format json` (its fields in schema order).
std::vector<Step> StepsOf(const std::string& json) {
  std::regex step(
      R"re(\{"seq":(\d+),"date":"([^"]*)","kind":"([^"]*)","eventId":"[^"]*","actorId":"([^"]*)","amountFen":(null|-?\d+),"entryHash":"([0-9a-f]{64})")re");
  std::vector<Step> out;
  for (std::sregex_iterator it(json.begin(), json.end(), step), end; it != end; ++it) {
    const auto& m = *it;
    std::string amount = m[5] == "null" ? "" : ledger::FormatYuan(std::stoll(m[5].str()));
    out.push_back({m[1], m[2], m[3], m[4], amount, m[6]});
  }
  return out;
}

struct Flag {
  std::string rule, seq, household;
};

// The red flags of `ledgerctl trace --format json` (Finding: rule, message, seq, household).
std::vector<Flag> FlagsOf(const std::string& json) {
  std::regex flag(R"re(\{"rule":"([^"]*)","message":"(?:[^"\\]|\\.)*","seq":(\d+),"household":"([^"]*)")re");
  std::vector<Flag> out;
  for (std::sregex_iterator it(json.begin(), json.end(), flag), end; it != end; ++it) {
    out.push_back({(*it)[1], (*it)[2], (*it)[3]});
  }
  return out;
}

std::string Trimmed(std::string s) {
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

}  // namespace

TEST_CASE("console: the household page and /api/household show what ledgerctl replay --dir shows") {
  ConsoleFixture f;
  Server server = f.Start();
  auto replay = testing::RunLedgerctl({"replay", "--dir", f.local, "--household", kHousehold, "--format", "json"});
  REQUIRE_MESSAGE(replay.exit_code == 0, replay.err);
  auto steps = StepsOf(replay.out);
  REQUIRE(steps.size() > 10);
  REQUIRE(std::any_of(steps.begin(), steps.end(), [](const Step& s) { return !s.amount.empty(); }));

  // The API: the CLI's JSON record itself, inside the page envelope.
  std::string cookie = SignIn(server, f, "aud1");
  int port = ConsolePort(LoginUrl(server, f, "aud1"));
  auto api = HttpsGet(f, port, fmt::format("/api/household?id={}", kHousehold), cookie);
  REQUIRE(api.status == 200);
  CHECK(api.body.find(fmt::format("\"total\":{{\"steps\":{}}},\"chainVerified\":true,\"result\":{}}}", steps.size(),
                                  Trimmed(replay.out))) != std::string::npos);
  // Pagination: a page of 5 from the 3rd.
  auto page = HttpsGet(f, port, fmt::format("/api/household?id={}&offset=2&limit=5", kHousehold), cookie);
  REQUIRE(page.status == 200);
  auto paged = StepsOf(page.body);
  REQUIRE(paged.size() == 5);
  CHECK(paged[0].seq == steps[2].seq);
  CHECK(paged[4].hash == steps[6].hash);
  CHECK(HttpsGet(f, port, "/api/household?id=H0001&limit=1001", cookie).status == 400);
  // As of a date: the steps dated up to it.
  auto as_of = testing::RunLedgerctl(
      {"replay", "--dir", f.local, "--household", kHousehold, "--as-of", "20240630", "--format", "json"});
  auto dated = HttpsGet(f, port, fmt::format("/api/household?id={}&asOf=2024-06-30", kHousehold), cookie);
  CHECK(dated.body.find(Trimmed(as_of.out)) != std::string::npos);
  CHECK(StepsOf(dated.body).size() < steps.size());

  if (!HaveChromium()) {
    MESSAGE("SKIPPED the browser part: chromium is not installed (make test installs it)");
    return;
  }
  // The browser: one navigation signs in and lands on the page, whose table is the replay's.
  std::string dom = Browse(f, Landing(LoginUrl(server, f, "aud1"), fmt::format("/household.html?id={}", kHousehold)));
  CHECK(Count(dom, "<tr data-seq=") == steps.size());
  for (const auto& s : steps) {
    CAPTURE(s.seq);
    std::string row = Row(dom, s.seq);
    REQUIRE(!row.empty());
    CHECK(row.find("<td class=\"date\">" + s.date + "</td>") != std::string::npos);
    CHECK(row.find("<td class=\"kind\">" + s.kind + "</td>") != std::string::npos);
    CHECK(row.find("<td class=\"actor\">" + s.actor + "</td>") != std::string::npos);
    CHECK(row.find("<td class=\"num amount\">" + s.amount + "</td>") != std::string::npos);
    CHECK(row.find("<code class=\"hash\">" + s.hash + "</code>") != std::string::npos);
  }
  CHECK(dom.find("class=\"status ok\"") != std::string::npos);
  CHECK(dom.find(steps.back().hash) != std::string::npos);  // The chain line names the last entry hash.
  Browse(f, Landing(LoginUrl(server, f, "aud1"), fmt::format("/household.html?id={}", kHousehold)),
         CONSOLE_SCREENSHOT_DIR "/console-household.png");
  CHECK(server.Stop(SIGTERM) == 0);
}

TEST_CASE("console: the red-flags page and /api/trace show the flags of ledgerctl trace, filtered by rule") {
  ConsoleFixture f;
  Server server = f.Start();
  auto trace = testing::RunLedgerctl({"trace", "--dir", f.local, "--region", "341502", "--format", "json"});
  REQUIRE_MESSAGE(trace.exit_code == 0, trace.err);
  auto flags = FlagsOf(trace.out);
  REQUIRE(flags.size() >= 3);
  REQUIRE(flags.size() <= 100);  // One page in the browser.

  std::string cookie = SignIn(server, f, "aud1");
  int port = ConsolePort(LoginUrl(server, f, "aud1"));
  auto api = HttpsGet(f, port, "/api/trace?region=341502&limit=1000", cookie);
  REQUIRE(api.status == 200);
  CHECK(api.body.find(",\"result\":" + Trimmed(trace.out) + "}") != std::string::npos);
  // Filtered by rule on the server: the flags of that rule only, counted before the page.
  std::string rule = flags.back().rule;
  size_t of_rule = std::count_if(flags.begin(), flags.end(), [&](const Flag& x) { return x.rule == rule; });
  auto filtered = HttpsGet(f, port, "/api/trace?region=341502&rule=" + rule + "&limit=1", cookie);
  REQUIRE(filtered.status == 200);
  CHECK(filtered.body.find(fmt::format("\"flags\":{}", of_rule)) != std::string::npos);
  auto no_rule = HttpsGet(f, port, "/api/trace?region=341502&rule=no.such", cookie);
  CHECK(no_rule.body.find("\"flags\":0}") != std::string::npos);
  CHECK(FlagsOf(no_rule.body).empty());
  auto one = FlagsOf(filtered.body);
  REQUIRE(one.size() == 1);
  CHECK(one[0].rule == rule);

  if (!HaveChromium()) {
    MESSAGE("SKIPPED the browser part: chromium is not installed (make test installs it)");
    return;
  }
  std::string dom = Browse(f, Landing(LoginUrl(server, f, "aud1"), "/flags.html?region=341502"));
  CHECK(Count(dom, "<tr data-seq=") == flags.size());
  for (const auto& x : flags) {
    CAPTURE(x.seq);
    std::string row = Row(dom, x.seq);
    REQUIRE(!row.empty());
    CHECK(row.find("<td class=\"rule\">" + x.rule + "</td>") != std::string::npos);
    if (!x.household.empty()) {
      CHECK(row.find(fmt::format("<a href=\"/household.html?id={0}\">{0}</a>", x.household)) != std::string::npos);
    }
  }
  Browse(f, Landing(LoginUrl(server, f, "aud1"), "/flags.html?region=341502"),
         CONSOLE_SCREENSHOT_DIR "/console-flags.png");
  CHECK(server.Stop(SIGTERM) == 0);
}

TEST_CASE("console: the funds page and /api/totals show ledgerctl totals, as a table and an SVG chart") {
  ConsoleFixture f;
  Server server = f.Start();
  auto totals = testing::RunLedgerctl({"totals", "--dir", f.local, "--region", "341502", "--programme", "urban_dibao",
                                       "--from", "202402", "--to", "202412", "--format", "json"});
  REQUIRE_MESSAGE(totals.exit_code == 0, totals.err);
  std::regex row_re(
      R"re(\{"programme":"([a-z_]+)","period":"([0-9-]+)","allocatedFen":(-?\d+),"issuedFen":(-?\d+),"settledFen":(-?\d+),"failedFen":(-?\d+),"returnedFen":(-?\d+))re");
  std::vector<std::smatch> rows;
  for (std::sregex_iterator it(totals.out.begin(), totals.out.end(), row_re), end; it != end; ++it) rows.push_back(*it);
  REQUIRE(rows.size() == 11);  // One programme, February to December.

  std::string cookie = SignIn(server, f, "aud1");
  int port = ConsolePort(LoginUrl(server, f, "aud1"));
  auto api = HttpsGet(f, port, "/api/totals?programme=urban_dibao&from=2024-02&to=202412", cookie);
  REQUIRE(api.status == 200);
  CHECK(api.body.find(",\"result\":" + Trimmed(totals.out) + "}") != std::string::npos);
  CHECK(HttpsGet(f, port, "/api/totals?programme=nope", cookie).status == 400);
  CHECK(HttpsGet(f, port, "/api/totals?from=2024-13", cookie).status == 400);

  if (!HaveChromium()) {
    MESSAGE("SKIPPED the browser part: chromium is not installed (make test installs it)");
    return;
  }
  std::string page = "/funds.html?programme=urban_dibao&from=2024-02&to=2024-12";
  std::string dom = Browse(f, Landing(LoginUrl(server, f, "aud1"), page));
  CHECK(Count(dom, "<tr data-period=") == rows.size());
  CHECK(Count(dom, "<g class=\"month\"") == rows.size());
  for (const auto& m : rows) {
    std::string period = m[2];
    CAPTURE(period);
    size_t at = dom.find(fmt::format("<tr data-period=\"{}\" data-programme=\"{}\">", period, m[1].str()));
    REQUIRE(at != std::string::npos);
    std::string tr = dom.substr(at, dom.find("</tr>", at) - at);
    CHECK(tr.find(">" + ledger::FormatYuan(std::stoll(m[4])) + "</td>") != std::string::npos);
    CHECK(tr.find(">" + ledger::FormatYuan(std::stoll(m[5])) + "</td>") != std::string::npos);
    // The chart's bars carry the fen they are drawn from: the month's issued and settled.
    size_t g = dom.find(fmt::format("<g class=\"month\" data-period=\"{}\">", period));
    REQUIRE(g != std::string::npos);
    std::string group = dom.substr(g, dom.find("</g>", g) - g);
    CHECK(group.find(fmt::format("data-series=\"issuedFen\" data-fen=\"{}\"", m[4].str())) != std::string::npos);
    CHECK(group.find(fmt::format("data-series=\"settledFen\" data-fen=\"{}\"", m[5].str())) != std::string::npos);
  }
  Browse(f, Landing(LoginUrl(server, f, "aud1"), page), CONSOLE_SCREENSHOT_DIR "/console-funds.png");
  CHECK(server.Stop(SIGTERM) == 0);
}

TEST_CASE("console: no cookie, a forged cookie, a bad or reused token, out of jurisdiction: refused, never data") {
  ConsoleFixture f;
  Server server = f.Start();
  std::string url = LoginUrl(server, f, "aud1");
  int port = ConsolePort(url);
  const std::string household = fmt::format("/api/household?id={}", kHousehold);

  // No cookie, or one the server never issued: 401 and how to sign in, for pages and the API.
  auto none = HttpsGet(f, port, household);
  CHECK(none.status == 401);
  CHECK(none.body.find(R"("field":"session")") != std::string::npos);
  CHECK(none.body.find(R"(,"signIn":"ledgerctl --server )") != std::string::npos);
  CHECK(none.body.find("entryHash") == std::string::npos);
  auto page = HttpsGet(f, port, "/household.html");
  CHECK(page.status == 401);
  CHECK(page.body.find(fmt::format("ledgerctl --server {} --credential A.cred console-login", server.address())) !=
        std::string::npos);
  std::string forged(64, 'a');
  CHECK(HttpsGet(f, port, household, forged).status == 401);
  CHECK(HttpsGet(f, port, "/api/whoami", "not-hex").status == 401);

  // A token is good once; a bad one never; neither sets a cookie.
  auto first = HttpsGet(f, port, PathOf(url));
  REQUIRE(first.status == 303);
  std::string cookie = first.Cookie();
  CHECK(first.head.find("HttpOnly; Secure; SameSite=Strict; Path=/") != std::string::npos);
  auto again = HttpsGet(f, port, PathOf(url));
  CHECK(again.status == 401);
  CHECK(again.Cookie().empty());
  std::string bad = PathOf(url);
  bad.back() = bad.back() == '0' ? '1' : '0';
  CHECK(HttpsGet(f, port, bad).status == 401);
  CHECK(HttpsGet(f, port, "/login?token=").status == 401);
  // A next that leaves the site is not followed.
  auto away = HttpsGet(f, port, PathOf(LoginUrl(server, f, "aud1")) + "&next=//evil.example/");
  CHECK(away.head.find("Location: /\r\n") != std::string::npos);

  // The session reads within its actor's jurisdiction, as RPC does.
  CHECK(HttpsGet(f, port, household, cookie).status == 200);
  auto who = HttpsGet(f, port, "/api/whoami", cookie);
  CHECK(who.body.find(R"("actorId":"aud1","role":"auditor","jurisdiction":"341502")") != std::string::npos);
  std::string township = SignIn(server, f, "audt");
  auto outside = HttpsGet(f, port, household, township);
  CHECK(outside.status == 403);
  CHECK(outside.body.find("refused: household H0001 is outside actor") != std::string::npos);
  CHECK(outside.body.find("entryHash") == std::string::npos);
  CHECK(HttpsGet(f, port, "/api/trace?region=341502", township).status == 403);
  CHECK(HttpsGet(f, port, "/api/totals?region=341502002", township).status == 403);
  CHECK(HttpsGet(f, port, "/api/roll?asOf=20240630&region=341502002", township).status == 403);
  CHECK(HttpsGet(f, port, "/api/roll?asOf=20240630", township).status == 200);
  CHECK(HttpsGet(f, port, "/api/household?id=NOPE", cookie).status == 404);

  if (HaveChromium()) {
    // The browser shows a refusal and no data: a reused token, a bad one, out of jurisdiction.
    std::string reused = Browse(f, Landing(url, "/household.html?id=H0001"));
    CHECK(reused.find("console-login") != std::string::npos);
    CHECK(reused.find("data-seq") == std::string::npos);
    std::string bad_dom = Browse(f, "https://127.0.0.1:" + std::to_string(port) + bad);
    CHECK(bad_dom.find("console-login") != std::string::npos);
    CHECK(bad_dom.find("data-seq") == std::string::npos);
    std::string out_dom = Browse(f, Landing(LoginUrl(server, f, "audt"), "/household.html?id=H0001"));
    CHECK(out_dom.find("refused: household H0001 is outside actor") != std::string::npos);
    CHECK(out_dom.find("data-seq") == std::string::npos);
    CHECK(out_dom.find("<section class=\"data\" id=\"result\" hidden=\"\">") != std::string::npos);
    Browse(f, Landing(LoginUrl(server, f, "audt"), "/household.html?id=H0001"),
           CONSOLE_SCREENSHOT_DIR "/console-refused.png");
  } else {
    MESSAGE("SKIPPED the browser part: chromium is not installed (make test installs it)");
  }

  // A deactivated actor's session is refused at its next request.
  auto off =
      testing::RunLedgerctl({"--server", server.address(), "--credential", f.Cred("admin1"), "append"},
                            testing::EventLine("off-aud1", "", "341502001001", "admin1", 20250210, "actorDeactivated",
                                               R"("targetActorId":"aud1","reason":"moved")") +
                                "\n");
  REQUIRE_MESSAGE(off.exit_code == 0, off.out << off.err);
  auto cut = HttpsGet(f, port, household, cookie);
  CHECK(cut.status == 403);
  CHECK(cut.body.find("was deactivated") != std::string::npos);
  CHECK(HttpsGet(f, port, "/index.html", cookie).status == 403);
  CHECK(server.Stop(SIGTERM) == 0);
}

TEST_CASE("console: a session expires (--console-session-seconds), and a restart signs everyone out") {
  ConsoleFixture f;
  std::string cookie;
  int port = 0;
  {
    Server server = f.Start({"--console-session-seconds", "1"});
    port = ConsolePort(LoginUrl(server, f, "aud1"));
    cookie = SignIn(server, f, "aud1");
    CHECK(HttpsGet(f, port, "/api/whoami", cookie).status == 200);
    std::this_thread::sleep_for(1500ms);
    auto expired = HttpsGet(f, port, "/api/whoami", cookie);
    CHECK(expired.status == 401);
    CHECK(expired.body.find("expired") != std::string::npos);
    CHECK(server.Stop(SIGTERM) == 0);
  }
  Server server = f.Start();
  port = ConsolePort(LoginUrl(server, f, "aud1"));
  std::string before = SignIn(server, f, "aud1");
  CHECK(HttpsGet(f, port, "/api/whoami", before).status == 200);
  CHECK(server.Stop(SIGTERM) == 0);
  Server restarted = f.Start();
  port = ConsolePort(LoginUrl(restarted, f, "aud1"));
  CHECK(HttpsGet(f, port, "/api/whoami", before).status == 401);
  // Without a console, console-login says so.
  CHECK(restarted.Stop(SIGTERM) == 0);
  Server plain(f.served);
  auto r = testing::RunLedgerctl({"--server", plain.address(), "--credential", f.Cred("aud1"), "console-login"});
  CHECK(r.exit_code != 0);
  CHECK(r.err.find("--console-listen") != std::string::npos);
}

namespace {

// POST /api/reconcile?QUERY of the bank file `csv`, with the console's CSRF header unless `csrf` is false.
HttpReply PostReconcile(const ConsoleFixture& f, int port, const std::string& query, const std::string& cookie,
                        const std::string& csv, bool csrf = true) {
  std::string headers = fmt::format("Content-Type: text/csv\r\nContent-Length: {}\r\n{}", csv.size(),
                                    csrf ? "X-Ledger-Console: 1\r\n" : "");
  return HttpsRequest(f, port, "POST", "/api/reconcile?" + query, cookie, headers, csv);
}

// The county's January 2025 rural_dibao roll issued by fin1 on both copies, fin2 (the finance
// officer of another county) registered; the bank's answer to the roll in `bank`: the first
// payment failed, the others settled, one id unknown. *payments: the roll's payments.
std::string FundsSetUp(const ConsoleFixture& f, int* payments) {
  auto fin2 = testing::ActorRegistered("341502001001", "admin1",
                                       {.id = "fin2", .role = "financeOfficer", .jurisdiction = "341503"});
  const std::vector<std::string> issue = {"payroll",  "issue",   "--county", "341502", "--programme", "rural_dibao",
                                          "--period", "2025-01", "--actor",  "fin1",   "--date",      "20250110"};
  for (const std::string& dir : {f.served, f.local}) {
    auto added = testing::RunLedgerctl({"append", "--dir", dir}, fin2 + "\n");
    REQUIRE_MESSAGE(added.exit_code == 0, added.out << added.err);
    auto args = issue;
    args.insert(args.end(), {"--dir", dir});
    auto issued = testing::RunLedgerctl(args);
    REQUIRE_MESSAGE(issued.exit_code == 0, issued.out << issued.err);
  }
  for (const char* a : {"fin1", "fin2"}) {
    auto r = testing::RunLedgerctl({"credential", "issue", "--dir", f.served, "--actor", a, "--out", f.Cred(a)});
    REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  }
  std::string roll = f.tmp.Sub("roll.csv"), bank = f.tmp.Sub("bank.csv");
  auto exported = testing::RunLedgerctl(
      {"payroll", "export", "--dir", f.local, "--roll", "R-341502-rural_dibao-202501", "--out", roll});
  REQUIRE_MESSAGE(exported.exit_code == 0, exported.err);
  *payments = testing::WriteBankAnswer(roll, "P-202501-X9", bank);
  return bank;
}

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

bool HaveNode() {
  return ::access("/usr/bin/node", X_OK) == 0;
}

// The funds page's DOM after choosing `file` in its file input and reconciling it, then, given
// `date`, recording it with the confirmation accepted (tests/console_upload.mjs). At most 60 s.
std::string Upload(const ConsoleFixture& f, const std::string& url, const std::string& file,
                   const std::string& date = "-") {
  std::string profile =
      f.tmp.Sub(fmt::format("chromium-{}", std::chrono::steady_clock::now().time_since_epoch().count()));
  std::string command = fmt::format("timeout 60 node {} {} {} {} {} 2>>{}", CONSOLE_UPLOAD_JS, Quote(url), Quote(file),
                                    date, Quote(profile), f.tmp.Sub("upload.err"));
  FILE* p = ::popen(command.c_str(), "r");
  REQUIRE(p != nullptr);
  std::string dom;
  char buf[65536];
  for (size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) dom.append(buf, n);
  CHECK_MESSAGE(::pclose(p) == 0, ReadAll(f.tmp.Sub("upload.err")));
  return dom;
}

uint64_t HeadSeq(const ConsoleFixture& f, int port, const std::string& cookie) {
  auto who = HttpsGet(f, port, "/api/whoami", cookie);
  std::smatch m;
  REQUIRE(std::regex_search(who.body, m, std::regex(R"("headSeq":(\d+))")));
  return std::stoull(m[1].str());
}

}  // namespace

TEST_CASE("console: /api/roll and /api/recoveries are ledgerctl's records and the funds page shows them") {
  ConsoleFixture f;
  Server server = f.Start();
  auto roll = testing::RunLedgerctl(
      {"roll", "--dir", f.local, "--as-of", "20241231", "--region", "341502", "--format", "json"});
  REQUIRE_MESSAGE(roll.exit_code == 0, roll.err);
  auto recoveries = testing::RunLedgerctl({"recoveries", "--dir", f.local, "--region", "341502", "--format", "json"});
  REQUIRE_MESSAGE(recoveries.exit_code == 0, recoveries.err);
  auto household =
      testing::RunLedgerctl({"recoveries", "--dir", f.local, "--household", kHousehold, "--format", "json"});
  REQUIRE_MESSAGE(household.exit_code == 0, household.err);
  std::regex case_re(
      R"re(\{"household":"([^"]+)","region":"\d+","caseId":"([^"]+)","programme":"[a-z_]+","sincePeriod":"[0-9-]+","membersCovered":\d+,"monthlyAmountFen":(-?\d+))re");
  std::vector<std::smatch> cases;
  for (std::sregex_iterator it(roll.out.begin(), roll.out.end(), case_re), end; it != end; ++it) cases.push_back(*it);
  REQUIRE(cases.size() >= 3);

  std::string cookie = SignIn(server, f, "aud1");
  int port = ConsolePort(LoginUrl(server, f, "aud1"));
  auto api = HttpsGet(f, port, "/api/roll?asOf=2024-12-31&limit=1000", cookie);
  REQUIRE(api.status == 200);
  CHECK(api.body.find(fmt::format("\"total\":{{\"cases\":{}}},\"result\":{}}}", cases.size(), Trimmed(roll.out))) !=
        std::string::npos);
  auto paged = HttpsGet(f, port, "/api/roll?asOf=20241231&offset=1&limit=2", cookie);
  REQUIRE(paged.status == 200);
  CHECK(paged.body.find(fmt::format("\"caseId\":\"{}\"", cases[1][2].str())) != std::string::npos);
  CHECK(paged.body.find(fmt::format("\"caseId\":\"{}\"", cases[0][2].str())) == std::string::npos);
  auto rec = HttpsGet(f, port, "/api/recoveries?region=341502&limit=1000", cookie);
  REQUIRE(rec.status == 200);
  CHECK(rec.body.find(",\"result\":" + Trimmed(recoveries.out) + "}") != std::string::npos);
  auto one = HttpsGet(f, port, fmt::format("/api/recoveries?household={}", kHousehold), cookie);
  REQUIRE(one.status == 200);
  CHECK(one.body.find(",\"result\":" + Trimmed(household.out) + "}") != std::string::npos);
  // Scoped as the RPC calls: audt's township holds no H0001, nor the county.
  std::string township = SignIn(server, f, "audt");
  CHECK(HttpsGet(f, port, fmt::format("/api/recoveries?household={}", kHousehold), township).status == 403);
  CHECK(HttpsGet(f, port, "/api/recoveries?region=341502", township).status == 403);
  CHECK(HttpsGet(f, port, "/api/recoveries", township).status == 200);

  if (!HaveChromium()) {
    MESSAGE("SKIPPED the browser part: chromium is not installed (make test installs it)");
    return;
  }
  std::string dom = Browse(f, Landing(LoginUrl(server, f, "aud1"), "/funds.html?asOf=2024-12-31"));
  CHECK(Count(dom, "<tr data-case=") == std::min<size_t>(cases.size(), 100));
  for (const auto& m : cases) {
    CAPTURE(m[2].str());
    size_t at = dom.find(fmt::format("<tr data-case=\"{}\">", m[2].str()));
    if (at == std::string::npos && cases.size() > 100) continue;  // On a later page.
    REQUIRE(at != std::string::npos);
    std::string tr = dom.substr(at, dom.find("</tr>", at) - at);
    CHECK(tr.find(">" + m[1].str() + "<") != std::string::npos);
    CHECK(tr.find(">" + ledger::FormatYuan(std::stoll(m[3])) + "</td>") != std::string::npos);
  }
  std::smatch outstanding;
  REQUIRE(std::regex_search(recoveries.out, outstanding,
                            std::regex(R"("summary":\{"cases":(\d+),.*"outstandingFen":(-?\d+)\})")));
  CHECK(Count(dom, "<tr data-recovery=") == std::stoul(outstanding[1].str()));
  CHECK(dom.find("id=\"recoveriesOutstanding\">" + ledger::FormatYuan(std::stoll(outstanding[2])) + "<") !=
        std::string::npos);
  CHECK(server.Stop(SIGTERM) == 0);
}

TEST_CASE(
    "console: POST /api/reconcile is ledgerctl reconcile's record and apply records once by the county's finance "
    "officer only") {
  ConsoleFixture f;
  int n = 0;
  std::string bank = FundsSetUp(f, &n);
  std::string csv = ReadAll(bank);
  Server server = f.Start();
  int port = ConsolePort(LoginUrl(server, f, "aud1"));
  std::string aud = SignIn(server, f, "aud1"), fin1 = SignIn(server, f, "fin1"), fin2 = SignIn(server, f, "fin2");
  auto cli = testing::RunLedgerctl({"reconcile", "--dir", f.local, "--bank-file", bank, "--format", "json"});
  REQUIRE_MESSAGE(cli.exit_code == 1, cli.err);  // Not clean: a failure and an unknown id.
  auto dry = PostReconcile(f, port, "name=" + bank + "&limit=1000", aud, csv);
  REQUIRE_MESSAGE(dry.status == 200, dry.body);
  CHECK(dry.body.find(",\"refused\":[],\"result\":" + Trimmed(cli.out) + "}") != std::string::npos);
  CHECK(dry.body.find(fmt::format("\"lines\":{}", n + 1)) != std::string::npos);  // In "total".
  auto page = PostReconcile(f, port, "limit=1", aud, csv);
  CHECK(page.body.find("\"lines\":[{\"category\"") != std::string::npos);
  CHECK(Count(page.body, "\"endToEndId\":") == 1);
  // Only the lines are paged: every category and programme on every page.
  auto later = PostReconcile(f, port, "offset=1&limit=1", aud, csv);
  CHECK(Count(later.body, "\"endToEndId\":") == 1);
  const size_t category_totals = Count(cli.out, "{\"category\":") - static_cast<size_t>(n + 1);  // Less the lines.
  CHECK(category_totals >= 3);
  CHECK(Count(later.body, "{\"category\":") == 1 + category_totals);
  CHECK(later.body.find(Trimmed(cli.out.substr(cli.out.find("\"categories\":")))) != std::string::npos);

  // The page, a file chosen in its input: every category of the CLI's with its lines and sum.
  std::regex category_re(R"re(\{"category":"([a-z_]+)","lines":(\d+),"amountFen":(-?\d+)\})re");
  std::vector<std::smatch> categories;
  for (std::sregex_iterator it(cli.out.begin(), cli.out.end(), category_re), end; it != end; ++it) {
    categories.push_back(*it);
  }
  REQUIRE(categories.size() >= 3);  // matched, failed, unknown at least.
  const bool browser = HaveChromium() && HaveNode();
  if (browser) {
    std::string dom = Upload(f, Landing(LoginUrl(server, f, "fin1"), "/funds.html?asOf=2025-01-31"), bank);
    CHECK(Count(dom, "<tr data-category=") == categories.size());
    for (const auto& m : categories) {
      CAPTURE(m[1].str());
      CHECK(dom.find(fmt::format("<tr data-category=\"{0}\"><td class=\"category\">{0}</td><td class=\"num "
                                 "lines\">{1}</td><td class=\"num yuan\">{2}</td></tr>",
                                 m[1].str(), m[2].str(), ledger::FormatYuan(std::stoll(m[3])))) != std::string::npos);
    }
  } else {
    MESSAGE("SKIPPED the browser part: chromium or node is not installed (make test installs them)");
  }

  // Refused: without the CSRF header (even with the cookie), without a session, over the limit.
  uint64_t head = HeadSeq(f, port, fin1);
  auto no_header = PostReconcile(f, port, "apply=yes&date=20250120", fin1, csv, /*csrf=*/false);
  CHECK(no_header.status == 403);
  CHECK(no_header.body.find("X-Ledger-Console") != std::string::npos);
  CHECK(PostReconcile(f, port, "apply=yes&date=20250120", "", csv).status == 401);
  auto big =
      HttpsRequest(f, port, "POST", "/api/reconcile", fin1, "Content-Length: 40000000\r\nX-Ledger-Console: 1\r\n", "");
  CHECK(big.status == 413);
  CHECK(big.body.find("33554432 bytes") != std::string::npos);
  CHECK(HttpsRequest(f, port, "POST", "/api/roll", aud, "Content-Length: 0\r\nX-Ledger-Console: 1\r\n", "").status ==
        405);
  // An auditor, and a finance officer of another county: refused, nothing recorded.
  auto auditor = PostReconcile(f, port, "apply=yes&date=20250120", aud, csv);
  CHECK(auditor.status == 403);
  CHECK(auditor.body.find("auditors and inspectors read, never write") != std::string::npos);
  auto other = PostReconcile(f, port, "apply=yes&date=20250120", fin2, csv);
  CHECK(other.status == 403);
  CHECK(other.body.find("is outside actor \\\"fin2\\\"'s jurisdiction 341503") != std::string::npos);
  CHECK(HeadSeq(f, port, fin1) == head);

  // The county's finance officer: N results recorded, as --dir records them, submitted by fin1; again, none.
  auto local = testing::RunLedgerctl({"reconcile", "--dir", f.local, "--bank-file", bank, "--apply", "yes", "--actor",
                                      "fin1", "--date", "20250120", "--format", "json"});
  REQUIRE(local.out.find(fmt::format("\"applied\":{{\"recorded\":{},\"alreadyRecorded\":0,\"refused\":0}}", n)) !=
          std::string::npos);
  auto first = PostReconcile(f, port, "name=" + bank + "&apply=yes&date=2025-01-20&limit=1000", fin1, csv);
  REQUIRE_MESSAGE(first.status == 200, first.body);
  CHECK(first.body.find(",\"result\":" + Trimmed(local.out) + "}") != std::string::npos);
  CHECK(HeadSeq(f, port, fin1) == head + n);
  auto shown = testing::RunLedgerctl(
      {"--server", server.address(), "--credential", f.Cred("aud1"), "show", "--seq", std::to_string(head + n)});
  CHECK(shown.out.find(R"("submittedBy":"fin1")") != std::string::npos);
  auto second = PostReconcile(f, port, "apply=yes&date=20250120", fin1, csv);
  REQUIRE(second.status == 200);
  CHECK(second.body.find(fmt::format("\"applied\":{{\"recorded\":0,\"alreadyRecorded\":{},\"refused\":0}}", n)) !=
        std::string::npos);
  CHECK(HeadSeq(f, port, fin1) == head + n);
  if (browser) {  // Recording from the page, confirmed: nothing new, said so.
    std::string dom =
        Upload(f, Landing(LoginUrl(server, f, "fin1"), "/funds.html?asOf=2025-01-31"), bank, "2025-01-20");
    CHECK(dom.find(fmt::format("<p class=\"status\" id=\"applied\">已记入 0 · 此前已记入 {} · 被拒绝 0</p>", n)) !=
          std::string::npos);
    std::string refused = Upload(f, Landing(LoginUrl(server, f, "aud1"), "/funds.html"), bank, "2025-01-20");
    CHECK(refused.find("auditors and inspectors read, never write") != std::string::npos);
    CHECK(HeadSeq(f, port, fin1) == head + n);
  }
  CHECK(server.Stop(SIGTERM) == 0);
}

// ---- Evidence (console_evidence.cc): the proof download, checkpoints, verify, CSRF, sign-out.

namespace {

constexpr const char* kCsrf = "X-Ledger-Console: 1\r\n";

HttpReply HttpsPost(const ConsoleFixture& f, int port, const std::string& target, const std::string& cookie,
                    bool csrf = true) {
  return HttpsCall(f, port, "POST", target, cookie, csrf ? kCsrf : "");
}

// The number after "NAME": in a JSON text, or -1.
long long JsonNumber(const std::string& json, const std::string& name) {
  std::smatch m;
  return std::regex_search(json, m, std::regex("\"" + name + "\":(\\d+)")) ? std::stoll(m[1]) : -1;
}

// Makes a checkpoint of `dir` with ledgerctl (ledgerd not running on it): the list's JSON after.
std::string MakeCheckpoint(const std::string& dir) {
  auto made = testing::RunLedgerctl({"checkpoint", "--dir", dir});
  REQUIRE_MESSAGE(made.exit_code == 0, made.err);
  auto list = testing::RunLedgerctl({"checkpoint", "--dir", dir, "--list", "yes", "--format", "json"});
  REQUIRE_MESSAGE(list.exit_code == 0, list.err);
  return Trimmed(list.out);
}

}  // namespace

TEST_CASE("console: the downloaded household proof checks offline with ledgerctl verify-proof, and the checkpoints") {
  ConsoleFixture f;
  std::string list = MakeCheckpoint(f.served);
  long long size = JsonNumber(list, "size");
  REQUIRE(size > 0);
  Server server = f.Start();
  std::string cookie = SignIn(server, f, "aud1");
  int port = ConsolePort(LoginUrl(server, f, "aud1"));

  // /api/checkpoints: the CLI's record itself.
  auto checkpoints = HttpsGet(f, port, "/api/checkpoints", cookie);
  REQUIRE(checkpoints.status == 200);
  CHECK(checkpoints.body == "{\"result\":" + list + "}\n");

  // The download: a tar of the proof, the note and the key, which verify-proof accepts offline.
  auto proof = HttpsGet(f, port, fmt::format("/api/household-proof?id={}", kHousehold), cookie);
  REQUIRE(proof.status == 200);
  std::string dir = fmt::format("{}-proof-{}", kHousehold, size);
  CHECK(proof.head.find(fmt::format("Content-Disposition: attachment; filename=\"{}.tar\"", dir)) != std::string::npos);
  std::string tar = f.tmp.Sub("proof.tar"), out = f.tmp.Sub("unpacked");
  std::filesystem::create_directories(out);
  std::ofstream(tar, std::ios::binary) << proof.body;
  REQUIRE(std::system(fmt::format("tar -xf {} -C {}", Quote(tar), Quote(out)).c_str()) == 0);
  std::string at = out + "/" + dir;
  auto read = [](const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  };
  CHECK(read(at + "/checkpoint.pub") == read(f.served + "/checkpoint.pub"));
  auto check = testing::RunLedgerctl({"verify-proof", at + "/proof.json", "--checkpoint", at + "/checkpoint.note",
                                      "--key", f.served + "/checkpoint.pub"});
  CHECK_MESSAGE(check.exit_code == 0, check.out << check.err);
  CHECK(check.out.rfind("valid: ", 0) == 0);
  CHECK(check.out.find(fmt::format("at size {}", size)) != std::string::npos);
  // Against another key the note does not verify: the check can fail.
  auto other = testing::RunLedgerctl({"keygen", "--name", "other", "--out", f.tmp.Sub("other")});
  REQUIRE_MESSAGE(other.exit_code == 0, other.err);
  auto wrong = testing::RunLedgerctl({"verify-proof", at + "/proof.json", "--checkpoint", at + "/checkpoint.note",
                                      "--key", f.tmp.Sub("other") + ".pub"});
  CHECK(wrong.exit_code != 0);

  // Scoped as proveHousehold: outside the jurisdiction, a refusal and no proof.
  std::string township = SignIn(server, f, "audt");
  auto outside = HttpsGet(f, port, fmt::format("/api/household-proof?id={}", kHousehold), township);
  CHECK(outside.status == 403);
  CHECK(outside.body.find("refused: household H0001 is outside actor") != std::string::npos);
  CHECK(outside.head.find("attachment") == std::string::npos);
  CHECK(HttpsGet(f, port, "/api/household-proof", cookie).status == 400);

  if (!HaveChromium()) {
    MESSAGE("SKIPPED the browser part: chromium is not installed (make test installs it)");
    return;
  }
  // The evidence page lists the checkpoints; the household page links the download.
  std::string dom = Browse(f, Landing(LoginUrl(server, f, "aud1"), "/evidence.html"));
  CHECK(Count(dom, "<tr data-size=") == 1);
  std::smatch root;
  REQUIRE(std::regex_search(list, root, std::regex("\"rootHash\":\"([^\"]+)\"")));
  CHECK(dom.find(fmt::format("<tr data-size=\"{}\">", size)) != std::string::npos);
  CHECK(dom.find("<code class=\"hash\">" + root[1].str() + "</code>") != std::string::npos);
  CHECK(dom.find("id=\"signout\"") != std::string::npos);
  std::string household = Browse(f, Landing(LoginUrl(server, f, "aud1"), "/household.html?id=H0001"));
  CHECK(household.find("href=\"/api/household-proof?id=H0001\"") != std::string::npos);
  CHECK(household.find("href=\"/evidence.html\"") != std::string::npos);
  Browse(f, Landing(LoginUrl(server, f, "aud1"), "/evidence.html"), CONSOLE_SCREENSHOT_DIR "/console-evidence.png");
  CHECK(server.Stop(SIGTERM) == 0);
}

TEST_CASE("console: a full verify in the background, one at a time, POSTs with the CSRF header only, and sign-out") {
  ConsoleFixture f;
  auto cw =
      testing::RunLedgerctl({"credential", "issue", "--dir", f.served, "--actor", "cw1-1", "--out", f.Cred("cw1-1")});
  REQUIRE_MESSAGE(cw.exit_code == 0, cw.err);
  Server server = f.Start();
  std::string cookie = SignIn(server, f, "aud1");
  int port = ConsolePort(LoginUrl(server, f, "aud1"));
  long long head = JsonNumber(HttpsGet(f, port, "/api/whoami", cookie).body, "headSeq");
  REQUIRE(head > 0);
  CHECK(HttpsGet(f, port, "/api/verify", cookie).body == "{\"run\":0,\"state\":\"none\"}\n");

  // Refused, and nothing started: no CSRF header; a caseworker.
  auto no_header = HttpsPost(f, port, "/api/verify", cookie, /*csrf=*/false);
  CHECK(no_header.status == 403);
  CHECK(no_header.body.find("X-Ledger-Console") != std::string::npos);
  std::string caseworker = SignIn(server, f, "cw1-1");
  auto refused = HttpsPost(f, port, "/api/verify", caseworker);
  CHECK(refused.status == 403);
  CHECK(refused.body.find("refused: verify is for auditors") != std::string::npos);
  CHECK(HttpsGet(f, port, "/api/verify", cookie).body == "{\"run\":0,\"state\":\"none\"}\n");

  // An auditor starts one: it is running when the answer leaves. A second start either finds it
  // running (409, the same run) or, if it has finished already, starts the next run.
  auto first = HttpsPost(f, port, "/api/verify", cookie);
  REQUIRE(first.status == 202);
  CHECK(first.body.find("\"run\":1,\"state\":\"running\",\"actor\":\"aud1\"") != std::string::npos);
  auto second = HttpsPost(f, port, "/api/verify", cookie);
  if (second.status == 409) {
    CHECK(second.body.find("\"run\":1,\"state\":\"running\"") != std::string::npos);
  } else {
    CHECK(second.status == 202);
    CHECK(second.body.find("\"run\":2,\"state\":\"running\"") != std::string::npos);
  }
  long long last_run = second.status == 409 ? 1 : 2;
  HttpReply status;
  for (int i = 0; i < 600; ++i) {  // At most 60 s.
    status = HttpsGet(f, port, "/api/verify", cookie);
    if (status.body.find("\"state\":\"finished\"") != std::string::npos) break;
    std::this_thread::sleep_for(100ms);
  }
  REQUIRE(status.status == 200);
  CHECK(JsonNumber(status.body, "run") == last_run);
  CHECK(status.body.find("\"state\":\"finished\"") != std::string::npos);
  CHECK(status.body.find("\"ok\":true,\"problem\":\"\",\"result\":{\"ok\":true,") != std::string::npos);
  CHECK(JsonNumber(status.body, "entriesTotal") == head);
  CHECK(JsonNumber(status.body, "entriesChecked") == head);
  CHECK(JsonNumber(status.body, "entries") == head);
  // Once finished, the next start is the next run.
  auto next = HttpsPost(f, port, "/api/verify", cookie);
  CHECK(next.status == 202);
  CHECK(JsonNumber(next.body, "run") == last_run + 1);

  // Sign-out: not without the header; then the cookie is refused.
  CHECK(HttpsPost(f, port, "/logout", cookie, /*csrf=*/false).status == 403);
  CHECK(HttpsGet(f, port, "/api/whoami", cookie).status == 200);
  auto out = HttpsPost(f, port, "/logout", cookie);
  CHECK(out.status == 200);
  CHECK(out.head.find("Set-Cookie: ledger_console=; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age=0") !=
        std::string::npos);
  CHECK(HttpsGet(f, port, "/api/whoami", cookie).status == 401);
  CHECK(HttpsGet(f, port, "/evidence.html", cookie).status == 401);
  CHECK(HttpsGet(f, port, "/api/whoami", caseworker).status == 200);  // Only that session ended.
  // A POST elsewhere is not a way around GET-only routes.
  CHECK(HttpsPost(f, port, "/api/household?id=H0001", caseworker).status == 405);
  CHECK(server.Stop(SIGTERM) == 0);
}

TEST_CASE("console: /api/trace.csv and .xlsx give every red flag of ledgerctl trace --format csv, CSV with a BOM") {
  ConsoleFixture f;
  Server server = f.Start();
  auto trace = testing::RunLedgerctl({"trace", "--dir", f.local, "--region", "341502", "--format", "csv"});
  REQUIRE_MESSAGE(trace.exit_code == 0, trace.err);
  const std::string header = "seq,household,rule,message,events\n";
  size_t at = trace.out.find(header);
  REQUIRE(at != std::string::npos);
  std::string flags = trace.out.substr(at);  // The CLI's flags table (after its chains table).
  REQUIRE(Count(flags, "\n") >= 4);

  std::string cookie = SignIn(server, f, "aud1");
  int port = ConsolePort(LoginUrl(server, f, "aud1"));
  auto csv = HttpsGet(f, port, "/api/trace.csv?region=341502", cookie);
  REQUIRE(csv.status == 200);
  CHECK(csv.head.find("Content-Type: text/csv; charset=utf-8") != std::string::npos);
  CHECK(csv.head.find("Content-Disposition: attachment; filename=\"red-flags.csv\"") != std::string::npos);
  CHECK(csv.body == "\xEF\xBB\xBF" + flags);
  // No page: a limit in the query cuts nothing.
  CHECK(HttpsGet(f, port, "/api/trace.csv?region=341502&limit=1", cookie).body == csv.body);
  // By rule: that rule's rows only.
  std::smatch m;
  REQUIRE(std::regex_search(flags, m, std::regex("\n\\d+,[^,]*,([a-z._]+),")));
  std::string rule = m[1];
  auto one = HttpsGet(f, port, "/api/trace.csv?region=341502&rule=" + rule, cookie);
  REQUIRE(one.status == 200);
  size_t of_rule = Count(flags, "," + rule + ",");
  CHECK(Count(one.body, "\n") == of_rule + 1);
  // The same rows as an Excel workbook: a sheet of the header and one row per flag.
  auto xlsx = HttpsGet(f, port, "/api/trace.xlsx?region=341502", cookie);
  REQUIRE(xlsx.status == 200);
  CHECK(xlsx.head.find("Content-Disposition: attachment; filename=\"red-flags.xlsx\"") != std::string::npos);
  CHECK(xlsx.body.rfind("PK", 0) == 0);
  std::string book = f.tmp.Sub("flags.xlsx");
  std::ofstream(book, std::ios::binary) << xlsx.body;
  auto unzip = [&book](const std::string& member) {
    std::string out;
    FILE* p = ::popen(fmt::format("unzip -p {} {}", Quote(book), member).c_str(), "r");
    REQUIRE(p != nullptr);
    char buf[65536];
    for (size_t n; (n = std::fread(buf, 1, sizeof buf, p)) > 0;) out.append(buf, n);
    CHECK(::pclose(p) == 0);
    return out;
  };
  CHECK(Count(unzip("xl/worksheets/sheet1.xml"), "<row ") == Count(flags, "\n"));
  std::string strings = unzip("xl/sharedStrings.xml");
  CHECK(strings.find("<t>household</t>") != std::string::npos);
  CHECK(strings.find("<t>" + rule + "</t>") != std::string::npos);
  // Scoped as /api/trace.
  std::string township = SignIn(server, f, "audt");
  CHECK(HttpsGet(f, port, "/api/trace.xlsx?region=341502", township).status == 403);
  CHECK(HttpsGet(f, port, "/api/trace.csv?region=341502", township).status == 403);
  CHECK(HttpsGet(f, port, "/api/trace.csv?region=1&actor=x", cookie).status == 400);

  if (HaveChromium()) {
    std::string dom = Browse(f, Landing(LoginUrl(server, f, "aud1"), "/flags.html?region=341502"));
    CHECK(dom.find("href=\"/api/trace.csv?region=341502&amp;rule=\"") != std::string::npos);
    CHECK(dom.find("href=\"/api/trace.xlsx?region=341502&amp;rule=\"") != std::string::npos);
  } else {
    MESSAGE("SKIPPED the browser part: chromium is not installed (make test installs it)");
  }
  CHECK(server.Stop(SIGTERM) == 0);
}
