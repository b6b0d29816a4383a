#include "ledger/core/store.h"

#include <rocksdb/cache.h>
#include <rocksdb/filter_policy.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>

#include <cstring>

namespace ledger {
namespace {

// The block cache (uncompressed blocks of every family): holds the indexes, filters and recent
// entries that appends, replays and verification read again.
constexpr size_t kBlockCacheBytes = size_t{128} << 20;
// All families' memtables together: past this RocksDB flushes the largest. Without a bound each
// of the ten families may hold two 64 MiB memtables, and a ledger's memory would depend on how
// its writes spread over them.
constexpr size_t kMemtableBytesMax = size_t{256} << 20;

void PutBe64(std::string* out, uint64_t v) {
  for (int i = 7; i >= 0; --i) out->push_back(static_cast<char>(v >> (8 * i)));
}

uint64_t GetBe64(std::string_view in) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v = v << 8 | static_cast<uint8_t>(in[i]);
  return v;
}

void PutHash(std::string* out, const Hash& h) {
  out->append(reinterpret_cast<const char*>(h.data()), h.size());
}
Hash GetHash(std::string_view in) {
  Hash h;
  memcpy(h.data(), in.data(), h.size());
  return h;
}

rocksdb::Slice ToSlice(std::string_view s) {
  return rocksdb::Slice(s.data(), s.size());
}

}  // namespace

const char* CfName(Cf cf) {
  static constexpr const char* kNames[kCfCount] = {"meta",     "log",   "household", "household_head", "actor",
                                                   "event_id", "state", "merkle",    "checkpoint",     "heads"};
  return kNames[cf];
}

std::string SeqKey(uint64_t seq) {
  std::string k;
  PutBe64(&k, seq);
  return k;
}

std::optional<uint64_t> ParseSeqKey(std::string_view key) {
  if (key.size() != 8) return std::nullopt;
  return GetBe64(key);
}

std::string MerkleKey(uint8_t level, uint64_t index) {
  std::string k(1, static_cast<char>(level));
  PutBe64(&k, index);
  return k;
}

bool ParseMerkleKey(std::string_view key, uint8_t* level, uint64_t* index) {
  if (key.size() != 9) return false;
  *level = static_cast<uint8_t>(key[0]);
  *index = GetBe64(key.substr(1));
  return true;
}

std::string HeadsPrefix(uint64_t size) {
  return SeqKey(size);
}

std::string HeadsNodeKey(uint64_t size, uint8_t level, uint64_t index) {
  std::string k = HeadsPrefix(size) + kHeadsNodeTag;
  k.push_back(static_cast<char>(level));
  PutBe64(&k, index);
  return k;
}

std::string HeadsHouseholdKey(uint64_t size, std::string_view household) {
  return HeadsPrefix(size) + kHeadsHouseholdTag + std::string(household);
}

std::string ScopedSeqKey(std::string_view id, uint64_t seq) {
  std::string k = ScopedPrefix(id);
  PutBe64(&k, seq);
  return k;
}

std::string ScopedPrefix(std::string_view id) {
  return std::string(id) + '\0';
}
std::string ScopedLimit(std::string_view id) {
  return std::string(id) + '\1';
}

bool ParseScopedSeqKey(std::string_view key, std::string* id, uint64_t* seq) {
  if (key.size() < 10 || key[key.size() - 9] != '\0') return false;
  *id = std::string(key.substr(0, key.size() - 9));
  *seq = GetBe64(key.substr(key.size() - 8));
  return id->find('\0') == std::string::npos;
}

std::string HeadValue::Encode() const {
  std::string v;
  PutBe64(&v, seq);
  PutHash(&v, hash);
  PutBe64(&v, static_cast<uint64_t>(recorded_at_us));
  return v;
}

std::optional<HeadValue> HeadValue::Decode(std::string_view v) {
  if (v.size() != 48) return std::nullopt;
  return HeadValue{GetBe64(v), GetHash(v.substr(8)), static_cast<int64_t>(GetBe64(v.substr(40)))};
}

std::string HouseholdHead::Encode() const {
  std::string v;
  PutBe64(&v, version);
  PutBe64(&v, last_seq);
  PutHash(&v, last_hash);
  return v;
}

std::optional<HouseholdHead> HouseholdHead::Decode(std::string_view v) {
  if (v.size() != 48) return std::nullopt;
  return HouseholdHead{GetBe64(v), GetBe64(v.substr(8)), GetHash(v.substr(16))};
}

EventIdValue EventIdValue::For(uint64_t seq, const Hash& entry_hash) {
  EventIdValue v{seq, {}};
  memcpy(v.entry_check.data(), entry_hash.data(), kCheckBytes);
  return v;
}

