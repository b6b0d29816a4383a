// Ledger: the handle on one Benefit Ledger, the API that ledgerctl, ledgerd and any other
// program use (after LevelDB's leveldb::DB). A ledger is a directory: the database and the
// keyed-hash secret; its first entry, the genesis, records what it runs under (policy,
// checkpoint key, a check value of the secret).
//
// Appending: events are Cap'n Proto messages of event.capnp (events.h makes them from JSON). A
// group of events is committed in one synced write: all of its entries become durable together,
// or none do, and results are returned only after that write.
//
// Reading: each report fills a result record of results.capnp (results.h), the same record the
// command line prints and a server sends. Evidence: checkpoints and proofs (evidence.h), checked
// offline with no ledger.
//
// Errors are values: every method returns a Status, and nothing here throws (a Cap'n Proto
// exception from damaged stored data becomes Corruption at this boundary). Open takes the
// database's lock, so one process at a time holds a ledger; a Ledger object is used from one
// thread at a time.
//
// Reading beside the writer: Snapshot gives a read-only handle at the head now, for a thread of
// its own (a server's readers); OpenReadOnly opens a ledger that another process holds (the
// command line beside a server). Both have every read method; their write methods refuse (Busy).
#pragma once

#include <capnp/message.h>

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "benefit_ledger/events.h"
#include "benefit_ledger/evidence.h"
#include "benefit_ledger/keys.h"
#include "benefit_ledger/results.h"
#include "benefit_ledger/status.h"
#include "benefit_ledger/types.h"

namespace ledger {

class Log;  // The library's own (ledger/core/log.h).

// How a new ledger is made (Ledger::Create).
struct CreateOptions {
  Policy policy = Policy::kEnforce;
  // The checkpoint verifier key (its name is the checkpoints' origin); without one, the ledger
  // gets one later, once (SetCheckpointKey).
  std::optional<note::Verifier> checkpoint_key;
};

// A household's replay, as the visitor of Ledger::ReplayHousehold sees each step.
struct ReplayOptions {
  uint32_t as_of = 0;       // YYYYMMDD: visit the events dated up to it; 0 for all.
  bool keep_steps = false;  // Also put every step visited in the result record.
  bool entry_json = false;  // Also give each step's entry as JSON (ReplayStepView::entry_json).
  bool state_text = false;  // Also describe each step's state for people (ReplayStepView::state).
};
struct ReplayStepView {
  results::ReplayStep::Reader record;  // The step, with the state after it.
  std::string_view state;              // That state for people ("2 members; C1 approved ..."), with state_text.
  std::string_view entry_json;         // The entry as JSON, with ReplayOptions::entry_json.
};

// A registered actor, as the log last set it (Ledger::LookupActor): what a server needs to
// decide what an authenticated caller may do.
struct ActorInfo {
  std::string id;
  schema::Role role = schema::Role::UNSPECIFIED;
  std::string jurisdiction;  // Region prefix the actor acts in ("" for everywhere).
  std::string verifier_key;  // The actor's Ed25519 verifier key text (keys.h); "" if it has none.
  // False once the log has deactivated the actor (actorDeactivated): it may do nothing more.
  bool active = true;
  std::string deactivated_by;  // The actorDeactivated's event id, and its reason.
  std::string deactivation_reason;
};

// A bank's result file, parsed and checked (Ledger::Reconcile). Immutable once made.
class BankFile {
 public:
  // CSV with a header row; `columns` renames its columns ("id=col,amount=col,..."; keys id
  // amount status reason reference date), nullopt for the default names. A malformed file is an
  // error naming the line; a malformed spec, InvalidArgument naming "columns" (CheckColumns).
  static Status Parse(std::string text, std::optional<std::string_view> columns, std::unique_ptr<BankFile>* out);
  static Status CheckColumns(std::string_view columns);
  ~BankFile();
  size_t size() const;  // Lines, the header and blank lines aside.

 private:
  friend class Ledger;
  struct Rep;
  BankFile();
  std::unique_ptr<Rep> rep_;
};

// A bank file matched against the ledger: a line per line of the file, then the payments on the
// rolls it covers that have no line (missing results). Immutable; its BankFile must outlive it.
class Reconciliation {
 public:
  ~Reconciliation();
  size_t size() const;
  void Line(size_t i, results::ReconcileLine::Builder out) const;
  // The counts and sums per category, issued against settled per programme, and whether clean
  // (the lines are not copied in: give them with Line, streamed).
  void Summary(results::ReconcileResult::Builder out) const;

