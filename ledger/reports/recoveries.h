// Recoveries due (追回): the payments made for months after their case's exit, read from the
// rules' state (state::Overpayment on each case, rules.cc keeps them). An exit recorded late,
// a death learned of after the month was paid, makes them; a recoveryOrdered against them, or
// the bank returning them, reduces what is outstanding.
//
// Per case: the payments after the exit, the amount due (what they paid), ordered (recovery
// orders against them), recovered (what the bank returned of them) and outstanding (due less
// ordered and recovered, never below zero). Reconcile's "paid after exit" (reconcile.h) asks the
// same question of the same state (rules::StandingIn), so a settled payment it reports so is
// one of these.
//
// A region's report walks the region's households in key order (queries.h, as the roll does);
// one household's reads its one record.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "ledger/reports/queries.h"
#include "ledger/domain/state.h"
#include "benefit_ledger/status.h"
#include "ledger/core/store.h"

namespace ledger::recoveries {

struct Row {  // One case with payments after its exit.
  std::string household, region, case_id;
  uint16_t programme = 0;             // schema::Programme
  uint32_t paid_until_period = 0;     // The last month that may be paid (YYYYMM), gradual exit included.
  std::vector<std::string> payments;  // Their ids, in the order found.
  std::vector<uint32_t> periods;      // The months they paid, in the same order.
  int64_t due_fen = 0, ordered_fen = 0, recovered_fen = 0, outstanding_fen = 0;
};

// The row of case `c` of `household`; false if the case has no payment after its exit.
bool RowOf(const std::string& household, const state::Household& h, const state::Case& c, Row* row);

// Every case with payments after its exit, in the filter's regions and programme, in region and
// household order.
Status ForRegion(const Store& store, const queries::Filter& filter, std::vector<Row>* rows);

// The cases of one household with payments after their exit. NotFound if there is no such household.
Status ForHousehold(const Store& store, const std::string& household, std::vector<Row>* rows);

}  // namespace ledger::recoveries
