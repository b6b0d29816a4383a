// Log::Upgrade: rewrites a benefit-ledger/1 database into the layout of this code
// (store.h kFormatVersion). The log, the state and the checkpoints are not touched; only the rows
// that version 2 stores differently are rewritten. A first pass checks every one of them against
// the log and writes nothing, so a ledger that does not match is left as it was. Then a ledger
// without a genesis entry (genesis.h) gets one appended at its head: existing entries never change.
#include <fmt/format.h>
#include <rocksdb/write_batch.h>

#include <chrono>
#include <filesystem>

#include "ledger/core/entry.h"
#include "ledger/core/log.h"
#include "ledger/core/log_tree.h"

namespace ledger {
namespace {

constexpr uint64_t kEntriesPerBatch = 10000;

std::string HashBytes(const Hash& h) {
  return std::string(reinterpret_cast<const char*>(h.data()), h.size());
}

// The event-id and household rows of one entry, in either layout (a run cut short leaves some
// rows rewritten), checked against the entry and, with a batch, put in their version-2 form.
Status RewriteRows(const Store& store, uint64_t seq, std::string_view bytes, rocksdb::WriteBatch* batch) {
  EntryReader reader;
  std::string event_id, household, v1;
  Status s = reader.Init(bytes);
  if (s.ok()) {
    s = CatchEntryDecodeErrors([&] {  // The texts read here are the ones a damaged entry throws on.
      auto event = reader.entry().getEvent();
      event_id = event.getEventId();
      household = event.getHouseholdId();
      v1 = SeqKey(seq) + HashBytes(Sha256(AsBytes(CanonicalEvent(event))));
      return Status::Ok();
    });
  }
  if (!s.ok()) return Status::Corruption(fmt::format("seq {}: {} (run verify)", seq, s.reason()));
  const Hash hash = LeafHash(AsBytes(bytes));
  const EventIdValue id = EventIdValue::For(seq, hash);
  std::string value;
  bool found = false;
  if (!(s = store.Get(kEventId, event_id, &value, &found)).ok()) return s;
  if (!found || (value != v1 && value != id.Encode())) {
    return Status::Corruption(
        fmt::format("seq {}: the event-id row of \"{}\" does not match the log: not upgraded (check it with verify)",
                    seq, event_id));
  }
  if (batch) batch->Put(store.cf(kEventId), event_id, id.Encode());
  if (household.empty()) return Status::Ok();
  const std::string key = ScopedSeqKey(household, seq);
  if (!(s = store.Get(kHousehold, key, &value, &found)).ok()) return s;
  if (!found || (value != HashBytes(hash) && !value.empty())) {
    return Status::Corruption(
        fmt::format("seq {}: the household row of \"{}\" does not match the log: not upgraded (check it with verify)",
                    seq, household));
  }
  if (batch) batch->Put(store.cf(kHousehold), key, "");
  return Status::Ok();
}

// One pass over the log: checks (write false) or rewrites the rows of every entry; counts them.
Status RewriteIndexes(Store* store, bool write, uint64_t* entries) {
  *entries = 0;
  std::unique_ptr<rocksdb::Iterator> it(store->NewIterator(kLog, ScanOptions()));
  rocksdb::WriteBatch batch;
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    auto seq = ParseSeqKey(it->key().ToStringView());
    if (seq != *entries + 1) {
      return Status::Corruption(fmt::format("the log does not go on at seq {} (run verify)", *entries + 1));
    }
    Status s = RewriteRows(*store, *seq, it->value().ToStringView(), write ? &batch : nullptr);
    if (!s.ok()) return s;
    if (++*entries % kEntriesPerBatch != 0 || !write) continue;
    if (!(s = store->WriteSynced(&batch)).ok()) return s;
    batch.Clear();
  }
  if (!it->status().ok()) return FromRocks(it->status(), "reading the log");
  return write ? store->WriteSynced(&batch) : Status::Ok();
}

}  // namespace

Status Log::Upgrade(const StateMachine& machine, const std::string& dir, UpgradeReport* report) {
  auto start = std::chrono::steady_clock::now();
  *report = UpgradeReport{};
  std::error_code ec;
  if (!std::filesystem::exists(DbPath(dir), ec)) return Status::NotFound(fmt::format("no ledger at {}", dir));
  Status s = RewriteLayout(dir, report);
  if (!s.ok()) return s;
  std::unique_ptr<Log> ledger;
  if (!(s = Open(machine, dir, &ledger)).ok()) return s;
  report->entries = ledger->head().seq;
  if (!ledger->logged_.has_genesis()) {
    AppendResult result;
    if (!(s = ledger->AppendGenesis(&result)).ok()) {
      return s.code() == Status::Code::kIOError
                 ? s
                 : Status::Corruption("cannot append the genesis entry: " + s.ToString());
    }
    report->genesis_seq = result.seq;
    report->upgraded = true;
  }
  report->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return Status::Ok();
}

// From benefit-ledger/1 to the current layout; nothing if it is current.
Status Log::RewriteLayout(const std::string& dir, UpgradeReport* report) {
  std::unique_ptr<Store> store;
  Status s = Store::Open(DbPath(dir), /*create=*/false, &store);
  if (!s.ok()) return s;
  std::string format, head_value;
  bool found = false;
  if (!(s = store->Get(kMeta, kMetaFormat, &format, &found)).ok()) return s;
  report->from = format;
  if (found && format == kFormatVersion) return Status::Ok();
  if (!found || format != kFormatVersion1) {
    return Status::Corruption(fmt::format("{} is not a ledger this build can upgrade (format: \"{}\")", dir, format));
  }
  if (!(s = store->Get(kMeta, kMetaHead, &head_value, &found)).ok()) return s;
  auto head = found ? HeadValue::Decode(head_value) : std::nullopt;
  if (!head) return Status::Corruption("the ledger's head record is missing or malformed");
  if (!(s = RewriteIndexes(store.get(), /*write=*/false, &report->entries)).ok()) return s;
  if (report->entries != head->seq) {
    return Status::Corruption(
        fmt::format("the log has {} entries, the head says seq {} (run verify)", report->entries, head->seq));
  }
  if (!(s = RewriteIndexes(store.get(), /*write=*/true, &report->entries)).ok()) return s;
  // Merkle nodes below the stored levels go; a ledger made before the tree gets it now.
  rocksdb::WriteBatch batch;
  batch.DeleteRange(store->cf(kMerkle), MerkleKey(1, 0), MerkleKey(kMerkleLowestStoredLevel, 0));
  if (!(s = store->WriteSynced(&batch)).ok()) return s;
  if (!(s = CatchUpLogTree(store.get(), head->seq)).ok()) return s;
  batch.Clear();
  batch.Put(store->cf(kMeta), std::string(kMetaFormat), std::string(kFormatVersion));
  if (!(s = store->WriteSynced(&batch)).ok()) return s;
  report->upgraded = true;
  return Status::Ok();
}

}  // namespace ledger
