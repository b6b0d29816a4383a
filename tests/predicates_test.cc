// One definition per question (rules.h StandingIn): a case walked through approval, suspension,
// resumption, exit and gradual exit, month by month through a year, gets the same answer to "is
// it suspended / exited / payable in month M" from every tool — the payment rules (the findings
// on a payment issued for every month), payroll's plan, the roll on a date, replay's state on a
// date, reconcile's "paid after exit" (and the recoveries report) — and each agrees with the
// months the events name, written out here by hand. Each event is recorded before the month it
// takes effect, so that replay on a date (what was recorded by then) and the roll (what is known
// now) must agree; replay described a case by its latest status before, and said "suspended" for
// a month a suspension had not reached.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <set>

#include "ledger/domain/rules.h"
#include "ledger/reports/household_replay.h"
#include "ledger/reports/payroll.h"
#include "ledger/reports/queries.h"
#include "ledger/reports/reconcile.h"
#include "ledger/reports/recoveries.h"
#include "ledger/reports/results.h"
#include "tests/test_util.h"

using ledger::rules::Standing;

namespace {

constexpr const char* kRegion = "341502001001";
constexpr const char* kCounty = "341502000000";

struct Dated {
  uint32_t date;
  std::string line;
};

// One event line (testing/events.h).
constexpr auto E = testing::EventLine;  // (id, household, region, actor, date, kind, body)

// Actors, the standard, and for H1 and H2 the same case through the whole procedure (approved on
// 20240122 for 500 yuan a month from 202402), suspended from 202404 (recorded 20240310), resumed
// from 202406 (recorded 20240510), exited for income above the line with last month 202408 and
// two months of gradual exit (recorded 20240810). H1 is paid for every month of 2024 on a roll of
// its own (the rules flag the months it may not be paid); H2 is never paid, for payroll to plan.
std::vector<std::string> Walk() {
  std::vector<Dated> d;
  auto add = [&](uint32_t date, std::string line) { d.push_back({date, std::move(line)}); };
  add(20240102, E("act-admin1", "", kCounty, "admin1", 20240102, "actorRegistered",
                  R"("newActorId":"admin1","name":"a","role":"administrator","jurisdiction":"341502")"));
  for (auto [id, role] : std::vector<std::pair<std::string, std::string>>{{"cw1", "caseworker"},
                                                                          {"cw2", "caseworker"},
                                                                          {"tr1", "townshipReviewer"},
                                                                          {"ca1", "countyApprover"},
                                                                          {"fin1", "financeOfficer"}}) {
    add(20240102, testing::ActorRegistered(kCounty, "admin1", {.id = id, .role = role, .jurisdiction = "341502"}));
  }
  add(20240103,
      E("std", "", kCounty, "admin1", 20240103, "standardChanged",
        R"("regionPrefix":"341502","programme":"urban_dibao","amountFen":75000,"unit":"perPersonPerMonth","effectiveDate":20240101)"));
  for (int h = 1; h <= 2; ++h) {
    std::string hid = fmt::format("H{}", h), c = fmt::format("C{}", h);
    std::string person = testing::IdentityNumber(fmt::format("3415021952031412{}", h));
    std::string card = fmt::format("622848001234567890{}", h);
    auto ev = [&](const std::string& suffix, const std::string& actor, uint32_t date, const std::string& kind,
                  const std::string& body) { add(date, E(c + "-" + suffix, hid, kRegion, actor, date, kind, body)); };
    ev("reg", "cw1", 20240105, "householdRegistered",
       testing::HouseholdMembers({testing::Member(person, "m", "head")}));
    ev("app", "cw1", 20240106, "applicationSubmitted",
       fmt::format(
           R"("caseId":"{}","programme":"urban_dibao","declaredMonthlyIncomeFen":20000,"payeeCard":{{"number":"{}"}},"payeeName":"m")",
           c, card));
    ev("chk", "cw1", 20240108, "economicCheckRecorded",
       fmt::format(R"("caseId":"{}","perCapitaMonthlyIncomeFen":20000,"assetsWithinLimit":true,"secondActorId":"cw2")",
                   c));
    ev("vis", "cw1", 20240110, "homeVisitRecorded",
       fmt::format(R"("caseId":"{}","secondActorId":"cw2","countyLevel":false,"findings":"ok")", c));
    ev("rev", "tr1", 20240112, "townshipReview", fmt::format(R"("caseId":"{}","outcome":"pass")", c));
    ev("ntc", "tr1", 20240113, "publicNoticePosted",
       fmt::format(R"("caseId":"{}","fromDate":20240113,"toDate":20240119,"place":"村务公开栏")", c));
    ev("apr", "ca1", 20240122, "approval",
       fmt::format(
           R"("caseId":"{}","programme":"urban_dibao","monthlyAmountFen":50000,"membersCovered":1,"firstPeriod":202402,"reviewDueDate":20250115)",
           c));
    ev("sus", "ca1", 20240310, "suspension", fmt::format(R"("caseId":"{}","fromPeriod":202404,"reason":"外出")", c));
    ev("res", "ca1", 20240510, "resumption", fmt::format(R"("caseId":"{}","fromPeriod":202406,"reason":"返回")", c));
    ev("exit", "ca1", 20240810, "exit",
       fmt::format(R"("caseId":"{}","reason":"incomeAboveLine","lastPeriod":202408,"gradualExitMonths":2)", c));
    if (h != 1) continue;
    for (uint32_t m = 202401; m <= 202412; ++m) {
      uint32_t date = m * 100 + 8;
      add(date, E(fmt::format("W-{}", m), "", kCounty, "fin1", date, "paymentRollIssued",
                  fmt::format(R"("rollId":"W-{}","countyCode":"341502","programme":"urban_dibao","period":{},)"
                              R"("lineCount":1,"controlSumFen":50000)",
                              m, m)));
      add(date, E(fmt::format("P-{}", m), hid, kCounty, "fin1", date, "paymentIssued",
                  fmt::format(R"("paymentId":"P-{}","rollId":"W-{}","caseId":"C1","programme":"urban_dibao",)"
                              R"("period":{},"amountFen":50000,"card":{{"number":"{}"}},"payeeName":"m")",
                              m, m, m, card)));
    }
  }
  std::stable_sort(d.begin(), d.end(), [](const Dated& a, const Dated& b) { return a.date < b.date; });
  std::vector<std::string> lines;
  for (auto& x : d) lines.push_back(std::move(x.line));
  return lines;
}

// What the events say, month by month.
Standing Expected(uint32_t m) {
  if (m < 202402) return Standing::kNotApproved;
  if (m >= 202404 && m < 202406) return Standing::kSuspended;
  if (m > 202410) return Standing::kExited;
  return Standing::kPaid;  // 202409 and 202410: gradual exit, still paid.
}

ledger::state::Case LoadCase(const ledger::Log& l, const std::string& household, const std::string& id) {
  ledger::state::Household h;
  bool found = false;
  REQUIRE(ledger::queries::LoadState(l.store(), ledger::state::HouseholdKey(household), &h, &found).ok());
  REQUIRE(found);
  REQUIRE(h.FindCase(id) != nullptr);
  return *h.FindCase(id);
}

}  // namespace

