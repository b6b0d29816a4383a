#include "ledger/reports/payroll.h"

#include <fmt/format.h>

#include <algorithm>

#include "ledger/core/entry.h"
#include "ledger/domain/json.h"
#include "ledger/domain/rules.h"
#include "ledger/reports/queries.h"
#include "ledger/util/calendar.h"

namespace ledger::payroll {
namespace {

using schema::Programme;

Status CheckRequest(const Log& ledger, const Request& r) {
  bool known = false;
  Status s = queries::RegionKnown(ledger.store(), r.county, &known);
  if (!s.ok()) return s;
  if (r.county.size() != 6 || !known) {
    return Status::NotFound(fmt::format("no household in county \"{}\" (6 digits)", r.county), "county");
  }
  int months = rules::MonthsPerPayment(r.programme);
  if (months == 0) {
    return Status::Invalid("programme", fmt::format("{} is paid once per case, not on a monthly roll",
                                                    ProgrammeName(static_cast<uint16_t>(r.programme))));
  }
  if (months == 3 && !calendar::IsFirstMonthOfQuarter(r.period)) {
    return Status::Invalid("period", fmt::format("{} is paid quarterly, for the first month of a quarter",
                                                 ProgrammeName(static_cast<uint16_t>(r.programme))));
  }
  return Status::Ok();
}

// Whether case `c` of the household has a payment for the month that still stands (rules.h
// PaymentSlotName, PaymentStands).
Status AlreadyPaid(const Store& store, const std::string& household, const state::Case& c, const Request& r,
                   bool* paid) {
  *paid = false;
  state::PaymentSlot slot;
  bool found = false;
  Status s =
      queries::LoadState(store, state::PaymentSlotKey(household, rules::PaymentSlotName(c, r.period)), &slot, &found);
  for (size_t i = 0; s.ok() && found && i < slot.payment_ids.size() && !*paid; ++i) {
    state::Payment p;
    bool payment_found = false;
    s = queries::LoadState(store, state::PaymentKey(slot.payment_ids[i]), &p, &payment_found);
    *paid = payment_found && rules::PaymentStands(p);
  }
  return s;
}

// Adds case `c` of `household` to the plan: a line, a skip with its reason, or nothing (a case
// not approved for the month, or past its exit, is not on the roll at all).
Status PlanCase(const Store& store, const Request& r, const std::string& household, const state::Household& h,
                const state::Case& c, Plan* plan) {
  rules::Payable pay = rules::PayableFor(c, r.period);
  // Suspended this month (rules::StandingIn): left off, saying so.
  bool suspended = pay.standing == rules::Standing::kSuspended;
  if (pay.blocked_by && !suspended) return Status::Ok();
  bool paid = false;
  Status s = AlreadyPaid(store, household, c, r, &paid);
  if (!s.ok() || paid) {
    plan->already_paid += paid ? 1 : 0;
    return s;
  }
  std::string reason = suspended                     ? "suspended this month"
                       : !pay.review_overdue.empty() ? pay.review_overdue
                       : c.card_hash.empty()         ? "no bank card on file (give one at application)"
                                                     : "";
  if (!reason.empty()) {
    plan->skipped.push_back({household, c.id, reason});
    return Status::Ok();
  }
  std::string payment_id = fmt::format("P-{}-{}", r.period, c.id);
  // The entitlement in force, with any standard rise since the case's last decision (rules.h).
  auto amount = rules::MonthlyAmountInForce(c, h.region_code, r.period, queries::StandardsOf(store));
  const int64_t amount_fen = amount ? rules::PaymentFen(amount->monthly_fen, r.programme) : pay.amount_fen;
  plan->lines.push_back({payment_id, household, c.id, amount_fen, c.card_hash, c.card_masked, c.payee_name});
  plan->control_sum_fen += amount_fen;
  return Status::Ok();
}

void FillRoll(schema::PaymentRollIssued::Builder roll, const Plan& plan, const Request& r) {
  roll.setRollId(plan.roll_id);
  roll.setCountyCode(r.county);
  roll.setProgramme(r.programme);
  roll.setPeriod(r.period);
  roll.setLineCount(static_cast<uint32_t>(plan.lines.size()));
  roll.setControlSumFen(plan.control_sum_fen);
}

void FillPayment(schema::PaymentIssued::Builder p, const Line& line, const Plan& plan, const Request& r) {
  p.setPaymentId(line.payment_id);
  p.setRollId(plan.roll_id);
  p.setCaseId(line.case_id);
  p.setProgramme(r.programme);
  p.setPeriod(r.period);
  p.setAmountFen(line.amount_fen);
  auto card = p.initCard();  // Named by reference: identity.h marks it onFile, rules.h checks it.
  card.setMasked(line.card_masked);
  card.setKeyedHash(
      capnp::Data::Reader(reinterpret_cast<const uint8_t*>(line.card_hash.data()), line.card_hash.size()));
  p.setPayeeName(line.payee_name);
}

schema::Event::Builder NewEvent(capnp::MallocMessageBuilder* m, const std::string& id, const Request& r) {
  auto e = m->initRoot<schema::Event>();
  e.setEventId(id);
  e.setRegionCode(r.county + "000000");  // Issued by the county.
  e.setActorId(r.actor_id);
  e.setBusinessDate(r.date);
  return e;
}

}  // namespace

std::string RollIdFor(const std::string& county, Programme programme, uint32_t period) {
  return fmt::format("R-{}-{}-{}", county, ProgrammeName(static_cast<uint16_t>(programme)), period);
}

Status MakePlan(const Log& ledger, const Request& r, Plan* plan) {
  *plan = Plan{};
  Status s = CheckRequest(ledger, r);
  if (!s.ok()) return s;
  plan->roll_id = RollIdFor(r.county, r.programme, r.period);
  bool found = false;
  state::Roll existing;
  s = queries::LoadState(ledger.store(), state::RollKey(plan->roll_id), &existing, &found);
  if (!s.ok()) return s;
  plan->roll_exists = found;
  return queries::ForEachHousehold(ledger.store(), r.county, [&](const std::string& id, const state::Household& h) {
    for (const auto& c : h.cases) {
      if (c.programme != static_cast<uint16_t>(r.programme)) continue;
      Status st = PlanCase(ledger.store(), r, id, h, c, plan);
      if (!st.ok()) return st;
    }
    return Status::Ok();
  });
}

std::vector<std::unique_ptr<capnp::MallocMessageBuilder>> Events(const Plan& plan, const Request& r) {
  std::vector<std::unique_ptr<capnp::MallocMessageBuilder>> events;
  if (plan.roll_exists || plan.lines.empty()) return events;
  events.push_back(std::make_unique<capnp::MallocMessageBuilder>());
  FillRoll(NewEvent(events.back().get(), "roll-" + plan.roll_id, r).initPaymentRollIssued(), plan, r);
  for (const auto& line : plan.lines) {
    events.push_back(std::make_unique<capnp::MallocMessageBuilder>());
    auto e = NewEvent(events.back().get(), line.payment_id, r);
    e.setHouseholdId(line.household);
    FillPayment(e.initPaymentIssued(), line, plan, r);
  }
  return events;
}

Status ReadRoll(const Log& ledger, const std::string& roll_id, IssuedRoll* roll) {
  *roll = IssuedRoll{};
  state::Roll record;
  bool found = false;
  Status s = queries::LoadState(ledger.store(), state::RollKey(roll_id), &record, &found);
  if (!s.ok()) return s;
  if (!found) return Status::NotFound(fmt::format("no roll \"{}\"", roll_id), "roll_id");
  *roll = {roll_id, record.county, record.programme, record.period, {}, 0};
  std::string prefix = state::RollPaymentPrefix(roll_id);
  return queries::ScanState(ledger.store(), prefix, [&](std::string_view key, std::string_view) {
    std::string payment_id(key.substr(prefix.size()));
    state::Payment p;
    bool payment_found = false;
    Status st = queries::LoadState(ledger.store(), state::PaymentKey(payment_id), &p, &payment_found);
    if (st.ok() && !payment_found) st = Status::Corruption("payment " + payment_id + " is on a roll but has no record");
    if (!st.ok() || !rules::PaymentStands(p)) return st;
    uint64_t seq = 0;
    std::string bytes;
    EntryReader entry;
    if (!(st = ledger.ReadEvent(p.event_id, &seq, &bytes)).ok() || !(st = entry.Init(bytes)).ok()) return st;
    auto issued = entry.entry().getEvent().getPaymentIssued();
    roll->lines.push_back(
        {payment_id, p.household, p.case_id, p.amount_fen, "", issued.getCard().getMasked(), issued.getPayeeName()});
    roll->sum_fen += p.amount_fen;
    return Status::Ok();
  });
}

std::string BankInstructionCsv(const IssuedRoll& roll) {
  std::string out = "roll_id,county,programme,period,line_count,control_sum\n";
  out += fmt::format("{},{},{},{},{},{}\n", CsvField(roll.roll_id), roll.county, ProgrammeName(roll.programme),
                     roll.period, roll.lines.size(), FormatYuan(roll.sum_fen));
  out += "end_to_end_id,card,payee_name,amount\n";
  for (const auto& l : roll.lines) {
    out += fmt::format("{},{},{},{}\n", CsvField(l.payment_id), CsvField(l.card_masked), CsvField(l.payee_name),
                       FormatYuan(l.amount_fen));
  }
  return out;
}

}  // namespace ledger::payroll
