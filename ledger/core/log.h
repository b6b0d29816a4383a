// Log: the append-only, hash-chained log of benefit-disbursement events.
//
// A ledger is a directory: `db/` (RocksDB, layout in STORAGE.md) and `secret` (the 32-byte key
// of the keyed hashes, identity.h). Its first entry, the genesis (genesis.h), records what it
// runs under: policy, checkpoint key, a check value of the secret. Open takes RocksDB's lock, so one process at a time
// writes; a Log object is used from one thread at a time (SnapshotView and OpenReadOnly give
// read-only ones for other threads and other processes).
//
// Appending: AppendGroup takes a group of parsed events and commits every acceptable one in one
// RocksDB WriteBatch with the WAL synced: all of the group's writes (log, indexes, heads, the
// Merkle tree's new nodes) become durable together, or none do. Results are only returned after
// that write.
#pragma once

#include <capnp/message.h>

#include <functional>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "benefit_ledger/status.h"
#include "ledger/core/entry.h"
#include "ledger/core/genesis.h"
#include "ledger/core/state_cache.h"
#include "ledger/core/state_machine.h"
#include "ledger/core/store.h"
#include "ledger/util/assert.h"
#include "ledger/util/hash.h"
#include "ledger/util/merkle.h"
#include "ledger/util/note.h"

namespace ledger {

// One household entry as read back by ReadHousehold, its chain already checked.
struct HouseholdEntry {
  uint64_t seq = 0;
  Hash hash{};
  std::string bytes;  // Canonical entry bytes (entry.h EntryReader reads them).
};

class Log {
 public:
  ~Log();
  // Makes a new ledger in `dir`, which must not exist or be empty, and writes its genesis entry
  // (seq 1). The policy says what an event that breaks a domain rule does: refused (enforce) or
  // appended with its findings (record, for importing an existing system's history). It is fixed
  // for the ledger's life: the genesis records it. `checkpoint_key`, if given, is the checkpoint
  // verifier key (its name is the checkpoints' origin); without one, SetCheckpointKey gives one later.
  static Status Create(const StateMachine& machine, const std::string& dir, Policy policy = Policy::kEnforce,
                       const note::Verifier* checkpoint_key = nullptr);
  // Opens a ledger of the current layout (store.h kFormatVersion). An older one is refused,
  // naming Upgrade (ledgerctl upgrade). A ledger that does not run under what its log says
  // (identity_error(): a policy row, secret file or checkpoint key unlike the genesis entry's, or
  // no genesis entry at all) opens for reading and verifying, and refuses to append.
  static Status Open(const StateMachine& machine, const std::string& dir, std::unique_ptr<Log>* out);
  // Opens `dir` for reading while another process may hold and append to it: a RocksDB secondary
  // instance (Store::OpenSecondary), reading the ledger as of this call, up to the holder's last
  // durable write. Its write methods refuse (Busy); head() says how far it reads.
  static Status OpenReadOnly(const StateMachine& machine, const std::string& dir, std::unique_ptr<Log>* out);
  // A read-only Log on a snapshot of this one's database now (Store::SnapshotView). Thread-safe:
  // it reads only what is fixed at open (the secret, the domain), so a reader thread may make one
  // while another thread appends here. Appends acknowledged before the call are in it.
  Status SnapshotView(std::unique_ptr<Log>* out) const;
  bool read_only() const { return store_->read_only(); }

  // Rewrites a ledger of an older layout into the current one, in place, in synced batches
  // (upgrade.cc). Each row it rewrites is first checked against the log: one that does not match
  // stops it with Corruption, and a run cut short can be run again. The ledger must not be open.
  // A ledger without a genesis entry (made before them) gets one appended at its head, recording
  // the policy, checkpoint key and secret it has now: existing entries are never changed, so the
  // entries before it ran under a policy and secret the log does not record (the report says so).
  using UpgradeReport = ledger::UpgradeReport;  // benefit_ledger/types.h
  static Status Upgrade(const StateMachine& machine, const std::string& dir, UpgradeReport* report);

  // Appends events[i] (each the root schema::Event of its message; protected in place, see
  // identity.h) and sets (*results)[i]. A rejected event appends nothing and does not stop the
  // others. Returns non-ok only if the write failed (or the stored Merkle tree could not be read
  // to grow it): then each result that would have been created says so (whether it reached the
  // disk is unknown), and this object refuses further appends: reopen the ledger to learn its
  // true head.
  //
  // With kAllOrNothing (a generated payment roll), one rejected event rejects the whole group:
  // nothing is written, and the results of the others say which event stopped them.
  //
  // A group holds at most kGroupEventsMax events (a larger one is refused, InvalidArgument): the
  // group's batch and its state are held in memory until its write (ledgerctl append's
  // --group-size has the same maximum).
  //
  // `submitted_by` is empty, or holds for each event who submitted it through a server (its
  // entry's submittedBy; "" for none): the domain checks a submission for another actor
  // (StateMachine::Decide). Any other size is refused, InvalidArgument.
  using GroupMode = ledger::GroupMode;  // benefit_ledger/types.h
  static constexpr size_t kGroupEventsMax = 100000;
  Status AppendGroup(std::span<capnp::MessageBuilder* const> events, std::vector<AppendResult>* results,
                     GroupMode mode = GroupMode::kEachOnItsOwn, std::span<const std::string> submitted_by = {});

