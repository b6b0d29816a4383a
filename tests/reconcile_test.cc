// Reconciliation of a bank result file (ledger/reconcile.h, ledgerctl reconcile): every
// category on a history built for it, also in long files out of order that take the two-thread
// paths, the fields of every line kept whatever the column order and quoting, --apply recording
// results once (also past one group), unreadable records reported as the lines meet them, and
// malformed files refused with their line and column and nothing recorded.
#include "ledger/reports/reconcile.h"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <fstream>
#include <map>

#include "ledger/core/entry.h"
#include "ledger/core/store.h"
#include "ledger/domain/json.h"
#include "ledger/domain/state.h"
#include "tests/test_util.h"

namespace {

std::string E(const std::string& id, const std::string& household, const std::string& kind, const std::string& body,
              uint32_t date = 20240201) {
  return testing::EventLine(id, household, "341502001001", "fin1", date, kind, body);
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
    lines.push_back(
        E(h + "-reg", h, "householdRegistered", testing::HouseholdMembers({testing::Member(number, "m", "head")})));
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
// (last month 202401) after its payment was issued. With `second`, every fifth household also has
// a payment for 202401 (Q00000-2…), issued before the exit: a household named by two payments.
std::vector<std::string> ManyHouseholds(int n, bool second = false) {
  std::vector<std::string> lines = {E("roll2", "", "paymentRollIssued",
                                      fmt::format(R"("rollId":"R2","countyCode":"341502","programme":"urban_dibao",)"
                                                  R"("period":202402,"lineCount":{},"controlSumFen":{})",
                                                  n, int64_t{n} * 100000))};
  for (int i = 0; i < n; ++i) {
    std::string h = fmt::format("M{:05}", i), birth = fmt::format("1960{:02}{:02}", 1 + i / 1000 % 12, 1 + i / 12000);
    std::string number = testing::IdentityNumber(fmt::format("341502{}{:03}", birth, i % 1000));
    lines.push_back(
        E(h + "-reg", h, "householdRegistered", testing::HouseholdMembers({testing::Member(number, "m", "head")})));
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
    if (second && i % 5 == 0) {
      lines.push_back(
          E(fmt::format("Q{:05}-2", i), h, "paymentIssued",
            fmt::format(R"("paymentId":"Q{:05}-2","rollId":"R2","caseId":"C{}","programme":"urban_dibao",)"
                        R"("period":202401,"amountFen":100000,"card":{{"number":"6228480{:08}"}},"payeeName":"m")",
                        i, h, i)));
    }
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
  ledger::reconcile::BankFile bank;
  REQUIRE(ledger::reconcile::ParseBankFile(kBankFile, {}, &bank).ok());
  REQUIRE(bank.size() == 7);
  CHECK(bank[0].date == 20240210);
  CHECK(bank[6].reason == "name, ID mismatch");
  ledger::reconcile::Reconciliation matches;
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
  for (size_t i = 0; i < bank.size(); ++i) {
    CAPTURE(i);
    REQUIRE(matches[i].line.has_value());
    CHECK(matches[i].line->line == i + 2);
    CHECK(matches[i].line->payment_id == bank[i].payment_id);
    bool known = expected[i] != C::kUnknown && expected[i] != C::kDuplicate;
    const auto m = matches[i];  // A value: the reconciliation assembles it when asked.
    REQUIRE(m.payment.has_value() == known);
    if (!known) continue;
    const auto& p = *m.payment;
    CHECK(p.id == bank[i].payment_id);
    CHECK(p.household == "H" + std::string(p.id.substr(1)));
    CHECK(p.region == "341502001001");
    CHECK(p.amount_fen == 100000);
    CHECK(p.period == 202402);
    CHECK(ledger::ProgrammeName(p.programme) == "urban_dibao");
  }
  const auto missing = matches[matches.size() - 1];
  CHECK(!missing.line.has_value());
  REQUIRE(missing.payment.has_value());
  CHECK(missing.payment->id == "P5");
  CHECK(missing.payment->household == "H5");
  CHECK(missing.payment->region == "341502001001");
  CHECK(missing.payment->amount_fen == 100000);
}

// Returns arrive months later, on their own: a file of returns only names none of the roll's
// other payments, which have their results in the ledger already. Only a payment with no result
// anywhere (P5 here) is a missing result.
TEST_CASE("a returns-only file reconciles with no missing results for payments settled before") {
  testing::TempDir dir;
  auto l = testing::NewLedger(dir.Sub("l"));
  for (const auto& r : testing::AppendLines(l.get(), History())) REQUIRE(r.error.ok());
  std::vector<std::string> results;  // P6 is settled by History().
  for (int i : {1, 2, 3, 4}) {
    results.push_back(E(fmt::format("P{}-ok", i), fmt::format("H{}", i), "paymentSettled",
                        fmt::format(R"("paymentId":"P{}","bankReference":"B{}","settledDate":20240210)", i, i)));
  }
  results.push_back(E("P3-fail", "H3", "paymentFailed", R"("paymentId":"P3","reason":"x","bankReference":"B3")"));
  for (const auto& r : testing::AppendLines(l.get(), results)) REQUIRE_MESSAGE(r.error.ok(), r.error.ToString());
  using C = ledger::reconcile::Category;
  auto categories = [&](const std::string& text) {
    ledger::reconcile::BankFile bank;
    REQUIRE(ledger::reconcile::ParseBankFile(text, {}, &bank).ok());
    ledger::reconcile::Reconciliation matches;
    REQUIRE(ledger::reconcile::Reconcile(l->store(), bank, &matches).ok());
    std::vector<std::pair<std::string, C>> out;
    for (size_t i = 0; i < matches.size(); ++i) out.emplace_back(matches[i].payment->id, matches[i].category);
    return out;
  };
  const std::string returns =
      "end_to_end_id,amount,status,reason,bank_reference\n"
      "P2,1000.00,returned,account closed,B2R\n"
      "P6,1000.00,returned,account closed,B6R\n";
  CHECK(categories(returns) ==
        std::vector<std::pair<std::string, C>>{{"P2", C::kReturned}, {"P6", C::kReturned}, {"P5", C::kMissingResult}});

  // Once P5 has its result, the same file reconciles cleanly.
  auto settled = testing::AppendLine(
      l.get(), E("P5-ok", "H5", "paymentSettled", R"("paymentId":"P5","bankReference":"B5","settledDate":20240211)"));
  REQUIRE(settled.error.ok());
  CHECK(categories(returns) == std::vector<std::pair<std::string, C>>{{"P2", C::kReturned}, {"P6", C::kReturned}});
}

// Columns in any order, quoted fields (commas, doubled quotes, empty), CRLF, blank lines and both
// date forms: each line keeps its own fields, also after the file is moved.
TEST_CASE("a parsed bank file keeps every line's fields, whatever the column order and quoting") {
  std::string text =
      "note,bank_reference,\"status\",date,reason,amount,end_to_end_id\r\n"
      "x,B1,settled,2024-02-10,,1000.00,P1\r\n"
      "\r\n"
      "\"a, b\",\"B\"\"2\"\"\",FAILED,,\"closed, \"\"really\"\"\",12.5,\"P2\"\n"
      "  \n"
      ",,returned,20240215,\"\",0.07,P-3/x:y_z.w\n"
      "\"\",B4,Credited,,name mismatch,1234567890.99,P4";  // No newline at the end.
  ledger::reconcile::BankFile parsed;
  REQUIRE(ledger::reconcile::ParseBankFile(text, {}, &parsed).ok());
  ledger::reconcile::BankFile bank = std::move(parsed);  // Lines locate their fields by offset.
  REQUIRE(bank.size() == 4);
  using S = ledger::reconcile::BankStatus;
  struct Expected {
    uint32_t line;
    std::string id;
    int64_t fen;
    S status;
    std::string reason, reference;
    uint32_t date;
  };
  const std::vector<Expected> expected = {
      {2, "P1", 100000, S::kSettled, "", "B1", 20240210},
      {4, "P2", 1250, S::kFailed, "closed, \"really\"", "B\"2\"", 0},
      {6, "P-3/x:y_z.w", 7, S::kReturned, "", "", 20240215},
      {7, "P4", 123456789099, S::kSettled, "name mismatch", "B4", 0},
  };
  for (size_t i = 0; i < expected.size(); ++i) {
    CAPTURE(i);
    auto line = bank[i];
    CHECK(line.line == expected[i].line);
    CHECK(line.payment_id == expected[i].id);
    CHECK(line.amount_fen == expected[i].fen);
    CHECK(line.status == expected[i].status);
    CHECK(line.reason == expected[i].reason);
    CHECK(line.reference == expected[i].reference);
    CHECK(line.date == expected[i].date);
  }
  ledger::reconcile::BankFile empty;
  REQUIRE(ledger::reconcile::ParseBankFile("end_to_end_id,amount,status\n\n", {}, &empty).ok());
  CHECK(empty.size() == 0);
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

  ledger::reconcile::BankFile bank;
  REQUIRE(ledger::reconcile::ParseBankFile(text, {}, &bank).ok());
  REQUIRE(bank.size() + 1 == expected.size());
  CHECK(bank[0].reason == "a, \"b\"");
  ledger::reconcile::Reconciliation matches;
  REQUIRE(ledger::reconcile::Reconcile(l->store(), bank, &matches).ok());
  REQUIRE(matches.size() == expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    CAPTURE(i);
    const auto m = matches[i];
    REQUIRE(m.category == expected[i]);
    REQUIRE(m.line.has_value() == (i < bank.size()));
    if (m.line) CHECK(m.line->line == bank[i].line);
    bool known = expected[i] != C::kUnknown && expected[i] != C::kDuplicate;
    REQUIRE(m.payment.has_value() == known);
    if (known) CHECK(m.payment->region == "341502001001");
    if (known && m.line) CHECK(m.payment->id == m.line->payment_id);
  }
  CHECK(matches[matches.size() - 1].payment->id == "P5");
}

// Enough ids and households to be read in two threads (kTwoThreadsFrom in reconcile.cc), in no
// order: every category, duplicates of many ids (so that the halves split between an id's lines
// too), households named by two payments, and each line still gets its own payment's and
// household's facts. The expected categories come from the rules as stated, line by line.
TEST_CASE("a long file naming many households: every category and each line's own facts") {
  testing::TempDir dir;
  auto l = testing::NewLedger(dir.Sub("l"));
  const int n = 5000;
  for (const auto& r : testing::AppendLines(l.get(), ManyHouseholds(n, true))) REQUIRE(r.error.ok());
  using C = ledger::reconcile::Category;
  struct Expected {
    std::string id;
    C category;
    int household = -1;  // -1: no payment.
    uint32_t period = 0;
  };
  std::vector<Expected> expected;
  std::string text = "end_to_end_id,amount,status,reason\n";
  auto add = [&](const std::string& id, const char* amount, const char* status, Expected e) {
    text += fmt::format("{},{},{},{}\n", id, amount, status, e.category == C::kFailed ? "closed" : "");
    expected.push_back(std::move(e));
  };
  std::vector<std::string> duplicates;  // Lines to repeat at the end.
  for (int k = 0; k < n; ++k) {
    const int i = static_cast<int>(int64_t{k} * 7919 % n);  // Not in key order.
    if (k % 9 == 0) add(fmt::format("U{:05}", k), "1.00", "settled", {"", C::kUnknown});
    if (i % 50 != 0) {  // Else a missing result.
      const char* status = i % 13 == 0 ? "failed" : i % 17 == 0 ? "returned" : "settled";
      C c = i % 13 == 0   ? C::kFailed
            : i % 17 == 0 ? C::kReturned
            : i % 11 == 0 ? C::kAmountMismatch
            : i % 7 == 3  ? C::kPaidAfterExit
                          : C::kMatched;
      add(fmt::format("Q{:05}", i), i % 11 == 0 ? "999.00" : "1000.00", status, {"", c, i, 202402});
      if (i % 2 == 0) duplicates.push_back(fmt::format("Q{:05}", i));
    }
    if (i % 10 == 0) {  // Paid for the month before the exit: never after it.
      add(fmt::format("Q{:05}-2", i), "1000.00", "settled", {"", C::kMatched, i, 202401});
    }
  }
  duplicates.push_back("U00009");
  for (const auto& id : duplicates) add(id, "1000.00", "settled", {"", C::kDuplicate});
  std::vector<std::string> missing;
  for (int i = 0; i < n; ++i) {
    if (i % 50 == 0) missing.push_back(fmt::format("Q{:05}", i));
    if (i % 10 == 5) missing.push_back(fmt::format("Q{:05}-2", i));
  }
  std::sort(missing.begin(), missing.end());

  ledger::reconcile::BankFile bank;
  REQUIRE(ledger::reconcile::ParseBankFile(text, {}, &bank).ok());
  REQUIRE(bank.size() == expected.size());
  ledger::reconcile::Reconciliation matches;
  REQUIRE(ledger::reconcile::Reconcile(l->store(), bank, &matches).ok());
  REQUIRE(matches.size() == bank.size() + missing.size());
  std::map<C, size_t> seen;
  for (size_t i = 0; i < matches.size(); ++i) {
    CAPTURE(i);
    const auto m = matches[i];
    const bool is_line = i < bank.size();
    REQUIRE(m.line.has_value() == is_line);
    Expected e = is_line ? expected[i] : Expected{missing[i - bank.size()], C::kMissingResult};
    if (!is_line) {
      e.household = std::stoi(e.id.substr(1, 5));
      e.period = e.id.size() > 6 ? 202401 : 202402;
    }
    ++seen[m.category];
    REQUIRE(m.category == e.category);
    REQUIRE(m.payment.has_value() == (e.household >= 0));
    if (is_line) CHECK(m.line->payment_id == bank[i].payment_id);
    if (!m.payment) continue;
    const auto& p = *m.payment;
    CHECK(p.id == (is_line ? bank[i].payment_id : e.id));
    CHECK(p.household == fmt::format("M{:05}", e.household));
    CHECK(p.region == "341502001001");
    CHECK(p.period == e.period);
    CHECK(p.amount_fen == 100000);
  }
  for (C c : {C::kMatched, C::kFailed, C::kReturned, C::kAmountMismatch, C::kMissingResult, C::kUnknown, C::kDuplicate,
              C::kPaidAfterExit}) {
    CHECK_MESSAGE(seen[c] > 10, ledger::reconcile::CategoryName(c));
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
    ledger::reconcile::BankFile bank;
    REQUIRE(ledger::reconcile::ParseBankFile(text, {}, &bank).ok());
    ledger::reconcile::Reconciliation matches;
    ledger::Status s = ledger::reconcile::Reconcile(store, bank, &matches);
    CHECK(matches.size() == (s.ok() ? bank.size() : 0));  // Nothing half-made on an error.
    return s;
  };
  // A household whose record does not read: its lines keep what the payment says, no region.
  REQUIRE(store.db()->Put({}, store.cf(ledger::kState), ledger::state::HouseholdKey("H4"), "not a record").ok());
  {
    ledger::reconcile::BankFile bank;
    REQUIRE(ledger::reconcile::ParseBankFile("end_to_end_id,amount,status\nP4,1000.00,settled\n", {}, &bank).ok());
    ledger::reconcile::Reconciliation matches;
    REQUIRE(ledger::reconcile::Reconcile(store, bank, &matches).ok());
    CHECK(matches[0].category == ledger::reconcile::Category::kMatched);  // Not known to be after the exit.
    CHECK(matches[0].payment->household == "H4");
    CHECK(matches[0].payment->region == "");
  }

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
  // Rows printed as they come (tools::Report::PrintRow), aligned as a held table would be.
  CHECK(report.out ==
        "line  end_to_end_id  category          bank yuan  ledger yuan  programme    period  reason\n"
        "   2  P1             matched             1000.00      1000.00  urban_dibao  202402\n"
        "   3  P2             failed              1000.00      1000.00  urban_dibao  202402  account closed\n"
        "   4  P3             amount mismatch      999.00      1000.00  urban_dibao  202402\n"
        "   5  P4             paid after exit     1000.00      1000.00  urban_dibao  202402\n"
        "   6  P9             unknown             1000.00\n"
        "   7  P1             duplicate result    1000.00\n"
        "   8  P6             returned            1000.00      1000.00  urban_dibao  202402  name, ID mismatch\n"
        "      P5             missing result                   1000.00  urban_dibao  202402\n"
        "\n"
        "category          lines     yuan\n"
        "amount mismatch       1   999.00\n"
        "duplicate result      1  1000.00\n"
        "failed                1  1000.00\n"
        "matched               1  1000.00\n"
        "missing result        1  1000.00\n"
        "paid after exit       1  1000.00\n"
        "returned              1  1000.00\n"
        "unknown               1  1000.00\n"
        "\n"
        "programme    issued yuan  settled yuan\n"
        "urban_dibao      6000.00       2000.00\n");
  auto csv = testing::RunLedgerctl({"reconcile", "--dir", d, "--bank-file", file, "--format", "csv"});
  CHECK(csv.out.find("line,end_to_end_id,category,bank yuan,ledger yuan,programme,period,reason\n"
                     "2,P1,matched,1000.00,1000.00,urban_dibao,202402,\n") == 0);
  CHECK(csv.out.find("\n8,P6,returned,1000.00,1000.00,urban_dibao,202402,\"name, ID mismatch\"\n"
                     ",P5,missing result,,1000.00,urban_dibao,202402,\n") != std::string::npos);
  auto json = testing::RunLedgerctl({"reconcile", "--dir", d, "--bank-file", file, "--format", "json"});
  CHECK(json.out.find(R"({"category":"unknown","endToEndId":"P9","bank":{"line":6,"amountFen":100000,)"
                      R"("status":"settled","reason":"","bankReference":"B9","date":"2024-02-10"},"ledger":null})") !=
        std::string::npos);

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

// More results than one group of --apply (ledgerctl records them 1000 at a time): each recorded
// once, and a second run records nothing new.
TEST_CASE("ledgerctl reconcile --apply past one group records each result once") {
  testing::TempDir dir;
  const int n = 2100;
  {
    auto l = testing::NewLedger(dir.Sub("l"));
    for (const auto& r : testing::AppendLines(l.get(), ManyHouseholds(n))) REQUIRE(r.error.ok());
  }
  std::string text = "end_to_end_id,amount,status,reason,bank_reference,date\n";
  for (int i = 0; i < n; ++i) {
    if (i % 100 == 0) continue;  // Missing results: nothing to record.
    text += fmt::format("Q{:05},{},{},,B{},20240210\n", i, i % 3 == 0 ? "999.00" : "1000.00",
                        i % 13 == 0 ? "failed" : "settled", i);
  }
  text += "U1,1.00,settled,,B,20240210\nQ00001,1000.00,settled,,B1,20240210\n";  // Unknown, duplicate.
  const std::string file = WriteFile(dir, "bank.csv", text);
  int recorded = 0;  // Matched, failed and paid after exit; amount mismatches are not recorded.
  for (int i = 0; i < n; ++i) recorded += i % 100 != 0 && (i % 3 != 0 || i % 13 == 0);
  auto apply = [&] {
    return testing::RunLedgerctl({"reconcile", "--dir", dir.Sub("l"), "--bank-file", file, "--apply", "yes", "--actor",
                                  "fin1", "--format", "csv"});
  };
  auto first = apply();
  CHECK(first.exit_code == 1);
  CHECK(first.out.find(fmt::format("applied: {} results recorded, 0 already recorded, 0 refused", recorded)) !=
        std::string::npos);
  auto second = apply();
  CHECK(second.out.find(fmt::format("applied: 0 results recorded, {} already recorded, 0 refused", recorded)) !=
        std::string::npos);
  auto show = testing::RunLedgerctl({"replay", "--dir", dir.Sub("l"), "--household", "M02099"});
  CHECK(show.out.find("paymentSettled") != std::string::npos);
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
      {"end_to_end_id,amount,status\nP1,1.00,settled\nP 2,1.00,settled\n", "line 3, column end_to_end_id"},
      {"end_to_end_id,amount,status,bank_reference\nP1,1.00,settled,\"B\x01\"\n", "line 2, column bank_reference"},
      {"end_to_end_id,amount,status,reason\nP1,1.00,failed,\"a\tb\x7f\"\n", "line 2, column reason"},
      {"end_to_end_id,amount,status,date\nP1,1.00,settled,2024-02-30\n", "line 2, column date"},
      {"id,amount,status\nP1,1.00,settled\n", "line 1, column end_to_end_id"},
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

// The library builds the events that record bank results (reconcile::BankResultEvent); before,
// ledgerctl wrote them as JSON text and parsed it. A file applied then and applied again now must
// find the same content under the same event id ("already recorded", not a conflict): the events
// are byte for byte what the JSON made, empty texts included.
TEST_CASE("bank result events are byte for byte the events their JSON form made") {
  using ledger::reconcile::BankStatus;
  const char* kJson[] = {
      R"({"eventId":"bank-P1-settled","householdId":"H1","regionCode":"341502001001","actorId":"fin1","businessDate":20240305,"paymentSettled":{"paymentId":"P1","bankReference":"B1","settledDate":20240305}})",
      R"({"eventId":"bank-P1-failed","householdId":"H1","regionCode":"341502001001","actorId":"fin1","businessDate":20240301,"paymentFailed":{"paymentId":"P1","reason":"","bankReference":""}})",
      R"({"eventId":"bank-P1-returned","householdId":"H1","regionCode":"341502001001","actorId":"fin1","businessDate":20240301,"paymentReturned":{"paymentId":"P1","amountFen":100000,"reason":"closed account","bankReference":"B2"}})",
  };
  const BankStatus kStatus[] = {BankStatus::kSettled, BankStatus::kFailed, BankStatus::kReturned};
  const uint32_t kValueDate[] = {20240305, 0, 0};  // 0: the date given to apply (20240301).
  const char* kReason[] = {"", "", "closed account"};
  const char* kReference[] = {"B1", "", "B2"};
  for (int i = 0; i < 3; ++i) {
    CAPTURE(i);
    ledger::reconcile::Match m;
    m.category = ledger::reconcile::Category::kMatched;
    m.line = ledger::reconcile::BankLine{2, "P1", 100000, kStatus[i], kReason[i], kReference[i], kValueDate[i]};
    m.payment = ledger::reconcile::LedgerPayment{"P1", "H1", "341502001001", 100000, 202402, 1};
    capnp::MallocMessageBuilder built, parsed;
    ledger::reconcile::BankResultEvent(m, "fin1", 20240301, &built);
    REQUIRE(ledger::ParseEventJson(kJson[i], &parsed).ok());
    CHECK(ledger::CanonicalEvent(built.getRoot<ledger::schema::Event>().asReader()) ==
          ledger::CanonicalEvent(parsed.getRoot<ledger::schema::Event>().asReader()));
  }
}
