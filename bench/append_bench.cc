// append_bench: a first measurement of the core (issue 6 grows this into the full benchmark).
//
// Appends N synthetic events through Ledger::AppendGroup in groups of G (one synced WriteBatch
// per group), then writes the same number of synced batches of the same byte volume straight
// into RocksDB, and verifies the ledger beside raw SHA-256 over the same bytes. Prints the
// rates and their ratios, measured in the same run on the same machine.
//
// usage: append_bench [--events N] [--group G] [--dir D]
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

#include "ledger/json.h"
#include "ledger/ledger.h"
#include "ledger/verify.h"

namespace {

using Clock = std::chrono::steady_clock;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

// A valid identity number for person i (check character computed).
std::string IdentityNumber(uint64_t i) {
  std::string body = fmt::format("34150219{:02}{:02}{:02}{:03}", 50 + i % 40, 1 + i % 12, 1 + i % 28, i % 1000);
  static constexpr int kWeights[17] = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
  int sum = 0;
  for (size_t k = 0; k < 17; ++k) sum += (body[k] - '0') * kWeights[k];
  return body + "10X98765432"[sum % 11];
}

// Event i: every fifth registers a household, the others are its monthly payments.
std::string EventJson(uint64_t i) {
  uint64_t household = i / 5, month = i % 5;
  if (month == 0) {
    std::string id = IdentityNumber(household);
    return fmt::format(
        R"({{"eventId":"r{}","householdId":"H{}","regionCode":"341502001001","actorId":"cw1","businessDate":20240105,"householdRegistered":{{"members":[{{"person":{{"number":"{}"}},"name":"x","relation":"head","birthDate":{}}}]}}}})",
        household, household, id, id.substr(6, 8));
  }
  return fmt::format(
      R"({{"eventId":"p{}-{}","householdId":"H{}","regionCode":"341502001001","actorId":"fin1","businessDate":2024{:02}08,"paymentIssued":{{"paymentId":"P{}-{}","rollId":"R{}","caseId":"C{}","programme":"urban_dibao","period":2024{:02},"amountFen":41000,"card":{{"number":"62170028{:011}"}},"payeeName":"x"}}}})",
      household, month, household, month + 1, household, month, month, household, month, household);
}

struct Options {
  uint64_t events = 200000;
  uint64_t group = 1000;
  std::string dir = "build/bench-ledger";
};

Options ParseOptions(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--events")
      o.events = std::strtoull(argv[i + 1], nullptr, 10);
    else if (flag == "--group")
      o.group = std::strtoull(argv[i + 1], nullptr, 10);
    else if (flag == "--dir")
      o.dir = argv[i + 1];
    else {
      fmt::print(stderr, "usage: append_bench [--events N] [--group G] [--dir D]\n");
      std::exit(2);
    }
  }
  if (o.events == 0 || o.group == 0) std::exit(2);
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

  std::vector<std::string> lines;
  for (uint64_t i = 0; i < o.events; ++i) lines.push_back(EventJson(i));
  auto start = Clock::now();
  for (uint64_t first = 0; first < o.events; first += o.group) {
    std::vector<std::unique_ptr<capnp::MallocMessageBuilder>> owned;
    std::vector<capnp::MessageBuilder*> group;
    for (uint64_t i = first; i < std::min(o.events, first + o.group); ++i) {
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

  uint64_t groups = (o.events + o.group - 1) / o.group;
  // Each event is about five puts (log, household, head, actor, event id) plus the meta head.
  double raw_s = RawRocksDbSeconds(o.dir + "/raw", groups, log_bytes / groups, o.group * 5);
  double append_rate = o.events / append_s, raw_rate = o.events / raw_s;
  double verify_rate = o.events / report.seconds, sha_rate = o.events / sha_s;
  fmt::print("events {}  group {}  entry bytes avg {:.0f}\n", o.events, o.group, double(log_bytes) / o.events);
  fmt::print("{:<38} {:>12.0f} events/s\n", "append (parse, check, hash, synced)", append_rate);
  fmt::print("{:<38} {:>12.0f} events/s   ratio {:.3f}\n", "raw RocksDB, same synced batches", raw_rate,
             append_rate / raw_rate);
  fmt::print("{:<38} {:>12.0f} events/s\n", "verify", verify_rate);
  fmt::print("{:<38} {:>12.0f} events/s   ratio {:.3f}\n", "raw SHA-256 over the same bytes", sha_rate,
             verify_rate / sha_rate);
  return 0;
}