bool EventIdValue::Checks(const Hash& entry_hash) const {
  return memcmp(entry_check.data(), entry_hash.data(), kCheckBytes) == 0;
}

std::string EventIdValue::Encode() const {
  std::string v;
  PutBe64(&v, seq);
  v.append(reinterpret_cast<const char*>(entry_check.data()), kCheckBytes);
  return v;
}

std::optional<EventIdValue> EventIdValue::Decode(std::string_view v) {
  if (v.size() != 8 + kCheckBytes) return std::nullopt;
  EventIdValue out{GetBe64(v), {}};
  memcpy(out.entry_check.data(), v.data() + 8, kCheckBytes);
  return out;
}

namespace {

// Whether RocksDB failed to take the database's LOCK file because it is held: by another
// process ("While lock file: D/LOCK: Resource temporarily unavailable", the fcntl lock refused)
// or by this one ("lock hold by current process, acquire time ...: D/LOCK: No locks
// available"), as RocksDB 7.8's PosixFileSystem::LockFile words it. Not any message with "lock"
// in it: a path such as /data/block-7 is in many.
bool IsLockHeld(const rocksdb::Status& s) {
  if (!s.IsIOError() || s.getState() == nullptr) return false;
  std::string_view state = s.getState();
  return state.starts_with("While lock file: ") || state.starts_with("lock hold by current process");
}

}  // namespace

Status FromRocks(const rocksdb::Status& s, std::string_view what) {
  if (s.ok()) return Status::Ok();
  std::string msg = std::string(what) + ": " + s.ToString();
  if (IsLockHeld(s)) {
    return Status::Busy(std::string(what) + ": the ledger is open in another process (" + s.ToString() + ")");
  }
  if (s.IsCorruption()) return Status::Corruption(msg);
  return Status::IOError(msg);
}

rocksdb::ReadOptions ScanOptions(const rocksdb::Snapshot* snapshot) {
  rocksdb::ReadOptions ro;
  ro.snapshot = snapshot;
  ro.verify_checksums = true;
  ro.fill_cache = false;
  ro.readahead_size = kScanReadaheadBytes;
  return ro;
}

namespace {
rocksdb::Env* env_for_testing = nullptr;  // SetStoreEnvForTesting.
}  // namespace

void SetStoreEnvForTesting(rocksdb::Env* env) {
  env_for_testing = env;
}

namespace {

rocksdb::DBOptions DbOptions() {
  rocksdb::DBOptions db_options;
  if (env_for_testing != nullptr) db_options.env = env_for_testing;
  // Also when opening: a ledger made before a family existed gets it (empty) on first open;
  // evidence.h builds the merkle family of such a ledger from its log.
  db_options.create_missing_column_families = true;
  db_options.paranoid_checks = true;
  db_options.db_write_buffer_size = kMemtableBytesMax;
  return db_options;
}

std::vector<rocksdb::ColumnFamilyDescriptor> Families() {
  rocksdb::ColumnFamilyOptions cf_options;
  rocksdb::BlockBasedTableOptions table;
  table.filter_policy.reset(rocksdb::NewBloomFilterPolicy(10));
  table.block_cache = rocksdb::NewLRUCache(kBlockCacheBytes);  // One for all families.
  cf_options.table_factory.reset(rocksdb::NewBlockBasedTableFactory(table));
  // A Bloom filter over each memtable's whole keys: an append looks up every new event id (absent,
  // by the nature of a new event) and household head, and without it each miss searched the skip
  // list of the memtable before the table files' own filters (Log::Group::EventIdOf).
  cf_options.memtable_prefix_bloom_size_ratio = 0.02;
  cf_options.memtable_whole_key_filtering = true;
  // Most of a ledger soon sits in the bottommost level, written once by compaction: zstd there
  // (386 -> 316 bytes per event on the benchmark's province-month, the log family 166 -> 133),
  // lz4 above, where files are rewritten often and appends wait on flushes. Blocks stay 4 KiB:
  // 16 KiB would save another 40 bytes per event, but every entry read by a household replay
  // would decompress four times as much. Files written with other settings stay readable.
  cf_options.compression = rocksdb::kLZ4Compression;
  cf_options.bottommost_compression = rocksdb::kZSTD;
  // Each 4 KiB block is compressed on its own, and entries share most of their structure
  // (capnp layout, id shapes, region codes): a zstd dictionary trained per SST file on its
  // blocks takes the log family from 132 to 104 bytes per event (the same ledger recompacted;
  // 318 -> 278 in all) for about a quarter more compaction CPU. Level: zstd's default (3); 6 and
  // 9 saved 3% more for 20-40% more CPU.
  cf_options.bottommost_compression_opts.enabled = true;
  cf_options.bottommost_compression_opts.max_dict_bytes = 16 << 10;
  cf_options.bottommost_compression_opts.zstd_max_train_bytes = 100 * (16 << 10);
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
  for (size_t i = 0; i < kCfCount; ++i) {
    // RocksDB requires a "default" family; the meta family is it.
    cfs.emplace_back(i == kMeta ? rocksdb::kDefaultColumnFamilyName : CfName(static_cast<Cf>(i)), cf_options);
  }
  return cfs;
}

}  // namespace

