// Measuring instruments of ledger_bench: the machine, process memory, RocksDB's own write
// counters, the raw-RocksDB and raw-SHA-256 references, `openssl speed`, latency percentiles, a
// small JSON writer and the result table. Nothing here knows the ledger's layout.
//
// Single-threaded use.
#pragma once

#include <rocksdb/db.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace bench {

using Clock = std::chrono::steady_clock;
inline double SecondsSince(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

struct Machine {
  std::string cpu_model, kernel, filesystem, device;
  int nproc = 0;
  uint64_t memory_kb = 0;
  int rotational = -1;  // Of the device under the data directory: 1 spinning, 0 not, -1 unknown.
};
Machine DescribeMachine(const std::string& data_dir);
std::string LoadAverage();  // The three figures of /proc/loadavg.
uint64_t PeakRssKb();       // getrusage ru_maxrss.
uint64_t CurrentRssKb();    // VmRSS of /proc/self/status.

// RocksDB's cumulative write counters of one database (the map form of "rocksdb.dbstats"):
// exact counts of the synced WriteBatches, keys and bytes that went through DB::Write.
struct WriteStats {
  uint64_t batches = 0, keys = 0, bytes = 0, wal_bytes = 0, wal_syncs = 0;
  WriteStats operator-(const WriteStats& o) const {
    return {batches - o.batches, keys - o.keys, bytes - o.bytes, wal_bytes - o.wal_bytes, wal_syncs - o.wal_syncs};
  }
};
WriteStats ReadWriteStats(rocksdb::DB* db);

// Raw RocksDB (default options, one column family): `batches` synced WriteBatches of
// `keys_per_batch` puts (16-byte keys, in order or spread at random) carrying `bytes_per_batch`
// bytes each, into a new database at `path`. Returns the seconds the writes took; `written` gets
// RocksDB's own count of them.
double RawRocksDbSeconds(const std::string& path, uint64_t batches, uint64_t keys_per_batch, uint64_t bytes_per_batch,
                         bool random_keys, WriteStats* written);

// The physical floor of appending: the entries alone, as raw RocksDB would store a log of them.
// Each batch of `next_batch` (called until it gives an empty one) is put under 8-byte big-endian
// sequence keys, one key per entry, in one synced WriteBatch, into a new database at `path`
// (default options, one column family). Only the writes are timed, not producing the batches.
// Returns the seconds; `written` gets RocksDB's own count.
double EntriesAloneSeconds(const std::string& path, const std::function<std::vector<std::string>()>& next_batch,
                           WriteStats* written);

// The WriteBatches `db` committed with sequence numbers from `since` to `until`, as their byte
// representation, read back from its WAL (file deletions must have been disabled since before
// them). Stops after `max_bytes`. False (and a message) if the WAL cannot be read.
bool CaptureBatches(rocksdb::DB* db, uint64_t since, uint64_t until, uint64_t max_bytes,
                    std::vector<std::string>* batches, std::string* error);

// Keys and bytes (key plus value, without the batch's framing) that `batches` put into each column
// family, by family id: where the append's write amplification comes from.
struct FamilyWrites {
  uint64_t keys = 0, bytes = 0;
};
std::vector<FamilyWrites> WritesByFamily(const std::vector<std::string>& batches, size_t families);

// Writes `batches` again, each synced, into a new database at `path` with the column families
// `families` (in the order of their ids: the batches name families by id). Returns the seconds.
double ReplayBatchesSeconds(const std::string& path, const std::vector<std::string>& families,
                            const std::vector<std::string>& batches, WriteStats* written);

// Raw SHA-256 through OpenSSL at its best for small messages (the digest fetched once, one
// context reused): each item hashed as its own message, with the one-byte prefix of a Merkle
// leaf (hash.h LeafHash). Returns the seconds taken.
double Sha256EachSeconds(const std::vector<std::string>& items);

// `openssl speed -seconds 3 sha256`: the 1024-byte column in MB/s (10^6 bytes), or -1.
double OpensslSpeedSha256Mbps(std::string* raw_output);

// The PostgreSQL reference of issue 15, bench/pg_chain.sh: a throwaway cluster (Debian's
// binaries) with an append-only table hash-chained by a BEFORE INSERT trigger (pgcrypto's
// digest), `events` rows of `body_bytes` random bytes inserted in transactions of `batch` rows,
// each COMMIT durable (fsync=on, synchronous_commit=on). `error` is empty when it ran; its figures
// come from the script's one JSON line (kept in `line`).
struct PostgresChain {
  std::string error;  // Why there are no figures (the script failed, or its output was not read).
  uint64_t events = 0, batch = 0, body_bytes = 0, commits = 0;
  double seconds = 0, events_per_s = 0;
  std::string version, fsync, synchronous_commit, wal_sync_method, shared_buffers, line;
  static PostgresChain NotRun(std::string why) {
    PostgresChain p;
    p.error = std::move(why);
    return p;
  }
};
bool PostgresInstalled();  // Debian's server binaries: /usr/lib/postgresql/*/bin/postgres.
// Runs `script` (its progress to stderr) with its cluster in `workdir`, which it removes.
PostgresChain RunPostgresChain(const std::string& script, const std::string& workdir, uint64_t events, uint64_t batch,
                               uint64_t body_bytes);

struct Latency {
  uint64_t samples = 0;
  double p50_us = 0, p90_us = 0, p99_us = 0, p999_us = 0, max_us = 0, mean_us = 0;
};
Latency Percentiles(std::vector<double> us);

// The disk's latency for one random 4 KiB read: `samples` preads at 4 KiB-aligned offsets of the
// files ending in `suffix` under `dir` (each file drawn in proportion to its size). The caller
// drops the page cache first for reads that reach the disk.
Latency RandomReadLatency(const std::string& dir, std::string_view suffix, uint64_t samples, uint64_t seed);

// Directory size (regular files, recursively) and the size of the files ending in `suffix`.
uint64_t DirectoryBytes(const std::string& dir, std::string_view suffix = "");

// A JSON document written in order: objects and arrays nest; keys are escaped.
class JsonWriter {
 public:
  JsonWriter& Begin(std::string_view key = "");  // An object (key empty: in an array or at the top).
  JsonWriter& BeginArray(std::string_view key);
  JsonWriter& End();
  JsonWriter& EndArray();
  JsonWriter& Field(std::string_view key, std::string_view value);
  JsonWriter& Field(std::string_view key, const char* value) { return Field(key, std::string_view(value)); }
  JsonWriter& Field(std::string_view key, double value);
  JsonWriter& Field(std::string_view key, uint64_t value);
  JsonWriter& Field(std::string_view key, int64_t value);
  JsonWriter& Field(std::string_view key, int value) { return Field(key, static_cast<int64_t>(value)); }
  JsonWriter& Field(std::string_view key, bool value);
  const std::string& text() const { return out_; }

 private:
  void Key(std::string_view key);
  std::string out_;
  std::vector<bool> first_ = {true};
};

// The printed table: one row per figure, its reference, the target and whether it is met.
struct Row {
  std::string measure, result, reference, ratio, target, status;
};
void PrintTable(const std::vector<Row>& rows);

}  // namespace bench
