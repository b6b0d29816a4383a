// Typed output (include/benefit_ledger/results.capnp, ledger/json_writer.h): every report's --format json
// is one JSON document, read here by a strict parser of its own (RFC 8259: nothing after the
// document, no duplicate keys, no bare control characters); money is integer fen equal to the
// ledger's own figures, hashes are 64 hex digits equal to the entries', dates YYYY-MM-DD; and
// --format jsonl gives one object a line with its "type", as many rows as the document. Seqs
// are read from the results, never assumed.
#include <capnp/message.h>
#include <doctest/doctest.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>

#include "benefit_ledger/results.h"
#include "ledger/core/entry.h"
#include "ledger/domain/json.h"
#include "ledger/reports/queries.h"
#include "ledger/reports/reconcile.h"
#include "ledger/reports/recoveries.h"
#include "ledger/reports/results.h"
#include "ledger/util/note.h"
#include "testing/history.h"
#include "tests/test_util.h"

namespace {

// ---- A strict JSON parser, independent of the writer -----------------------------------------

struct Json {
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };
  Type type = Type::kNull;
  bool boolean = false;
  std::string text;  // A number as written, or a string decoded.
  std::vector<Json> items;
  std::vector<std::pair<std::string, Json>> members;  // In document order.

  bool is_null() const { return type == Type::kNull; }
  bool Has(const std::string& key) const {
    for (const auto& [k, v] : members) {
      if (k == key) return true;
    }
    return false;
  }
  const Json& operator[](const std::string& key) const {
    for (const auto& [k, v] : members) {
      if (k == key) return v;
    }
    FAIL("no key \"" << key << "\"");
    static const Json kNone;
    return kNone;
  }
  const Json& operator[](size_t i) const { return items.at(i); }
  size_t size() const { return type == Type::kArray ? items.size() : members.size(); }
  // An integer written as one (no fraction, no exponent).
  bool IsInteger() const {
    static const std::regex kInteger("-?(0|[1-9][0-9]*)");
    return type == Type::kNumber && std::regex_match(text, kInteger);
  }
  int64_t Int() const {
    REQUIRE_MESSAGE(IsInteger(), "not an integer: " << text);
    return std::stoll(text);
  }
  const std::string& Str() const {
    REQUIRE(type == Type::kString);
    return text;
  }
};

class Parser {
 public:
  explicit Parser(std::string_view in) : in_(in) {}

  // The one document that is the whole input (white space around it allowed), or an error.
  std::optional<Json> Document(std::string* error) {
    Json v;
    bool ok = Value(&v, 0) && (Space(), at_ == in_.size());
    if (!ok) *error = fmt::format("at byte {}: {}", at_, error_.empty() ? "text after the document" : error_);
    return ok ? std::optional<Json>(std::move(v)) : std::nullopt;
  }

