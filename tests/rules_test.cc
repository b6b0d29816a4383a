// The domain rules (ledger/rules.h): for every rule a history that breaks it, refused with the
// rule id under `enforce` (appended with the finding if the rule is a flag) and appended with the
// finding under `record`; structural errors refused
// under both; and a whole lawful county-year accepted under `enforce`.
#include <doctest/doctest.h>
#include <fmt/format.h>

#include <set>

#include "ledger/core/entry.h"
#include "ledger/domain/json.h"
#include "ledger/reports/trace.h"
#include "ledger/reports/verify.h"
#include "testing/history.h"
#include "tests/test_util.h"

using ledger::AppendResult;
using ledger::Policy;
using Outcome = AppendResult::Outcome;

namespace {

const std::string kCountyRegion = "341502000000";
const std::string kH1Region = "341502001001";
const std::string kH2Region = "341502001002";
const std::string kPersonA = testing::IdentityNumber("34150219520314123");
const std::string kPersonB = testing::IdentityNumber("34150219800612234");
const std::string kPersonX = testing::IdentityNumber("34150219671120456");

// One event line (testing/events.h).
constexpr auto E = testing::EventLine;  // (id, household, region, actor, date, kind, body)

std::string Actor(const std::string& id, const std::string& role, const std::string& jurisdiction) {
  return testing::ActorRegistered(kCountyRegion, "admin1", {.id = id, .role = role, .jurisdiction = jurisdiction});
}

std::string Register(const std::string& hid, const std::string& region, const std::vector<std::string>& people) {
  std::vector<std::string> members;
  for (size_t i = 0; i < people.size(); ++i) {
    members.push_back(testing::Member(people[i], fmt::format("m{}", i), i ? "child" : "head"));
  }
  return E(hid + "-reg", hid, region, "cw1", 20240105, "householdRegistered", testing::HouseholdMembers(members));
}

// The steps of a case, each a function of the overrides a test wants.
struct CaseSteps {
  std::string hid, region, case_id, programme = "urban_dibao";
  std::string covered;  // JSON array of PersonId objects, or "" for the whole household.
  bool relative = false;
  std::string check_second = "cw2", visit_actor = "cw1", visit_second = "cw2";
  bool county_visit = false;
  uint32_t notice_from = 20240113, notice_to = 20240119;

