#include "ledger/reports/results.h"

#include <map>

#include "ledger/domain/validate.h"

namespace ledger::results {
namespace {

using schema::Programme;

Programme AsProgramme(uint16_t p) {
  return static_cast<Programme>(p);
}

// The filter of a region report, echoed in its query.
template <class QueryBuilder>
void SetFilter(const queries::Filter& filter, QueryBuilder q) {
  q.setRegionPrefix(filter.region_prefix);
  if (filter.programme) q.setProgramme(AsProgramme(*filter.programme));
}

void SetTexts(const std::vector<std::string>& texts, capnp::List<capnp::Text>::Builder out) {
  for (size_t i = 0; i < texts.size(); ++i) out.set(i, texts[i]);
}

void SetTraceStep(const trace::Chain& c, const char* kind, TraceStep::Builder (TraceChain::Builder::*init)(),
                  TraceChain::Builder chain) {
  auto it = c.steps.find(kind);
  if (it == c.steps.end()) return;  // Not set: null.
  auto step = (chain.*init)();
  step.setDate(it->second.date);
  step.setSeq(it->second.seq);
  SetTexts(it->second.actors, step.initActors(it->second.actors.size()));
  if (!it->second.submitted_by.empty()) step.setSubmittedBy(it->second.submitted_by);
}

void SetFinding(const rules::Finding& f, uint64_t seq, const std::string& household, Finding::Builder out) {
  out.setRule(f.rule);
  out.setMessage(f.message);
  out.setSeq(seq);
  out.setHousehold(household);
  SetTexts(f.event_ids, out.initEventIds(f.event_ids.size()));
}

}  // namespace

void BuildRoll(const queries::Filter& filter, uint32_t as_of, uint32_t due_by,
               const std::vector<queries::RollRow>& rows, RollResult::Builder out) {
  auto q = out.initQuery();
  q.setAsOf(as_of);
  q.setDueBy(due_by);
  SetFilter(filter, q);
  auto cases = out.initCases(rows.size());
  uint32_t suspended = 0;
  int64_t monthly_fen = 0;
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto& r = rows[i];
    auto c = cases[i];
    c.setHousehold(r.household);
    c.setRegion(r.region);
    c.setCaseId(r.case_id);
    c.setProgramme(AsProgramme(r.programme));
    c.setSincePeriod(r.since_period);
    c.setMembersCovered(r.members);
    c.setMonthlyAmountFen(r.monthly_fen);
    c.setSuspended(r.suspended);
    c.setReviewDue(r.review_due);
    suspended += r.suspended;
    monthly_fen += r.suspended ? 0 : r.monthly_fen;
  }
  auto summary = out.initSummary();
  summary.setCases(rows.size());
  summary.setSuspended(suspended);
  summary.setMonthlyAmountFen(monthly_fen);
}

namespace {

void SetTotals(const state::Totals& t, TotalsRow::Builder out) {
  out.setAllocatedFen(t.allocated_fen);
  out.setIssuedFen(t.issued_fen);
  out.setSettledFen(t.settled_fen);
  out.setFailedFen(t.failed_fen);
  out.setReturnedFen(t.returned_fen);
  out.setRecoveredFen(t.recovered_fen);
  out.setBalanceFen(queries::BalanceFen(t));
  out.setPayments(t.payments);
  out.setHouseholdMonths(t.household_months);
  out.setPersonMonths(t.person_months);
}

}  // namespace

void BuildTotals(const queries::Filter& filter, uint32_t from_period, uint32_t to_period,
                 const std::vector<queries::TotalsRow>& rows, TotalsResult::Builder out) {
  auto q = out.initQuery();
  q.setFromPeriod(from_period);
  q.setToPeriod(to_period);
  SetFilter(filter, q);
  auto list = out.initRows(rows.size());
  state::Totals sum;
  for (size_t i = 0; i < rows.size(); ++i) {
    list[i].setProgramme(AsProgramme(rows[i].programme));
    list[i].setPeriod(rows[i].period);
    SetTotals(rows[i].totals, list[i]);
    sum += rows[i].totals;
  }
  SetTotals(sum, out.initAll());
}

