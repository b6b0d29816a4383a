#include "ledger/reconcile.h"

#include <fmt/format.h>
#include <rocksdb/db.h>

#include <algorithm>
#include <array>
#include <map>
#include <memory>
#include <set>
#include <thread>
#include <utility>

#include "ledger/formats.h"

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
  out->line = line_no;
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
  out->reference = field(kReference);
  if (!IsValidText(out->reason) || !IsValidText(out->reference)) return LineError(line_no, "", "not text");
  std::string_view date = field(kDate);
  if (!date.empty() && !ParseDate(date, &out->date)) return LineError(line_no, c.date, "not a date (YYYYMMDD)");
  return Status::Ok();
}

// ---------------------------------------------------------------------------------------------
// Reading the ledger

constexpr int kMaxSteps = 16;             // Keys stepped over with Next() before a Seek() instead.
constexpr size_t kTwoThreadsFrom = 4096;  // Records read in two threads from this many on.

// Calls `part(begin, end)` over [0, n): when n is large, in two halves, one on another thread.
// (The threads read the database at the same time, which RocksDB allows.)
template <class F>
void InTwoHalves(size_t n, F&& part) {
  if (n < kTwoThreadsFrom) return part(size_t{0}, n);
  std::jthread second([&] { part(n / 2, n); });
  part(size_t{0}, n / 2);
}

// Sorts `v`: when it is long, its halves in two threads, then merges them.
template <class T>
void Sort(std::vector<T>* v) {
  InTwoHalves(v->size(), [&](size_t begin, size_t end) { std::sort(v->begin() + begin, v->begin() + end); });
  if (v->size() >= kTwoThreadsFrom) std::inplace_merge(v->begin(), v->begin() + v->size() / 2, v->end());
}

// Moves `it` to the first key at or after `key`. With `forward`, `it` is already at the first key
// at or after a smaller one, or at the end.
void SeekForward(rocksdb::Iterator* it, const rocksdb::Slice& key, bool forward) {
  for (int step = 0; forward && step < kMaxSteps && it->Valid() && it->key().compare(key) < 0; ++step) it->Next();
  if (!forward || (it->Valid() && it->key().compare(key) < 0)) it->Seek(key);
}

// Reads keys[begin, end) from the state family with one iterator, which walks forward while they
// ascend: `each(i, status, value)` for keys[i], in order (status NotFound if there is no such key),
// until it returns false.
template <class F>
void ReadMany(const Store& store, const std::vector<std::string>& keys, size_t begin, size_t end, F&& each) {
  if (begin == end) return;
  rocksdb::ReadOptions ro;
  ro.verify_checksums = true;
  std::unique_ptr<rocksdb::Iterator> it(store.db()->NewIterator(ro, store.cf(kState)));
  const rocksdb::Status found, absent = rocksdb::Status::NotFound();
  for (size_t i = begin; i < end; ++i) {
    rocksdb::Slice key(keys[i]);
    // Forward from the key before while the keys ascend; after an error, a Seek of its own.
    SeekForward(it.get(), key, i > begin && keys[i - 1] < keys[i] && it->status().ok());
    bool here = it->Valid() && it->key() == key;
    const rocksdb::Status& s = here ? found : it->status().ok() ? absent : it->status();
    if (!each(i, s, here ? it->value().ToStringView() : std::string_view())) return;
  }
}

// Reads the household of the payment of each of `targets` (each household once, in key order)
// and calls `each(match, household)`, with null for a household that has no record or whose
// record does not read. Calls for different matches may run at the same time.
template <class F>
void ForHouseholds(const Store& store, const std::vector<Match*>& targets, F&& each) {
  std::vector<std::pair<std::string, Match*>> by_household;  // Household key, match.
  by_household.reserve(targets.size());
  for (Match* m : targets) by_household.emplace_back(state::HouseholdKey(m->payment->household), m);
  Sort(&by_household);
  std::vector<std::string> keys;
  std::vector<size_t> first;  // Index in by_household of the first match of each key's household.
  for (size_t j = 0; j < by_household.size(); ++j) {
    if (!keys.empty() && by_household[j].first == keys.back()) continue;
    keys.push_back(std::move(by_household[j].first));
    first.push_back(j);
  }
  first.push_back(by_household.size());
  InTwoHalves(keys.size(), [&](size_t begin, size_t end) {
    ReadMany(store, keys, begin, end, [&](size_t k, const rocksdb::Status& s, std::string_view value) {
      state::Household h;
      bool reads = s.ok() && state::Decode(value, &h);
      for (size_t j = first[k]; j < first[k + 1]; ++j) each(by_household[j].second, reads ? &h : nullptr);
      return true;
    });
  });
}

