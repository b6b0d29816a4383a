// A household's history with its state after each event, for auditors (ledgerctl replay).
//
// The household's entries are read through Log::ReadHousehold (each checked against the
// household chain and index) and run again through the rules (rules.h) against a view of the
// state in which this household, its cases, payments and people start empty and everything
// else (actors, standards, rolls) is as the ledger holds it now. The household's own state after
// each event is then exactly what the rules derive; findings from this re-run are not reported
// (ledger-wide records such as roll counters are already at their final values).
#pragma once

#include <functional>
#include <string_view>
#include <vector>

#include "ledger/core/log.h"
#include "ledger/domain/state.h"

namespace ledger {

struct HouseholdStep {
  const HouseholdEntry* entry = nullptr;
  schema::Entry::Reader decoded;
  state::Household after;  // The household's state after this event.
};

// ReadHousehold's errors, or Corruption naming the seq of an entry that does not read, or
// IOError if a state record could not be read: the visit stops there.
Status ReplayHousehold(const Log& ledger, std::string_view household,
                       const std::function<void(const HouseholdStep&)>& visit);

// One line for people: "2 members; C1 approved 1100.00/month; C2 rejected". The amount is the
// entitlement in force for `period` (rules::MonthlyAmountInForce: standard rises included, from
// the ledger's standards as `ledger` holds them).
std::string DescribeHousehold(const Log& ledger, const state::Household& h, uint32_t period);

}  // namespace ledger
