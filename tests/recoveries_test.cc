// Retroactive exits and the recoveries they make (rules.h exit.overpayment, recoveries.h,
// ledgerctl recoveries): a death recorded two months after the last month it should have been
// paid is accepted under enforce with one finding per payment after it; the recoveries report
// shows the amount those payments paid, computed here independently from the input; trace shows
// the findings as red flags; a recoveryOrdered and a bank return reduce what is outstanding, and
// an annulled order no longer does, here or in the funding totals; reconcile's "paid after exit"
// names the same payments; rebuilding the state changes none of it; and the command refuses
// wrong options, unknown households and regions, saying why.
#include "ledger/reports/recoveries.h"

#include <capnp/message.h>
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "ledger/domain/json.h"
#include "testing/history.h"
#include "tests/test_util.h"

namespace {

constexpr const char* kHousehold = "H0000";  // Urban 低保, paid every month of the generated year.
constexpr const char* kCase = "C-H0000";
constexpr uint32_t kLastPeriod = 202411;  // The month of death: paid until then.

// The payments of `case_id` for months after `last_period` that the input says were paid out
// (issued and not failed), by payment id: what the ledger must find to recover.
std::map<std::string, int64_t> PaidAfter(const std::vector<std::string>& lines, const std::string& case_id,
                                         uint32_t last_period) {
  std::map<std::string, int64_t> paid;
  std::set<std::string> failed;
  for (const auto& line : lines) {
    capnp::MallocMessageBuilder m;
    REQUIRE(ledger::ParseEventJson(line, &m).ok());
    auto ev = m.getRoot<ledger::schema::Event>().asReader();
    if (ev.isPaymentIssued() && ev.getPaymentIssued().getCaseId() == case_id &&
        ev.getPaymentIssued().getPeriod() > last_period) {
      paid[ev.getPaymentIssued().getPaymentId()] = ev.getPaymentIssued().getAmountFen();
    }
    if (ev.isPaymentFailed()) failed.insert(ev.getPaymentFailed().getPaymentId());
  }
  for (const auto& id : failed) paid.erase(id);
  return paid;
}

// Rows of `ledgerctl … --format csv` as column name -> cell (no cell here holds a comma).
std::vector<std::map<std::string, std::string>> Csv(const std::string& text) {
  std::vector<std::vector<std::string>> cells;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    std::vector<std::string> row;
    std::istringstream fields(line);
    for (std::string f; std::getline(fields, f, ',');) row.push_back(f);
    cells.push_back(row);
  }
  std::vector<std::map<std::string, std::string>> rows;
  for (size_t r = 1; r < cells.size(); ++r) {
    std::map<std::string, std::string> row;
    for (size_t c = 0; c < cells[0].size() && c < cells[r].size(); ++c) row[cells[0][c]] = cells[r][c];
    rows.push_back(row);
  }
  return rows;
}

std::string Yuan(int64_t fen) {
  return fmt::format("{}.{:02}", fen / 100, fen % 100);
}

std::string Event(const std::string& id, const std::string& actor, uint32_t date, const std::string& kind,
                  const std::string& body) {
  return testing::EventLine(id, kHousehold, "341502000000", actor, date, kind, body);
}

// The one recoveries row of the household, as ledgerctl prints it.
std::map<std::string, std::string> RecoveriesRow(const std::string& dir) {
  auto run = testing::RunLedgerctl({"recoveries", "--dir", dir, "--household", kHousehold, "--format", "csv"});
  REQUIRE_MESSAGE(run.exit_code == 0, run.err);
  auto rows = Csv(run.out);
  REQUIRE(rows.size() == 1);
  return rows[0];
}

// A generated county year (February 2024 to January 2025), lawful under enforce.
std::vector<std::string> YearLines() {
  testing::CountyYearOptions options;
  options.households = 8;
  return testing::CountyYear(options);
}

}  // namespace