  std::string App() const {
    std::string cov = covered.empty() ? "" : fmt::format(R"("membersCovered":{},)", covered);
    return E(case_id + "-app", hid, region, "cw1", 20240106, "applicationSubmitted",
             fmt::format(R"("caseId":"{}","programme":"{}",{}"declaredMonthlyIncomeFen":40000,"relativeOfStaff":{})",
                         case_id, programme, cov, relative ? "true" : "false"));
  }
  std::string Check() const {
    return E(
        case_id + "-chk", hid, region, "cw1", 20240108, "economicCheckRecorded",
        fmt::format(R"("caseId":"{}","perCapitaMonthlyIncomeFen":20000,"assetsWithinLimit":true,"secondActorId":"{}")",
                    case_id, check_second));
  }
  std::string Visit() const {
    return E(case_id + "-vis", hid, region, visit_actor, 20240110, "homeVisitRecorded",
             fmt::format(R"("caseId":"{}","secondActorId":"{}","countyLevel":{},"findings":"ok")", case_id,
                         visit_second, county_visit ? "true" : "false"));
  }
  std::string Review() const {
    return E(case_id + "-rev", hid, region, "tr1", 20240112, "townshipReview",
             fmt::format(R"("caseId":"{}","outcome":"pass")", case_id));
  }
  std::string Notice() const {
    return E(case_id + "-ntc", hid, region, "tr1", notice_from, "publicNoticePosted",
             fmt::format(R"("caseId":"{}","fromDate":{},"toDate":{})", case_id, notice_from, notice_to));
  }
  std::string Approve(int64_t amount_fen = 110000, uint32_t date = 20240122, const std::string& actor = "ca1",
                      uint32_t first_period = 202402, uint32_t review_due = 20250122, int members = 2) const {
    return E(
        case_id + "-apr", hid, kCountyRegion, actor, date, "approval",
        fmt::format(
            R"("caseId":"{}","programme":"{}","monthlyAmountFen":{},"membersCovered":{},"firstPeriod":{},"reviewDueDate":{})",
            case_id, programme, amount_fen, members, first_period, review_due));
  }
  std::vector<std::string> ToNotice() const { return {App(), Check(), Visit(), Review(), Notice()}; }
};

CaseSteps Steps(const std::string& hid, const std::string& region, const std::string& case_id,
                const std::string& programme = "urban_dibao", const std::string& covered = "") {
  CaseSteps c;
  c.hid = hid;
  c.region = region;
  c.case_id = case_id;
  c.programme = programme;
  c.covered = covered;
  return c;
}
CaseSteps C1() {
  return Steps("H1", kH1Region, "C1");
}
CaseSteps C2() {
  return Steps("H2", kH2Region, "C2");
}

std::string Roll(const std::string& id, uint32_t period, int lines, int64_t sum,
                 const std::string& programme = "urban_dibao") {
  return E("roll-" + id, "", kCountyRegion, "ca1", period * 100 + 5, "paymentRollIssued",
           fmt::format(
               R"("rollId":"{}","countyCode":"341502","programme":"{}","period":{},"lineCount":{},"controlSumFen":{})",
               id, programme, period, lines, sum));
}

std::string Pay(const std::string& id, const std::string& roll, uint32_t period, int64_t amount,
                const std::string& case_id = "C1", const std::string& programme = "urban_dibao",
                const std::string& extra = "") {
  return E(
      id, "H1", kCountyRegion, "fin1", period * 100 + 8, "paymentIssued",
      fmt::format(
          R"("paymentId":"{}","rollId":"{}","caseId":"{}","programme":"{}","period":{},"amountFen":{},"card":{{"number":"6228480012345678901"}},"payeeName":"m0"{})",
          id, roll, case_id, programme, period, amount, extra));
}

std::string Settle(const std::string& payment, uint32_t date = 20240210) {
  return E(payment + "-ok", "H1", kCountyRegion, "fin1", date, "paymentSettled",
           fmt::format(R"("paymentId":"{}","bankReference":"B1","settledDate":{})", payment, date));
}

// A lawful start: actors, a standard, household H1 approved for 低保 from 202402, paid once.
std::vector<std::string> Base() {
  std::vector<std::string> lines = {
      E("act-admin1", "", kCountyRegion, "admin1", 20240102, "actorRegistered",
        R"("newActorId":"admin1","name":"admin1","role":"administrator","jurisdiction":"341502")"),
      Actor("cw1", "caseworker", "341502001"),
      Actor("cw2", "caseworker", "341502001"),
      Actor("cw3", "caseworker", "341502001"),
      Actor("tr1", "townshipReviewer", "341502001"),
      Actor("ca1", "countyApprover", "341502"),
      Actor("ca2", "countyApprover", "341502"),
      Actor("fin1", "financeOfficer", "341502"),
      Actor("aud1", "auditor", "341502"),
      E("std-u", "", kCountyRegion, "admin1", 20240103, "standardChanged",
        R"("regionPrefix":"341502","programme":"urban_dibao","amountFen":75000,"unit":"perPersonPerMonth","effectiveDate":20240101)"),
      Register("H1", kH1Region, {kPersonA, kPersonB}),
  };
  for (const auto& l : C1().ToNotice()) lines.push_back(l);
  lines.push_back(C1().Approve());  // (75000 - 20000) x 2 = 110000
  lines.push_back(Roll("R1", 202402, 2, 220000));
  lines.push_back(Pay("P1", "R1", 202402, 110000));
  return lines;
}

struct RuleCase {
  const char* rule;
  std::vector<std::string> setup;  // Lawful events after Base().
  std::string breaking;            // The event that breaks the rule.
};

std::vector<RuleCase> Cases() {
  CaseSteps c2 = C2();
  auto with = [](std::vector<std::string> a, std::initializer_list<std::string> b) {
    a.insert(a.end(), b.begin(), b.end());
    return a;
  };
  std::vector<std::string> h2_to_notice = with({Register("H2", kH2Region, {kPersonX})}, {});
  for (const auto& l : c2.ToNotice()) h2_to_notice.push_back(l);
  CaseSteps visited_by_approver = c2;
  visited_by_approver.visit_actor = "ca1";
  CaseSteps relative_case = c2;
  relative_case.relative = true;
  const std::string declare_x =
      E("rel-x", "", kCountyRegion, "admin1", 20240104, "relativeDeclared",
        fmt::format(R"("staffActorId":"cw3","person":{{"number":"{}"}},"relation":"sister")", kPersonX));
  const std::string declare_a =
      E("rel-a", "", kCountyRegion, "admin1", 20240104, "relativeDeclared",
        fmt::format(R"("staffActorId":"cw2","person":{{"number":"{}"}},"relation":"father")", kPersonA));
  CaseSteps rural = c2;
  rural.programme = "rural_dibao";
  CaseSteps tekun_for_a =
      Steps("H1", kH1Region, "C3", "tekun_dispersed", fmt::format(R"([{{"number":"{}"}}])", kPersonA));
  CaseSteps elderly = Steps("H1", kH1Region, "C4", "elderly_service", fmt::format(R"([{{"number":"{}"}}])", kPersonA));
  CaseSteps short_notice = c2;
  short_notice.notice_to = 20240117;
  auto review_c1 = [](const std::string& actor, uint32_t date, uint32_t next) {
    return E("rvw-" + actor, "H1", kH1Region, actor, date, "reviewRecorded",
             fmt::format(R"("caseId":"C1","nextReviewDate":{})", next));
  };
  auto members_changed = [](const std::string& actor) {
    return E("mc-" + actor, "H1", kH1Region, actor, 20240201, "membersChanged", R"("added":[],"reason":"x")");
  };
  auto objection = [&](bool upheld) {
    return std::vector<std::string>{
        E("obj", "H2", kH2Region, "tr1", 20240115, "objectionRaised",
          R"("caseId":"C2","objectionId":"O1","summary":"x")"),
        E("objr", "H2", kH2Region, "tr1", 20240118, "objectionResolved",
          fmt::format(R"("caseId":"C2","objectionId":"O1","upheld":{})", upheld ? "true" : "false"))};
  };
  auto exit_c1 = [](const std::string& reason, int gradual, uint32_t last) {
    return E(
        "exit-c1", "H1", kCountyRegion, "ca1", 20240225, "exit",
        fmt::format(R"("caseId":"C1","reason":"{}","lastPeriod":{},"gradualExitMonths":{})", reason, last, gradual));
  };
  return {
      {"actor.registered", {}, members_changed("ghost")},
      {"actor.registered",  // Deactivated: registered, but it records nothing more.
       {Actor("cw9", "caseworker", "341502"), E("off-cw9", "", kCountyRegion, "admin1", 20240104, "actorDeactivated",
                                                R"("targetActorId":"cw9","reason":"retired")")},
       members_changed("cw9")},
      {"actor.role", {}, members_changed("aud1")},
      {"actor.jurisdiction", {Actor("cw9", "caseworker", "341502002")}, members_changed("cw9")},
      {"approval.level", h2_to_notice, c2.Approve(110000 / 2, 20240122, "tr1", 202402, 20250122, 1)},
      {"duty.two_people",
       {Register("H2", kH2Region, {kPersonX}), c2.App()},
       E("C2-chk", "H2", kH2Region, "cw1", 20240108, "economicCheckRecorded",
         R"("caseId":"C2","perCapitaMonthlyIncomeFen":1,"assetsWithinLimit":true,"secondActorId":"cw1")")},
      {"duty.separation",
       {Register("H2", kH2Region, {kPersonX}), c2.App(), c2.Check(), visited_by_approver.Visit(), c2.Review(),
        c2.Notice()},
       c2.Approve(55000, 20240122, "ca1", 202402, 20250122, 1)},
      {"relative.acts", {declare_a}, review_c1("cw2", 20240301, 20250101)},
      {"relative.undeclared", {declare_x, Register("H2", kH2Region, {kPersonX})}, c2.App()},
      {"relative.county_visit",
       with({declare_x, Register("H2", kH2Region, {kPersonX})},
            {relative_case.App(), c2.Check(), c2.Visit(), c2.Review(), c2.Notice()}),
       c2.Approve(55000, 20240122, "ca1", 202402, 20250122, 1)},
      {"procedure.order", {Register("H2", kH2Region, {kPersonX}), c2.App()}, c2.Visit()},
      {"notice.period",
       {Register("H2", kH2Region, {kPersonX}), c2.App(), c2.Check(), c2.Visit(), c2.Review()},
       short_notice.Notice()},
      {"notice.not_ended", h2_to_notice, c2.Approve(55000, 20240118, "ca1", 202402, 20250118, 1)},
      {"objection.open", with(h2_to_notice, {objection(false)[0]}),
       c2.Approve(55000, 20240122, "ca1", 202402, 20250122, 1)},
      {"objection.renotice", with(h2_to_notice, {objection(true)[0], objection(true)[1]}),
       c2.Approve(55000, 20240122, "ca1", 202402, 20250122, 1)},
      {"approval.first_period", h2_to_notice, c2.Approve(55000, 20240122, "ca1", 202401, 20250122, 1)},
      {"approval.clock", h2_to_notice, c2.Approve(55000, 20240501, "ca1", 202405, 20250501, 1)},
      {"card.shared", with(h2_to_notice, {c2.Approve(55000, 20240122, "ca1", 202402, 20250122, 1)}),
       E("P-H2", "H2", kCountyRegion, "fin1", 20240208, "paymentIssued",
         R"("paymentId":"P-H2","rollId":"R1","caseId":"C2","programme":"urban_dibao","period":202402,"amountFen":55000,"card":{"number":"6228480012345678901"},"payeeName":"m0")")},
      {"application.duplicate", {}, Steps("H1", kH1Region, "C9").App()},
      {"rejection.reason",
       {Register("H2", kH2Region, {kPersonX}), c2.App()},
       E("C2-rej", "H2", kCountyRegion, "ca1", 20240120, "rejection", R"("caseId":"C2","reason":" ")")},
      {"standard.missing",
       with({Register("H2", kH2Region, {kPersonX})},
            {rural.App(), rural.Check(), rural.Visit(), rural.Review(), rural.Notice()}),
       rural.Approve(10000, 20240122, "ca1", 202402, 20250122, 1)},
      {"entitlement.above_standard", h2_to_notice, c2.Approve(55001, 20240122, "ca1", 202402, 20250122, 1)},
      {"programme.exclusive",
       {E("std-t", "", kCountyRegion, "admin1", 20240103, "standardChanged",
          R"("regionPrefix":"341502","programme":"tekun_dispersed","amountFen":420000,"unit":"perPersonPerYear","effectiveDate":20240101)"),
        tekun_for_a.App(), tekun_for_a.Check(), tekun_for_a.Visit(), tekun_for_a.Review(), tekun_for_a.Notice()},
       tekun_for_a.Approve(35000, 20240122, "ca1", 202402, 20250122, 1)},
      {"person.two_households", {}, Register("H2", kH2Region, {kPersonA})},
      {"review.interval", h2_to_notice, c2.Approve(55000, 20240122, "ca1", 202402, 20260122, 1)},
      {"review.overdue", {Roll("R9", 202502, 1, 110000)}, Pay("P9", "R9", 202502, 110000)},
      {"case.state",
       {},
       E("res-c1", "H1", kCountyRegion, "ca1", 20240301, "resumption", R"("caseId":"C1","fromPeriod":202403)")},
      {"exit.gradual", {}, exit_c1("death", 2, 202402)},
      {"exit.overpayment", {}, exit_c1("death", 0, 202401)},  // P1 paid 202402.
      {"payment.inactive", {Roll("R0", 202401, 1, 110000)}, Pay("P0", "R0", 202401, 110000)},
      {"payment.after_exit",
       {exit_c1("death", 0, 202402), Roll("R3", 202403, 1, 110000)},
       Pay("P3", "R3", 202403, 110000)},
      {"payment.amount", {Roll("R3", 202403, 1, 110000)}, Pay("P3", "R3", 202403, 100000)},
      {"payment.duplicate", {}, Pay("P2", "R1", 202402, 110000)},
      {"payment.period",
       {E("std-e", "", kCountyRegion, "admin1", 20240103, "standardChanged",
          R"("regionPrefix":"341502","programme":"elderly_service","amountFen":5000,"unit":"perPersonPerMonth","effectiveDate":20240101)"),
        elderly.App(), elderly.Review(), elderly.Approve(5000, 20240122, "ca1", 202402, 20250122, 1),
        Roll("RE", 202402, 1, 15000, "elderly_service")},
       Pay("PE", "RE", 202402, 15000, "C4", "elderly_service")},
      {"roll.match", {}, Pay("P3", "R1", 202403, 110000)},
      {"bank.order",
       {Settle("P1")},
       E("P1-fail", "H1", kCountyRegion, "fin1", 20240212, "paymentFailed", R"("paymentId":"P1","reason":"closed")")},
      {"correction.valid",
       {},
       E("cor", "H1", kCountyRegion, "ca1", 20240301, "correction",
         R"("targetEventId":"C1-rev","reason":"typo","secondActorId":"ca1","annul":null)")},
  };
}

bool HasRule(const std::vector<ledger::rules::Finding>& findings, const std::string& rule) {
  return std::any_of(findings.begin(), findings.end(), [&](const auto& f) { return f.rule == rule; });
}

// Appends `lines` one group each; every one must be created without findings.
void AppendLawful(ledger::Log* l, const std::vector<std::string>& lines) {
  for (const auto& line : lines) {
    auto r = testing::AppendLine(l, line);
    std::string why = r.error.ToString();
    for (const auto& f : r.findings) why += " [" + f.rule + ": " + f.message + "]";
    REQUIRE_MESSAGE(r.outcome == Outcome::kCreated, line, " -> ", why);
    REQUIRE_MESSAGE(r.findings.empty(), line, " -> ", why);
  }
}

}  // namespace

