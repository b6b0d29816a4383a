// Reports over the derived state (state.h, projections.h): the roll (在册名单) as of a date,
// funding totals, and reviews due. Each reads a region's prefix of the state family: a
// province-wide report costs what the province holds, a village's what the village holds.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "benefit_ledger/results.h"
#include "benefit_ledger/status.h"
#include "ledger/core/store.h"
#include "ledger/domain/rules.h"
#include "ledger/domain/state.h"

namespace ledger::queries {

using Filter = ledger::ReportFilter;  // benefit_ledger/results.h

struct RollRow {  // One case on the roll on the date asked.
  std::string household, region, case_id;
  uint16_t programme = 0;
  uint32_t since_period = 0;  // First month paid (YYYYMM).
  int64_t monthly_fen = 0;    // Entitlement in force that month.
  uint32_t members = 0;
  bool suspended = false;
  uint32_t review_due = 0;  // YYYYMMDD
};
// Cases approved on or before `as_of` (YYYYMMDD) and not exited by then (gradual exit months
// count as on the roll), with the entitlement in force in as_of's month.
Status Roll(const Store& store, const Filter& filter, uint32_t as_of, std::vector<RollRow>* rows);

struct TotalsRow {
  uint16_t programme = 0;
  uint32_t period = 0;
  state::Totals totals;
};
// Funding totals summed over every region under the filter's prefix, per programme and month,
// for months from..to (YYYYMM, inclusive).
Status Totals(const Store& store, const Filter& filter, uint32_t from_period, uint32_t to_period,
              std::vector<TotalsRow>* rows);

// Cases on the roll on `as_of` whose review falls due on or before `due_by` (YYYYMMDD).
Status ReviewsDue(const Store& store, const Filter& filter, uint32_t as_of, uint32_t due_by,
                  std::vector<RollRow>* rows);

// Whether the ledger has a household in the region (for a clear "no such region" error).
Status RegionKnown(const Store& store, const std::string& region_prefix, bool* known);

// Calls visit(key, value) for every state key starting with `prefix`, in key order; stops at
// the first error visit returns.
Status ScanState(const Store& store, const std::string& prefix,
                 const std::function<Status(std::string_view key, std::string_view value)>& visit);

// Calls visit(id, household) for every household whose region code starts with
// `region_prefix`, in region and id order; stops at the first error visit returns.
Status ForEachHousehold(const Store& store, const std::string& region_prefix,
                        const std::function<Status(const std::string&, const state::Household&)>& visit);

// Reads one state record; *found = false if absent. Corruption if it does not decode.
template <class T>
Status LoadState(const Store& store, const std::string& key, T* out, bool* found) {
  std::string value;
  Status s = store.Get(kState, key, &value, found);
  if (!s.ok() || !*found) return s;
  return state::Decode(value, out) ? Status::Ok()
                                   : Status::Corruption("state record " + key + " does not read (run rebuild)");
}

// The standards records of the state, for rules::MonthlyAmountInForce. A record that does not
// decode reads as absent (the state is derived: ledgerctl rebuild).
rules::LoadStandards StandardsOf(const Store& store);

// The balance of a totals row: allocated minus what left and did not come back.
inline int64_t BalanceFen(const state::Totals& t) {
  return t.allocated_fen - t.settled_fen + t.returned_fen;
}

}  // namespace ledger::queries
