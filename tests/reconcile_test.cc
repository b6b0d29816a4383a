// Reconciliation of a bank result file (ledger/reconcile.h, ledgerctl reconcile): every
// category on a history built for it, also in a long file out of order, --apply recording
// results once, unreadable records reported as the lines meet them, and malformed files refused
// with their line number and nothing recorded.
#include "ledger/reconcile.h"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <fstream>

#include "ledger/store.h"
#include "tests/test_util.h"

namespace {

std::string E(const std::string& id, const std::string& household, const std::string& kind, const std::string& body,
              uint32_t date = 20240201) {
  std::string hh = household.empty() ? "" : fmt::format(R"("householdId":"{}",)", household);
  return fmt::format(
      R"({{"eventId":"{}",{}"regionCode":"341502001001","actorId":"fin1","businessDate":{},"{}":{{{}}}}})", id, hh,
      date, kind, body);
}

// Six households approved for urban 低保 at 1000 yuan a month, paid for 202402 on roll R1
// (P1..P6); P6 already settled; H4's case exited (last month 202401) after P4 was issued.
// Recorded under the record policy: the history skips procedure steps that are not the point.
std::vector<std::string> History() {
  std::vector<std::string> lines;
  lines.push_back(E(
      "roll", "", "paymentRollIssued",
      R"("rollId":"R1","countyCode":"341502","programme":"urban_dibao","period":202402,"lineCount":6,"controlSumFen":600000)"));
  for (int i = 1; i <= 6; ++i) {
    std::string h = fmt::format("H{}", i), number = testing::IdentityNumber(fmt::format("3415021960010{}123", i));
    lines.push_back(E(
        h + "-reg", h, "householdRegistered",
        fmt::format(R"("members":[{{"person":{{"number":"{}"}},"name":"m","relation":"head","birthDate":1960010{}}}])",
                    number, i)));
    lines.push_back(
        E(h + "-app", h, "applicationSubmitted", fmt::format(R"("caseId":"C{}","programme":"urban_dibao")", i)));
    lines.push_back(E(
        h + "-apr", h, "approval",
        fmt::format(
            R"("caseId":"C{}","programme":"urban_dibao","monthlyAmountFen":100000,"membersCovered":1,"firstPeriod":202402,"reviewDueDate":20250101)",
            i),
        20240120));
    lines.push_back(E(
        fmt::format("P{}", i), h, "paymentIssued",
        fmt::format(
            R"("paymentId":"P{}","rollId":"R1","caseId":"C{}","programme":"urban_dibao","period":202402,"amountFen":100000,"card":{{"number":"62284800123456789{}"}},"payeeName":"m")",
            i, i, i)));
  }
  lines.push_back(
      E("P6-ok", "H6", "paymentSettled", R"("paymentId":"P6","bankReference":"B6","settledDate":20240210)"));
  lines.push_back(E("H4-exit", "H4", "exit", R"("caseId":"C4","reason":"death","lastPeriod":202401)", 20240205));
  return lines;
}

// `n` households approved like History()'s and paid on roll R2 (Q00000…); every seventh exited
// (last month 202401) after its payment was issued.
std::vector<std::string> ManyHouseholds(int n) {
  std::vector<std::string> lines = {E("roll2", "", "paymentRollIssued",
                                      fmt::format(R"("rollId":"R2","countyCode":"341502","programme":"urban_dibao",)"
                                                  R"("period":202402,"lineCount":{},"controlSumFen":{})",
                                                  n, int64_t{n} * 100000))};
  for (int i = 0; i < n; ++i) {
    std::string h = fmt::format("M{:05}", i), birth = fmt::format("1960{:02}{:02}", 1 + i / 1000 % 12, 1 + i / 12000);
    std::string number = testing::IdentityNumber(fmt::format("341502{}{:03}", birth, i % 1000));
    lines.push_back(
        E(h + "-reg", h, "householdRegistered",
          fmt::format(R"("members":[{{"person":{{"number":"{}"}},"name":"m","relation":"head","birthDate":{}}}])",
                      number, birth)));
    lines.push_back(
        E(h + "-app", h, "applicationSubmitted", fmt::format(R"("caseId":"C{}","programme":"urban_dibao")", h)));
    lines.push_back(E(h + "-apr", h, "approval",
                      fmt::format(R"("caseId":"C{}","programme":"urban_dibao","monthlyAmountFen":100000,)"
                                  R"("membersCovered":1,"firstPeriod":202402,"reviewDueDate":20250101)",
                                  h),
                      20240120));
    lines.push_back(
        E(fmt::format("Q{:05}", i), h, "paymentIssued",
          fmt::format(R"("paymentId":"Q{:05}","rollId":"R2","caseId":"C{}","programme":"urban_dibao",)"
                      R"("period":202402,"amountFen":100000,"card":{{"number":"6228480{:08}"}},"payeeName":"m")",
                      i, h, i)));
    if (i % 7 == 3) {
      lines.push_back(E(h + "-exit", h, "exit",
                        fmt::format(R"("caseId":"C{}","reason":"death","lastPeriod":202401)", h), 20240205));
    }
  }
  return lines;
}

const char* kBankFile =
    "end_to_end_id,amount,status,reason,bank_reference,date\n"
    "P1,1000.00,settled,,B1,2024-02-10\n"                        // matched
    "P2,1000.00,failed,account closed,B2,\n"                     // failed
    "P3,999.00,settled,,B3,20240210\n"                           // amount mismatch
    "P4,1000.00,settled,,B4,20240210\n"                          // paid after exit
    "P9,1000.00,settled,,B9,20240210\n"                          // unknown
    "P1,1000.00,settled,,B1,20240210\n"                          // duplicate result
    "P6,1000.00,returned,\"name, ID mismatch\",B6R,20240215\n";  // returned
// P5: missing result.

std::string WriteFile(const testing::TempDir& dir, const std::string& name, const std::string& text) {
  std::ofstream(dir.Sub(name)) << text;
  return dir.Sub(name);
}

}  // namespace

