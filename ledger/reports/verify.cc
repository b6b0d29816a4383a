#include "ledger/reports/verify.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>

#include "ledger/core/entry.h"
#include "ledger/domain/signing.h"
#include "ledger/domain/validate.h"
#include "ledger/evidence/evidence.h"

namespace ledger {
namespace {

struct Problem {
  uint64_t seq = 0;
  std::string what;
};

// How the indexes are checked against the log.
//   kBySets: each index family is read once, in key order, and compared as a whole with the rows
//     the log implies (RowSetDigest). No point reads; cannot say which row is wrong.
//   kByEntry: every row the log implies is read by key as its entry is checked, then each family
//     is counted. Names the first entry whose rows are wrong; about 3 point reads per entry.
// Verify runs kBySets and, only if that finds a problem, kByEntry to name it.
enum class IndexCheck { kBySets, kByEntry };

// An order-independent digest of a set of (key, value) rows: the sum, in four 64-bit lanes, of
// SHA-256(secret ‖ key length ‖ key ‖ value) over the rows. The secret is drawn at random for
// each Verify, after the database was written, so whoever wrote the database cannot choose rows
// whose digests sum to those of other rows: two different sets of rows (keys in a family are
// unique) sum alike with probability about 2^-252.
class RowSetDigest {
 public:
  explicit RowSetDigest(const Hash& secret) : prefix_(secret.begin(), secret.end()) {}
  void Add(std::string_view key, std::string_view value) {
    buffer_.assign(prefix_);
    for (int i = 3; i >= 0; --i) buffer_.push_back(static_cast<char>(key.size() >> (8 * i)));
    buffer_.append(key).append(value);
    Hash h = Sha256(AsBytes(buffer_));
    for (size_t lane = 0; lane < sum_.size(); ++lane) {
      uint64_t v;
      memcpy(&v, h.data() + 8 * lane, 8);
      sum_[lane] += v;
    }
    ++rows_;
  }
  uint64_t rows() const { return rows_; }
  bool operator==(const RowSetDigest& o) const { return rows_ == o.rows_ && sum_ == o.sum_; }

 private:
  std::string prefix_, buffer_;
  std::array<uint64_t, 4> sum_{};
  uint64_t rows_ = 0;
};

constexpr Cf kIndexFamilies[] = {kHousehold, kActor, kEventId, kHouseholdHead};

// One log entry as the reading thread hands it over: what can be checked of it alone, without
// the entries before it (reading, canonical form, hash, structural validity).
struct ReadEntry {
  std::optional<uint64_t> key_seq;  // Unset if the key is not a seq.
  size_t key_bytes = 0;
  EntryReader reader;
  Status init;         // EntryReader::Init; the rest is set only if it is ok.
  Hash hash{};         // LeafHash of the bytes.
  Status validity;     // ValidateEvent.
  std::string thrown;  // A field that does not read: what Cap'n Proto said.
};

// Reads the log in seq order on a second thread, in batches, and checks each entry on its own,
// while the caller checks what depends on the entries before (chains, indexes, signatures,
// the Merkle tree). Those two halves of verify cost about the same, so two cores verify nearly
// twice as fast. Next() gives the entries in order; the destructor stops the thread.
class LogReader {
 public:
  LogReader(const Store& store, const rocksdb::Snapshot* snapshot)
      : thread_([this, &store, snapshot] { Run(store, snapshot); }) {}
  ~LogReader() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    changed_.notify_all();
    thread_.join();
  }

  // The next entry, or null at the end of the log (then status() says whether it all read).
  const ReadEntry* Next() {
    if (++next_ < current_.size()) return &current_[next_];
    std::unique_lock lock(mu_);
    changed_.wait(lock, [this] { return !batches_.empty() || done_; });
    if (batches_.empty()) return nullptr;
    current_ = std::move(batches_.front());
    batches_.pop_front();
    next_ = 0;
    changed_.notify_all();
    return &current_[0];
  }
  const Status& status() const { return status_; }  // After Next() returned null.