 private:
  bool Fail(const std::string& why) {
    if (error_.empty()) error_ = why;
    return false;
  }
  void Space() {
    while (at_ < in_.size() && (in_[at_] == ' ' || in_[at_] == '\t' || in_[at_] == '\n' || in_[at_] == '\r')) ++at_;
  }
  bool Literal(std::string_view word) {
    if (in_.substr(at_, word.size()) != word) return Fail("bad literal");
    at_ += word.size();
    return true;
  }
  bool Value(Json* v, int depth) {
    if (depth > 64) return Fail("too deep");
    Space();
    if (at_ >= in_.size()) return Fail("unexpected end");
    char c = in_[at_];
    if (c == '{') return Object(v, depth);
    if (c == '[') return Array(v, depth);
    if (c == '"') return v->type = Json::Type::kString, String(&v->text);
    if (c == 't') return v->type = Json::Type::kBool, v->boolean = true, Literal("true");
    if (c == 'f') return v->type = Json::Type::kBool, Literal("false");
    if (c == 'n') return v->type = Json::Type::kNull, Literal("null");
    return Number(v);
  }
  bool Number(Json* v) {
    static const std::regex kNumber("-?(0|[1-9][0-9]*)(\\.[0-9]+)?([eE][+-]?[0-9]+)?");
    size_t end = at_;
    while (end < in_.size() && std::string_view("+-0123456789.eE").find(in_[end]) != std::string_view::npos) ++end;
    std::string text(in_.substr(at_, end - at_));
    if (text.empty() || !std::regex_match(text, kNumber)) return Fail("bad number \"" + text + "\"");
    v->type = Json::Type::kNumber;
    v->text = text;
    at_ = end;
    return true;
  }
  bool Hex4(uint32_t* out) {
    if (at_ + 4 > in_.size()) return Fail("short \\u escape");
    *out = 0;
    for (int i = 0; i < 4; ++i) {
      char c = in_[at_++];
      int d = c >= '0' && c <= '9'   ? c - '0'
              : c >= 'a' && c <= 'f' ? c - 'a' + 10
              : c >= 'A' && c <= 'F' ? c - 'A' + 10
                                     : -1;
      if (d < 0) return Fail("bad \\u escape");
      *out = *out * 16 + d;
    }
    return true;
  }
  static void Utf8(uint32_t cp, std::string* out) {
    if (cp < 0x80) {
      *out += static_cast<char>(cp);
    } else if (cp < 0x800) {
      *out += static_cast<char>(0xc0 | cp >> 6);
      *out += static_cast<char>(0x80 | (cp & 0x3f));
    } else if (cp < 0x10000) {
      *out += static_cast<char>(0xe0 | cp >> 12);
      *out += static_cast<char>(0x80 | (cp >> 6 & 0x3f));
      *out += static_cast<char>(0x80 | (cp & 0x3f));
    } else {
      *out += static_cast<char>(0xf0 | cp >> 18);
      *out += static_cast<char>(0x80 | (cp >> 12 & 0x3f));
      *out += static_cast<char>(0x80 | (cp >> 6 & 0x3f));
      *out += static_cast<char>(0x80 | (cp & 0x3f));
    }
  }
  bool String(std::string* out) {
    ++at_;  // The opening quote.
    for (;;) {
      if (at_ >= in_.size()) return Fail("unterminated string");
      auto c = static_cast<unsigned char>(in_[at_++]);
      if (c == '"') return true;
      if (c < 0x20) return Fail("control character in a string");
      if (c != '\\') {
        *out += static_cast<char>(c);
        continue;
      }
      if (at_ >= in_.size()) return Fail("unterminated escape");
      char e = in_[at_++];
      static const std::string_view kFrom = "\"\\/bfnrt", kTo = "\"\\/\b\f\n\r\t";
      if (auto i = kFrom.find(e); i != std::string_view::npos) {
        *out += kTo[i];
        continue;
      }
      if (e != 'u') return Fail("bad escape");
      uint32_t cp = 0, low = 0;
      if (!Hex4(&cp)) return false;
      if (cp >= 0xdc00 && cp < 0xe000) return Fail("lone low surrogate");
      if (cp >= 0xd800 && cp < 0xdc00) {
        if (in_.substr(at_, 2) != "\\u") return Fail("lone high surrogate");
        at_ += 2;
        if (!Hex4(&low) || low < 0xdc00 || low >= 0xe000) return Fail("bad low surrogate");
        cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
      }
      Utf8(cp, out);
    }
  }
  bool Array(Json* v, int depth) {
    v->type = Json::Type::kArray;
    ++at_;
    Space();
    if (at_ < in_.size() && in_[at_] == ']') return ++at_, true;
    for (;;) {
      v->items.emplace_back();
      if (!Value(&v->items.back(), depth + 1)) return false;
      Space();
      if (at_ < in_.size() && in_[at_] == ',') {
        ++at_;
      } else if (at_ < in_.size() && in_[at_] == ']') {
        return ++at_, true;
      } else {
        return Fail("expected , or ]");
      }
    }
  }
  bool Object(Json* v, int depth) {
    v->type = Json::Type::kObject;
    ++at_;
    Space();
    if (at_ < in_.size() && in_[at_] == '}') return ++at_, true;
    std::set<std::string> keys;
    for (;;) {
      Space();
      std::string key;
      if (at_ >= in_.size() || in_[at_] != '"' || !String(&key)) return Fail("expected a key");
      if (!keys.insert(key).second) return Fail("duplicate key " + key);
      Space();
      if (at_ >= in_.size() || in_[at_++] != ':') return Fail("expected :");
      v->members.emplace_back(key, Json());
      if (!Value(&v->members.back().second, depth + 1)) return false;
      Space();
      if (at_ < in_.size() && in_[at_] == ',') {
        ++at_;
      } else if (at_ < in_.size() && in_[at_] == '}') {
        return ++at_, true;
      } else {
        return Fail("expected , or }");
      }
    }
  }

  std::string_view in_;
  size_t at_ = 0;
  std::string error_;
};

Json ParseDocument(const std::string& text) {
  std::string error;
  auto doc = Parser(text).Document(&error);
  REQUIRE_MESSAGE(doc.has_value(), error << " in: " << text.substr(0, 400));
  return *doc;
}

// ---- The conventions, checked over a whole document ------------------------------------------

bool IsDate(const std::string& s, bool month) {
  static const std::regex kDate("(19|20)[0-9]{2}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])");
  static const std::regex kMonth("(19|20)[0-9]{2}-(0[1-9]|1[0-2])");
  return std::regex_match(s, month ? kMonth : kDate);
}

bool EndsWith(const std::string& s, const std::string& tail) {
  return s.size() >= tail.size() && s.compare(s.size() - tail.size(), tail.size(), tail) == 0;
}

// Every key camelCase; money integer fen; hashes 64 lowercase hex; dates and months as text.
// Counts what it checked, so that a test can see the document had such fields at all.
struct Seen {
  int fen = 0, hashes = 0, dates = 0, months = 0;
};
void CheckConventions(const Json& v, const std::string& path, Seen* seen) {
  static const std::regex kKey("[a-z][A-Za-z]*");
  static const std::regex kHex64("[0-9a-f]{64}");
  static const std::set<std::string> kDates = {"asOf", "dueBy", "date", "reviewDue"};
  static const std::set<std::string> kMonths = {"period", "sincePeriod", "fromPeriod", "toPeriod"};
  for (const auto& item : v.items) CheckConventions(item, path + "[]", seen);
  for (const auto& [key, value] : v.members) {
    std::string at = path + "." + key;
    CAPTURE(at);
    CHECK(std::regex_match(key, kKey));
    if (EndsWith(key, "Fen") && !value.is_null()) {
      CHECK(value.IsInteger());
      CHECK(std::abs(std::stoll(value.text)) <= 100'000'000'000'000);  // kMaxAmountFen: exact in a double.
      ++seen->fen;
    } else if ((EndsWith(key, "Hash") || key == "headsRoot") && !value.is_null()) {
      CHECK(std::regex_match(value.Str(), kHex64));
      ++seen->hashes;
    } else if (kDates.count(key) && !value.is_null()) {
      CHECK(IsDate(value.Str(), false));
      ++seen->dates;
    } else if (kMonths.count(key) && !value.is_null()) {
      CHECK(IsDate(value.Str(), true));
      ++seen->months;
    } else if ((key == "seq" || EndsWith(key, "Seq")) && !value.is_null()) {
      CHECK(value.IsInteger());
    }
    CheckConventions(value, at, seen);
  }
}