Status Store::Open(const std::string& path, bool create, std::unique_ptr<Store>* out) {
  rocksdb::DBOptions db_options = DbOptions();
  db_options.create_if_missing = create;
  db_options.error_if_exists = create;
  auto store = std::unique_ptr<Store>(new Store());
  store->db_ = std::make_shared<Db>();
  rocksdb::DB* db = nullptr;
  Status s = FromRocks(rocksdb::DB::Open(db_options, path, Families(), &store->db_->handles, &db), "opening " + path);
  if (!s.ok()) return s;
  store->db_->db.reset(db);
  *out = std::move(store);
  return Status::Ok();
}

Status Store::OpenSecondary(const std::string& path, const std::string& secondary_dir, std::unique_ptr<Store>* out) {
  rocksdb::DBOptions db_options = DbOptions();
  db_options.create_missing_column_families = false;
  db_options.max_open_files = -1;  // RocksDB's requirement of a secondary instance.
  auto store = std::unique_ptr<Store>(new Store());
  store->db_ = std::make_shared<Db>();
  store->read_only_ = true;
  rocksdb::DB* db = nullptr;
  Status s =
      FromRocks(rocksdb::DB::OpenAsSecondary(db_options, path, secondary_dir, Families(), &store->db_->handles, &db),
                "opening " + path + " read-only (a secondary instance)");
  if (!s.ok()) return s;
  store->db_->db.reset(db);
  // The open reads the holder's MANIFEST; catching up also replays its WAL, the last writes.
  s = FromRocks(db->TryCatchUpWithPrimary(), "reading " + path + " up to its holder's last write");
  if (!s.ok()) return s;
  *out = std::move(store);
  return Status::Ok();
}

Store::Db::~Db() {
  for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
}

Store::~Store() = default;

std::unique_ptr<Store> Store::SnapshotView() const {
  auto view = std::unique_ptr<Store>(new Store());
  view->db_ = db_;
  view->read_only_ = true;
  // A secondary instance reads one state until it catches up, which a view never asks for.
  if (!read_only_ || snapshot_ != nullptr) {
    std::shared_ptr<Db> db = db_;
    view->snapshot_ = snapshot_ != nullptr ? snapshot_
                                           : std::shared_ptr<const rocksdb::Snapshot>(
                                                 db->db->GetSnapshot(),
                                                 [db](const rocksdb::Snapshot* s) { db->db->ReleaseSnapshot(s); });
  }
  return view;
}

Status Store::Get(Cf c, std::string_view key, std::string* value, bool* found,
                  const rocksdb::Snapshot* snapshot) const {
  rocksdb::ReadOptions ro;
  ro.snapshot = snapshot != nullptr ? snapshot : snapshot_.get();
  ro.verify_checksums = true;
  rocksdb::Status s = db()->Get(ro, cf(c), ToSlice(key), value);
  *found = s.ok();
  if (s.IsNotFound()) return Status::Ok();
  return FromRocks(s, std::string("reading ") + CfName(c));
}

rocksdb::Iterator* Store::NewIterator(Cf c, rocksdb::ReadOptions ro) const {
  if (ro.snapshot == nullptr) ro.snapshot = snapshot_.get();
  return db()->NewIterator(ro, cf(c));
}

const rocksdb::Snapshot* Store::ReadSnapshot() const {
  if (snapshot_ != nullptr) return snapshot_.get();
  return read_only_ ? nullptr : db()->GetSnapshot();
}

void Store::ReleaseReadSnapshot(const rocksdb::Snapshot* snapshot) const {
  if (snapshot != nullptr && snapshot != snapshot_.get()) db()->ReleaseSnapshot(snapshot);
}

Status Store::WriteSynced(rocksdb::WriteBatch* batch) {
  if (read_only_)
    return Status::Busy("writing: this handle on the ledger is read-only (a snapshot or a secondary instance)");
  rocksdb::WriteOptions wo;
  wo.sync = true;
  return FromRocks(db()->Write(wo, batch), "writing");
}

}  // namespace ledger
