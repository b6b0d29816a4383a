#include "ledger/reports/reconcile.h"

#include <fmt/format.h>
#include <rocksdb/db.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <thread>
#include <unordered_map>
#include <utility>

#include "benefit_ledger/event.capnp.h"
#include "ledger/domain/rules.h"
#include "ledger/domain/state.h"
#include "ledger/util/assert.h"
#include "ledger/util/formats.h"

namespace ledger::reconcile {
namespace {

// ---------------------------------------------------------------------------------------------
// Parsing

// Splits a record without quotes into views of `line`.
void SplitPlain(std::string_view line, std::vector<std::string_view>* fields) {
  for (size_t start = 0;;) {
    size_t comma = line.find(',', start);
    fields->push_back(line.substr(start, comma == std::string_view::npos ? comma : comma - start));
    if (comma == std::string_view::npos) return;
    start = comma + 1;
  }
}

// Splits a record with quotes into views of `unquoted`, which receives the fields' text.
bool SplitQuoted(std::string_view line, std::string* unquoted, std::vector<std::string_view>* fields) {
  unquoted->clear();
  unquoted->reserve(line.size());  // Never outgrown below, so the views stay valid.
  bool quoted = false;
  size_t start = 0;  // Of the current field in `unquoted`.
  for (size_t i = 0; i < line.size();) {
    size_t special = line.find_first_of(quoted ? "\"" : "\",", i);
    unquoted->append(line.substr(i, special == std::string_view::npos ? special : special - i));
    if (special == std::string_view::npos) break;
    i = special + 1;
    if (line[special] == ',') {
      fields->emplace_back(unquoted->data() + start, unquoted->size() - start);
      start = unquoted->size();
    } else if (quoted && i < line.size() && line[i] == '"') {  // "" in a quoted field: a quote.
      unquoted->push_back('"');
      ++i;
    } else {
      quoted = !quoted;
    }
  }
  fields->emplace_back(unquoted->data() + start, unquoted->size() - start);
  return !quoted;
}

// Splits one CSV record (RFC 4180 quoting; no newlines inside fields). False if a quote is open.
// The fields are views of `line` or of `unquoted`.
bool SplitCsv(std::string_view line, std::string* unquoted, std::vector<std::string_view>* fields) {
  fields->clear();
  if (line.find('"') != std::string_view::npos) return SplitQuoted(line, unquoted, fields);
  SplitPlain(line, fields);
  return true;
}

bool IsUtf8(std::string_view text) {  // Quick for ASCII.
  bool ascii = std::all_of(text.begin(), text.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; });
  return ascii || IsValidUtf8(text, nullptr);
}

// Digits only (or empty): their value in `*value`.
bool ParseDigits(std::string_view text, int64_t* value) {
  *value = 0;
  for (char d : text) {
    if (d < '0' || d > '9') return false;
    *value = *value * 10 + (d - '0');
  }
  return true;
}

// "1234.5" or "1234.50" yuan to fen, exactly; false for anything else.
bool ParseYuan(std::string_view text, int64_t* fen) {
  size_t dot = text.find('.');
  std::string_view whole = text.substr(0, dot), frac = dot == std::string_view::npos ? "" : text.substr(dot + 1);
  int64_t yuan = 0, cents = 0;
  if (whole.empty() || whole.size() > 12 || frac.size() > 2) return false;
  if (!ParseDigits(whole, &yuan) || !ParseDigits(frac, &cents)) return false;
  *fen = yuan * 100 + cents * (frac.size() == 1 ? 10 : 1);
  return true;
}

// `text` equals `lower` (lower case ASCII), ignoring the case of ASCII letters.
bool EqualsIgnoringCase(std::string_view text, std::string_view lower) {
  return text.size() == lower.size() && std::equal(text.begin(), text.end(), lower.begin(), [](char a, char b) {
           return (a >= 'A' && a <= 'Z' ? static_cast<char>(a - 'A' + 'a') : a) == b;
         });
}

bool ParseStatus(std::string_view text, BankStatus* out) {
  auto is = [&](auto... names) { return (EqualsIgnoringCase(text, names) || ...); };
  if (is("settled", "credited", "success"))
    *out = BankStatus::kSettled;
  else if (is("failed", "rejected"))
    *out = BankStatus::kFailed;
  else if (is("returned"))
    *out = BankStatus::kReturned;
  else
    return false;
  return true;
}

// YYYYMMDD or YYYY-MM-DD (dashes anywhere are ignored).
bool ParseDate(std::string_view text, uint32_t* out) {
  uint32_t value = 0, digits = 0;
  for (char d : text) {
    if (d == '-') continue;
    if (d < '0' || d > '9' || ++digits > 8) return false;
    value = value * 10 + static_cast<uint32_t>(d - '0');
  }
  if (digits != 8) return false;
  *out = value;
  return IsValidDate(*out);
}

Status LineError(size_t line, const std::string& column, const std::string& reason) {
  return Status::Invalid(fmt::format("line {}{}", line, column.empty() ? "" : ", column " + column), reason);
}

// The wanted columns, in BankColumns order, and where the header has them (-1: not at all).
enum Column : size_t { kId, kAmount, kStatus, kReason, kReference, kDate, kColumnCount };
using Positions = std::array<int, kColumnCount>;

Status ReadHeader(size_t line_no, const std::vector<std::string_view>& fields, const BankColumns& c,
                  Positions* positions) {
  const std::array<const std::string*, kColumnCount> names = {&c.id,     &c.amount,    &c.status,
                                                              &c.reason, &c.reference, &c.date};
  positions->fill(-1);
  for (size_t i = 0; i < fields.size(); ++i) {  // A name given twice: its last column.
    for (size_t k = 0; k < kColumnCount; ++k) {
      if (fields[i] == *names[k]) (*positions)[k] = static_cast<int>(i);
    }
  }
  for (Column k : {kId, kAmount, kStatus}) {
    if ((*positions)[k] < 0) return LineError(line_no, *names[k], "the header has no such column");
  }
  return Status::Ok();
}

// Parses one data row into `out`.
Status ParseRow(size_t line_no, const std::vector<std::string_view>& f, const Positions& positions,
                const BankColumns& c, BankLine* out) {
  auto field = [&](Column k) { return positions[k] < 0 ? std::string_view() : f[positions[k]]; };
  out->line = static_cast<uint32_t>(line_no);
  out->payment_id = field(kId);
  if (!IsValidId(out->payment_id)) return LineError(line_no, c.id, "not an end-to-end id");
  if (!ParseYuan(field(kAmount), &out->amount_fen)) {
    return LineError(line_no, c.amount,
                     fmt::format("\"{}\" is not an amount in yuan (1234.50)", field(kAmount).substr(0, 40)));
  }
  if (!ParseStatus(field(kStatus), &out->status)) {
    return LineError(line_no, c.status,
                     fmt::format("\"{}\" is not settled, failed or returned", field(kStatus).substr(0, 40)));
  }
  out->reason = field(kReason);
  if (!IsValidText(out->reason)) return LineError(line_no, c.reason, "not text");
  out->reference = field(kReference);
  if (!IsValidText(out->reference)) return LineError(line_no, c.reference, "not text");
  std::string_view date = field(kDate);
  if (!date.empty() && !ParseDate(date, &out->date)) return LineError(line_no, c.date, "not a date (YYYYMMDD)");
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// Reading the ledger
//
// Reconcile runs in three walks over the state family, each in key order: the payments the
// lines name (y/), the payments of the rolls they cover that no line names (z/, then y/), and the
// households of all of those (h/). The first and the last are split in two halves of the key
// range, read on two threads. What each thread makes is its own until the threads are joined.

constexpr int kMaxSteps = 16;             // Keys stepped over with Next() before a Seek() instead.
constexpr size_t kTwoThreadsFrom = 4096;  // Records read in two threads from this many on.

// Ids and region codes are at most kMaxIdBytes each, and a result has at most four (a missing
// result's payment id, household and case ids, region code): the names of kMaxBankLines results
// fit the 4096 chunks of Reconciliation::Names, a few of them part-filled where the names of two
// threads were joined.
constexpr int kChunkBits = 20;
static_assert(kMaxBankLines * 4 * (kMaxIdBytes + 1) < (uint64_t{1} << 32) - 16 * (uint64_t{1} << kChunkBits));

// Calls `part(half, begin, end)` for half 0 and 1 of [0, n), the second starting at
// `boundary(n / 2)`: when n is large, the second on another thread. (The threads read the
// database at the same time, which RocksDB allows.)
template <class B, class F>
void InTwoHalves(size_t n, B&& boundary, F&& part) {
  if (n < kTwoThreadsFrom) {
    part(0, size_t{0}, n);
    part(1, n, n);
    return;
  }
  size_t middle = boundary(n / 2);
  std::jthread second([&] { part(1, middle, n); });
  part(0, size_t{0}, middle);
}

// Sorts `v`: when it is long, its halves in two threads, then merges them.
template <class T, class Less>
void Sort(std::vector<T>* v, Less less) {
  auto half = [](size_t middle) { return middle; };
  InTwoHalves(v->size(), half, [&](int, size_t begin, size_t end) {
    std::sort(v->begin() + static_cast<ptrdiff_t>(begin), v->begin() + static_cast<ptrdiff_t>(end), less);
  });
  if (v->size() >= kTwoThreadsFrom) {
    std::inplace_merge(v->begin(), v->begin() + static_cast<ptrdiff_t>(v->size() / 2), v->end(), less);
  }
}

// Moves `it` to the first key at or after `key`. With `forward`, `it` is already at the first key
// at or after a smaller one, or at the end.
void SeekForward(rocksdb::Iterator* it, const rocksdb::Slice& key, bool forward) {
  for (int step = 0; forward && step < kMaxSteps && it->Valid() && it->key().compare(key) < 0; ++step) it->Next();
  if (!forward || (it->Valid() && it->key().compare(key) < 0)) it->Seek(key);
}

// Reading ahead (one read of many blocks, then copies out of it) pays on a walk that needs most
// blocks of its key range, as a province's file does; on a sparse walk it would read what no key
// needs. Above this many bytes of table files per key wanted, a walk reads block by block.
constexpr uint64_t kDenseBytesPerKey = 8 << 10;

// Walks the state family forward to keys that ascend: Find(key) is the record under `key`, or
// not found, or the error that stopped the walk (after which the next Find seeks anew). The walk
// leaves the block cache alone: it reads each block once, and filling the cache would push out
// what other readers read often (and cost half as much CPU again: 1.9 s against 1.3 s for a
// 320k-line file, measured).
class Walk {
 public:
  // `first` and `last` are the least and the greatest of the `keys` keys to be found.
  Walk(const Store& store, std::string_view first, std::string_view last, size_t keys) {
    std::string limit = std::string(last) + '\0';
    rocksdb::Range range(first, limit);
    uint64_t bytes = UINT64_MAX;
    if (!store.db()->GetApproximateSizes(store.cf(kState), &range, 1, &bytes).ok()) bytes = UINT64_MAX;
    rocksdb::ReadOptions ro = ScanOptions();
    if (bytes / kDenseBytesPerKey > keys) ro.readahead_size = 0;
    it_.reset(store.NewIterator(kState, ro));
  }
  // `key` must be greater than the key of the Find before, if any.
  rocksdb::Status Find(const rocksdb::Slice& key, std::string_view* value) {
    SeekForward(it_.get(), key, started_ && it_->status().ok());
    started_ = true;
    if (!it_->status().ok()) return it_->status();
    if (!it_->Valid() || it_->key() != key) return rocksdb::Status::NotFound();
    *value = it_->value().ToStringView();
    return rocksdb::Status::OK();
  }

 private:
  std::unique_ptr<rocksdb::Iterator> it_;
  bool started_ = false;
};

Category Classify(const BankLine& line, const state::Payment& p) {
  if (line.status == BankStatus::kFailed) return Category::kFailed;
  if (line.status == BankStatus::kReturned) return Category::kReturned;
  if (line.amount_fen != p.amount_fen) return Category::kAmountMismatch;
  return Category::kMatched;  // Or paid after exit: that needs the household.
}

// Whether the month is after the case's exit, by the one definition (rules::StandingIn) that
// also makes the payment an overpayment (ledgerctl recoveries).
bool PaidAfterExit(state::Household* h, std::string_view case_id, uint32_t period) {
  const state::Case* c = h->FindCase(case_id);
  return c != nullptr && rules::StandingIn(*c, period) == rules::Standing::kExited;
}

// A line of the file and where its payment id is in the file's fields (12 bytes a line).
struct IdLine {
  uint32_t at, size, line;
};

// A result whose household is still to be read.
struct Pending {
  uint32_t household;  // Where its household id is in the names.
  uint32_t case_id;    // Where its case id is in the names.
  uint32_t result;     // Index of the result.
};

// An error of a record that did not read, and the line of the file it belongs to: the error
// reported is that of the first line.
struct FirstError {
  size_t line = SIZE_MAX;
  Status error;
  void Add(size_t at_line, Status s) {
    if (at_line < line) line = at_line, error = std::move(s);
  }
};

Status PaymentError(std::string_view key, const rocksdb::Status& s) {
  if (!s.ok()) return FromRocks(s, "reading state");
  return Status::Corruption("state record " + std::string(key) + " does not read (run rebuild)");
}

// A payment record that reads, with ids that fit the names (state records hold validated ids).
bool DecodePayment(std::string_view value, state::Payment* p) {
  return state::Decode(value, p) && p->household.size() <= kMaxIdBytes && p->case_id.size() <= kMaxIdBytes;
}

}  // namespace

// The three walks of Reconcile, over one file into one reconciliation.
class Reconciler {
 public:
  Reconciler(const Store& store, const BankFile& file, Reconciliation* out)
      : store_(store), file_(file), fields_(file.fields_.data()), out_(*out) {}

