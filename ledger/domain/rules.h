// The domain rules of ../shared/DOMAIN.md, in one place: the append path evaluates them on
// every event, and the inspectors' tools use the same code and the same rule ids.
//
// Process is pure: the event, the state it reads through a StateTxn (state.h) and, for a
// correction, the event it corrects → a Verdict. It changes nothing but the StateTxn it is
// given, which the caller commits only if the event is accepted:
//   - `structural` not ok: the event refers to a household, case, payment, roll, objection or
//     actor record that does not exist (or reuses an id); refused under every policy. Also the
//     StateTxn's status() when a record it read could not be read (IOError) or decoded
//     (Corruption): then nothing the rules decided stands;
//   - `findings`: the rules the event breaks, each with its rule id, a message and the events
//     involved. Under the `enforce` policy a finding refuses the event unless its rule is a flag
//     (RuleInfo::refuses false: the event is the truth, learned late, and must be recorded;
//     exit.overpayment); under `record` the event is appended with its findings in the entry.
//     Either way the findings of an appended event are stored in its entry.
// Catalogue() lists every rule (RuleId) with its id and what it checks; README shows the same table.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "benefit_ledger/event.capnp.h"
#include "benefit_ledger/status.h"
#include "ledger/core/state_machine.h"
#include "ledger/domain/state.h"

