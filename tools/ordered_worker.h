// OrderedWorker: applies one function to the items given it, on a thread of its own, and hands the
// results back in the order the items came. `ledgerctl append` parses a group of JSON lines on it
// while the ledger checks the group before on the caller's thread, so that parsing and checking
// overlap (issue 15).
//
// Bounded: at most `capacity` items are given and not yet taken; Push waits while there are that
// many. The function must not throw. The destructor finishes the item in hand and drops the rest.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>

namespace tools {

template <class In, class Out>
class OrderedWorker {
 public:
  OrderedWorker(std::function<Out(In&)> work, size_t capacity)
      : work_(std::move(work)), capacity_(capacity), thread_([this] { Run(); }) {}
  ~OrderedWorker() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    changed_.notify_all();
    thread_.join();
  }
  OrderedWorker(const OrderedWorker&) = delete;
  OrderedWorker& operator=(const OrderedWorker&) = delete;

  void Push(In item) {
    std::unique_lock<std::mutex> lock(mu_);
    changed_.wait(lock, [&] { return given_ < capacity_; });
    ++given_;
    todo_.push_back(std::move(item));
    changed_.notify_all();
  }
  // Items given and not yet taken.
  size_t given() const {
    std::lock_guard<std::mutex> lock(mu_);
    return given_;
  }
  // The result of the oldest item given and not taken; waits for it. Needs given() > 0.
  Out Take() {
    std::unique_lock<std::mutex> lock(mu_);
    changed_.wait(lock, [&] { return !done_.empty(); });
    Out out = std::move(done_.front());
    done_.pop_front();
    --given_;
    changed_.notify_all();
    return out;
  }

 private:
  void Run() {
    std::unique_lock<std::mutex> lock(mu_);
    for (;;) {
      changed_.wait(lock, [&] { return stop_ || !todo_.empty(); });
      if (stop_) return;
      In item = std::move(todo_.front());
      todo_.pop_front();
      lock.unlock();
      Out out = work_(item);
      lock.lock();
      done_.push_back(std::move(out));
      changed_.notify_all();
    }
  }

  std::function<Out(In&)> work_;
  const size_t capacity_;
  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::deque<In> todo_;
  std::deque<Out> done_;
  size_t given_ = 0;  // Pushed and not taken: todo_, in hand, and done_.
  bool stop_ = false;
  std::thread thread_;  // Last: it starts once the rest is built.
};

}  // namespace tools