  Status Run() {
    out_ = Reconciliation();
    out_.file_ = &file_;
    out_.results_.resize(file_.size());
    IndexIds();
    Status s = ReadPayments();
    if (s.ok()) s = AddMissing();
    std::vector<IdLine>().swap(by_id_);  // Not needed any more: make room for what follows.
    if (!s.ok()) {
      out_ = Reconciliation();
      return s;
    }
    ReadHouseholds();
    return Status::Ok();
  }

 private:
  using Result = Reconciliation::Result;
  using Names = Reconciliation::Names;

  // What one thread read of the payments the file names.
  struct PaymentsPart {
    Names names;                               // Household and case ids of its pending results.
    std::vector<Pending> pending;              // Refer to `names`.
    std::set<std::string, std::less<>> rolls;  // The rolls of its payments.
    FirstError error;
  };

  std::string_view Id(const IdLine& l) const { return {fields_ + l.at, l.size}; }
  const char* Name(uint32_t at) const { return out_.names_[at]; }

  void IndexIds() {
    by_id_.reserve(file_.size());
    for (size_t i = 0; i < file_.size(); ++i) {
      const BankFile::Line& l = file_.lines_[i];
      by_id_.push_back({l.fields_at, l.id_size, static_cast<uint32_t>(i)});
    }
    Sort(&by_id_, [&](const IdLine& a, const IdLine& b) {
      int c = Id(a).compare(Id(b));
      return c != 0 ? c < 0 : a.line < b.line;
    });
  }