TEST_CASE("every reconciliation category, counted and summed") {
  testing::TempDir dir;
  auto l = testing::NewLedger(dir.Sub("l"));
  for (const auto& r : testing::AppendLines(l.get(), History())) REQUIRE(r.error.ok());
  std::vector<ledger::reconcile::BankLine> bank;
  REQUIRE(ledger::reconcile::ParseBankFile(kBankFile, {}, &bank).ok());
  REQUIRE(bank.size() == 7);
  CHECK(bank[0].date == 20240210);
  CHECK(bank[6].reason == "name, ID mismatch");
  std::vector<ledger::reconcile::Match> matches;
  REQUIRE(ledger::reconcile::Reconcile(l->store(), bank, &matches).ok());
  using C = ledger::reconcile::Category;
  std::vector<C> expected = {C::kMatched, C::kFailed,    C::kAmountMismatch, C::kPaidAfterExit,
                             C::kUnknown, C::kDuplicate, C::kReturned,       C::kMissingResult};
  REQUIRE(matches.size() == expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    CAPTURE(i);
    CHECK(std::string(ledger::reconcile::CategoryName(matches[i].category)) ==
          ledger::reconcile::CategoryName(expected[i]));
  }
  CHECK(matches.back().payment->id == "P5");
  CHECK(matches[0].region == "341502001001");
}

// More lines than are read at once and in no order: each line is classified as in a short file,
// a duplicate by its first line, and the missing result still comes last.
TEST_CASE("a long bank file out of order: every category, duplicates by their first line") {
  testing::TempDir dir;
  auto l = testing::NewLedger(dir.Sub("l"));
  for (const auto& r : testing::AppendLines(l.get(), History())) REQUIRE(r.error.ok());
  using C = ledger::reconcile::Category;
  std::string text = "end_to_end_id,amount,status,reason\n";
  std::vector<C> expected;
  auto add = [&](const std::string& id, const char* amount, const char* status, C category) {
    text += fmt::format("{},{},{},\"a, \"\"b\"\"\"\n", id, amount, status);
    expected.push_back(category);
  };
  add("P6", "1000.00", "returned", C::kReturned);
  for (int i = 10000; i > 0; --i) {
    add(fmt::format("U{:05}", i), "1.00", "settled", C::kUnknown);
    if (i == 7000) add("P1", "1000.00", "settled", C::kMatched);
    if (i == 5000) add("P4", "1000.00", "settled", C::kPaidAfterExit);
    if (i == 3000) add("P3", "999.00", "settled", C::kAmountMismatch);
    if (i == 2000) add("P2", "1000.00", "failed", C::kFailed);
    if (i == 100) add("P1", "1000.00", "settled", C::kDuplicate);
  }
  add("U10000", "1.00", "settled", C::kDuplicate);
  add("P6", "1000.00", "settled", C::kDuplicate);
  expected.push_back(C::kMissingResult);  // P5

  std::vector<ledger::reconcile::BankLine> bank;
  REQUIRE(ledger::reconcile::ParseBankFile(text, {}, &bank).ok());
  REQUIRE(bank.size() + 1 == expected.size());
  CHECK(bank[0].reason == "a, \"b\"");
  std::vector<ledger::reconcile::Match> matches;
  REQUIRE(ledger::reconcile::Reconcile(l->store(), bank, &matches).ok());
  REQUIRE(matches.size() == expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    CAPTURE(i);
    REQUIRE(matches[i].category == expected[i]);
    CHECK(matches[i].line == (i < bank.size() ? &bank[i] : nullptr));
    bool known = expected[i] != C::kUnknown && expected[i] != C::kDuplicate;
    CHECK(matches[i].payment.has_value() == known);
    CHECK(matches[i].region == (known ? "341502001001" : ""));
    if (known && matches[i].line) CHECK(matches[i].payment->id == matches[i].line->payment_id);
  }
  CHECK(matches.back().payment->id == "P5");
}

