// Standard rises reach entitlements (rules.h MonthlyAmountInForce): a standardChanged effective
// from a month recomputes, from that month, the entitlement of every case of its region and
// programme by the programme's formula (低保: (standard − per-capita income) × members; flat
// programmes such as 特困: standard × members). Payroll, the roll, payment.amount and replay see
// the new amount from the effective month and the old one before it; a later individual
// adjustment wins until the next change. The expected amounts are computed here from the case's
// income and members, not by the code under test.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <string>

#include "ledger/reports/household_replay.h"
#include "ledger/reports/payroll.h"
#include "ledger/reports/queries.h"
#include "testing/history.h"
#include "tests/test_util.h"

namespace {

using ledger::AppendResult;
using ledger::schema::Programme;

// Two years of a county (rolls up to January 2026), lawful under enforce.
std::unique_ptr<ledger::Log> TwoYears(const testing::TempDir& dir) {
  auto l = testing::NewLedger(dir.Sub("l"), ledger::Policy::kEnforce);
  for (const auto& r : testing::AppendLines(l.get(), testing::CountyYear({.seed = 21, .households = 30, .years = 2}))) {
    REQUIRE_MESSAGE(r.outcome == AppendResult::Outcome::kCreated, r.error.ToString());
  }
  return l;
}

std::string Rise(const std::string& id, const std::string& programme, int64_t per_year_fen, uint32_t from) {
  return testing::EventLine(id, "", "341502000000", "admin1", 20260120, "standardChanged",
                            fmt::format(R"("regionPrefix":"341502","programme":"{}","amountFen":{},)"
                                        R"("unit":"perPersonPerYear","effectiveDate":{})",
                                        programme, per_year_fen, from));
}

ledger::payroll::Plan PlanFor(const ledger::Log& l, Programme p, uint32_t period) {
  ledger::payroll::Plan plan;
  REQUIRE(ledger::payroll::MakePlan(l, {"341502", p, period, "fin1", period * 100 + 5}, &plan).ok());
  return plan;
}

std::map<std::string, int64_t> Amounts(const ledger::payroll::Plan& plan) {
  std::map<std::string, int64_t> by_case;
  for (const auto& line : plan.lines) by_case[line.case_id] = line.amount_fen;
  return by_case;
}

// Each case of `programme` on the roll on `as_of`: its monthly amount.
std::map<std::string, int64_t> RollAmounts(const ledger::Log& l, Programme programme, uint32_t as_of) {
  std::vector<ledger::queries::RollRow> rows;
  REQUIRE(ledger::queries::Roll(l.store(), {"341502", static_cast<uint16_t>(programme)}, as_of, &rows).ok());
  std::map<std::string, int64_t> by_case;
  for (const auto& r : rows) by_case[r.case_id] = r.monthly_fen;
  return by_case;
}

// What the formula gives each case of a plan under a standard of `monthly_fen` per person.
std::map<std::string, int64_t> ByFormula(const ledger::Log& l, const ledger::payroll::Plan& plan, int64_t monthly_fen,
                                         bool gap) {
  std::map<std::string, int64_t> expected;
  for (const auto& line : plan.lines) {
    ledger::state::Household h;
    bool found = false;
    REQUIRE(ledger::queries::LoadState(l.store(), ledger::state::HouseholdKey(line.household), &h, &found).ok());
    REQUIRE(found);
    const ledger::state::Case* c = h.FindCase(line.case_id);
    REQUIRE(c != nullptr);
    int64_t per_person =
        gap ? std::max<int64_t>(0, monthly_fen - std::max<int64_t>(0, c->per_capita_income_fen)) : monthly_fen;
    expected[line.case_id] = per_person * c->entitlements.back().members;
  }
  return expected;
}

}  // namespace

