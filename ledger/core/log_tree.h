// The log's Merkle tree as stored: the RFC 6962 tree of util/merkle.h over the entries, leaf i
// (from 0) the entry hash of seq i + 1. Levels >= kMerkleLowestStoredLevel (store.h) are the
// merkle family, written in the batch of the group that completes them; lower nodes are
// recomputed from their at most 8 entries in the log. Evidence (evidence/evidence.h) proves from
// it; the log (log.h) grows it. Single-threaded.
#pragma once

#include <rocksdb/db.h>
#include <rocksdb/write_batch.h>

#include <span>
#include <string>
#include <string_view>

#include "benefit_ledger/status.h"
#include "ledger/core/store.h"
#include "ledger/util/hash.h"
#include "ledger/util/merkle.h"

namespace ledger {

// Reads the stored log tree: levels from kMerkleLowestStoredLevel (store.h) from the merkle
// family, lower ones recomputed from their (at most 8) entries in the log. NotFound for a node
// that is not stored, or whose entries are not all in the log. `store` (and `snapshot`, if any)
// must outlive it.
class LogTree : public merkle::NodeReader {
 public:
  explicit LogTree(const Store& store, const rocksdb::Snapshot* snapshot = nullptr)
      : store_(store), snapshot_(snapshot) {}
  Status Get(merkle::NodeId id, Hash* out) override;

 private:
  Status FromLog(merkle::NodeId id, Hash* out);

  const Store& store_;
  const rocksdb::Snapshot* snapshot_;
};

// Puts into `batch` the stored nodes (levels >= 4) that appending `leaves` to the stored tree of
// `size` leaves completes, and the new tree size in meta. Reads at most popcount(size) stored
// nodes (merkle::Appender's frontier); never reads the batch.
Status GrowLogTree(const Store& store, uint64_t size, std::span<const Hash> leaves, rocksdb::WriteBatch* batch);
// Puts into `batch` the nodes of the stored levels among `writes` (merkle::Appender::Add's) and the
// tree size `size` in meta.
void PutLogTreeNodes(const Store& store, std::span<const merkle::Node> writes, uint64_t size,
                     rocksdb::WriteBatch* batch);

// Brings the merkle family up to `head_seq` from the log where meta tree_size is behind it
// (absent: a ledger made before the tree was stored, read as 0), in synced batches. Corruption if
// the tree is past the head or the log has a gap (run verify).
Status CatchUpLogTree(Store* store, uint64_t head_seq);

// A hash as the 32 bytes a row holds, and back (false if `bytes` is not 32 bytes).
std::string HashBytes(const Hash& h);
bool ToHash(std::string_view bytes, Hash* out);
// Point reads at `snapshot` (none: the latest), checksums verified.
rocksdb::ReadOptions Reading(const rocksdb::Snapshot* snapshot);
// "level 2, index 5, over seqs 21 to 24"
std::string DescribeNode(uint8_t level, uint64_t index);

}  // namespace ledger
