// The committed state records (the `state` family, STORAGE.md) held in memory, so that the rules'
// reads on the hot path of an append seldom reach RocksDB (issue 15, step 2).
//
// Two modes:
//   complete: the cache holds every committed state record, so a key it does not hold is absent
//             and is answered without a read. A ledger starts so when its state family is small
//             enough to load within the budget (Prime), and stays so while it fits.
//   partial:  the cache holds some records (and some known absences); a key it does not hold is
//             read from the database by the caller (Group::Get), which then Fills it in.
// Only committed records enter it: Commit is called after a group's synced write succeeded, with
// the records that group wrote, so a refused event or a failed write leaves no trace. The group
// being built and the one in flight are read before the cache (log.cc, Group::Get).
//
// Bounded by a memory budget (bytes of keys and values plus a per-record overhead): over it, about
// a quarter of the records are dropped, in the hash table's order (which is unrelated to use), and
// the cache becomes partial for good. The budget (kDefaultBudgetBytes, or the environment's
// LEDGER_STATE_CACHE_BYTES) holds the state of a province-month of 20,000 households (about
// 40 MB) whole. It was 1 GiB at first: the 19.1M-event bench then peaked at 2,356 MB where it had
// peaked at 1,211 MB without the cache (bench/PERFORMANCE.md), over issue 6's 2 GB.
// Single-threaded, like the Log that owns it.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <unordered_map>

#include "benefit_ledger/status.h"

namespace ledger {

class Store;

// State records by key, as a group writes them (log.cc): hashed, for a group of 20,000 entries in a
// rebuild holds thousands, and a sorted map's string compares were an eighth of the rebuild.
using StateRecords = std::unordered_map<std::string, std::string>;

class StateCache {
 public:
  static constexpr size_t kDefaultBudgetBytes = size_t{256} << 20;  // 256 MiB
  // Bytes counted for each record beyond its key and value: the hash node (96 as malloc rounds it),
  // the key's and the value's own allocations (16 each), the bucket and malloc's rounding.
  static constexpr size_t kOverheadBytes = 160;

  explicit StateCache(size_t budget_bytes = BudgetFromEnvironment());

  enum class Answer { kFound, kAbsent, kUnknown };
  // kFound: *value is the record; kAbsent: there is none; kUnknown: read the database, then Fill.
  Answer Lookup(const std::string& key, std::string* value) const;
  // What the database said of a key Lookup did not know (partial mode only).
  void Fill(const std::string& key, const std::optional<std::string>& value);
  // The records a durable group wrote, each at its last value.
  void Commit(StateRecords&& records);
  // Loads the whole state family if its estimated size fits half the budget: the cache is then
  // complete. Otherwise it stays partial. Called once, before the first append.
  Status Prime(const Store& store);
  // The state family was emptied (a rebuild begins): the cache is complete and empty.
  void ResetEmpty();
  // Forgets everything: partial and empty (after a write whose outcome is unknown).
  void Forget();

  bool primed() const { return primed_; }
  bool complete() const { return complete_; }
  size_t records() const { return records_.size(); }
  size_t bytes() const { return bytes_; }
  size_t budget_bytes() const { return budget_bytes_; }

  static size_t BudgetFromEnvironment();

 private:
  void Put(const std::string& key, std::optional<std::string> value);
  void EvictIfOver();
  static size_t Cost(const std::string& key, const std::optional<std::string>& value) {
    return key.size() + (value ? value->size() : 0) + kOverheadBytes;
  }

  // nullopt: known absent (partial mode only; in complete mode an absent key is not held).
  std::unordered_map<std::string, std::optional<std::string>> records_;
  size_t bytes_ = 0;
  size_t budget_bytes_;
  bool complete_ = false;
  bool primed_ = false;
};

}  // namespace ledger
