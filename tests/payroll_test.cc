// Payroll (ledger/payroll.h, ledgerctl payroll): a county's month issued from the ledger's own
// state matches what the history says is due, issuing twice issues nothing, the bank file
// carries the roll's count and sum with masked cards only, cases that may not be paid are left
// off with the reason, and a card named by reference must be on file for the household.
#include "ledger/reports/payroll.h"

#include <doctest/doctest.h>
#include <fmt/format.h>

#include <fstream>
#include <map>
#include <sstream>

#include "ledger/domain/identity.h"
#include "ledger/domain/json.h"
#include "testing/history.h"
#include "tests/test_util.h"

namespace {

using ledger::AppendResult;
using ledger::payroll::Plan;
using ledger::payroll::Request;

constexpr auto Field = testing::JsonMember;  // testing/events.h

// Regular payments of `programme` for `period` in the generated history: case id -> amount.
std::map<std::string, int64_t> PaidIn(const std::vector<std::string>& lines, const std::string& programme,
                                      const std::string& period) {
  std::map<std::string, int64_t> paid;
  for (const auto& l : lines) {
    bool regular = l.find("\"paymentIssued\"") != std::string::npos && Field(l, "programme") == programme &&
                   Field(l, "period") == period && Field(l, "supplementaryReason").empty();
    if (regular) paid[Field(l, "caseId")] = std::stoll(Field(l, "amountFen"));
  }
  return paid;
}

// Card number given at application, by case id.
std::map<std::string, std::string> CardsOf(const std::vector<std::string>& lines) {
  std::map<std::string, std::string> cards;
  for (const auto& l : lines) {
    if (l.find("\"applicationSubmitted\"") == std::string::npos || Field(l, "payeeCard").empty()) continue;
    cards[Field(l, "caseId")] = Field(l.substr(l.find("\"payeeCard\"")), "number");
  }
  return cards;
}

std::vector<std::string> TwoYears() {
  return testing::CountyYear({.seed = 21, .households = 30, .years = 2});  // Rolls up to 202601.
}

Request Feb2026(ledger::schema::Programme p = ledger::schema::Programme::RURAL_DIBAO, std::string actor = "fin1") {
  return {"341502", p, 202602, std::move(actor), 20260205};
}

std::vector<AppendResult> Issue(ledger::Log* l, const Plan& plan, const Request& r) {
  auto owned = ledger::payroll::Events(plan, r);
  std::vector<capnp::MessageBuilder*> group;
  for (auto& m : owned) group.push_back(m.get());
  std::vector<AppendResult> results;
  REQUIRE(l->AppendGroup(group, &results, ledger::Log::GroupMode::kAllOrNothing).ok());
  return results;
}

void AppendAll(ledger::Log* l, const std::vector<std::string>& lines) {
  auto results = testing::AppendLines(l, lines);
  for (size_t i = 0; i < results.size(); ++i) {
    std::string why = results[i].error.ToString() + (results[i].findings.empty() ? "" : results[i].findings[0].rule);
    if (results[i].outcome != AppendResult::Outcome::kCreated) FAIL_CHECK(lines[i] << ": " << why);
    REQUIRE(results[i].outcome == AppendResult::Outcome::kCreated);
  }
}

}  // namespace