  // Pipelined appending, for a stream of groups (ledgerctl append, imports). SubmitGroup checks
  // and stages `events` on this thread, on top of the group still being written if there is one,
  // then waits for that write to end and starts this group's synced write on a second thread. A
  // group then costs about the longer of checking and writing, not their sum. `done` receives each
  // group's results, in submission order, once its write is durable or has failed (then as
  // AppendGroup says; the groups after a failed one are not written). The events and
  // `submitted_by` need to live only during the call. FlushGroups waits for the write in flight
  // and reports it: call it when the stream pauses, so that a writer waiting for answers gets
  // them. AppendGroup is the two in one; WriteEvidence, Rebuild and the destructor flush first.
  using GroupDone = std::function<void(std::vector<AppendResult>* results, const Status& write)>;
  Status SubmitGroup(std::span<capnp::MessageBuilder* const> events, GroupMode mode, GroupDone done,
                     std::span<const std::string> submitted_by = {});
  Status FlushGroups();

  // Replication (ledgerd --etcd). SetGroupCommitter sets the step run before each group's own
  // synced write, on the thread that writes it: the group is written (and answered) only if it
  // returns ok. If not, nothing of it (nor of the groups staged on it) is written here, their
  // results say they may not be in the ledger, with its Status (the cluster may hold the group:
  // its outcome may be unknown), and appends are refused until SetGroupCommitter is called
  // again (a leader that has caught up with its cluster, by ApplyEntries); this copy's head and
  // state are as before the group. Call it with no group in flight (after FlushGroups). The
  // ledger's own entries (SetCheckpointKey) are refused once one is set: they are not replicated.
  using GroupCommitter = std::function<Status(const GroupEntries& group)>;
  void SetGroupCommitter(GroupCommitter commit) {
    LEDGER_ASSERT(in_flight_ == nullptr, "a committer set with a group in flight");
    committer_ = std::move(commit);
    commit_error_ = Status::Ok();
  }
  // A follower's write: a group as another copy of the ledger wrote it (its committer's
  // GroupEntries), appended here in one synced write, or none of it. The group must follow this
  // copy's head (first_seq, prev_hash) and end at its last_hash; each entry is checked as its
  // append was, here, and must come out byte for byte the same: the next seq, linked to this
  // copy's head and household head, its event new here, the rules (with signatures and the
  // submitter's delegation) giving the findings it records. One that does not is Corruption
  // naming its seq and why; nothing is written then, and this object stays as it was.
  Status ApplyEntries(const GroupEntries& group);
  // Primes the state cache (state_cache.h) now rather than at the first append. Non-ok only if
  // the state could not be read; the cache is then partial and appends read through.
  Status LoadState();

  // The canonical bytes of entry `seq`; NotFound if there is none.
  Status ReadEntry(uint64_t seq, std::string* bytes) const;
  // The seq and canonical bytes of the entry of event `event_id`; NotFound if there is none.
  Status ReadEvent(std::string_view event_id, uint64_t* seq, std::string* bytes) const;
  // Calls `visit` for each entry of household `id` in order, after checking each against the
  // household chain and head (an entry is visited once the entry after it, or the head, has
  // shown its hash): Corruption names the first seq that does not check (an altered entry, or the
  // entry whose link was altered), and nothing from it on is visited. Reads only this household's
  // entries. NotFound if the ledger has no such household.
  Status ReadHousehold(std::string_view id, const std::function<void(const HouseholdEntry&)>& visit) const;

  // Recomputes the domain state and the projections from the log alone (rules.h,
  // projections.h), replacing what the state family held. Reports where the rules, run again,
  // do not give the findings recorded in an entry (the rules changed since, or the entry was
  // refused then): such entries are counted and the first is named; the state is rebuilt anyway.
  using RebuildReport = ledger::RebuildReport;  // benefit_ledger/types.h
  Status Rebuild(RebuildReport* report);

  // Writes rows kept beside the log (evidence.h: checkpoints and their household maps), synced.
  // Never log entries or their indexes: AppendGroup alone writes those. Refused, like appends,
  // after a failed write or while the state is behind the log.
  Status WriteEvidence(rocksdb::WriteBatch* batch);

