// The result records of benefit_ledger/results.capnp, built from the library's answers: one builder per
// report, so that ledgerctl (JSON through json_writer.h, and its tables) and the server send
// the same records. A new report is a struct in results.capnp and a builder here.
//
// Builders only copy and convert (fen stays fen, dates stay YYYYMMDD numbers); the one thing they
// add is what a record states that the answer leaves implicit (a roll's sum, a totals row's
// balance, the entitlement in force in a month). Thread-compatible.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "benefit_ledger/results.h"
#include "ledger/evidence/evidence.h"
#include "ledger/reports/household_replay.h"
#include "ledger/reports/payroll.h"
#include "ledger/reports/queries.h"
#include "ledger/reports/reconcile.h"
#include "ledger/reports/recoveries.h"
#include "ledger/reports/trace.h"
#include "ledger/reports/verify.h"

namespace ledger::results {

// roll (due_by 0) and reviews.
void BuildRoll(const queries::Filter& filter, uint32_t as_of, uint32_t due_by,
               const std::vector<queries::RollRow>& rows, RollResult::Builder out);

void BuildTotals(const queries::Filter& filter, uint32_t from_period, uint32_t to_period,
                 const std::vector<queries::TotalsRow>& rows, TotalsResult::Builder out);

// recoveries: the cases with payments after their exit (`household` "" for a region's report).
void BuildRecoveries(const queries::Filter& filter, const std::string& household,
                     const std::vector<recoveries::Row>& rows, RecoveriesResult::Builder out);

// A household's state, with the entitlements in force in `period` (YYYYMM): standard rises
// included (rules::MonthlyAmountInForce, standards read through `standards`).
void BuildHouseholdState(const state::Household& h, uint32_t period, const rules::LoadStandards& standards,
                         HouseholdState::Builder out);
// One event of a replay; the state after it with the amounts of the event's month.
void BuildReplayStep(const HouseholdStep& step, const rules::LoadStandards& standards, ReplayStep::Builder out);

// `scope` (benefit_ledger/results.h) is the one of actor, household and region prefix the trace was asked for.
void BuildTrace(TraceScope scope, const std::string& asked, const trace::Trace& t, TraceResult::Builder out);

void BuildReconcileLine(const reconcile::Match& m, ReconcileLine::Builder out);
// Counts and sums per category, issued against settled per programme, and whether clean.
void BuildReconcileSummary(const reconcile::Reconciliation& matches, ReconcileResult::Builder out);

// The plan's lines and cases left off; the outcome and seqs are the caller's to set.
void BuildPayroll(const payroll::Request& request, bool dry_run, const payroll::Plan& plan, PayrollResult::Builder out);

void BuildVerify(const VerifyReport& report, VerifyResult::Builder out);

// `recorded_at`: when the last entry it covers was recorded (ISO 8601), "" if unknown.
void BuildCheckpointRow(const evidence::SignedCheckpoint& cp, const std::string& recorded_at,
                        CheckpointRow::Builder out);

// BuildProofCheck (verify-proof's record): benefit_ledger/evidence.h.

void BuildRules(RulesResult::Builder out);

}  // namespace ledger::results
