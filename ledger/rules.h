// The domain rules of ../shared/DOMAIN.md, in one place: the append path evaluates them on
// every event, and the inspectors' tools use the same code and the same rule ids.
//
// Process is pure: the event, the state it reads through a StateTxn (state.h) and, for a
// correction, the event it corrects → a Verdict. It changes nothing but the StateTxn it is
// given, which the caller commits only if the event is accepted:
//   - `structural` not ok: the event refers to a household, case, payment, roll, objection or
//     actor record that does not exist (or reuses an id); refused under every policy;
//   - `findings`: the rules the event breaks, each with its rule id, a message and the events
//     involved. Under the `enforce` policy a finding refuses the event unless its rule is a flag
//     (RuleInfo::refuses false: the event is the truth, learned late, and must be recorded;
//     exit.overpayment); under `record` the event is appended with its findings in the entry.
//     Either way the findings of an appended event are stored in its entry.
// Catalogue() lists every rule id with what it checks; README shows the same table.
#pragma once

#include <span>
#include <string>
#include <vector>

#include "ledger/schema/event.capnp.h"
#include "ledger/state.h"
#include "ledger/status.h"

namespace ledger::rules {

enum class Policy { kEnforce, kRecord };
const char* PolicyName(Policy p);
bool ParsePolicy(std::string_view name, Policy* out);

struct Finding {
  std::string rule;  // e.g. "notice.period"
  std::string message;
  std::vector<std::string> event_ids;  // This event first, then the others involved.
};

struct Verdict {
  Status structural;
  std::vector<Finding> findings;
};

// Checks `event` against the state and applies it to `txn`. `corrected` is the event a
// correction names (the caller looks it up), else null.
Verdict Process(schema::Event::Reader event, const schema::Event::Reader* corrected, state::StateTxn* txn);

// Whether a finding of `rule` refuses its event under the enforce policy (see above).
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

// What case `c` may be paid for month `period` (YYYYMM) under the payment rules. The append
// path checks every paymentIssued with it; payroll.h generates rolls with it.
struct Payable {
  Standing standing = Standing::kNotApproved;
  const char* blocked_by = nullptr;  // "payment.after_exit" or "payment.inactive": nothing may be paid.
  std::string why;
  const state::Entitlement* in_force = nullptr;  // Into the case; null if no entitlement yet.
  int64_t amount_fen = 0;                        // The entitlement for the month (x3 for a quarter).
  std::string review_overdue;                    // Non-empty: the case's review is overdue (review.overdue).
  bool payable() const { return blocked_by == nullptr && in_force != nullptr && review_overdue.empty(); }
};
Payable PayableFor(const state::Case& c, uint32_t period);
// How a recoveryOrdered of `order_fen` counts against the payments it names, whose amounts are
// `amounts_fen` in the order named: each in turn up to its amount, until the order is used up.
// The funding totals' "recovered" (projections.h) and the recoveries' "ordered" (recoveries.h)
// both count it so.
std::vector<int64_t> RecoveryShares(int64_t order_fen, const std::vector<int64_t>& amounts_fen);
// Months one payment covers: 1 (monthly), 3 (quarterly: paid for the quarter's first month) or
// 0 (one-off help: paid once per case, never on a monthly roll).
int MonthsPerPayment(schema::Programme p);

struct RuleInfo {
  const char* id;
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