  // The first of by_id_ at or after `from` whose id is not less than `id`: a few steps forward,
  // then a binary search.
  std::vector<IdLine>::const_iterator SkipTo(std::vector<IdLine>::const_iterator from, std::string_view id) const {
    for (int step = 0; step < kMaxSteps; ++step, ++from) {
      if (from == by_id_.end() || Id(*from) >= id) return from;
    }
    return std::lower_bound(from, by_id_.cend(), id, [&](const IdLine& a, std::string_view b) { return Id(a) < b; });
  }

  // Reads the payment of each distinct id: sets the result of its first line, and marks the lines
  // after it as duplicates. The error, if any, is that of the first line whose payment does not
  // read.
  Status ReadPayments() {
    std::array<PaymentsPart, 2> parts;
    auto id_start = [&](size_t i) {  // The first index of by_id_ at or after i that starts an id.
      while (i < by_id_.size() && Id(by_id_[i]) == Id(by_id_[i - 1])) ++i;
      return i;
    };
    InTwoHalves(by_id_.size(), id_start,
                [&](int half, size_t begin, size_t end) { ReadPayments(begin, end, &parts[half]); });
    pending_.reserve(parts[0].pending.size() + parts[1].pending.size());
    for (auto& part : parts) {
      const uint32_t base = out_.names_.Join(std::move(part.names));
      for (Pending p : part.pending) pending_.push_back({p.household + base, p.case_id + base, p.result});
      std::vector<Pending>().swap(part.pending);
      rolls_.merge(part.rolls);
    }
    if (parts[1].error.line < parts[0].error.line) return parts[1].error.error;
    return parts[0].error.error;
  }

