// JSON ingest (ledger/json.h ParseEventJson, `ledgerctl append`): every string escape decodes to
// the exact character, so that a history written by Python's json.dumps (which escapes every
// non-ASCII character) is stored, shown, replayed and sent to the bank as the same UTF-8 as the
// raw form, and is the same event (`exists` on resend); what is not text (lone or reversed
// surrogates, invalid UTF-8, NUL) is refused with the field and the byte; malformed JSON says
// where and what was expected; random damage never crashes the parser.
#include <capnp/compat/json.h>
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <fstream>
#include <functional>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "ledger/core/entry.h"
#include "ledger/util/formats.h"
#include "ledger/domain/json.h"
#include "testing/history.h"
#include "tests/test_util.h"

namespace {

// The code points of valid UTF-8 `text`.
std::vector<char32_t> CodePoints(std::string_view text) {
  std::vector<char32_t> out;
  for (size_t i = 0; i < text.size();) {
    auto c = static_cast<unsigned char>(text[i]);
    size_t len = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
    char32_t cp = len == 1 ? c : len == 2 ? c & 0x1f : len == 3 ? c & 0x0f : c & 0x07;
    for (size_t k = 1; k < len; ++k) cp = cp << 6 | (static_cast<unsigned char>(text[i + k]) & 0x3f);
    out.push_back(cp);
    i += len;
  }
  return out;
}

// A JSON line as Python's json.dumps writes it (ensure_ascii): every non-ASCII code point as
// \uXXXX, those above U+FFFF as a surrogate pair. `upper`: hex digits in upper case (Java, Go
// write either). The line's non-ASCII characters can only be inside strings, so this is safe.
std::string EscapeNonAscii(std::string_view line, bool upper = false) {
  REQUIRE(ledger::IsValidUtf8(line, nullptr));
  std::string out;
  auto u = [&](unsigned unit) { out += fmt::format(fmt::runtime(upper ? "\\u{:04X}" : "\\u{:04x}"), unit); };
  for (char32_t cp : CodePoints(line)) {
    if (cp < 0x80) {
      out += static_cast<char>(cp);
    } else if (cp < 0x10000) {
      u(cp);
    } else {
      u(0xd800 + ((cp - 0x10000) >> 10));
      u(0xdc00 + ((cp - 0x10000) & 0x3ff));
    }
  }
  return out;
}

// Names of real people, with characters of CJK Extension B (𠮷 U+20BB7, 𪚥 U+2A6A5), outside the
// Basic Multilingual Plane: in UTF-16 (and so in \u escapes) they take a surrogate pair.
const std::vector<std::string> kNames = {"王秀英", "𠮷野家", "张𪚥", "李小𠮷", "陈静", "𪚥𠮷"};

// The line with every "name" and "payeeName" value replaced by one of kNames, the same for the
// same value (so that a payee's name on every payment matches the name given at application).
std::string WithChineseNames(std::string line) {
  for (const std::string key : {"\"name\":\"", "\"payeeName\":\""}) {
    for (size_t at = 0; (at = line.find(key, at)) != std::string::npos;) {
      at += key.size();
      size_t end = line.find('"', at);
      std::string name = kNames[std::hash<std::string>{}(line.substr(at, end - at)) % kNames.size()];
      line.replace(at, end - at, name);
      at += name.size();
    }
  }
  return line;
}

const std::string kApplication =
    R"({"eventId":"a1","householdId":"H1","regionCode":"341502001001","actorId":"cw1","businessDate":20240108,)"
    R"("applicationSubmitted":{"caseId":"C1","programme":"urban_dibao","declaredMonthlyIncomeFen":20000,"payeeName":"NAME"}})";

// The application with `json` (the inside of a string literal, as written) as its payee name.
std::string ApplicationWithPayee(const std::string& json) {
  std::string line = kApplication;
  return line.replace(line.find("NAME"), 4, json);
}

struct Parsed {
  ledger::Status status;
  std::string event_id;
  std::unique_ptr<capnp::MallocMessageBuilder> message = std::make_unique<capnp::MallocMessageBuilder>();
  ledger::schema::Event::Reader event() { return message->getRoot<ledger::schema::Event>().asReader(); }
};

Parsed Parse(std::string_view line) {
  Parsed p;
  p.status = ledger::ParseEventJson(line, p.message.get(), &p.event_id);
  return p;
}

// The payee name `json` decodes to (the test fails if it does not parse).
std::string PayeeOf(const std::string& json) {
  Parsed p = Parse(ApplicationWithPayee(json));
  REQUIRE_MESSAGE(p.status.ok(), json << ": " << p.status.ToString());
  return p.event().getApplicationSubmitted().getPayeeName().cStr();
}

// The lines of a `ledgerctl append` output.
std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> out;
  for (size_t at = 0, nl; (nl = text.find('\n', at)) != std::string::npos; at = nl + 1) {
    out.push_back(text.substr(at, nl - at));
  }
  return out;
}

