// The RocksDB database under a ledger: its column families and the encoding of every key and
// value, in one place. The layout is described for people in STORAGE.md beside this file; keep
// the two in step.
//
// Internal to the library (the ledger, its verifier and tests that tamper with the data).
// A Store is used from one thread at a time (its views each on a thread of their own, below);
// RocksDB's lock file keeps other writing processes out.
#pragma once

#include <rocksdb/db.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "benefit_ledger/status.h"
#include "benefit_ledger/types.h"
#include "ledger/util/hash.h"

namespace ledger {

// Column families, in the order they are opened.
enum Cf : size_t {
  kMeta = 0,       // "format", "head": see below.
  kLog,            // seq (8 bytes big-endian) -> canonical entry bytes.
  kHousehold,      // household id ‖ 0x00 ‖ seq (8 BE) -> empty.
  kHouseholdHead,  // household id -> version (8 BE) ‖ last seq (8 BE) ‖ last hash (32).
  kActor,          // actor id ‖ 0x00 ‖ seq (8 BE) -> empty.
  kEventId,        // event id -> seq (8 BE) ‖ the entry hash's first 8 bytes.
  kState,          // domain state for the rules (state.h): one-letter prefix ‖ id -> record.
  // Evidence (evidence.h): the log's Merkle tree and the signed checkpoints.
  kMerkle,      // level (1, >= kMerkleLowestStoredLevel) ‖ index (8 BE) -> node hash (32).
  kCheckpoint,  // tree size (8 BE) -> signed checkpoint note (text).
  kHeads,       // checkpoint size (8 BE) ‖ 'n' ‖ level (1) ‖ index (8 BE) -> node hash (32), and
                // checkpoint size (8 BE) ‖ 'h' ‖ household id -> leaf index (8 BE) ‖ HouseholdHead.
  kCfCount,
};
const char* CfName(Cf cf);

// Meta keys.
inline constexpr std::string_view kMetaFormat = "format";  // -> kFormatVersion
inline constexpr std::string_view kMetaHead = "head";      // -> HeadValue
inline constexpr std::string_view kMetaPolicy = "policy";  // -> "enforce" or "record"
// -> the seq (8 BE) up to which the state family reflects the log; equals the head's seq
// except while (or after an interrupted) Log::Rebuild.
inline constexpr std::string_view kMetaStateSeq = "state_seq";
// -> the number of leaves (8 BE) the merkle family holds the nodes of; equals the head's seq
// after every append. Absent in ledgers made before the tree was stored (see evidence.h).
inline constexpr std::string_view kMetaTreeSize = "tree_size";
// -> the checkpoint origin (text) and the checkpoint verifier key (note.h verifier key text),
// set once by ledgerctl init or setkey. Absent in a ledger that signs no checkpoints.
inline constexpr std::string_view kMetaOrigin = "origin";
inline constexpr std::string_view kMetaCheckpointKey = "checkpoint_key";
// The layout this code reads and writes. A ledger of an older layout is refused by Log::Open
// until `ledgerctl upgrade` (Log::Upgrade) has rewritten it; the log itself never changes.
//   benefit-ledger/1: household rows held the entry hash (32), event-id rows the SHA-256 of the
//                     canonical event (32), and the merkle family every level from 1.
//   benefit-ledger/2: household rows are empty (the household chain and head prove each entry),
//                     event-id rows hold 8 bytes of the entry hash, merkle levels start at 4.
inline constexpr std::string_view kFormatVersion = "benefit-ledger/2";
inline constexpr std::string_view kFormatVersion1 = "benefit-ledger/1";

std::string SeqKey(uint64_t seq);
std::optional<uint64_t> ParseSeqKey(std::string_view key);

// household or actor id ‖ 0x00 ‖ seq. Ids cannot contain 0x00 (formats.h IsValidId).
std::string ScopedSeqKey(std::string_view id, uint64_t seq);
// All keys of one id sort between ScopedPrefix(id) and ScopedLimit(id).
std::string ScopedPrefix(std::string_view id);
std::string ScopedLimit(std::string_view id);
bool ParseScopedSeqKey(std::string_view key, std::string* id, uint64_t* seq);

// Merkle family key: level (1 byte) ‖ index (8 BE). Levels below kMerkleLowestStoredLevel are
// not stored: a node there covers at most 8 entries, recomputed from the log when a proof needs
// it (evidence.h LogTree). Storing them all cost 39 of 318 bytes per event; from level 4 on the
// family holds one node per 8 entries.
inline constexpr uint8_t kMerkleLowestStoredLevel = 4;
std::string MerkleKey(uint8_t level, uint64_t index);
bool ParseMerkleKey(std::string_view key, uint8_t* level, uint64_t* index);

// Heads family keys of the checkpoint of `size`: its map's nodes and its household rows.
std::string HeadsNodeKey(uint64_t size, uint8_t level, uint64_t index);
std::string HeadsHouseholdKey(uint64_t size, std::string_view household);
// All keys of one checkpoint sort from HeadsPrefix(size) (inclusive) to HeadsPrefix(size + 1).
std::string HeadsPrefix(uint64_t size);
inline constexpr char kHeadsNodeTag = 'n';
inline constexpr char kHeadsHouseholdTag = 'h';

struct HeadValue {  // The last entry of the log.
  uint64_t seq = 0;
  Hash hash{};
  int64_t recorded_at_us = 0;
  std::string Encode() const;
  static std::optional<HeadValue> Decode(std::string_view v);
  bool operator==(const HeadValue&) const = default;
};

// Where an event is, and a check of the entry found there. The check is no protection against
// someone who rewrites the index too (the hash chains are); it lets verify name an entry altered
// in place at its own seq, and costs 8 bytes instead of a whole hash. Idempotency ("same id,
// same content") compares the events themselves, read from the log.
struct EventIdValue {
  static constexpr size_t kCheckBytes = 8;
  uint64_t seq = 0;
  std::array<uint8_t, kCheckBytes> entry_check{};  // The entry hash's first kCheckBytes bytes.
  static EventIdValue For(uint64_t seq, const Hash& entry_hash);
  bool Checks(const Hash& entry_hash) const;  // entry_check is entry_hash's start.
  std::string Encode() const;
  static std::optional<EventIdValue> Decode(std::string_view v);
  bool operator==(const EventIdValue&) const = default;
};

// An open database with its column families, or a read-only view of one.
//
// Views (SnapshotView) read the database as it was when they were made, on a RocksDB snapshot,
// and may be used on other threads while the store they came from writes: RocksDB reads are
// thread-safe, and a view shares nothing else. A secondary store (OpenSecondary) reads a database
// that another process holds, as of its last CatchUp. Every read of the library goes through
// Get, NewIterator and ReadSnapshot, so that a view's reads are all at its snapshot.
class Store {
 public:
  // Opens the database at `path`; with `create`, makes a new one (and fails if one exists).
  static Status Open(const std::string& path, bool create, std::unique_ptr<Store>* out);
  // Opens the database at `path`, which another process may hold and write, as a RocksDB
  // secondary instance: read-only, reading what the holder had written (its WAL included) at the
  // open. `secondary_dir` holds the instance's own info log; it must exist.
  static Status OpenSecondary(const std::string& path, const std::string& secondary_dir, std::unique_ptr<Store>* out);
  ~Store();