// Enough households to be read in two threads (kTwoThreadsFrom in reconcile.cc): each line
// still gets its own household's facts.
TEST_CASE("a file naming many households: regions and exits per line, missing results in order") {
  testing::TempDir dir;
  auto l = testing::NewLedger(dir.Sub("l"));
  const int n = 5000;
  for (const auto& r : testing::AppendLines(l.get(), ManyHouseholds(n))) REQUIRE(r.error.ok());
  using C = ledger::reconcile::Category;
  std::string text = "end_to_end_id,amount,status\n";
  std::vector<C> expected;
  for (int i = n - 1; i >= 0; --i) {  // Not in key order.
    if (i % 50 == 0) continue;        // Missing results.
    text += fmt::format("Q{:05},1000.00,{}\n", i, i % 13 == 0 ? "failed" : "settled");
    expected.push_back(i % 13 == 0 ? C::kFailed : i % 7 == 3 ? C::kPaidAfterExit : C::kMatched);
  }
  std::vector<ledger::reconcile::BankLine> bank;
  REQUIRE(ledger::reconcile::ParseBankFile(text, {}, &bank).ok());
  std::vector<ledger::reconcile::Match> matches;
  REQUIRE(ledger::reconcile::Reconcile(l->store(), bank, &matches).ok());
  REQUIRE(matches.size() == bank.size() + n / 50);
  for (size_t i = 0; i < matches.size(); ++i) {
    CAPTURE(i);
    const auto& m = matches[i];
    REQUIRE(m.payment.has_value());
    CHECK(m.region == "341502001001");
    if (i < bank.size()) {
      CHECK(m.category == expected[i]);
      CHECK(m.payment->id == bank[i].payment_id);
    } else {
      CHECK(m.category == C::kMissingResult);
      CHECK(m.payment->id == fmt::format("Q{:05}", (i - bank.size()) * 50));
    }
  }
}

// The first line (not the first key) whose payment record does not read names the error; a
// payment on a roll without a record is reported too.
TEST_CASE("unreadable state records are reported as the lines meet them") {
  testing::TempDir dir;
  auto l = testing::NewLedger(dir.Sub("l"));
  for (const auto& r : testing::AppendLines(l.get(), History())) REQUIRE(r.error.ok());
  const ledger::Store& store = l->store();
  auto reconcile = [&](const std::string& text) {
    std::vector<ledger::reconcile::BankLine> bank;
    REQUIRE(ledger::reconcile::ParseBankFile(text, {}, &bank).ok());
    std::vector<ledger::reconcile::Match> matches;
    return ledger::reconcile::Reconcile(store, bank, &matches);
  };
  REQUIRE(store.db()->Delete({}, store.cf(ledger::kState), ledger::state::PaymentKey("P5")).ok());
  ledger::Status s = reconcile("end_to_end_id,amount,status\nP1,1000.00,settled\n");
  CHECK(s.code() == ledger::Status::Code::kCorruption);
  CHECK(s.reason() == "payment P5 is on a roll but has no record (run rebuild)");

  for (const char* id : {"P2", "P3"}) {
    REQUIRE(store.db()->Put({}, store.cf(ledger::kState), ledger::state::PaymentKey(id), "not a record").ok());
  }
  s = reconcile("end_to_end_id,amount,status\nP1,1000.00,settled\nP3,1000.00,settled\nP2,1000.00,settled\n");
  CHECK(s.code() == ledger::Status::Code::kCorruption);
  CHECK(s.reason().find(ledger::state::PaymentKey("P3") + " does not read") != std::string::npos);
}