 private:
  static constexpr size_t kBatchEntries = 256, kBatchesAhead = 8;

  void Run(const Store& store, const rocksdb::Snapshot* snapshot) {
    std::unique_ptr<rocksdb::Iterator> it(store.NewIterator(kLog, ScanOptions(snapshot)));
    std::vector<ReadEntry> batch;
    for (it->SeekToFirst();; it->Next()) {
      bool end = !it->Valid();
      if (!end) batch.push_back(Check(it->key().ToStringView(), it->value().ToStringView()));
      if (batch.size() < kBatchEntries && !end) continue;
      std::unique_lock lock(mu_);
      changed_.wait(lock, [this] { return batches_.size() < kBatchesAhead || stop_; });
      if (stop_) return;
      if (!batch.empty()) batches_.push_back(std::move(batch));
      batch.clear();
      if (end) {
        status_ = FromRocks(it->status(), "reading the log");
        done_ = true;
        changed_.notify_all();
        return;
      }
      changed_.notify_all();
    }
  }

  static ReadEntry Check(std::string_view key, std::string_view bytes) {
    ReadEntry e;
    e.key_seq = ParseSeqKey(key);
    e.key_bytes = key.size();
    if (!(e.init = e.reader.Init(bytes)).ok()) return e;
    e.hash = LeafHash(AsBytes(bytes));
    KJ_IF_MAYBE (thrown, kj::runCatchingExceptions([&] { e.validity = ValidateEvent(e.reader.entry().getEvent()); })) {
      e.thrown = thrown->getDescription().cStr();
    }
    return e;
  }

  std::vector<ReadEntry> current_;  // The batch Next() is in (caller's thread only).
  size_t next_ = 0;
  std::mutex mu_;
  std::condition_variable changed_;
  std::deque<std::vector<ReadEntry>> batches_;  // Read, not yet taken.
  bool done_ = false, stop_ = false;
  Status status_;
  std::thread thread_;  // Last: starts when everything above is ready.
};

// State carried along the log while verifying.
class Verifier {
 public:
  Verifier(const Store& store, IndexCheck mode, const Hash& secret, const LedgerIdentity& running,
           const VerifyProgressFn& progress, uint64_t total)
      : store_(store),
        snapshot_(store.ReadSnapshot()),
        mode_(mode),
        secret_(secret),
        running_(running),
        progress_(progress),
        total_(total) {
    for (Cf cf : kIndexFamilies) expected_.emplace(cf, RowSetDigest(secret_));
  }
  ~Verifier() { store_.ReleaseReadSnapshot(snapshot_); }

  // Every check, in order. Fills `problem` and returns false at the first problem.
  bool Run(Problem* problem) {
    if (!CheckLog(problem) || !CheckHeads(problem)) return false;
    bool indexes_ok =
        mode_ == IndexCheck::kBySets ? CheckIndexSets(problem) : CheckHeadsByKey(problem) && CheckIndexCounts(problem);
    return indexes_ok && CheckEvidence(problem) && CheckIdentity(problem);
  }
  bool CheckLog(Problem* problem);
  // The meta head against the end of the log.
  bool CheckHeads(Problem* problem);
  // kByEntry: every household head by key, then each index family's count.
  bool CheckHeadsByKey(Problem* problem);
  bool CheckIndexCounts(Problem* problem);
  // kBySets: each index family, read whole, against the rows the log implies.
  bool CheckIndexSets(Problem* problem);
  // The Merkle tree and the checkpoints (evidence.h), recomputed along CheckLog.
  bool CheckEvidence(Problem* problem);
  // What the ledger runs under (policy, secret, checkpoint key) against its genesis entry and
  // the checkpoint key entries after it.
  bool CheckIdentity(Problem* problem);

  uint64_t entries() const { return seq_; }
  uint64_t genesis_seq() const { return identity_.genesis_seq(); }
  uint64_t households() const { return households_.size(); }
  const Hash& head_hash() const { return prev_hash_; }
  Status io_status() const { return io_.ok() ? evidence_.io_status() : io_; }

