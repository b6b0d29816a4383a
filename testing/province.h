// A province's month, synthetic but lawful, in the ledger's JSON Lines format, deterministic
// from a seed: the sizes of issue 6 ("a province-month of several million payment events").
//
// The province (code 34) has one administrator, who registers each county's staff and sets its
// standards. Each county (6-digit codes 34CCNN) has households already through the procedure
// (registration, application with the card to pay, economic check and home visit by two
// caseworkers, township review, 7-day public notice, county approval: the steps each programme
// requires, rules.cc), approved over the eleven months before the month paid, so that every
// review falls due after it. Then ONE month: per county and programme a funds allocation, a
// payment roll with its line count and control sum, one payment per household, the bank's
// results (about 3% failed, reissued on a supplementary roll and settled), and a small share of
// temporary assistance (临时救助) approved the month before and paid on the month's temporary
// roll. All of it is accepted under the `enforce` policy.
//
// The programme mix is that of a city of the seeds (DOMAIN.md [002]: 89.2K people on 低保, 17K on
// 特困, 44K on the living subsidy for disabled people in hardship, 53K on the care subsidy), by
// household: rural 低保 25%, urban 低保 5% (rural : urban person-months 189K : 39K [001]), 特困
// dispersed 8% and centralised 2%, disability living subsidy 27%, disability care subsidy 33%.
// Each household has one case. Standards: urban 低保 750 yuan a month [004], rural 4310 yuan a
// year [001], 特困 4200 (dispersed) and 7200 (centralised) yuan a year [001], the disability
// subsidies 90 and 80 yuan a month (what [002] pays on average: 85 and 59 yuan per person-month);
// each county's are a little higher or lower. 低保 incomes are drawn so that average top-ups are
// near those of [001] (about 180 yuan rural, 400 urban).
//
// Planted red flags (red_flag_per_mille > 0) break the domain rules on purpose, for a ledger
// under the `record` policy: a short public notice, one official doing both duties of a check or
// visit, an approver who made the home visit, an entitlement above the standard, a card shared
// with another household, an approval far outside the legal clock, a payment after an exit, a
// payment while the review is overdue. Each planted household says which rule it should trip.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace testing {

struct ProvinceMonthOptions {
  uint64_t seed = 1;
  int counties = 4;                // 1 to kMaxCounties.
  int households = 2000;           // Per county, 1 to kMaxHouseholdsPerCounty.
  uint32_t period = 202503;        // The month paid (YYYYMM, 202501 to 209912).
  int temporary_per_mille = 5;     // Households also given temporary assistance.
  int red_flag_per_mille = 0;      // Households with a planted red flag (`record` ledgers only).
};
inline constexpr int kMaxCounties = 1782;              // 99 cities of 18 counties.
inline constexpr int kMaxHouseholdsPerCounty = 50000;  // Identity numbers stay distinct (gen_common.h).

// The lines a ledger needs before any county's: the province administrator registering itself.
std::vector<std::string> ProvinceMonthHeader(const ProvinceMonthOptions& options);

struct PlantedFlag {
  std::string household;
  std::string rule;     // The rule id it should trip (rules.h).
  std::string partner;  // card.shared: the household whose card it uses (flagged at its payment too).
};

// One county's lines (county_index from 0 to counties-1), to append after the header and the
// counties before it. Independent of the other counties: generating county i needs only i.
struct CountyMonth {
  std::string county;  // 6 digits.
  std::vector<std::string> lines;
  std::vector<PlantedFlag> red_flags;
  uint64_t households = 0;
  uint64_t payments_issued = 0;  // paymentIssued lines (main, supplementary and temporary rolls).
  uint64_t bank_results = 0;     // paymentSettled and paymentFailed lines.
};
CountyMonth ProvinceMonthCounty(const ProvinceMonthOptions& options, int county_index);

// The whole province-month: the header, then every county in order (small sizes; the bench
// appends county by county to bound its memory).
std::vector<std::string> ProvinceMonth(const ProvinceMonthOptions& options);

// Names the generator uses.
std::string ProvinceCountyCode(int county_index);  // "340102", "340103", …
std::string ProvinceHouseholdId(const std::string& county, int index);
std::string ProvinceApproverId(const std::string& county);  // A county approver (issues rolls).
std::string ProvinceFinanceId(const std::string& county);   // The finance officer (issues payments).
// The programmes paid on monthly rolls, as JSON names ("rural_dibao", …).
const std::vector<std::string>& ProvinceMonthlyProgrammes();

}  // namespace testing