  void ReadPayments(size_t begin, size_t end, PaymentsPart* out) {
    if (begin == end) return;
    std::string key = state::PaymentKey("");  // Keys are prefix ‖ id (state.h).
    const size_t prefix = key.size();
    Walk walk(store_, key + std::string(Id(by_id_[begin])), key + std::string(Id(by_id_[end - 1])), end - begin);
    state::Payment p;                   // Decoded into again and again: no allocation per payment.
    const std::string* roll = nullptr;  // Consecutive payments are often on the same roll.
    for (size_t i = begin; i < end; ++i) {
      const uint32_t line = by_id_[i].line;
      Result& r = out_.results_[line];
      if (i > begin && Id(by_id_[i]) == Id(by_id_[i - 1])) {
        r.category = Category::kDuplicate;
        continue;
      }
      key.resize(prefix);
      key.append(Id(by_id_[i]));
      std::string_view value;
      rocksdb::Status s = walk.Find(key, &value);
      if (s.IsNotFound()) {
        r.category = Category::kUnknown;
      } else if (!s.ok() || !DecodePayment(value, &p)) {
        out->error.Add(line, PaymentError(key, s));
      } else {
        r.category = Classify(file_[line], p);
        SetPayment(p, &r);
        uint32_t household = out->names.Add(p.household);
        out->pending.push_back({household, out->names.Add(p.case_id), line});
        if (roll == nullptr || *roll != p.roll_id) {
          auto it = out->rolls.find(p.roll_id);
          roll = &*(it != out->rolls.end() ? it : out->rolls.emplace(p.roll_id).first);
        }
      }
    }
  }

