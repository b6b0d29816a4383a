#include "testing/history.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>

#include "testing/events.h"
#include "testing/gen_common.h"

namespace testing {
namespace {

constexpr const char* kCounty = "341502";
constexpr int kTownships = 3;
constexpr const char* kCountyRegion = "341502000000";
constexpr uint32_t kFirstPeriod = 202402;
// Standards in 2024, and what each July rise adds (the first in July 2024; tekun's from 2025).
constexpr int64_t kUrbanStandardFen = 75000, kUrbanRiseFen = 3000;    // per person per month
constexpr int64_t kRuralYearFen = 431000, kRuralYearRiseFen = 25000;  // per person per year
constexpr int64_t kTekunYearFen = 420000, kTekunYearRiseFen = 30000;  // per person per year

using gen::AddMonths;
using gen::MonthlyOfYearly;

struct Household {
  std::string id, region, programme, case_id;
  int township = 0;
  int members = 1;
  int64_t income_fen = 0;                    // Per capita per month.
  std::map<uint32_t, int64_t> amount_from;   // Entitlement from a month on.
  uint32_t first_period = 0, last_paid = 0;  // last_paid 0: open-ended.
  uint32_t suspended_from = 0, resumed_from = 0;
  uint32_t review_due = 0;    // YYYYMMDD.
  int64_t reduction_fen = 0;  // Below the full entitlement since an income rise.
  std::string card;
  std::string payee;
};

// The county's writer: identity numbers are of people registered in kCounty.
class Writer : public gen::Writer {
 public:
  using gen::Writer::Writer;
  std::string Person(int index) { return gen::PersonNumber(kCounty, index); }
};

std::string Tw(int t) {
  return fmt::format("{}{:03}", kCounty, t + 1);
}
std::string Cw(int t, int k) {
  return fmt::format("cw{}-{}", t + 1, k);
}
std::string Tr(int t) {
  return fmt::format("tr{}", t + 1);
}

void Actors(Writer& w) {
  auto reg = [&](const std::string& id, const std::string& role, const std::string& jurisdiction) {
    w.Add(ActorRegistered(kCountyRegion, "admin1", {.id = id, .role = role, .jurisdiction = jurisdiction}));
  };
  reg("admin1", "administrator", kCounty);  // The first actor registers itself.
  for (const char* id : {"ca1", "ca2", "cv1"}) reg(id, "countyApprover", kCounty);
  reg("fin1", "financeOfficer", kCounty);
  for (int t = 0; t < kTownships; ++t) {
    for (int k = 1; k <= 3; ++k) reg(Cw(t, k), "caseworker", Tw(t));
    reg(Tr(t), "townshipReviewer", Tw(t));
  }
  auto standard = [&](const std::string& id, const char* programme, int64_t fen, const char* unit, uint32_t from) {
    w.Line(id, "", kCountyRegion, "admin1", from, "standardChanged",
           fmt::format(R"("regionPrefix":"{}","programme":"{}","amountFen":{},"unit":"{}","effectiveDate":{})", kCounty,
                       programme, fen, unit, from));
  };
  standard("std-urban-2024", "urban_dibao", kUrbanStandardFen, "perPersonPerMonth", 20240101);
  standard("std-rural-2024", "rural_dibao", kRuralYearFen, "perPersonPerYear", 20240101);
  standard("std-tekun-2024", "tekun_dispersed", kTekunYearFen, "perPersonPerYear", 20240101);
}

// The number of July rises in force in `period`.
int Rises(uint32_t period) {
  return period < 202407 ? 0 : static_cast<int>(period / 100 - 2024) + (period % 100 >= 7 ? 1 : 0);
}

// A standard as its standardChanged event states it (urban per month, the others per year).
int64_t StatedStandardFen(const std::string& programme, int rises) {
  if (programme == "urban_dibao") return kUrbanStandardFen + rises * kUrbanRiseFen;
  if (programme == "rural_dibao") return kRuralYearFen + rises * kRuralYearRiseFen;
  return kTekunYearFen + std::max(0, rises - 1) * kTekunYearRiseFen;
}

int64_t StandardFen(const std::string& programme, uint32_t period) {
  int64_t stated = StatedStandardFen(programme, Rises(period));
  return programme == "urban_dibao" ? stated : MonthlyOfYearly(stated);
}

int64_t Entitlement(const Household& h, uint32_t period) {
  int64_t standard = StandardFen(h.programme, period);
  int64_t per_person = h.programme == "tekun_dispersed" ? standard : standard - h.income_fen;
  return per_person * h.members;
}

// Registration through approval, from `day0` (YYYYMMDD of the registration; all in one month).
void Procedure(Writer& w, Household& h, int person_base, uint32_t day0, bool relative, bool objection) {
  const std::string& id = h.id;
  std::string cw1 = Cw(h.township, 1), cw2 = relative ? Cw(h.township, 3) : Cw(h.township, 2);
  std::vector<std::string> members;
  for (int m = 0; m < h.members; ++m) {
    members.push_back(Member(w.Person(person_base + m), fmt::format("{}-{}", id, m), m == 0 ? "head" : "child"));
  }
  w.Line(id + "-reg", id, h.region, cw1, day0, "householdRegistered", HouseholdMembers(members, h.region + " village"));
  w.Line(id + "-app", id, h.region, cw1, day0 + 1, "applicationSubmitted",
         fmt::format(
             R"("caseId":"{}","programme":"{}","declaredMonthlyIncomeFen":{},"relativeOfStaff":{},"payeeCard":{{"number":"{}"}},"payeeName":"{}")",
             h.case_id, h.programme, h.income_fen * h.members, relative ? "true" : "false", h.card, h.payee));
  w.Line(id + "-chk", id, h.region, cw1, day0 + 3, "economicCheckRecorded",
         fmt::format(R"("caseId":"{}","perCapitaMonthlyIncomeFen":{},"assetsWithinLimit":true,"secondActorId":"{}")",
                     h.case_id, h.income_fen, cw2));
  if (relative) {  // Relatives of staff: the county visits.
    w.Line(
        id + "-vis", id, h.region, "ca2", day0 + 5, "homeVisitRecorded",
        fmt::format(R"("caseId":"{}","secondActorId":"cv1","countyLevel":true,"findings":"county visit")", h.case_id));
  } else {
    w.Line(id + "-vis", id, h.region, cw1, day0 + 5, "homeVisitRecorded",
           fmt::format(R"("caseId":"{}","secondActorId":"{}","countyLevel":false,"findings":"as declared")", h.case_id,
                       cw2));
  }
  w.Line(id + "-rev", id, h.region, Tr(h.township), day0 + 7, "townshipReview",
         fmt::format(R"("caseId":"{}","outcome":"pass","note":"agreed")", h.case_id));
  uint32_t from = day0 + 8, to = day0 + 14;  // 7 days, both ends counted.
  w.Line(id + "-ntc", id, h.region, Tr(h.township), from, "publicNoticePosted",
         fmt::format(R"("caseId":"{}","fromDate":{},"toDate":{},"place":"village board")", h.case_id, from, to));
  if (objection) {
    w.Line(id + "-obj", id, h.region, Tr(h.township), from + 2, "objectionRaised",
           fmt::format(R"("caseId":"{}","objectionId":"{}-o1","summary":"a neighbour reports a car")", h.case_id, id));
    w.Line(id + "-objr", id, h.region, Tr(h.township), from + 5, "objectionResolved",
           fmt::format(R"("caseId":"{}","objectionId":"{}-o1","upheld":false,"note":"the car was sold in 2022")",
                       h.case_id, id));
  }
  uint32_t approval = to + 3;
  h.first_period = AddMonths(approval / 100, 1);
  int64_t amount = Entitlement(h, h.first_period);
  h.amount_from[h.first_period] = amount;
  h.review_due = approval + 10000;
  w.Line(
      id + "-apr", id, kCountyRegion, "ca1", approval, "approval",
      fmt::format(
          R"("caseId":"{}","programme":"{}","monthlyAmountFen":{},"membersCovered":{},"firstPeriod":{},"reviewDueDate":{})",
          h.case_id, h.programme, amount, h.members, h.first_period, h.review_due));
}

int64_t AmountFor(const Household& h, uint32_t period) {
  auto it = h.amount_from.upper_bound(period);
  return it == h.amount_from.begin() ? 0 : std::prev(it)->second;
}

bool Due(const Household& h, uint32_t period) {
  bool suspended =
      h.suspended_from != 0 && period >= h.suspended_from && (h.resumed_from == 0 || period < h.resumed_from);
  return h.first_period != 0 && period >= h.first_period && (h.last_paid == 0 || period <= h.last_paid) && !suspended;
}

// One month's rolls, payments and bank results for one monthly programme.
void PayMonth(Writer& w, std::vector<Household>& households, const std::string& programme, uint32_t period) {
  std::vector<Household*> due;
  int64_t sum = 0;
  for (auto& h : households) {
    if (h.programme == programme && Due(h, period)) {
      due.push_back(&h);
      sum += AmountFor(h, period);
    }
  }
  if (due.empty()) return;
  uint32_t day = period * 100;
  std::string roll = fmt::format("R-{}-{}-{}", kCounty, programme, period);
  w.Line(
      fmt::format("fund-{}-{}", programme, period), "", kCountyRegion, "fin1", day + 2, "fundsAllocated",
      fmt::format(
          R"("allocationId":"F-{}-{}","regionPrefix":"{}","programme":"{}","period":{},"amountFen":{},"source":"central and provincial")",
          programme, period, kCounty, programme, period, sum));
  w.Line(
      "roll-" + roll, "", kCountyRegion, "ca1", day + 5, "paymentRollIssued",
      fmt::format(R"("rollId":"{}","countyCode":"{}","programme":"{}","period":{},"lineCount":{},"controlSumFen":{})",
                  roll, kCounty, programme, period, due.size(), sum));
  std::vector<Household*> failed;
  for (Household* h : due) {
    std::string pay = fmt::format("P-{}-{}", period, h->id);
    w.Line(
        pay, h->id, kCountyRegion, "fin1", day + 8, "paymentIssued",
        fmt::format(
            R"("paymentId":"{}","rollId":"{}","caseId":"{}","programme":"{}","period":{},"amountFen":{},"card":{{"number":"{}"}},"payeeName":"{}")",
            pay, roll, h->case_id, programme, period, AmountFor(*h, period), h->card, h->payee));
    if (w.Next(100) < 3) {
      failed.push_back(h);
      w.Line(pay + "-fail", h->id, kCountyRegion, "fin1", day + 10, "paymentFailed",
             fmt::format(R"("paymentId":"{}","reason":"name and ID do not match","bankReference":"B{}{}")", pay, period,
                         h->id));
    } else {
      w.Line(pay + "-ok", h->id, kCountyRegion, "fin1", day + 10, "paymentSettled",
             fmt::format(R"("paymentId":"{}","bankReference":"B{}{}","settledDate":{})", pay, period, h->id, day + 10));
    }
  }
  if (failed.empty()) return;
  int64_t reissue_sum = 0;
  for (Household* h : failed) reissue_sum += AmountFor(*h, period);
  std::string supplementary = roll + "-S";
  w.Line(
      "roll-" + supplementary, "", kCountyRegion, "ca1", day + 12, "paymentRollIssued",
      fmt::format(R"("rollId":"{}","countyCode":"{}","programme":"{}","period":{},"lineCount":{},"controlSumFen":{})",
                  supplementary, kCounty, programme, period, failed.size(), reissue_sum));
  for (Household* h : failed) {
    std::string pay = fmt::format("P-{}-{}-R", period, h->id);
    w.Line(
        pay, h->id, kCountyRegion, "fin1", day + 13, "paymentIssued",
        fmt::format(
            R"("paymentId":"{}","rollId":"{}","caseId":"{}","programme":"{}","period":{},"amountFen":{},"card":{{"number":"{}"}},"payeeName":"{}","supplementaryReason":"reissue after a failed transfer")",
            pay, supplementary, h->case_id, programme, period, AmountFor(*h, period), h->card, h->payee));
    w.Line(pay + "-ok", h->id, kCountyRegion, "fin1", day + 15, "paymentSettled",
           fmt::format(R"("paymentId":"{}","bankReference":"B{}{}R","settledDate":{})", pay, period, h->id, day + 15));
  }
}

Household NewHousehold(Writer& w, int index, const char* prefix) {
  Household h;
  h.id = fmt::format("{}{:04}", prefix, index);
  h.township = index % kTownships;
  h.region = fmt::format("{}{:03}", Tw(h.township), 1 + index % 5);
  uint64_t pick = w.Next(10);
  h.programme = pick < 7 ? "rural_dibao" : pick < 9 ? "urban_dibao" : "tekun_dispersed";
  h.members = h.programme == "tekun_dispersed" ? 1 : 1 + static_cast<int>(w.Next(4));
  h.income_fen = h.programme == "tekun_dispersed" ? 0 : static_cast<int64_t>(5000 + w.Next(20000));
  h.case_id = "C-" + h.id;
  h.card = fmt::format("62170028{:011}", index);
  h.payee = h.id + "-0";
  return h;
}

// Applications of the households at the start: a member of household 1 is a close relative of its
// township's second caseworker; household 2's notice draws an objection.
void Applications(Writer& w, std::vector<Household>& households) {
  const int relative_index = 1, objection_index = 2;
  w.Line("rel-1", "", kCountyRegion, "admin1", 20240103, "relativeDeclared",
         fmt::format(R"("staffActorId":"{}","person":{{"number":"{}"}},"relation":"sister")",
                     Cw(households[relative_index].township, 2), w.Person(0 + relative_index * 4)));
  for (int i = 0; i < static_cast<int>(households.size()); ++i)
    Procedure(w, households[i], i * 4, 20240105, i == relative_index, i == objection_index);
}

// Temporary assistance for household `t` in March 2024.
void TemporaryAssistance(Writer& w, const Household& t) {
  w.Line("tmp-app", t.id, t.region, Cw(t.township, 1), 20240301, "applicationSubmitted",
         fmt::format(R"("caseId":"T-{}","programme":"temporary","declaredMonthlyIncomeFen":0,"relativeOfStaff":false)",
                     t.id));
  w.Line("tmp-chk", t.id, t.region, Cw(t.township, 1), 20240302, "economicCheckRecorded",
         fmt::format(R"("caseId":"T-{}","perCapitaMonthlyIncomeFen":0,"assetsWithinLimit":true,"secondActorId":"{}")",
                     t.id, Cw(t.township, 2)));
  w.Line("tmp-vis", t.id, t.region, Cw(t.township, 1), 20240303, "homeVisitRecorded",
         fmt::format(R"("caseId":"T-{}","secondActorId":"{}","countyLevel":false,"findings":"house fire")", t.id,
                     Cw(t.township, 2)));
  w.Line("tmp-rev", t.id, t.region, Tr(t.township), 20240304, "townshipReview",
         fmt::format(R"("caseId":"T-{}","outcome":"pass")", t.id));
  w.Line(
      "tmp-apr", t.id, kCountyRegion, "ca1", 20240306, "approval",
      fmt::format(
          R"("caseId":"T-{}","programme":"temporary","monthlyAmountFen":200000,"membersCovered":{},"firstPeriod":202404)",
          t.id, t.members));
}

// Its one payment, in April 2024.
void TemporaryPayment(Writer& w, const Household& t) {
  w.Line(
      "roll-tmp", "", kCountyRegion, "ca1", 20240405, "paymentRollIssued",
      fmt::format(
          R"("rollId":"R-{}-temporary-202404","countyCode":"{}","programme":"temporary","period":202404,"lineCount":1,"controlSumFen":200000)",
          kCounty, kCounty));
  w.Line(
      "tmp-pay", t.id, kCountyRegion, "fin1", 20240408, "paymentIssued",
      fmt::format(
          R"("paymentId":"P-tmp-{}","rollId":"R-{}-temporary-202404","caseId":"T-{}","programme":"temporary","period":202404,"amountFen":200000,"card":{{"number":"{}"}},"payeeName":"{}")",
          t.id, kCounty, t.id, t.card, t.payee));
  w.Line("tmp-ok", t.id, kCountyRegion, "fin1", 20240410, "paymentSettled",
         fmt::format(R"("paymentId":"P-tmp-{}","bankReference":"BT1","settledDate":20240410)", t.id));
}

// Household `s` suspended for August and September 2024.
void Suspension(Writer& w, Household& s) {
  s.suspended_from = 202408;
  s.resumed_from = 202410;
  w.Line(s.id + "-sus", s.id, kCountyRegion, "ca1", 20240801, "suspension",
         fmt::format(R"("caseId":"{}","fromPeriod":202408,"reason":"did not attend the review")", s.case_id));
}

void Resumption(Writer& w, const Household& s) {
  w.Line(s.id + "-res", s.id, kCountyRegion, "ca1", 20241001, "resumption",
         fmt::format(R"("caseId":"{}","fromPeriod":202410,"reason":"review done")", s.case_id));
}

// An adjustment in November 2024 entered wrong, and corrected by amendment.
void Amendment(Writer& w, Household& c) {
  c.reduction_fen = c.members * 1000;
  int64_t right = Entitlement(c, 202411) - c.reduction_fen, wrong = right - 500;
  w.Line(c.id + "-adj-202411", c.id, kCountyRegion, "ca1", 20241101, "entitlementAdjusted",
         fmt::format(
             R"("caseId":"{}","monthlyAmountFen":{},"membersCovered":{},"fromPeriod":202411,"reason":"income rose")",
             c.case_id, wrong, c.members));
  w.Line(
      c.id + "-cor", c.id, kCountyRegion, "ca1", 20241103, "correction",
      fmt::format(
          R"("targetEventId":"{}-adj-202411","reason":"amount typed wrong","secondActorId":"ca2","amend":{{"eventId":"{}-adj-202411","householdId":"{}","regionCode":"{}","actorId":"ca1","businessDate":20241101,"entitlementAdjusted":{{"caseId":"{}","monthlyAmountFen":{},"membersCovered":{},"fromPeriod":202411,"reason":"income rose"}}}})",
          c.id, c.id, c.id, kCountyRegion, c.case_id, right, c.members));
  c.amount_from[202411] = right;
}

// The episodes of the first year only.
void YearOneEpisodes(Writer& w, std::vector<Household>& households, uint32_t period) {
  if (period == 202404) TemporaryPayment(w, households[0]);
  if (period == 202408) Suspension(w, households[3]);
  if (period == 202410) Resumption(w, households[3]);
  if (period == 202411) Amendment(w, households[4]);
}

// Each July the standards rise (tekun's from 2025), and every paid household's entitlement with them.
void StandardRise(Writer& w, std::vector<Household>& households, uint32_t period) {
  const uint32_t year = period / 100;
  const bool tekun = year > 2024;
  struct Standard {
    const char *name, *programme, *unit;
  };
  for (const Standard& s :
       {Standard{"urban", "urban_dibao", "perPersonPerMonth"}, Standard{"rural", "rural_dibao", "perPersonPerYear"},
        Standard{"tekun", "tekun_dispersed", "perPersonPerYear"}}) {
    if (!tekun && std::string(s.name) == "tekun") continue;
    w.Line(fmt::format("std-{}-{}-07", s.name, year), "", kCountyRegion, "admin1", year * 10000 + 620,
           "standardChanged",
           fmt::format(R"("regionPrefix":"{}","programme":"{}","amountFen":{},"unit":"{}","effectiveDate":{})", kCounty,
                       s.programme, StatedStandardFen(s.programme, Rises(period)), s.unit, year * 10000 + 701));
  }
  for (auto& h : households) {
    if ((!tekun && h.programme == "tekun_dispersed") || !Due(h, period)) continue;
    int64_t amount = Entitlement(h, period) - h.reduction_fen;
    h.amount_from[period] = amount;
    w.Line(fmt::format("{}-adj-{}", h.id, period), h.id, kCountyRegion, "ca1", year * 10000 + 625,
           "entitlementAdjusted",
           fmt::format(
               R"("caseId":"{}","monthlyAmountFen":{},"membersCovered":{},"fromPeriod":{},"reason":"standard raised")",
               h.case_id, amount, h.members, period));
  }
}

// About a week before a review falls due: the 22nd to 28th of the month before, when it falls due
// early in its month. Never later than the 28th, so the same day a year on is a date.
uint32_t ReviewDate(uint32_t due) {
  uint32_t day = due % 100;
  return day > 7 ? due - 7 : AddMonths(due / 100, -1) * 100 + 21 + day;
}

// The yearly reviews, by the township's caseworker before each falls due: every review due by the
// end of the history, so that the month after it can be paid too (by the history or by payroll).
void Reviews(Writer& w, std::vector<Household>& households, uint32_t period, uint32_t last_period) {
  for (auto& h : households) {
    bool exited = h.last_paid != 0;
    if (exited || h.review_due / 100 > last_period || ReviewDate(h.review_due) / 100 > period) continue;
    uint32_t date = ReviewDate(h.review_due);
    h.review_due = date + 10000;
    w.Line(fmt::format("{}-rvw-{}", h.id, period), h.id, h.region, Cw(h.township, 1), date, "reviewRecorded",
           fmt::format(R"("caseId":"{}","nextReviewDate":{},"note":"yearly review, circumstances unchanged")",
                       h.case_id, h.review_due));
  }
}

// The September sweep's exits: every seventh household not already exited, from a first one that
// moves year by year. Gradual exit (渐退) only while no review falls due before its last month.
void Exits(Writer& w, std::vector<Household>& households, uint32_t period, int year_index) {
  static constexpr const char* kReasons[] = {"incomeAboveLine", "death", "movedAway"};
  for (size_t i = static_cast<size_t>(5 + 3 * year_index) % 7; i < households.size(); i += 7) {
    Household& h = households[i];
    if (h.last_paid != 0) continue;
    const char* reason = kReasons[(i / 7 + static_cast<size_t>(year_index)) % 3];
    int gradual = std::string(reason) == "incomeAboveLine" ? 2 : 0;
    if (h.review_due < AddMonths(period, gradual) * 100 + 1) gradual = 0;
    h.last_paid = AddMonths(period, gradual);
    w.Line(h.id + "-exit", h.id, kCountyRegion, "ca1", period * 100 + 20, "exit",
           fmt::format(R"("caseId":"{}","reason":"{}","lastPeriod":{},"gradualExitMonths":{},"note":"September sweep")",
                       h.case_id, reason, period, gradual));
  }
}

// The September sweep: exits, (in 2024) a review, and new households through the whole procedure.
void Sweep(Writer& w, std::vector<Household>& households, uint32_t period, const CountyYearOptions& options,
           int* people) {
  const int year_index = static_cast<int>(period / 100) - 2024;
  Exits(w, households, period, year_index);
  if (year_index == 0) {
    Household& r = households[6];
    r.review_due = 20250318;
    w.Line(r.id + "-rvw", r.id, r.region, Cw(r.township, 1), 20240918, "reviewRecorded",
           fmt::format(R"("caseId":"{}","nextReviewDate":{},"note":"income unchanged")", r.case_id, r.review_due));
  }
  const int joining = std::max(1, options.households / 20);
  for (int j = 0; j < joining; ++j) {
    households.push_back(NewHousehold(w, options.households + year_index * joining + j, "N"));
    Procedure(w, households.back(), *people, period * 100 + 2, false, false);
    *people += 4;  // Room for the most members a household has.
  }
}

}  // namespace

std::vector<std::string> CountyYear(const CountyYearOptions& requested) {
  CountyYearOptions options = requested;
  options.households = std::max(options.households, kMinHouseholds);  // The episodes name households 0 to 6.
  Writer w(options.seed);
  Actors(w);
  std::vector<Household> households;
  for (int i = 0; i < options.households; ++i) households.push_back(NewHousehold(w, i, "H"));
  Applications(w, households);
  int people = options.households * 4;  // Identity numbers used so far (Writer::Person).
  TemporaryAssistance(w, households[0]);
  const uint32_t last_period = AddMonths(202401, 12 * options.years);
  for (uint32_t period = kFirstPeriod; period <= last_period; period = AddMonths(period, 1)) {
    Reviews(w, households, period, last_period);
    if (period % 100 == 7) StandardRise(w, households, period);
    YearOneEpisodes(w, households, period);
    for (const char* programme : {"urban_dibao", "rural_dibao", "tekun_dispersed"})
      PayMonth(w, households, programme, period);
    if (period % 100 == 9) Sweep(w, households, period, options, &people);
  }
  return std::move(w.lines());
}

}  // namespace testing
