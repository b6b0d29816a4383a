// ledger_bench: the benchmark of issue 6, on one machine in one run.
//
// A province-month (testing/province.h) is appended under the `enforce` policy through
// Log::SubmitGroup in groups of --group events (one synced WriteBatch each; each group is
// checked while the one before is written, as `ledgerctl append` does). The batches it
// wrote are read back from RocksDB's WAL and written again, synced, into a fresh RocksDB with the
// same column families: the same puts, keys and bytes without the ledger, the reference of the
// append target. For context, synthetic batches of the same count, keys and bytes with 16-byte
// keys in order (RocksDB's best case) and at random are written too. On that ledger: full
// verification beside SHA-256 of every entry's bytes (and `openssl speed` for reference),
// household replay latency, projection rebuild, a county-month payroll issued through
// MakePlan/Events/AppendGroup(kAllOrNothing), a bank file of --bank-lines lines reconciled, and
// bytes on disk after a flush and a full compaction; when Debian's postgresql is installed, the
// hash-chained PostgreSQL table of issue 15 (bench/pg_chain.sh), beside the append. Then a county
// over a year (testing/history.h: longer household histories) for a second append rate and
// replay, a small province-month with planted red flags under the `record` policy (the
// generator's check: each planted household is flagged with its rule), and, with
// --replay-events N, a ledger of at least N events (built, or reused from --ledger-dir) for replay
// latency and reconciliation at scale. Prints a table with each figure beside its target and
// writes everything to JSON.
//
// Every event of the enforce runs must be accepted: a rejection stops the bench (the generators
// are meant to stay lawful as the rules change).
#include <capnp/message.h>
#include <fmt/format.h>
#include <rocksdb/db.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "bench/measure.h"
#include "benefit_ledger/events.h"
#include "ledger/core/log.h"
#include "ledger/core/store.h"
#include "ledger/domain/json.h"
#include "ledger/domain/machine.h"
#include "ledger/reports/payroll.h"
#include "ledger/reports/reconcile.h"
#include "ledger/reports/verify.h"
#include "testing/history.h"
#include "testing/province.h"

#ifndef LEDGER_BUILD_TYPE
#define LEDGER_BUILD_TYPE "unknown"
#endif