  static void SetPayment(const state::Payment& p, Result* r) {
    r->amount_fen = p.amount_fen;
    r->period = p.period;
    r->programme = p.programme;
  }

  // Adds a missing result for each payment of the rolls the file covers that no line names and
  // that has no result in the ledger either: roll by roll, in payment id order.
  Status AddMissing() {
    // Every key of each roll, the rolls in key order: a dense walk.
    std::unique_ptr<rocksdb::Iterator> it(store_.NewIterator(kState, ScanOptions()));
    std::vector<std::string> ids;
    for (const auto& roll : rolls_) {
      ids.clear();
      Status s = Unmentioned(it.get(), roll, &ids);
      Status added = ids.empty() ? Status::Ok() : AddMissing(ids);
      if (!added.ok()) return added;
      if (!s.ok()) return s;
    }
    return Status::Ok();
  }

  // Adds a missing result for each of the payments `ids` (ascending) that has no result at all:
  // not void, and not settled, failed or returned by a result recorded before (a file of returns
  // only, arriving months later, has nothing missing).
  Status AddMissing(const std::vector<std::string>& ids) {
    const std::string prefix = state::PaymentKey("");  // Keys are prefix ‖ id (state.h).
    Walk walk(store_, prefix + ids.front(), prefix + ids.back(), ids.size());
    std::string key;
    state::Payment p;
    for (const auto& id : ids) {
      key.assign(prefix).append(id);
      std::string_view value;
      if (!walk.Find(key, &value).ok() || !DecodePayment(value, &p)) {
        return Status::Corruption("payment " + id + " is on a roll but has no record (run rebuild)");
      }
      if (p.status != state::PaymentStatus::kIssued) continue;
      if (out_.size() >= kMaxBankLines) {
        return Status::Invalid("", fmt::format("more than {} lines and missing results", kMaxBankLines));
      }
      const auto result = static_cast<uint32_t>(out_.size());
      Reconciliation::Missing& m = out_.missing_.emplace_back();
      m.result.category = Category::kMissingResult;
      SetPayment(p, &m.result);
      m.id = out_.names_.Add(id);
      uint32_t household = out_.names_.Add(p.household);
      pending_.push_back({household, out_.names_.Add(p.case_id), result});
    }
    return Status::Ok();
  }

