# Benefit Ledger result records: what the reports answer. ledgerctl prints them (--format json
# as one document, jsonl as one record a line; ledger/json_writer.h), and the server sends the
# same records over Cap'n Proto. Each report is one `...Result` struct: the query it answers
# (echoed with the defaults filled in), then its rows and summaries. Built from the library's
# answers by ledger/results.h; README.md "Output formats" shows each with real output.
#
# Conventions (as in event.capnp)
#   - Money is integer fen in Int64 fields named *Fen. All money is bounded by kMaxAmountFen
#     (1e14 fen, below 2^53), so JSON numbers carry it exactly.
#   - Hashes are Data, written as lowercase hex (64 characters for SHA-256).
#   - Dates are UInt32 YYYYMMDD marked $date, written "YYYY-MM-DD"; months are UInt32 YYYYMM
#     marked $period, written "YYYY-MM". 0 means none and is written null.
#   - Fields marked $optional hold their default when there is nothing to say, written null.
#   - A struct field not set (a step that did not happen) is written null.
#
# Evolution: as event.capnp, add fields with new ordinals only. A new report is one new
# `...Result` struct here and one builder function in results.h.

@0xd8f2ed57a4ccca0c;

using Json = import "/capnp/compat/json.capnp";
using Cxx = import "/capnp/c++.capnp";
using Event = import "event.capnp";
$Cxx.namespace("ledger::results");

# The ids are fixed: ledger/json_writer.cc looks for them.
annotation date @0xfd16efd2cc716629 (field) :Void;      # UInt32 YYYYMMDD: "YYYY-MM-DD"; 0 is null.
annotation period @0xfe4a2c85890a5006 (field) :Void;    # UInt32 YYYYMM: "YYYY-MM"; 0 is null.
annotation optional @0x862f34b900118494 (field) :Void;  # The field's default value is written null.
annotation row @0x904bdeadee21013b (field) :Text;       # On a list of structs in a result: in JSON
                                                         # Lines a line per element, "type" this name.

# ---------------------------------------------------------------------------------------------
# Shared

struct Finding {
  # A domain rule an event breaks (ledger/rules.h), recorded on its entry.
  rule @0 :Text;                   # Rule id, e.g. "bank.order" (ledgerctl rules).
  message @1 :Text;
  seq @2 :UInt64;                  # The entry that records it.
  household @3 :Text;              # Its household; "" for events about none.
  eventIds @4 :List(Text);         # The events involved, the entry's own first.
}

# ---------------------------------------------------------------------------------------------
# roll and reviews: the cases on the roll (在册名单) on a date

struct RollQuery {
  asOf @0 :UInt32 $date;
  dueBy @1 :UInt32 $date;          # reviews only: reviews falling due by this day; null for roll.
  regionPrefix @2 :Text;           # "" for every region.
  programme @3 :Event.Programme $optional;  # null for every programme.
}

struct RollCase {
  household @0 :Text;
  region @1 :Text;                 # 12-digit region code.
  caseId @2 :Text;
  programme @3 :Event.Programme;
  sincePeriod @4 :UInt32 $period;  # First month paid.
  membersCovered @5 :UInt32;
  monthlyAmountFen @6 :Int64;      # Entitlement in force in the as-of month.
  suspended @7 :Bool;
  reviewDue @8 :UInt32 $date;      # The next review as the ledger holds it now.
}

struct RollSummary {
  cases @0 :UInt32;
  suspended @1 :UInt32;
  monthlyAmountFen @2 :Int64;      # Sum over the cases not suspended.
}

struct RollResult {
  query @0 :RollQuery;
  cases @1 :List(RollCase) $row("case");
  summary @2 :RollSummary;
}

# ---------------------------------------------------------------------------------------------
# recoveries: payments made for months after their case's exit, to be recovered (追回)

struct RecoveriesQuery {
  regionPrefix @0 :Text;           # "" for every region.
  programme @1 :Event.Programme $optional;  # null for every programme.
  household @2 :Text;              # With --household: that household only; "" otherwise.
}

