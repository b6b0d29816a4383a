#include "ledger/core/state_cache.h"

#include <rocksdb/db.h>

#include <cstdlib>
#include <memory>

#include "ledger/core/store.h"
#include "ledger/util/assert.h"

namespace ledger {

size_t StateCache::BudgetFromEnvironment() {
  const char* text = std::getenv("LEDGER_STATE_CACHE_BYTES");
  if (text == nullptr || *text == '\0') return kDefaultBudgetBytes;
  char* end = nullptr;
  unsigned long long bytes = std::strtoull(text, &end, 10);
  return end != nullptr && *end == '\0' ? static_cast<size_t>(bytes) : kDefaultBudgetBytes;
}

StateCache::StateCache(size_t budget_bytes) : budget_bytes_(budget_bytes) {}

StateCache::Answer StateCache::Lookup(const std::string& key, std::string* value) const {
  auto it = records_.find(key);
  if (it == records_.end()) return complete_ ? Answer::kAbsent : Answer::kUnknown;
  if (!it->second) return Answer::kAbsent;
  *value = *it->second;
  return Answer::kFound;
}

void StateCache::Fill(const std::string& key, const std::optional<std::string>& value) {
  LEDGER_ASSERT(!complete_, "a complete state cache was asked to fill in {}", key);
  Put(key, value);
  EvictIfOver();
}

void StateCache::Commit(StateRecords&& records) {
  for (auto& [key, value] : records) Put(key, std::move(value));
  EvictIfOver();
}

void StateCache::Put(const std::string& key, std::optional<std::string> value) {
  auto [it, inserted] = records_.try_emplace(key);
  if (!inserted) bytes_ -= Cost(key, it->second);
  it->second = std::move(value);
  bytes_ += Cost(key, it->second);
}

// Drops records until a quarter of the budget is free. Whatever is dropped is no longer known to
// be absent or present, so the cache is partial from then on.
void StateCache::EvictIfOver() {
  if (bytes_ <= budget_bytes_) return;
  complete_ = false;
  const size_t target = budget_bytes_ - budget_bytes_ / 4;
  for (auto it = records_.begin(); it != records_.end() && bytes_ > target;) {
    bytes_ -= Cost(it->first, it->second);
    it = records_.erase(it);
  }
}

Status StateCache::Prime(const Store& store) {
  primed_ = true;
  const size_t limit = budget_bytes_ / 2;
  // State keys are a letter and "/" then an id: all sort below 0x7f (Log::Rebuild clears the same).
  rocksdb::Range range(rocksdb::Slice("", 0), rocksdb::Slice("\x7f", 1));
  rocksdb::SizeApproximationOptions options;
  options.include_memtables = true;
  uint64_t estimate = 0;
  rocksdb::Status rs = store.db()->GetApproximateSizes(options, store.cf(kState), &range, 1, &estimate);
  if (!rs.ok() || estimate > limit) return Status::Ok();  // Partial: read through, fill in.
  std::unique_ptr<rocksdb::Iterator> it(store.NewIterator(kState, ScanOptions()));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    Put(it->key().ToString(), it->value().ToString());
    if (bytes_ > limit) {  // The estimate was low: stay partial, keep nothing.
      Forget();
      return Status::Ok();
    }
  }
  if (!it->status().ok()) {
    Forget();
    return FromRocks(it->status(), "reading the state to cache it");
  }
  complete_ = true;
  return Status::Ok();
}

void StateCache::ResetEmpty() {
  Forget();
  primed_ = true;
  complete_ = true;
}

void StateCache::Forget() {
  records_.clear();
  bytes_ = 0;
  complete_ = false;
}

}  // namespace ledger
