#include "bench/history.h"

#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <random>

#include "ledger/formats.h"

namespace bench {
namespace {

constexpr const char* kCounty = "341502";
constexpr int kTownships = 3;
constexpr int64_t kUrbanStandardFen = 75000, kUrbanStandardJulyFen = 78000;  // per person per month
constexpr int64_t kRuralYearFen = 431000, kRuralYearJulyFen = 456000;        // per person per year
constexpr int64_t kTekunYearFen = 420000;                                    // per person per year

int64_t MonthlyOfYearly(int64_t yearly_fen) {
  return (yearly_fen + 11) / 12;
}  // As the rules round.

uint32_t AddMonths(uint32_t period, int n) {
  int months = static_cast<int>(period / 100) * 12 + static_cast<int>(period % 100) - 1 + n;
  return static_cast<uint32_t>((months / 12) * 100 + months % 12 + 1);
}

struct Household {
  std::string id, region, programme, case_id;
  int township = 0;
  int members = 1;
  int64_t income_fen = 0;                    // Per capita per month.
  std::map<uint32_t, int64_t> amount_from;   // Entitlement from a month on.
  uint32_t first_period = 0, last_paid = 0;  // last_paid 0: open-ended.
  uint32_t suspended_from = 0, resumed_from = 0;
  std::string card;
  std::string payee;
};

class Writer {
 public:
  explicit Writer(uint64_t seed) : rng_(seed) {}

  void Line(const std::string& id, const std::string& household, const std::string& region, const std::string& actor,
            uint32_t date, const std::string& kind, const std::string& body) {
    std::string hh = household.empty() ? "" : fmt::format(R"("householdId":"{}",)", household);
    lines_.push_back(
        fmt::format(R"({{"eventId":"{}",{}"regionCode":"{}","actorId":"{}","businessDate":{},"{}":{{{}}}}})", id, hh,
                    region, actor, date, kind, body));
  }
  std::string Person(int index) {
    std::string body =
        fmt::format("{}19{:02}{:02}{:02}{:03}", kCounty, 40 + index % 55, 1 + index % 12, 1 + index % 28, index % 1000);
    return body + ledger::IdentityCheckCharacter(body);
  }
  uint64_t Next(uint64_t n) { return rng_() % n; }
  std::vector<std::string>& lines() { return lines_; }