  // The ids of the payments on `roll` (ascending) that no line names, read with `it`.
  Status Unmentioned(rocksdb::Iterator* it, const std::string& roll, std::vector<std::string>* out) {
    std::string prefix = state::RollPaymentPrefix(roll);
    auto seen = by_id_.cbegin();
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      std::string_view payment_id = it->key().ToStringView().substr(prefix.size());
      seen = SkipTo(seen, payment_id);
      if (seen == by_id_.end() || Id(*seen) != payment_id) out->emplace_back(payment_id);
    }
    return FromRocks(it->status(), "reading the rolls");
  }

  // Reads the household of each pending result, each household once: its region, and whether a
  // settled payment was for a month after its case's exit. A household without a record, or whose
  // record does not read, leaves the region empty and the category as it is.
  void ReadHouseholds() {
    auto before = [&](const Pending& a, const Pending& b) {
      return std::strcmp(Name(a.household), Name(b.household)) < 0;
    };
    Sort(&pending_, before);
    auto household_start = [&](size_t i) {  // The first index at or after i that starts a household.
      while (i < pending_.size() && !before(pending_[i - 1], pending_[i])) ++i;
      return i;
    };
    std::array<Names, 2> regions;  // The region codes each thread read.
    std::array<std::pair<size_t, size_t>, 2> ranges;
    InTwoHalves(pending_.size(), household_start, [&](int half, size_t begin, size_t end) {
      ranges[half] = {begin, end};
      ReadHouseholds(begin, end, &regions[half]);
    });
    for (int half : {0, 1}) {  // From a thread's names to the reconciliation's.
      const uint32_t base = out_.names_.Join(std::move(regions[half]));
      for (size_t i = ranges[half].first; i < ranges[half].second; ++i) {
        Result& r = At(pending_[i].result);
        if (r.region != Reconciliation::kNone) r.region += base;
      }
    }
  }

  void ReadHouseholds(size_t begin, size_t end, Names* regions) {
    if (begin == end) return;
    std::string key = state::HouseholdKey("");  // Keys are prefix ‖ id (state.h).
    const size_t prefix = key.size();
    auto key_of = [&](size_t i) { return key + Name(pending_[i].household); };
    Walk walk(store_, key_of(begin), key_of(end - 1), end - begin);
    state::Household h;                                   // Decoded into again and again: no allocation per household.
    std::unordered_map<std::string, uint32_t> region_at;  // Each code once in `regions`.
    for (size_t i = begin; i < end;) {
      const char* household = Name(pending_[i].household);
      key.resize(prefix);
      key.append(household);
      std::string_view value;
      bool reads = walk.Find(key, &value).ok() && state::Decode(value, &h) && h.region_code.size() <= kMaxIdBytes;
      uint32_t region = Reconciliation::kNone;
      if (reads) {
        auto [it, added] = region_at.try_emplace(h.region_code, 0);
        if (added) it->second = regions->Add(h.region_code);
        region = it->second;
      }
      for (; i < end && std::strcmp(Name(pending_[i].household), household) == 0; ++i) {
        Result& r = At(pending_[i].result);
        r.household = pending_[i].household;
        r.region = region;
        if (reads && r.category == Category::kMatched && PaidAfterExit(&h, Name(pending_[i].case_id), r.period)) {
          r.category = Category::kPaidAfterExit;
        }
      }
    }
  }

  // Result `i`: of line i, or of missing result i - (lines).
  Result& At(uint32_t i) {
    return i < out_.results_.size() ? out_.results_[i] : out_.missing_[i - out_.results_.size()].result;
  }

  const Store& store_;
  const BankFile& file_;
  const char* fields_;  // file_'s.
  Reconciliation& out_;
  std::vector<IdLine> by_id_;                 // The file's ids and their lines, by id then line.
  std::vector<Pending> pending_;              // Results whose household is still to be read.
  std::set<std::string, std::less<>> rolls_;  // The rolls of the payments the file names.
};