void BuildRecoveries(const queries::Filter& filter, const std::string& household,
                     const std::vector<recoveries::Row>& rows, RecoveriesResult::Builder out) {
  auto q = out.initQuery();
  SetFilter(filter, q);
  q.setHousehold(household);
  auto cases = out.initCases(rows.size());
  auto summary = out.initSummary();
  summary.setCases(rows.size());
  for (size_t i = 0; i < rows.size(); ++i) {
    const recoveries::Row& r = rows[i];
    auto c = cases[i];
    c.setHousehold(r.household);
    c.setRegion(r.region);
    c.setCaseId(r.case_id);
    c.setProgramme(AsProgramme(r.programme));
    c.setPaidUntilPeriod(r.paid_until_period);
    SetTexts(r.payments, c.initPaymentIds(r.payments.size()));
    auto periods = c.initPeriods(r.periods.size());
    for (size_t k = 0; k < r.periods.size(); ++k) periods.set(k, r.periods[k]);
    c.setDueFen(r.due_fen);
    c.setOrderedFen(r.ordered_fen);
    c.setRecoveredFen(r.recovered_fen);
    c.setOutstandingFen(r.outstanding_fen);
    summary.setDueFen(summary.getDueFen() + r.due_fen);
    summary.setOrderedFen(summary.getOrderedFen() + r.ordered_fen);
    summary.setRecoveredFen(summary.getRecoveredFen() + r.recovered_fen);
    summary.setOutstandingFen(summary.getOutstandingFen() + r.outstanding_fen);
  }
}

void BuildHouseholdState(const state::Household& h, uint32_t period, const rules::LoadStandards& standards,
                         HouseholdState::Builder out) {
  out.setPeriod(period);
  out.setRegion(h.region_code);
  out.setMembers(h.members.size());
  auto cases = out.initCases(h.cases.size());
  for (size_t i = 0; i < h.cases.size(); ++i) {
    const state::Case& c = h.cases[i];
    auto b = cases[i];
    b.setCaseId(c.id);
    b.setProgramme(AsProgramme(c.programme));
    b.setStatus(static_cast<CaseStatus>(c.status));
    // A month before the case's first entitlement counts as its first month (as DescribeHousehold).
    uint32_t month = c.entitlements.empty() ? period : std::max(period, c.entitlements.front().from_period);
    if (auto amount = rules::MonthlyAmountInForce(c, h.region_code, month, standards)) {
      b.setMonthlyAmountFen(amount->monthly_fen);
      b.setMembersCovered(amount->members);
    }
    rules::Standing standing = rules::StandingIn(c, month);
    b.setSuspended(standing == rules::Standing::kSuspended);
    static_assert(static_cast<int>(CaseStanding::EXITED) == static_cast<int>(rules::Standing::kExited));
    b.setStanding(static_cast<CaseStanding>(standing));
    b.setReviewDue(c.review_due);
  }
}

void BuildReplayStep(const HouseholdStep& step, const rules::LoadStandards& standards, ReplayStep::Builder out) {
  auto event = step.decoded.getEvent();
  out.setSeq(step.entry->seq);
  out.setDate(event.getBusinessDate());
  out.setKind(KindName(event));
  out.setEventId(event.getEventId());
  out.setActorId(event.getActorId());
  if (auto fen = AmountFenOf(event)) out.setAmountFen(*fen);
  out.setEntryHash(capnp::Data::Reader(step.entry->hash.data(), step.entry->hash.size()));
  auto findings = step.decoded.getFindings();
  auto list = out.initFindings(findings.size());
  for (uint i = 0; i < findings.size(); ++i) {
    list[i].setRule(findings[i].getRule());
    list[i].setMessage(findings[i].getMessage());
    list[i].setSeq(step.entry->seq);
    list[i].setHousehold(event.getHouseholdId());
    list[i].setEventIds(findings[i].getEventIds());
  }
  BuildHouseholdState(step.after, event.getBusinessDate() / 100, standards, out.initAfter());
}