bool PaidAfterExit(state::Household* h, const state::Payment& p) {
  const state::Case* c = h->FindCase(p.case_id);
  return c != nullptr && c->status == state::CaseStatus::kExited && p.period > c->paid_until_period;
}

Category Classify(const BankLine& line, const state::Payment& p, bool after_exit) {
  if (line.status == BankStatus::kFailed) return Category::kFailed;
  if (line.status == BankStatus::kReturned) return Category::kReturned;
  if (line.amount_fen != p.amount_fen) return Category::kAmountMismatch;
  if (after_exit) return Category::kPaidAfterExit;
  return Category::kMatched;
}

// The payment ids of a bank file.
struct Lookup {
  std::vector<std::string_view> ids;  // Distinct, ascending.
  std::vector<size_t> first_line;     // Index of each id's first line.
  std::vector<size_t> id_of_line;     // Index in `ids` of each line's id.

  bool IsFirst(size_t line) const { return first_line[id_of_line[line]] == line; }
};

Lookup IndexIds(const std::vector<BankLine>& lines) {
  std::vector<std::pair<std::string_view, size_t>> by_id;  // Id, line.
  by_id.reserve(lines.size());
  for (size_t i = 0; i < lines.size(); ++i) by_id.emplace_back(lines[i].payment_id, i);
  Sort(&by_id);
  Lookup out;
  out.id_of_line.resize(lines.size());
  for (const auto& [id, line] : by_id) {
    if (out.ids.empty() || out.ids.back() != id) {
      out.ids.push_back(id);
      out.first_line.push_back(line);
    }
    out.id_of_line[line] = out.ids.size() - 1;
  }
  return out;
}

// Decodes payment record `key` as read (absent: nothing) into `*out`.
Status DecodePayment(const std::string& key, const rocksdb::Status& s, std::string_view value,
                     std::optional<state::Payment>* out) {
  if (s.IsNotFound()) return Status::Ok();
  if (!s.ok()) return FromRocks(s, "reading state");
  if (!state::Decode(value, &out->emplace())) {
    return Status::Corruption("state record " + key + " does not read (run rebuild)");
  }
  return Status::Ok();
}

// Reads the payment of each distinct id into the match of its first line. The error, if any, is
// that of the first line whose payment does not read.
Status ReadPayments(const Store& store, const Lookup& lookup, std::vector<Match>* matches) {
  std::vector<std::string> keys;
  keys.reserve(lookup.ids.size());
  for (auto id : lookup.ids) keys.push_back(state::PaymentKey(id));
  std::pair<size_t, Status> errors[2] = {{SIZE_MAX, Status()}, {SIZE_MAX, Status()}};  // Line, error; per half.
  InTwoHalves(keys.size(), [&](size_t begin, size_t end) {
    auto& error = errors[begin == 0 ? 0 : 1];
    ReadMany(store, keys, begin, end, [&](size_t i, const rocksdb::Status& s, std::string_view value) {
      size_t line = lookup.first_line[i];
      Status e = DecodePayment(keys[i], s, value, &(*matches)[line].payment);
      if (!e.ok() && line < error.first) error = {line, e};
      return true;
    });
  });
  return std::min(errors[0], errors[1], [](const auto& a, const auto& b) { return a.first < b.first; }).second;
}

// The first of the ascending `ids` at or after `from` that is not less than `id`: a few steps
// forward, then a binary search.
std::vector<std::string_view>::const_iterator SkipTo(std::vector<std::string_view>::const_iterator from,
                                                     const std::vector<std::string_view>& ids, std::string_view id) {
  for (int step = 0; step < kMaxSteps; ++step, ++from) {
    if (from == ids.end() || *from >= id) return from;
  }
  return std::lower_bound(from, ids.end(), id);
}

// The ids of the payments on `roll` (ascending) that the file says nothing about.
Status Unmentioned(const Store& store, const std::string& roll, const Lookup& lookup, std::vector<std::string>* out) {
  std::string prefix = state::RollPaymentPrefix(roll);
  std::unique_ptr<rocksdb::Iterator> it(store.db()->NewIterator(rocksdb::ReadOptions(), store.cf(kState)));
  auto seen = lookup.ids.cbegin();
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    std::string_view payment_id = it->key().ToStringView().substr(prefix.size());
    seen = SkipTo(seen, lookup.ids, payment_id);
    if (seen == lookup.ids.end() || *seen != payment_id) out->emplace_back(payment_id);
  }
  return FromRocks(it->status(), "reading the rolls");
}