TEST_CASE("every rule of the catalogue has a history that breaks it") {
  std::set<std::string> catalogue, covered;
  for (const auto& r : ledger::rules::Catalogue()) catalogue.insert(r.id);
  for (const auto& c : Cases()) covered.insert(c.rule);
  CHECK(covered == catalogue);
}

TEST_CASE("each RuleId prints as its catalogue id") {
  const auto catalogue = ledger::rules::Catalogue();
  REQUIRE(catalogue.size() == ledger::rules::kRuleCount);
  for (size_t i = 0; i < catalogue.size(); ++i) {
    auto rule = static_cast<ledger::rules::RuleId>(i);
    CHECK(catalogue[i].rule == rule);
    CHECK(std::string(ledger::rules::RuleName(rule)) == catalogue[i].id);
    CHECK(ledger::rules::Refuses(rule) == ledger::rules::Refuses(catalogue[i].id));
  }
  CHECK(std::string(ledger::rules::RuleName(ledger::rules::RuleId::kNoticePeriod)) == "notice.period");
  CHECK(std::string(ledger::rules::RuleName(ledger::rules::RuleId::kExitOverpayment)) == "exit.overpayment");
  CHECK_FALSE(ledger::rules::Refuses(ledger::rules::RuleId::kExitOverpayment));
  CHECK(ledger::rules::Refuses(ledger::rules::RuleId::kPaymentAfterExit));
  CHECK(ledger::rules::Refuses("no.such_rule"));
}

