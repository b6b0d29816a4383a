#include "bench/measure.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <openssl/evp.h>
#include <rocksdb/transaction_log.h>
#include <rocksdb/write_batch.h>
#include <sys/resource.h>
#include <sys/utsname.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <numeric>
#include <random>
#include <sstream>

#include "ledger/domain/json.h"

namespace bench {
namespace {

std::string FirstLineWith(const std::string& path, std::string_view prefix) {
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (line.starts_with(prefix)) return line;
  }
  return "";
}

std::string AfterColon(const std::string& line) {
  size_t colon = line.find(':');
  if (colon == std::string::npos) return "";
  size_t start = line.find_first_not_of(" \t", colon + 1);
  return start == std::string::npos ? "" : line.substr(start);
}

uint64_t MapNumber(const std::map<std::string, std::string>& m, const std::string& key) {
  auto it = m.find(key);
  return it == m.end() ? 0 : std::strtoull(it->second.c_str(), nullptr, 10);
}

}  // namespace

Machine DescribeMachine(const std::string& data_dir) {
  Machine m;
  m.nproc = static_cast<int>(sysconf(_SC_NPROCESSORS_ONLN));
  m.cpu_model = AfterColon(FirstLineWith("/proc/cpuinfo", "model name"));
  m.memory_kb = std::strtoull(AfterColon(FirstLineWith("/proc/meminfo", "MemTotal")).c_str(), nullptr, 10);
  utsname u{};
  if (uname(&u) == 0) m.kernel = fmt::format("{} {}", u.sysname, u.release);
  // The mount holding the data directory: the longest mount point that is a prefix of it.
  std::error_code ec;
  std::string dir = std::filesystem::weakly_canonical(data_dir, ec).string();
  std::ifstream mounts("/proc/mounts");
  std::string device, point, type, rest;
  size_t best = 0;
  while (mounts >> device >> point >> type && std::getline(mounts, rest)) {
    bool under = dir.starts_with(point) && (point == "/" || dir.size() == point.size() || dir[point.size()] == '/');
    if (under && point.size() >= best) {
      best = point.size();
      m.device = device;
      m.filesystem = type;
    }
  }
  std::string name = m.device.substr(m.device.rfind('/') + 1);
  std::ifstream rot("/sys/block/" + name + "/queue/rotational");
  if (rot) rot >> m.rotational;
  return m;
}

std::string LoadAverage() {
  std::ifstream in("/proc/loadavg");
  std::string a, b, c;
  in >> a >> b >> c;
  return fmt::format("{} {} {}", a, b, c);
}

uint64_t PeakRssKb() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  return static_cast<uint64_t>(u.ru_maxrss);
}

uint64_t CurrentRssKb() {
  return std::strtoull(AfterColon(FirstLineWith("/proc/self/status", "VmRSS")).c_str(), nullptr, 10);
}

WriteStats ReadWriteStats(rocksdb::DB* db) {
  std::map<std::string, std::string> m;
  WriteStats s;
  if (!db->GetMapProperty(rocksdb::DB::Properties::kDBStats, &m)) return s;
  s.batches = MapNumber(m, "db.user_writes_with_wal");
  s.keys = MapNumber(m, "db.user_keys_written");
  s.bytes = MapNumber(m, "db.user_bytes_written");
  s.wal_bytes = MapNumber(m, "db.wal_bytes_written");
  s.wal_syncs = MapNumber(m, "db.wal_syncs");
  return s;
}

namespace {

// A new RocksDB at `path` (default options, one column family), for the raw references. Exits
// if it cannot be made.
std::unique_ptr<rocksdb::DB> NewRawDb(const std::string& path) {
  std::filesystem::remove_all(path);
  rocksdb::Options options;
  options.create_if_missing = true;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(options, path, &raw);
  if (!s.ok()) {
    fmt::print(stderr, "ledger_bench: raw RocksDB at {}: {}\n", path, s.ToString());
    std::exit(1);
  }
  return std::unique_ptr<rocksdb::DB>(raw);
}

}  // namespace