struct RecoveryCase {
  household @0 :Text;
  region @1 :Text;                 # 12-digit region code.
  caseId @2 :Text;
  programme @3 :Event.Programme;
  paidUntilPeriod @4 :UInt32 $period;  # The last month that may be paid, gradual exit included.
  paymentIds @5 :List(Text);       # The payments for months after it, in the order found.
  periods @6 :List(UInt32) $period;  # The months they paid, in the same order.
  dueFen @7 :Int64;                # What those payments paid.
  orderedFen @8 :Int64;            # recoveryOrdered against them.
  recoveredFen @9 :Int64;          # What the bank returned of them.
  outstandingFen @10 :Int64;       # due - ordered - recovered, never below 0.
}

struct RecoveriesSummary {
  cases @0 :UInt32;
  dueFen @1 :Int64;
  orderedFen @2 :Int64;
  recoveredFen @3 :Int64;
  outstandingFen @4 :Int64;
}

struct RecoveriesResult {
  query @0 :RecoveriesQuery;
  cases @1 :List(RecoveryCase) $row("case");
  summary @2 :RecoveriesSummary;
}

# ---------------------------------------------------------------------------------------------
# totals: funding per programme and month

struct TotalsQuery {
  fromPeriod @0 :UInt32 $period;
  toPeriod @1 :UInt32 $period;
  regionPrefix @2 :Text;
  programme @3 :Event.Programme $optional;
}

struct TotalsRow {
  programme @0 :Event.Programme $optional;  # null in the sum of all rows.
  period @1 :UInt32 $period;                 # null in the sum of all rows.
  allocatedFen @2 :Int64;
  issuedFen @3 :Int64;
  settledFen @4 :Int64;
  failedFen @5 :Int64;
  returnedFen @6 :Int64;
  recoveredFen @7 :Int64;
  balanceFen @8 :Int64;            # allocated - settled + returned; may be negative.
  payments @9 :Int64;              # Payments issued, supplementary ones included.
  householdMonths @10 :Int64;      # 户次: regular payments.
  personMonths @11 :Int64;         # 人次: people those payments cover.
}

struct TotalsResult {
  query @0 :TotalsQuery;
  rows @1 :List(TotalsRow) $row("row");
  all @2 :TotalsRow;               # The sum of the rows.
}

# ---------------------------------------------------------------------------------------------
# replay: a household's history and its state

enum CaseStatus {
  # As ledger/state.h's CaseStatus, in the same order.
  applied @0; checked @1; visited @2; reviewed @3; noticed @4; approved @5; rejected @6;
  suspended @7; exited @8;
}

struct CaseState {
  caseId @0 :Text;
  programme @1 :Event.Programme;
  status @2 :CaseStatus;
  monthlyAmountFen @3 :Int64 = -1 $optional;  # Entitlement in force that month; null before approval.
  membersCovered @4 :UInt32;                  # By that entitlement; 0 before approval.
  suspended @5 :Bool;                         # Suspended in that month (rules::StandingIn).
  reviewDue @6 :UInt32 $date;
  standing @7 :CaseStanding;       # In that month, by the one definition (rules::StandingIn).
}

enum CaseStanding {
  # As ledger/rules.h's Standing, in the same order.
  notApproved @0 $Json.name("not_approved");  # Applied, in procedure or rejected; or before its first month.
  paid @1;                         # Paid for the month (gradual-exit months included).
  suspended @2;
  exited @3;                       # After its exit's last month.
}

struct HouseholdState {
  period @0 :UInt32 $period;       # The month the amounts are in force for.
  region @1 :Text;
  members @2 :UInt32;
  cases @3 :List(CaseState);
}

struct ReplayStep {
  seq @0 :UInt64;
  date @1 :UInt32 $date;           # The event's business date.
  kind @2 :Text;                   # Event kind, e.g. "approval".
  eventId @3 :Text;
  actorId @4 :Text;
  amountFen @5 :Int64 = -1 $optional;  # The kind's money field; null if it has none.
  entryHash @6 :Data;
  findings @7 :List(Finding);      # Recorded under the record policy.
  after @8 :HouseholdState;        # The household after the event, amounts for its month.
}