TEST_CASE("a death recorded two months late: accepted, two overpayments to recover, flagged, reduced by orders") {
  testing::TempDir tmp;
  const auto lines = YearLines();
  const std::string dir = testing::LedgerctlLedger(tmp.Sub("l"), lines, "enforce");
  const auto expected = PaidAfter(lines, kCase, kLastPeriod);
  REQUIRE(expected.size() == 2);  // December and January were paid.
  int64_t due_fen = 0;
  for (const auto& [id, fen] : expected) due_fen += fen;

  // Before the death is known, nothing is to be recovered.
  auto before = testing::RunLedgerctl({"recoveries", "--dir", dir, "--region", "341502", "--format", "csv"});
  REQUIRE(before.exit_code == 0);
  CHECK(Csv(before.out).empty());

  // The death, recorded on 20 January with November its last month: accepted under enforce.
  auto death = testing::RunLedgerctl(
      {"append", "--dir", dir},
      Event("H0000-death", "ca1", 20250120, "exit",
            fmt::format(R"("caseId":"{}","reason":"death","lastPeriod":{},"note":"死亡, 1 月获知")", kCase,
                        kLastPeriod)) +
          "\n");
  INFO(death.out);
  REQUIRE(death.exit_code == 0);
  CHECK(death.out.find(R"("status":"created")") != std::string::npos);
  size_t findings = 0;
  for (size_t at = death.out.find("exit.overpayment"); at != std::string::npos;
       at = death.out.find("exit.overpayment", at + 1)) {
    ++findings;
  }
  CHECK(findings == expected.size());
  for (const auto& [id, fen] : expected) {
    CHECK(death.out.find(fmt::format(R"(payment \"{}\" of {} yuan)", id, Yuan(fen))) != std::string::npos);
  }

  // The recoveries row: both payments, what they paid, all outstanding; the same in the region's report.
  auto row = RecoveriesRow(dir);
  CHECK(row["case"] == kCase);
  CHECK(row["paid until"] == std::to_string(kLastPeriod));
  CHECK(row["payments"] == "2");
  CHECK(row["months"] == "202412 202501");
  CHECK(row["due yuan"] == Yuan(due_fen));
  CHECK(row["ordered yuan"] == "0.00");
  CHECK(row["outstanding yuan"] == Yuan(due_fen));
  auto region = testing::RunLedgerctl({"recoveries", "--dir", dir, "--region", "341502", "--format", "csv"});
  REQUIRE(region.exit_code == 0);
  auto region_rows = Csv(region.out);
  REQUIRE(region_rows.size() == 1);
  CHECK(region_rows[0] == row);

  // trace: a red flag per payment, with the rule id, the exit and the payment's event.
  auto trace = testing::RunLedgerctl({"trace", "--dir", dir, "--household", kHousehold, "--format", "csv"});
  REQUIRE(trace.exit_code == 0);
  size_t flags = 0;
  REQUIRE(trace.out.find("seq,household,rule,") != std::string::npos);  // The red flags follow the chains.
  for (const auto& r : Csv(trace.out.substr(trace.out.find("seq,household,rule,")))) {
    if (r.count("rule") == 0 || r.at("rule") != "exit.overpayment") continue;
    ++flags;
    CHECK(r.at("events").rfind("H0000-death ", 0) == 0);
    CHECK(expected.count(r.at("events").substr(std::string("H0000-death ").size())) == 1);
  }
  CHECK(flags == expected.size());

  // Reconcile: the bank's statement of the two transfers says "paid after exit" for exactly these.
  std::string bank = "end_to_end_id,amount,status,reason,bank_reference\n";
  for (const auto& [id, fen] : expected) bank += fmt::format("{},{},settled,,B-{}\n", id, Yuan(fen), id);
  testing::TempDir files;
  { std::ofstream(files.Sub("bank.csv")) << bank; }
  auto reconcile =
      testing::RunLedgerctl({"reconcile", "--dir", dir, "--bank-file", files.Sub("bank.csv"), "--format", "csv"});
  std::set<std::string> after_exit;
  for (const auto& r : Csv(reconcile.out)) {
    if (r.count("category") && r.at("category") == "paid after exit") after_exit.insert(r.at("end_to_end_id"));
  }
  std::set<std::string> expected_ids;
  for (const auto& [id, fen] : expected) expected_ids.insert(id);
  CHECK(after_exit == expected_ids);

  // A recovery order for the first payment: outstanding falls by what it orders.
  const auto& [first_id, first_fen] = *expected.begin();
  const auto& [second_id, second_fen] = *expected.rbegin();
  auto order = testing::RunLedgerctl(
      {"append", "--dir", dir},
      Event("H0000-rec", "fin1", 20250125, "recoveryOrdered",
            fmt::format(R"("recoveryId":"RC-H0000","paymentIds":["{}"],"amountFen":{},"reason":"死亡后发放")", first_id,
                        first_fen)) +
          "\n");
  INFO(order.out);
  REQUIRE(order.exit_code == 0);
  row = RecoveriesRow(dir);
  CHECK(row["ordered yuan"] == Yuan(first_fen));
  CHECK(row["outstanding yuan"] == Yuan(due_fen - first_fen));
  // The funding totals count the order as recovered in the payment's month, by the same rule.
  auto totals = testing::RunLedgerctl({"totals", "--dir", dir, "--region", "341502", "--programme", "urban_dibao",
                                       "--from", "202412", "--to", "202412", "--format", "csv"});
  REQUIRE(totals.exit_code == 0);
  auto totals_rows = Csv(totals.out);
  REQUIRE(totals_rows.size() == 1);
  CHECK(totals_rows[0]["recovered"] == Yuan(first_fen));

  // The bank returns the second transfer (the account of the dead was closed): recovered.
  auto returned = testing::RunLedgerctl(
      {"append", "--dir", dir},
      Event("H0000-ret", "fin1", 20250128, "paymentReturned",
            fmt::format(R"("paymentId":"{}","amountFen":{},"reason":"account closed","bankReference":"BR1")", second_id,
                        second_fen)) +
          "\n");
  REQUIRE_MESSAGE(returned.exit_code == 0, returned.out);
  row = RecoveriesRow(dir);
  CHECK(row["recovered yuan"] == Yuan(second_fen));
  CHECK(row["outstanding yuan"] == "0.00");

  // The order was a mistake (wrong payment): annulled, it no longer counts, here or in the totals.
  auto annul = testing::RunLedgerctl(
      {"append", "--dir", dir},
      Event("H0000-rec-annul", "ca1", 20250129, "correction",
            R"("targetEventId":"H0000-rec","reason":"追回决定有误","secondActorId":"ca2","annul":null)") +
          "\n");
  REQUIRE_MESSAGE(annul.exit_code == 0, annul.out);
  row = RecoveriesRow(dir);
  CHECK(row["ordered yuan"] == "0.00");
  CHECK(row["outstanding yuan"] == Yuan(first_fen));
  totals = testing::RunLedgerctl({"totals", "--dir", dir, "--region", "341502", "--programme", "urban_dibao", "--from",
                                  "202412", "--to", "202412", "--format", "csv"});
  CHECK(Csv(totals.out).at(0)["recovered"] == "0.00");

  // Ordered again: outstanding back to nothing.
  auto again = testing::RunLedgerctl(
      {"append", "--dir", dir},
      Event("H0000-rec2", "fin1", 20250130, "recoveryOrdered",
            fmt::format(R"("recoveryId":"RC-H0000-2","paymentIds":["{}"],"amountFen":{},"reason":"死亡后发放")",
                        first_id, first_fen)) +
          "\n");
  REQUIRE_MESSAGE(again.exit_code == 0, again.out);
  row = RecoveriesRow(dir);
  CHECK(row["ordered yuan"] == Yuan(first_fen));
  CHECK(row["outstanding yuan"] == "0.00");

  // The state rebuilt from the log gives every entry the findings it recorded, and the same row.
  auto rebuild = testing::RunLedgerctl({"rebuild", "--dir", dir});
  CHECK_MESSAGE(rebuild.exit_code == 0, std::string(rebuild.out + rebuild.err));
  CHECK(RecoveriesRow(dir) == row);
  CHECK(testing::RunLedgerctl({"verify", "--dir", dir}).exit_code == 0);

  // The library's row is the one printed.
  auto l = testing::OpenLedger(dir);
  std::vector<ledger::recoveries::Row> rows;
  REQUIRE(ledger::recoveries::ForHousehold(l->store(), kHousehold, &rows).ok());
  REQUIRE(rows.size() == 1);
  CHECK(rows[0].due_fen == due_fen);
  CHECK(rows[0].ordered_fen == first_fen);  // The second order; the first was annulled.
  CHECK(rows[0].recovered_fen == second_fen);
  CHECK(rows[0].outstanding_fen == 0);
  CHECK(ledger::recoveries::ForHousehold(l->store(), "H9999", &rows).code() == ledger::Status::Code::kNotFound);
}