double EntriesAloneSeconds(const std::string& path, const std::function<std::vector<std::string>()>& next_batch,
                           WriteStats* written) {
  std::unique_ptr<rocksdb::DB> db = NewRawDb(path);
  rocksdb::Status s;
  WriteStats before = ReadWriteStats(db.get());
  rocksdb::WriteOptions wo;
  wo.sync = true;
  uint64_t seq = 0;
  double seconds = 0;
  for (std::vector<std::string> entries = next_batch(); !entries.empty(); entries = next_batch()) {
    auto start = Clock::now();
    rocksdb::WriteBatch batch;
    for (const auto& entry : entries) {
      ++seq;
      char key[8];
      for (int i = 0; i < 8; ++i) key[i] = static_cast<char>(seq >> (56 - 8 * i));
      batch.Put(rocksdb::Slice(key, sizeof key), entry);
    }
    s = db->Write(wo, &batch);
    seconds += SecondsSince(start);
    if (!s.ok()) {
      fmt::print(stderr, "ledger_bench: raw RocksDB write: {}\n", s.ToString());
      std::exit(1);
    }
  }
  *written = ReadWriteStats(db.get()) - before;
  db.reset();
  std::filesystem::remove_all(path);
  return seconds;
}

double RawRocksDbSeconds(const std::string& path, uint64_t batches, uint64_t keys_per_batch, uint64_t bytes_per_batch,
                         bool random_keys, WriteStats* written) {
  std::unique_ptr<rocksdb::DB> db = NewRawDb(path);
  rocksdb::Status s;
  keys_per_batch = std::max<uint64_t>(1, keys_per_batch);
  // A put record is a tag byte, the key and the value with their varint lengths; a batch has a
  // 12-byte header.
  constexpr uint64_t kKeyBytes = 16, kBatchHeader = 12;
  uint64_t per_put = bytes_per_batch > kBatchHeader ? (bytes_per_batch - kBatchHeader) / keys_per_batch : 0;
  uint64_t overhead = 1 + 1 + kKeyBytes + (per_put > 128 + 19 ? 2 : 1);
  std::string value(per_put > overhead ? per_put - overhead : 0, 'v');
  WriteStats before = ReadWriteStats(db.get());
  rocksdb::WriteOptions wo;
  wo.sync = true;
  uint64_t key = 0;
  std::mt19937_64 rng(1);
  auto start = Clock::now();
  for (uint64_t b = 0; b < batches; ++b) {
    rocksdb::WriteBatch batch;
    for (uint64_t p = 0; p < keys_per_batch; ++p) {
      uint64_t k = random_keys ? rng() % 10'000'000'000'000'000ULL : key++;
      batch.Put(fmt::format("{:016}", k), value);
    }
    s = db->Write(wo, &batch);
    if (!s.ok()) {
      fmt::print(stderr, "ledger_bench: raw RocksDB write: {}\n", s.ToString());
      std::exit(1);
    }
  }
  double seconds = SecondsSince(start);
  *written = ReadWriteStats(db.get()) - before;
  db.reset();
  std::filesystem::remove_all(path);
  return seconds;
}

double Sha256EachSeconds(const std::vector<std::string>& items) {
  EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (md == nullptr || ctx == nullptr) {
    fmt::print(stderr, "ledger_bench: OpenSSL has no SHA-256\n");
    std::exit(1);
  }
  const uint8_t prefix = 0x00;
  uint8_t out[EVP_MAX_MD_SIZE];
  uint8_t sink = 0;
  unsigned int len = 0;
  auto start = Clock::now();
  for (const auto& item : items) {
    bool ok = EVP_DigestInit_ex(ctx, md, nullptr) == 1 && EVP_DigestUpdate(ctx, &prefix, 1) == 1 &&
              EVP_DigestUpdate(ctx, item.data(), item.size()) == 1 && EVP_DigestFinal_ex(ctx, out, &len) == 1;
    if (!ok) std::exit(1);
    sink ^= out[0];
  }
  double seconds = SecondsSince(start);
  EVP_MD_CTX_free(ctx);
  EVP_MD_free(md);
  if (sink == 0x5a && len == 0) std::exit(1);  // Never: keeps the digests from being optimised away.
  return seconds;
}