TEST_CASE("payroll issues one payment per payable case, for its entitlement, to its card on file") {
  testing::TempDir dir;
  auto lines = TwoYears();
  auto l = testing::NewLedger(dir.Sub("l"), ledger::Policy::kEnforce);
  AppendAll(l.get(), lines);
  // Nothing changes between January and February: February's roll is January's regular one.
  auto expected = PaidIn(lines, "rural_dibao", "202601");
  REQUIRE(expected.size() > 10);
  auto cards = CardsOf(lines);

  Plan plan;
  REQUIRE(ledger::payroll::MakePlan(*l, Feb2026(), &plan).ok());
  CHECK(plan.roll_id == "R-341502-rural_dibao-202602");
  CHECK_FALSE(plan.roll_exists);
  CHECK(plan.skipped.empty());
  std::map<std::string, int64_t> planned;
  int64_t sum = 0;
  for (const auto& line : plan.lines) {
    planned[line.case_id] = line.amount_fen;
    sum += line.amount_fen;
    CHECK(line.card_masked == ledger::MaskCardNumber(cards.at(line.case_id)));
  }
  CHECK(planned == expected);
  CHECK(plan.control_sum_fen == sum);

  uint64_t head = l->head().seq;
  auto results = Issue(l.get(), plan, Feb2026());
  for (const auto& r : results) CHECK_MESSAGE(r.outcome == AppendResult::Outcome::kCreated, r.error.ToString());
  CHECK(l->head().seq == head + expected.size() + 1);

  SUBCASE("issuing again issues nothing") {
    Plan again;
    REQUIRE(ledger::payroll::MakePlan(*l, Feb2026(), &again).ok());
    CHECK(again.roll_exists);
    CHECK(again.lines.empty());
    CHECK(again.already_paid == expected.size());
    CHECK(ledger::payroll::Events(again, Feb2026()).empty());
  }
  SUBCASE("the issued roll reads back for export, with masked cards and the control sum") {
    ledger::payroll::IssuedRoll roll;
    REQUIRE(ledger::payroll::ReadRoll(*l, plan.roll_id, &roll).ok());
    CHECK(roll.lines.size() == expected.size());
    CHECK(roll.sum_fen == sum);
    for (const auto& line : roll.lines) {
      CHECK(line.amount_fen == expected.at(line.case_id));
      CHECK(line.card_masked == ledger::MaskCardNumber(cards.at(line.case_id)));
      CHECK(line.payee_name == line.household + "-0");
    }
  }
  SUBCASE("the state after a generated roll equals the state rebuilt from the log") {
    ledger::Log::RebuildReport report;
    REQUIRE(l->Rebuild(&report).ok());
    CHECK(report.mismatches == 0);
  }
}

TEST_CASE("payroll leaves off suspended, review-overdue and cardless cases, saying why") {
  testing::TempDir dir;
  auto lines = TwoYears();
  // Two households join in January 2026 without a card; one more is suspended for February.
  auto l = testing::NewLedger(dir.Sub("l"), ledger::Policy::kEnforce);
  AppendAll(l.get(), lines);
  auto paid = PaidIn(lines, "rural_dibao", "202601");
  auto suspend = [&](const std::string& case_id, uint32_t from) {
    AppendAll(l.get(),
              {testing::EventLine("sus-" + case_id, case_id.substr(2), "341502000000", "ca1", 20260120, "suspension",
                                  fmt::format(R"("caseId":"{}","fromPeriod":{},"reason":"did not attend")", case_id,
                                              from))});  // "C-H0001" is household "H0001"'s case.
  };
  std::string suspended_case = paid.begin()->first, later_case = std::next(paid.begin())->first;
  suspend(suspended_case, 202602);
  suspend(later_case, 202603);  // Suspended from March: still paid for February.
  Plan plan;
  REQUIRE(ledger::payroll::MakePlan(*l, Feb2026(), &plan).ok());
  REQUIRE(plan.skipped.size() == 1);
  CHECK(plan.skipped[0].case_id == suspended_case);
  CHECK(plan.skipped[0].reason == "suspended this month");
  CHECK(plan.lines.size() == paid.size() - 1);
  CHECK(
      std::any_of(plan.lines.begin(), plan.lines.end(), [&](const auto& line) { return line.case_id == later_case; }));

  // A year later nobody has been reviewed: every case is left off, each with its due date.
  Request late = Feb2026();
  late.period = 202702;
  REQUIRE(ledger::payroll::MakePlan(*l, late, &plan).ok());
  CHECK(plan.lines.empty());
  REQUIRE(plan.skipped.size() == paid.size());
  for (const auto& s : plan.skipped) {
    bool is_suspended = s.case_id == suspended_case || s.case_id == later_case;
    std::string expected = is_suspended ? "suspended this month" : "while the review of case";
    CHECK_MESSAGE(s.reason.find(expected) != std::string::npos, s.case_id << ": " << s.reason);
  }
}