 private:
  bool CheckEntry(uint64_t seq, const ReadEntry& e, Problem* problem);
  bool CheckIndexes(uint64_t seq, const Hash& hash, schema::Event::Reader event, Problem* problem);
  void ExpectIndexRows(uint64_t seq, const Hash& hash, schema::Event::Reader event);
  // Reads `key` of `cf`; false if absent or unreadable (an unreadable one sets io_).
  bool Lookup(Cf cf, std::string_view key, std::string* value);
  uint64_t CountEntries(Cf cf);
  bool IsImplied(Cf cf, std::string_view key, std::string_view value, uint64_t* seq);

  const Store& store_;
  const rocksdb::Snapshot* snapshot_;
  const IndexCheck mode_;
  const Hash secret_;
  const LedgerIdentity& running_;
  const VerifyProgressFn& progress_;
  const uint64_t total_;                           // The head when verify began, for progress_.
  LogIdentity identity_;                           // As the log states it, entry by entry.
  std::unordered_map<Cf, RowSetDigest> expected_;  // kBySets: the rows the log implies, per family.
  Status io_;
  uint64_t seq_ = 0;  // Last seq checked.
  Hash prev_hash_{};
  int64_t prev_recorded_us_ = 0;
  std::unordered_map<std::string, HouseholdHead> households_;
  uint64_t household_entries_ = 0, actor_entries_ = 0;
  // Actors' keys along the log, from the log alone: every signature is checked with them.
  signing::LogSignatures signatures_;
  evidence::EvidenceAudit evidence_{store_, snapshot_};  // Fed each entry checked.
};

bool Verifier::Lookup(Cf cf, std::string_view key, std::string* value) {
  bool found = false;
  Status s = store_.Get(cf, key, value, &found, snapshot_);
  if (!s.ok() && io_.ok()) io_ = s;
  return s.ok() && found;
}

bool Verifier::CheckLog(Problem* problem) {
  LogReader log(store_, snapshot_);
  while (const ReadEntry* e = log.Next()) {
    uint64_t expected = seq_ + 1;
    if (!e->key_seq) {
      *problem = {expected, fmt::format("log key of {} bytes is not a seq", e->key_bytes)};
      return false;
    }
    if (*e->key_seq != expected) {
      *problem = {expected, fmt::format("entry seq {} is missing: the log goes from seq {} to seq {}", expected, seq_,
                                        *e->key_seq)};
      return false;
    }
    // Canonical bytes can still hold a text without its NUL or a pointer of the wrong element
    // size; reading such a field throws. That is a damaged entry, reported like any other.
    bool entry_ok = false;
    KJ_IF_MAYBE (thrown, kj::runCatchingExceptions([&] { entry_ok = CheckEntry(expected, *e, problem); })) {
      *problem = {expected, std::string("entry bytes do not read as an entry: ") + thrown->getDescription().cStr()};
      return false;
    }
    if (!entry_ok) return false;
    evidence_.Add(seq_, prev_hash_, households_);
    if (progress_ && seq_ % kVerifyProgressEvery == 0) progress_(seq_, total_);  // Cheap: a remainder per entry.
  }
  if (progress_) progress_(seq_, total_);
  if (!log.status().ok()) {
    *problem = {seq_ + 1, "the log cannot be read: " + log.status().ToString()};
    return false;
  }
  return true;
}

bool Verifier::CheckEntry(uint64_t seq, const ReadEntry& e, Problem* problem) {
  auto bad = [&](std::string what) {
    *problem = {seq, std::move(what)};
    return false;
  };
  if (!e.init.ok()) return bad(e.init.reason());
  auto entry = e.reader.entry();
  const Hash& hash = e.hash;
  if (entry.getSeq() != seq) return bad(fmt::format("entry stored at seq {} says it is seq {}", seq, entry.getSeq()));
  if (entry.getPrevHash() != capnp::Data::Reader(prev_hash_.data(), prev_hash_.size())) {
    return bad(fmt::format("prevHash is not the hash of entry seq {} (global chain broken)", seq - 1));
  }
  auto event = entry.getEvent();

  std::string household = event.getHouseholdId();
  HouseholdHead expected_link;
  if (!household.empty()) expected_link = households_[household];
  if (entry.getHouseholdPrevSeq() != expected_link.last_seq ||
      entry.getHouseholdPrevHash() != capnp::Data::Reader(expected_link.last_hash.data(), 32)) {
    return bad(fmt::format("household chain broken: household \"{}\" previous entry is seq {}, entry names seq {}",
                           household, expected_link.last_seq, entry.getHouseholdPrevSeq()));
  }
  // The event-id index holds a check of each entry's hash as written: checked before the event's
  // own validity, so that an altered entry is reported as altered.
  if (mode_ == IndexCheck::kBySets) {
    ExpectIndexRows(seq, hash, event);
  } else if (!CheckIndexes(seq, hash, event, problem)) {
    return false;
  }
  if (entry.getRecordedAtUs() < prev_recorded_us_) return bad("recordedAt is earlier than the previous entry's");
  if (!e.thrown.empty()) return bad("entry bytes do not read as an entry: " + e.thrown);
  if (!e.validity.ok()) return bad("event does not validate: " + e.validity.ToString());
  if (Status s = signatures_.Check(event); !s.ok()) return bad(s.ToString());
  if (Status s = identity_.Add(seq, event); !s.ok()) return bad(s.reason());
  if (!household.empty()) households_[household] = {expected_link.version + 1, seq, hash};
  seq_ = seq;
  prev_hash_ = hash;
  prev_recorded_us_ = entry.getRecordedAtUs();
  return true;
}

bool Verifier::CheckIndexes(uint64_t seq, const Hash& hash, schema::Event::Reader event, Problem* problem) {
  auto bad = [&](std::string what) {
    *problem = {seq, std::move(what)};
    return false;
  };
  std::string value;
  // The event-id row first: it holds a check of the entry hash, so an entry altered in place is
  // named here, at its own seq.
  std::string event_id = event.getEventId();
  if (!Lookup(kEventId, event_id, &value)) return bad(fmt::format("event id index has no entry for \"{}\"", event_id));
  auto id_value = EventIdValue::Decode(value);
  if (!id_value || id_value->seq != seq) {
    return bad(fmt::format("event id index points \"{}\" at seq {}", event_id, id_value ? id_value->seq : 0));
  }
  if (!id_value->Checks(hash)) {
    return bad(
        fmt::format("entry hash differs from the one the event id index recorded for \"{}\": the entry (or "
                    "that index row) was altered",
                    event_id));
  }
  std::string household = event.getHouseholdId();
  if (!household.empty()) {
    if (!Lookup(kHousehold, ScopedSeqKey(household, seq), &value)) return bad("household index has no entry for it");
    if (!value.empty()) return bad("the household index row for it holds a value; rows are empty");
    ++household_entries_;
  }
  for (const auto& actor : ActorIdsOf(event)) {
    if (!Lookup(kActor, ScopedSeqKey(actor, seq), &value))
      return bad(fmt::format("actor index has no entry for actor \"{}\"", actor));
    ++actor_entries_;
  }
  return true;
}

void Verifier::ExpectIndexRows(uint64_t seq, const Hash& hash, schema::Event::Reader event) {
  auto household = event.getHouseholdId();
  if (household.size() != 0) {
    expected_.at(kHousehold).Add(ScopedSeqKey(household.cStr(), seq), "");
    ++household_entries_;
  }
  for (const auto& actor : ActorIdsOf(event)) {
    expected_.at(kActor).Add(ScopedSeqKey(actor, seq), "");
    ++actor_entries_;
  }
  expected_.at(kEventId).Add(event.getEventId().cStr(), EventIdValue::For(seq, hash).Encode());
}

bool Verifier::CheckIndexSets(Problem* problem) {
  auto& heads = expected_.at(kHouseholdHead);
  for (const auto& [id, head] : households_) heads.Add(id, head.Encode());
  for (Cf cf : kIndexFamilies) {
    RowSetDigest actual(secret_);
    std::unique_ptr<rocksdb::Iterator> it(store_.NewIterator(cf, ScanOptions(snapshot_)));
    for (it->SeekToFirst(); it->Valid(); it->Next()) actual.Add(it->key().ToStringView(), it->value().ToStringView());
    if (!it->status().ok()) {
      if (io_.ok()) io_ = FromRocks(it->status(), std::string("reading the ") + CfName(cf) + " index");
      return false;
    }
    if (actual == expected_.at(cf)) continue;
    *problem = {0, fmt::format("the {} index ({} entries) is not what the log implies ({} entries)", CfName(cf),
                               actual.rows(), expected_.at(cf).rows())};
    return false;
  }
  return true;
}

bool Verifier::CheckHeads(Problem* problem) {
  std::string value;
  auto head = Lookup(kMeta, kMetaHead, &value) ? HeadValue::Decode(value) : std::nullopt;
  if (!head) {
    *problem = {seq_, "the ledger head record is missing or malformed"};
    return false;
  }
  if (head->seq > seq_) {  // Entries cut off the end: name the first one missing.
    std::string missing = head->seq == seq_ + 1 ? fmt::format("entry seq {} is missing", head->seq)
                                                : fmt::format("entries seq {} to {} are missing", seq_ + 1, head->seq);
    *problem = {seq_ + 1,
                fmt::format("{}: the ledger head says seq {}, the log ends at seq {}", missing, head->seq, seq_)};
    return false;
  }
  if (head->seq < seq_) {
    *problem = {head->seq + 1, fmt::format("the log goes on past the ledger head (seq {}) to seq {}", head->seq, seq_)};
    return false;
  }
  if (head->hash != prev_hash_) {
    *problem = {seq_, fmt::format("the ledger head holds another hash for seq {} than the entry has", seq_)};
    return false;
  }
  return true;
}

bool Verifier::CheckHeadsByKey(Problem* problem) {
  std::string value;
  for (const auto& [id, expected] : households_) {
    auto hh = Lookup(kHouseholdHead, id, &value) ? HouseholdHead::Decode(value) : std::nullopt;
    if (hh && *hh == expected) continue;
    // A head past the end of the chain points at the missing entry; otherwise name the chain's end.
    uint64_t seq = hh && hh->last_seq > expected.last_seq ? hh->last_seq : expected.last_seq;
    *problem = {seq, fmt::format("household head of \"{}\" says {} events ending at seq {}; its chain has {} "
                                 "ending at seq {}",
                                 id, hh ? hh->version : 0, hh ? hh->last_seq : 0, expected.version, expected.last_seq)};
    return false;
  }
  return true;
}

uint64_t Verifier::CountEntries(Cf cf) {
  std::unique_ptr<rocksdb::Iterator> it(store_.NewIterator(cf, ScanOptions(snapshot_)));
  uint64_t n = 0;
  for (it->SeekToFirst(); it->Valid(); it->Next()) ++n;
  if (!it->status().ok() && io_.ok()) io_ = FromRocks(it->status(), "counting an index");
  return n;
}

// Whether an index entry is one the log implies (slow path: reads the entry it names).
// Sets *seq to the seq the index entry names.
bool Verifier::IsImplied(Cf cf, std::string_view key, std::string_view value, uint64_t* seq) {
  if (cf == kHouseholdHead) {
    auto hh = HouseholdHead::Decode(value);
    *seq = hh ? hh->last_seq : 0;
    return households_.count(std::string(key)) != 0;
  }
  std::string id;
  auto id_value = EventIdValue::Decode(value);
  bool parsed = cf == kEventId ? id_value.has_value() : ParseScopedSeqKey(key, &id, seq);
  if (cf == kEventId && parsed) *seq = id_value->seq, id = std::string(key);
  std::string bytes;
  EntryReader reader;
  if (!parsed || *seq == 0 || *seq > seq_ || !Lookup(kLog, SeqKey(*seq), &bytes) || !reader.Init(bytes).ok()) {
    return false;
  }
  auto event = reader.entry().getEvent();
  if (cf == kHousehold) return id == event.getHouseholdId().cStr();
  if (cf == kEventId) return id == event.getEventId().cStr();
  auto actors = ActorIdsOf(event);
  return std::find(actors.begin(), actors.end(), id) != actors.end();
}

// Every entry the log implies was found in its index; equal counts then mean no extra ones.
// Otherwise the extra entry is found and named by the seq it points at.
bool Verifier::CheckIndexCounts(Problem* problem) {
  struct Expectation {
    Cf cf;
    uint64_t count;
  };
  for (auto [cf, count] : {Expectation{kHousehold, household_entries_}, Expectation{kActor, actor_entries_},
                           Expectation{kEventId, seq_}, Expectation{kHouseholdHead, households_.size()}}) {
    uint64_t actual = CountEntries(cf);
    if (actual == count) continue;
    *problem = {0, fmt::format("the {} index has {} entries, the log implies {}", CfName(cf), actual, count)};
    rocksdb::ReadOptions ro;
    ro.snapshot = snapshot_;
    std::unique_ptr<rocksdb::Iterator> it(store_.NewIterator(cf, ro));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      uint64_t seq = 0;
      if (IsImplied(cf, it->key().ToStringView(), it->value().ToStringView(), &seq)) continue;
      problem->seq = seq;
      problem->what += fmt::format("; the extra entry names seq {}", seq);
      break;
    }
    return false;
  }
  return true;
}