bool CaptureBatches(rocksdb::DB* db, uint64_t since, uint64_t until, uint64_t max_bytes,
                    std::vector<std::string>* batches, std::string* error) {
  std::unique_ptr<rocksdb::TransactionLogIterator> it;
  rocksdb::Status s = db->GetUpdatesSince(since, &it);
  uint64_t bytes = 0;
  for (; s.ok() && it->Valid() && bytes < max_bytes; it->Next()) {
    rocksdb::BatchResult batch = it->GetBatch();
    if (batch.sequence > until) break;
    if (batch.sequence < since) continue;
    bytes += batch.writeBatchPtr->GetDataSize();
    batches->push_back(batch.writeBatchPtr->Data());
  }
  if (s.ok() && it && !it->status().ok() && bytes < max_bytes) s = it->status();
  if (!s.ok()) *error = s.ToString();
  return s.ok();
}

namespace {
class FamilyCounter : public rocksdb::WriteBatch::Handler {
 public:
  explicit FamilyCounter(std::vector<FamilyWrites>* out) : out_(out) {}
  rocksdb::Status PutCF(uint32_t cf, const rocksdb::Slice& key, const rocksdb::Slice& value) override {
    if (cf >= out_->size()) out_->resize(cf + 1);
    (*out_)[cf].keys += 1;
    (*out_)[cf].bytes += key.size() + value.size();
    return rocksdb::Status::OK();
  }

 private:
  std::vector<FamilyWrites>* out_;
};
}  // namespace

std::vector<FamilyWrites> WritesByFamily(const std::vector<std::string>& batches, size_t families) {
  std::vector<FamilyWrites> out(families);
  FamilyCounter counter(&out);
  for (const auto& bytes : batches) {
    rocksdb::WriteBatch batch(bytes);
    if (!batch.Iterate(&counter).ok()) break;
  }
  return out;
}

double ReplayBatchesSeconds(const std::string& path, const std::vector<std::string>& families,
                            const std::vector<std::string>& batches, WriteStats* written) {
  std::filesystem::remove_all(path);
  rocksdb::DBOptions options;
  options.create_if_missing = true;
  options.create_missing_column_families = true;
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  for (const auto& name : families) descriptors.emplace_back(name, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s = rocksdb::DB::Open(options, path, descriptors, &handles, &raw);
  if (!s.ok()) {
    fmt::print(stderr, "ledger_bench: raw RocksDB at {}: {}\n", path, s.ToString());
    std::exit(1);
  }
  std::unique_ptr<rocksdb::DB> db(raw);
  for (size_t i = 0; i < handles.size(); ++i) {
    if (handles[i]->GetID() != i) {
      fmt::print(stderr, "ledger_bench: raw RocksDB family {} got id {}\n", families[i], handles[i]->GetID());
      std::exit(1);
    }
  }
  WriteStats before = ReadWriteStats(db.get());
  rocksdb::WriteOptions wo;
  wo.sync = true;
  auto start = Clock::now();
  for (const auto& rep : batches) {
    rocksdb::WriteBatch batch(rep);
    s = db->Write(wo, &batch);
    if (!s.ok()) {
      fmt::print(stderr, "ledger_bench: raw RocksDB replay: {}\n", s.ToString());
      std::exit(1);
    }
  }
  double seconds = SecondsSince(start);
  *written = ReadWriteStats(db.get()) - before;
  for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
  db.reset();
  std::filesystem::remove_all(path);
  return seconds;
}

double OpensslSpeedSha256Mbps(std::string* raw_output) {
  raw_output->clear();
  std::unique_ptr<FILE, int (*)(FILE*)> pipe(popen("openssl speed -seconds 3 sha256 2>/dev/null", "r"), pclose);
  if (!pipe) return -1;
  char buffer[4096];
  while (fgets(buffer, sizeof buffer, pipe.get()) != nullptr) *raw_output += buffer;
  // "type 16 bytes 64 bytes 256 bytes 1024 bytes …" then "sha256 123.45k …" in 1000s of bytes/s.
  std::istringstream lines(*raw_output);
  std::string line;
  while (std::getline(lines, line)) {
    if (!line.starts_with("sha256 ")) continue;
    std::istringstream fields(line);
    std::string name, v16, v64, v256, v1024;
    if (fields >> name >> v16 >> v64 >> v256 >> v1024 && !v1024.empty() && v1024.back() == 'k')
      return std::strtod(v1024.c_str(), nullptr) / 1000.0;
  }
  return -1;
}

namespace {

// The value of "key" in a flat JSON object of strings and numbers (no escapes in them), or "".
std::string FlatJsonValue(const std::string& line, const std::string& key) {
  const std::string quoted = "\"" + key + "\":";
  size_t at = line.find(quoted);
  if (at == std::string::npos) return "";
  at += quoted.size();
  if (at < line.size() && line[at] == '"') {
    size_t end = line.find('"', at + 1);
    return end == std::string::npos ? "" : line.substr(at + 1, end - at - 1);
  }
  return line.substr(at, line.find_first_of(",}", at) - at);
}

std::string ShellQuote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

}  // namespace

bool PostgresInstalled() {
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator("/usr/lib/postgresql", ec)) {
    if (access((entry.path() / "bin/postgres").c_str(), X_OK) == 0) return true;
  }
  return false;
}