TEST_CASE("suspension, resumption, exit and gradual exit: every tool gives the same answer for every month") {
  testing::TempDir dir;
  auto l = testing::NewLedger(dir.Sub("l"));  // record: H1's payments in months it may not be paid are kept, flagged.
  auto lines = Walk();
  auto results = testing::AppendLines(l.get(), lines);
  std::map<std::string, std::vector<std::string>> rules_of;  // Payment id -> the rules its findings name.
  for (size_t i = 0; i < results.size(); ++i) {
    INFO(lines[i]);
    REQUIRE_MESSAGE(results[i].error.ok(), results[i].error.ToString());
    std::vector<std::string> rules;
    for (const auto& f : results[i].findings) rules.push_back(f.rule);
    bool payment = lines[i].find(R"("paymentIssued")") != std::string::npos;
    if (payment) rules_of[lines[i].substr(lines[i].find("P-2024"), 8)] = rules;
    if (!payment) CHECK_MESSAGE(rules.empty(), fmt::format("{}", fmt::join(rules, " ")));  // A lawful walk.
  }
  const ledger::state::Case c1 = LoadCase(*l, "H1", "C1"), c2 = LoadCase(*l, "H2", "C2");

  // Reconcile: every one of H1's payments settled by the bank.
  std::string bank = "end_to_end_id,amount,status,reason,bank_reference\n";
  for (uint32_t m = 202401; m <= 202412; ++m) bank += fmt::format("P-{},500.00,settled,,B{}\n", m, m);
  ledger::reconcile::BankFile file;
  REQUIRE(ledger::reconcile::ParseBankFile(bank, {}, &file).ok());
  ledger::reconcile::Reconciliation matches;
  REQUIRE(ledger::reconcile::Reconcile(l->store(), file, &matches).ok());
  std::map<uint32_t, ledger::reconcile::Category> reconciled;
  for (size_t i = 0; i < matches.size(); ++i) reconciled[matches[i].payment->period] = matches[i].category;

  // What is to be recovered: H1's payments for the months after the exit (accepted, flagged,
  // under record), the months reconcile says were paid after the exit.
  std::vector<ledger::recoveries::Row> recoveries;
  REQUIRE(ledger::recoveries::ForHousehold(l->store(), "H1", &recoveries).ok());
  REQUIRE(recoveries.size() == 1);
  std::vector<uint32_t> after_exit;
  for (const auto& [m, category] : reconciled) {
    if (category == ledger::reconcile::Category::kPaidAfterExit) after_exit.push_back(m);
  }
  CHECK(recoveries[0].periods == after_exit);
  CHECK(after_exit == std::vector<uint32_t>{202411, 202412});
  CHECK(recoveries[0].due_fen == 2 * 50000);

  for (uint32_t m = 202401; m <= 202412; ++m) {
    CAPTURE(m);
    const Standing expected = Expected(m);
    const std::string name = ledger::rules::StandingName(expected);
    CAPTURE(name);
    // The one function, on both cases.
    CHECK(ledger::rules::StandingIn(c1, m) == expected);
    CHECK(ledger::rules::StandingIn(c2, m) == expected);

    // The rules, on the payment issued for the month (as the state stood when it was issued).
    std::vector<std::string> flags = rules_of.at(fmt::format("P-{}", m));
    std::vector<std::string> want;
    if (expected == Standing::kNotApproved || expected == Standing::kSuspended) want = {"payment.inactive"};
    if (expected == Standing::kExited) want = {"payment.after_exit"};
    CHECK(flags == want);
    ledger::rules::Payable pay = ledger::rules::PayableFor(c2, m);
    CHECK(pay.standing == expected);
    CHECK(pay.payable() == (expected == Standing::kPaid));

    // Reconcile: paid after exit exactly in the months after the exit.
    CHECK((reconciled.at(m) == ledger::reconcile::Category::kPaidAfterExit) == (expected == Standing::kExited));

    // Payroll: H2 on the month's roll if paid, left off saying so if suspended, absent otherwise.
    ledger::payroll::Request request{"341502", ledger::schema::Programme::URBAN_DIBAO, m, "fin1", m * 100 + 5};
    ledger::payroll::Plan plan;
    REQUIRE(ledger::payroll::MakePlan(*l, request, &plan).ok());
    bool on_roll = std::any_of(plan.lines.begin(), plan.lines.end(), [](const auto& x) { return x.household == "H2"; });
    bool skipped_suspended = std::any_of(plan.skipped.begin(), plan.skipped.end(), [](const auto& x) {
      return x.household == "H2" && x.reason == "suspended this month";
    });
    CHECK(on_roll == (expected == Standing::kPaid));
    CHECK(skipped_suspended == (expected == Standing::kSuspended));

    // The roll on the 15th: on it unless exited or not yet approved, suspended when suspended.
    const uint32_t day = m * 100 + 15;
    std::vector<ledger::queries::RollRow> roll;
    REQUIRE(ledger::queries::Roll(l->store(), {}, day, &roll).ok());
    auto row = std::find_if(roll.begin(), roll.end(), [](const auto& r) { return r.household == "H2"; });
    bool listed = row != roll.end();
    CHECK(listed == (expected == Standing::kPaid || expected == Standing::kSuspended));
    if (listed) CHECK(row->suspended == (expected == Standing::kSuspended));

    // Replay on the 15th: the state after the events recorded by then, described for the month.
    ledger::state::Household on_day;
    REQUIRE(ledger::ReplayHousehold(*l, "H2", [&](const ledger::HouseholdStep& step) {
              if (step.decoded.getEvent().getBusinessDate() <= day) on_day = step.after;
            }).ok());
    std::string said = ledger::DescribeHousehold(*l, on_day, m);
    // Replay's typed state (--format json) says the same.
    capnp::MallocMessageBuilder typed;
    auto state = typed.initRoot<ledger::results::HouseholdState>();
    ledger::results::BuildHouseholdState(on_day, m, ledger::queries::StandardsOf(l->store()), state);
    for (auto c : state.asReader().getCases()) {
      if (c.getCaseId() != "C2") continue;
      CHECK(static_cast<int>(c.getStanding()) == static_cast<int>(expected));
      CHECK(c.getSuspended() == (expected == Standing::kSuspended));
    }
    CAPTURE(said);
    const std::map<Standing, std::string> words = {{Standing::kNotApproved, "C2 noticed"},
                                                   {Standing::kSuspended, "C2 suspended 500.00/month"},
                                                   {Standing::kExited, "C2 exited"}};
    if (expected == Standing::kPaid) {
      bool exiting = day >= 20240810;  // The exit is recorded: paid until the gradual exit ends.
      CHECK(said.find(exiting ? "C2 exiting (paid until 202410) 500.00/month" : "C2 approved 500.00/month") !=
            std::string::npos);
    } else {
      CHECK(said.find(words.at(expected)) != std::string::npos);
    }
  }
}