struct ReplayQuery {
  household @0 :Text;
  asOf @1 :UInt32 $date;           # null: the whole history.
}

struct ReplayResult {
  query @0 :ReplayQuery;
  steps @1 :List(ReplayStep) $row("step");  # Events dated up to asOf, in log order.
  onDate @2 :HouseholdState;       # The state on asOf (at the end, without one).
  events @3 :UInt64;               # Every event of the household, also those after asOf.
  lastEntryHash @4 :Data;          # Of the household's last entry; its chain was checked to it.
}

# ---------------------------------------------------------------------------------------------
# trace: approval chains and red flags

struct TraceStep {
  date @0 :UInt32 $date;
  actors @1 :List(Text);           # Who recorded it, the second official included.
  seq @2 :UInt64;
  submittedBy @3 :Text $optional;  # The integration actor that submitted it for its actor
                                   # (Entry.submittedBy); null when its actor submitted it, or
                                   # it was appended on the ledger directory.
}

struct TraceChain {
  household @0 :Text;
  caseId @1 :Text;
  programme @2 :Event.Programme $optional;
  applied @3 :TraceStep;           # Each step: null if the case has none (the latest if several).
  checked @4 :TraceStep;
  visited @5 :TraceStep;
  reviewed @6 :TraceStep;
  notice @7 :TraceStep;
  approved @8 :TraceStep;
  rejected @9 :TraceStep;
  payments @10 :UInt32;
  paidFen @11 :Int64;
  payers @12 :List(Text);          # Distinct actors who issued its payments.
}

struct TraceQuery {
  # One of the three is given.
  actor @0 :Text;
  household @1 :Text;
  regionPrefix @2 :Text;
}

struct TraceResult {
  query @0 :TraceQuery;
  chains @1 :List(TraceChain) $row("chain");
  flags @2 :List(Finding) $row("flag");
}

# ---------------------------------------------------------------------------------------------
# reconcile: a bank's result file against the ledger

enum ReconcileCategory {
  # As ledger/reconcile.h's Category, in the same order.
  matched @0;
  failed @1;
  returned @2;
  amountMismatch @3 $Json.name("amount_mismatch");
  missingResult @4 $Json.name("missing_result");
  unknown @5;
  duplicateResult @6 $Json.name("duplicate_result");
  paidAfterExit @7 $Json.name("paid_after_exit");
}

enum BankStatus {
  settled @0; failed @1; returned @2;
}

struct BankLine {
  line @0 :UInt32;                 # In the file, the header being line 1.
  amountFen @1 :Int64;
  status @2 :BankStatus;
  reason @3 :Text;
  bankReference @4 :Text;
  date @5 :UInt32 $date;           # Value date; null if the file has none.
}

struct LedgerPayment {
  household @0 :Text;
  region @1 :Text;                 # "" if the household does not read.
  amountFen @2 :Int64;             # As issued.
  programme @3 :Event.Programme;
  period @4 :UInt32 $period;
}

struct ReconcileLine {
  category @0 :ReconcileCategory;
  endToEndId @1 :Text;             # The payment id.
  bank @2 :BankLine;               # null for a missing result.
  ledger @3 :LedgerPayment;        # null for an unknown id or a duplicate line.
}

struct CategoryTotal {
  category @0 :ReconcileCategory;
  lines @1 :UInt64;
  amountFen @2 :Int64;             # The bank's amounts; the ledger's for missing results.
}

struct ProgrammeTotal {
  programme @0 :Event.Programme;
  issuedFen @1 :Int64;             # Of the payments the report names (the file's lines and the
                                   # missing results; duplicates not counted twice).
  settledFen @2 :Int64;            # Matched and paid after exit.
}

struct ApplyOutcome {
  recorded @0 :UInt64;
  alreadyRecorded @1 :UInt64;
  refused @2 :UInt64;
}

struct ReconcileQuery {
  bankFile @0 :Text;
  apply @1 :Bool;
  actor @2 :Text;                  # Who records the results; "" without apply.
}