bool Verifier::CheckEvidence(Problem* problem) {
  return evidence_.Finish(seq_, &problem->seq, &problem->what);
}

bool Verifier::CheckIdentity(Problem* problem) {
  if (!identity_.has_genesis()) {
    *problem = {seq_ == 0 ? 1 : seq_,
                "the log has no genesis entry: the policy, checkpoint key and keyed-hash secret the ledger runs "
                "under are not in it (a ledger made by an older version, or an init cut short: Ledger::Upgrade "
                "adds it)"};
    return false;
  }
  std::string mismatch = IdentityMismatch(identity_.identity(), identity_.genesis_seq(), running_);
  if (mismatch.empty()) return true;
  *problem = {identity_.genesis_seq(), mismatch};
  return false;
}

// One pass over the ledger, on a snapshot of its own.
Status RunPass(const Log& ledger, IndexCheck mode, const Hash& secret, const VerifyProgressFn& progress,
               VerifyReport* report) {
  Verifier v(ledger.store(), mode, secret, ledger.running_identity(), progress, ledger.head().seq);
  Problem problem;
  report->ok = v.Run(&problem);
  report->entries = v.entries();
  report->households = v.households();
  report->head_hash = v.head_hash();
  report->genesis_seq = v.genesis_seq();
  report->bad_seq = report->ok ? 0 : problem.seq;
  report->problem = problem.what;
  return v.io_status();
}

}  // namespace

Status Verify(const Log& ledger, VerifyReport* report, const VerifyProgressFn& progress) {
  auto start = std::chrono::steady_clock::now();
  Hash secret;
  if (!RandomBytes(secret)) return Status::IOError("cannot get random bytes for verify");
  Status s = RunPass(ledger, IndexCheck::kBySets, secret, progress, report);
  if (s.ok() && !report->ok) {
    // Found a problem: check again, reading the index rows entry by entry, to name the first
    // entry concerned (an entry altered in place is then reported at its own seq, not at the
    // next entry whose prevHash no longer matches it). Should that pass find nothing (a row
    // kBySets saw but kByEntry does not read, such as a value in the actor index), the first
    // pass's problem stands.
    VerifyReport first = *report;
    s = RunPass(ledger, IndexCheck::kByEntry, secret, progress, report);
    if (s.ok() && report->ok) *report = first;
    report->rechecked_by_entry = true;
  }
  report->seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return s;
}

}  // namespace ledger