// Runs a report with --format json and --format jsonl: the document (checked against the
// conventions), and its JSON Lines, each line an object whose "type" is a string; `rows` counts
// the lines of each type.
struct Output {
  Json doc;
  std::map<std::string, size_t> rows;
  std::vector<Json> lines;
  Seen seen;
  int exit_code = -1;
};
Output Run(std::vector<std::string> args, int exit_code = 0) {
  Output o;
  args.push_back("--format");
  args.push_back("json");
  auto json = testing::RunLedgerctl(args);
  std::string command = fmt::format("{}", fmt::join(args, " "));
  CAPTURE(command);
  REQUIRE_MESSAGE(json.exit_code == exit_code, json.err);
  o.exit_code = json.exit_code;
  o.doc = ParseDocument(json.out);
  REQUIRE(o.doc.type == Json::Type::kObject);
  CHECK(std::count(json.out.begin(), json.out.end(), '\n') == 1);
  CheckConventions(o.doc, "", &o.seen);
  args.back() = "jsonl";
  auto jsonl = testing::RunLedgerctl(args);
  REQUIRE(jsonl.exit_code == exit_code);
  std::istringstream in(jsonl.out);
  for (std::string line; std::getline(in, line);) {
    Json l = ParseDocument(line);
    REQUIRE(l.type == Json::Type::kObject);
    REQUIRE(l.members.size() > 0);
    CHECK(l.members[0].first == "type");
    o.rows[l["type"].Str()] += 1;
    Seen ignored;
    CheckConventions(l, "", &ignored);
    o.lines.push_back(std::move(l));
  }
  CHECK((jsonl.out.empty() || jsonl.out.back() == '\n'));  // Empty only if there are no records.
  return o;
}

std::string Yuan(int64_t fen) {
  return fmt::format("{}.{:02}", fen / 100, fen % 100);
}

std::string EntryHashHex(const ledger::Log& l, uint64_t seq) {
  std::string bytes;
  REQUIRE(l.ReadEntry(seq, &bytes).ok());
  return ledger::Hex(ledger::LeafHash(ledger::AsBytes(bytes)));
}

// Two years of a county under enforce, made once for the tests of this file.
const std::string& County() {
  static testing::TempDir dir;
  static const std::string d =
      testing::LedgerctlLedger(dir.Sub("county"), testing::CountyYear({.seed = 21, .households = 30, .years = 2}));
  return d;
}

}  // namespace

// ---- The writer on its own ---------------------------------------------------------------------

TEST_CASE("the writer: exact integers, escaped text, hex, dates, nulls, enum names") {
  capnp::MallocMessageBuilder m;
  auto v = m.initRoot<ledger::results::VerifyResult>();
  v.setEntries((uint64_t{1} << 53) + 1);  // Not exact as a double: a string.
  v.setHouseholds(uint64_t{1} << 53);     // Exact: a number.
  uint8_t hash[32];
  for (int i = 0; i < 32; ++i) hash[i] = static_cast<uint8_t>(i * 8 + 7);
  v.setHeadHash(capnp::Data::Reader(hash, 32));
  const std::string text = "a\"b\\c\n\t\x01\x7f 王秀英 𠮷 end";
  v.setProblem(text);
  Json doc = ParseDocument(ledger::json::ToJson(v.asReader()));
  CHECK(doc["entries"].Str() == "9007199254740993");
  CHECK(doc["households"].Int() == 9007199254740992);
  CHECK(doc["headHash"].Str() == ledger::Hex(ledger::Bytes(hash, 32)));
  CHECK(doc["problem"].Str() == text);
  CHECK(doc["badSeq"].is_null());  // $optional at its default.
  CHECK(doc["ok"].type == Json::Type::kBool);

  auto c = m.initRoot<ledger::results::CaseState>();
  Json fresh = ParseDocument(ledger::json::ToJson(c.asReader()));
  CHECK(fresh["monthlyAmountFen"].is_null());  // Default -1: none.
  CHECK(fresh["reviewDue"].is_null());         // A date of 0: none.
  CHECK(fresh["status"].Str() == "applied");
  c.setMonthlyAmountFen(0);  // Zero is an amount, not none.
  c.setReviewDue(20240229);
  c.setProgramme(ledger::schema::Programme::TEKUN_CENTRALISED);
  Json set = ParseDocument(ledger::json::ToJson(c.asReader()));
  CHECK(set["monthlyAmountFen"].Int() == 0);
  CHECK(set["reviewDue"].Str() == "2024-02-29");
  CHECK(set["programme"].Str() == "tekun_centralised");

  // Keys in ordinal order, every field present.
  auto row = m.initRoot<ledger::results::RollCase>();
  Json r = ParseDocument(ledger::json::ToJson(row.asReader()));
  std::vector<std::string> keys;
  for (const auto& [k, value] : r.members) keys.push_back(k);
  CHECK(keys == std::vector<std::string>{"household", "region", "caseId", "programme", "sincePeriod", "membersCovered",
                                         "monthlyAmountFen", "suspended", "reviewDue"});
}