TEST_CASE("a case's payment slot, a payment that stands, the month a case is shown in") {
  ledger::state::Case c;
  c.id = "C-1";
  c.programme = static_cast<uint16_t>(ledger::schema::Programme::URBAN_DIBAO);
  CHECK(ledger::rules::PaymentSlotName(c, 202403) == fmt::format("{}/202403", c.programme));
  c.programme = static_cast<uint16_t>(ledger::schema::Programme::TEMPORARY);  // One-off: once per case.
  CHECK(ledger::rules::PaymentSlotName(c, 202403) == "case/C-1");
  CHECK(ledger::rules::PaymentSlotName(c, 202404) == "case/C-1");

  ledger::state::Payment p;
  CHECK(ledger::rules::PaymentStands(p));
  p.status = ledger::state::PaymentStatus::kFailed;
  CHECK(ledger::rules::PaymentStands(p));
  p.status = ledger::state::PaymentStatus::kVoid;
  CHECK_FALSE(ledger::rules::PaymentStands(p));

  CHECK(ledger::rules::ShownMonth(c, 202403) == 202403);  // No entitlement yet.
  c.entitlements.push_back({202405, 50000, 1, "e1"});
  CHECK(ledger::rules::ShownMonth(c, 202403) == 202405);  // Its first month is still ahead.
  CHECK(ledger::rules::ShownMonth(c, 202407) == 202407);
}