namespace {

using bench::Clock;
using bench::SecondsSince;

const Clock::time_point g_start = Clock::now();

[[noreturn]] void Die(const std::string& what) {
  fmt::print(stderr, "ledger_bench: {}\n", what);
  std::exit(1);
}
void Check(const ledger::Status& s, const std::string& what) {
  if (!s.ok()) Die(fmt::format("{}: {}", what, s.ToString()));
}
void Note(const std::string& what) {
  fmt::print(stderr, "[{:7.1f}s] {}\n", SecondsSince(g_start), what);
}

// ---------------------------------------------------------------------------------------------
// Options

struct Options {
  std::string dir = "build/bench-data";     // Scratch ledgers: emptied at the start.
  std::string json = "bench/results.json";  // Results.
  uint64_t seed = 1;
  uint64_t group = 1000;
  int counties = 8, households = 2500;  // The province-month.
  int county_households = 2000;         // The county-year (0: skipped).
  int record_households = 1000;         // The record-policy run with red flags (0: skipped).
  int red_flags_per_mille = 20;
  uint64_t replay_events = 0;   // 0: no large ledger (unless payment_events).
  uint64_t payment_events = 0;  // The large ledger holds at least this many payment events too.
  bool large_only = false;      // Only the large ledger: its peak memory is then its own.
  bool drop_caches = false;     // Drop the OS page cache before the large ledger's replay.
  std::string ledger_dir;       // Where the large ledger is (reused if there) or built (kept).
  int big_households = 10000;   // Per county of the large ledger.
  int replay_samples = 2000;
  uint64_t bank_lines = 1000000;
  bool openssl = true;
  bool postgres = true;  // The PostgreSQL hash-chain reference (bench/pg_chain.sh).
  uint64_t postgres_events = 100000;
  bool keep = false;
  bool append_only = false;  // Only the province-month append (for profiling).
};

constexpr const char* kUsage = R"(usage: ledger_bench [options]
  --counties N            province-month: counties (default 8)
  --households N          province-month: households per county (default 2500)
  --county-households N   county-year households (default 2000; 0 skips it)
  --record-households N   record-policy run with planted red flags (default 1000; 0 skips it)
  --group N               events per AppendGroup (default 1000)
  --replay-events N       also build (or reuse, see --ledger-dir) a ledger of at least N events
                          for replay latency and reconciliation at scale (10000000 for issue 6)
  --payment-events N      ...and of at least N payment events (paymentIssued and bank results;
                          5000000 for issue 6's province-month); it is then also verified, and
                          the whole month's bank results reconciled
  --large-only            only the large ledger (build or reuse, verify, replay, reconcile), so
                          that the process's peak memory is that work's alone
  --drop-caches           before the large ledger's replay, drop the OS page cache (root only:
                          /proc/sys/vm/drop_caches), so that its entries are read from the disk;
                          the same households are then replayed again, warm
  --ledger-dir D          where that ledger is kept (reused when it exists; default DIR/big, deleted)
  --big-households N      households per county of that ledger (default 10000)
  --replay-samples N      households replayed per ledger (default 2000)
  --bank-lines N          lines of the reconciled bank file (default 1000000; 0: the large
                          ledger is not reconciled)
  --seed N                generator seed (default 1)
  --dir DIR               scratch directory, emptied first (default build/bench-data)
  --json PATH             results file (default bench/results.json)
  --no-openssl            skip `openssl speed -seconds 3 sha256` (18 s)
  --no-postgres           skip the PostgreSQL hash-chain reference (bench/pg_chain.sh, run when
                          Debian's postgresql is installed; as root)
  --postgres-events N     rows the PostgreSQL reference inserts (default 100000)
  --keep                  keep the scratch ledgers
  --append-only           only append the province-month (for profiling)
)";

Options ParseOptions(int argc, char** argv) {
  Options o;
  auto number = [&](int& i, uint64_t lo, uint64_t hi) -> uint64_t {
    if (i + 1 >= argc) Die(fmt::format("{} needs a value\n{}", argv[i], kUsage));
    char* end = nullptr;
    unsigned long long n = std::strtoull(argv[i + 1], &end, 10);
    if (*end != '\0' || n < lo || n > hi) Die(fmt::format("{} is {} to {}", argv[i], lo, hi));
    ++i;
    return n;
  };
  auto text = [&](int& i) -> std::string {
    if (i + 1 >= argc) Die(fmt::format("{} needs a value\n{}", argv[i], kUsage));
    return argv[++i];
  };
  for (int i = 1; i < argc; ++i) {
    std::string flag = argv[i];
    if (flag == "--counties")
      o.counties = static_cast<int>(number(i, 1, testing::kMaxCounties));
    else if (flag == "--households")
      o.households = static_cast<int>(number(i, 1, testing::kMaxHouseholdsPerCounty));
    else if (flag == "--county-households")
      o.county_households = static_cast<int>(number(i, 0, 50000));
    else if (flag == "--record-households")
      o.record_households = static_cast<int>(number(i, 0, 50000));
    else if (flag == "--group")
      o.group = number(i, 1, 100000);
    else if (flag == "--replay-events")
      o.replay_events = number(i, 0, 1'000'000'000);
    else if (flag == "--payment-events")
      o.payment_events = number(i, 0, 1'000'000'000);
    else if (flag == "--large-only")
      o.large_only = true;
    else if (flag == "--drop-caches")
      o.drop_caches = true;
    else if (flag == "--ledger-dir")
      o.ledger_dir = text(i);
    else if (flag == "--big-households")
      o.big_households = static_cast<int>(number(i, 100, testing::kMaxHouseholdsPerCounty));
    else if (flag == "--replay-samples")
      o.replay_samples = static_cast<int>(number(i, 1, 10'000'000));
    else if (flag == "--bank-lines")
      o.bank_lines = number(i, 0, 100'000'000);
    else if (flag == "--seed")
      o.seed = number(i, 1, UINT64_MAX);
    else if (flag == "--dir")
      o.dir = text(i);
    else if (flag == "--json")
      o.json = text(i);
    else if (flag == "--no-openssl")
      o.openssl = false;
    else if (flag == "--no-postgres")
      o.postgres = false;
    else if (flag == "--postgres-events")
      o.postgres_events = number(i, 1, 100'000'000);
    else if (flag == "--keep")
      o.keep = true;
    else if (flag == "--append-only")
      o.append_only = true;
    else if (flag == "--help" || flag == "-h")
      fmt::print("{}", kUsage), std::exit(0);
    else
      Die(fmt::format("unknown option {}\n{}", flag, kUsage));
  }
  return o;
}

std::string Si(double v) {  // 12345678 -> "12.3M"
  if (v >= 1e9) return fmt::format("{:.2f}G", v / 1e9);
  if (v >= 1e6) return fmt::format("{:.2f}M", v / 1e6);
  if (v >= 1e4) return fmt::format("{:.1f}k", v / 1e3);
  return fmt::format("{:.0f}", v);
}

// ---------------------------------------------------------------------------------------------
// Ledgers

std::unique_ptr<ledger::Log> NewLedger(const std::string& dir, ledger::Policy policy) {
  std::filesystem::remove_all(dir);
  Check(ledger::Log::Create(ledger::domain::Rules(), dir, policy), "creating " + dir);
  std::unique_ptr<ledger::Log> l;
  Check(ledger::Log::Open(ledger::domain::Rules(), dir, &l), "opening " + dir);
  return l;
}

// ---------------------------------------------------------------------------------------------
// Append

struct AppendFigures {
  uint64_t events = 0, groups = 0;
  double parse_s = 0, append_s = 0;  // ParseEventJson; AppendGroup (check, hash, index, synced write).
  uint64_t parse_bytes = 0;          // Bytes of JSON parsed.
  bench::WriteStats written;         // What RocksDB says the AppendGroup calls wrote.
  uint64_t events_with_findings = 0;
  std::map<std::string, uint64_t> findings_by_rule;
  std::set<std::string> flagged_households;
  double rate() const { return append_s > 0 ? static_cast<double>(events) / append_s : 0; }
  void Add(const AppendFigures& o) {
    events += o.events, groups += o.groups, parse_s += o.parse_s, append_s += o.append_s;
    parse_bytes += o.parse_bytes;
    written.batches += o.written.batches, written.keys += o.written.keys, written.bytes += o.written.bytes;
    written.wal_bytes += o.written.wal_bytes, written.wal_syncs += o.written.wal_syncs;
    events_with_findings += o.events_with_findings;
    for (const auto& [rule, n] : o.findings_by_rule) findings_by_rule[rule] += n;
    flagged_households.insert(o.flagged_households.begin(), o.flagged_households.end());
  }
};

// Checks one group's results; with `lawful`, every event must be created with no finding.
void CountResults(const std::vector<ledger::AppendResult>& results, std::span<const std::string> lines,
                  std::span<const std::unique_ptr<capnp::MallocMessageBuilder>> owned, bool lawful, AppendFigures* f) {
  for (size_t i = 0; i < results.size(); ++i) {
    const auto& r = results[i];
    if (r.outcome != ledger::AppendResult::Outcome::kCreated)
      Die(fmt::format("event not appended ({}): {}", r.error.ToString(), lines[i]));
    if (r.findings.empty()) continue;
    if (lawful) Die(fmt::format("finding {} under enforce: {}", r.findings[0].rule, lines[i]));
    ++f->events_with_findings;
    for (const auto& finding : r.findings) ++f->findings_by_rule[finding.rule];
    f->flagged_households.insert(owned[i]->getRoot<ledger::schema::Event>().getHouseholdId().cStr());
  }
}

// Appends `lines` in groups of `group` as a stream (Log::SubmitGroup: each group checked while
// the one before is written), parsing each group just before it is submitted (timed apart), as
// `ledgerctl append` does: at most two groups of parsed events are held at a time.
// Events reach the append as Cap'n Proto messages, the binary path: a run of kGroupsPerRun
// groups is parsed first (timed as parse_s), then submitted back to back and flushed (timed as
// append_s), so that the write in flight never overlaps the parsing and append_s is the binary
// path alone. The run bounds the messages held at once (a province's county has ~80K events).
constexpr size_t kGroupsPerRun = 16;

AppendFigures AppendLines(ledger::Log* l, const std::vector<std::string>& lines, uint64_t group, bool lawful) {
  AppendFigures f;
  rocksdb::DB* db = l->store().db();
  bench::WriteStats before = bench::ReadWriteStats(db);
  for (size_t run = 0; run < lines.size(); run += group * kGroupsPerRun) {
    const size_t run_end = std::min<size_t>(lines.size(), run + group * kGroupsPerRun);
    auto t0 = Clock::now();
    // The results arrive after the next group is submitted: `done` keeps the messages till then.
    std::vector<std::shared_ptr<std::vector<std::unique_ptr<capnp::MallocMessageBuilder>>>> parsed;
    for (size_t first = run; first < run_end; first += group) {
      parsed.push_back(std::make_shared<std::vector<std::unique_ptr<capnp::MallocMessageBuilder>>>());
      for (size_t i = first; i < std::min<size_t>(run_end, first + group); ++i) {
        parsed.back()->push_back(std::make_unique<capnp::MallocMessageBuilder>(ledger::kEventMessageWords));
        Check(ledger::ParseEventJson(lines[i], parsed.back()->back().get()), fmt::format("parsing {}", lines[i]));
        f.parse_bytes += lines[i].size();
      }
    }
    auto t1 = Clock::now();
    size_t first = run;
    for (const auto& messages : parsed) {
      const size_t n = messages->size();
      std::vector<capnp::MessageBuilder*> events;
      for (auto& m : *messages) events.push_back(m.get());
      auto done = [&, first, n, messages](std::vector<ledger::AppendResult>* results, const ledger::Status& write) {
        Check(write, "writing a group");
        CountResults(*results, std::span(lines).subspan(first, n), *messages, lawful, &f);
      };
      Check(l->SubmitGroup(events, ledger::Log::GroupMode::kEachOnItsOwn, done), "SubmitGroup");
      first += n;
      ++f.groups;
    }
    Check(l->FlushGroups(), "FlushGroups");
    f.parse_s += std::chrono::duration<double>(t1 - t0).count();
    f.append_s += SecondsSince(t1);
  }
  f.events = lines.size();
  f.written = bench::ReadWriteStats(db) - before;
  return f;
}

// JSON parsing alone on one thread: ParseEventJson of each line into a fresh message, as the
// append does, over and over for at least a second (nothing else runs in the process meanwhile).
// Timed by the clock and by the thread's CPU time: on a machine shared with other work the
// thread does not have its core all the time, and the CPU time is what one core does.
struct ParseFigures {
  uint64_t events = 0, bytes = 0, passes = 0;
  double seconds = 0, cpu_seconds = 0;
  double rate() const { return seconds > 0 ? static_cast<double>(events) / seconds : 0; }
  double mbps() const { return seconds > 0 ? static_cast<double>(bytes) / seconds / 1e6 : 0; }
  double cpu_rate() const { return cpu_seconds > 0 ? static_cast<double>(events) / cpu_seconds : 0; }
  double cpu_mbps() const { return cpu_seconds > 0 ? static_cast<double>(bytes) / cpu_seconds / 1e6 : 0; }
};

double ThreadCpuSeconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

ParseFigures MeasureParse(const std::vector<std::string>& lines) {
  ParseFigures f;
  const double cpu0 = ThreadCpuSeconds();
  auto t0 = Clock::now();
  while (f.passes < 2 || SecondsSince(t0) < 1.0) {
    for (const auto& line : lines) {
      capnp::MallocMessageBuilder message(ledger::kEventMessageWords);
      Check(ledger::ParseEventJson(line, &message), "parsing " + line);
      f.bytes += line.size();
    }
    f.events += lines.size();
    ++f.passes;
  }
  f.seconds = SecondsSince(t0);
  f.cpu_seconds = ThreadCpuSeconds() - cpu0;
  return f;
}

struct ProvinceRun {
  testing::ProvinceMonthOptions options;
  AppendFigures append;
  uint64_t households = 0, payments_issued = 0, bank_results = 0;
  std::vector<testing::PlantedFlag> red_flags;
  double generate_s = 0;
  uint64_t payment_events() const { return payments_issued + bank_results; }
};

// Appends the province-month county by county (each county generated just before its append,
// outside the timed part), so that memory holds one county's lines at a time.
ProvinceRun AppendProvince(ledger::Log* l, const testing::ProvinceMonthOptions& o, uint64_t group, bool lawful,
                           const std::string& label) {
  ProvinceRun run;
  run.options = o;
  run.append = AppendLines(l, testing::ProvinceMonthHeader(o), group, lawful);
  auto last_note = Clock::now();
  for (int c = 0; c < o.counties; ++c) {
    auto t = Clock::now();
    testing::CountyMonth county = testing::ProvinceMonthCounty(o, c);
    run.generate_s += SecondsSince(t);
    run.append.Add(AppendLines(l, county.lines, group, lawful));
    run.households += county.households;
    run.payments_issued += county.payments_issued;
    run.bank_results += county.bank_results;
    run.red_flags.insert(run.red_flags.end(), county.red_flags.begin(), county.red_flags.end());
    if (SecondsSince(last_note) > 30 || c + 1 == o.counties) {
      last_note = Clock::now();
      Note(fmt::format("{}: {} of {} counties, {} events, {:.0f} events/s", label, c + 1, o.counties, run.append.events,
                       run.append.rate()));
    }
  }
  return run;
}

// ---------------------------------------------------------------------------------------------
// Verify and SHA-256

struct VerifyFigures {
  uint64_t entries = 0, log_bytes = 0;
  double seconds = 0;
  double sha_entries_per_s = 0, sha_entry_mbps = 0, sha_one_buffer_mbps = 0;
  double leafhash_mbps = 0;  // ledger::LeafHash of each entry (a new context and digest lookup each call).
  // The least any verifier does: the log read in order from RocksDB and each entry hashed, no
  // other check (entries per second).
  double scan_and_hash_per_s = 0;
  uint64_t sha_bytes = 0;  // Hashed (the whole log, or its first kShaCapBytes).
  double openssl_1024_mbps = -1;
  double rate() const { return seconds > 0 ? static_cast<double>(entries) / seconds : 0; }
};
constexpr uint64_t kShaCapBytes = 512ull << 20;
constexpr uint64_t kCaptureCapBytes = 1ull << 30;  // Batches read back from the WAL for the raw replay.

VerifyFigures Verify(const ledger::Log& l) {
  VerifyFigures f;
  ledger::VerifyReport report;
  Check(ledger::Verify(l, &report), "verify");
  if (!report.ok) Die(fmt::format("verify: seq {}: {}", report.bad_seq, report.problem));
  f.entries = report.entries;
  f.seconds = report.seconds;
  return f;
}

// The log read in order and each entry hashed, nothing else: entries per second.
double ScanAndHash(const ledger::Log& l) {
  const ledger::Store& store = l.store();
  std::unique_ptr<rocksdb::Iterator> it(store.db()->NewIterator(rocksdb::ReadOptions(), store.cf(ledger::kLog)));
  uint64_t entries = 0;
  uint8_t sink = 0;
  auto start = Clock::now();
  for (it->SeekToFirst(); it->Valid(); it->Next(), ++entries) {
    sink ^= ledger::LeafHash(ledger::AsBytes(it->value().ToStringView()))[0];
  }
  double seconds = SecondsSince(start);
  if (!it->status().ok()) Die("reading the log: " + it->status().ToString());
  if (sink == 0x5a) Note("");  // Keeps the hashes from being optimised away.
  return static_cast<double>(entries) / seconds;
}

// SHA-256 over the bytes Verify read, into `f`.
void ShaOverLog(const ledger::Log& l, VerifyFigures* out) {
  VerifyFigures& f = *out;
  f.scan_and_hash_per_s = ScanAndHash(l);
  // The same bytes: every entry as stored, each hashed as the verifier must at least hash it.
  std::vector<std::string> entries;
  for (uint64_t seq = 1; seq <= f.entries; ++seq) {  // The entries Verify read.
    std::string bytes;
    Check(l.ReadEntry(seq, &bytes), "reading the log");
    f.log_bytes += bytes.size();
    if (f.sha_bytes + bytes.size() <= kShaCapBytes) {
      f.sha_bytes += bytes.size();
      entries.push_back(std::move(bytes));
    }
  }
  const double bytes = static_cast<double>(f.sha_bytes);
  const double entry_bytes = static_cast<double>(f.log_bytes) / static_cast<double>(f.entries);
  f.sha_entry_mbps = bytes / bench::Sha256EachSeconds(entries) / 1e6;
  f.sha_entries_per_s = f.sha_entry_mbps * 1e6 / entry_bytes;  // At that byte rate, the log's average entry.
  uint8_t sink = 0;
  auto start = Clock::now();
  for (const auto& e : entries) sink ^= ledger::LeafHash(ledger::AsBytes(e))[0];
  f.leafhash_mbps = bytes / SecondsSince(start) / 1e6;
  std::string blob;
  blob.reserve(f.sha_bytes);
  for (const auto& e : entries) blob += e;
  start = Clock::now();
  sink ^= ledger::Sha256(ledger::AsBytes(blob))[0];
  f.sha_one_buffer_mbps = static_cast<double>(blob.size()) / SecondsSince(start) / 1e6;
  if (sink == 0x5a) Note("");  // Keeps the hashes from being optimised away.
}

// ---------------------------------------------------------------------------------------------
// Replay

struct ReplayFigures {
  std::string ledger;
  uint64_t ledger_events = 0, ledger_households = 0;
  bench::Latency latency;
  double mean_entries = 0;
};

ReplayFigures Replay(const ledger::Log& l, const std::string& name, uint64_t households,
                     const std::function<std::string(uint64_t)>& household_id, int samples, uint64_t seed) {
  ReplayFigures f;
  f.ledger = name;
  f.ledger_events = l.head().seq;
  f.ledger_households = households;
  std::mt19937_64 rng(seed);
  std::vector<double> us;
  uint64_t entries = 0;
  for (int s = 0; s < samples; ++s) {
    std::string id = household_id(rng() % households);
    auto start = Clock::now();
    Check(l.ReadHousehold(id, [&](const ledger::HouseholdEntry&) { ++entries; }), "ReadHousehold " + id);
    us.push_back(SecondsSince(start) * 1e6);
  }
  f.latency = bench::Percentiles(std::move(us));
  f.mean_entries = static_cast<double>(entries) / samples;
  return f;
}

// Writes dirty pages and drops the OS page cache (root only), so that reads go to the disk.
void DropPageCache() {
  ::sync();
  std::ofstream drop("/proc/sys/vm/drop_caches");
  drop << "3\n";
  drop.flush();
  if (!drop) Die("cannot drop the page cache (--drop-caches needs root)");
}

std::function<std::string(uint64_t)> ProvinceHouseholds(const testing::ProvinceMonthOptions& o) {
  return [o](uint64_t i) {
    return testing::ProvinceHouseholdId(testing::ProvinceCountyCode(static_cast<int>(i / o.households)),
                                        static_cast<int>(i % o.households));
  };
}

// ---------------------------------------------------------------------------------------------
// Payroll

struct PayrollFigures {
  std::string county;
  uint32_t period = 0;
  uint64_t rolls = 0, lines = 0, skipped = 0;
  double plan_s = 0, events_s = 0, append_s = 0;
  double seconds() const { return plan_s + events_s + append_s; }
};

ledger::schema::Programme ProgrammeOf(const std::string& name) {
  auto p = ledger::ParseProgramme(name);
  if (!p) Die("unknown programme " + name);
  return static_cast<ledger::schema::Programme>(*p);
}

// Issues every monthly roll of one county for one month, as `ledgerctl payroll issue` does.
PayrollFigures Payroll(ledger::Log* l, const std::string& county, uint32_t period) {
  PayrollFigures f;
  f.county = county;
  f.period = period;
  for (const std::string& programme : testing::ProvinceMonthlyProgrammes()) {
    ledger::payroll::Request r;
    r.county = county;
    r.programme = ProgrammeOf(programme);
    r.period = period;
    r.actor_id = testing::ProvinceFinanceId(county);
    r.date = period * 100 + 5;
    ledger::payroll::Plan plan;
    auto t0 = Clock::now();
    Check(ledger::payroll::MakePlan(*l, r, &plan), "payroll plan " + programme);
    auto t1 = Clock::now();
    auto events = ledger::payroll::Events(plan, r);
    auto t2 = Clock::now();
    std::vector<capnp::MessageBuilder*> group;
    for (auto& e : events) group.push_back(e.get());
    std::vector<ledger::AppendResult> results;
    if (!group.empty()) Check(l->AppendGroup(group, &results, ledger::Log::GroupMode::kAllOrNothing), "payroll append");
    auto t3 = Clock::now();
    for (const auto& res : results) {
      if (res.outcome != ledger::AppendResult::Outcome::kCreated)
        Die(fmt::format("payroll {} not issued: {}", programme, res.error.ToString()));
    }
    f.plan_s += std::chrono::duration<double>(t1 - t0).count();
    f.events_s += std::chrono::duration<double>(t2 - t1).count();
    f.append_s += std::chrono::duration<double>(t3 - t2).count();
    f.rolls += group.empty() ? 0 : 1;
    f.lines += plan.lines.size();
    f.skipped += plan.skipped.size();
  }
  return f;
}

// ---------------------------------------------------------------------------------------------
// Reconcile

struct ReconcileFigures {
  std::string ledger;
  uint64_t lines = 0, real_lines = 0, file_bytes = 0, ledger_payments = 0;
  double parse_s = 0, reconcile_s = 0;
  std::map<std::string, uint64_t> categories;
  double real_only_s = 0;       // Parse and reconcile of the real lines alone (when the file pads).
  double projected_real_s = 0;  // `lines` real lines at that rate.
  double seconds() const { return parse_s + reconcile_s; }
};

// A bank result file for the payments of every roll of the province-month's counties for
// `periods` (main and supplementary rolls of each programme, as ReadRoll gives them): the first
// `lines` of them (about 3% failed, one in a thousand for a different amount), padded to `lines`
// with payment ids the ledger does not have. Written line by line as the rolls are read, so that
// only the text is held (a province-month has 2.5M payments). *real: lines of ledger payments;
// *payments: the payments the rolls hold.
std::string BankText(const ledger::Log& l, const testing::ProvinceMonthOptions& o, const std::vector<uint32_t>& periods,
                     uint64_t lines, uint64_t* real, uint64_t* payments) {
  std::string text = "end_to_end_id,amount,status,reason,bank_reference,date\n";
  const uint32_t date = periods.front() * 100 + 10;
  uint64_t i = 0;
  auto add = [&](std::string_view id, int64_t fen) {
    bool failed = i % 100 < 3;
    text += fmt::format("{},{}.{:02},{},{},B{:010},{}\n", id, fen / 100, fen % 100, failed ? "failed" : "settled",
                        failed ? "account closed" : "", i, date);
    ++i;
  };
  std::vector<std::string> programmes = testing::ProvinceMonthlyProgrammes();
  programmes.push_back("temporary");
  *payments = 0;
  for (int c = 0; c < o.counties; ++c) {
    for (const auto& programme : programmes) {
      for (uint32_t period : periods) {
        for (const char* suffix : {"", "-S"}) {
          std::string roll_id =
              ledger::payroll::RollIdFor(testing::ProvinceCountyCode(c), ProgrammeOf(programme), period) + suffix;
          ledger::payroll::IssuedRoll roll;
          ledger::Status s = ledger::payroll::ReadRoll(l, roll_id, &roll);
          if (s.code() == ledger::Status::Code::kNotFound) continue;
          Check(s, "reading roll " + roll_id);
          *payments += roll.lines.size();
          for (const auto& line : roll.lines) {
            if (i < lines) add(line.payment_id, line.amount_fen + (i % 1000 == 7 ? 1 : 0));
          }
        }
      }
    }
  }
  *real = i;
  while (i < lines) add(fmt::format("P-{}-UNKNOWN-{:08}", periods.front(), i), 50000);
  return text;
}

// The header and the first `lines` lines of a bank file's text.
std::string FirstLines(const std::string& text, uint64_t lines) {
  size_t end = 0;
  for (uint64_t n = 0; n <= lines && end != std::string::npos; ++n) end = text.find('\n', end) + 1;
  return text.substr(0, end);
}

// Parses and reconciles a bank file of `lines` lines, the first `real` of them payments of the
// ledger; if there are others, the real lines alone are timed again, for a projection.
ReconcileFigures Reconcile(const ledger::Log& l, const std::string& name, std::string text, uint64_t lines,
                           uint64_t real, uint64_t ledger_payments) {
  ReconcileFigures f;
  f.ledger = name;
  f.ledger_payments = ledger_payments;
  f.lines = lines;
  f.real_lines = real;
  f.file_bytes = text.size();
  std::string real_text = real < lines && real > 0 ? FirstLines(text, real) : "";
  ledger::reconcile::BankFile parsed;
  ledger::reconcile::Reconciliation matches;
  auto t0 = Clock::now();
  Check(ledger::reconcile::ParseBankFile(std::move(text), ledger::reconcile::BankColumns{}, &parsed), "ParseBankFile");
  auto t1 = Clock::now();
  Check(ledger::reconcile::Reconcile(l.store(), parsed, &matches), "Reconcile");
  auto t2 = Clock::now();
  f.parse_s = std::chrono::duration<double>(t1 - t0).count();
  f.reconcile_s = std::chrono::duration<double>(t2 - t1).count();
  for (size_t i = 0; i < matches.size(); ++i) ++f.categories[ledger::reconcile::CategoryName(matches[i].category)];
  if (!real_text.empty()) {
    auto t3 = Clock::now();
    Check(ledger::reconcile::ParseBankFile(std::move(real_text), ledger::reconcile::BankColumns{}, &parsed),
          "ParseBankFile");
    Check(ledger::reconcile::Reconcile(l.store(), parsed, &matches), "Reconcile");
    f.real_only_s = SecondsSince(t3);
    f.projected_real_s = f.real_only_s * static_cast<double>(lines) / static_cast<double>(f.real_lines);
  }
  return f;
}

// ---------------------------------------------------------------------------------------------
// Disk

struct DiskFigures {
  uint64_t events = 0;
  uint64_t flushed_bytes = 0;  // The ledger directory after a flush of every family.
  uint64_t bytes = 0;          // After a full compaction: SSTs, WAL, MANIFEST, OPTIONS, secret.
  uint64_t sst_bytes = 0, wal_bytes = 0;
  double compact_s = 0;
  struct Family {
    std::string name;
    uint64_t sst_bytes = 0, keys = 0;
  };
  std::vector<Family> families;
  double per_event() const { return events ? static_cast<double>(bytes) / static_cast<double>(events) : 0; }
};

DiskFigures Disk(ledger::Log* l, const std::string& dir) {
  DiskFigures f;
  f.events = l->head().seq;
  rocksdb::DB* db = l->store().db();
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  for (size_t c = 0; c < ledger::kCfCount; ++c) handles.push_back(l->store().cf(static_cast<ledger::Cf>(c)));
  rocksdb::FlushOptions flush;
  flush.wait = true;
  rocksdb::Status s = db->Flush(flush, handles);
  if (!s.ok()) Die("flush: " + s.ToString());
  f.flushed_bytes = bench::DirectoryBytes(dir);
  auto start = Clock::now();
  for (auto* h : handles) {
    rocksdb::CompactRangeOptions compact;
    compact.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
    s = db->CompactRange(compact, h, nullptr, nullptr);
    if (!s.ok()) Die("compaction: " + s.ToString());
  }
  f.compact_s = SecondsSince(start);
  for (size_t c = 0; c < handles.size(); ++c) {
    DiskFigures::Family family;
    family.name = ledger::CfName(static_cast<ledger::Cf>(c));
    db->GetIntProperty(handles[c], "rocksdb.total-sst-files-size", &family.sst_bytes);
    db->GetIntProperty(handles[c], "rocksdb.estimate-num-keys", &family.keys);
    f.sst_bytes += family.sst_bytes;
    f.families.push_back(family);
  }
  f.wal_bytes = bench::DirectoryBytes(dir + "/db", ".log");
  f.bytes = bench::DirectoryBytes(dir);
  return f;
}

// ---------------------------------------------------------------------------------------------
// The large ledger (--replay-events): built once, reusable.

struct BigLedger {
  std::string dir;
  testing::ProvinceMonthOptions options;
  bool built = false;  // In this run (else reused).
  uint64_t payment_events = 0;
  ProvinceRun run;  // When built.
};

// "key=value" lines beside the database, saying how the ledger was generated.
void WriteMeta(const std::string& dir, const testing::ProvinceMonthOptions& o, uint64_t events,
               uint64_t payment_events) {
  std::ofstream out(dir + "/bench-ledger.meta");
  out << "seed=" << o.seed << "\ncounties=" << o.counties << "\nhouseholds=" << o.households << "\nperiod=" << o.period
      << "\nevents=" << events << "\npayment_events=" << payment_events << "\n";
}

bool ReadMeta(const std::string& dir, testing::ProvinceMonthOptions* o, uint64_t* events, uint64_t* payment_events) {
  std::ifstream in(dir + "/bench-ledger.meta");
  std::map<std::string, uint64_t> v;
  std::string line;
  while (std::getline(in, line)) {
    size_t eq = line.find('=');
    if (eq != std::string::npos) v[line.substr(0, eq)] = std::strtoull(line.c_str() + eq + 1, nullptr, 10);
  }
  if (!v.count("counties") || !v.count("households") || !v.count("period") || !v.count("events")) return false;
  o->seed = v["seed"];
  o->counties = static_cast<int>(v["counties"]);
  o->households = static_cast<int>(v["households"]);
  o->period = static_cast<uint32_t>(v["period"]);
  *events = v["events"];
  *payment_events = v["payment_events"];
  return true;
}

std::unique_ptr<ledger::Log> OpenBig(const Options& opt, BigLedger* big) {
  big->dir = opt.ledger_dir.empty() ? opt.dir + "/big" : opt.ledger_dir;
  uint64_t events = 0;
  std::unique_ptr<ledger::Log> l;
  if (ReadMeta(big->dir, &big->options, &events, &big->payment_events) && events >= opt.replay_events &&
      big->payment_events >= opt.payment_events) {
    Check(ledger::Log::Open(ledger::domain::Rules(), big->dir + "/ledger", &l), "opening " + big->dir);
    if (l->head().seq != events)
      Die(fmt::format("{} holds {} events, its meta file says {}", big->dir, l->head().seq, events));
    Note(fmt::format("reusing the ledger of {} events in {}", events, big->dir));
    return l;
  }
  if (std::filesystem::exists(big->dir) && !std::filesystem::is_empty(big->dir) &&
      !std::filesystem::exists(big->dir + "/bench-ledger.meta"))
    Die(big->dir + " exists and is not a ledger this bench made: give an empty or new --ledger-dir");
  std::filesystem::remove_all(big->dir);
  std::filesystem::create_directories(big->dir);
  big->options.seed = opt.seed + 1000;
  big->options.households = opt.big_households;
  // Counties enough for the events and payment events asked: measured on the first county (they
  // are alike).
  big->options.counties = 1;
  const testing::CountyMonth first = testing::ProvinceMonthCounty(big->options, 0);
  const uint64_t per_county = first.lines.size(), payments_per_county = first.payments_issued + first.bank_results;
  const uint64_t counties = std::max((opt.replay_events + per_county - 1) / per_county,
                                     (opt.payment_events + payments_per_county - 1) / payments_per_county);
  big->options.counties = static_cast<int>(std::clamp<uint64_t>(counties, 1, testing::kMaxCounties));
  Note(fmt::format("building a ledger of about {} events: {} counties of {} households in {}",
                   Si(static_cast<double>(per_county * big->options.counties)), big->options.counties,
                   big->options.households, big->dir));
  l = NewLedger(big->dir + "/ledger", ledger::Policy::kEnforce);
  big->run = AppendProvince(l.get(), big->options, opt.group, true, "large ledger");
  big->built = true;
  big->payment_events = big->run.payment_events();
  WriteMeta(big->dir, big->options, l->head().seq, big->payment_events);
  return l;
}

// ---------------------------------------------------------------------------------------------
// Report

struct Results {
  Options options;
  bench::Machine machine;
  std::string load_start, load_end, command;
  ProvinceRun province;
  ParseFigures parse_alone;  // The first county's lines of the province-month.
  // Raw RocksDB: the ledger's own batches written again (the reference of the target), and
  // synthetic batches of the same count, keys and bytes with 16-byte keys in order and at random.
  struct Raw {
    double seconds = 0;
    uint64_t events = 0;  // Events whose batches were written (all, unless the capture was capped).
    bench::WriteStats written;
    double rate() const { return seconds > 0 ? static_cast<double>(events) / seconds : 0; }
  };
  Raw raw_entries, raw_replay, raw_in_order, raw_random;
  uint64_t entry_bytes = 0;  // The province-month's entries as stored (raw_entries wrote them).
  std::vector<bench::FamilyWrites> family_writes;  // Of the batches raw_replay wrote, by family id.
  bench::PostgresChain postgres;  // Its error says why it was not run, or that it failed.
  VerifyFigures verify, big_verify;
  bench::Latency disk_read;  // --drop-caches: one random 4 KiB read of the large ledger's SST files.
  std::vector<ReplayFigures> replays;
  ledger::Log::RebuildReport rebuild;
  PayrollFigures payroll;
  std::vector<ReconcileFigures> reconciles;
  DiskFigures disk, big_disk;
  bool has_big_disk = false;
  uint64_t rss_province_kb = 0, rss_end_kb = 0;
  uint64_t county_events = 0, county_households = 0;
  AppendFigures county_append;
  ProvinceRun record;
  uint64_t record_missed = 0, record_unexpected = 0;
  BigLedger big;
  struct Phase {
    std::string name, load;   // Load average at its end.
    uint64_t rss_kb = 0;      // Peak RSS so far.
    uint64_t rss_now_kb = 0;  // RSS at its end.
    double at_s = 0;          // Seconds since the start.
  };
  std::vector<Phase> phases;
  uint64_t PeakAfter(const std::string& name) const {
    for (const auto& p : phases) {
      if (p.name == name) return p.rss_kb;
    }
    return 0;
  }
  void Phase(const std::string& name) {
    phases.push_back({name, bench::LoadAverage(), bench::PeakRssKb(), bench::CurrentRssKb(), SecondsSince(g_start)});
  }
};

double RawRate(const Results& r) {
  return r.raw_entries.rate();
}

std::string Status(bool met, bool at_size = true) {
  return std::string(met ? "met" : "NOT met") + (at_size ? "" : " (below target size)");
}

void AddReplayRows(const Results& r, std::vector<bench::Row>* rows) {
  for (const auto& p : r.replays) {
    bool at_size = p.ledger_events >= 10'000'000;
    rows->push_back({fmt::format("replay p50 / p99, {} ({} ev, {:.1f} ev/household)", p.ledger,
                                 Si(static_cast<double>(p.ledger_events)), p.mean_entries),
                     fmt::format("{:.0f} / {:.0f} µs", p.latency.p50_us, p.latency.p99_us),
                     fmt::format("{} samples, max {:.0f} µs", p.latency.samples, p.latency.max_us), "",
                     "p99 < 1 ms at 10M", Status(p.latency.p99_us < 1000, at_size)});
  }
}

void AddDiskReadRow(const Results& r, std::vector<bench::Row>* rows) {
  if (r.disk_read.samples == 0) return;
  rows->push_back({"  the disk: one random 4 KiB read of the ledger's files, page cache dropped",
                   fmt::format("{:.0f} / {:.0f} µs", r.disk_read.p50_us, r.disk_read.p99_us),
                   fmt::format("{} samples, max {:.0f} µs; a replay reads about 10 blocks", r.disk_read.samples,
                               r.disk_read.max_us),
                   "", "", ""});
}

void AddReconcileRows(const Results& r, std::vector<bench::Row>* rows) {
  for (const auto& c : r.reconciles) {
    // The target is for a million lines: a longer file is held to the same rate.
    const double per_million_s = c.seconds() * 1e6 / static_cast<double>(c.lines);
    rows->push_back({fmt::format("reconcile {}-line bank file, {}", Si(static_cast<double>(c.lines)), c.ledger),
                     fmt::format("{:.2f} s", c.seconds()),
                     fmt::format("parse {:.2f} + match {:.2f} s; {} real payments, {} unknown ids{}", c.parse_s,
                                 c.reconcile_s, c.real_lines, c.lines - c.real_lines,
                                 c.lines > 1'000'000 ? fmt::format("; {:.2f} s per 1M lines", per_million_s) : ""),
                     "", "< 3 s for 1M", Status(per_million_s < 3.0, c.lines >= 1'000'000)});
    if (c.projected_real_s > 0) {
      rows->push_back({fmt::format("  the same, all {} lines real (projected)", Si(static_cast<double>(c.lines))),
                       fmt::format("{:.2f} s", c.projected_real_s),
                       fmt::format("{} real lines alone took {:.2f} s", c.real_lines, c.real_only_s), "",
                       "< 3 s for 1M", Status(c.projected_real_s < 3.0, false) + ", extrapolated"});
    }
  }
}

void AddDiskRow(const DiskFigures& d, std::vector<bench::Row>* rows) {
  rows->push_back(
      {fmt::format("bytes on disk per event ({} ev, compacted)", Si(static_cast<double>(d.events))),
       fmt::format("{:.0f} B", d.per_event()),
       fmt::format("after flush {:.0f} B; log family {:.0f} B", static_cast<double>(d.flushed_bytes) / d.events,
                   static_cast<double>(d.families[ledger::kLog].sst_bytes) / d.events),
       "", "≤ 200 B", Status(d.per_event() <= 200)});
}

// "log 379, state 190, ..." per event, largest first, of the families written at all.
std::string FamilyWritesText(const Results& r) {
  std::vector<std::pair<double, std::string>> parts;
  for (size_t c = 0; c < r.family_writes.size() && r.raw_replay.events > 0; ++c) {
    if (r.family_writes[c].keys == 0) continue;
    const double events = static_cast<double>(r.raw_replay.events);
    parts.emplace_back(r.family_writes[c].bytes / events,
                       fmt::format("{} {:.0f} ({:.2f} keys)", ledger::CfName(static_cast<ledger::Cf>(c)),
                                   r.family_writes[c].bytes / events, r.family_writes[c].keys / events));
  }
  std::sort(parts.begin(), parts.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::string text;
  for (const auto& [bytes, part] : parts) text += (text.empty() ? "" : "; ") + part;
  return text;
}

void AddPostgresRow(const Results& r, std::vector<bench::Row>* rows) {
  const bench::PostgresChain& p = r.postgres;
  const std::string measure =
      fmt::format("  PostgreSQL hash chain (trigger + pgcrypto, batches of {}, durable)", r.options.group);
  if (!p.error.empty()) {
    rows->push_back({measure, "not run: " + p.error, "", "", "≥ 10× PostgreSQL", "not run"});
    return;
  }
  const double ratio = r.province.append.rate() / p.events_per_s;
  rows->push_back(
      {measure, fmt::format("{:.0f} ev/s", p.events_per_s),
       fmt::format("ratio: the append (messages) over it; {} rows of {} B, PostgreSQL {}",
                   Si(static_cast<double>(p.events)), p.body_bytes, p.version.substr(0, p.version.find(' '))),
       fmt::format("{:.2f}x", ratio), "≥ 10× PostgreSQL", Status(ratio >= 10)});
}

// The province-month's rows (RunDefault).
std::vector<bench::Row> DefaultTable(const Results& r) {
  std::vector<bench::Row> rows;
  const AppendFigures& a = r.province.append;
  double raw = RawRate(r), ratio = raw > 0 ? a.rate() / raw : 0;
  // a.rate() times SubmitGroup and FlushGroups alone: the events reach it as Cap'n Proto messages
  // (parsed before, timed apart), as a server's binary clients hand them over.
  rows.push_back({fmt::format("append, enforce, groups of {}, events as messages", r.options.group),
                  fmt::format("{:.0f} ev/s", a.rate()), fmt::format("raw RocksDB, the entries alone {:.0f} ev/s", raw),
                  fmt::format("{:.3f}", ratio), "≥ 0.50 of raw", Status(ratio >= 0.5)});
  const double json_rate = a.events / (a.parse_s + a.append_s), json_ratio = raw > 0 ? json_rate / raw : 0;
  rows.push_back({"  the same from JSON Lines, parse included (not overlapped)", fmt::format("{:.0f} ev/s", json_rate),
                  "raw RocksDB, the entries alone", fmt::format("{:.3f}", json_ratio), "≥ 0.25 of raw",
                  Status(json_ratio >= 0.25)});
  const double same = r.raw_replay.rate();
  rows.push_back({"  raw RocksDB, the ledger's own batches again", "",
                  fmt::format("{:.0f} ev/s (its write amplification included)", same),
                  fmt::format("{:.3f}", same > 0 ? a.rate() / same : 0), "", ""});
  const double events = static_cast<double>(a.events);
  const double keys = a.written.keys / events, bytes = a.written.bytes / events;
  const double entry = r.entry_bytes / std::max(1.0, static_cast<double>(r.raw_entries.events));
  const double amplification = r.entry_bytes > 0 ? a.written.bytes / static_cast<double>(r.entry_bytes) : 0;
  rows.push_back({"  write amplification", fmt::format("{:.1f} keys, {:.0f} B / event", keys, bytes),
                  fmt::format("the entry alone: 1 key, {:.0f} B", entry), fmt::format("{:.2f}x", amplification),
                  "≤ 2x", Status(amplification <= 2)});
  rows.push_back({"    by family, key + value bytes / event", "", FamilyWritesText(r), "", "", ""});
  rows.push_back({"  raw RocksDB, same count/keys/bytes, 16 B keys", "",
                  fmt::format("in order {:.0f} ev/s; random {:.0f} ev/s", r.raw_in_order.rate(), r.raw_random.rate()),
                  fmt::format("{:.3f} / {:.3f}", a.rate() / r.raw_in_order.rate(), a.rate() / r.raw_random.rate()), "",
                  ""});
  AddPostgresRow(r, &rows);
  rows.push_back({"  JSON parse (ParseEventJson, apart)", fmt::format("{:.0f} ev/s", a.events / a.parse_s),
                  fmt::format("{:.0f} MB/s, timed in the append's runs, no write in flight", a.parse_bytes / a.parse_s / 1e6), "", "", ""});
  const ParseFigures& p = r.parse_alone;
  rows.push_back({"  JSON parse alone, one thread, per CPU-second", fmt::format("{:.0f} ev/s", p.cpu_rate()),
                  fmt::format("{:.0f} MB/s; by the clock {:.0f} ev/s ({:.0f}% of a core); {} events of {:.0f} B",
                              p.cpu_mbps(), p.rate(), 100 * p.cpu_seconds / p.seconds,
                              Si(static_cast<double>(p.events)), static_cast<double>(p.bytes) / p.events),
                  "", "≥ 500K ev/s", Status(p.cpu_rate() >= 500e3)});
  if (r.county_events) {
    rows.push_back(
        {"  county-year append, enforce", fmt::format("{:.0f} ev/s", r.county_append.rate()), "", "", "", ""});
  }
  if (r.record.append.events) {
    rows.push_back({"  province-month append, record + red flags", fmt::format("{:.0f} ev/s", r.record.append.rate()),
                    "", "", "", ""});
  }
  const VerifyFigures& v = r.verify;
  double vratio = v.sha_entries_per_s > 0 ? v.rate() / v.sha_entries_per_s : 0;
  rows.push_back({"verify", fmt::format("{:.0f} ev/s", v.rate()),
                  fmt::format("SHA-256 of each entry {:.0f} ev/s ({:.0f} MB/s)", v.sha_entries_per_s, v.sha_entry_mbps),
                  fmt::format("{:.3f}", vratio), "≥ 0.50 of SHA-256", Status(vratio >= 0.5)});
  rows.push_back({"  the log read in order and hashed, nothing checked",
                  fmt::format("{:.0f} ev/s", v.scan_and_hash_per_s), "the least any verifier does",
                  fmt::format("{:.3f}", v.scan_and_hash_per_s / v.sha_entries_per_s), "", ""});
  rows.push_back({"  SHA-256 references", "",
                  fmt::format("one buffer {:.0f} MB/s; ledger::LeafHash each {:.0f} MB/s; openssl speed 1024 B {}",
                              v.sha_one_buffer_mbps, v.leafhash_mbps,
                              v.openssl_1024_mbps > 0 ? fmt::format("{:.0f} MB/s", v.openssl_1024_mbps) : "not run"),
                  "", "", ""});
  double rebuild_rate = r.rebuild.seconds > 0 ? r.rebuild.entries / r.rebuild.seconds : 0;
  rows.push_back({"projection rebuild", fmt::format("{:.0f} ev/s", rebuild_rate),
                  fmt::format("{} entries in {:.1f} s", r.rebuild.entries, r.rebuild.seconds), "", "≥ 1M ev/s",
                  Status(rebuild_rate >= 1e6)});
  rows.push_back({fmt::format("payroll issue, county {} month {}", r.payroll.county, r.payroll.period),
                  fmt::format("{:.2f} s, {} lines", r.payroll.seconds(), r.payroll.lines),
                  fmt::format("plan {:.2f} + events {:.2f} + append {:.2f} s, {} rolls", r.payroll.plan_s,
                              r.payroll.events_s, r.payroll.append_s, r.payroll.rolls),
                  "", "", ""});
  AddDiskRow(r.disk, &rows);
  uint64_t pay = r.province.payment_events();
  rows.push_back({fmt::format("peak memory, province-month ({} payment events)", Si(static_cast<double>(pay))),
                  fmt::format("{:.0f} MB", r.rss_province_kb / 1024.0),
                  fmt::format("after append {:.0f} MB, after verify {:.0f} MB; whole run {:.0f} MB",
                              r.PeakAfter("province-month append") / 1024.0, r.PeakAfter("verify") / 1024.0,
                              r.rss_end_kb / 1024.0),
                  "", "5M payment ev in 2 GB", Status(r.rss_province_kb < 2ull * 1024 * 1024, pay >= 5'000'000)});
  return rows;
}

// The large ledger's rows (RunLarge).
std::vector<bench::Row> LargeTable(const Results& r) {
  std::vector<bench::Row> rows;
  if (r.big.built) {
    rows.push_back(
        {fmt::format("append of the large ledger ({} events)", Si(static_cast<double>(r.big.run.append.events))),
         fmt::format("{:.0f} ev/s", r.big.run.append.rate()), fmt::format("{:.0f} s", r.big.run.append.append_s), "",
         "", ""});
  }
  if (r.big_verify.entries) {
    rows.push_back(
        {fmt::format("verify of the large ledger ({} entries)", Si(static_cast<double>(r.big_verify.entries))),
         fmt::format("{:.0f} ev/s", r.big_verify.rate()), fmt::format("{:.0f} s", r.big_verify.seconds), "", "", ""});
  }
  if (r.has_big_disk) AddDiskRow(r.big_disk, &rows);
  const uint64_t pay = r.big.payment_events;
  // With --large-only the process did nothing else: its peak is the large ledger's work.
  const uint64_t peak = r.rss_end_kb;
  std::string phases;
  for (const auto& p : r.phases)
    phases += fmt::format("{}{} {:.0f}", phases.empty() ? "" : ", ", p.name, p.rss_kb / 1024.0);
  rows.push_back({fmt::format("peak memory, large ledger ({} payment events{}{})", Si(static_cast<double>(pay)),
                              r.big.built ? ", appended" : ", reused", r.options.large_only ? "" : ", whole run"),
                  fmt::format("{:.0f} MB", peak / 1024.0), "peak MB after each phase: " + phases, "",
                  "5M payment ev in 2 GB", Status(peak < 2ull * 1024 * 1024, pay >= 5'000'000 && r.big.built)});
  return rows;
}

std::vector<bench::Row> Table(const Results& r) {
  std::vector<bench::Row> rows;
  if (!r.options.large_only) rows = DefaultTable(r);
  if (!r.big.dir.empty()) {
    auto large = LargeTable(r);
    rows.insert(rows.end(), large.begin(), large.end());
  }
  AddReplayRows(r, &rows);
  AddDiskReadRow(r, &rows);
  AddReconcileRows(r, &rows);
  return rows;
}

void WriteAppend(bench::JsonWriter& j, const std::string& key, const AppendFigures& a) {
  j.Begin(key)
      .Field("events", a.events)
      .Field("groups", a.groups)
      .Field("append_seconds", a.append_s)
      .Field("parse_seconds", a.parse_s)
      .Field("events_per_s", a.rate())
      .Field("parse_events_per_s", a.parse_s > 0 ? a.events / a.parse_s : 0.0)
      .Field("parse_bytes", a.parse_bytes)
      .Field("parse_mb_per_s", a.parse_s > 0 ? a.parse_bytes / a.parse_s / 1e6 : 0.0)
      .Field("rocksdb_batches", a.written.batches)
      .Field("rocksdb_keys", a.written.keys)
      .Field("rocksdb_bytes", a.written.bytes)
      .Field("wal_bytes", a.written.wal_bytes)
      .Field("wal_syncs", a.written.wal_syncs)
      .Field("events_with_findings", a.events_with_findings);
  j.Begin("findings_by_rule");
  for (const auto& [rule, n] : a.findings_by_rule) j.Field(rule, n);
  j.End().End();
}

void WriteProvince(bench::JsonWriter& j, const std::string& key, const ProvinceRun& p) {
  j.Begin(key)
      .Field("seed", p.options.seed)
      .Field("counties", p.options.counties)
      .Field("households_per_county", p.options.households)
      .Field("period", static_cast<uint64_t>(p.options.period))
      .Field("households", p.households)
      .Field("payments_issued", p.payments_issued)
      .Field("bank_results", p.bank_results)
      .Field("payment_events", p.payment_events())
      .Field("red_flags_planted", static_cast<uint64_t>(p.red_flags.size()))
      .Field("generate_seconds", p.generate_s);
  WriteAppend(j, "append", p.append);
  j.End();
}

void WriteDisk(bench::JsonWriter& j, const std::string& key, const DiskFigures& d) {
  j.Begin(key)
      .Field("events", d.events)
      .Field("bytes_after_flush", d.flushed_bytes)
      .Field("bytes", d.bytes)
      .Field("bytes_per_event", d.per_event())
      .Field("sst_bytes", d.sst_bytes)
      .Field("wal_bytes", d.wal_bytes)
      .Field("compact_seconds", d.compact_s);
  j.Begin("families");
  for (const auto& f : d.families) {
    j.Begin(f.name)
        .Field("sst_bytes", f.sst_bytes)
        .Field("keys_estimate", f.keys)
        .Field("bytes_per_event", d.events ? static_cast<double>(f.sst_bytes) / d.events : 0.0)
        .End();
  }
  j.End().End();
}

void WritePostgres(bench::JsonWriter& j, const Results& r) {
  const bench::PostgresChain& p = r.postgres;
  j.Begin("raw_postgresql").Field("ran", p.error.empty());
  if (!p.error.empty()) {
    j.Field("not_run", p.error).End();
    return;
  }
  j.Field("method",
          "append-only table entries(seq, body, prev, hash), BEFORE INSERT trigger (PL/pgSQL) reading the last row "
          "and setting hash = pgcrypto digest(prev || body, 'sha256'); random bodies; one INSERT ... SELECT and one "
          "durable COMMIT per batch; chain checked after")
      .Field("events", p.events)
      .Field("batch", p.batch)
      .Field("body_bytes", p.body_bytes)
      .Field("commits", p.commits)
      .Field("seconds", p.seconds)
      .Field("events_per_s", p.events_per_s)
      .Field("append_ratio", r.province.append.rate() / p.events_per_s)
      .Field("postgres_version", p.version)
      .Field("fsync", p.fsync)
      .Field("synchronous_commit", p.synchronous_commit)
      .Field("wal_sync_method", p.wal_sync_method)
      .Field("shared_buffers", p.shared_buffers)
      .Field("script_output", p.line)
      .End();
}

// The default phases' figures (RunDefault).
void WriteDefault(bench::JsonWriter& j, const Results& r) {
  WriteProvince(j, "province_month", r.province);
  j.Begin("json_parse_alone")
      .Field("events", r.parse_alone.events)
      .Field("bytes", r.parse_alone.bytes)
      .Field("passes", r.parse_alone.passes)
      .Field("seconds", r.parse_alone.seconds)
      .Field("cpu_seconds", r.parse_alone.cpu_seconds)
      .Field("events_per_s", r.parse_alone.rate())
      .Field("mb_per_s", r.parse_alone.mbps())
      .Field("events_per_cpu_s", r.parse_alone.cpu_rate())
      .Field("mb_per_cpu_s", r.parse_alone.cpu_mbps())
      .End();
  j.Begin("write_amplification_by_family");
  for (size_t c = 0; c < r.family_writes.size() && r.raw_replay.events > 0; ++c) {
    const double events = static_cast<double>(r.raw_replay.events);
    j.Begin(ledger::CfName(static_cast<ledger::Cf>(c)))
        .Field("keys_per_event", r.family_writes[c].keys / events)
        .Field("bytes_per_event", r.family_writes[c].bytes / events)
        .End();
  }
  j.End();
  j.Begin("write_amplification")
      .Field("keys_per_event", static_cast<double>(r.province.append.written.keys) / r.province.append.events)
      .Field("bytes_per_event", static_cast<double>(r.province.append.written.bytes) / r.province.append.events)
      .Field("entries", r.raw_entries.events)
      .Field("entry_bytes_per_entry", static_cast<double>(r.entry_bytes) / std::max<uint64_t>(1, r.raw_entries.events))
      .Field("ratio", r.entry_bytes > 0 ? static_cast<double>(r.province.append.written.bytes) / r.entry_bytes : 0.0)
      .End();
  j.Begin("raw_rocksdb");
  for (const auto& [name, raw] :
       {std::pair{"entries_alone", &r.raw_entries}, std::pair{"same_batches_replayed", &r.raw_replay}, std::pair{"sixteen_byte_keys_in_order", &r.raw_in_order},
        std::pair{"sixteen_byte_keys_random", &r.raw_random}}) {
    j.Begin(name)
        .Field("seconds", raw->seconds)
        .Field("events", raw->events)
        .Field("events_per_s", raw->rate())
        .Field("batches", raw->written.batches)
        .Field("keys", raw->written.keys)
        .Field("bytes", raw->written.bytes)
        .Field("append_ratio", raw->rate() > 0 ? r.province.append.rate() / raw->rate() : 0.0)
        .Field("json_append_ratio",
               raw->rate() > 0 ? r.province.append.events / (r.province.append.parse_s + r.province.append.append_s) /
                                     raw->rate()
                               : 0.0)
        .End();
  }
  j.End();
  WritePostgres(j, r);
  const VerifyFigures& v = r.verify;
  j.Begin("verify")
      .Field("entries", v.entries)
      .Field("seconds", v.seconds)
      .Field("events_per_s", v.rate())
      .Field("log_bytes", v.log_bytes)
      .Field("sha256_bytes_hashed", v.sha_bytes)
      .Field("sha256_each_entry_mbps", v.sha_entry_mbps)
      .Field("sha256_each_entry_events_per_s", v.sha_entries_per_s)
      .Field("sha256_one_buffer_mbps", v.sha_one_buffer_mbps)
      .Field("ledger_leafhash_each_entry_mbps", v.leafhash_mbps)
      .Field("log_scan_and_hash_events_per_s", v.scan_and_hash_per_s)
      .Field("openssl_speed_sha256_1024_mbps", v.openssl_1024_mbps)
      .Field("ratio", v.sha_entries_per_s > 0 ? v.rate() / v.sha_entries_per_s : 0.0)
      .End();
  j.Begin("rebuild")
      .Field("entries", r.rebuild.entries)
      .Field("seconds", r.rebuild.seconds)
      .Field("events_per_s", r.rebuild.seconds > 0 ? r.rebuild.entries / r.rebuild.seconds : 0.0)
      .Field("mismatches", r.rebuild.mismatches)
      .End();
  j.Begin("payroll")
      .Field("county", r.payroll.county)
      .Field("period", static_cast<uint64_t>(r.payroll.period))
      .Field("rolls", r.payroll.rolls)
      .Field("lines", r.payroll.lines)
      .Field("skipped", r.payroll.skipped)
      .Field("plan_seconds", r.payroll.plan_s)
      .Field("events_seconds", r.payroll.events_s)
      .Field("append_seconds", r.payroll.append_s)
      .Field("seconds", r.payroll.seconds())
      .End();
  WriteDisk(j, "disk", r.disk);
  j.Begin("memory")
      .Field("peak_rss_kb_after_province_month", r.rss_province_kb)
      .Field("peak_rss_kb_end", r.rss_end_kb)
      .End();
  if (r.county_events) {
    j.Begin("county_year").Field("households", r.county_households);
    WriteAppend(j, "append", r.county_append);
    j.End();
  }
  if (r.record.append.events) {
    WriteProvince(j, "record_run", r.record);
    j.Begin("record_run_check")
        .Field("planted", static_cast<uint64_t>(r.record.red_flags.size()))
        .Field("planted_not_flagged_with_their_rule", r.record_missed)
        .Field("flagged_but_not_planted", r.record_unexpected)
        .End();
  }
}

std::string Json(const Results& r, const std::vector<bench::Row>& rows) {
  bench::JsonWriter j;
  j.Begin().Field("command", r.command).Field("build_type", LEDGER_BUILD_TYPE);
  j.Begin("machine")
      .Field("nproc", r.machine.nproc)
      .Field("cpu_model", r.machine.cpu_model)
      .Field("memory_kb", r.machine.memory_kb)
      .Field("kernel", r.machine.kernel)
      .Field("data_filesystem", r.machine.filesystem)
      .Field("data_device", r.machine.device)
      .Field("data_device_rotational", r.machine.rotational)
      .Field("load_average_start", r.load_start)
      .Field("load_average_end", r.load_end)
      .End();
  j.BeginArray("phases");
  for (const auto& p : r.phases) {
    j.Begin()
        .Field("phase", p.name)
        .Field("ended_at_s", p.at_s)
        .Field("load_average", p.load)
        .Field("peak_rss_kb", p.rss_kb)
        .Field("rss_kb", p.rss_now_kb)
        .End();
  }
  j.EndArray();
  if (!r.options.large_only) WriteDefault(j, r);
  j.BeginArray("replay");
  for (const auto& p : r.replays) {
    j.Begin()
        .Field("ledger", p.ledger)
        .Field("ledger_events", p.ledger_events)
        .Field("ledger_households", p.ledger_households)
        .Field("mean_entries_per_household", p.mean_entries)
        .Field("samples", p.latency.samples)
        .Field("p50_us", p.latency.p50_us)
        .Field("p90_us", p.latency.p90_us)
        .Field("p99_us", p.latency.p99_us)
        .Field("p999_us", p.latency.p999_us)
        .Field("max_us", p.latency.max_us)
        .Field("mean_us", p.latency.mean_us)
        .End();
  }
  j.EndArray();
  j.BeginArray("reconcile");
  for (const auto& c : r.reconciles) {
    j.Begin()
        .Field("ledger", c.ledger)
        .Field("lines", c.lines)
        .Field("real_lines", c.real_lines)
        .Field("unknown_id_lines", c.lines - c.real_lines)
        .Field("ledger_payments_read", c.ledger_payments)
        .Field("file_bytes", c.file_bytes)
        .Field("parse_seconds", c.parse_s)
        .Field("reconcile_seconds", c.reconcile_s)
        .Field("seconds", c.seconds())
        .Field("real_lines_alone_seconds", c.real_only_s)
        .Field("projected_all_real_seconds", c.projected_real_s);
    j.Begin("categories");
    for (const auto& [name, n] : c.categories) j.Field(name, n);
    j.End().End();
  }
  j.EndArray();
  if (r.has_big_disk) WriteDisk(j, "disk_large_ledger", r.big_disk);
  if (!r.big.dir.empty()) {
    j.Begin("large_ledger")
        .Field("dir", r.big.dir)
        .Field("built_in_this_run", r.big.built)
        .Field("large_only", r.options.large_only)
        .Field("counties", r.big.options.counties)
        .Field("households_per_county", r.big.options.households)
        .Field("payment_events", r.big.payment_events)
        .Field("verify_entries", r.big_verify.entries)
        .Field("verify_seconds", r.big_verify.seconds)
        .Field("verify_events_per_s", r.big_verify.rate())
        .Field("peak_rss_kb", r.rss_end_kb)
        .Field("disk_random_4k_read_samples", r.disk_read.samples)
        .Field("disk_random_4k_read_p50_us", r.disk_read.p50_us)
        .Field("disk_random_4k_read_p99_us", r.disk_read.p99_us);
    if (r.big.built) WriteProvince(j, "built", r.big.run);
    j.End();
  }
  j.BeginArray("table");
  for (const auto& row : rows) {
    j.Begin()
        .Field("measure", row.measure)
        .Field("result", row.result)
        .Field("beside", row.reference)
        .Field("ratio", row.ratio)
        .Field("target", row.target)
        .Field("status", row.status)
        .End();
  }
  j.EndArray();
  j.End();
  return j.text();
}

// The record-policy run's check: each planted household flagged with its rule, nobody else
// flagged but the households whose card a planted one shares.
void CheckRedFlags(ledger::Log& l, Results* r) {
  std::set<std::string> allowed;
  for (const auto& f : r->record.red_flags) {
    allowed.insert(f.household);
    if (!f.partner.empty()) allowed.insert(f.partner);
    bool found = false;
    Check(l.ReadHousehold(f.household,
                          [&](const ledger::HouseholdEntry& e) {
                            ledger::EntryReader reader;
                            if (!reader.Init(e.bytes).ok()) return;
                            for (auto finding : reader.entry().getFindings())
                              found = found || std::string(finding.getRule().cStr()) == f.rule;
                          }),
          "ReadHousehold " + f.household);
    if (!found) {
      ++r->record_missed;
      Note(fmt::format("red flag check: {} was planted with {} and not flagged with it", f.household, f.rule));
    }
  }
  for (const auto& h : r->record.append.flagged_households) {
    if (!allowed.count(h)) {
      ++r->record_unexpected;
      Note(fmt::format("red flag check: {} was flagged but not planted", h));
    }
  }
}

// The PostgreSQL hash chain of issue 15 (bench/pg_chain.sh), in batches of the append's group
// size, when asked and installed: found beside the working directory or the binary (build/..).
constexpr uint64_t kPostgresBodyBytes = 256;

bench::PostgresChain PostgresReference(const Options& opt) {
  if (!opt.postgres) return bench::PostgresChain::NotRun("--no-postgres");
  if (!bench::PostgresInstalled()) return bench::PostgresChain::NotRun("postgresql not installed");
  std::error_code ec;
  const std::filesystem::path exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  for (const auto& script :
       {std::filesystem::path("bench/pg_chain.sh"), exe.parent_path().parent_path() / "bench/pg_chain.sh"}) {
    if (!std::filesystem::exists(script)) continue;
    Note(fmt::format("PostgreSQL hash chain: {} rows of {} B, durable commits of {}", opt.postgres_events,
                     kPostgresBodyBytes, opt.group));
    return bench::RunPostgresChain(script.string(), opt.dir + "/postgres", opt.postgres_events, opt.group,
                                   kPostgresBodyBytes);
  }
  return bench::PostgresChain::NotRun("bench/pg_chain.sh not found");
}

// The default phases: the province-month (append against raw RocksDB, verify against SHA-256,
// replay, rebuild, payroll, reconcile, bytes on disk), the county-year and the record run.
void RunDefault(const Options& opt, Results* out) {
  Results& r = *out;
  testing::ProvinceMonthOptions po;
  po.seed = opt.seed;
  po.counties = opt.counties;
  po.households = opt.households;
  const std::string province_dir = opt.dir + "/province";
  auto l = NewLedger(province_dir, ledger::Policy::kEnforce);
  Note(
      fmt::format("province-month: {} counties of {} households, appending under enforce", po.counties, po.households));
  // Keeps the WAL (until the raw reference below), so that the batches the appends wrote can be
  // read back and written again raw.
  rocksdb::DB* db = l->store().db();
  const uint64_t since = db->GetLatestSequenceNumber() + 1;
  if (!opt.append_only && !db->DisableFileDeletions().ok()) Die("cannot keep the WAL");
  const uint64_t month_first_seq = l->head().seq + 1;
  r.province = AppendProvince(l.get(), po, opt.group, true, "province-month");
  const uint64_t month_last_seq = l->head().seq;
  r.Phase("province-month append");
  Note("JSON parse alone");
  r.parse_alone = MeasureParse(testing::ProvinceMonthCounty(po, 0).lines);
  if (opt.append_only) {
    const AppendFigures& a = r.province.append;
    fmt::print(
        "appended {} events in {:.2f} s (AppendGroup {:.0f} ev/s; parse {:.2f} s); parse alone {:.0f} ev/s, {:.0f} "
        "MB/s "
        "per CPU-second ({:.0f} ev/s by the clock)\n",
        a.events, a.append_s, a.rate(), a.parse_s, r.parse_alone.cpu_rate(), r.parse_alone.cpu_mbps(),
        r.parse_alone.rate());
    std::exit(0);
  }
  const uint64_t until = db->GetLatestSequenceNumber();  // The append's last write.

  Note("verify");
  r.verify = Verify(*l);
  r.Phase("verify");
  Note("household replay");
  r.replays.push_back(
      Replay(*l, "province-month", r.province.households, ProvinceHouseholds(po), opt.replay_samples, opt.seed));
  r.Phase("replay");
  Note("projection rebuild");
  Check(l->Rebuild(&r.rebuild), "rebuild");
  if (r.rebuild.mismatches)
    Die(fmt::format("rebuild: {} mismatches, first {}", r.rebuild.mismatches, r.rebuild.first_mismatch));
  r.Phase("rebuild");
  const uint32_t next =
      r.province.options.period % 100 == 12 ? r.province.options.period + 89 : r.province.options.period + 1;
  Note(fmt::format("payroll for county {} month {}", testing::ProvinceCountyCode(0), next));
  r.payroll = Payroll(l.get(), testing::ProvinceCountyCode(0), next);
  r.Phase("payroll");
  if (opt.bank_lines > 0) {
    Note(fmt::format("reconcile a {}-line bank file", opt.bank_lines));
    uint64_t real = 0, payments = 0;
    std::string text = BankText(*l, po, {po.period, next}, opt.bank_lines, &real, &payments);
    r.reconciles.push_back(Reconcile(*l, "province-month", std::move(text), opt.bank_lines, real, payments));
  }
  r.Phase("reconcile");
  r.rss_province_kb = bench::PeakRssKb();  // The ledger's work; the references below hold copies.

  const bench::WriteStats& w = r.province.append.written;
  if (w.batches == 0) Die("RocksDB counted no writes");
  {
    // The floor: the province-month's entries alone, in batches of the append's size.
    const uint64_t per_batch = std::max<uint64_t>(1, r.province.append.events / w.batches);
    uint64_t seq = month_first_seq - 1;
    Note(fmt::format("raw RocksDB: the {} entries alone, one key each, synced batches of {}",
                     r.province.append.events, per_batch));
    r.raw_entries.seconds = bench::EntriesAloneSeconds(
        opt.dir + "/raw",
        [&] {
          std::vector<std::string> batch;
          for (; batch.size() < per_batch && seq < month_last_seq;) {
            Check(l->ReadEntry(++seq, &batch.emplace_back()), "reading the log");
            r.entry_bytes += batch.back().size();
          }
          return batch;
        },
        &r.raw_entries.written);
    r.raw_entries.events = month_last_seq - month_first_seq + 1;
  }
  {
    std::vector<std::string> batches, families;
    std::string error;
    if (!bench::CaptureBatches(db, since, until, kCaptureCapBytes, &batches, &error))
      Die("reading the WAL back: " + error);
    if (!db->EnableFileDeletions(true).ok()) Die("cannot release the WAL");
    for (size_t c = 0; c < ledger::kCfCount; ++c) {
      families.push_back(c == ledger::kMeta ? rocksdb::kDefaultColumnFamilyName
                                            : ledger::CfName(static_cast<ledger::Cf>(c)));
    }
    Note(fmt::format("raw RocksDB: the {} batches written again", batches.size()));
    r.raw_replay.seconds = bench::ReplayBatchesSeconds(opt.dir + "/raw", families, batches, &r.raw_replay.written);
    r.raw_replay.events = r.province.append.events * batches.size() / w.batches;
    r.family_writes = bench::WritesByFamily(batches, ledger::kCfCount);
  }
  Note(fmt::format("raw RocksDB: {} synced batches of {} keys, {} bytes, 16-byte keys in order, then at random",
                   w.batches, w.keys / w.batches, w.bytes / w.batches));
  r.raw_in_order.seconds = bench::RawRocksDbSeconds(opt.dir + "/raw", w.batches, w.keys / w.batches,
                                                    w.bytes / w.batches, false, &r.raw_in_order.written);
  r.raw_in_order.events = r.province.append.events;
  r.raw_random.seconds = bench::RawRocksDbSeconds(opt.dir + "/raw", w.batches, w.keys / w.batches, w.bytes / w.batches,
                                                  true, &r.raw_random.written);
  r.raw_random.events = r.province.append.events;
  r.Phase("raw RocksDB");
  r.postgres = PostgresReference(opt);
  if (!r.postgres.error.empty()) Note("PostgreSQL hash chain not run: " + r.postgres.error);
  r.Phase("PostgreSQL reference");
  Note("SHA-256 over the same bytes");
  ShaOverLog(*l, &r.verify);
  r.Phase("SHA-256 reference");
  Note("bytes on disk (flush, full compaction)");
  r.disk = Disk(l.get(), province_dir);
  r.Phase("disk");
  l.reset();

  if (opt.county_households > 0) {
    Note(fmt::format("county-year: {} households under enforce", opt.county_households));
    auto lines = testing::CountyYear({.seed = opt.seed, .households = opt.county_households});
    auto cl = NewLedger(opt.dir + "/county", ledger::Policy::kEnforce);
    r.county_append = AppendLines(cl.get(), lines, opt.group, true);
    r.county_events = lines.size();
    r.county_households = static_cast<uint64_t>(opt.county_households);
    r.Phase("county-year append");
    r.replays.push_back(Replay(
        *cl, "county-year", r.county_households, [](uint64_t i) { return fmt::format("H{:04}", i); },
        opt.replay_samples, opt.seed));
    r.Phase("county-year replay");
  }

  if (opt.record_households > 0) {
    Note(fmt::format("record policy: a county of {} households, {} per mille with red flags", opt.record_households,
                     opt.red_flags_per_mille));
    testing::ProvinceMonthOptions ro;
    ro.seed = opt.seed + 500;
    ro.counties = 1;
    ro.households = opt.record_households;
    ro.red_flag_per_mille = opt.red_flags_per_mille;
    auto rl = NewLedger(opt.dir + "/record", ledger::Policy::kRecord);
    r.record = AppendProvince(rl.get(), ro, opt.group, false, "record run");
    CheckRedFlags(*rl, &r);
    r.Phase("record run");
  }

  if (opt.openssl) {
    Note("openssl speed -seconds 3 sha256");
    std::string raw;
    r.verify.openssl_1024_mbps = bench::OpensslSpeedSha256Mbps(&raw);
    r.Phase("openssl speed");
  }
}

// The large ledger (--replay-events, --payment-events): built or reused, verified (when sized by
// payment events), replayed, and reconciled: a 1M-line file of real payments, then the whole
// month's bank results.
void RunLarge(const Options& opt, Results* out) {
  Results& r = *out;
  auto bl = OpenBig(opt, &r.big);
  r.Phase("large ledger");
  if (opt.payment_events > 0) {
    Note("verify the large ledger");
    r.big_verify = Verify(*bl);
    r.Phase("large ledger verify");
  }
  const uint64_t households =
      static_cast<uint64_t>(r.big.options.counties) * static_cast<uint64_t>(r.big.options.households);
  if (opt.drop_caches) {
    Note("household replay on the large ledger, the page cache dropped, then again");
    DropPageCache();
    r.replays.push_back(Replay(*bl, "large ledger, page cache dropped", households, ProvinceHouseholds(r.big.options),
                               opt.replay_samples, opt.seed + 1));
    r.replays.push_back(Replay(*bl, "large ledger, the same households again", households,
                               ProvinceHouseholds(r.big.options), opt.replay_samples, opt.seed + 1));
    Note("the disk: random 4 KiB reads of the large ledger's files, the page cache dropped");
    DropPageCache();
    r.disk_read = bench::RandomReadLatency(r.big.dir + "/ledger/db", ".sst", opt.replay_samples, opt.seed);
  } else {
    Note("household replay on the large ledger");
    r.replays.push_back(
        Replay(*bl, "large ledger", households, ProvinceHouseholds(r.big.options), opt.replay_samples, opt.seed + 1));
  }
  r.Phase("large ledger replay");
  if (opt.bank_lines > 0) {
    Note("reconcile on the large ledger");
    const std::vector<uint32_t> month = {r.big.options.period};
    uint64_t real = 0, payments = 0;
    std::string text = BankText(*bl, r.big.options, month, opt.bank_lines, &real, &payments);
    r.reconciles.push_back(Reconcile(*bl, "large ledger", std::move(text), opt.bank_lines, real, payments));
    r.Phase("large ledger reconcile");
    if (opt.payment_events > 0) {
      const uint64_t month_lines = payments;
      Note(fmt::format("reconcile the month's {} bank results on the large ledger", month_lines));
      text = BankText(*bl, r.big.options, month, month_lines, &real, &payments);
      r.reconciles.push_back(Reconcile(*bl, "large ledger, whole month", std::move(text), month_lines, real, payments));
      r.Phase("large ledger month reconcile");
    }
  }
  if (r.big.built) {  // A reused ledger was measured when it was built.
    Note("bytes on disk of the large ledger (flush, full compaction)");
    r.big_disk = Disk(bl.get(), r.big.dir + "/ledger");
    r.has_big_disk = true;
    r.Phase("large ledger disk");
  }
}

}  // namespace

int main(int argc, char** argv) {
  Options opt = ParseOptions(argc, argv);
  Results r;
  r.options = opt;
  for (int i = 0; i < argc; ++i) r.command += (i ? " " : "") + std::string(argv[i]);
  // The scratch directory is emptied: only if it is new, empty or one this bench made.
  const std::string marker = opt.dir + "/.ledger-bench-scratch";
  if (std::filesystem::exists(opt.dir) && !std::filesystem::is_empty(opt.dir) && !std::filesystem::exists(marker))
    Die(opt.dir + " is not empty and not a scratch directory of ledger_bench: give a new --dir");
  std::filesystem::remove_all(opt.dir);
  std::filesystem::create_directories(opt.dir);
  std::ofstream(marker) << "ledger_bench scratch data, deleted by the next run\n";
  r.machine = bench::DescribeMachine(opt.dir);
  r.load_start = bench::LoadAverage();
  Note(fmt::format("{} x {}, load {}; data in {} ({}, {})", r.machine.nproc, r.machine.cpu_model, r.load_start, opt.dir,
                   r.machine.filesystem, r.machine.device));
  const bool large = opt.replay_events > 0 || opt.payment_events > 0;
  if (opt.large_only && !large) Die("--large-only needs --replay-events or --payment-events");
  if (!opt.large_only) RunDefault(opt, &r);
  if (large) RunLarge(opt, &r);

  r.rss_end_kb = bench::PeakRssKb();
  r.load_end = bench::LoadAverage();
  auto rows = Table(r);
  fmt::print("\nBenefit Ledger benchmark: {} x {}, {} GiB, {} on {}; build {}; load {} -> {}\n", r.machine.nproc,
             r.machine.cpu_model, r.machine.memory_kb >> 20, r.machine.filesystem, r.machine.device, LEDGER_BUILD_TYPE,
             r.load_start, r.load_end);
  if (!opt.large_only) {
    fmt::print("province-month: {} counties x {} households = {} events ({} payment events); county-year: {} events\n",
               opt.counties, opt.households, r.province.append.events, r.province.payment_events(), r.county_events);
  }
  if (large) {
    fmt::print("large ledger: {} counties x {} households = {} events ({} payment events), {} in this run\n",
               r.big.options.counties, r.big.options.households, r.replays.back().ledger_events, r.big.payment_events,
               r.big.built ? "built" : "reused");
  }
  fmt::print("\n");
  bench::PrintTable(rows);
  std::ofstream results(opt.json);
  results << Json(r, rows);
  if (!results) Die("cannot write " + opt.json);
  fmt::print("\nresults: {}\n", opt.json);
  if (!opt.keep) std::filesystem::remove_all(opt.dir);
  if (r.record_missed || r.record_unexpected) {
    fmt::print(stderr, "ledger_bench: the red-flag check failed ({} missed, {} unexpected)\n", r.record_missed,
               r.record_unexpected);
    return 1;
  }
  return 0;
}