PostgresChain RunPostgresChain(const std::string& script, const std::string& workdir, uint64_t events, uint64_t batch,
                               uint64_t body_bytes) {
  PostgresChain p;
  const std::string command = fmt::format("{} --events {} --batch {} --body-bytes {} --dir {}", ShellQuote(script),
                                          events, batch, body_bytes, ShellQuote(workdir));
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return PostgresChain::NotRun("cannot run " + script);
  char buffer[4096];
  while (fgets(buffer, sizeof buffer, pipe) != nullptr) {
    if (buffer[0] == '{') p.line = buffer;
    while (!p.line.empty() && (p.line.back() == '\n' || p.line.back() == '\r')) p.line.pop_back();
  }
  const int status = pclose(pipe);
  if (status != 0) {
    p.error = fmt::format("{} failed (exit {})", script, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    return p;
  }
  auto number = [&](const char* key) { return std::strtod(FlatJsonValue(p.line, key).c_str(), nullptr); };
  p.events = static_cast<uint64_t>(number("events")), p.batch = static_cast<uint64_t>(number("batch"));
  p.body_bytes = static_cast<uint64_t>(number("body_bytes")), p.commits = static_cast<uint64_t>(number("commits"));
  p.seconds = number("seconds"), p.events_per_s = number("events_per_s");
  p.version = FlatJsonValue(p.line, "postgres_version"), p.fsync = FlatJsonValue(p.line, "fsync");
  p.synchronous_commit = FlatJsonValue(p.line, "synchronous_commit");
  p.wal_sync_method = FlatJsonValue(p.line, "wal_sync_method");
  p.shared_buffers = FlatJsonValue(p.line, "shared_buffers");
  if (p.events != events || p.events_per_s <= 0) p.error = fmt::format("{}: unexpected output: {}", script, p.line);
  return p;
}

Latency Percentiles(std::vector<double> us) {
  Latency l;
  if (us.empty()) return l;
  std::sort(us.begin(), us.end());
  auto at = [&](double q) {
    size_t i = static_cast<size_t>(q * static_cast<double>(us.size() - 1) + 0.5);
    return us[std::min(i, us.size() - 1)];
  };
  l.samples = us.size();
  l.p50_us = at(0.50);
  l.p90_us = at(0.90);
  l.p99_us = at(0.99);
  l.p999_us = at(0.999);
  l.max_us = us.back();
  l.mean_us = std::accumulate(us.begin(), us.end(), 0.0) / static_cast<double>(us.size());
  return l;
}

uint64_t DirectoryBytes(const std::string& dir, std::string_view suffix) {
  uint64_t total = 0;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    if (!it->is_regular_file(ec)) continue;
    if (!suffix.empty() && !it->path().string().ends_with(suffix)) continue;
    total += it->file_size(ec);
  }
  return total;
}

void JsonWriter::Key(std::string_view key) {
  if (!first_.back()) out_ += ",";
  first_.back() = false;
  out_ += "\n" + std::string(2 * (first_.size() - 1), ' ');
  if (!key.empty()) out_ += ledger::JsonString(key) + ": ";
}

JsonWriter& JsonWriter::Begin(std::string_view key) {
  if (first_.size() > 1 || !out_.empty()) Key(key);
  out_ += "{";
  first_.push_back(true);
  return *this;
}