constexpr auto Member = testing::JsonMember;  // testing/events.h

}  // namespace

TEST_CASE("every JSON string escape decodes to the right bytes") {
  CHECK(PayeeOf(R"(\"\\\/\b\f\n\r\t)") == "\"\\/\b\f\n\r\t");
  CHECK(PayeeOf(R"(\u738b\u79c0\u82f1)") == "王秀英");  // lower-case hex (Python)
  CHECK(PayeeOf(R"(\u738B\u79C0\u82F1)") == "王秀英");  // upper-case hex
  CHECK(PayeeOf(R"(\u738B\u79c0\u82F1)") == "王秀英");  // mixed
  CHECK(PayeeOf(R"(\u0041\u00e9\u00E9\u07ff\u0800\uffff)") == "Aéé\u07ff\u0800\uffff");
  CHECK(PayeeOf(R"(\ud842\udfb7)") == "𠮷");  // U+20BB7: one code point, 4 bytes of UTF-8
  CHECK(PayeeOf(R"(\uD842\uDFB7)") == "𠮷");
  CHECK(PayeeOf(R"(\ud869\udea5)") == "𪚥");                                // U+2A6A5
  CHECK(PayeeOf(R"(\ud800\udc00\udbff\udfff)") == "\U00010000\U0010FFFF");  // the ends of the range
  CHECK(PayeeOf(R"(王\u79c0英 \ud842\udfb7)") == "王秀英 𠮷");              // raw and escaped together
  CHECK(PayeeOf("") == "");
  // Member names may be escaped too.
  Parsed p = Parse(R"({"\u0065ventId":"a2","regionCode":"341502001001","actorId":"cw1","businessDate":20240108,)"
                   R"("rejection":{"caseId":"C1","reason":"\u4e0d\u7b26\u5408"}})");
  REQUIRE_MESSAGE(p.status.ok(), p.status.ToString());
  CHECK(std::string(p.event().getEventId().cStr()) == "a2");
  CHECK(std::string(p.event().getRejection().getReason().cStr()) == "不符合");
}

TEST_CASE("an event's canonical bytes do not depend on how its JSON was spelled") {
  auto lines = testing::ReadDataLines("every_kind.jsonl");
  REQUIRE(lines.size() > 20);
  size_t with_non_ascii = 0;
  for (const auto& raw : lines) {
    CAPTURE(raw);
    std::string escaped = EscapeNonAscii(raw), upper = EscapeNonAscii(raw, true);
    with_non_ascii += escaped != raw;
    Parsed a = Parse(raw), b = Parse(escaped), c = Parse(upper);
    REQUIRE_MESSAGE(a.status.ok(), a.status.ToString());
    REQUIRE_MESSAGE(b.status.ok(), b.status.ToString());
    REQUIRE_MESSAGE(c.status.ok(), c.status.ToString());
    CHECK(ledger::CanonicalEvent(a.event()) == ledger::CanonicalEvent(b.event()));
    CHECK(ledger::CanonicalEvent(a.event()) == ledger::CanonicalEvent(c.event()));
    // And what the ledger writes back out parses to the same event again.
    Parsed d = Parse(ledger::EventToJson(a.event()));
    REQUIRE_MESSAGE(d.status.ok(), d.status.ToString());
    CHECK(ledger::CanonicalEvent(a.event()) == ledger::CanonicalEvent(d.event()));
  }
  CHECK(with_non_ascii > 5);  // The sample has Chinese names, addresses and notes.
}

