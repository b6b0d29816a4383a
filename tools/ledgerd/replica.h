// Replica: ledgerd's member of a replicated ledger (ledgerd --etcd, issue 18). etcd (Raft, a
// quorum's fsync before it answers, linearizable compare-and-swap) is the commit log of groups;
// every member is a state machine over it. Layout of the keys: cluster_layout.h.
//
// The leader holds the key P leader on its lease; the key's create_revision is its term. Its
// Ledger has a committer (Ledger::SetGroupCommitter): each group, once checked and staged, is
// committed with one etcd transaction that compares P head with the head the group was built on
// and P leader's create_revision with the term, and puts the group and the new head. Only then
// is it written to the leader's own RocksDB and its callers answered: acknowledged = committed by
// an etcd quorum, and on the leader's disk. A deposed or paused leader commits nothing: its
// compares fail once its lease has lapsed (the key is gone, or another node's).
//
// A follower polls P g/ from its head + 1 and applies each group (Ledger::ApplyEntries): every
// entry checked as its append was, byte for byte, so its copy equals the leader's. When P
// leader is free it campaigns: it takes the key on a new lease, applies every group committed
// so far, and only then arms its committer and takes writes. A commit that fails or whose
// outcome is unknown (etcd unreachable) disarms the leader until it has re-read etcd: a group
// that was committed after all is applied from there, never written twice.
//
// Every member records its applied head in P members/<node> (no lease: a member down still holds
// back the deletion of the groups it has not applied). The leader deletes the groups every member
// has applied and compacts etcd's history. A member behind the groups etcd still holds cannot
// catch up from etcd: it refuses, saying so (copy a member's directory; not automated).
//
// A copy that does not check (an entry altered on its disk, a copy of another ledger, a head
// ahead of the cluster's) is refused: the member records role "refused" with the reason and
// ledgerd stops (OnRefused); it never applies past the problem nor leads.
//
// Threads: one thread of its own (the control loop: campaign, lease keep-alive, following,
// records, deletion), and the committer, on the Ledger's write thread. Each has its own etcd
// client. MayWrite and Describe may be called from any thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "benefit_ledger/ledger.h"
#include "cluster_layout.h"
#include "etcd.h"

namespace ledgerd {

class Replica {
 public:
  struct Options {
    std::vector<std::string> etcd_endpoints;
    std::string ledger_id, node_id;
    std::string address;         // This node's RPC address (host:port), told to clients it redirects.
    int lease_seconds = 3;       // The leader's lease: how long a dead leader holds writes up.
    int poll_ms = 20;            // How often a follower asks etcd for new groups.
    int etcd_timeout_ms = 2000;  // One etcd call, failovers included.
    int gc_seconds = 5;          // How often the leader deletes applied groups.
  };
  // Runs `job` on the writer thread with the writing handle, and waits for its Status.
  using OnWriter = std::function<ledger::Status(std::function<ledger::Status(ledger::Ledger&)> job)>;
  using Log = std::function<void(const char* level, const std::string& event, const std::string& fields_json)>;
  // Called once, on the replica's thread, when this copy is refused: ledgerd stops.
  using OnRefused = std::function<void(const ledger::Status& why)>;

  Replica(Options options, OnWriter on_writer, Log log, OnRefused refused);
  ~Replica();  // Stop()s.
  // Reads this copy's head (on the writer), makes the etcd clients and starts the thread.
  ledger::Status Start();
  // Ends the thread; a leader gives up its lease (the next leader need not wait for it to
  // lapse). Call after the server has drained: the drained groups still need the committer.
  void Stop();
  // For a copy refused before it started (it did not verify): the member record says why, so
  // `ledgerctl cluster status` shows it. Best effort; the Status is etcd's.
  static ledger::Status RecordRefused(const Options& options, uint64_t applied_seq, const ledger::Status& why);

  // Ok if this node takes writes now (the leader, committer armed); else Busy naming the leader.
  ledger::Status MayWrite() const;
  // For people and whoAmI: "leader (term 7)", "follower of n2 at 127.0.0.1:7701, 3 entries behind".
  std::string Describe() const;
  uint64_t applied_seq() const { return applied_seq_.load(); }
  uint64_t cluster_seq() const { return cluster_seq_.load(); }
  bool leader() const { return writable_.load(); }

 private:
  void Run();
  ledger::Status FollowerTick();
  ledger::Status LeaderTick();
  ledger::Status Campaign();
  ledger::Status CatchUp();
  // This copy's head against P head (seeding it if absent); *behind: etcd holds groups to apply.
  ledger::Status CheckHead(bool* behind);
  ledger::Status ApplyGroup(const etcd::KeyValue& kv);
  ledger::Status ReadGroup(const etcd::KeyValue& kv, ledger::GroupEntries* group);
  ledger::Status ArmCommitter();
  ledger::Status KeepAlive(bool* lost);
  void StepDown(const std::string& why);
  void CollectGarbage();
  void Record(const std::string& role, const std::string& error = "");
  void Refuse(const ledger::Status& why);
  ledger::Status Commit(int64_t term, const ledger::GroupEntries& group);  // On the write thread.
  std::vector<etcd::Compare> Fence(int64_t term, uint64_t seq, const ledger::Hash& hash) const;
  ledger::Status SyncHead();  // applied_seq_/hash_ from the ledger (on the writer).
  void Sleep(int ms);

  const Options options_;
  const std::string prefix_;
  OnWriter on_writer_;
  Log log_;
  OnRefused on_refused_;
  std::unique_ptr<etcd::Client> etcd_;         // The control loop's.
  std::unique_ptr<etcd::Client> commit_etcd_;  // The committer's (the write thread's).
  std::thread thread_;
  mutable std::mutex mu_;  // Guards hint_, applied_hash_, and stop_ with wake_.
  std::condition_variable wake_;
  bool stop_ = false;
  std::string hint_;  // The leader's "<node> <address>" as last read ("" for none).
  ledger::Hash applied_hash_{};
  // The leader's term (0: none), lease and its TTL as granted: set and read by the control loop,
  // and term_ by Describe (atomic).
  std::atomic<int64_t> term_{0};
  int64_t lease_ = 0, lease_ms_ = 0;
  ledger::Hash Applied() const;
  std::atomic<uint64_t> applied_seq_{0}, cluster_seq_{0};
  std::atomic<bool> writable_{false};       // Leader with its committer armed.
  std::atomic<bool> commit_failed_{false};  // Set by the committer; the loop re-reads etcd.
  std::atomic<bool> refused_{false};        // Set by Refuse; Stop then keeps the refused record.
  int64_t last_renewed_ms_ = 0, next_keepalive_ms_ = 0, next_record_ms_ = 0, next_gc_ms_ = 0;
  int64_t next_head_check_ms_ = 0;
  uint64_t collected_to_ = 0;  // Groups up to this seq were deleted from etcd.
  std::string last_warning_;   // Logged once until it changes.
};

}  // namespace ledgerd