TEST_CASE("result enums name what the library names") {
  auto statuses = capnp::Schema::from<ledger::results::CaseStatus>().getEnumerants();
  CHECK(statuses.size() == 9);
  for (uint i = 0; i < statuses.size(); ++i) {
    CHECK(std::string(statuses[i].getProto().getName()) ==
          ledger::state::CaseStatusName(static_cast<ledger::state::CaseStatus>(i)));
  }
  capnp::MallocMessageBuilder m;
  auto total = m.initRoot<ledger::results::CategoryTotal>();
  for (uint i = 0; i < capnp::Schema::from<ledger::results::ReconcileCategory>().getEnumerants().size(); ++i) {
    total.setCategory(static_cast<ledger::results::ReconcileCategory>(i));
    std::string name = ledger::reconcile::CategoryName(static_cast<ledger::reconcile::Category>(i));
    std::replace(name.begin(), name.end(), ' ', '_');
    CHECK(ParseDocument(ledger::json::ToJson(total.asReader()))["category"].Str() == name);
  }
}

TEST_CASE("the parser of this test is strict") {
  std::string error;
  for (const char* bad : {"{\"a\":1}{\"b\":2}", "{\"a\":1,\"a\":2}", "{\"a\":01}", "{\"a\":\"\x01\"}", "[1,]",
                          "{\"a\":\"\\ud800\"}", "{\"amount yuan\":1.5", ""}) {
    CAPTURE(bad);
    CHECK(!Parser(bad).Document(&error).has_value());
  }
  CHECK(Parser("{\"a\":[1,-2.5e3,\"\\u738b\\ud842\\udfb7\",null,true]}").Document(&error).has_value());
}

// ---- Each command --------------------------------------------------------------------------------

TEST_CASE("roll and reviews: cases as fields, fen equal to the ledger's, the table's sum") {
  const std::string& d = County();
  Output roll = Run({"roll", "--dir", d, "--as-of", "20250315", "--region", "341502"});
  CHECK(roll.doc["query"]["asOf"].Str() == "2025-03-15");
  CHECK(roll.doc["query"]["regionPrefix"].Str() == "341502");
  CHECK(roll.doc["query"]["programme"].is_null());
  const Json& cases = roll.doc["cases"];
  REQUIRE(cases.size() > 20);
  CHECK(roll.rows["case"] == cases.size());
  CHECK(roll.rows["query"] == 1);
  CHECK(roll.rows["summary"] == 1);
  CHECK(roll.seen.fen > 20);
  CHECK(roll.seen.dates > 20);

  std::vector<ledger::queries::RollRow> expected;
  {
    auto l = testing::OpenLedger(d);
    REQUIRE(ledger::queries::Roll(l->store(), {"341502", std::nullopt}, 20250315, &expected).ok());
  }
  REQUIRE(expected.size() == cases.size());
  int64_t sum_fen = 0;
  for (size_t i = 0; i < expected.size(); ++i) {
    const Json& c = cases[i];
    CHECK(c["household"].Str() == expected[i].household);
    CHECK(c["caseId"].Str() == expected[i].case_id);
    CHECK(c["programme"].Str() == ledger::ProgrammeName(expected[i].programme));
    CHECK(c["monthlyAmountFen"].Int() == expected[i].monthly_fen);
    CHECK(c["membersCovered"].Int() == expected[i].members);
    CHECK(c["sincePeriod"].Str() ==
          fmt::format("{}-{:02}", expected[i].since_period / 100, expected[i].since_period % 100));
    sum_fen += c["suspended"].boolean ? 0 : c["monthlyAmountFen"].Int();
  }
  CHECK(roll.doc["summary"]["monthlyAmountFen"].Int() == sum_fen);
  CHECK(roll.doc["summary"]["cases"].Int() == static_cast<int64_t>(cases.size()));
  auto table = testing::RunLedgerctl({"roll", "--dir", d, "--as-of", "20250315", "--region", "341502"});
  CHECK(table.out.find(fmt::format("{} cases, {} yuan a month", cases.size(), Yuan(sum_fen))) != std::string::npos);

  Output reviews = Run({"reviews", "--dir", d, "--as-of", "20250201", "--due-by", "20260131"});
  CHECK(reviews.doc["query"]["dueBy"].Str() == "2026-01-31");
  REQUIRE(reviews.doc["cases"].size() > 0);
  for (const auto& c : reviews.doc["cases"].items) CHECK(c["reviewDue"].Str() <= "2026-01-31");
  CHECK(reviews.rows["case"] == reviews.doc["cases"].size());
}