TEST_CASE("without escapes, events are the ones Cap'n Proto's own JSON codec decodes, byte for byte") {
  // ParseEventJson writes values straight into the struct sections (offsets, unions, defaults
  // from the schema): the codec, right where no \u escape is involved, is the reference.
  capnp::JsonCodec codec;
  codec.handleByAnnotation<ledger::schema::Event>();
  auto lines = testing::ReadDataLines("every_kind.jsonl");
  for (const auto& l : testing::CountyYear({.seed = 3, .households = 8, .years = 1})) lines.push_back(l);
  lines.push_back(
      R"({"eventId":"v1","householdId":"H1","regionCode":"341502001001","actorId":"cw1","businessDate":20240108,)"
      R"("expectedVersion":{"exactly":"12345678901234567"},"approval":{"caseId":"C1","programme":"tekun_dispersed",)"
      R"("monthlyAmountFen":-5,"membersCovered":4294967295,"firstPeriod":0,"reviewDueDate":1},"actorSignature":"00ff7A"})");
  for (const auto& line : lines) {
    CAPTURE(line);
    capnp::MallocMessageBuilder reference;
    codec.decode(kj::arrayPtr(line.data(), line.size()), reference.initRoot<ledger::schema::Event>());
    Parsed p = Parse(line);
    REQUIRE_MESSAGE(p.status.ok(), p.status.ToString());
    CHECK(ledger::CanonicalEvent(p.event()) ==
          ledger::CanonicalEvent(reference.getRoot<ledger::schema::Event>().asReader()));
  }
}

TEST_CASE("what is not text is refused with the field and the byte it is at") {
  struct Case {
    const char* name;
    std::string payee;   // as written inside the string literal
    const char* reason;  // a part of the expected reason
  };
  const Case cases[] = {
      {"lone high surrogate", R"(ab\ud800)", "lone surrogate"},
      {"lone high surrogate before a letter", R"(ab\ud800x)", "lone surrogate"},
      {"two high surrogates", R"(ab\ud800\ud800)", "lone surrogate"},
      {"lone low surrogate", R"(ab\udc00)", "lone low surrogate"},
      {"reversed pair", R"(ab\udfb7\ud842)", "lone low surrogate"},
      {"high surrogate then a BMP escape", R"(ab\ud842\u0041)", "lone surrogate"},
      {"\\u0000", R"(ab\u0000)", "NUL"},
      {"raw NUL", std::string("ab\0", 3), "NUL byte"},
      {"overlong '/' (C0 AF)", "ab\xC0\xAF", "not UTF-8"},
      {"overlong 3-byte form (E0 80 AF)", "ab\xE0\x80\xAF", "not UTF-8"},
      {"surrogate encoded in UTF-8 (ED A0 80)", "ab\xED\xA0\x80", "not UTF-8"},
      {"above U+10FFFF (F4 90 80 80)", "ab\xF4\x90\x80\x80", "not UTF-8"},
      {"byte F5", "ab\xF5\x80\x80\x80", "not UTF-8"},
      {"byte FF", "ab\xFF", "not UTF-8"},
      {"cut-off sequence", "ab\xE7\x8E", "not UTF-8"},
      {"continuation byte alone", "ab\x80", "not UTF-8"},
      {"raw tab", "ab\t", "control character"},
      {"bad escape", R"(ab\x)", "invalid escape"},
      {"short \\u", R"(ab\u12)", "4 hex digits"},
      {"non-hex \\u", R"(ab\u12g4)", "4 hex digits"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.name);
    std::string line = ApplicationWithPayee(c.payee);
    Parsed p = Parse(line);
    CHECK(p.status.code() == ledger::Status::Code::kInvalidArgument);
    CHECK(p.status.field() == "applicationSubmitted.payeeName");
    CHECK_MESSAGE(p.status.reason().find(c.reason) != std::string::npos, p.status.reason());
    // The byte named is the first byte after "ab" (counting from 1): the escape or the bad byte.
    size_t at = line.find("\"payeeName\":\"ab") + std::string("\"payeeName\":\"ab").size() + 1;
    CHECK_MESSAGE(p.status.reason().find(fmt::format("byte {}", at)) != std::string::npos, p.status.reason());
    CHECK(p.event_id == "a1");  // The id is known, also for a refused line.
  }
  // In a member name, in a list, in a nested struct: the path of where it is.
  const std::string in_list =
      R"({"eventId":"r1","regionCode":"341502001001","actorId":"cw1","businessDate":20240108,"recoveryOrdered":{"recoveryId":"X","paymentIds":["P1","P\ud800"]}})";
  Parsed list = Parse(in_list);
  CHECK(list.status.field() == "recoveryOrdered.paymentIds[1]");
  CHECK(list.status.reason().find(fmt::format("lone surrogate (byte {})", in_list.find("\\ud800") + 1)) !=
        std::string::npos);
}