 private:
  friend class Ledger;
  struct Rep;
  Reconciliation();
  std::unique_ptr<Rep> rep_;
};

// A roll's bank instruction file (Ledger::ExportRoll).
struct RollFile {
  std::string county;  // The roll's county (6 digits): whose payments these are.
  std::string csv;     // A header record, then end_to_end_id, card (masked), payee_name, amount.
  size_t payments = 0;
  int64_t sum_fen = 0;
};

class Ledger {
 public:
  // A group holds at most this many events (its batch and state are held in memory until its
  // write): a larger one is refused, InvalidArgument.
  static constexpr size_t kGroupEventsMax = 100000;
  // Receives a group's results once its write is durable or has failed (`write` says so).
  using GroupDone = std::function<void(std::vector<AppendResult>* results, const Status& write)>;
  // Hears how far Verify has got: entries checked so far, of the head when it began.
  using VerifyProgress = std::function<void(uint64_t entries_checked, uint64_t entries_total)>;
  // Signs a payroll's roll event (the root of `roll`, as it is to be appended) or says why not.
  using RollSigner = std::function<Status(capnp::MessageBuilder* roll)>;

  // Makes a new ledger in `dir` (which must not exist, or be empty) and writes its genesis entry.
  static Status Create(const std::string& dir, const CreateOptions& options = {});
  // Opens a ledger of the current layout. One that does not run under what its log says
  // (identity_error()) opens for reading and verifying, and refuses to append.
  static Status Open(const std::string& dir, std::unique_ptr<Ledger>* out);
  // Opens `dir` read-only while another process may hold it and append (a RocksDB secondary
  // instance): it reads the ledger as of this call, with every write the holder had made durable,
  // and never a later one (open again to catch up); head_seq() says how far it reads.
  static Status OpenReadOnly(const std::string& dir, std::unique_ptr<Ledger>* out);
  // A read-only handle on this ledger as it is now (a RocksDB snapshot): every event whose append
  // was answered before the call, nothing after. It may be called from any thread, also while
  // another thread appends through this handle, and the handle it gives is used on a thread of
  // its own: its reads never wait for appends. It keeps the database open while it lives.
  Status Snapshot(std::unique_ptr<Ledger>* out) const;
  bool read_only() const;
  // Rewrites a ledger of an older layout into the current one, in place; it must not be open.
  static Status Upgrade(const std::string& dir, UpgradeReport* report);
  ~Ledger();
  Ledger(const Ledger&) = delete;
  Ledger& operator=(const Ledger&) = delete;

  uint64_t head_seq() const;  // Entries in the log as written.
  Hash head_hash() const;     // The last entry's hash (zeros for an empty log).
  Policy policy() const;
  const Status& identity_error() const;  // Why appends are refused; ok if they are not.

  // ---- Appending ----
  // Appends events[i] (each the root Event of its message, rewritten in place: personal numbers
  // protected) and sets (*results)[i]. A rejected event appends nothing; under kEachOnItsOwn it
  // does not stop the others. Non-ok only if the write failed: then the ledger refuses further
  // appends (reopen it to learn its true head).
  //
  // `submitted_by`, for a server: empty (nobody: the events are appended on the ledger directory
  // itself), or one actor id per event, parallel to `events` (a group may merge several
  // connections' calls): the authenticated actor that submitted events[i], recorded in its entry
  // as submittedBy and hashed with it ("" for none). An actor submits its own events; one whose
  // actorId is another actor is accepted only from a registered, active integration actor whose
  // jurisdiction covers the event's household or region, for a registered, active actor (else
  // rejected under every policy), and that actor's own role and jurisdiction are then checked as
  // always. A submitter list of another size is refused (InvalidArgument, nothing appended).
  // Idempotency compares events alone: the same event resent by another submitter is kExists.
  Status AppendGroup(std::span<capnp::MessageBuilder* const> events, std::vector<AppendResult>* results,
                     GroupMode mode = GroupMode::kEachOnItsOwn, std::span<const std::string> submitted_by = {});
  // Pipelined appending: checks and stages `events` now, writes them while the caller prepares
  // the next group; `done` gets the results in submission order. The events and `submitted_by`
  // (as AppendGroup's) need to live only during the call. FlushGroups waits for the write in
  // flight: call it when the stream pauses.
  Status SubmitGroup(std::span<capnp::MessageBuilder* const> events, GroupMode mode, GroupDone done,
                     std::span<const std::string> submitted_by = {});
  Status FlushGroups();
  // Loads the domain state into memory, as the first append otherwise does (a server calls it
  // at start, so that its first caller does not wait for it). Within a memory budget: a state
  // too large for it is read as appends need it.
  Status LoadState();

