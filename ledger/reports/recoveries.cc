#include "ledger/reports/recoveries.h"

#include <fmt/format.h>

#include <algorithm>

namespace ledger::recoveries {

bool RowOf(const std::string& household, const state::Household& h, const state::Case& c, Row* row) {
  if (c.overpaid.empty()) return false;
  *row = Row();
  row->household = household;
  row->region = h.region_code;
  row->case_id = c.id;
  row->programme = c.programme;
  row->paid_until_period = c.paid_until_period;
  for (const auto& o : c.overpaid) {
    row->payments.push_back(o.payment_id);
    row->periods.push_back(o.period);
    row->due_fen += o.amount_fen;
    row->ordered_fen += o.ordered_fen;
    row->recovered_fen += o.returned_fen;
  }
  row->outstanding_fen = std::max<int64_t>(0, row->due_fen - row->ordered_fen - row->recovered_fen);
  return true;
}

Status ForRegion(const Store& store, const queries::Filter& filter, std::vector<Row>* rows) {
  rows->clear();
  return queries::ForEachHousehold(store, filter.region_prefix, [&](const std::string& id, const state::Household& h) {
    for (const auto& c : h.cases) {
      Row row;
      if ((!filter.programme || c.programme == *filter.programme) && RowOf(id, h, c, &row)) {
        rows->push_back(std::move(row));
      }
    }
    return Status::Ok();
  });
}

Status ForHousehold(const Store& store, const std::string& household, std::vector<Row>* rows) {
  rows->clear();
  state::Household h;
  bool found = false;
  Status s = queries::LoadState(store, state::HouseholdKey(household), &h, &found);
  if (!s.ok()) return s;
  if (!found) return Status::NotFound(fmt::format("no household \"{}\"", household), "household");
  for (const auto& c : h.cases) {
    Row row;
    if (RowOf(household, h, c, &row)) rows->push_back(std::move(row));
  }
  return Status::Ok();
}

}  // namespace ledger::recoveries