TEST_CASE("ledgerctl append refuses what is not text with the field, and a bad byte outside strings with its offset") {
  testing::TempDir dir;
  const std::string d = dir.Sub("l");
  REQUIRE(testing::RunLedgerctl({"init", "--dir", d, "--policy", "record"}).exit_code == 0);
  std::string input = ApplicationWithPayee(R"(\ud800)") + "\n" + ApplicationWithPayee("x\xC0\xAF") + "\n" +
                      ApplicationWithPayee(std::string("x\0", 2)) + "\n" + "{\"eventId\":\"a1\",\xff}\n" +
                      std::string("{\"eventId\":\"a1\"\0}\n", 18);
  // The payee name's first byte, counted from 1 (the escape of line 1; line 2's and 3's 'x').
  const size_t name_at = ApplicationWithPayee("").find("\"payeeName\":\"") + 13 + 1;
  auto run = testing::RunLedgerctl({"append", "--dir", d}, input);
  CHECK(run.exit_code == 1);
  auto out = Lines(run.out);
  REQUIRE(out.size() == 5);
  const std::string field = R"("field":"applicationSubmitted.payeeName")";
  CHECK(out[0].find(field) != std::string::npos);
  CHECK(out[0].find(R"("eventId":"a1")") != std::string::npos);
  CHECK(out[0].find(fmt::format("lone surrogate (byte {})", name_at)) != std::string::npos);
  CHECK(out[1].find(field) != std::string::npos);
  CHECK(out[1].find(fmt::format("not UTF-8 text (bad byte 0xC0 at byte {})", name_at + 1)) != std::string::npos);
  CHECK(out[2].find(field) != std::string::npos);
  CHECK(out[2].find(fmt::format("NUL byte in text (byte {})", name_at + 1)) != std::string::npos);
  CHECK(out[3].find("\"field\"") == std::string::npos);
  CHECK(out[3].find("not UTF-8 text (bad byte 0xFF at byte 17)") != std::string::npos);
  CHECK(out[4].find("not UTF-8 text (NUL byte at byte 16)") != std::string::npos);
}