TEST_CASE("totals: every fen figure equals the ledger's, the sum row, CSV in yuan") {
  const std::string& d = County();
  Output totals = Run({"totals", "--dir", d, "--programme", "rural_dibao"});
  CHECK(totals.doc["query"]["programme"].Str() == "rural_dibao");
  CHECK(totals.doc["query"]["fromPeriod"].Str() == "1990-01");
  std::vector<ledger::queries::TotalsRow> expected;
  {
    auto l = testing::OpenLedger(d);
    ledger::queries::Filter filter{"", static_cast<uint16_t>(ledger::schema::Programme::RURAL_DIBAO)};
    REQUIRE(ledger::queries::Totals(l->store(), filter, 199001, 209912, &expected).ok());
  }
  const Json& rows = totals.doc["rows"];
  REQUIRE(rows.size() == expected.size());
  REQUIRE(rows.size() >= 24);
  CHECK(totals.rows["row"] == rows.size());
  int64_t issued = 0, settled = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto& t = expected[i].totals;
    CHECK(rows[i]["period"].Str() == fmt::format("{}-{:02}", expected[i].period / 100, expected[i].period % 100));
    CHECK(rows[i]["allocatedFen"].Int() == t.allocated_fen);
    CHECK(rows[i]["issuedFen"].Int() == t.issued_fen);
    CHECK(rows[i]["settledFen"].Int() == t.settled_fen);
    CHECK(rows[i]["failedFen"].Int() == t.failed_fen);
    CHECK(rows[i]["balanceFen"].Int() == ledger::queries::BalanceFen(t));
    CHECK(rows[i]["personMonths"].Int() == t.person_months);
    issued += t.issued_fen;
    settled += t.settled_fen;
  }
  CHECK(issued > 0);
  CHECK(totals.doc["all"]["issuedFen"].Int() == issued);
  CHECK(totals.doc["all"]["settledFen"].Int() == settled);
  CHECK(totals.doc["all"]["programme"].is_null());
  auto csv = testing::RunLedgerctl({"totals", "--dir", d, "--programme", "rural_dibao", "--format", "csv"});
  const Json& first = rows[0];
  CHECK(csv.out.find(fmt::format("\nrural_dibao,{},{},{},", expected[0].period, Yuan(first["allocatedFen"].Int()),
                                 Yuan(first["issuedFen"].Int()))) != std::string::npos);
}

TEST_CASE("replay: each step's state as fields, full entry hashes, the state on the date") {
  const std::string& d = County();
  Output all = Run({"replay", "--dir", d, "--household", "H0004"});
  const Json& steps = all.doc["steps"];
  REQUIRE(steps.size() > 10);
  CHECK(all.doc["events"].Int() == static_cast<int64_t>(steps.size()));
  CHECK(all.doc["query"]["asOf"].is_null());
  CHECK(all.rows["step"] == steps.size());
  CHECK(all.rows["result"] == 1);
  {
    auto l = testing::OpenLedger(d);
    for (const auto& s : steps.items) CHECK(s["entryHash"].Str() == EntryHashHex(*l, s["seq"].Int()));
  }
  CHECK(all.doc["lastEntryHash"].Str() == steps.items.back()["entryHash"].Str());
  const Json* approval = nullptr;
  for (const auto& s : steps.items) {
    if (s["kind"].Str() == "approval") approval = &s;
  }
  REQUIRE(approval != nullptr);
  const Json& after = (*approval)["after"]["cases"][0];
  CHECK(after["caseId"].Str() == "C-H0004");
  CHECK(after["status"].Str() == "approved");
  CHECK(after["monthlyAmountFen"].IsInteger());
  CHECK(after["membersCovered"].Int() > 0);
  CHECK(IsDate(after["reviewDue"].Str(), false));

  // On a date: only the steps dated up to it, and the state then, with the roll's amount.
  Output march = Run({"replay", "--dir", d, "--household", "H0004", "--as-of", "20250315"});
  CHECK(march.doc["query"]["asOf"].Str() == "2025-03-15");
  CHECK(march.doc["events"].Int() == static_cast<int64_t>(steps.size()));
  REQUIRE(march.doc["steps"].size() < steps.size());
  for (const auto& s : march.doc["steps"].items) CHECK(s["date"].Str() <= "2025-03-15");
  const Json& on_date = march.doc["onDate"];
  CHECK(on_date["period"].Str() == "2025-03");
  CHECK(march.rows["onDate"] == 1);
  Output roll = Run({"roll", "--dir", d, "--as-of", "20250315"});
  bool found = false;
  for (const auto& c : roll.doc["cases"].items) {
    if (c["caseId"].Str() != "C-H0004") continue;
    found = true;
    CHECK(on_date["cases"][0]["monthlyAmountFen"].Int() == c["monthlyAmountFen"].Int());
    CHECK(on_date["cases"][0]["membersCovered"].Int() == c["membersCovered"].Int());
  }
  CHECK(found);
}