TEST_CASE("a case approved without a card on file is left off until it has one") {
  testing::TempDir dir;
  auto lines = testing::CountyYear({.seed = 4, .households = 8});
  for (auto& line : lines) {  // Applications without the payee card, and no payments at all.
    size_t at = line.find(R"(,"payeeCard")");
    if (at != std::string::npos) line.erase(at, line.find('}', at) + 1 - at);
  }
  std::erase_if(lines, [](const std::string& line) {
    return line.find("\"payment") != std::string::npos || line.find("\"fundsAllocated\"") != std::string::npos;
  });
  auto l = testing::NewLedger(dir.Sub("l"), ledger::Policy::kEnforce);
  AppendAll(l.get(), lines);
  Plan plan;
  Request r = Feb2026();
  r.period = 202412;
  REQUIRE(ledger::payroll::MakePlan(*l, r, &plan).ok());
  CHECK(plan.lines.empty());
  REQUIRE_FALSE(plan.skipped.empty());
  for (const auto& s : plan.skipped) CHECK(s.reason.find("no bank card on file") == 0);
}

TEST_CASE("a roll the rules refuse is not issued at all") {
  testing::TempDir dir;
  auto l = testing::NewLedger(dir.Sub("l"), ledger::Policy::kEnforce);
  AppendAll(l.get(), TwoYears());
  Plan plan;
  // A county approver may issue the roll, but not the payments on it.
  Request by_approver = Feb2026(ledger::schema::Programme::RURAL_DIBAO, "ca1");
  REQUIRE(ledger::payroll::MakePlan(*l, by_approver, &plan).ok());
  REQUIRE_FALSE(plan.lines.empty());
  uint64_t head = l->head().seq;
  auto results = Issue(l.get(), plan, by_approver);
  CHECK(results.front().outcome == AppendResult::Outcome::kRejected);
  CHECK(results.front().error.reason().find("all or nothing and event 1 of it") != std::string::npos);
  CHECK(results.front().dropped_with_group);
  for (size_t i = 1; i < results.size(); ++i) {
    CHECK(results[i].outcome == AppendResult::Outcome::kRejected);
    CHECK_FALSE(results[i].dropped_with_group);
    CHECK(results[i].findings.at(0).rule == "actor.role");
  }
  CHECK(l->head().seq == head);
  REQUIRE(ledger::payroll::MakePlan(*l, Feb2026(), &plan).ok());
  CHECK_FALSE(plan.roll_exists);
}

TEST_CASE("a card named by reference must be on file for the household") {
  testing::TempDir dir;
  auto lines = TwoYears();
  auto l = testing::NewLedger(dir.Sub("l"), ledger::Policy::kRecord);
  AppendAll(l.get(), lines);
  Plan plan;
  REQUIRE(ledger::payroll::MakePlan(*l, Feb2026(), &plan).ok());
  REQUIRE(plan.lines.size() >= 2);
  // Pay the first line's household to the second line's card: refused, under record too.
  plan.lines[0].card_hash = plan.lines[1].card_hash;
  plan.lines[0].card_masked = plan.lines[1].card_masked;
  uint64_t head = l->head().seq;
  auto results = Issue(l.get(), plan, Feb2026());
  CHECK(results[1].outcome == AppendResult::Outcome::kRejected);
  CHECK(results[1].error.field() == "paymentIssued.card.keyedHash");
  CHECK(results[1].error.reason().find("not on file for household") != std::string::npos);
  CHECK(l->head().seq == head);

  SUBCASE("a writer may not set onFile, nor give masked with a number") {
    std::string base = fmt::format(
        R"({{"eventId":"x","householdId":"{}","regionCode":"341502000000","actorId":"fin1","businessDate":20260205,"paymentIssued":{{"paymentId":"X1","rollId":"R-341502-rural_dibao-202601","caseId":"{}","programme":"rural_dibao","period":202601,"amountFen":1,"payeeName":"n","card":{}}}}})",
        plan.lines[0].household, plan.lines[0].case_id, "{}");
    auto with_card = [&](const std::string& card) { return base.substr(0, base.size() - 4) + card + "}}"; };
    auto r = testing::AppendLine(l.get(), with_card(R"({"number":"6217002800000000001","onFile":true})"));
    CHECK(r.error.field() == "paymentIssued.card.onFile");
    r = testing::AppendLine(l.get(), with_card(R"({"number":"6217002800000000001","masked":"6217***********0001"})"));
    CHECK(r.error.field() == "paymentIssued.card.masked");
    r = testing::AppendLine(l.get(), with_card(R"({"keyedHash":"00","masked":"6217***********0001"})"));
    CHECK(r.error.field() == "paymentIssued.card.keyedHash");
    CHECK(l->head().seq == head);
  }
}