TEST_CASE("malformed JSON says at which byte and what was expected") {
  struct Case {
    std::string line;
    std::string reason;
  };
  const Case cases[] = {
      {R"({"eventId":"m1" "actorId":"cw1"})", "malformed JSON at byte 17: expected ',' or '}' after an object member"},
      {R"({"eventId":"m1", "householdId":)", "malformed JSON at byte 32: expected a value, got the end of the line"},
      {R"({"eventId" "m1"})", "malformed JSON at byte 12: expected ':' after a member name"},
      {R"({"eventId":"m1",})", "malformed JSON at byte 17: expected a member name in double quotes"},
      {R"({eventId:"m1"})", "malformed JSON at byte 2: expected a member name in double quotes"},
      {R"({"paymentIds":["a" "b"]})", "malformed JSON at byte 20: expected ',' or ']' after an array item"},
      {R"({"eventId":"m1"} x)", "malformed JSON at byte 18: unexpected text after the JSON object"},
      {R"({"eventId":"m1)", "malformed JSON at byte 12: unterminated string"},
      {R"({"businessDate":2024.})", "malformed JSON at byte 22: expected a digit"},
      {R"({"businessDate":02024})", "malformed JSON at byte 17: a number may not start with 0"},
      {R"({"businessDate":tru})", "malformed JSON at byte 17: expected a value"},
      {"", "malformed JSON at byte 1: expected a value, got the end of the line"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.line);
    Parsed p = Parse(c.line);
    CHECK(p.status.code() == ledger::Status::Code::kInvalidArgument);
    CHECK_MESSAGE(p.status.reason().find(c.reason) != std::string::npos, p.status.ToString());
  }
  // Too deep: named at the bracket that goes one level too far.
  std::string deep = R"({"eventId":"d1","x":)" + std::string(30, '[') + std::string(30, ']') + "}";
  Parsed p = Parse(deep);
  CHECK_MESSAGE(p.status.reason().find(fmt::format("at byte {}: nested deeper than {} levels", 21 + 23,
                                                   ledger::kMaxJsonDepth)) != std::string::npos,
                p.status.ToString());
  CHECK(p.event_id == "d1");
  // Integers beyond what a JSON number can carry are out of range, as before.
  Parsed big = Parse(R"({"eventId":"b1","businessDate":123456789012345678901234567890})");
  CHECK(big.status.field() == "businessDate");
  CHECK(big.status.reason().find("out of range") != std::string::npos);
}

