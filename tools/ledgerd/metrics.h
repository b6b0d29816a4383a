// ledgerd's counters, in the Prometheus text format (version 0.0.4), served with a health check
// over plain HTTP on a second, local address (--metrics-listen): GET /metrics and GET /healthz.
// Counters are atomics: the writer thread and the event loop update them, the HTTP handler
// (on the event loop) reads them. Thread-safe.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <string>

namespace ledgerd {

// A latency histogram of N buckets (upper bounds in seconds), its sum and count.
template <size_t N>
class Histogram {
 public:
  explicit constexpr Histogram(std::array<double, N> bounds) : bounds_(bounds) {}
  void Add(double seconds);
  // The _bucket, _sum and _count lines of metric `name`.
  std::string Text(const char* name) const;

 private:
  const std::array<double, N> bounds_;
  std::array<std::atomic<uint64_t>, N> buckets_{};  // Not cumulative.
  std::atomic<uint64_t> count_{0}, us_sum_{0};
};

class Metrics {
 public:
  // Upper bounds of the commit latency histogram, seconds.
  static constexpr std::array<double, 10> kCommitBuckets = {0.001, 0.0025, 0.005, 0.01, 0.025,
                                                            0.05,  0.1,    0.25,  0.5,  1.0};
  // Of a read call's time on its reader (a verify of the whole log takes seconds to minutes).
  static constexpr std::array<double, 8> kReadBuckets = {0.001, 0.005, 0.025, 0.1, 0.5, 2.5, 10, 60};
  enum Error {
    kConnectionRefused,
    kHandshakeFailed,
    kAppendRefused,
    kCallFailed,
    kWriteFailed,
    kReadsBusy,
    kErrorKinds
  };

  void Appended(uint64_t created, uint64_t exists, uint64_t rejected);
  void Committed(uint64_t calls, uint64_t events, double seconds);
  void ConnectionOpened() { ++connections_total_, ++connections_open_; }
  void ConnectionClosed() { --connections_open_; }
  void Failed(Error kind) { ++errors_[kind]; }
  void Parked() { ++parked_; }                        // A call waited for room in the queue (backpressure).
  void Read(double seconds);  // A read call ran on a reader.

  // Everything, as /metrics serves it; `queued_events` is the writer's queue now.
  std::string Text(uint64_t queued_events) const;

 private:
  std::atomic<uint64_t> created_{0}, exists_{0}, rejected_{0};
  std::atomic<uint64_t> calls_{0}, groups_{0}, group_events_{0}, parked_{0};
  Histogram<kCommitBuckets.size()> commits_{kCommitBuckets};
  Histogram<kReadBuckets.size()> reads_{kReadBuckets};
  std::atomic<int64_t> connections_open_{0};
  std::atomic<uint64_t> connections_total_{0};
  std::array<std::atomic<uint64_t>, kErrorKinds> errors_{};
};

}  // namespace ledgerd
