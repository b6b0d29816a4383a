// Bad input through `ledgerctl append`: every kind of bad line gets an error naming the line,
// the field (where there is one) and the reason, and appends nothing; good lines around it
// are appended.
#include <doctest/doctest.h>

#include <random>

#include "tests/test_util.h"

namespace {

const std::string kGood =
    R"({"eventId":"g%d","householdId":"H1","regionCode":"341502001001","actorId":"cw1","businessDate":20240108,"applicationSubmitted":{"caseId":"C%d","programme":"urban_dibao","declaredMonthlyIncomeFen":20000}})";

const std::string kRegisterH1 =
    R"({"eventId":"g0","householdId":"H1","regionCode":"341502001001","actorId":"cw1","businessDate":20240105,"householdRegistered":{"members":[{"person":{"number":"341502195203141236"},"name":"张三","relation":"head","birthDate":19520314}]}})";

// Good(0) registers household H1; Good(n) is an application of H1 (under the record policy,
// with findings: the actor is not registered).
std::string Good(int n) {
  if (n == 0) return kRegisterH1;
  char buf[512];
  snprintf(buf, sizeof buf, kGood.c_str(), n, n);
  return buf;
}

// The application event with one part replaced: `from` -> `to`.
std::string GoodWith(const std::string& from, const std::string& to) {
  std::string s = Good(99);
  size_t at = s.find(from);
  REQUIRE(at != std::string::npos);
  return s.replace(at, from.size(), to);
}

struct Case {
  const char* name;
  std::string line;
  const char* field;   // expected "field" (or "" for none)
  const char* reason;  // a part of the expected reason
};

std::vector<Case> BadLines() {
  std::mt19937 rng(7);
  std::string garbage(300, '\0');
  for (auto& c : garbage) c = static_cast<char>(rng() & 0xff);
  for (auto& c : garbage) c = c == '\n' ? 'x' : c;
  return {
      {"malformed JSON", R"({"eventId":"m1", "householdId":)", "", "malformed JSON"},
      {"not an object", "[1,2,3]", "", "expected an object"},
      {"unknown kind", GoodWith("applicationSubmitted", "applicationTeleported"), "applicationTeleported",
       "unknown field or event kind"},
      {"unknown field", GoodWith(R"("caseId")", R"("caseIdentifier")"), "applicationSubmitted.caseIdentifier",
       "unknown field"},
      {"no kind",
       R"({"eventId":"k1","householdId":"H1","regionCode":"341502001001","actorId":"cw1","businessDate":20240108})", "",
       "no event kind"},
      {"two kinds", GoodWith("}}", R"(},"rejection":{"caseId":"C1","reason":"x"}})"), "rejection", "one of them only"},
      {"string for integer", GoodWith("20000", R"("lots")"), "applicationSubmitted.declaredMonthlyIncomeFen",
       "not an integer"},
      {"fractional fen", GoodWith("20000", "200.5"), "applicationSubmitted.declaredMonthlyIncomeFen", "not an integer"},
      {"number for text", GoodWith(R"("C99")", "99"), "applicationSubmitted.caseId", "expected a string"},
      {"object for date", GoodWith("20240108", "{}"), "businessDate", "expected an integer"},
      {"negative money", GoodWith("20000", "-1"), "applicationSubmitted.declaredMonthlyIncomeFen", "negative"},
      {"money over the limit", GoodWith("20000", "100000000000001"), "applicationSubmitted.declaredMonthlyIncomeFen",
       "above the limit"},
      {"February 30th", GoodWith("20240108", "20240230"), "businessDate", "not a date"},
      {"month 13", GoodWith("20240108", "20241308"), "businessDate", "not a date"},
      {"date too large for UInt32", GoodWith("20240108", "99999999999"), "businessDate", "out of range"},
      {"region code too short", GoodWith("341502001001", "3415020010"), "regionCode", "12-digit"},
      {"no such province", GoodWith("341502001001", "991502001001"), "regionCode", "province"},
      {"unknown programme", GoodWith("urban_dibao", "dibao"), "applicationSubmitted.programme", "not one of"},
      {"missing case id", GoodWith(R"("caseId":"C99",)", ""), "applicationSubmitted.caseId", "required"},
      {"id with spaces", GoodWith(R"("g99")", R"("g 99")"), "eventId", "not an identifier"},
      {"field given twice", GoodWith(R"("actorId":"cw1")", R"("actorId":"cw1","actorId":"cw2")"), "actorId",
       "given twice"},
      {"binary garbage", garbage, "", "not UTF-8"},
      {"NUL byte", GoodWith("C99", std::string("C\0", 2) + "99"), "applicationSubmitted.caseId", "NUL byte in text"},
      {"10 MB line", R"({"eventId":"big","note":")" + std::string(10 << 20, 'a') + "\"}", "", "longer than"},
      {"bad identity number",
       R"({"eventId":"r1","householdId":"H7","regionCode":"341502001001","actorId":"cw1","businessDate":20240105,"householdRegistered":{"members":[{"person":{"number":"341502195203141237"},"name":"x","relation":"head","birthDate":19520314}]}})",
       "householdRegistered.members[0].person.number", "identity number"},
  };
}

}  // namespace