uint32_t Reconciliation::Names::Add(std::string_view name) {
  constexpr size_t kChunkBytes = size_t{1} << kChunkBits;
  if (chunks_.empty() || chunks_.back().size() + name.size() + 1 > kChunkBytes)
    chunks_.emplace_back().reserve(kChunkBytes);
  std::string& chunk = chunks_.back();
  const auto at = static_cast<uint32_t>((chunks_.size() - 1) << kChunkBits | chunk.size());
  chunk.append(name).push_back('\0');
  return at;
}

const char* Reconciliation::Names::operator[](uint32_t at) const {
  return chunks_[at >> kChunkBits].data() + (at & ((uint32_t{1} << kChunkBits) - 1));
}

uint32_t Reconciliation::Names::Join(Names&& other) {
  const auto base = static_cast<uint32_t>(chunks_.size() << kChunkBits);
  for (auto& chunk : other.chunks_) chunks_.push_back(std::move(chunk));
  other.chunks_.clear();
  return base;
}

const char* CategoryName(Category c) {
  static constexpr const char* kNames[] = {"matched",        "failed",  "returned",         "amount mismatch",
                                           "missing result", "unknown", "duplicate result", "paid after exit"};
  return kNames[static_cast<size_t>(c)];
}

Status ParseColumns(std::string_view spec, BankColumns* out) {
  std::map<std::string, std::string*> keys = {
      {"id", &out->id},         {"amount", &out->amount},       {"status", &out->status},
      {"reason", &out->reason}, {"reference", &out->reference}, {"date", &out->date}};
  size_t start = 0;
  while (start <= spec.size()) {
    size_t end = std::min(spec.find(',', start), spec.size());
    std::string_view pair = spec.substr(start, end - start);
    size_t eq = pair.find('=');
    auto it = eq == std::string_view::npos ? keys.end() : keys.find(std::string(pair.substr(0, eq)));
    if (it == keys.end() || eq + 1 >= pair.size()) {
      return Status::Invalid(
          "columns",
          fmt::format("\"{}\" is not KEY=COLUMN with KEY one of id, amount, status, reason, reference, date", pair));
    }
    *it->second = std::string(pair.substr(eq + 1));
    start = end + 1;
  }
  return Status::Ok();
}

Status ParseBankFile(std::string text, const BankColumns& c, BankFile* out) {
  *out = BankFile();
  if (text.size() > UINT32_MAX) return Status::Invalid("file", "over 4 GiB");
  std::vector<BankFile::Line> lines;
  lines.reserve(std::min(static_cast<size_t>(std::count(text.begin(), text.end(), '\n')), kMaxBankLines));
  Positions positions;
  std::vector<std::string_view> fields;
  std::string unquoted, kept;
  size_t line_no = 0, header_size = 0;
  size_t fields_end = 0;  // text[0, fields_end) holds the text fields of the lines so far.
  for (size_t start = 0; start < text.size();) {
    size_t end = std::min(text.find('\n', start), text.size());
    std::string_view raw = std::string_view(text).substr(start, end - start);
    start = end + 1;
    ++line_no;
    if (!raw.empty() && raw.back() == '\r') raw.remove_suffix(1);
    if (raw.size() > kMaxBankLineBytes) return LineError(line_no, "", "line too long");
    if (!IsUtf8(raw)) return LineError(line_no, "", "not UTF-8 text");
    if (raw.find_first_not_of(" \t") == std::string_view::npos) continue;
    if (!SplitCsv(raw, &unquoted, &fields)) return LineError(line_no, "", "a quoted field is not closed");
    Status s;
    if (header_size == 0) {
      header_size = fields.size();
      if (!(s = ReadHeader(line_no, fields, c, &positions)).ok()) return s;
      continue;
    }
    if (fields.size() != header_size) {
      return LineError(line_no, "", fmt::format("{} fields, the header has {}", fields.size(), header_size));
    }
    if (lines.size() == kMaxBankLines) return LineError(line_no, "", fmt::format("over {} lines", kMaxBankLines));
    BankLine line;
    if (!(s = ParseRow(line_no, fields, positions, c, &line)).ok()) return s;
    // The line's text fields, end to end, over text already read: they are no longer than the
    // line, and come from it or from `unquoted`. (Copied to `kept` first: the columns may be in
    // any order.)
    kept.assign(line.payment_id).append(line.reason).append(line.reference);
    std::copy(kept.begin(), kept.end(), text.begin() + static_cast<ptrdiff_t>(fields_end));
    lines.push_back({line.amount_fen, line.line, line.date, static_cast<uint32_t>(fields_end),
                     static_cast<uint16_t>(line.payment_id.size()), static_cast<uint16_t>(line.reason.size()),
                     static_cast<uint16_t>(line.reference.size()), line.status});
    fields_end += kept.size();
  }
  if (header_size == 0) return Status::Invalid("line 1", "the file is empty (no header)");
  text.resize(fields_end);
  text.shrink_to_fit();
  out->fields_ = std::move(text);
  out->lines_ = std::move(lines);
  return Status::Ok();
}