JsonWriter& JsonWriter::BeginArray(std::string_view key) {
  Key(key);
  out_ += "[";
  first_.push_back(true);
  return *this;
}

JsonWriter& JsonWriter::End() {
  first_.pop_back();
  out_ += "\n" + std::string(2 * (first_.size() - 1), ' ') + "}";
  if (first_.size() == 1) out_ += "\n";
  return *this;
}

JsonWriter& JsonWriter::EndArray() {
  first_.pop_back();
  out_ += "\n" + std::string(2 * (first_.size() - 1), ' ') + "]";
  return *this;
}

JsonWriter& JsonWriter::Field(std::string_view key, std::string_view value) {
  Key(key);
  out_ += ledger::JsonString(value);
  return *this;
}

JsonWriter& JsonWriter::Field(std::string_view key, double value) {
  Key(key);
  out_ += std::isfinite(value) ? fmt::format("{:.6g}", value) : "null";
  return *this;
}

JsonWriter& JsonWriter::Field(std::string_view key, uint64_t value) {
  Key(key);
  out_ += std::to_string(value);
  return *this;
}

JsonWriter& JsonWriter::Field(std::string_view key, int64_t value) {
  Key(key);
  out_ += std::to_string(value);
  return *this;
}

JsonWriter& JsonWriter::Field(std::string_view key, bool value) {
  Key(key);
  out_ += value ? "true" : "false";
  return *this;
}

void PrintTable(const std::vector<Row>& rows) {
  const std::vector<std::string> head = {"measure", "result", "beside it (same run)", "ratio", "target", "status"};
  std::vector<size_t> width(head.size());
  auto cells = [](const Row& r) {
    return std::vector<std::string>{r.measure, r.result, r.reference, r.ratio, r.target, r.status};
  };
  // Display width: the table is ASCII but for a few symbols (≥, µ) that take one column each.
  auto columns = [](const std::string& s) {
    size_t n = 0;
    for (unsigned char c : s) n += (c & 0xC0) != 0x80;
    return n;
  };
  for (size_t i = 0; i < head.size(); ++i) width[i] = columns(head[i]);
  for (const Row& r : rows) {
    auto c = cells(r);
    for (size_t i = 0; i < c.size(); ++i) width[i] = std::max(width[i], columns(c[i]));
  }
  auto print = [&](const std::vector<std::string>& c) {
    std::string line = "|";
    for (size_t i = 0; i < c.size(); ++i) line += " " + c[i] + std::string(width[i] - columns(c[i]), ' ') + " |";
    fmt::print("{}\n", line);
  };
  print(head);
  std::string rule = "|";
  for (size_t w : width) rule += std::string(w + 2, '-') + "|";
  fmt::print("{}\n", rule);
  for (const Row& r : rows) print(cells(r));
}

}  // namespace bench

namespace bench {

Latency RandomReadLatency(const std::string& dir, std::string_view suffix, uint64_t samples, uint64_t seed) {
  std::vector<std::pair<std::string, uint64_t>> files;
  uint64_t total = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    const std::string path = e.path().string();
    if (!e.is_regular_file() || path.size() < suffix.size() || path.substr(path.size() - suffix.size()) != suffix) {
      continue;
    }
    files.emplace_back(path, e.file_size());
    total += e.file_size();
  }
  std::vector<double> us;
  if (total < 4096) return Percentiles(us);
  std::mt19937_64 rng(seed);
  std::vector<char> buffer(4096);
  for (uint64_t i = 0; i < samples; ++i) {
    uint64_t at = rng() % total;
    size_t f = 0;
    while (at >= files[f].second) at -= files[f++].second;
    const off_t offset = static_cast<off_t>(at / 4096 * 4096);
    int fd = ::open(files[f].first.c_str(), O_RDONLY);
    if (fd < 0) continue;
    auto start = Clock::now();
    ssize_t n = ::pread(fd, buffer.data(), buffer.size(), offset);
    double elapsed_us = SecondsSince(start) * 1e6;
    ::close(fd);
    if (n > 0) us.push_back(elapsed_us);
  }
  return Percentiles(std::move(us));
}

}  // namespace bench