  // A view at the database's state now (thread-safe: may be called while this store writes on
  // another thread). It keeps the database open while it lives.
  std::unique_ptr<Store> SnapshotView() const;
  // Whether writes are refused: a view or a secondary instance.
  bool read_only() const { return read_only_; }

  rocksdb::DB* db() const { return db_->db.get(); }
  rocksdb::ColumnFamilyHandle* cf(Cf c) const { return db_->handles[c]; }

  // Point read; NotFound is reported as *found = false, not as an error. Without `snapshot`, at
  // the view's snapshot (a view) or the latest state.
  Status Get(Cf c, std::string_view key, std::string* value, bool* found,
             const rocksdb::Snapshot* snapshot = nullptr) const;
  // An iterator over family `c` (the caller owns it), reading at `ro.snapshot` or, without one,
  // as Get does.
  rocksdb::Iterator* NewIterator(Cf c, rocksdb::ReadOptions ro) const;
  // A consistent point to read several families at (verify): the view's snapshot, or a new one.
  // Give it back with ReleaseReadSnapshot.
  const rocksdb::Snapshot* ReadSnapshot() const;
  void ReleaseReadSnapshot(const rocksdb::Snapshot* snapshot) const;
  // Writes the batch durably (WAL synced) before returning. FailedPrecondition on a read-only store.
  Status WriteSynced(rocksdb::WriteBatch* batch);

 private:
  struct Db {  // Shared by a store and its views; closes the database when the last goes.
    std::unique_ptr<rocksdb::DB> db;
    std::vector<rocksdb::ColumnFamilyHandle*> handles;
    ~Db();
  };
  std::shared_ptr<Db> db_;
  std::shared_ptr<const rocksdb::Snapshot> snapshot_;  // A view's; null otherwise.
  bool read_only_ = false;
};

Status FromRocks(const rocksdb::Status& s, std::string_view what);

// For tests that inject faults (a rocksdb::Env over a FileSystem whose reads fail): each Store
// opened after this call uses `env`; nullptr restores RocksDB's default. Neither the library nor
// the tools call it.
void SetStoreEnvForTesting(rocksdb::Env* env);

// Read options for a walk over most of a family in key order (verify, rebuild, upgrade,
// reconciliation's dense walks), checksums verified: read ahead kScanReadaheadBytes at a time
// rather than one system call per 4 KiB block, and leave the block cache to the point reads that
// come back to the same blocks.
inline constexpr size_t kScanReadaheadBytes = 256 << 10;
rocksdb::ReadOptions ScanOptions(const rocksdb::Snapshot* snapshot = nullptr);

}  // namespace ledger