BankLine BankFile::operator[](size_t i) const {
  const Line& l = lines_[i];
  std::string_view f = std::string_view(fields_).substr(l.fields_at);
  BankLine out;
  out.line = l.line;
  out.payment_id = f.substr(0, l.id_size);
  out.reason = f.substr(l.id_size, l.reason_size);
  out.reference = f.substr(l.id_size + l.reason_size, l.reference_size);
  out.amount_fen = l.amount_fen;
  out.status = l.status;
  out.date = l.date;
  return out;
}

Status Reconcile(const Store& store, const BankFile& file, Reconciliation* out) {
  return Reconciler(store, file, out).Run();
}

Match Reconciliation::operator[](size_t i) const {
  const bool missing = i >= results_.size();
  const Result& r = missing ? missing_[i - results_.size()].result : results_[i];
  Match m;
  m.category = r.category;
  if (!missing) m.line = (*file_)[i];
  if (r.household != kNone) {
    LedgerPayment& p = m.payment.emplace();
    p.id = missing ? names_[missing_[i - results_.size()].id] : m.line->payment_id;
    p.household = names_[r.household];
    p.region = r.region == kNone ? std::string_view() : names_[r.region];
    p.amount_fen = r.amount_fen;
    p.period = r.period;
    p.programme = r.programme;
  }
  return m;
}

bool IsRecorded(const Match& m) {
  return m.category == Category::kMatched || m.category == Category::kFailed || m.category == Category::kReturned ||
         m.category == Category::kPaidAfterExit;
}

void BankResultEvent(const Match& m, std::string_view actor, uint32_t date, capnp::MessageBuilder* out) {
  LEDGER_ASSERT(IsRecorded(m) && m.line && m.payment, "a bank result to record needs a line and a payment");
  const BankLine& line = *m.line;
  const LedgerPayment& p = *m.payment;
  auto to_text = [](std::string_view v) { return capnp::Text::Reader(v.data(), v.size()); };
  auto event = out->initRoot<schema::Event>();
  const char* status = line.status == BankStatus::kSettled  ? "settled"
                       : line.status == BankStatus::kFailed ? "failed"
                                                            : "returned";
  event.setEventId(fmt::format("bank-{}-{}", p.id, status));
  event.setHouseholdId(to_text(p.household));
  event.setRegionCode(to_text(p.region));
  event.setActorId(to_text(actor));
  uint32_t when = line.date ? line.date : date;
  event.setBusinessDate(when);
  switch (line.status) {
    case BankStatus::kSettled: {
      auto settled = event.initPaymentSettled();
      settled.setPaymentId(to_text(p.id));
      settled.setBankReference(to_text(line.reference));
      settled.setSettledDate(when);
      break;
    }
    case BankStatus::kFailed: {
      auto failed = event.initPaymentFailed();
      failed.setPaymentId(to_text(p.id));
      failed.setReason(to_text(line.reason));
      failed.setBankReference(to_text(line.reference));
      break;
    }
    case BankStatus::kReturned: {
      auto returned = event.initPaymentReturned();
      returned.setPaymentId(to_text(p.id));
      returned.setAmountFen(line.amount_fen);
      returned.setReason(to_text(line.reason));
      returned.setBankReference(to_text(line.reference));
      break;
    }
  }
}

}  // namespace ledger::reconcile