TEST_CASE("ledgerctl payroll: issue, issue again, export, and clear errors") {
  testing::TempDir dir;
  std::string d = testing::LedgerctlLedger(dir.Sub("l"), TwoYears());
  std::vector<std::string> issue = {"payroll", "issue",       "--dir",       d,          "--county",
                                    "341502",  "--programme", "rural_dibao", "--period", "2026-02",
                                    "--actor", "fin1",        "--date",      "20260205"};
  auto r = testing::RunLedgerctl(issue);
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  CHECK(r.out.find("issued roll R-341502-rural_dibao-202602:") != std::string::npos);
  r = testing::RunLedgerctl(issue);
  CHECK(r.exit_code == 0);
  CHECK(r.out.find("was issued before: nothing issued") != std::string::npos);

  std::string csv = dir.Sub("bank.csv");
  r = testing::RunLedgerctl({"payroll", "export", "--dir", d, "--roll", "R-341502-rural_dibao-202602", "--out", csv});
  REQUIRE_MESSAGE(r.exit_code == 0, r.err);
  std::ifstream in(csv);
  std::string header, record, columns, line;
  std::getline(in, header);
  std::getline(in, record);
  std::getline(in, columns);
  CHECK(header == "roll_id,county,programme,period,line_count,control_sum");
  CHECK(columns == "end_to_end_id,card,payee_name,amount");
  int64_t count = 0, sum_fen = 0;
  while (std::getline(in, line)) {
    ++count;
    std::string amount = line.substr(line.rfind(',') + 1);
    sum_fen += std::stoll(amount.substr(0, amount.size() - 3)) * 100 + std::stoll(amount.substr(amount.size() - 2));
    CHECK(line.find("********") != std::string::npos);  // Cards masked: 4 + 11 stars + 4.
  }
  auto expected = PaidIn(TwoYears(), "rural_dibao", "202601");
  int64_t expected_sum = 0;
  for (const auto& [c, fen] : expected) expected_sum += fen;
  CHECK(count == static_cast<int64_t>(expected.size()));
  CHECK(sum_fen == expected_sum);
  CHECK(record == fmt::format("R-341502-rural_dibao-202602,341502,rural_dibao,202602,{},{}.{:02}", count,
                              expected_sum / 100, expected_sum % 100));

  auto fails = [&](std::vector<std::string> args, int code, const std::string& message) {
    auto res = testing::RunLedgerctl(args);
    CHECK_MESSAGE(res.exit_code == code, res.err);
    CHECK_MESSAGE(res.err.find(message) != std::string::npos, res.err);
  };
  auto with = [&](size_t at, const std::string& value) {
    auto args = issue;
    args[at] = value;
    return args;
  };
  fails(with(5, "341599"), 1, "--county: no household in county \"341599\"");
  fails(with(7, "dibao"), 2, "unknown --programme \"dibao\"");
  fails(with(7, "temporary"), 2, "--programme: temporary is paid once per case");
  auto by_approver = with(11, "ca1");  // May issue the roll but not the payments: nothing issued,
  by_approver[7] = "urban_dibao";      // and the reason is the payments' rule, not "all or nothing".
  fails(by_approver, 1, "nothing issued: actor.role: a countyApprover may not record paymentIssued");
  fails(with(9, "2026-13"), 2, "--period must be a month");
  fails(with(7, "elderly_service"), 2, "--period: elderly_service is paid quarterly");
  fails({"payroll", "export", "--dir", d, "--roll", "R-nope", "--out", csv}, 1, "--roll: no roll \"R-nope\"");
  fails({"payroll", "pay", "--dir", d}, 2, "say issue or export");
}