namespace ledger::rules {

// The policy and the finding are the core's (core/state_machine.h): the rules produce findings,
// the log records or refuses them.
using Policy = ledger::Policy;
using Finding = ledger::Finding;
using ledger::ParsePolicy;
using ledger::PolicyName;

struct Verdict {
  Status structural;
  std::vector<Finding> findings;
};

// Checks `event` against the state and applies it to `txn`. `corrected` is the event a
// correction names (the caller looks it up), else null. `submitted_by` is who submitted the
// event through a server (Entry.submittedBy), checked when it is another actor than the
// event's (an integration actor's submission); "" for none, and when re-running entries already
// accepted (rebuild, replay), as their signatures are not checked again either.
Verdict Process(schema::Event::Reader event, const schema::Event::Reader* corrected, state::StateTxn* txn,
                std::string_view submitted_by = {});

// The domain rules, as the rules name them. A finding carries the rule's printed id
// (RuleName: "notice.period"), since the core that records findings knows no domain enums;
// kRules in rules.cc is the one table of ids, descriptions and whether a rule refuses.
enum class RuleId : uint8_t {
  kActorRegistered,
  kActorRole,
  kActorJurisdiction,
  kApprovalLevel,
  kDutyTwoPeople,
  kDutySeparation,
  kRelativeActs,
  kRelativeUndeclared,
  kRelativeCountyVisit,
  kProcedureOrder,
  kNoticePeriod,
  kNoticeNotEnded,
  kObjectionOpen,
  kObjectionRenotice,
  kApprovalFirstPeriod,
  kApprovalClock,
  kApplicationDuplicate,
  kRejectionReason,
  kStandardMissing,
  kEntitlementAboveStandard,
  kProgrammeExclusive,
  kPersonTwoHouseholds,
  kReviewInterval,
  kReviewOverdue,
  kCaseState,
  kExitGradual,
  kExitOverpayment,
  kPaymentInactive,
  kPaymentAfterExit,
  kPaymentAmount,
  kPaymentDuplicate,
  kPaymentPeriod,
  kCardShared,
  kRollMatch,
  kBankOrder,
  kCorrectionValid,
};
inline constexpr size_t kRuleCount = static_cast<size_t>(RuleId::kCorrectionValid) + 1;  // The last, plus one.

// The rule's printed id, as findings, refusals and the catalogue name it: "notice.period".
const char* RuleName(RuleId rule);

// Whether a finding of `rule` refuses its event under the enforce policy (see above); a
// printed id no rule has refuses.
bool Refuses(RuleId rule);
bool Refuses(std::string_view rule);

// The one answer to "is case `c` suspended / exited / payable in month `period` (YYYYMM)", from
// the rules' state. The payment rules, payroll (through PayableFor), the roll, replay and
// reconcile all ask this function and nothing else; each month's answer depends on the months
// the events name (a suspension's fromPeriod, a resumption's, an exit's lastPeriod plus its
// gradual-exit months), not on when they were recorded.
enum class Standing : uint8_t {
  kNotApproved,  // Not approved (applied, in procedure, rejected), or before its first month.
  kPaid,         // Approved and paid for the month (gradual-exit months included).
  kSuspended,    // Approved, suspended for the month.
  kExited,       // After its exit's last month (and gradual-exit months).
};
Standing StandingIn(const state::Case& c, uint32_t period);
const char* StandingName(Standing s);  // "not approved", "paid", "suspended", "exited"
// The month whose standing (and amount) the roll, replay and household state show for month
// `period`: `period` itself, or the case's first month if that is still ahead.
uint32_t ShownMonth(const state::Case& c, uint32_t period);

// What case `c` may be paid for month `period` (YYYYMM) under the payment rules. The append
// path checks every paymentIssued with it; payroll.h generates rolls with it.
struct Payable {
  Standing standing = Standing::kNotApproved;
  std::optional<RuleId> blocked_by;  // kPaymentAfterExit or kPaymentInactive: nothing may be paid.
  std::string why;
  const state::Entitlement* in_force = nullptr;  // Into the case; null if no entitlement yet.
  int64_t amount_fen = 0;                        // Decided entitlement (x3 a quarter); rises: MonthlyAmountInForce.
  std::string review_overdue;                    // Non-empty: the case's review is overdue (review.overdue).
  bool payable() const { return !blocked_by && in_force != nullptr && review_overdue.empty(); }
};
Payable PayableFor(const state::Case& c, uint32_t period);
// ---- The entitlement in force: standard rises reach it (提标) ----

// Reads a standards record of the state (state.h StandardsKey); nullopt if absent.
using LoadStandards = std::function<std::optional<state::Standards>(const std::string& key)>;
// The standard per person per month (fen) in force for `programme` in `region_code` on `date`:
// the most specific region prefix with a step in force wins; a yearly standard is divided by 12,
// rounded up (never stricter). With `step`, also the step itself. Nullopt if none is in force.
std::optional<int64_t> StandardMonthlyFen(uint16_t programme, std::string_view region_code, uint32_t date,
                                          const LoadStandards& load, state::StandardStep* step = nullptr);
// What the programme's formula gives case `c` for `members` people under a standard of
// `standard_monthly_fen` per person: 低保 (urban_dibao, rural_dibao) the gap, (standard −
// per-capita income, at least 0) × members; every other monthly programme standard × members.
int64_t FormulaMonthlyFen(const state::Case& c, int64_t standard_monthly_fen, uint32_t members);
// The monthly entitlement of case `c` (of a household in `region_code`) for month `period`: the
// last individual decision in force (approval, adjustment), unless a standard change for the
// case's programme and region took effect in a later month than that decision's first, and by
// `period`: then the formula under the standard in force, from the change's month until the next
// individual decision. `event_id` names the decision or the standardChanged. Nullopt if nothing is
// in force yet. One-off help is never recomputed. Used by payment.amount, payroll, the roll and
// replay.
struct AmountInForce {
  int64_t monthly_fen = 0;
  uint32_t members = 0;
  std::string event_id;
  bool by_standard = false;  // Derived from a standard change, not decided for the case.
};
std::optional<AmountInForce> MonthlyAmountInForce(const state::Case& c, std::string_view region_code, uint32_t period,
                                                  const LoadStandards& load);
// What one payment of a monthly entitlement pays: 3 months for a quarterly programme, else one
// (one-off help pays its amount once).
int64_t PaymentFen(int64_t monthly_fen, schema::Programme p);

// How a recoveryOrdered of `order_fen` counts against the payments it names, whose amounts are
// `amounts_fen` in the order named: each in turn up to its amount, until the order is used up.
// The funding totals' "recovered" (projections.h) and the recoveries' "ordered" (recoveries.h)
// both count it so.
std::vector<int64_t> RecoveryShares(int64_t order_fen, const std::vector<int64_t>& amounts_fen);
// The payment slot of case `c` for month `period` (state.h PaymentSlotKey): one payment per
// household, programme and month, "<programme>/<period>"; one-off help once per case,
// "case/<case id>" (`period` unused). payment.duplicate, the overpayments of an exit and
// payroll's "already paid" all read it.
std::string PaymentSlotName(const state::Case& c, uint32_t period);
// Whether payment `p` still stands, i.e. no correction annulled (voided) it: a payment that stands
// fills its slot (payment.duplicate, payroll's "already paid") and its roll line.
bool PaymentStands(const state::Payment& p);
// Months one payment covers: 1 (monthly), 3 (quarterly: paid for the quarter's first month) or
// 0 (one-off help: paid once per case, never on a monthly roll).
int MonthsPerPayment(schema::Programme p);

struct RuleInfo {
  RuleId rule;
  const char* id;  // RuleName(rule).
  const char* description;
  bool refuses = true;  // False: a flag, recorded on the event, which is accepted under every policy.
};
std::span<const RuleInfo> Catalogue();

// Rule limits, named once.
inline constexpr int64_t kMinNoticeDays = 7;          // Public notice (公示) at least 7 days.
inline constexpr uint32_t kMaxGradualExitMonths = 6;  // 渐退: at most this many months.
inline constexpr uint32_t kMaxReviewMonths = 12;      // Reviews at least yearly.
// The legal clock from application to decision is 18-30 working days (DOMAIN.md); an approval
// far outside it is a red flag.
inline constexpr int64_t kMinDaysToApproval = 10;
inline constexpr int64_t kMaxDaysToApproval = 90;

}  // namespace ledger::rules
