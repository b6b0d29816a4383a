// Synthetic but lawful histories in the ledger's JSON Lines format, deterministic from a seed.
//
// CountyYear writes one county's year under the rules of ledger/rules.h: actors and standards,
// households applying (with the card the allowance is to be paid to) and going through the whole procedure (economic
// check, home visit, township review, 7-day public notice, an objection, approval), a mid-year standard change with the
// adjustments it brings, twelve monthly payment rolls per programme with bank results (a few failures, reissued on
// supplementary rolls), a suspension and resumption, a September sweep with exits (gradual exit, death, moving away)
// and new entries, a temporary-assistance case, a case of a relative of staff visited by the county, a review and a
// correction. Over several years each later year repeats the cycle: a July standard rise (tekun's too) with the
// adjustments it brings, a yearly review of each household on the rolls before it falls due, a September sweep with
// other exits and new households, and the monthly rolls; the one-off episodes (temporary assistance, suspension,
// amendment, relative of staff, objection) stay in the first year. Every line is accepted under the `enforce` policy;
// tests check that it stays so.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace testing {

inline constexpr int kMinHouseholds = 8;  // Fewer are raised to this.

struct CountyYearOptions {
  uint64_t seed = 1;
  int households = 60;  // Households at the start (more join in each sweep); at least kMinHouseholds.
  // Years of monthly rolls, at least 1: from February 2024 to January of the year after the last
  // (2025 for 1 year). The first year's lines are the same whatever the number of years, but for
  // the yearly reviews in its last month that a following year needs.
  int years = 1;
};

std::vector<std::string> CountyYear(const CountyYearOptions& options);

}  // namespace testing