TEST_CASE("trace and replay of a history kept under record: steps' actors as fields, findings as objects") {
  testing::TempDir dir;
  const std::string d = testing::LedgerctlLedger(dir.Sub("l"), testing::ReadDataLines("every_kind.jsonl"), "record");
  Output actor = Run({"trace", "--dir", d, "--actor", "fin1"});
  CHECK(actor.doc["query"]["actor"].Str() == "fin1");
  const Json& flags = actor.doc["flags"];
  REQUIRE(flags.size() > 0);
  CHECK(actor.rows["flag"] == flags.size());
  CHECK(actor.rows["chain"] == actor.doc["chains"].size());
  Output household = Run({"trace", "--dir", d, "--household", "H1"});
  Output region = Run({"trace", "--dir", d, "--region", "3415"});
  Output replay = Run({"replay", "--dir", d, "--household", "H1"});
  auto l = testing::OpenLedger(d);  // After the runs: the ledger is open in one process at a time.
  bool bank_order = false;
  for (const auto& f : flags.items) {
    bank_order = bank_order || f["rule"].Str() == "bank.order";
    CHECK(!f["message"].Str().empty());
    REQUIRE(f["eventIds"].size() > 0);
    // The flag's seq is the entry that records it.
    std::string bytes;
    REQUIRE(l->ReadEntry(f["seq"].Int(), &bytes).ok());
    ledger::EntryReader entry;
    REQUIRE(entry.Init(bytes).ok());
    CHECK(std::string(entry.entry().getEvent().getEventId()) == f["eventIds"][0].Str());
    bool recorded = false;
    for (auto finding : entry.entry().getFindings()) recorded = recorded || finding.getRule() == f["rule"].Str();
    CHECK(recorded);
  }
  CHECK(bank_order);

  REQUIRE(household.doc["chains"].size() > 0);
  const Json& chain = household.doc["chains"][0];
  REQUIRE(!chain["approved"].is_null());
  CHECK(chain["approved"]["date"].Str() == "2024-01-26");
  CHECK(chain["approved"]["actors"][0].Str() == "ca1");
  std::string bytes;
  REQUIRE(l->ReadEntry(chain["approved"]["seq"].Int(), &bytes).ok());
  ledger::EntryReader entry;
  REQUIRE(entry.Init(bytes).ok());
  CHECK(entry.entry().getEvent().isApproval());
  CHECK(chain["rejected"].is_null());
  CHECK(chain["paidFen"].IsInteger());
  CHECK(region.doc["query"]["regionPrefix"].Str() == "3415");
  CHECK(region.doc["chains"].size() >= household.doc["chains"].size());
  int with_findings = 0;
  for (const auto& s : replay.doc["steps"].items) {
    for (const auto& f : s["findings"].items) {
      ++with_findings;
      CHECK(f["seq"].Int() == s["seq"].Int());
      CHECK(f["eventIds"][0].Str() == s["eventId"].Str());
    }
  }
  CHECK(with_findings > 0);
}

