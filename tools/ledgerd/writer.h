// The ledger's one thread: the writer of ledgerd. It owns the Ledger handle (which is used from
// one thread at a time, benefit_ledger/ledger.h) and runs everything that touches it:
//
//  - appends, merged: every append job waiting when the writer wakes goes into one group, one
//    synced RocksDB write (group commit); each job is answered when that write is durable. Jobs
//    are taken in the order they were queued, so a connection's events keep their order.
//  - reads (reports, replay, verify), run between groups on the same handle.
//
// Groups are pipelined (Ledger::SubmitGroup): while one is written, the jobs that arrived
// meanwhile are taken and checked as the next group, and the first is answered once both its
// write is durable and the next is checked; when no job waits, or reads do, the writer waits for
// the write at once (FlushGroups). So an ack waits at most one group's check longer than its own
// write. Measured against AppendGroup (README, the server run of make bench): 32 clients in
// calls of 10 events went from 9.2K to 13.0K events/s with the ack p99 from 52 to 43 ms, in
// calls of 100 from 13.8K to 20.8K events/s.
//
// Reads therefore wait for the write in flight, and a long verify holds up appends. What
// remains (issue 16): reads on RocksDB snapshots or a secondary instance on threads of their own,
// which needs the library to offer a read-only handle beside the writing one.
//
// The queue is bounded in events (Options::queue_events_max): TryEnqueue refuses an append job
// that does not fit, and the caller (the RPC thread) parks the call until SpaceWaiter fires, so
// that a client sending faster than the disk is slowed, never dropped, never answered early.
//
// Thread-safety: TryEnqueue, EnqueueRead, ArmSpaceWaiter, Idle, QueuedEvents and Stop may be
// called from any thread; the jobs' callbacks run on the writer thread.
#pragma once

#include <capnp/message.h>

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "benefit_ledger/ledger.h"
#include "metrics.h"

namespace ledgerd {

struct AppendJob {
  // Who is appending (checked again here): recorded as each event's submittedBy (Ledger::AppendGroup).
  std::string actor_id;
  std::vector<std::unique_ptr<capnp::MallocMessageBuilder>> events;  // Each an Event root.
  // Called on the writer thread once the group is durable, or with the reason it is not: the
  // actor no longer registered (`refused`), or the write failed (`write`).
  std::function<void(std::vector<ledger::AppendResult>* results, const ledger::Status& refused,
                     const ledger::Status& write)>
      done;
};

using ReadJob = std::function<void(ledger::Ledger& ledger)>;

// Logs one line (writer.cc's callers pass their own JSON logger).
using LogFn = std::function<void(const std::string& event, const std::string& fields_json)>;

class Writer {
 public:
  struct Options {
    size_t queue_events_max = 20000;  // Events queued and not yet taken by the writer.
    size_t group_events_max = 20000;  // Events merged into one group (<= Ledger::kGroupEventsMax).
  };
  // `metrics` (which must outlive the Writer) hears of every group.
  Writer(std::unique_ptr<ledger::Ledger> ledger, Options options, LogFn log, Metrics* metrics);
  ~Writer();  // Stop()s.

  // Queues *job (moving it) and returns true; false, leaving *job, if the queue holds jobs and
  // this one's events would not fit, or the writer is stopping. A job is always accepted into an
  // empty queue (the caller bounds a job's size).
  bool TryEnqueue(AppendJob* job);
  // Reads are small to queue and are not bounded by the event count.
  void EnqueueRead(ReadJob job);
  // `fire` runs (on the writer thread) the next time queued events are taken, or now if the
  // queue has room; it replaces a waiter not yet fired.
  void ArmSpaceWaiter(std::function<void()> fire);
  // Nothing queued and nothing running.
  bool Idle() const;
  size_t QueuedEvents() const;
  // Runs what is queued, then ends the thread and closes the ledger (flushed). Idempotent.
  void Stop();

 private:
  void Run();
  void RunAppends(std::vector<AppendJob>* jobs);
  bool Full(size_t more) const;  // Under mu_.
  void Count(size_t calls, size_t events, double seconds, const std::vector<ledger::AppendResult>& results,
             const ledger::Status& write);

  const Options options_;
  LogFn log_;
  Metrics* const metrics_;
  std::unique_ptr<ledger::Ledger> ledger_;
  mutable std::mutex mu_;
  std::condition_variable wake_;
  std::deque<AppendJob> appends_;
  std::deque<ReadJob> reads_;
  size_t queued_events_ = 0;
  bool busy_ = false, stopping_ = false;
  std::function<void()> space_waiter_;
  std::thread thread_;
};

}  // namespace ledgerd
