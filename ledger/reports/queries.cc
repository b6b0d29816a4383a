#include "ledger/reports/queries.h"

#include <fmt/format.h>
#include <rocksdb/db.h>

#include <map>

#include "benefit_ledger/event.capnp.h"
#include "ledger/domain/rules.h"
#include "ledger/util/calendar.h"

namespace ledger::queries {
namespace {

// The roll row of case `c` on `as_of`, if the case is on the roll then: approved by then, and in
// the month (or, approved for a month still ahead, in its first month) neither exited nor
// unapproved by rules::StandingIn, the one definition.
std::optional<RollRow> OnRoll(const state::Household& h, const std::string& household, const state::Case& c,
                              uint32_t as_of, const rules::LoadStandards& standards) {
  if (c.approval_date == 0 || c.approval_date > as_of || c.entitlements.empty()) return std::nullopt;
  uint32_t period = calendar::PeriodOf(as_of);
  RollRow row{household, h.region_code, c.id,        c.programme, c.entitlements.front().from_period, 0,
              0,         false,         c.review_due};
  // One-off help (临时救助) is on the roll for its month only.
  if (c.programme == static_cast<uint16_t>(schema::Programme::TEMPORARY) && period != row.since_period) {
    return std::nullopt;
  }
  uint32_t month = rules::ShownMonth(c, period);
  rules::Standing standing = rules::StandingIn(c, month);
  if (standing == rules::Standing::kExited || standing == rules::Standing::kNotApproved) return std::nullopt;
  row.suspended = standing == rules::Standing::kSuspended;
  // The amount in force in the month: standard rises included (rules::MonthlyAmountInForce).
  if (auto amount = rules::MonthlyAmountInForce(c, h.region_code, month, standards)) {
    row.monthly_fen = amount->monthly_fen;
    row.members = amount->members;
  }
  return row;
}

}  // namespace

Status ScanState(const Store& store, const std::string& prefix,
                 const std::function<Status(std::string_view key, std::string_view value)>& visit) {
  rocksdb::ReadOptions ro;
  std::string limit = prefix;
  limit.push_back('\xff');  // Keys here are text ids and digits: all below 0xff.
  rocksdb::Slice upper(limit);
  ro.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(store.NewIterator(kState, ro));
  for (it->Seek(prefix); it->Valid(); it->Next()) {
    Status s = visit(it->key().ToStringView(), it->value().ToStringView());
    if (!s.ok()) return s;
  }
  return FromRocks(it->status(), "reading the state");
}

Status ForEachHousehold(const Store& store, const std::string& region_prefix,
                        const std::function<Status(const std::string&, const state::Household&)>& visit) {
  return ScanState(store, state::RegionHouseholdPrefix(region_prefix), [&](std::string_view, std::string_view v) {
    state::CaseOwner owner;
    if (!state::Decode(v, &owner)) return Status::Corruption("a region index record does not read (run rebuild)");
    state::Household h;
    bool found = false;
    Status s = LoadState(store, state::HouseholdKey(owner.household), &h, &found);
    if (!s.ok()) return s;
    if (!found) {
      return Status::Corruption(fmt::format("household {} is indexed but has no state (run rebuild)", owner.household));
    }
    return visit(owner.household, h);
  });
}

Status Roll(const Store& store, const Filter& filter, uint32_t as_of, std::vector<RollRow>* rows) {
  rows->clear();
  const rules::LoadStandards standards = StandardsOf(store);
  return ForEachHousehold(store, filter.region_prefix, [&](const std::string& id, const state::Household& h) {
    for (const auto& c : h.cases) {
      if (filter.programme && c.programme != *filter.programme) continue;
      if (auto row = OnRoll(h, id, c, as_of, standards)) rows->push_back(*row);
    }
    return Status::Ok();
  });
}

Status Totals(const Store& store, const Filter& filter, uint32_t from_period, uint32_t to_period,
              std::vector<TotalsRow>* rows) {
  std::map<std::pair<uint16_t, uint32_t>, state::Totals> sums;
  Status s = ScanState(store, state::TotalsPrefix(filter.region_prefix), [&](std::string_view k, std::string_view v) {
    std::string region;
    uint16_t programme = 0;
    uint32_t period = 0;
    state::Totals t;
    if (!state::ParseTotalsKey(k, &region, &programme, &period) || !state::Decode(v, &t)) {
      return Status::Corruption("a totals record does not read (run rebuild)");
    }
    bool wanted = (!filter.programme || *filter.programme == programme) && period >= from_period && period <= to_period;
    if (wanted) sums[{programme, period}] += t;
    return Status::Ok();
  });
  rows->clear();
  for (const auto& [key, t] : sums) rows->push_back({key.first, key.second, t});
  return s;
}

Status ReviewsDue(const Store& store, const Filter& filter, uint32_t as_of, uint32_t due_by,
                  std::vector<RollRow>* rows) {
  std::vector<RollRow> roll;
  Status s = Roll(store, filter, as_of, &roll);
  rows->clear();
  for (auto& r : roll) {
    if (r.review_due != 0 && r.review_due <= due_by) rows->push_back(std::move(r));
  }
  return s;
}

rules::LoadStandards StandardsOf(const Store& store) {
  return [&store](const std::string& key) -> std::optional<state::Standards> {
    state::Standards standards;
    bool found = false;
    if (!LoadState(store, key, &standards, &found).ok() || !found) return std::nullopt;
    return standards;
  };
}

Status RegionKnown(const Store& store, const std::string& region_prefix, bool* known) {
  *known = false;
  Status s = ScanState(store, state::RegionHouseholdPrefix(region_prefix), [&](std::string_view, std::string_view) {
    *known = true;
    return Status::NotFound("");  // One is enough: stop the scan.
  });
  return *known || s.ok() ? Status::Ok() : s;
}

}  // namespace ledger::queries
