// The log's Merkle tree as stored (log_tree.h).
#include "ledger/core/log_tree.h"

#include <fmt/format.h>
#include <rocksdb/write_batch.h>

#include <cstring>
#include <memory>

#include "ledger/core/entry.h"
#include "ledger/util/assert.h"

namespace ledger {
namespace {

constexpr uint64_t kCatchUpEntriesPerBatch = 10000;

Status ReadMeta(const Store& store, std::string_view key, std::string* value, bool* found) {
  return store.Get(kMeta, key, value, found);
}

}  // namespace

std::string HashBytes(const Hash& h) {
  return std::string(reinterpret_cast<const char*>(h.data()), h.size());
}

bool ToHash(std::string_view bytes, Hash* out) {
  if (bytes.size() != out->size()) return false;
  memcpy(out->data(), bytes.data(), out->size());
  return true;
}

rocksdb::ReadOptions Reading(const rocksdb::Snapshot* snapshot) {
  rocksdb::ReadOptions ro;
  ro.snapshot = snapshot;
  ro.verify_checksums = true;
  return ro;
}

std::string DescribeNode(uint8_t level, uint64_t index) {
  return fmt::format("level {}, index {}, over seqs {} to {}", level, index, (index << level) + 1,
                     (index + 1) << level);
}

Status LogTree::Get(merkle::NodeId id, Hash* out) {
  if (id.level < kMerkleLowestStoredLevel) return FromLog(id, out);
  std::string value;
  bool found = false;
  Status s = store_.Get(kMerkle, MerkleKey(id.level, id.index), &value, &found, snapshot_);
  if (!s.ok()) return s;
  if (!found) return Status::NotFound(fmt::format("Merkle node ({}) is not stored", DescribeNode(id.level, id.index)));
  if (!ToHash(value, out)) {
    return Status::Corruption(fmt::format("Merkle node ({}) is not 32 bytes", DescribeNode(id.level, id.index)));
  }
  return Status::Ok();
}

// A node below the stored levels: its 2^level leaves read in one pass over the log and hashed up.
Status LogTree::FromLog(merkle::NodeId id, Hash* out) {
  const uint64_t first_seq = (id.index << id.level) + 1, count = uint64_t{1} << id.level;
  std::string limit = SeqKey(first_seq + count);
  rocksdb::Slice upper(limit);
  rocksdb::ReadOptions ro = Reading(snapshot_);
  ro.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(store_.NewIterator(kLog, ro));
  merkle::Appender subtree(nullptr, 0);  // Built from its first leaf: never reads.
  std::vector<merkle::Node> unused;
  it->Seek(SeqKey(first_seq));
  for (uint64_t seq = first_seq; seq < first_seq + count; ++seq, it->Next()) {
    if (!it->Valid() || ParseSeqKey(it->key().ToStringView()) != seq) {
      if (!it->status().ok()) return FromRocks(it->status(), "reading the log");
      return Status::NotFound(fmt::format("entry seq {} is not in the log", seq));
    }
    Status s = subtree.Add(LeafHash(AsBytes(it->value().ToStringView())), &unused);
    LEDGER_ASSERT(s.ok(), "a subtree built from its first leaf never reads: {}", s.ToString());
  }
  return subtree.Root(out);
}

Status GrowLogTree(const Store& store, uint64_t size, std::span<const Hash> leaves, rocksdb::WriteBatch* batch) {
  LogTree reader(store);
  merkle::Appender appender(&reader, size);
  std::vector<merkle::Node> writes;
  for (const Hash& leaf : leaves) {
    Status s = appender.Add(leaf, &writes);
    if (!s.ok()) return s;
  }
  PutLogTreeNodes(store, writes, appender.size(), batch);
  return Status::Ok();
}

void PutLogTreeNodes(const Store& store, std::span<const merkle::Node> writes, uint64_t size,
                     rocksdb::WriteBatch* batch) {
  for (const merkle::Node& node : writes) {
    if (node.id.level < kMerkleLowestStoredLevel) continue;  // Recomputed from the log.
    batch->Put(store.cf(kMerkle), MerkleKey(node.id.level, node.id.index), HashBytes(node.hash));
  }
  batch->Put(store.cf(kMeta), std::string(kMetaTreeSize), SeqKey(size));
}

namespace {

// Meta tree_size; 0 (and *found false) in a ledger made before the tree was stored.
Status ReadTreeSize(const Store& store, uint64_t* size, bool* found) {
  std::string value;
  Status s = ReadMeta(store, kMetaTreeSize, &value, found);
  if (!s.ok()) return s;
  auto stored = *found ? ParseSeqKey(value) : std::optional<uint64_t>(0);
  if (!stored) return Status::Corruption("the meta tree_size record is malformed (run verify)");
  *size = *stored;
  return Status::Ok();
}

// Adds the log's entries from seq size + 1 on to the tree, in synced batches; sets *size to the
// tree's new size (where the log stops following on).
Status GrowFromLog(Store* store, uint64_t head_seq, uint64_t* size) {
  std::string upper_key = SeqKey(head_seq + 1);
  rocksdb::Slice upper(upper_key);
  rocksdb::ReadOptions ro = ScanOptions();
  ro.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(store->NewIterator(kLog, ro));
  std::vector<Hash> leaves;
  it->Seek(SeqKey(*size + 1));
  for (bool follows = true; follows;) {
    follows = it->Valid() && ParseSeqKey(it->key().ToStringView()) == *size + leaves.size() + 1;
    if (follows) {
      leaves.push_back(LeafHash(AsBytes(it->value().ToStringView())));
      it->Next();
      if (leaves.size() < kCatchUpEntriesPerBatch) continue;
    }
    if (leaves.empty()) break;
    rocksdb::WriteBatch batch;
    Status s = GrowLogTree(*store, *size, leaves, &batch);
    if (s.ok()) s = store->WriteSynced(&batch);
    if (!s.ok()) return s;
    *size += leaves.size();
    leaves.clear();
  }
  return FromRocks(it->status(), "reading the log");
}

}  // namespace

Status CatchUpLogTree(Store* store, uint64_t head_seq) {
  uint64_t size = 0;
  bool found = false;
  Status s = ReadTreeSize(*store, &size, &found);
  if (!s.ok() || (found && size == head_seq)) return s;
  if (size > head_seq) {
    return Status::Corruption(
        fmt::format("the Merkle tree has {} leaves, the log's head is seq {} (run verify)", size, head_seq));
  }
  if (!(s = GrowFromLog(store, head_seq, &size)).ok()) return s;
  if (size != head_seq) {
    return Status::Corruption(fmt::format(
        "the Merkle tree cannot be built past seq {}: the log's head is seq {} and seq {} does not follow (run verify)",
        size, head_seq, size + 1));
  }
  if (found || size > 0) return Status::Ok();
  rocksdb::WriteBatch batch;  // An empty ledger made before the tree: only the record.
  batch.Put(store->cf(kMeta), std::string(kMetaTreeSize), SeqKey(0));
  return store->WriteSynced(&batch);
}

}  // namespace ledger