struct ReconcileResult {
  query @0 :ReconcileQuery;
  lines @1 :List(ReconcileLine) $row("line");  # File order, then the missing results.
  categories @2 :List(CategoryTotal) $row("category");
  programmes @3 :List(ProgrammeTotal) $row("programme");
  clean @4 :Bool;                  # Every line matched and none missing (exit status 0).
  applied @5 :ApplyOutcome;        # null without apply.
}

# ---------------------------------------------------------------------------------------------
# payroll issue: a county's monthly roll

enum PayrollOutcome {
  issued @0;
  issuedBefore @1 $Json.name("issued_before");   # The roll exists: nothing issued.
  nothingDue @2 $Json.name("nothing_due");
  dryRun @3 $Json.name("dry_run");
  refused @4;                                    # The ledger refused the roll: nothing issued.
}

struct PayrollLine {
  endToEndId @0 :Text;             # The payment id.
  household @1 :Text;
  caseId @2 :Text;
  cardMasked @3 :Text;
  payeeName @4 :Text;
  amountFen @5 :Int64;
}

struct PayrollSkipped {
  household @0 :Text;
  caseId @1 :Text;
  reason @2 :Text;
}

struct PayrollQuery {
  county @0 :Text;
  programme @1 :Event.Programme;
  period @2 :UInt32 $period;
  actor @3 :Text;
  date @4 :UInt32 $date;           # Business date of the roll's events.
  dryRun @5 :Bool;
}

struct PayrollResult {
  query @0 :PayrollQuery;
  rollId @1 :Text;
  outcome @2 :PayrollOutcome;
  lines @3 :List(PayrollLine) $row("line");  # Payable, unpaid: on the roll (left off it if issued before).
  skipped @4 :List(PayrollSkipped) $row("skipped");
  alreadyPaid @5 :UInt32;          # Cases paid for the month on other rolls.
  controlSumFen @6 :Int64;
  firstSeq @7 :UInt64 $optional;   # The entries appended, when issued.
  lastSeq @8 :UInt64 $optional;
}

# ---------------------------------------------------------------------------------------------
# verify and checkpoints

struct VerifyResult {
  ok @0 :Bool;
  entries @1 :UInt64;              # Read (up to the problem, if any).
  households @2 :UInt64;
  headHash @3 :Data;
  seconds @4 :Float64;
  eventsPerSecond @5 :Float64;
  badSeq @6 :UInt64 $optional;     # The first entry with a problem; null if ok or not tied to one.
  problem @7 :Text;                # "" if ok.
  genesisSeq @8 :UInt64 $optional; # The genesis entry's seq: 1, or later in a ledger upgraded from
                                   # before genesis entries (what came before it ran under a policy
                                   # and secret the log does not record); null if none was found.
}

struct CheckpointRow {
  size @0 :UInt64;                 # Tree size: entries covered.
  rootHash @1 :Data;               # RFC 6962 root (base64 in the note and the table).
  households @2 :UInt64;
  headsRoot @3 :Data;              # Root of the household heads map.
  lastEntryRecordedAt @4 :Text;    # ISO 8601 UTC; "" if it does not read.
}

struct CheckpointList {
  checkpoints @0 :List(CheckpointRow) $row("checkpoint");
}

struct ProofCheckResult {
  # ledgerctl verify-proof.
  valid @0 :Bool;
  summary @1 :Text;                # What the proof shows, when valid.
  problem @2 :Text;                # Why not ("field: reason"), when invalid; "" if valid.
  checkpointOrigin @3 :Text;       # The signed checkpoint it was checked against; "" if none.
  checkpointSize @4 :UInt64 $optional;
  # A proof in the RFC 6962 test vectors' shape carries its own annotations, echoed, never checked:
  vectorDescription @5 :Text;      # Its "desc"; "" if none.
  vectorExpects @6 :Text;          # "valid" or "invalid" by its "wantErr"; "" if it has none.
}

# ---------------------------------------------------------------------------------------------
# rules

struct Rule {
  id @0 :Text;                     # As findings and refusals name it, e.g. "notice.period".
  description @1 :Text;
}

struct RulesResult {
  rules @0 :List(Rule) $row("rule");
}