TEST_CASE("each bad line gets its own error, appends nothing, and the good lines go in") {
  testing::TempDir dir;
  const std::string d = dir.Sub("l");
  REQUIRE(testing::RunLedgerctl({"init", "--dir", d, "--policy", "record"}).exit_code == 0);
  auto cases = BadLines();
  // Line 1 good, then each bad line followed by a good one.
  std::string input = Good(0) + "\n";
  for (size_t i = 0; i < cases.size(); ++i) input += cases[i].line + "\n" + Good(static_cast<int>(i) + 1) + "\n";
  auto run = testing::RunLedgerctl({"append", "--dir", d}, input);
  CHECK(run.exit_code == 1);  // not every line was accepted

  std::vector<std::string> out;
  for (size_t at = 0, nl; (nl = run.out.find('\n', at)) != std::string::npos; at = nl + 1) {
    out.push_back(run.out.substr(at, nl - at));
  }
  REQUIRE(out.size() == 1 + 2 * cases.size());
  CHECK(out[0].find(R"("status":"created")") != std::string::npos);
  for (size_t i = 0; i < cases.size(); ++i) {
    CAPTURE(cases[i].name);
    const std::string& bad = out[1 + 2 * i];
    CAPTURE(bad);
    CHECK(bad.rfind("{\"line\":" + std::to_string(2 + 2 * i) + ",\"status\":\"error\"", 0) == 0);
    if (*cases[i].field) {
      CHECK(bad.find(std::string("\"field\":\"") + cases[i].field + "\"") != std::string::npos);
    } else {
      CHECK(bad.find("\"field\"") == std::string::npos);
    }
    CHECK(bad.find(cases[i].reason) != std::string::npos);
    CHECK(bad.size() < 2000);  // the error does not echo a huge line
    // The good line after it was appended, with the next seq: the bad line took none (seq 1 is
    // the genesis entry, seq 2 the first good line).
    CHECK(out[2 + 2 * i].find("\"status\":\"created\"") != std::string::npos);
    CHECK(out[2 + 2 * i].find("\"seq\":" + std::to_string(i + 3) + ",") != std::string::npos);
  }
  auto verify = testing::RunLedgerctl({"verify", "--dir", d});
  CHECK(verify.exit_code == 0);
  CHECK(verify.out.rfind("ok: " + std::to_string(2 + cases.size()) + " entries", 0) == 0);
}

TEST_CASE("a file of only bad lines leaves the ledger as it was") {
  testing::TempDir dir;
  const std::string d = dir.Sub("l");
  REQUIRE(testing::RunLedgerctl({"init", "--dir", d, "--policy", "record"}).exit_code == 0);
  REQUIRE(testing::RunLedgerctl({"append", "--dir", d}, Good(0) + "\n").exit_code == 0);
  auto before = testing::RunLedgerctl({"verify", "--dir", d});
  std::string input;
  for (const auto& c : BadLines()) input += c.line + "\n";
  auto run = testing::RunLedgerctl({"append", "--dir", d}, input);
  CHECK(run.exit_code == 1);
  CHECK(run.out.find("created") == std::string::npos);
  auto after = testing::RunLedgerctl({"verify", "--dir", d});
  // Same entries and head hash (the timing part of the line differs).
  CHECK(after.out.substr(0, after.out.find(", 0.")) == before.out.substr(0, before.out.find(", 0.")));
  CHECK(after.out.rfind("ok: 2 entries", 0) == 0);  // The genesis and the good line.
}

TEST_CASE("an unreadable input file is a usage error, not an empty append") {
  testing::TempDir dir;
  const std::string d = dir.Sub("l");
  REQUIRE(testing::RunLedgerctl({"init", "--dir", d, "--policy", "record"}).exit_code == 0);
  auto run = testing::RunLedgerctl({"append", "--dir", d, dir.Sub("missing.jsonl")});
  CHECK(run.exit_code == 2);
  CHECK(run.err.find("cannot read") != std::string::npos);
}