TEST_CASE("an exit annulled by a correction leaves nothing to recover") {
  testing::TempDir tmp;
  const auto lines = YearLines();
  const std::string dir = testing::LedgerctlLedger(tmp.Sub("l"), lines, "enforce");
  const auto expected = PaidAfter(lines, kCase, 202412);  // Only January's payment.
  REQUIRE(expected.size() == 1);
  const auto& [id, fen] = *expected.begin();
  std::string input = Event("H0000-death", "ca1", 20250120, "exit",
                            fmt::format(R"("caseId":"{}","reason":"death","lastPeriod":202412)", kCase)) +
                      "\n";
  REQUIRE(testing::RunLedgerctl({"append", "--dir", dir}, input).exit_code == 0);
  auto row = RecoveriesRow(dir);
  CHECK(row["due yuan"] == Yuan(fen));
  CHECK(row["months"] == "202501");

  // Annulled, the exit makes nothing to recover.
  std::string annul = Event("H0000-annul", "ca1", 20250122, "correction",
                            R"("targetEventId":"H0000-death","reason":"误报死亡","secondActorId":"ca2","annul":null)") +
                      "\n";
  auto annulled = testing::RunLedgerctl({"append", "--dir", dir}, annul);
  REQUIRE_MESSAGE(annulled.exit_code == 0, annulled.out);
  auto none = testing::RunLedgerctl({"recoveries", "--dir", dir, "--household", kHousehold, "--format", "csv"});
  CHECK(Csv(none.out).empty());
}