  // ---- Replication (ledgerd --etcd: tools/ledgerd/replica.h) ----
  // Sets the step run before each group's own synced write, on the thread that writes it (a
  // replicated ledger's leader commits the group to its cluster there): the group is written and
  // answered only if it returns ok. If not, nothing of it (nor of the groups after it) is written
  // here, their results say they may not be in the ledger, with that Status (the cluster may
  // hold it), and appends are refused until a committer is set again (a leader caught up with
  // its cluster by ApplyEntries); the head and state are as before. Set it with no group in
  // flight. Once set, the ledger's own entries (SetCheckpointKey) are refused: not replicated.
  using GroupCommitter = std::function<Status(const GroupEntries& group)>;
  void SetGroupCommitter(GroupCommitter commit);
  // A follower's write: `group` as another copy of the ledger wrote it (the leader's
  // GroupEntries), appended in one synced write, or none of it. It must follow this copy's head
  // and end at its last_hash; each entry is checked as its append was, here, and must come out
  // byte for byte the same: the next seq, linked to this copy's head and household head, its
  // event new here, the rules (signatures and the submitter's delegation too) giving the
  // findings it records. One that does not is Corruption naming its seq and why, and nothing is
  // written. So a follower's state is the leader's, byte for byte.
  Status ApplyEntries(const GroupEntries& group);

  // ---- Entries and households ----
  // Entry `seq` as one line of JSON (its hash and kind with it). NotFound if there is none.
  Status ShowEntry(uint64_t seq, std::string* json) const;
  // Replays household `household`, checking its chain entry by entry: `visit` sees each event
  // dated up to options.as_of, in log order; `out` gets the state on that date (the end, without
  // one), the number of events and the last entry's hash. Corruption names the first seq that
  // does not check, NotFound a household the ledger does not have. `state_on_date` (if given)
  // gets the state on the date for people.
  Status ReplayHousehold(std::string_view household, const ReplayOptions& options,
                         const std::function<void(const ReplayStepView&)>& visit, results::ReplayResult::Builder out,
                         std::string* state_on_date = nullptr) const;

  // ---- Who and where (for a server's access checks) ----
  // The actor `actor_id` as registered (and whether deactivated since). NotFound (field "actor")
  // if it is not registered.
  Status LookupActor(std::string_view actor_id, ActorInfo* out) const;
  // The region code of household `household`. NotFound (field "household") if there is none.
  Status HouseholdRegion(std::string_view household, std::string* region) const;
  // The household and region code of entry `seq`'s event ("" for an event about none, such as
  // the ledger's own). NotFound (field "seq") if there is no such entry.
  Status EntryScope(uint64_t seq, std::string* household, std::string* region) const;

  // ---- Whole-ledger checks ----
  // Checks every entry, index, chain, the Merkle tree, the checkpoints and the signatures against
  // the log. Non-ok only if it could not run (I/O); a ledger that fails has out.ok false.
  // `progress`, if given, is called on the calling thread every few thousand entries and once
  // the log has been read (again from 0 for the second pass of a ledger that fails).
  Status Verify(results::VerifyResult::Builder out, const VerifyProgress& progress = {}) const;
  // Recomputes the domain state and the projections from the log alone.
  Status Rebuild(RebuildReport* report);

  // ---- Reports (each NotFound, field "region", for a region prefix with no household) ----
  // The cases on the roll on `as_of` (YYYYMMDD).
  Status Roll(const ReportFilter& filter, uint32_t as_of, results::RollResult::Builder out) const;
  // The cases whose review falls due by `due_by`, on the roll on `as_of`.
  Status Reviews(const ReportFilter& filter, uint32_t as_of, uint32_t due_by, results::RollResult::Builder out) const;
  // Funding per programme and month, months from_period to to_period (YYYYMM).
  Status Totals(const ReportFilter& filter, uint32_t from_period, uint32_t to_period,
                results::TotalsResult::Builder out) const;
  // Payments for months after their case's exit: a region's (household "") or one household's.
  Status Recoveries(const ReportFilter& filter, std::string_view household,
                    results::RecoveriesResult::Builder out) const;
  // Who approved what, and the red flags: of one actor, one household or a region prefix.
  Status Trace(results::TraceScope scope, std::string_view asked, results::TraceResult::Builder out) const;
  // The rules the ledger applies (needs no ledger).
  static void Rules(results::RulesResult::Builder out);