void BuildTrace(TraceScope scope, const std::string& asked, const trace::Trace& t, TraceResult::Builder out) {
  auto q = out.initQuery();
  if (scope == TraceScope::kActor) q.setActor(asked);
  if (scope == TraceScope::kHousehold) q.setHousehold(asked);
  if (scope == TraceScope::kRegion) q.setRegionPrefix(asked);
  auto chains = out.initChains(t.chains.size());
  for (size_t i = 0; i < t.chains.size(); ++i) {
    const trace::Chain& c = t.chains[i];
    auto b = chains[i];
    b.setHousehold(c.household);
    b.setCaseId(c.case_id);
    b.setProgramme(AsProgramme(c.programme));
    using B = TraceChain::Builder;
    SetTraceStep(c, "applicationSubmitted", &B::initApplied, b);
    SetTraceStep(c, "economicCheckRecorded", &B::initChecked, b);
    SetTraceStep(c, "homeVisitRecorded", &B::initVisited, b);
    SetTraceStep(c, "townshipReview", &B::initReviewed, b);
    SetTraceStep(c, "publicNoticePosted", &B::initNotice, b);
    SetTraceStep(c, "approval", &B::initApproved, b);
    SetTraceStep(c, "rejection", &B::initRejected, b);
    b.setPayments(c.payments);
    b.setPaidFen(c.paid_fen);
    SetTexts(c.payers, b.initPayers(c.payers.size()));
  }
  auto flags = out.initFlags(t.flags.size());
  for (size_t i = 0; i < t.flags.size(); ++i)
    SetFinding(t.flags[i].finding, t.flags[i].seq, t.flags[i].household, flags[i]);
}

const char* CategoryName(ReconcileCategory category) {
  return reconcile::CategoryName(static_cast<reconcile::Category>(category));
}

void BuildReconcileLine(const reconcile::Match& m, ReconcileLine::Builder out) {
  out.setCategory(static_cast<ReconcileCategory>(m.category));
  if (m.line) {
    const auto& l = *m.line;
    out.setEndToEndId(std::string(l.payment_id));
    auto bank = out.initBank();
    bank.setLine(l.line);
    bank.setAmountFen(l.amount_fen);
    bank.setStatus(static_cast<BankStatus>(l.status));
    bank.setReason(std::string(l.reason));
    bank.setBankReference(std::string(l.reference));
    bank.setDate(l.date);
  }
  if (m.payment) {
    const auto& p = *m.payment;
    if (!m.line) out.setEndToEndId(std::string(p.id));
    auto ledger = out.initLedger();
    ledger.setHousehold(std::string(p.household));
    ledger.setRegion(std::string(p.region));
    ledger.setAmountFen(p.amount_fen);
    ledger.setProgramme(AsProgramme(p.programme));
    ledger.setPeriod(p.period);
  }
}

void BuildReconcileSummary(const reconcile::Reconciliation& matches, ReconcileResult::Builder out) {
  using C = reconcile::Category;
  std::map<C, std::pair<uint64_t, int64_t>> by_category;           // lines, fen
  std::map<uint16_t, std::pair<int64_t, int64_t>> issued_settled;  // per programme, fen
  bool clean = true;
  for (size_t i = 0; i < matches.size(); ++i) {
    reconcile::Match m = matches[i];
    clean = clean && m.category == C::kMatched;
    int64_t ledger_fen = m.payment ? m.payment->amount_fen : 0;
    int64_t bank_fen = m.line ? m.line->amount_fen : 0;
    auto& c = by_category[m.category];
    c.first += 1;
    c.second += m.line ? bank_fen : ledger_fen;
    if (!m.payment) continue;
    auto& programme = issued_settled[m.payment->programme];
    programme.first += m.category == C::kDuplicate ? 0 : ledger_fen;
    programme.second += m.category == C::kMatched || m.category == C::kPaidAfterExit ? bank_fen : 0;
  }
  auto categories = out.initCategories(by_category.size());
  size_t i = 0;
  for (const auto& [category, c] : by_category) {
    categories[i].setCategory(static_cast<ReconcileCategory>(category));
    categories[i].setLines(c.first);
    categories[i++].setAmountFen(c.second);
  }
  auto programmes = out.initProgrammes(issued_settled.size());
  i = 0;
  for (const auto& [programme, v] : issued_settled) {
    programmes[i].setProgramme(AsProgramme(programme));
    programmes[i].setIssuedFen(v.first);
    programmes[i++].setSettledFen(v.second);
  }
  out.setClean(clean);
}