TEST_CASE("payroll issue, reconcile and verify: outcomes in the document, fen equal across them") {
  testing::TempDir dir;
  const std::string d =
      testing::LedgerctlLedger(dir.Sub("l"), testing::CountyYear({.seed = 21, .households = 30, .years = 2}));
  std::vector<std::string> issue = {"payroll", "issue",       "--dir",       d,          "--county",
                                    "341502",  "--programme", "rural_dibao", "--period", "2026-02",
                                    "--actor", "fin1",        "--date",      "20260205"};
  auto dry = issue;
  dry.insert(dry.end(), {"--dry-run", "yes"});
  Output plan = Run(dry);
  CHECK(plan.doc["outcome"].Str() == "dry_run");
  CHECK(plan.doc["firstSeq"].is_null());
  CHECK(plan.doc["query"]["period"].Str() == "2026-02");
  CHECK(plan.doc["query"]["date"].Str() == "2026-02-05");

  // Issued with --format json: the one document says so, with its entries.
  auto issued_run = testing::RunLedgerctl([&] {
    auto a = issue;
    a.insert(a.end(), {"--format", "json"});
    return a;
  }());
  REQUIRE_MESSAGE(issued_run.exit_code == 0, issued_run.err);
  Json issued = ParseDocument(issued_run.out);
  Seen seen;
  CheckConventions(issued, "", &seen);
  CHECK(issued["outcome"].Str() == "issued");
  const Json& lines = issued["lines"];
  REQUIRE(lines.size() > 10);
  CHECK(lines.size() == plan.doc["lines"].size());
  int64_t sum_fen = 0;
  for (const auto& line : lines.items) sum_fen += line["amountFen"].Int();
  CHECK(issued["controlSumFen"].Int() == sum_fen);
  // The roll and one entry per payment, in one group.
  CHECK(issued["lastSeq"].Int() - issued["firstSeq"].Int() + 1 == static_cast<int64_t>(lines.size()) + 1);
  Output again = Run(issue);
  CHECK(again.doc["outcome"].Str() == "issued_before");

  // The bank's results: every line settled, but one failed, one short by a fen, one unknown id.
  std::string bank = "end_to_end_id,amount,status,reason,bank_reference,date\n";
  for (size_t i = 0; i < lines.size(); ++i) {
    int64_t fen = lines[i]["amountFen"].Int() - (i == 1 ? 1 : 0);
    bank += fmt::format("{},{},{},{},B{},20260210\n", lines[i]["endToEndId"].Str(), Yuan(fen),
                        i == 0 ? "failed" : "settled", i == 0 ? "closed account" : "", i);
  }
  bank += "NO-SUCH-PAYMENT,12.34,settled,,BX,20260210\n";
  std::string file = dir.Sub("bank.csv");
  std::ofstream(file) << bank;
  Output rec = Run({"reconcile", "--dir", d, "--bank-file", file}, 1);
  CHECK(rec.doc["clean"].type == Json::Type::kBool);
  CHECK(!rec.doc["clean"].boolean);
  CHECK(rec.doc["applied"].is_null());
  const Json& rl = rec.doc["lines"];
  REQUIRE(rl.size() == lines.size() + 1);
  CHECK(rec.rows["line"] == rl.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    CAPTURE(i);
    CHECK(rl[i]["endToEndId"].Str() == lines[i]["endToEndId"].Str());
    CHECK(rl[i]["ledger"]["amountFen"].Int() == lines[i]["amountFen"].Int());
    CHECK(rl[i]["ledger"]["household"].Str() == lines[i]["household"].Str());
    CHECK(rl[i]["bank"]["line"].Int() == static_cast<int64_t>(i) + 2);
    CHECK(rl[i]["bank"]["date"].Str() == "2026-02-10");
    CHECK(rl[i]["category"].Str() == (i == 0 ? "failed" : i == 1 ? "amount_mismatch" : "matched"));
  }
  CHECK(rl[lines.size()]["category"].Str() == "unknown");
  CHECK(rl[lines.size()]["ledger"].is_null());
  CHECK(rl[lines.size()]["bank"]["amountFen"].Int() == 1234);
  std::map<std::string, std::pair<int64_t, int64_t>> categories;
  for (const auto& c : rec.doc["categories"].items)
    categories[c["category"].Str()] = {c["lines"].Int(), c["amountFen"].Int()};
  int64_t matched_fen = sum_fen - lines[0]["amountFen"].Int() - lines[1]["amountFen"].Int();
  CHECK(categories["matched"] == std::pair<int64_t, int64_t>(lines.size() - 2, matched_fen));
  CHECK(categories["amount_mismatch"] == std::pair<int64_t, int64_t>(1, lines[1]["amountFen"].Int() - 1));
  CHECK(categories["unknown"] == std::pair<int64_t, int64_t>(1, 1234));
  REQUIRE(rec.doc["programmes"].size() == 1);
  CHECK(rec.doc["programmes"][0]["issuedFen"].Int() == sum_fen);
  CHECK(rec.doc["programmes"][0]["settledFen"].Int() == matched_fen);

  // --apply in JSON: recorded first, counted in the document; a second run records nothing new.
  Output applied = Run({"reconcile", "--dir", d, "--bank-file", file, "--apply", "yes", "--actor", "fin1"}, 1);
  // Run made two runs (json, then jsonl): the first recorded, the second found them recorded.
  CHECK(applied.doc["applied"]["recorded"].Int() == static_cast<int64_t>(lines.size()) - 1);
  CHECK(applied.doc["applied"]["alreadyRecorded"].Int() == 0);
  CHECK(applied.rows["applied"] == 1);
  for (const auto& l : applied.lines) {
    if (l["type"].Str() == "applied") CHECK(l["alreadyRecorded"].Int() == static_cast<int64_t>(lines.size()) - 1);
  }

  Output verify = Run({"verify", "--dir", d});
  CHECK(verify.doc["ok"].boolean);
  CHECK(verify.doc["badSeq"].is_null());
  auto l = testing::OpenLedger(d);
  CHECK(verify.doc["entries"].Int() == static_cast<int64_t>(l->head().seq));
  CHECK(verify.doc["headHash"].Str() == ledger::Hex(l->head().hash));
  CHECK(verify.doc["headHash"].Str() == EntryHashHex(*l, l->head().seq));
  CHECK(verify.rows["result"] == 1);
}

TEST_CASE("checkpoint --list: roots in hex, equal to the signed note's") {
  testing::TempDir dir;
  const std::string d = testing::LedgerctlLedger(dir.Sub("l"), testing::CountyYear({.seed = 2, .households = 8}));
  Output none = Run({"checkpoint", "--dir", d, "--list", "yes"});
  CHECK(none.doc["checkpoints"].size() == 0);
  auto made = testing::RunLedgerctl({"checkpoint", "--dir", d});
  REQUIRE(made.exit_code == 0);
  Output list = Run({"checkpoint", "--dir", d, "--list", "yes"});
  REQUIRE(list.doc["checkpoints"].size() == 1);
  const Json& cp = list.doc["checkpoints"][0];
  std::istringstream note(made.out);
  std::string origin, size, root_base64, root;
  std::getline(note, origin);
  std::getline(note, size);
  std::getline(note, root_base64);
  REQUIRE(ledger::note::ParseBase64(root_base64, &root));
  CHECK(cp["size"].Int() == std::stoll(size));
  CHECK(cp["rootHash"].Str() == ledger::Hex(ledger::AsBytes(root)));
  CHECK(list.rows["checkpoint"] == 1);
  CHECK(testing::RunLedgerctl({"checkpoint", "--dir", d, "--format", "json"}).exit_code == 2);  // Needs --list.

  // verify-proof: the answer as one object, valid or not.
  auto proof = testing::RunLedgerctl({"prove", "inclusion", "--dir", d, "--seq", "3"});
  REQUIRE(proof.exit_code == 0);
  std::ofstream(dir.Sub("p.json")) << proof.out;
  std::ofstream(dir.Sub("cp.note")) << made.out;
  Output valid =
      Run({"verify-proof", dir.Sub("p.json"), "--checkpoint", dir.Sub("cp.note"), "--key", d + "/checkpoint.pub"});
  CHECK(valid.doc["valid"].boolean);
  CHECK(valid.doc["problem"].Str().empty());
  CHECK(valid.doc["summary"].Str().find("seq 3") != std::string::npos);
  CHECK(valid.doc["checkpointSize"].Int() == std::stoll(size));
  CHECK(valid.doc["checkpointOrigin"].Str() == origin);
  auto other = testing::RunLedgerctl({"keygen", "--name", "other", "--out", dir.Sub("other")});
  REQUIRE(other.exit_code == 0);
  Output invalid =
      Run({"verify-proof", dir.Sub("p.json"), "--checkpoint", dir.Sub("cp.note"), "--key", dir.Sub("other.pub")}, 1);
  CHECK(!invalid.doc["valid"].boolean);
  CHECK(invalid.doc["problem"].Str().find("does not verify") != std::string::npos);
  CHECK(invalid.doc["checkpointSize"].is_null());
}

