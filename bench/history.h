// Synthetic but lawful histories in the ledger's JSON Lines format, deterministic from a seed.
//
// CountyYear writes one county's year under the rules of ledger/rules.h: actors and standards,
// households applying and going through the whole procedure (economic check, home visit,
// township review, 7-day public notice, an objection, approval), a mid-year standard change
// with the adjustments it brings, twelve monthly payment rolls per programme with bank results
// (a few failures, reissued on supplementary rolls), a suspension and resumption, a September
// sweep with exits (gradual exit, death, moving away) and new entries, a temporary-assistance
// case, a case of a relative of staff visited by the county, a review and a correction.
// Every line is accepted under the `enforce` policy; tests check that it stays so.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace bench {

struct CountyYearOptions {
  uint64_t seed = 1;
  int households = 60;  // Households at the start of the year (more join in the sweep).
};

std::vector<std::string> CountyYear(const CountyYearOptions& options);

}  // namespace bench