TEST_CASE("each broken rule: refused under enforce, recorded under record") {
  for (const auto& c : Cases()) {
    std::string rule = c.rule;
    CAPTURE(rule);
    for (Policy policy : {Policy::kEnforce, Policy::kRecord}) {
      std::string policy_name = ledger::PolicyName(policy);
      CAPTURE(policy_name);
      testing::TempDir dir;
      auto l = testing::NewLedger(dir.Sub("l"), policy);
      AppendLawful(l.get(), Base());
      AppendLawful(l.get(), c.setup);
      uint64_t before = l->head().seq;
      auto r = testing::AppendLine(l.get(), c.breaking);
      std::string got = r.error.ToString();
      for (const auto& f : r.findings) got += " [" + f.rule + ": " + f.message + "]";
      REQUIRE_MESSAGE(HasRule(r.findings, c.rule), got);
      if (policy == Policy::kEnforce && ledger::rules::Refuses(c.rule)) {
        CHECK(r.outcome == Outcome::kRejected);
        CHECK(r.error.field() == r.findings.front().rule);
        CHECK(l->head().seq == before);
      } else {
        REQUIRE(r.outcome == Outcome::kCreated);
        std::string bytes;
        REQUIRE(l->ReadEntry(r.seq, &bytes).ok());
        ledger::EntryReader entry;
        REQUIRE(entry.Init(bytes).ok());
        bool stored = false;
        for (auto f : entry.entry().getFindings()) stored = stored || f.getRule() == c.rule;
        CHECK(stored);
      }
      ledger::VerifyReport report;
      REQUIRE(ledger::Verify(*l, &report).ok());
      CHECK_MESSAGE(report.ok, report.problem);
    }
  }
}