TEST_CASE("the errors of the schema keep their field paths and reasons") {
  struct Case {
    std::string line;
    std::string error;  // Status::ToString()
  };
  const std::string head = R"({"eventId":"s1","regionCode":"341502001001","actorId":"cw1","businessDate":20240108,)";
  const Case cases[] = {
      {head + R"("approval":{"caseId":"C1","monthlyAmountFen":"lots"}})",
       R"(approval.monthlyAmountFen: "lots" is not an integer)"},
      {head + R"("approval":{"caseId":"C1","monthlyAmountFen":true}})",
       "approval.monthlyAmountFen: expected an integer, got a boolean"},
      {head + R"("approval":{"caseId":"C1","monthlyAmountFen":12.5}})",
       "approval.monthlyAmountFen: 12.5 is not an integer"},
      {head + R"("approval":{"caseId":"C1","monthlyAmountFen":9007199254740992}})",
       "approval.monthlyAmountFen: 9007199254740992 is out of range (write 64-bit integers above 2^53 as strings)"},
      {head + R"("approval":{"caseId":"C1","membersCovered":-1}})", "approval.membersCovered: -1 is out of range"},
      {head + R"("approval":{"caseId":"C1","membersCovered":4294967296}})",
       "approval.membersCovered: 4294967296 is out of range"},
      {head + R"("approval":{"caseId":"C1","programme":"dibao"}})",
       "approval.programme: \"dibao\" is not one of: unspecified, urban_dibao, rural_dibao, tekun_centralised, "
       "tekun_dispersed, temporary, orphan_institutional, orphan_dispersed, unsupported_child, disability_living, "
       "disability_care, elderly_allowance, elderly_service"},
      {head + R"("approval":{"caseId":"C1","programme":"urbanDibao"}})",
       "approval.programme: \"urbanDibao\" is not one of"},
      {head + R"("approval":{"caseId":7}})", "approval.caseId: expected a string, got a number"},
      {head + R"("approval":[]})", "approval: expected an object, got an array"},
      {head + R"("approval":{"caseId":"C1","caseId":"C2"}})", "approval.caseId: given twice"},
      {head + R"("approval":{"case":"C1"}})", "approval.case: unknown field"},
      {head + R"("approvals":{}})", "approvals: unknown field or event kind"},
      {head + R"("approval":{},"rejection":{}})",
       R"(rejection: cannot be given together with "approval" (one of them only))"},
      {R"({"eventId":"s1"})",
       "no event kind given (one of: householdRegistered, membersChanged, applicationSubmitted, "},
      {head + R"("correction":{"targetEventId":"x"}})", "correction: give one of: annul, amend"},
      {head + R"("correction":{"targetEventId":"x","annul":1}})", "correction.annul: expected null, got a number"},
      {head + R"("correction":{"targetEventId":"x","amend":{"eventId":"y"}}})",
       "correction.amend: give one of: householdRegistered"},
      {head + R"("expectedVersion":{"any":null,"exactly":3},"rejection":{}})",
       R"(expectedVersion.exactly: cannot be given together with "any" (one of them only))"},
      {head + R"("expectedVersion":{"exactly":"x3"},"rejection":{}})",
       R"(expectedVersion.exactly: "x3" is not an integer)"},
      {head + R"("expectedVersion":{"exactly":"-3"},"rejection":{}})",
       R"(expectedVersion.exactly: "-3" is not an integer)"},
      {head + R"("approval":{"monthlyAmountFen":"99999999999999999999"}})",
       R"(approval.monthlyAmountFen: "99999999999999999999" is not an integer)"},
      {head + R"("approval":{"monthlyAmountFen":"9999999999999999999"}})",
       R"(approval.monthlyAmountFen: "9999999999999999999" is out of range)"},
      {head + R"("recoveryOrdered":{"paymentIds":["P1",2]}})",
       "recoveryOrdered.paymentIds[1]: expected a string, got a number"},
      {head + R"("recoveryOrdered":{"paymentIds":"P1"}})",
       "recoveryOrdered.paymentIds: expected an array, got a string"},
      {head + R"("householdRegistered":{"members":[{"name":"x","relation":"cousin"}]}})",
       "householdRegistered.members[0].relation: \"cousin\" is not one of: head, spouse, child, parent, grandchild, "
       "grandparent, sibling, other"},
      {head + R"("actorKeySet":{"targetActorId":null}})", "actorKeySet.targetActorId: expected a string, got null"},
      {head + R"("rejection":{}, "actorSignature":"abc"})", "actorSignature: \"abc\" is not hex text"},
      {head + R"("rejection":{}, "actorSignature":7})", "actorSignature: expected hex text, got a number"},
      {"[1,2,3]", "expected an object, got an array"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.line);
    Parsed p = Parse(c.line);
    CHECK(p.status.code() == ledger::Status::Code::kInvalidArgument);
    CHECK_MESSAGE(p.status.ToString().rfind(c.error, 0) == 0, p.status.ToString());
  }
  // 64-bit integers as numbers up to 2^53 - 1, or as decimal strings; hex in either case.
  Parsed ok =
      Parse(head + R"("expectedVersion":{"exactly":"18446744073709551"},"approval":{"caseId":"C1",)"
                   R"("monthlyAmountFen":9007199254740991,"membersCovered":4294967295},"actorSignature":"0aFf"})");
  REQUIRE_MESSAGE(ok.status.ok(), ok.status.ToString());
  CHECK(ok.event().getExpectedVersion().getExactly() == 18446744073709551ull);
  CHECK(ok.event().getApproval().getMonthlyAmountFen() == 9007199254740991ll);
  CHECK(ok.event().getApproval().getMembersCovered() == 4294967295u);
  auto signature = ok.event().getActorSignature();
  REQUIRE(signature.size() == 2);
  CHECK((signature[0] == 0x0a && signature[1] == 0xff));
  // 1e3 and 2.0 are integers, as a double reads them.
  Parsed doubles = Parse(head + R"("approval":{"caseId":"C1","monthlyAmountFen":1e3,"membersCovered":2.0}})");
  REQUIRE_MESSAGE(doubles.status.ok(), doubles.status.ToString());
  CHECK(doubles.event().getApproval().getMonthlyAmountFen() == 1000);
  CHECK(doubles.event().getApproval().getMembersCovered() == 2);
}