// Missing results of `roll`: its payments that the file says nothing about, void ones aside.
Status AddMissing(const Store& store, const std::string& roll, const Lookup& lookup, std::vector<Match>* matches) {
  std::vector<std::string> ids, keys;
  Status s = Unmentioned(store, roll, lookup, &ids);
  for (const auto& id : ids) keys.push_back(state::PaymentKey(id));
  const size_t start = matches->size();
  std::string unread;
  ReadMany(store, keys, 0, keys.size(), [&](size_t i, const rocksdb::Status& rs, std::string_view value) {
    Match m;
    m.category = Category::kMissingResult;
    if (!rs.ok() || !state::Decode(value, &m.payment.emplace())) {
      unread = ids[i];
    } else if (m.payment->status != state::PaymentStatus::kVoid) {
      matches->push_back(std::move(m));
    }
    return unread.empty();
  });
  if (!unread.empty()) return Status::Corruption("payment " + unread + " is on a roll but has no record (run rebuild)");
  if (!s.ok()) return s;
  std::vector<Match*> added;
  for (size_t i = start; i < matches->size(); ++i) added.push_back(&(*matches)[i]);
  ForHouseholds(store, added, [](Match* m, state::Household* h) {
    if (h != nullptr) m->region = h->region_code;
  });
  return Status::Ok();
}

// Gives the lines that repeat an id or name no payment their category; returns the others, and
// the rolls of their payments.
std::vector<Match*> MarkDuplicatesAndUnknown(const Lookup& lookup, std::vector<Match>* matches,
                                             std::set<std::string>* rolls) {
  std::vector<Match*> known;
  const std::string* roll = nullptr;  // Consecutive lines are often on the same roll.
  for (size_t i = 0; i < lookup.id_of_line.size(); ++i) {
    Match& m = (*matches)[i];
    if (!lookup.IsFirst(i)) {
      m.category = Category::kDuplicate;
    } else if (!m.payment) {
      m.category = Category::kUnknown;
    } else {
      known.push_back(&m);
      if (roll == nullptr || *roll != m.payment->roll_id) roll = &*rolls->insert(m.payment->roll_id).first;
    }
  }
  return known;
}

}  // namespace

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
          "--columns",
          fmt::format("\"{}\" is not KEY=COLUMN with KEY one of id, amount, status, reason, reference, date", pair));
    }
    *it->second = std::string(pair.substr(eq + 1));
    start = end + 1;
  }
  return Status::Ok();
}

Status ParseBankFile(std::string_view text, const BankColumns& c, std::vector<BankLine>* lines) {
  lines->clear();
  lines->reserve(static_cast<size_t>(std::count(text.begin(), text.end(), '\n')));
  Positions positions;
  std::vector<std::string_view> fields;
  std::string unquoted;
  size_t line_no = 0, header_size = 0;
  for (size_t start = 0; start < text.size();) {
    size_t end = std::min(text.find('\n', start), text.size());
    std::string_view raw = text.substr(start, end - start);
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
    BankLine line;
    if (!(s = ParseRow(line_no, fields, positions, c, &line)).ok()) return s;
    lines->push_back(std::move(line));
  }
  if (header_size == 0) return Status::Invalid("line 1", "the file is empty (no header)");
  return Status::Ok();
}

Status Reconcile(const Store& store, const std::vector<BankLine>& lines, std::vector<Match>* matches) {
  matches->assign(lines.size(), Match());
  for (size_t i = 0; i < lines.size(); ++i) (*matches)[i].line = &lines[i];
  Lookup lookup = IndexIds(lines);
  Status s = ReadPayments(store, lookup, matches);
  if (!s.ok()) return s;
  std::set<std::string> rolls;
  std::vector<Match*> known = MarkDuplicatesAndUnknown(lookup, matches, &rolls);
  ForHouseholds(store, known, [](Match* m, state::Household* h) {
    if (h != nullptr) m->region = h->region_code;
    m->category = Classify(*m->line, *m->payment, h != nullptr && PaidAfterExit(h, *m->payment));
  });
  // Payments on the rolls the file covers that it says nothing about.
  for (const auto& r : rolls) {
    if (!(s = AddMissing(store, r, lookup, matches)).ok()) return s;
  }
  return Status::Ok();
}

}  // namespace ledger::reconcile
