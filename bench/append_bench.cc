// append_bench: a first measurement of the core (issue 6 grows this into the full benchmark).
//
// Appends a lawful county-year history (bench/history.h, about 35 events per household) under
// the enforce policy through Ledger::AppendGroup in groups of G (one synced WriteBatch per
// group), then writes the same number of synced batches of the same byte volume straight into
// RocksDB, and verifies the ledger beside raw SHA-256 over the same bytes. Prints the rates and
// their ratios, measured in the same run on the same machine.
//
// usage: append_bench [--households N] [--group G] [--dir D]
#include <capnp/message.h>
#include <fmt/format.h>
#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "bench/history.h"
#include "ledger/json.h"
#include "ledger/ledger.h"
#include "ledger/verify.h"

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

struct Options {
  int households = 5000;
  uint64_t group = 1000;
  std::string dir = "build/bench-ledger";
};

Options ParseOptions(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--households")
      o.households = std::atoi(argv[i + 1]);
    else if (flag == "--group")
      o.group = std::strtoull(argv[i + 1], nullptr, 10);
    else if (flag == "--dir")
      o.dir = argv[i + 1];
    else {
      fmt::print(stderr, "usage: append_bench [--households N] [--group G] [--dir D]\n");
      std::exit(2);
    }
  }
  if (o.households < 8 || o.households > 50000 || o.group == 0) {
    fmt::print(stderr, "append_bench: --households is 8 to 50000, --group at least 1\n");
    std::exit(2);
  }
  return o;
}

// Raw RocksDB: the same number of synced batches carrying the same bytes per batch.
double RawRocksDbSeconds(const std::string& path, uint64_t batches, uint64_t bytes_per_batch, uint64_t puts_per_batch) {
  rocksdb::Options options;
  options.create_if_missing = true;
  rocksdb::DB* raw = nullptr;
  if (!rocksdb::DB::Open(options, path, &raw).ok()) std::exit(1);
  std::string value(bytes_per_batch / puts_per_batch, 'v');
  auto start = Clock::now();
  uint64_t key = 0;
  for (uint64_t b = 0; b < batches; ++b) {
    rocksdb::WriteBatch batch;
    for (uint64_t p = 0; p < puts_per_batch; ++p) batch.Put(fmt::format("{:016}", key++), value);
    rocksdb::WriteOptions wo;
    wo.sync = true;
    if (!raw->Write(wo, &batch).ok()) std::exit(1);
  }
  double seconds = Seconds(start);
  delete raw;
  return seconds;
}

}  // namespace

int main(int argc, char** argv) {
  Options o = ParseOptions(argc, argv);
  std::filesystem::remove_all(o.dir);
  if (!ledger::Ledger::Create(o.dir + "/ledger").ok()) return 1;
  std::unique_ptr<ledger::Ledger> l;
  if (!ledger::Ledger::Open(o.dir + "/ledger", &l).ok()) return 1;

  const std::vector<std::string> lines = bench::CountyYear({.seed = 1, .households = o.households});
  const uint64_t events = lines.size();
  auto start = Clock::now();
  for (uint64_t first = 0; first < events; first += o.group) {
    std::vector<std::unique_ptr<capnp::MallocMessageBuilder>> owned;
    std::vector<capnp::MessageBuilder*> group;
    for (uint64_t i = first; i < std::min(events, first + o.group); ++i) {
      owned.push_back(std::make_unique<capnp::MallocMessageBuilder>());
      if (!ledger::ParseEventJson(lines[i], owned.back().get()).ok()) return 1;
      group.push_back(owned.back().get());
    }
    std::vector<ledger::AppendResult> results;
    if (!l->AppendGroup(group, &results).ok()) return 1;
    for (const auto& r : results) {
      if (r.outcome != ledger::AppendResult::Outcome::kCreated)
        return fmt::print(stderr, "{}\n", r.error.ToString()), 1;
    }
  }
  double append_s = Seconds(start);
  uint64_t log_bytes = 0;
  for (uint64_t seq = 1; seq <= l->head().seq; ++seq) {
    std::string bytes;
    if (!l->ReadEntry(seq, &bytes).ok()) return 1;
    log_bytes += bytes.size();
  }

  ledger::VerifyReport report;
  if (!ledger::Verify(*l, &report).ok() || !report.ok) return fmt::print(stderr, "verify: {}\n", report.problem), 1;
  std::string blob(log_bytes, 'x');
  start = Clock::now();
  (void)ledger::LeafHash(ledger::AsBytes(blob));
  double sha_s = Seconds(start);
  l.reset();

  uint64_t groups = (events + o.group - 1) / o.group;
  // Each event is about five puts (log, household, head, actor, event id) plus the meta head.
  double raw_s = RawRocksDbSeconds(o.dir + "/raw", groups, log_bytes / groups, o.group * 5);
  double append_rate = events / append_s, raw_rate = events / raw_s;
  double verify_rate = events / report.seconds, sha_rate = events / sha_s;
  fmt::print("events {}  group {}  entry bytes avg {:.0f}\n", events, o.group, double(log_bytes) / events);
  fmt::print("{:<38} {:>12.0f} events/s\n", "append (parse, check, hash, synced)", append_rate);
  fmt::print("{:<38} {:>12.0f} events/s   ratio {:.3f}\n", "raw RocksDB, same synced batches", raw_rate,
             append_rate / raw_rate);
  fmt::print("{:<38} {:>12.0f} events/s\n", "verify", verify_rate);
  fmt::print("{:<38} {:>12.0f} events/s   ratio {:.3f}\n", "raw SHA-256 over the same bytes", sha_rate,
             verify_rate / sha_rate);
  return 0;
}