TEST_CASE("a Python-escaped history reads back as the same UTF-8 in show, replay and the bank file") {
  std::vector<std::string> raw, escaped;
  for (const auto& line : testing::CountyYear({.seed = 21, .households = 30, .years = 2})) {
    raw.push_back(WithChineseNames(line));
    escaped.push_back(EscapeNonAscii(raw.back()));
  }
  REQUIRE(std::count_if(escaped.begin(), escaped.end(), [](auto& l) { return l.find("\\ud842\\udfb7") != l.npos; }) >
          10);
  testing::TempDir dir;
  const std::string d = dir.Sub("l");
  REQUIRE(testing::RunLedgerctl({"init", "--dir", d, "--policy", "enforce"}).exit_code == 0);
  std::string input;
  for (const auto& l : escaped) input += l + "\n";
  auto run = testing::RunLedgerctl({"append", "--dir", d}, input);
  REQUIRE_MESSAGE(run.exit_code == 0, run.err);
  auto results = Lines(run.out);
  REQUIRE(results.size() == escaped.size());

  SUBCASE("show: the household's registration with its members' names") {
    size_t i = 0;
    while (raw[i].find("\"householdRegistered\"") == std::string::npos) ++i;
    auto show = testing::RunLedgerctl({"show", "--dir", d, "--seq", Member(results[i], "seq")});
    REQUIRE(show.exit_code == 0);
    std::string name = Member(raw[i], "name");
    CHECK(std::find(kNames.begin(), kNames.end(), name) != kNames.end());
    CHECK(Member(show.out, "name") == name);
    CHECK(show.out.find("\\u") == std::string::npos);
  }
  SUBCASE("replay: every name of a household's entries") {
    std::string household = Member(raw.back(), "householdId");
    for (size_t i = raw.size(); household.empty() && i-- > 0;) household = Member(raw[i], "householdId");
    auto replay = testing::RunLedgerctl({"replay", "--dir", d, "--household", household, "--format", "entries"});
    REQUIRE_MESSAGE(replay.exit_code == 0, replay.err);
    std::multiset<std::string> expected, got;
    for (const auto& l : raw) {
      if (Member(l, "householdId") == household && !Member(l, "payeeName").empty())
        expected.insert(Member(l, "payeeName"));
    }
    for (const auto& l : Lines(replay.out)) {
      if (!Member(l, "payeeName").empty()) got.insert(Member(l, "payeeName"));
    }
    CHECK(!expected.empty());
    CHECK(got == expected);
  }
  SUBCASE("payroll export: the payee names on the bank instruction file") {
    auto issue = testing::RunLedgerctl({"payroll", "issue", "--dir", d, "--county", "341502", "--programme",
                                        "rural_dibao", "--period", "2026-02", "--actor", "fin1", "--date", "20260205"});
    REQUIRE_MESSAGE(issue.exit_code == 0, issue.err);
    std::string csv = dir.Sub("bank.csv");
    auto exported =
        testing::RunLedgerctl({"payroll", "export", "--dir", d, "--roll", "R-341502-rural_dibao-202602", "--out", csv});
    REQUIRE_MESSAGE(exported.exit_code == 0, exported.err);
    std::ifstream in(csv);
    std::string line;
    for (int skip = 0; skip < 3; ++skip) std::getline(in, line);  // roll header, roll record, columns
    std::set<std::string> names;
    while (std::getline(in, line)) {
      // end_to_end_id,card,payee_name,amount
      size_t a = line.find(','), b = line.find(',', a + 1), c = line.find(',', b + 1);
      std::string name = line.substr(b + 1, c - b - 1);
      CHECK_MESSAGE(std::find(kNames.begin(), kNames.end(), name) != kNames.end(), line);
      names.insert(name);
    }
    CHECK(names.size() >= 3);
    CHECK(std::any_of(names.begin(), names.end(), [](auto& n) { return n.find("𠮷") != n.npos; }));
    CHECK(std::any_of(names.begin(), names.end(), [](auto& n) { return n.find("𪚥") != n.npos; }));
  }
  SUBCASE("the raw UTF-8 form of each event is the same event: exists") {
    std::string again;
    for (const auto& l : raw) again += l + "\n";
    auto resend = testing::RunLedgerctl({"append", "--dir", d}, again);
    CHECK_MESSAGE(resend.exit_code == 0, resend.err);
    auto out = Lines(resend.out);
    REQUIRE(out.size() == raw.size());
    size_t exists = std::count_if(out.begin(), out.end(), [](auto& l) { return Member(l, "status") == "exists"; });
    CHECK(exists == raw.size());
    // And upper-case hex escapes too.
    std::string upper;
    for (const auto& l : raw) upper += EscapeNonAscii(l, true) + "\n";
    auto resend_upper = testing::RunLedgerctl({"append", "--dir", d}, upper);
    CHECK(resend_upper.exit_code == 0);
    CHECK(resend_upper.err.find(fmt::format("0 created, {} already there, 0 rejected", raw.size())) !=
          std::string::npos);
  }
}

