#include "writer.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <utility>

namespace ledgerd {

using ledger::Status;

Writer::Writer(std::unique_ptr<ledger::Ledger> ledger, Options options, LogFn log, Metrics* metrics)
    : options_(options), log_(std::move(log)), metrics_(metrics), ledger_(std::move(ledger)) {
  thread_ = std::thread([this] { Run(); });
  for (size_t i = 0; i < std::max<size_t>(options_.reader_threads, 1); ++i) {
    readers_.emplace_back([this] { RunReads(); });
  }
}

Writer::~Writer() {
  Stop();
}

bool Writer::Full(size_t more) const {
  return !appends_.empty() && queued_events_ + more > options_.queue_events_max;
}

bool Writer::TryEnqueue(AppendJob* job) {
  std::lock_guard lock(mu_);
  if (stopping_ || Full(job->events.size())) return false;
  queued_events_ += job->events.size();
  appends_.push_back(std::move(*job));
  wake_.notify_one();
  return true;
}

bool Writer::EnqueueRead(ReadJob job) {
  std::lock_guard lock(read_mu_);
  if (readers_stopping_ || reads_.size() >= options_.reads_queued_max) return false;
  reads_.push_back(std::move(job));
  read_wake_.notify_one();
  return true;
}

bool Writer::EnqueueWrite(ReadJob job) {
  std::lock_guard lock(mu_);
  if (stopping_) return false;
  writes_.push_back(std::move(job));
  wake_.notify_one();
  return true;
}

void Writer::RunReads() {
  for (;;) {
    ReadJob job;
    {
      std::unique_lock lock(read_mu_);
      read_wake_.wait(lock, [&] { return readers_stopping_ || !reads_.empty(); });
      if (reads_.empty()) return;  // Stopping, and every queued read is done.
      job = std::move(reads_.front());
      reads_.pop_front();
      ++reads_running_;
    }
    std::unique_ptr<ledger::Ledger> snapshot;
    Status s = ledger_->Snapshot(&snapshot);  // Thread-safe beside the writer's appends.
    if (s.ok()) {
      job(*snapshot, s);
    } else {
      job(*ledger_, s);  // The job answers the status and does not read.
    }
    std::lock_guard lock(read_mu_);
    --reads_running_;
  }
}

void Writer::ArmSpaceWaiter(std::function<void()> fire) {
  std::unique_lock lock(mu_);
  if (!Full(1)) {  // Room already (the writer took jobs since the caller's attempt).
    lock.unlock();
    fire();
    return;
  }
  space_waiter_ = std::move(fire);
}

bool Writer::Idle() const {
  {
    std::lock_guard lock(read_mu_);
    if (reads_running_ > 0 || !reads_.empty()) return false;
  }
  std::lock_guard lock(mu_);
  return !busy_ && appends_.empty() && writes_.empty();
}

size_t Writer::QueuedEvents() const {
  std::lock_guard lock(mu_);
  return queued_events_;
}

void Writer::Stop() {
  {
    std::lock_guard lock(read_mu_);
    readers_stopping_ = true;
    read_wake_.notify_all();
  }
  for (auto& reader : readers_) {
    if (reader.joinable()) reader.join();  // Each runs the reads queued, then ends.
  }
  {
    std::lock_guard lock(mu_);
    if (!thread_.joinable()) return;
    stopping_ = true;
    wake_.notify_one();
  }
  thread_.join();
  ledger_.reset();  // Closes the database: every acknowledged group was already synced.
}

void Writer::Run() {
  for (;;) {
    std::vector<AppendJob> appends;
    std::deque<ReadJob> writes;
    std::function<void()> waiter;
    {
      std::unique_lock lock(mu_);
      wake_.wait(lock, [&] { return stopping_ || !appends_.empty() || !writes_.empty(); });
      if (appends_.empty() && writes_.empty()) return;  // Stopping, and everything queued is done.
      // Take the waiting appends, up to a group's bound; the rest wait for the next group.
      size_t events = 0;
      while (!appends_.empty() &&
             (appends.empty() || events + appends_.front().events.size() <= options_.group_events_max)) {
        events += appends_.front().events.size();
        appends.push_back(std::move(appends_.front()));
        appends_.pop_front();
      }
      queued_events_ -= events;
      writes.swap(writes_);
      busy_ = true;
      if (!appends.empty()) waiter = std::move(space_waiter_), space_waiter_ = nullptr;
    }
    if (waiter) waiter();
    if (!appends.empty()) RunAppends(&appends);
    bool more_appends = false;
    {
      std::lock_guard lock(mu_);
      more_appends = !appends_.empty();
    }
    // The group in flight is answered when the next is submitted; with none waiting, or write
    // jobs to run (they write after it), wait for its write now.
    if (!more_appends || !writes.empty()) (void)ledger_->FlushGroups();
    for (auto& write : writes) write(*ledger_, Status::Ok());
    std::lock_guard lock(mu_);
    busy_ = false;
  }
}

void Writer::Count(size_t calls, size_t events, double seconds, const std::vector<ledger::AppendResult>& results,
                   const Status& write) {
  using Outcome = ledger::AppendResult::Outcome;
  if (!write.ok()) return metrics_->Failed(Metrics::kWriteFailed);
  uint64_t created = 0, exists = 0;
  for (const auto& r : results) {
    created += r.outcome == Outcome::kCreated;
    exists += r.outcome == Outcome::kExists;
  }
  metrics_->Appended(created, exists, results.size() - created - exists);
  if (events > 0) metrics_->Committed(calls, events, seconds);
}

// One group for every job whose actor is still registered: one synced write (group commit),
// submitted (Ledger::SubmitGroup) so that it is written while the writer takes and checks the
// next group; its callers are answered when it is durable (in the next submission, or in
// FlushGroups when nothing more waits: Run).
void Writer::RunAppends(std::vector<AppendJob>* taken) {
  auto jobs = std::make_shared<std::vector<AppendJob>>(std::move(*taken));
  std::vector<capnp::MessageBuilder*> group;
  std::vector<std::string> submitted_by;  // Parallel to `group`: each event's job's actor.
  auto refused = std::make_shared<std::vector<Status>>(jobs->size());
  for (size_t j = 0; j < jobs->size(); ++j) {
    ledger::ActorInfo actor;  // Looked up now: an actor removed since the call was queued writes nothing.
    Status& r = (*refused)[j];
    r = ledger_->LookupActor((*jobs)[j].actor_id, &actor);
    if (r.ok() && !actor.active) {
      r = Status::Invalid("actor", fmt::format("refused: actor \"{}\" was deactivated ({}: {})", actor.id,
                                               actor.deactivated_by, actor.deactivation_reason));
    }
    if (!r.ok()) continue;
    for (auto& e : (*jobs)[j].events) group.push_back(e.get());
    submitted_by.resize(group.size(), (*jobs)[j].actor_id);
  }
  auto start = std::chrono::steady_clock::now();
  const size_t events = group.size();
  auto answer = [this, jobs, refused, start, events](std::vector<ledger::AppendResult>* results, const Status& write) {
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    Count(jobs->size(), events, ms / 1000, *results, write);
    log_("group",
         fmt::format("\"jobs\":{},\"events\":{},\"commit_ms\":{:.2f},\"ok\":{}", jobs->size(), events, ms, write.ok()));
    size_t next = 0;
    for (size_t j = 0; j < jobs->size(); ++j) {
      AppendJob& job = (*jobs)[j];
      std::vector<ledger::AppendResult> mine;
      if ((*refused)[j].ok() && write.ok()) {
        for (size_t i = 0; i < job.events.size(); ++i) mine.push_back(std::move((*results)[next++]));
      }
      job.done(&mine, (*refused)[j], write);
    }
  };
  if (group.empty()) {
    std::vector<ledger::AppendResult> none;
    return answer(&none, Status::Ok());
  }
  // `answer` gets its status.
  (void)ledger_->SubmitGroup(group, ledger::GroupMode::kEachOnItsOwn, answer, submitted_by);
}

}  // namespace ledgerd