TEST_CASE("structural errors are refused under both policies") {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {"no such household", E("x1", "H7", kH1Region, "cw1", 20240201, "membersChanged", R"("added":[],"reason":"x")")},
      {"no such case",
       E("x2", "H1", kH1Region, "tr1", 20240201, "townshipReview", R"("caseId":"C7","outcome":"pass")")},
      {"no such roll", Pay("P7", "R7", 202402, 110000)},
      {"no such payment", Settle("P7")},
      {"household registered twice", Register("H1", kH1Region, {kPersonX})},
      {"case id reused",
       E("x3", "H1", kH1Region, "cw1", 20240201, "applicationSubmitted", R"("caseId":"C1","programme":"temporary")")},
      {"payment id reused", Pay("P1", "R1", 202402, 110000, "C1", "urban_dibao", R"(,"supplementaryReason":"again")")},
      {"actor registered twice", E("act-cw1-again", "", kCountyRegion, "admin1", 20240201, "actorRegistered",
                                   R"("newActorId":"cw1","name":"x","role":"caseworker","jurisdiction":"341502001")")},
      {"no such objection", E("x4", "H1", kH1Region, "tr1", 20240201, "objectionResolved",
                              R"("caseId":"C1","objectionId":"O9","upheld":false)")},
      {"no such actor to deactivate", E("off-x", "", kCountyRegion, "admin1", 20240201, "actorDeactivated",
                                        R"("targetActorId":"nobody","reason":"x")")},
  };
  for (const auto& [name, line] : cases) {
    std::string what = name;
    CAPTURE(what);
    for (Policy policy : {Policy::kEnforce, Policy::kRecord}) {
      testing::TempDir dir;
      auto l = testing::NewLedger(dir.Sub("l"), policy);
      AppendLawful(l.get(), Base());
      uint64_t before = l->head().seq;
      auto r = testing::AppendLine(l.get(), line);
      CHECK(r.outcome == Outcome::kRejected);
      CHECK(r.findings.empty());
      CHECK(!r.error.field().empty());
      CHECK(l->head().seq == before);
    }
  }
}

TEST_CASE("a whole county-year passes under enforce") {
  testing::TempDir dir;
  auto l = testing::NewLedger(dir.Sub("l"), Policy::kEnforce);
  auto lines = testing::CountyYear({.seed = 7, .households = 60});
  const size_t group = 500;
  for (size_t first = 0; first < lines.size(); first += group) {
    std::vector<std::string> chunk(lines.begin() + first, lines.begin() + std::min(lines.size(), first + group));
    auto results = testing::AppendLines(l.get(), chunk);
    for (size_t i = 0; i < results.size(); ++i) {
      std::string why = results[i].error.ToString();
      REQUIRE_MESSAGE(results[i].outcome == Outcome::kCreated, chunk[i], " -> ", why);
    }
  }
  CHECK(l->head().seq == lines.size() + 1);  // After the genesis entry.
  // The year has what the issue asks of it.
  auto count = [&](const std::string& kind) {
    return std::count_if(lines.begin(), lines.end(),
                         [&](const std::string& s) { return s.find("\"" + kind + "\":{") != std::string::npos; });
  };
  CHECK(count("approval") >= 60);
  CHECK(count("standardChanged") >= 4);
  CHECK(count("paymentRollIssued") >= 12 * 2);
  CHECK(count("paymentSettled") > count("paymentFailed"));
  CHECK(count("paymentFailed") > 0);
  CHECK(count("exit") >= 5);
  CHECK(count("correction") >= 1);
  CHECK(count("suspension") >= 1);
  CHECK(count("reviewRecorded") >= 1);
  ledger::VerifyReport report;
  REQUIRE(ledger::Verify(*l, &report).ok());
  CHECK_MESSAGE(report.ok, report.problem);
}