TEST_CASE("ledgerctl reconcile reports, and --apply records each result once") {
  testing::TempDir dir;
  const std::string d = testing::LedgerctlLedger(dir.Sub("l"), History(), "record");
  std::string file = WriteFile(dir, "bank.csv", kBankFile);

  auto report = testing::RunLedgerctl({"reconcile", "--dir", d, "--bank-file", file});
  CHECK(report.exit_code == 1);  // Not everything matched.
  for (const char* category : {"matched", "failed", "returned", "amount mismatch", "missing result", "unknown",
                               "duplicate result", "paid after exit"}) {
    CHECK_MESSAGE(report.out.find(category) != std::string::npos, category);
  }
  CHECK(report.out.find("urban_dibao      6000.00       2000.00") != std::string::npos);  // issued vs settled

  auto first =
      testing::RunLedgerctl({"reconcile", "--dir", d, "--bank-file", file, "--apply", "yes", "--actor", "fin1"});
  CHECK(first.out.find("applied: 4 results recorded, 0 already recorded") != std::string::npos);
  auto second =
      testing::RunLedgerctl({"reconcile", "--dir", d, "--bank-file", file, "--apply", "yes", "--actor", "fin1"});
  CHECK(second.out.find("applied: 0 results recorded, 4 already recorded") != std::string::npos);
  auto show = testing::RunLedgerctl({"replay", "--dir", d, "--household", "H2"});
  CHECK(show.out.find("paymentFailed") != std::string::npos);
  CHECK(testing::RunLedgerctl({"reconcile", "--dir", d, "--bank-file", file, "--apply", "yes"}).exit_code ==
        2);  // no actor

  // Renamed columns.
  std::string renamed = WriteFile(dir, "renamed.csv", "id,yuan,result\nP1,1000.00,credited\n");
  auto r = testing::RunLedgerctl({"reconcile", "--dir", d, "--bank-file", renamed, "--columns",
                                  "id=id,amount=yuan,status=result", "--format", "csv"});
  CHECK(r.out.find("\n2,P1,matched,1000.00,1000.00,urban_dibao,202402,") != std::string::npos);
}

TEST_CASE("a malformed bank file is refused with its line, and nothing is recorded") {
  testing::TempDir dir;
  const std::string d = testing::LedgerctlLedger(dir.Sub("l"), History(), "record");
  auto before = testing::RunLedgerctl({"verify", "--dir", d}).out.substr(0, 20);
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"end_to_end_id,amount,status\nP1,1000.00,settled\nP2,ten,settled\n", "line 3, column amount"},
      {"end_to_end_id,amount,status\nP1,1000.001,settled\n", "line 2, column amount"},
      {"end_to_end_id,amount,status\nP1,1000.00,maybe\n", "line 2, column status"},
      {"end_to_end_id,amount\nP1,1000.00\n", "line 1, column status"},
      {"end_to_end_id,amount,status\nP1,1000.00\n", "line 2: 2 fields"},
      {"end_to_end_id,amount,status\n\"P1,1000.00,settled\n", "line 2: a quoted field"},
      {"", "line 1: the file is empty"},
      {"end_to_end_id,amount,status\nP1,1000.00,settled,\xff\n", "line 2: not UTF-8"},
  };
  for (const auto& [text, expected] : bad) {
    CAPTURE(expected);
    std::string file = WriteFile(dir, "bad.csv", text);
    auto r = testing::RunLedgerctl({"reconcile", "--dir", d, "--bank-file", file, "--apply", "yes", "--actor", "fin1"});
    CHECK(r.exit_code == 2);
    CHECK(r.err.find(expected) != std::string::npos);
    CHECK(r.err.find("nothing recorded") != std::string::npos);
  }
  CHECK(testing::RunLedgerctl({"verify", "--dir", d}).out.substr(0, 20) == before);
}
