#include "ledger/domain/projections.h"

#include <algorithm>
#include <optional>
#include <vector>

#include "ledger/domain/rules.h"

namespace ledger::projections {
namespace {

using schema::Event;

// Adds `delta` to the totals of the payment's household region, programme and month.
void AddToPayment(const state::Payment& p, state::StateTxn* txn, const state::Totals& delta) {
  auto household = txn->Load<state::Household>(state::HouseholdKey(p.household));
  if (!household) return;
  std::string key = state::TotalsKey(household->region_code, p.programme, p.period);
  auto totals = txn->Load<state::Totals>(key).value_or(state::Totals{});
  totals += delta;
  txn->Store(key, totals);
}

// Members covered by a payment's case in its month (for person-months).
int64_t MembersPaid(const state::Payment& p, state::StateTxn* txn) {
  auto household = txn->Load<state::Household>(state::HouseholdKey(p.household));
  state::Case* c = household ? household->FindCase(p.case_id) : nullptr;
  if (c == nullptr) return 0;
  uint32_t members = 0;
  for (const auto& e : c->entitlements) {
    if (e.from_period <= p.period) members = e.members;
  }
  return members;
}

state::Totals IssuedDelta(const state::Payment& p, state::StateTxn* txn, int sign) {
  state::Totals d;
  d.issued_fen = sign * p.amount_fen;
  d.payments = sign;
  if (!p.supplementary) {
    d.household_months = sign;
    d.person_months = sign * MembersPaid(p, txn);
  }
  return d;
}

std::optional<state::Payment> PaymentOf(const capnp::Text::Reader& id, state::StateTxn* txn) {
  return txn->Load<state::Payment>(state::PaymentKey(id.cStr()));
}

void OnBankResult(const Event::Reader& event, state::StateTxn* txn) {
  state::Totals d;
  std::optional<state::Payment> p;
  if (event.isPaymentSettled()) {
    p = PaymentOf(event.getPaymentSettled().getPaymentId(), txn);
    if (p) d.settled_fen = p->amount_fen;
  } else if (event.isPaymentFailed()) {
    p = PaymentOf(event.getPaymentFailed().getPaymentId(), txn);
    if (p) d.failed_fen = p->amount_fen;
  } else {
    p = PaymentOf(event.getPaymentReturned().getPaymentId(), txn);
    d.returned_fen = event.getPaymentReturned().getAmountFen();
  }
  if (p) AddToPayment(*p, txn, d);
}

// A recovery is counted against its payments as rules::RecoveryShares says; `sign` -1 takes an
// annulled one back.
void OnRecovery(schema::RecoveryOrdered::Reader order, int sign, state::StateTxn* txn) {
  std::vector<std::optional<state::Payment>> payments;
  std::vector<int64_t> amounts_fen;
  for (auto id : order.getPaymentIds()) {
    payments.push_back(PaymentOf(id, txn));
    amounts_fen.push_back(payments.back() ? payments.back()->amount_fen : 0);
  }
  std::vector<int64_t> shares_fen = rules::RecoveryShares(order.getAmountFen(), amounts_fen);
  for (size_t i = 0; i < payments.size(); ++i) {
    if (!payments[i] || shares_fen[i] == 0) continue;
    state::Totals d;
    d.recovered_fen = sign * shares_fen[i];
    AddToPayment(*payments[i], txn, d);
  }
}

}  // namespace

void Apply(Event::Reader event, const Event::Reader* corrected, state::StateTxn* txn) {
  switch (event.which()) {
    case Event::HOUSEHOLD_REGISTERED: {
      std::string id = event.getHouseholdId();
      txn->Store(state::RegionHouseholdKey(event.getRegionCode().cStr(), id), state::CaseOwner{id});
      break;
    }
    case Event::FUNDS_ALLOCATED: {
      auto f = event.getFundsAllocated();
      std::string key =
          state::TotalsKey(f.getRegionPrefix().cStr(), static_cast<uint16_t>(f.getProgramme()), f.getPeriod());
      auto totals = txn->Load<state::Totals>(key).value_or(state::Totals{});
      totals.allocated_fen += f.getAmountFen();
      txn->Store(key, totals);
      break;
    }
    case Event::PAYMENT_ISSUED: {
      auto p = PaymentOf(event.getPaymentIssued().getPaymentId(), txn);
      if (!p) break;
      AddToPayment(*p, txn, IssuedDelta(*p, txn, +1));
      txn->Store(state::RollPaymentKey(p->roll_id, p->id), state::CaseOwner{p->household});
      break;
    }
    case Event::PAYMENT_SETTLED:
    case Event::PAYMENT_FAILED:
    case Event::PAYMENT_RETURNED: OnBankResult(event, txn); break;
    case Event::RECOVERY_ORDERED: OnRecovery(event.getRecoveryOrdered(), +1, txn); break;
    case Event::CORRECTION: {
      // An annulled payment (voided by the rules) no longer counts as issued, an annulled
      // recovery order no longer as recovered: once, on the first correction of it (the
      // household lists each correction of an event).
      if (corrected == nullptr || !event.getCorrection().isAnnul()) break;
      auto household = txn->Load<state::Household>(state::HouseholdKey(event.getHouseholdId().cStr()));
      std::string target = corrected->getEventId();
      bool first = household && std::count(household->corrected.begin(), household->corrected.end(), target) == 1;
      if (first && corrected->isRecoveryOrdered()) OnRecovery(corrected->getRecoveryOrdered(), -1, txn);
      if (!corrected->isPaymentIssued()) break;
      auto p = PaymentOf(corrected->getPaymentIssued().getPaymentId(), txn);
      if (first && p && !rules::PaymentStands(*p)) AddToPayment(*p, txn, IssuedDelta(*p, txn, -1));
      break;
    }
    default: break;
  }
}

}  // namespace ledger::projections