TEST_CASE("ParseEventJson is safe from many threads at once") {
  std::vector<std::string> lines = testing::ReadDataLines("every_kind.jsonl");
  for (auto& l : std::vector<std::string>(lines)) lines.push_back(EscapeNonAscii(l));
  lines.push_back(ApplicationWithPayee(R"(\ud800)"));  // refused, through the slow path
  lines.push_back(R"({"eventId":"x" "y"})");
  std::vector<std::string> expected;
  for (const auto& l : lines) {
    Parsed p = Parse(l);
    expected.push_back(p.status.ok() ? ledger::CanonicalEvent(p.event()) : p.status.ToString());
  }
  std::vector<size_t> mismatches(4, 0);
  std::vector<std::thread> threads;
  for (size_t t = 0; t < mismatches.size(); ++t) {
    threads.emplace_back([&, t] {
      for (int round = 0; round < 200; ++round) {
        for (size_t i = (t * 7 + round) % lines.size(), n = 0; n < lines.size(); ++n, i = (i + 1) % lines.size()) {
          capnp::MallocMessageBuilder m;
          ledger::Status s = ledger::ParseEventJson(lines[i], &m);
          auto got = s.ok() ? ledger::CanonicalEvent(m.getRoot<ledger::schema::Event>().asReader()) : s.ToString();
          mismatches[t] += got != expected[i];
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  CHECK(mismatches == std::vector<size_t>(4, 0));
}

TEST_CASE("random damage to valid lines never crashes the parser, and every refusal says why") {
  auto lines = testing::ReadDataLines("every_kind.jsonl");
  for (auto& l : std::vector<std::string>(lines)) lines.push_back(EscapeNonAscii(l));
  std::mt19937_64 rng(12);
  const std::string pieces[] = {
      "\\", "\"", "\\u",  "\\ud800",  "\\udc00",       "\\u0000",      "{",        "}",     "[",
      "]",  ",",  ":",    "\xC0\xAF", "\xFF",          "\xED\xA0\x80", "\xF0\x9F", "1e999", "null",
      "-",  "0",  "\x00", "\t",       "\\uD842\\uDFB7"};
  size_t ok = 0, refused = 0;
  for (int round = 0; round < 20000; ++round) {
    std::string line = lines[rng() % lines.size()];
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits && !line.empty(); ++e) {
      size_t at = rng() % line.size();
      switch (rng() % 5) {
        case 0: line[at] = static_cast<char>(rng() & 0xff); break;               // a byte replaced
        case 1: line.erase(at, 1 + rng() % 8); break;                            // bytes cut out
        case 2: line.insert(at, pieces[rng() % std::size(pieces)]); break;       // a piece put in
        case 3: line.resize(at); break;                                          // cut short
        default: line.insert(at, line.substr(rng() % line.size(), rng() % 16));  // a part repeated
      }
    }
    Parsed p = Parse(line);
    if (p.status.ok()) {
      ++ok;
      // What parsed is an event that writes out as valid UTF-8 without NUL.
      std::string out = ledger::EventToJson(p.event());
      CHECK(ledger::IsValidUtf8(out, nullptr));
    } else {
      ++refused;
      CHECK(p.status.code() == ledger::Status::Code::kInvalidArgument);
      CHECK(!p.status.reason().empty());
      CHECK(p.status.ToString().size() < 600);
      CHECK(p.event_id.size() <= ledger::kMaxIdBytes);
    }
  }
  CHECK(ok > 100);
  CHECK(refused > 10000);
}