void BuildPayroll(const payroll::Request& request, bool dry_run, const payroll::Plan& plan,
                  PayrollResult::Builder out) {
  auto q = out.initQuery();
  q.setCounty(request.county);
  q.setProgramme(request.programme);
  q.setPeriod(request.period);
  q.setActor(request.actor_id);
  q.setDate(request.date);
  q.setDryRun(dry_run);
  out.setRollId(plan.roll_id);
  auto lines = out.initLines(plan.lines.size());
  for (size_t i = 0; i < plan.lines.size(); ++i) {
    const payroll::Line& l = plan.lines[i];
    lines[i].setEndToEndId(l.payment_id);
    lines[i].setHousehold(l.household);
    lines[i].setCaseId(l.case_id);
    lines[i].setCardMasked(l.card_masked);
    lines[i].setPayeeName(l.payee_name);
    lines[i].setAmountFen(l.amount_fen);
  }
  auto skipped = out.initSkipped(plan.skipped.size());
  for (size_t i = 0; i < plan.skipped.size(); ++i) {
    skipped[i].setHousehold(plan.skipped[i].household);
    skipped[i].setCaseId(plan.skipped[i].case_id);
    skipped[i].setReason(plan.skipped[i].reason);
  }
  out.setAlreadyPaid(plan.already_paid);
  out.setControlSumFen(plan.control_sum_fen);
}

void BuildVerify(const VerifyReport& report, VerifyResult::Builder out) {
  out.setOk(report.ok);
  out.setEntries(report.entries);
  out.setHouseholds(report.households);
  out.setHeadHash(capnp::Data::Reader(report.head_hash.data(), report.head_hash.size()));
  out.setSeconds(report.seconds);
  out.setEventsPerSecond(report.seconds > 0 ? report.entries / report.seconds : 0);
  out.setBadSeq(report.ok ? 0 : report.bad_seq);
  out.setProblem(report.ok ? "" : report.problem);
  out.setGenesisSeq(report.genesis_seq);
}

void BuildCheckpointRow(const evidence::SignedCheckpoint& cp, const std::string& recorded_at,
                        CheckpointRow::Builder out) {
  out.setSize(cp.checkpoint.tree_size);
  out.setRootHash(capnp::Data::Reader(cp.checkpoint.root_hash.data(), cp.checkpoint.root_hash.size()));
  out.setHouseholds(cp.heads.count);
  out.setHeadsRoot(capnp::Data::Reader(cp.heads.root.data(), cp.heads.root.size()));
  out.setLastEntryRecordedAt(recorded_at);
}

void BuildProofCheck(const Status& check, const std::string& summary, const evidence::Proof* proof,
                     const evidence::SignedCheckpoint* checkpoint, ProofCheckResult::Builder out) {
  out.setValid(check.ok());
  out.setVectorDescription(proof->description);
  out.setVectorExpects(!proof->want_error ? "" : *proof->want_error ? "invalid" : "valid");
  out.setSummary(check.ok() ? summary : "");
  out.setProblem(check.ok() ? "" : check.ToString());
  if (checkpoint != nullptr) {
    out.setCheckpointOrigin(checkpoint->checkpoint.origin);
    out.setCheckpointSize(checkpoint->checkpoint.tree_size);
  }
}

void BuildRules(RulesResult::Builder out) {
  auto catalogue = rules::Catalogue();
  auto list = out.initRules(catalogue.size());
  for (size_t i = 0; i < catalogue.size(); ++i) {
    list[i].setId(catalogue[i].id);
    list[i].setDescription(catalogue[i].description);
  }
}

}  // namespace ledger::results
