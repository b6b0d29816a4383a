// Reconciliation of a bank result file (ledger/reconcile.h, ledgerctl reconcile): every
// category on a history built for it, --apply recording results once, and malformed files
// refused with their line number and nothing recorded.
#include "ledger/reconcile.h"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <fstream>

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