  // ---- Payroll ----
  // Plans the county's roll for the month and, unless dry_run, issues it: the roll and its
  // payments as one all-or-nothing group, signed with `key` if given (an actor with a key in the
  // ledger must sign). `out` gets the lines, the cases left off and the outcome (refused: the
  // ledger refused the roll, *refusal says why). Non-ok only if it could not run.
  Status IssuePayroll(const PayrollRequest& request, bool dry_run, const note::KeyPair* key,
                      results::PayrollResult::Builder out, std::string* refusal);
  // The same, the roll signed by `sign` (if set) where the key is not in this process: a server
  // whose client signs (PayrollRoll gives it the event to sign). An error from `sign` is returned
  // and nothing is issued. `submitted_by` is recorded in each entry (Entry.submittedBy: the
  // server's authenticated caller; "" for none).
  // (Not an overload: a literal nullptr would fit both.)
  Status IssuePayrollSignedBy(const PayrollRequest& request, bool dry_run, const RollSigner& sign,
                              results::PayrollResult::Builder out, std::string* refusal,
                              std::string_view submitted_by = {});
  // The roll event IssuePayroll would append now (unsigned) into `roll`, for its actor to sign
  // elsewhere; *due false, `roll` untouched, if it would issue nothing (issued before, nothing
  // payable). Errors as IssuePayroll's.
  Status PayrollRoll(const PayrollRequest& request, capnp::MessageBuilder* roll, bool* due) const;
  // Roll `roll_id`'s bank instruction file. NotFound (field "roll_id") if there is no such roll.
  Status ExportRoll(std::string_view roll_id, RollFile* out) const;

  // ---- Reconciliation ----
  // Matches every line of `file` against the ledger. `file` must outlive *out.
  Status Reconcile(const BankFile& file, std::unique_ptr<Reconciliation>* out) const;
  // Records the results of the matched, failed, returned and paid-after-exit lines as events by
  // `actor` dated `date` (or the line's value date), with ids derived from payment and status:
  // running it again records nothing new. `refused` hears of each result the ledger would not
  // record. Non-ok on a write failure; what was recorded before it stays. `submitted_by` is
  // recorded in each entry (Entry.submittedBy; "" for none), as PayrollRequest::submitted_by.
  Status RecordBankResults(const Reconciliation& matches, std::string_view actor, uint32_t date,
                           const std::function<void(const Status&)>& refused, results::ApplyOutcome::Builder out,
                           std::string_view submitted_by = {});

  // ---- Evidence ----
  // The ledger's checkpoint key. NotFound if it has none.
  Status CheckpointKey(note::Verifier* key) const;
  // Gives the ledger its checkpoint key, once (Conflict if it has one); recorded in the log.
  Status SetCheckpointKey(const note::Verifier& key, std::string_view reason);
  // Makes, signs and stores the checkpoint of the head, or returns the stored one of that size
  // (*made false). `key` must be the ledger's checkpoint key.
  Status MakeCheckpoint(const note::KeyPair& key, evidence::SignedCheckpoint* out, bool* made);
  Status ListCheckpoints(results::CheckpointList::Builder out) const;
  // The latest stored checkpoint (its signed note as stored), without making one: what a
  // household proof at the latest checkpoint is checked against. NotFound if none was made.
  Status LatestCheckpoint(evidence::SignedCheckpoint* out) const;
  // NotFound / InvalidArgument name the parameter: "seq", "size", "size1", "size2".
  Status ProveInclusion(uint64_t seq, std::optional<uint64_t> size, evidence::Proof* out) const;
  Status ProveConsistency(uint64_t size1, uint64_t size2, evidence::Proof* out) const;
  // At the stored checkpoint of `size` (default: the latest).
  Status ProveHousehold(std::string_view household, std::optional<uint64_t> size, evidence::Proof* out) const;

 private:
  explicit Ledger(std::unique_ptr<Log> log);
  Status CheckRegion(const ReportFilter& filter) const;
  std::unique_ptr<Log> log_;
};

}  // namespace ledger