TEST_CASE("a standard rise changes the next roll, the roll and replay from its month, for 低保 and a flat programme") {
  testing::TempDir dir;
  auto l = TwoYears(dir);
  const auto january_dibao = Amounts(PlanFor(*l, Programme::RURAL_DIBAO, 202602));  // Before the rise.
  const auto january_tekun = Amounts(PlanFor(*l, Programme::TEKUN_DISPERSED, 202602));
  REQUIRE(january_dibao.size() > 10);
  REQUIRE(january_tekun.size() > 0);
  CHECK(RollAmounts(*l, Programme::RURAL_DIBAO, 20260115) == january_dibao);

  // 提标 from 1 February 2026: rural 低保 to 6000 yuan a year, 特困 (dispersed) to 9000.
  REQUIRE(testing::AppendLine(l.get(), Rise("std-rural-2026-02", "rural_dibao", 600000, 20260201)).error.ok());
  REQUIRE(testing::AppendLine(l.get(), Rise("std-tekun-2026-02", "tekun_dispersed", 900000, 20260201)).error.ok());

  auto february = PlanFor(*l, Programme::RURAL_DIBAO, 202602);
  auto expected = ByFormula(*l, february, 50000, /*gap=*/true);  // 600000 / 12.
  CHECK(Amounts(february) == expected);
  CHECK(Amounts(february) != january_dibao);  // The rise changed something to check.
  auto tekun = PlanFor(*l, Programme::TEKUN_DISPERSED, 202602);
  CHECK(Amounts(tekun) == ByFormula(*l, tekun, 75000, /*gap=*/false));
  CHECK(Amounts(tekun) != january_tekun);

  // The roll: the old amounts in January, the new from February.
  CHECK(RollAmounts(*l, Programme::RURAL_DIBAO, 20260115) == january_dibao);
  CHECK(RollAmounts(*l, Programme::RURAL_DIBAO, 20260215) == expected);

  // Replay's state: the same case before and after the effective month.
  const auto& [some_case, new_fen] = *expected.begin();
  std::string household = february.lines.front().household;
  REQUIRE(february.lines.front().case_id == some_case);
  ledger::state::Household last;
  REQUIRE(ledger::ReplayHousehold(*l, household, [&](const ledger::HouseholdStep& s) { last = s.after; }).ok());
  auto yuan = [](int64_t fen) { return fmt::format("{}.{:02}/month", fen / 100, fen % 100); };
  CHECK(
      ledger::DescribeHousehold(*l, last, 202601).find(some_case + " approved " + yuan(january_dibao.at(some_case))) !=
      std::string::npos);
  CHECK(ledger::DescribeHousehold(*l, last, 202602).find(some_case + " approved " + yuan(new_fen)) !=
        std::string::npos);

  // payment.amount: the roll at the new amounts is accepted under enforce (the old ones would not be).
  auto owned = ledger::payroll::Events(february, {"341502", Programme::RURAL_DIBAO, 202602, "fin1", 20260205});
  std::vector<capnp::MessageBuilder*> group;
  for (auto& m : owned) group.push_back(m.get());
  std::vector<AppendResult> results;
  REQUIRE(l->AppendGroup(group, &results, ledger::Log::GroupMode::kAllOrNothing).ok());
  for (const auto& r : results) CHECK_MESSAGE(r.outcome == AppendResult::Outcome::kCreated, r.error.ToString());
  std::string old_amount =
      R"({"eventId":"P-old","householdId":")" + household +
      R"(","regionCode":"341502000000","actorId":"fin1","businessDate":20260206,"paymentIssued":{"paymentId":"P-old",)"
      R"("rollId":"R-341502-rural_dibao-202602","caseId":")" +
      some_case + R"(","programme":"rural_dibao","period":202602,"amountFen":)" +
      std::to_string(january_dibao.at(some_case)) +
      R"(,"card":{"number":"6217002800000000001"},"payeeName":"x",)"
      R"("supplementaryReason":"again"}})";
  auto refused = testing::AppendLine(l.get(), old_amount);
  CHECK(refused.outcome == AppendResult::Outcome::kRejected);
  bool amount_rule = false;
  for (const auto& f : refused.findings) amount_rule = amount_rule || f.rule == "payment.amount";
  CHECK(amount_rule);
}

TEST_CASE("a later individual adjustment wins over a standard rise until the next rise") {
  testing::TempDir dir;
  auto l = TwoYears(dir);
  REQUIRE(testing::AppendLine(l.get(), Rise("std-rural-2026-02", "rural_dibao", 600000, 20260201)).error.ok());
  auto february = PlanFor(*l, Programme::RURAL_DIBAO, 202602);
  REQUIRE(!february.lines.empty());
  const auto& line = february.lines.front();
  ledger::state::Household h;
  bool found = false;
  REQUIRE(ledger::queries::LoadState(l->store(), ledger::state::HouseholdKey(line.household), &h, &found).ok());
  const uint32_t members = h.FindCase(line.case_id)->entitlements.back().members;
  const int64_t adjusted_fen = line.amount_fen - 1000 * members;  // Below the formula: income rose.
  auto adjust = testing::AppendLine(
      l.get(), R"({"eventId":"adj-2026-03","householdId":")" + line.household +
                   R"(","regionCode":"341502000000","actorId":"ca1","businessDate":20260215,"entitlementAdjusted":)"
                   R"({"caseId":")" +
                   line.case_id + R"(","monthlyAmountFen":)" + std::to_string(adjusted_fen) + R"(,"membersCovered":)" +
                   std::to_string(members) + R"(,"fromPeriod":202603,"reason":"income rose"}})");
  REQUIRE_MESSAGE(adjust.outcome == AppendResult::Outcome::kCreated, adjust.error.ToString());

  CHECK(Amounts(PlanFor(*l, Programme::RURAL_DIBAO, 202602)).at(line.case_id) == line.amount_fen);
  auto march = Amounts(PlanFor(*l, Programme::RURAL_DIBAO, 202603));
  CHECK(march.at(line.case_id) == adjusted_fen);
  // Another case, not adjusted, keeps the standard's amount.
  const auto& other = february.lines.back();
  REQUIRE(other.case_id != line.case_id);
  CHECK(march.at(other.case_id) == other.amount_fen);

  // The next rise, from May, reaches the adjusted case too.
  REQUIRE(testing::AppendLine(l.get(), Rise("std-rural-2026-05", "rural_dibao", 660000, 20260501)).error.ok());
  auto may = PlanFor(*l, Programme::RURAL_DIBAO, 202605);
  CHECK(Amounts(may) == ByFormula(*l, may, 55000, /*gap=*/true));
  CHECK(Amounts(PlanFor(*l, Programme::RURAL_DIBAO, 202604)).at(line.case_id) == adjusted_fen);
}