TEST_CASE("trace shows every red flag of DOMAIN.md with its rule id and events, and the approval chains") {
  // The red flags inspectors look for (DOMAIN.md), as rule ids of the rules module.
  const std::set<std::string> red_flags = {"relative.acts",       "duty.separation",    "duty.two_people",
                                           "procedure.order",     "notice.period",      "objection.open",
                                           "payment.after_exit",  "card.shared",        "person.two_households",
                                           "programme.exclusive", "actor.jurisdiction", "entitlement.above_standard",
                                           "review.overdue",      "approval.clock"};
  std::set<std::string> shown;
  for (const auto& c : Cases()) {
    if (!red_flags.count(c.rule)) continue;
    std::string rule = c.rule;
    CAPTURE(rule);
    testing::TempDir dir;
    auto l = testing::NewLedger(dir.Sub("l"), Policy::kRecord);
    AppendLawful(l.get(), Base());
    AppendLawful(l.get(), c.setup);
    auto r = testing::AppendLine(l.get(), c.breaking);
    REQUIRE(r.outcome == Outcome::kCreated);
    capnp::MallocMessageBuilder m;
    REQUIRE(ledger::ParseEventJson(c.breaking, &m).ok());
    auto event = m.getRoot<ledger::schema::Event>().asReader();
    std::string household = event.getHouseholdId(), id = event.getEventId();
    ledger::trace::Trace t;
    REQUIRE(ledger::trace::ForActor(*l, std::string(event.getActorId()), &t).ok());
    if (!household.empty()) {
      ledger::trace::Trace by_household;
      REQUIRE(ledger::trace::ForHousehold(*l, household, &by_household).ok());
      t.flags.insert(t.flags.end(), by_household.flags.begin(), by_household.flags.end());
    }
    bool found = std::any_of(t.flags.begin(), t.flags.end(), [&](const ledger::trace::RedFlag& f) {
      return f.finding.rule == c.rule && f.seq == r.seq && !f.finding.event_ids.empty() && f.finding.event_ids[0] == id;
    });
    CHECK(found);
    if (found) shown.insert(c.rule);
  }
  CHECK(shown == red_flags);

  // The chain of the lawful case: who did each step, when.
  testing::TempDir dir;
  auto l = testing::NewLedger(dir.Sub("l"), Policy::kEnforce);
  AppendLawful(l.get(), Base());
  ledger::trace::Trace t;
  REQUIRE(ledger::trace::ForHousehold(*l, "H1", &t).ok());
  REQUIRE(t.chains.size() == 1);
  const auto& chain = t.chains[0];
  CHECK(chain.case_id == "C1");
  CHECK(chain.steps.at("economicCheckRecorded").actors == std::vector<std::string>{"cw1", "cw2"});
  CHECK(chain.steps.at("townshipReview").actors == std::vector<std::string>{"tr1"});
  CHECK(chain.steps.at("approval").date == 20240122);
  CHECK(chain.payments == 1);
  CHECK(chain.paid_fen == 110000);
  CHECK(t.flags.empty());
  ledger::trace::Trace none;
  CHECK(ledger::trace::ForActor(*l, "nobody", &none).code() == ledger::Status::Code::kNotFound);
  CHECK(ledger::trace::ForRegion(*l, "341599", &none).code() == ledger::Status::Code::kNotFound);
  CHECK(ledger::trace::ForHousehold(*l, "H9", &none).code() == ledger::Status::Code::kNotFound);
  REQUIRE(ledger::trace::ForRegion(*l, "341502", &t).ok());
  CHECK(t.chains.size() == 1);
}
