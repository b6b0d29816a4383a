#include "testing/province.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>

#include "testing/events.h"
#include "testing/gen_common.h"

namespace testing {
namespace {

using gen::AddMonths;
using gen::MonthlyOfYearly;

constexpr const char* kAdmin = "adm34";
constexpr const char* kProvinceRegion = "340000000000";
constexpr uint32_t kStandardsFrom = 20240101;
constexpr int kVillagesPerTownship = 9;
constexpr int kHouseholdsPerTownship = 800;

struct Programme {
  const char* name;
  int share_percent;     // Of the households.
  bool yearly;           // Standard stated per person per year (else per month).
  int64_t standard_fen;  // As stated, before the county's step.
  int64_t county_step_fen;
  bool gap_based;       // 低保: pays the standard minus per-capita income.
  bool full_procedure;  // Economic check and public notice too (低保, 特困); else visit and review only.
  bool one_member;      // The case covers the head only (the disability subsidies).
};
// Shares and standards: province.h.
constexpr std::array<Programme, 6> kProgrammes = {{
    {"rural_dibao", 25, true, 431000, 6000, true, true, false},
    {"urban_dibao", 5, false, 75000, 1000, true, true, false},
    {"tekun_dispersed", 8, true, 420000, 6000, false, true, true},
    {"tekun_centralised", 2, true, 720000, 12000, false, true, true},
    {"disability_living", 27, false, 9000, 0, false, false, true},
    {"disability_care", 33, false, 8000, 0, false, false, true},
}};

enum class Flag { kNone, kNoticeShort, kOneOfficial, kApproverVisited, kAboveStandard, kCardShared, kSlowApproval,
                  kPaidAfterExit, kReviewOverdue };
const char* RuleOf(Flag f) {
  switch (f) {
    case Flag::kNoticeShort: return "notice.period";
    case Flag::kOneOfficial: return "duty.two_people";
    case Flag::kApproverVisited: return "duty.separation";
    case Flag::kAboveStandard: return "entitlement.above_standard";
    case Flag::kCardShared: return "card.shared";
    case Flag::kSlowApproval: return "approval.clock";
    case Flag::kPaidAfterExit: return "payment.after_exit";
    case Flag::kReviewOverdue: return "review.overdue";
    case Flag::kNone: break;
  }
  return "";
}

struct Household {
  std::string id, case_id, region, card, payee;
  int index = 0, township = 0, members = 1;
  size_t programme = 0;     // Into kProgrammes.
  int64_t income_fen = 0;   // Per capita per month (低保); declared household income otherwise.
  int64_t amount_fen = 0;   // Entitlement per month.
  uint32_t day0 = 0;        // Registration, YYYYMMDD; the procedure runs within its month.
  bool temporary = false;   // Also given temporary assistance the month before the month paid.
  int64_t temporary_fen = 0;
  Flag flag = Flag::kNone;
  bool planted = false;     // Drawn for a red flag (the kind is chosen once all are known).
  std::string partner;      // kCardShared: whose card.
};

// County-level names.
std::string Region(const std::string& county) {
  return county + "000000";
}
std::string Township(const std::string& county, int t) {
  return fmt::format("{}{:03}", county, t + 1);
}
std::string Caseworker(const std::string& county, int t, int k) {
  return fmt::format("{}-cw{}-{}", county, t + 1, k);
}
std::string Reviewer(const std::string& county, int t) {
  return fmt::format("{}-tr{}", county, t + 1);
}
std::string Finance(const std::string& county) {
  return ProvinceFinanceId(county);
}

uint64_t Mix(uint64_t seed, uint64_t county_index) {  // splitmix64 of both: one stream per county.
  uint64_t z = seed * 0x9E3779B97F4A7C15ULL + (county_index + 1) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

class County {
 public:
  County(const ProvinceMonthOptions& o, int index)
      : o_(o), index_(index), code_(ProvinceCountyCode(index)), w_(Mix(o.seed, static_cast<uint64_t>(index))),
        townships_(std::clamp(o.households / kHouseholdsPerTownship + 1, 3, 99)) {}

  CountyMonth Generate();

 private:
  int64_t MonthlyStandardFen(size_t p) const {
    const Programme& g = kProgrammes[p];
    int64_t stated = g.standard_fen + g.county_step_fen * (index_ % 5 - 2);
    return g.yearly ? MonthlyOfYearly(stated) : stated;
  }
  void Actors();
  void Standards();
  Household NewHousehold(int i);
  void PlantFlags();
  void Procedure(Household& h);
  void Exit(const Household& h);
  void TemporaryAssistance(const Household& h);
  void PayProgramme(const std::string& programme, const std::vector<Household*>& due);
  void PayMonth();
  void Payment(const std::string& pay, const std::string& roll, const std::string& case_id,
               const std::string& programme, int64_t amount_fen, const Household& h, uint32_t date,
               const char* supplementary);
  void Settled(const std::string& pay, const Household& h, uint32_t date);

  const ProvinceMonthOptions& o_;
  int index_;
  std::string code_;
  gen::Writer w_;
  int townships_;
  std::vector<Household> households_;
  CountyMonth out_;
};

void County::Actors() {
  auto reg = [&](const std::string& id, const char* role, const std::string& jurisdiction) {
    w_.Add(ActorRegistered(Region(code_), kAdmin, {.id = id, .role = role, .jurisdiction = jurisdiction}));
  };
  reg(ProvinceApproverId(code_), "countyApprover", code_);
  reg(code_ + "-ca2", "countyApprover", code_);
  reg(Finance(code_), "financeOfficer", code_);
  for (int t = 0; t < townships_; ++t) {
    reg(Caseworker(code_, t, 1), "caseworker", Township(code_, t));
    reg(Caseworker(code_, t, 2), "caseworker", Township(code_, t));
    reg(Reviewer(code_, t), "townshipReviewer", Township(code_, t));
  }
}

void County::Standards() {
  for (size_t p = 0; p < kProgrammes.size(); ++p) {
    const Programme& g = kProgrammes[p];
    w_.Line(fmt::format("std-{}-{}", code_, g.name), "", Region(code_), kAdmin, 20231220, "standardChanged",
            fmt::format(R"("regionPrefix":"{}","programme":"{}","amountFen":{},"unit":"{}","effectiveDate":{})", code_,
                        g.name, g.standard_fen + g.county_step_fen * (index_ % 5 - 2),
                        g.yearly ? "perPersonPerYear" : "perPersonPerMonth", kStandardsFrom));
  }
}

// Every household draws the same number of values, so that the options that add episodes
// (temporary assistance, red flags) leave the others as they are.
Household County::NewHousehold(int i) {
  Household h;
  h.index = i;
  h.id = ProvinceHouseholdId(code_, i);
  h.case_id = "C-" + h.id;
  h.township = i % townships_;
  h.region = fmt::format("{}{:03}", Township(code_, h.township), 1 + (i / townships_) % kVillagesPerTownship);
  h.card = fmt::format("6217{}{:08}", code_, i);
  h.payee = h.id + "-0";
  int pick = static_cast<int>(w_.Next(100));
  for (h.programme = 0; h.programme + 1 < kProgrammes.size(); ++h.programme) {
    pick -= kProgrammes[h.programme].share_percent;
    if (pick < 0) break;
  }
  const Programme& g = kProgrammes[h.programme];
  int members = 1 + static_cast<int>(w_.Next(4));
  h.members = std::string(g.name).starts_with("tekun") ? 1 : members;
  int64_t draw = static_cast<int64_t>(w_.Next(30000));
  if (std::string(g.name) == "rural_dibao") h.income_fen = 5000 + draw % 25000;  // 50 to 300 yuan.
  if (std::string(g.name) == "urban_dibao") h.income_fen = 20000 + draw;         // 200 to 500 yuan.
  if (!g.full_procedure) h.income_fen = draw * h.members;                         // Declared, unchecked.
  uint32_t month = AddMonths(o_.period, -1 - static_cast<int>(w_.Next(11)));      // Approved in it.
  h.day0 = month * 100 + 1 + static_cast<uint32_t>(w_.Next(10));
  h.temporary = static_cast<int>(w_.Next(1000)) < o_.temporary_per_mille;
  h.temporary_fen = 100000 + 10000 * static_cast<int64_t>(w_.Next(21));  // 1000 to 3000 yuan.
  h.planted = static_cast<int>(w_.Next(1000)) < o_.red_flag_per_mille;
  int64_t per_person = MonthlyStandardFen(h.programme) - (g.gap_based ? h.income_fen : 0);
  h.amount_fen = per_person * (g.one_member ? 1 : h.members);
  return h;
}

// The kinds of red flag, in turn over the planted households (in append order), each where it
// applies: a notice or the legal clock only where the programme has a notice; a shared card
// only where an earlier household has a card to share.
void County::PlantFlags() {
  static constexpr Flag kAll[] = {Flag::kNoticeShort,   Flag::kOneOfficial,  Flag::kApproverVisited,
                                  Flag::kAboveStandard, Flag::kCardShared,   Flag::kSlowApproval,
                                  Flag::kPaidAfterExit, Flag::kReviewOverdue};
  size_t turn = 0;
  for (size_t i = 0; i < households_.size(); ++i) {
    Household& h = households_[i];
    if (!h.planted) continue;
    for (size_t tries = 0; tries < std::size(kAll); ++tries) {
      Flag f = kAll[turn++ % std::size(kAll)];
      bool noticed = kProgrammes[h.programme].full_procedure;
      if ((f == Flag::kNoticeShort || f == Flag::kSlowApproval) && !noticed) continue;
      if (f == Flag::kCardShared && i == 0) continue;
      h.flag = f;
      break;
    }
    if (h.flag == Flag::kCardShared) {
      h.partner = households_[i - 1].id;
      h.card = households_[i - 1].card;
    }
    if (h.flag == Flag::kAboveStandard) h.amount_fen += 100;
    out_.red_flags.push_back({h.id, RuleOf(h.flag), h.partner});
  }
}

// Registration through approval (province.h), with the household's planted red flag if any.
void County::Procedure(Household& h) {
  const Programme& g = kProgrammes[h.programme];
  const std::string cw1 = Caseworker(code_, h.township, 1), cw2 = Caseworker(code_, h.township, 2);
  const std::string tr = Reviewer(code_, h.township), approver = ProvinceApproverId(code_);
  const int person_base = h.index * 4;
  std::vector<std::string> members;
  std::string head;
  for (int m = 0; m < h.members; ++m) {
    std::string number = gen::PersonNumber(code_, person_base + m);
    if (m == 0) head = number;
    members.push_back(Member(number, fmt::format("{}-{}", h.id, m), m == 0 ? "head" : "child"));
  }
  uint32_t d = h.day0;
  // A slow approval: registered and applied four months before the rest of the procedure.
  uint32_t applied = h.flag == Flag::kSlowApproval ? AddMonths(d / 100, -4) * 100 + d % 100 : d;
  w_.Line(h.id + "-reg", h.id, h.region, cw1, applied, "householdRegistered",
          HouseholdMembers(members, h.region + " village"));
  std::string covered = g.one_member ? fmt::format(R"("membersCovered":[{{"number":"{}"}}],)", head) : "";
  w_.Line(h.id + "-app", h.id, h.region, cw1, applied + 1, "applicationSubmitted",
          fmt::format(
              R"("caseId":"{}","programme":"{}",{}"declaredMonthlyIncomeFen":{},"relativeOfStaff":false,"payeeCard":{{"number":"{}"}},"payeeName":"{}")",
              h.case_id, g.name, covered, g.gap_based ? h.income_fen * h.members : h.income_fen, h.card, h.payee));
  const std::string& second = h.flag == Flag::kOneOfficial ? cw1 : cw2;
  if (g.full_procedure) {
    w_.Line(h.id + "-chk", h.id, h.region, cw1, d + 3, "economicCheckRecorded",
            fmt::format(R"("caseId":"{}","perCapitaMonthlyIncomeFen":{},"assetsWithinLimit":true,"secondActorId":"{}")",
                        h.case_id, g.gap_based ? h.income_fen : 0, second));
  }
  const std::string& visitor = h.flag == Flag::kApproverVisited ? approver : cw1;
  const std::string& visit_second = g.full_procedure ? cw2 : second;
  w_.Line(h.id + "-vis", h.id, h.region, visitor, d + 5, "homeVisitRecorded",
          fmt::format(R"("caseId":"{}","secondActorId":"{}","countyLevel":false,"findings":"as declared")", h.case_id,
                      visit_second));
  w_.Line(h.id + "-rev", h.id, h.region, tr, d + 7, "townshipReview",
          fmt::format(R"("caseId":"{}","outcome":"pass","note":"agreed")", h.case_id));
  uint32_t approval = d + 12;
  if (g.full_procedure) {
    uint32_t from = d + 8, to = h.flag == Flag::kNoticeShort ? d + 12 : d + 14;  // 7 days, both ends counted.
    w_.Line(h.id + "-ntc", h.id, h.region, tr, from, "publicNoticePosted",
            fmt::format(R"("caseId":"{}","fromDate":{},"toDate":{},"place":"village board")", h.case_id, from, to));
    approval = d + 17;
  }
  uint32_t review_due = h.flag == Flag::kReviewOverdue ? approval + 1 : approval + 10000;
  w_.Line(
      h.id + "-apr", h.id, Region(code_), approver, approval, "approval",
      fmt::format(
          R"("caseId":"{}","programme":"{}","monthlyAmountFen":{},"membersCovered":{},"firstPeriod":{},"reviewDueDate":{})",
          h.case_id, g.name, h.amount_fen, g.one_member ? 1 : h.members, AddMonths(approval / 100, 1), review_due));
}

// An exit the month before the month paid, which the month's payment ignores (a red flag).
void County::Exit(const Household& h) {
  uint32_t before = AddMonths(o_.period, -1);
  w_.Line(h.id + "-exit", h.id, Region(code_), ProvinceApproverId(code_), before * 100 + 28, "exit",
          fmt::format(R"("caseId":"{}","reason":"death","lastPeriod":{},"gradualExitMonths":0,"note":"died")",
                      h.case_id, before));
}

// Temporary assistance (临时救助) approved the month before the month paid: check, visit, review
// and approval, no notice (rules.cc: the programme's steps).
void County::TemporaryAssistance(const Household& h) {
  const std::string cw1 = Caseworker(code_, h.township, 1), cw2 = Caseworker(code_, h.township, 2);
  const std::string t = "T-" + h.id;
  uint32_t d = AddMonths(o_.period, -1) * 100;
  w_.Line(h.id + "-tapp", h.id, h.region, cw1, d + 15, "applicationSubmitted",
          fmt::format(R"("caseId":"{}","programme":"temporary","declaredMonthlyIncomeFen":0,"relativeOfStaff":false)",
                      t));
  w_.Line(h.id + "-tchk", h.id, h.region, cw1, d + 16, "economicCheckRecorded",
          fmt::format(R"("caseId":"{}","perCapitaMonthlyIncomeFen":0,"assetsWithinLimit":true,"secondActorId":"{}")",
                      t, cw2));
  w_.Line(h.id + "-tvis", h.id, h.region, cw1, d + 17, "homeVisitRecorded",
          fmt::format(R"("caseId":"{}","secondActorId":"{}","countyLevel":false,"findings":"house fire")", t, cw2));
  w_.Line(h.id + "-trev", h.id, h.region, Reviewer(code_, h.township), d + 18, "townshipReview",
          fmt::format(R"("caseId":"{}","outcome":"pass")", t));
  w_.Line(h.id + "-tapr", h.id, Region(code_), ProvinceApproverId(code_), d + 20, "approval",
          fmt::format(
              R"("caseId":"{}","programme":"temporary","monthlyAmountFen":{},"membersCovered":{},"firstPeriod":{})", t,
              h.temporary_fen, h.members, o_.period));
}

void County::Payment(const std::string& pay, const std::string& roll, const std::string& case_id,
                     const std::string& programme, int64_t amount_fen, const Household& h, uint32_t date,
                     const char* supplementary) {
  std::string extra = supplementary ? fmt::format(R"(,"supplementaryReason":"{}")", supplementary) : "";
  w_.Line(
      pay, h.id, Region(code_), Finance(code_), date, "paymentIssued",
      fmt::format(
          R"("paymentId":"{}","rollId":"{}","caseId":"{}","programme":"{}","period":{},"amountFen":{},"card":{{"number":"{}"}},"payeeName":"{}"{})",
          pay, roll, case_id, programme, o_.period, amount_fen, h.card, h.payee, extra));
  ++out_.payments_issued;
}

void County::Settled(const std::string& pay, const Household& h, uint32_t date) {
  w_.Line(pay + "-ok", h.id, Region(code_), Finance(code_), date, "paymentSettled",
          fmt::format(R"("paymentId":"{}","bankReference":"B{}{}","settledDate":{})", pay, date, h.index, date));
  ++out_.bank_results;
}

void County::PayProgramme(const std::string& programme, const std::vector<Household*>& due) {
  if (due.empty()) return;
  static constexpr const char* kReasons[] = {"name and ID do not match", "account closed", "card frozen"};
  const bool temporary = programme == "temporary";
  auto amount = [&](const Household* h) { return temporary ? h->temporary_fen : h->amount_fen; };
  auto case_of = [&](const Household* h) { return temporary ? "T-" + h->id : h->case_id; };
  const uint32_t day = o_.period * 100;
  const std::string roll = fmt::format("R-{}-{}-{}", code_, programme, o_.period);
  int64_t sum = 0;
  for (const Household* h : due) sum += amount(h);
  w_.Line(fmt::format("fund-{}-{}-{}", code_, programme, o_.period), "", Region(code_), Finance(code_), day + 2,
          "fundsAllocated",
          fmt::format(
              R"("allocationId":"F-{}-{}-{}","regionPrefix":"{}","programme":"{}","period":{},"amountFen":{},"source":"central and provincial")",
              code_, programme, o_.period, code_, programme, o_.period, sum));
  auto issue_roll = [&](const std::string& id, uint32_t date, size_t lines, int64_t control_sum_fen) {
    w_.Line("roll-" + id, "", Region(code_), ProvinceApproverId(code_), date, "paymentRollIssued",
            fmt::format(R"("rollId":"{}","countyCode":"{}","programme":"{}","period":{},"lineCount":{},"controlSumFen":{})",
                        id, code_, programme, o_.period, lines, control_sum_fen));
  };
  issue_roll(roll, day + 5, due.size(), sum);
  std::vector<const Household*> failed;
  for (const Household* h : due) {
    std::string pay = fmt::format("P-{}-{}", o_.period, case_of(h));
    Payment(pay, roll, case_of(h), programme, amount(h), *h, day + 8, nullptr);
    if (w_.Next(100) < 3) {
      failed.push_back(h);
      w_.Line(pay + "-fail", h->id, Region(code_), Finance(code_), day + 10, "paymentFailed",
              fmt::format(R"("paymentId":"{}","reason":"{}","bankReference":"B{}{}")", pay, kReasons[w_.Next(3)],
                          day + 10, h->index));
      ++out_.bank_results;
    } else {
      Settled(pay, *h, day + 10);
    }
  }
  if (failed.empty()) return;
  int64_t reissue_sum = 0;
  for (const Household* h : failed) reissue_sum += amount(h);
  issue_roll(roll + "-S", day + 12, failed.size(), reissue_sum);
  for (const Household* h : failed) {
    std::string pay = fmt::format("P-{}-{}-R", o_.period, case_of(h));
    Payment(pay, roll + "-S", case_of(h), programme, amount(h), *h, day + 13,
            "reissue after a failed transfer");
    Settled(pay, *h, day + 15);
  }
}

void County::PayMonth() {
  for (const Programme& g : kProgrammes) {
    std::vector<Household*> due;
    for (Household& h : households_) {
      if (std::string(g.name) == kProgrammes[h.programme].name) due.push_back(&h);
    }
    PayProgramme(g.name, due);
  }
  std::vector<Household*> temporary;
  for (Household& h : households_) {
    if (h.temporary) temporary.push_back(&h);
  }
  PayProgramme("temporary", temporary);
}

CountyMonth County::Generate() {
  out_.county = code_;
  Actors();
  Standards();
  for (int i = 0; i < o_.households; ++i) households_.push_back(NewHousehold(i));
  // In the order of their procedures (registration dates), as an office would record them.
  std::stable_sort(households_.begin(), households_.end(),
                   [](const Household& a, const Household& b) { return a.day0 < b.day0; });
  PlantFlags();
  for (Household& h : households_) Procedure(h);
  for (const Household& h : households_) {
    if (h.flag == Flag::kPaidAfterExit) Exit(h);
  }
  for (const Household& h : households_) {
    if (h.temporary) TemporaryAssistance(h);
  }
  PayMonth();
  out_.households = households_.size();
  out_.lines = std::move(w_.lines());
  return std::move(out_);
}

}  // namespace

std::string ProvinceCountyCode(int county_index) {
  return fmt::format("34{:02}{:02}", 1 + county_index / 18, 2 + county_index % 18);
}

std::string ProvinceHouseholdId(const std::string& county, int index) {
  return fmt::format("H{}-{:05}", county, index);
}

std::string ProvinceApproverId(const std::string& county) {
  return county + "-ca1";
}

std::string ProvinceFinanceId(const std::string& county) {
  return county + "-fin1";
}

const std::vector<std::string>& ProvinceMonthlyProgrammes() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> v;
    for (const Programme& g : kProgrammes) v.emplace_back(g.name);
    return v;
  }();
  return names;
}

std::vector<std::string> ProvinceMonthHeader(const ProvinceMonthOptions&) {
  gen::Writer w(0);
  w.Line(std::string("act-") + kAdmin, "", kProvinceRegion, kAdmin, 20240102, "actorRegistered",
         fmt::format(R"("newActorId":"{}","name":"{}","role":"administrator","jurisdiction":"34")", kAdmin,
                     "province civil affairs administrator"));
  return std::move(w.lines());
}

CountyMonth ProvinceMonthCounty(const ProvinceMonthOptions& options, int county_index) {
  return County(options, county_index).Generate();
}

std::vector<std::string> ProvinceMonth(const ProvinceMonthOptions& options) {
  std::vector<std::string> lines = ProvinceMonthHeader(options);
  for (int c = 0; c < options.counties; ++c) {
    CountyMonth county = ProvinceMonthCounty(options, c);
    lines.insert(lines.end(), std::make_move_iterator(county.lines.begin()),
                 std::make_move_iterator(county.lines.end()));
  }
  return lines;
}

}  // namespace testing