 private:
  std::mt19937_64 rng_;
  std::vector<std::string> lines_;
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
  const std::string county_region = std::string(kCounty) + "000000";
  auto reg = [&](const std::string& id, const std::string& role, const std::string& jurisdiction) {
    w.Line("act-" + id, "", county_region, "admin1", 20240102, "actorRegistered",
           fmt::format(R"("newActorId":"{}","name":"{}","role":"{}","jurisdiction":"{}")", id, id, role, jurisdiction));
  };
  reg("admin1", "administrator", kCounty);  // The first actor registers itself.
  for (const char* id : {"ca1", "ca2", "cv1"}) reg(id, "countyApprover", kCounty);
  reg("fin1", "financeOfficer", kCounty);
  for (int t = 0; t < kTownships; ++t) {
    for (int k = 1; k <= 3; ++k) reg(Cw(t, k), "caseworker", Tw(t));
    reg(Tr(t), "townshipReviewer", Tw(t));
  }
  auto standard = [&](const std::string& id, const char* programme, int64_t fen, const char* unit, uint32_t from) {
    w.Line(id, "", county_region, "admin1", from, "standardChanged",
           fmt::format(R"("regionPrefix":"{}","programme":"{}","amountFen":{},"unit":"{}","effectiveDate":{})", kCounty,
                       programme, fen, unit, from));
  };
  standard("std-urban-2024", "urban_dibao", kUrbanStandardFen, "perPersonPerMonth", 20240101);
  standard("std-rural-2024", "rural_dibao", kRuralYearFen, "perPersonPerYear", 20240101);
  standard("std-tekun-2024", "tekun_dispersed", kTekunYearFen, "perPersonPerYear", 20240101);
}

int64_t StandardFen(const std::string& programme, uint32_t period) {
  bool july = period >= 202407;
  if (programme == "urban_dibao") return july ? kUrbanStandardJulyFen : kUrbanStandardFen;
  if (programme == "rural_dibao") return MonthlyOfYearly(july ? kRuralYearJulyFen : kRuralYearFen);
  return MonthlyOfYearly(kTekunYearFen);
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
  std::string members;
  for (int m = 0; m < h.members; ++m) {
    std::string number = w.Person(person_base + m);
    members += fmt::format(R"({}{{"person":{{"number":"{}"}},"name":"{}-{}","relation":"{}","birthDate":{}}})",
                           m ? "," : "", number, id, m, m == 0 ? "head" : "child", number.substr(6, 8));
  }
  w.Line(id + "-reg", id, h.region, cw1, day0, "householdRegistered",
         fmt::format(R"("members":[{}],"address":"{} village")", members, h.region));
  w.Line(id + "-app", id, h.region, cw1, day0 + 1, "applicationSubmitted",
         fmt::format(R"("caseId":"{}","programme":"{}","declaredMonthlyIncomeFen":{},"relativeOfStaff":{})", h.case_id,
                     h.programme, h.income_fen * h.members, relative ? "true" : "false"));
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
  w.Line(
      id + "-apr", id, std::string(kCounty) + "000000", "ca1", approval, "approval",
      fmt::format(
          R"("caseId":"{}","programme":"{}","monthlyAmountFen":{},"membersCovered":{},"firstPeriod":{},"reviewDueDate":{})",
          h.case_id, h.programme, amount, h.members, h.first_period, approval + 10000));
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
  const std::string county_region = std::string(kCounty) + "000000";
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
      fmt::format("fund-{}-{}", programme, period), "", county_region, "fin1", day + 2, "fundsAllocated",
      fmt::format(
          R"("allocationId":"F-{}-{}","regionPrefix":"{}","programme":"{}","period":{},"amountFen":{},"source":"central and provincial")",
          programme, period, kCounty, programme, period, sum));
  w.Line(
      "roll-" + roll, "", county_region, "ca1", day + 5, "paymentRollIssued",
      fmt::format(R"("rollId":"{}","countyCode":"{}","programme":"{}","period":{},"lineCount":{},"controlSumFen":{})",
                  roll, kCounty, programme, period, due.size(), sum));
  std::vector<Household*> failed;
  for (Household* h : due) {
    std::string pay = fmt::format("P-{}-{}", period, h->id);
    w.Line(
        pay, h->id, county_region, "fin1", day + 8, "paymentIssued",
        fmt::format(
            R"("paymentId":"{}","rollId":"{}","caseId":"{}","programme":"{}","period":{},"amountFen":{},"card":{{"number":"{}"}},"payeeName":"{}")",
            pay, roll, h->case_id, programme, period, AmountFor(*h, period), h->card, h->payee));
    if (w.Next(100) < 3) {
      failed.push_back(h);
      w.Line(pay + "-fail", h->id, county_region, "fin1", day + 10, "paymentFailed",
             fmt::format(R"("paymentId":"{}","reason":"name and ID do not match","bankReference":"B{}{}")", pay, period,
                         h->id));
    } else {
      w.Line(pay + "-ok", h->id, county_region, "fin1", day + 10, "paymentSettled",
             fmt::format(R"("paymentId":"{}","bankReference":"B{}{}","settledDate":{})", pay, period, h->id, day + 10));
    }
  }
  if (failed.empty()) return;
  int64_t reissue_sum = 0;
  for (Household* h : failed) reissue_sum += AmountFor(*h, period);
  std::string supplementary = roll + "-S";
  w.Line(
      "roll-" + supplementary, "", county_region, "ca1", day + 12, "paymentRollIssued",
      fmt::format(R"("rollId":"{}","countyCode":"{}","programme":"{}","period":{},"lineCount":{},"controlSumFen":{})",
                  supplementary, kCounty, programme, period, failed.size(), reissue_sum));
  for (Household* h : failed) {
    std::string pay = fmt::format("P-{}-{}-R", period, h->id);
    w.Line(
        pay, h->id, county_region, "fin1", day + 13, "paymentIssued",
        fmt::format(
            R"("paymentId":"{}","rollId":"{}","caseId":"{}","programme":"{}","period":{},"amountFen":{},"card":{{"number":"{}"}},"payeeName":"{}","supplementaryReason":"reissue after a failed transfer")",
            pay, supplementary, h->case_id, programme, period, AmountFor(*h, period), h->card, h->payee));
    w.Line(pay + "-ok", h->id, county_region, "fin1", day + 15, "paymentSettled",
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

}  // namespace

std::vector<std::string> CountyYear(const CountyYearOptions& options) {
  Writer w(options.seed);
  Actors(w);
  std::vector<Household> households;
  int people = 0;
  const int relative_index = 1, objection_index = 2;
  // A member of household 1 is a close relative of its township's second caseworker.
  for (int i = 0; i < options.households; ++i) households.push_back(NewHousehold(w, i, "H"));
  w.Line("rel-1", "", std::string(kCounty) + "000000", "admin1", 20240103, "relativeDeclared",
         fmt::format(R"("staffActorId":"{}","person":{{"number":"{}"}},"relation":"sister")",
                     Cw(households[relative_index].township, 2), w.Person(0 + relative_index * 4)));
  for (int i = 0; i < options.households; ++i) {
    Procedure(w, households[i], i * 4, 20240105, i == relative_index, i == objection_index);
    people = i * 4 + 4;
  }
  // Temporary assistance for household 0 in March: one payment in April.
  Household& t = households[0];
  const std::string county_region = std::string(kCounty) + "000000";
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
      "tmp-apr", t.id, county_region, "ca1", 20240306, "approval",
      fmt::format(
          R"("caseId":"T-{}","programme":"temporary","monthlyAmountFen":200000,"membersCovered":{},"firstPeriod":202404)",
          t.id, t.members));

  for (uint32_t period = 202402; period <= 202501; period = AddMonths(period, 1)) {
    uint32_t day = period * 100;
    if (period == 202404) {
      w.Line(
          "roll-tmp", "", county_region, "ca1", day + 5, "paymentRollIssued",
          fmt::format(
              R"("rollId":"R-{}-temporary-202404","countyCode":"{}","programme":"temporary","period":202404,"lineCount":1,"controlSumFen":200000)",
              kCounty, kCounty));
      w.Line(
          "tmp-pay", t.id, county_region, "fin1", day + 8, "paymentIssued",
          fmt::format(
              R"("paymentId":"P-tmp-{}","rollId":"R-{}-temporary-202404","caseId":"T-{}","programme":"temporary","period":202404,"amountFen":200000,"card":{{"number":"{}"}},"payeeName":"{}")",
              t.id, kCounty, t.id, t.card, t.payee));
      w.Line("tmp-ok", t.id, county_region, "fin1", day + 10, "paymentSettled",
             fmt::format(R"("paymentId":"P-tmp-{}","bankReference":"BT1","settledDate":{})", t.id, day + 10));
    }
    if (period == 202407) {  // The standard rises; every 低保 household's entitlement with it.
      w.Line(
          "std-urban-2024-07", "", county_region, "admin1", 20240620, "standardChanged",
          fmt::format(
              R"("regionPrefix":"{}","programme":"urban_dibao","amountFen":{},"unit":"perPersonPerMonth","effectiveDate":20240701)",
              kCounty, kUrbanStandardJulyFen));
      w.Line(
          "std-rural-2024-07", "", county_region, "admin1", 20240620, "standardChanged",
          fmt::format(
              R"("regionPrefix":"{}","programme":"rural_dibao","amountFen":{},"unit":"perPersonPerYear","effectiveDate":20240701)",
              kCounty, kRuralYearJulyFen));
      for (auto& h : households) {
        if (h.programme == "tekun_dispersed" || !Due(h, 202407)) continue;
        int64_t amount = Entitlement(h, 202407);
        h.amount_from[202407] = amount;
        w.Line(
            h.id + "-adj-202407", h.id, county_region, "ca1", 20240625, "entitlementAdjusted",
            fmt::format(
                R"("caseId":"{}","monthlyAmountFen":{},"membersCovered":{},"fromPeriod":202407,"reason":"standard raised")",
                h.case_id, amount, h.members));
      }
    }
    if (period == 202408) {  // Household 3 suspended for August and September.
      Household& s = households[3];
      s.suspended_from = 202408;
      s.resumed_from = 202410;
      w.Line(s.id + "-sus", s.id, county_region, "ca1", 20240801, "suspension",
             fmt::format(R"("caseId":"{}","fromPeriod":202408,"reason":"did not attend the review")", s.case_id));
    }
    if (period == 202410) {
      Household& s = households[3];
      w.Line(s.id + "-res", s.id, county_region, "ca1", 20241001, "resumption",
             fmt::format(R"("caseId":"{}","fromPeriod":202410,"reason":"review done")", s.case_id));
    }
    if (period == 202411) {  // An adjustment entered wrong, and corrected by amendment.
      Household& c = households[4];
      int64_t right = Entitlement(c, 202411) - c.members * 1000, wrong = right - 500;
      w.Line(
          c.id + "-adj-202411", c.id, county_region, "ca1", 20241101, "entitlementAdjusted",
          fmt::format(
              R"("caseId":"{}","monthlyAmountFen":{},"membersCovered":{},"fromPeriod":202411,"reason":"income rose")",
              c.case_id, wrong, c.members));
      w.Line(
          c.id + "-cor", c.id, county_region, "ca1", 20241103, "correction",
          fmt::format(
              R"("targetEventId":"{}-adj-202411","reason":"amount typed wrong","secondActorId":"ca2","amend":{{"eventId":"{}-adj-202411","householdId":"{}","regionCode":"{}","actorId":"ca1","businessDate":20241101,"entitlementAdjusted":{{"caseId":"{}","monthlyAmountFen":{},"membersCovered":{},"fromPeriod":202411,"reason":"income rose"}}}})",
              c.id, c.id, c.id, county_region, c.case_id, right, c.members));
      c.amount_from[202411] = right;
    }
    for (const char* programme : {"urban_dibao", "rural_dibao", "tekun_dispersed"})
      PayMonth(w, households, programme, period);
    if (period == 202409) {  // The September sweep: exits, a review and new entries.
      static constexpr const char* kReasons[] = {"incomeAboveLine", "death", "movedAway"};
      for (size_t i = 5; i < households.size(); i += 7) {
        Household& h = households[i];
        const char* reason = kReasons[(i / 7) % 3];
        uint32_t gradual = std::string(reason) == "incomeAboveLine" ? 2 : 0;
        h.last_paid = AddMonths(202409, static_cast<int>(gradual));
        w.Line(h.id + "-exit", h.id, county_region, "ca1", 20240920, "exit",
               fmt::format(
                   R"("caseId":"{}","reason":"{}","lastPeriod":202409,"gradualExitMonths":{},"note":"September sweep")",
                   h.case_id, reason, gradual));
      }
      Household& r = households[6];
      w.Line(r.id + "-rvw", r.id, r.region, Cw(r.township, 1), 20240918, "reviewRecorded",
             fmt::format(R"("caseId":"{}","nextReviewDate":20250318,"note":"income unchanged")", r.case_id));
      int joining = std::max(1, options.households / 20);
      for (int j = 0; j < joining; ++j) {
        households.push_back(NewHousehold(w, options.households + j, "N"));
        Procedure(w, households.back(), people + j * 4, 20240902, false, false);
      }
    }
  }
  return std::move(w.lines());
}

}  // namespace bench