TEST_CASE("ledgerctl recoveries: wrong options and unknown households or regions are refused, saying why") {
  testing::TempDir tmp;
  const std::string dir = testing::LedgerctlLedger(tmp.Sub("l"), YearLines(), "enforce");
  auto both = testing::RunLedgerctl({"recoveries", "--dir", dir, "--household", kHousehold, "--region", "341502"});
  CHECK(both.exit_code == 2);
  CHECK(both.err.find("--household is not combined with --region") != std::string::npos);
  auto region = testing::RunLedgerctl({"recoveries", "--dir", dir, "--region", "34150"});
  CHECK(region.exit_code == 2);
  CHECK(region.err.find("not a region prefix") != std::string::npos);
  auto nobody = testing::RunLedgerctl({"recoveries", "--dir", dir, "--household", "H9999"});
  CHECK(nobody.exit_code == 1);
  CHECK(nobody.err.find("no household \"H9999\"") != std::string::npos);
  auto elsewhere = testing::RunLedgerctl({"recoveries", "--dir", dir, "--region", "110101"});
  CHECK(elsewhere.exit_code == 1);
  CHECK(elsewhere.err.find("no household in region 110101") != std::string::npos);
  auto programme = testing::RunLedgerctl({"recoveries", "--dir", dir, "--programme", "dibao"});
  CHECK(programme.exit_code == 2);
}