TEST_CASE("rules: every rule as an object") {
  Output rules = Run({"rules"});
  REQUIRE(rules.doc["rules"].size() == ledger::rules::Catalogue().size());
  CHECK(rules.rows["rule"] == ledger::rules::Catalogue().size());
  for (size_t i = 0; i < ledger::rules::Catalogue().size(); ++i) {
    CHECK(rules.doc["rules"][i]["id"].Str() == ledger::rules::Catalogue()[i].id);
    CHECK(rules.doc["rules"][i]["description"].Str() == ledger::rules::Catalogue()[i].description);
  }
  CHECK(testing::RunLedgerctl({"rules"}).out.rfind("actor.registered", 0) == 0);
}

TEST_CASE("recoveries: a death learned late, each case's fen equal to the ledger's, the summary their sum") {
  testing::TempDir tmp;
  testing::CountyYearOptions options;
  options.households = 8;
  const std::string d = testing::LedgerctlLedger(tmp.Sub("l"), testing::CountyYear(options));
  // H0000's death, recorded in January with November its last month: December and January were paid.
  auto death = testing::RunLedgerctl(
      {"append", "--dir", d},
      R"({"eventId":"H0000-death","householdId":"H0000","regionCode":"341502000000","actorId":"ca1",)"
      R"("businessDate":20250120,"exit":{"caseId":"C-H0000","reason":"death","lastPeriod":202411}})"
      "\n");
  REQUIRE_MESSAGE(death.exit_code == 0, death.out);

  Output r = Run({"recoveries", "--dir", d, "--region", "341502"});
  CHECK(r.doc["query"]["regionPrefix"].Str() == "341502");
  CHECK(r.doc["query"]["household"].Str().empty());
  std::vector<ledger::recoveries::Row> expected;
  {
    auto l = testing::OpenLedger(d);
    REQUIRE(ledger::recoveries::ForRegion(l->store(), {"341502", std::nullopt}, &expected).ok());
  }
  const Json& cases = r.doc["cases"];
  REQUIRE(expected.size() == 1);
  REQUIRE(cases.size() == 1);
  CHECK(r.rows["case"] == 1);
  const Json& c = cases[0];
  CHECK(c["household"].Str() == "H0000");
  CHECK(c["caseId"].Str() == expected[0].case_id);
  CHECK(c["paidUntilPeriod"].Str() == "2024-11");
  REQUIRE(c["paymentIds"].size() == 2);
  CHECK(c["paymentIds"][0].Str() == expected[0].payments[0]);
  CHECK(c["periods"][1].Str() == fmt::format("{}-{:02}", expected[0].periods[1] / 100, expected[0].periods[1] % 100));
  CHECK(c["dueFen"].Int() == expected[0].due_fen);
  CHECK(c["dueFen"].Int() > 0);
  CHECK(c["outstandingFen"].Int() == expected[0].outstanding_fen);
  CHECK(r.doc["summary"]["dueFen"].Int() == expected[0].due_fen);
  CHECK(r.doc["summary"]["cases"].Int() == 1);
  auto table = testing::RunLedgerctl({"recoveries", "--dir", d});
  CHECK(table.out.find(fmt::format("1 case paid after their exit: {} yuan due", Yuan(expected[0].due_fen))) !=
        std::string::npos);
  Output one = Run({"recoveries", "--dir", d, "--household", "H0000"});
  CHECK(one.doc["query"]["household"].Str() == "H0000");
  CHECK(one.doc["cases"].size() == 1);
}

TEST_CASE("--format is checked by every report") {
  const std::string& d = County();
  for (std::vector<std::string> args :
       std::vector<std::vector<std::string>>{{"roll", "--dir", d},
                                             {"totals", "--dir", d},
                                             {"reviews", "--dir", d},
                                             {"replay", "--dir", d, "--household", "H0004"},
                                             {"trace", "--dir", d, "--household", "H0004"},
                                             {"verify", "--dir", d},
                                             {"rules"},
                                             {"recoveries", "--dir", d},
                                             {"reconcile", "--dir", d, "--bank-file", "/nonexistent"}}) {
    args.insert(args.end(), {"--format", "xml"});
    auto r = testing::RunLedgerctl(args);
    CAPTURE(args[0]);
    CHECK(r.exit_code == 2);
    CHECK(r.err.find("jsonl") != std::string::npos);
  }
}
