// The ledger's threads in ledgerd: one writer, which owns the writing Ledger handle (used from
// one thread at a time, benefit_ledger/ledger.h), and a pool of readers on snapshots of it.
//
// The writer runs
//  - appends, merged: every append job waiting when the writer wakes goes into one group, one
//    synced RocksDB write (group commit); each job is answered when that write is durable. Jobs
//    are taken in the order they were queued, so a connection's events keep their order.
//  - write jobs (EnqueueWrite: payroll, bank results, checkpoints), between groups, once the
//    group in flight is durable.
//
// Groups are pipelined (Ledger::SubmitGroup): while one is written, the jobs that arrived
// meanwhile are taken and checked as the next group, and the first is answered once both its
// write is durable and the next is checked; when no job waits, or write jobs do, the writer waits
// for the write at once (FlushGroups). So an ack waits at most one group's check longer than its
// own write. Measured against AppendGroup (README, the server run of make bench): 32 clients in
// calls of 10 events went from 9.2K to 13.0K events/s with the ack p99 from 52 to 43 ms, in
// calls of 100 from 13.8K to 20.8K events/s.
//
// Readers (EnqueueRead) each take a read job and run it on Ledger::Snapshot of the writing
// handle, made when the job starts: it sees every append answered before, never waits for the
// writer, and the writer never waits for it (a verify of the whole log runs beside appends).
//
// The append queue is bounded in events (Options::queue_events_max): TryEnqueue refuses an
// append job that does not fit, and the caller (the RPC thread) parks the call until SpaceWaiter
// fires, so that a client sending faster than the disk is slowed, never dropped, never answered
// early. The read queue is bounded in jobs (Options::reads_queued_max): EnqueueRead refuses past it.
//
// Thread-safety: TryEnqueue, EnqueueRead, EnqueueWrite, ArmSpaceWaiter, Idle, QueuedEvents and
// Stop may be called from any thread; append and write jobs' callbacks run on the writer thread,
// read jobs on a reader thread.
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

// A read job gets a snapshot (read-only handle), or the status saying why none could be made; a
// write job gets the writing handle, and ok.
using ReadJob = std::function<void(ledger::Ledger& ledger, const ledger::Status& snapshot)>;

// Logs one line (writer.cc's callers pass their own JSON logger).
using LogFn = std::function<void(const std::string& event, const std::string& fields_json)>;

class Writer {
 public:
  struct Options {
    size_t queue_events_max = 20000;  // Events queued and not yet taken by the writer.
    size_t group_events_max = 20000;  // Events merged into one group (<= Ledger::kGroupEventsMax).
    size_t reader_threads = 4;        // Reads run at once (a verify holds one for its length).
    size_t reads_queued_max = 4096;   // Read jobs waiting for a reader.
  };
  // `metrics` (which must outlive the Writer) hears of every group.
  Writer(std::unique_ptr<ledger::Ledger> ledger, Options options, LogFn log, Metrics* metrics);
  ~Writer();  // Stop()s.

  // Queues *job (moving it) and returns true; false, leaving *job, if the queue holds jobs and
  // this one's events would not fit, or the writer is stopping. A job is always accepted into an
  // empty queue (the caller bounds a job's size).
  bool TryEnqueue(AppendJob* job);
  // Queues a read for the readers; false if Options::reads_queued_max are waiting, or stopping.
  bool EnqueueRead(ReadJob job);
  // Queues a job for the writer thread, with the writing handle (false when stopping).
  bool EnqueueWrite(ReadJob job);
  // `fire` runs (on the writer thread) the next time queued events are taken, or now if the
  // queue has room; it replaces a waiter not yet fired.
  void ArmSpaceWaiter(std::function<void()> fire);
  // Nothing queued and nothing running.
  bool Idle() const;
  const Options& options() const { return options_; }
  size_t QueuedEvents() const;
  // Runs what is queued, then ends the threads and closes the ledger (flushed). Idempotent.
  void Stop();

 private:
  void Run();
  void RunReads();  // A reader thread.
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
  std::deque<ReadJob> writes_;  // Write jobs, for the writer thread.
  size_t queued_events_ = 0;
  bool busy_ = false, stopping_ = false;
  std::function<void()> space_waiter_;
  std::thread thread_;
  // The readers: their own lock, so that taking a read never waits for the writer's.
  mutable std::mutex read_mu_;
  std::condition_variable read_wake_;
  std::deque<ReadJob> reads_;
  size_t reads_running_ = 0;
  bool readers_stopping_ = false;
  std::vector<std::thread> readers_;
};

}  // namespace ledgerd