  // Gives a ledger made without a checkpoint key its key: appends a checkpointKeySet entry and
  // sets meta origin and checkpoint_key in the same write. Conflict if it has one (it is set once).
  Status SetCheckpointKey(const note::Verifier& key, std::string_view reason);

  // The head of the log as written (groups in flight are not in it until FlushGroups).
  HeadValue head() const { return head_; }
  Policy policy() const { return policy_; }
  // What the ledger runs under: meta policy, origin and checkpoint_key, and the check value of
  // the secret file (never the secret). Verify compares it with the log.
  const LedgerIdentity& running_identity() const { return running_; }
  // Why appends are refused: the identity differs from the log's, or the log has no genesis.
  const Status& identity_error() const { return identity_error_; }
  const Store& store() const { return *store_; }
  const StateCache& state_cache() const { return state_cache_; }  // For tests and the bench.

 private:
  struct Group;     // Per-group state of AppendGroup (log.cc).
  struct InFlight;  // A group being written (SubmitGroup).
  Log();
  static std::string DbPath(const std::string& dir);  // dir/db
  static Status OpenAs(const StateMachine& machine, const std::string& dir, bool read_only, std::unique_ptr<Log>* out);
  Status Attach(const StateMachine& machine, const std::string& dir);  // Open's reads of store_.
  struct StagedEntry {
    std::string bytes;
    Hash hash{};
    EntryLinks links;
    HouseholdHead household_before;  // The household's head before this entry.
  };
  Status Prepare(std::span<capnp::MessageBuilder* const> events, std::span<const std::string> submitted_by,
                 GroupMode mode, Group* group, std::vector<AppendResult>* results);
  void PrimeStateCache();
  AppendResult AppendOne(capnp::MessageBuilder* message, std::string_view submitted_by, Group* group);
  struct Given {  // An entry another copy wrote (ApplyEntries), read and as its bytes.
    const EntryReader* reader;
    std::string_view bytes;
  };
  AppendResult CheckAndStage(schema::Event::Reader event, std::string_view submitted_by, const Given* given,
                             Group* group);
  Status GrowTree(const std::vector<AppendResult>& results, rocksdb::WriteBatch* batch);
  void PutGroupRecords(Group* group);
  void MarkNotWritten(std::vector<AppendResult>* results, const std::string& why) const;
  static bool RejectAllIfAnyRejected(std::vector<AppendResult>* results);
  // Rebuild's step for one entry: the rules and projections into `group`.
  // Non-ok only if a state record could not be read (IOError).
  Status Replay(const EntryReader& entry, Group* group, RebuildReport* report);
  Status CommitRebuilt(Group* group, uint64_t entries);
  // The seqs of household `id`'s entries, from the household index.
  Status HouseholdSeqs(std::string_view id, std::vector<uint64_t>* seqs) const;
  // Whether the event-id row of entry `e` points at it and checks its hash.
  bool MatchesEventIdRow(const HouseholdEntry& e) const;
  void Stage(schema::Event::Reader event, const StagedEntry& entry, std::map<std::string, std::string>&& state_writes,
             Group* group);
  // The identity the log states (its genesis and checkpoint key entries, found by event id) and
  // whether the ledger runs under it: sets identity_error_.
  Status CheckIdentity();
  // Appends one of the ledger's own events (genesis.h) with `meta` rows in the same synced write.
  Status AppendOwnEvent(capnp::MessageBuilder* message, const std::vector<std::pair<std::string, std::string>>& meta,
                        AppendResult* result);
  Status AppendGenesis(AppendResult* result);
  static Status RewriteLayout(const std::string& dir, UpgradeReport* report);  // upgrade.cc

  const StateMachine* machine_ = nullptr;  // The domain (state_machine.h); outlives this object.
  std::string dir_;
  std::string secret_;
  std::unique_ptr<Store> store_;
  HeadValue head_;
  Policy policy_ = Policy::kEnforce;
  LedgerIdentity running_;
  LogIdentity logged_;
  Status identity_error_;
  Status write_error_;  // Set once a group's write failed.
  // The log's Merkle tree as appended so far (its frontier in memory), read from tree_reader_.
  std::unique_ptr<merkle::NodeReader> tree_reader_;
  std::unique_ptr<merkle::Appender> tree_;
  // The state cursor (meta state_seq) as last written: how far the state family reflects the
  // log. Appends need it at the head (LEDGER_ASSERT in SubmitGroup; write_error_ refuses otherwise).
  uint64_t state_seq_ = 0;
  // The committed state records in memory, which the rules read through (state_cache.h). Primed
  // before the first append; emptied by a rebuild; forgotten when a write fails.
  StateCache state_cache_;
  std::unique_ptr<InFlight> in_flight_;
  GroupCommitter committer_;
  Status commit_error_;        // Set once the committer refused a group, until a committer is set again.
  std::string secondary_dir_;  // OpenReadOnly's temporary directory, removed by the destructor.
};

}  // namespace ledger
