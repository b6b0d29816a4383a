#include "metrics.h"

#include <fmt/format.h>

namespace ledgerd {

void Metrics::Appended(uint64_t created, uint64_t exists, uint64_t rejected) {
  created_ += created;
  exists_ += exists;
  rejected_ += rejected;
}

template <size_t N>
void Histogram<N>::Add(double seconds) {
  ++count_;
  us_sum_ += static_cast<uint64_t>(seconds * 1e6);
  for (size_t i = 0; i < N; ++i) {
    if (seconds <= bounds_[i]) {
      ++buckets_[i];
      return;
    }
  }
}

template <size_t N>
std::string Histogram<N>::Text(const char* name) const {
  std::string out;
  uint64_t cumulative = 0;
  for (size_t i = 0; i < N; ++i) {
    cumulative += buckets_[i].load();
    out += fmt::format("{}_bucket{{le=\"{}\"}} {}\n", name, bounds_[i], cumulative);
  }
  out += fmt::format("{}_bucket{{le=\"+Inf\"}} {}\n", name, count_.load());
  out += fmt::format("{}_sum {:.6f}\n", name, us_sum_.load() / 1e6);
  out += fmt::format("{}_count {}\n", name, count_.load());
  return out;
}

void Metrics::Read(double seconds) {
  reads_.Add(seconds);
}

void Metrics::Committed(uint64_t calls, uint64_t events, double seconds) {
  calls_ += calls;
  ++groups_;
  group_events_ += events;
  commits_.Add(seconds);
}

std::string Metrics::Text(uint64_t queued_events) const {
  std::string out;
  auto metric = [&](const char* name, const char* type, const char* help) {
    out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
  };
  metric("ledgerd_append_events_total", "counter", "Events answered, by outcome.");
  out += fmt::format("ledgerd_append_events_total{{outcome=\"created\"}} {}\n", created_.load());
  out += fmt::format("ledgerd_append_events_total{{outcome=\"exists\"}} {}\n", exists_.load());
  out += fmt::format("ledgerd_append_events_total{{outcome=\"error\"}} {}\n", rejected_.load());
  metric("ledgerd_append_calls_total", "counter", "Append calls committed.");
  out += fmt::format("ledgerd_append_calls_total {}\n", calls_.load());
  metric("ledgerd_groups_total", "counter", "Synced writes (groups), each merging the calls waiting.");
  out += fmt::format("ledgerd_groups_total {}\n", groups_.load());
  metric("ledgerd_group_events_total", "counter", "Events in those groups (divide by groups for the mean size).");
  out += fmt::format("ledgerd_group_events_total {}\n", group_events_.load());
  metric("ledgerd_commit_seconds", "histogram", "Time of one group's synced write.");
  out += commits_.Text("ledgerd_commit_seconds");
  metric("ledgerd_read_seconds", "histogram", "Time of one read call on its reader (snapshot, access check, report).");
  out += reads_.Text("ledgerd_read_seconds");
  metric("ledgerd_parked_calls_total", "counter", "Append calls that waited for room in the queue.");
  out += fmt::format("ledgerd_parked_calls_total {}\n", parked_.load());
  metric("ledgerd_queue_events", "gauge", "Events waiting for the writer.");
  out += fmt::format("ledgerd_queue_events {}\n", queued_events);
  metric("ledgerd_connections_open", "gauge", "Authenticated connections open.");
  out += fmt::format("ledgerd_connections_open {}\n", connections_open_.load());
  metric("ledgerd_connections_total", "counter", "Authenticated connections since start.");
  out += fmt::format("ledgerd_connections_total {}\n", connections_total_.load());
  metric("ledgerd_errors_total", "counter", "Errors, by kind.");
  const char* kinds[kErrorKinds] = {"connection_refused", "handshake_failed", "append_refused",
                                    "call_failed",        "write_failed",     "reads_busy"};
  for (int k = 0; k < kErrorKinds; ++k) {
    out += fmt::format("ledgerd_errors_total{{kind=\"{}\"}} {}\n", kinds[k], errors_[k].load());
  }
  return out;
}

}  // namespace ledgerd
