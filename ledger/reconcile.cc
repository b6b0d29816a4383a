#include "ledger/reconcile.h"

#include <fmt/format.h>
#include <rocksdb/db.h>

#include <algorithm>
#include <map>
#include <set>

#include "ledger/formats.h"

namespace ledger::reconcile {
namespace {

// Splits one CSV record (RFC 4180 quoting; no newlines inside fields). False if a quote is open.
bool SplitCsv(std::string_view line, std::vector<std::string>* fields) {
  fields->assign(1, "");
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    char c = line[i];
    if (quoted && c == '"' && i + 1 < line.size() && line[i + 1] == '"') {
      fields->back() += '"';
      ++i;
    } else if (c == '"') {
      quoted = !quoted;
    } else if (c == ',' && !quoted) {
      fields->emplace_back();
    } else {
      fields->back() += c;
    }
  }
  return !quoted;
}

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// "1234.5" or "1234.50" yuan to fen, exactly; false for anything else.
bool ParseYuan(std::string_view text, int64_t* fen) {
  size_t dot = text.find('.');
  std::string_view whole = text.substr(0, dot), frac = dot == std::string_view::npos ? "" : text.substr(dot + 1);
  bool digits = !whole.empty() && whole.size() <= 12 && frac.size() <= 2 &&
                whole.find_first_not_of("0123456789") == std::string_view::npos &&
                frac.find_first_not_of("0123456789") == std::string_view::npos;
  if (!digits) return false;
  *fen = std::stoll(std::string(whole)) * 100 +
         (frac.empty() ? 0 : std::stoll(std::string(frac)) * (frac.size() == 1 ? 10 : 1));
  return true;
}

bool ParseStatus(std::string_view text, BankStatus* out) {
  std::string s = Lower(std::string(text));
  if (s == "settled" || s == "credited" || s == "success")
    *out = BankStatus::kSettled;
  else if (s == "failed" || s == "rejected")
    *out = BankStatus::kFailed;
  else if (s == "returned")
    *out = BankStatus::kReturned;
  else
    return false;
  return true;
}

bool ParseDate(std::string text, uint32_t* out) {
  text.erase(std::remove(text.begin(), text.end(), '-'), text.end());
  if (text.size() != 8 || text.find_first_not_of("0123456789") != std::string::npos) return false;
  *out = static_cast<uint32_t>(std::stoul(text));
  return IsValidDate(*out);
}

Status LineError(size_t line, const std::string& column, const std::string& reason) {
  return Status::Invalid(fmt::format("line {}{}", line, column.empty() ? "" : ", column " + column), reason);
}

// Parses one data row into `out`; `index` maps each wanted column to its position (or -1).
Status ParseRow(size_t line_no, const std::vector<std::string>& f, const std::map<std::string, int>& index,
                const BankColumns& c, BankLine* out) {
  auto field = [&](const std::string& name) { return index.at(name) < 0 ? std::string() : f[index.at(name)]; };
  out->line = line_no;
  out->payment_id = field(c.id);
  if (!IsValidId(out->payment_id)) return LineError(line_no, c.id, "not an end-to-end id");
  if (!ParseYuan(field(c.amount), &out->amount_fen)) {
    return LineError(line_no, c.amount,
                     fmt::format("\"{}\" is not an amount in yuan (1234.50)", field(c.amount).substr(0, 40)));
  }
  if (!ParseStatus(field(c.status), &out->status)) {
    return LineError(line_no, c.status,
                     fmt::format("\"{}\" is not settled, failed or returned", field(c.status).substr(0, 40)));
  }
  out->reason = field(c.reason);
  out->reference = field(c.reference);
  if (!IsValidText(out->reason) || !IsValidText(out->reference)) return LineError(line_no, "", "not text");
  std::string date = field(c.date);
  if (!date.empty() && !ParseDate(date, &out->date)) return LineError(line_no, c.date, "not a date (YYYYMMDD)");
  return Status::Ok();
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
  std::map<std::string, int> index = {{c.id, -1},     {c.amount, -1},    {c.status, -1},
                                      {c.reason, -1}, {c.reference, -1}, {c.date, -1}};
  std::vector<std::string> fields;
  size_t line_no = 0, header_size = 0;
  for (size_t start = 0; start < text.size();) {
    size_t end = std::min(text.find('\n', start), text.size());
    std::string_view raw = text.substr(start, end - start);
    start = end + 1;
    ++line_no;
    if (!raw.empty() && raw.back() == '\r') raw.remove_suffix(1);
    if (raw.size() > kMaxBankLineBytes) return LineError(line_no, "", "line too long");
    if (!IsValidUtf8(raw, nullptr)) return LineError(line_no, "", "not UTF-8 text");
    if (raw.find_first_not_of(" \t") == std::string_view::npos) continue;
    if (!SplitCsv(raw, &fields)) return LineError(line_no, "", "a quoted field is not closed");
    if (header_size == 0) {
      header_size = fields.size();
      for (size_t i = 0; i < fields.size(); ++i) {
        if (index.count(fields[i])) index[fields[i]] = static_cast<int>(i);
      }
      for (const auto* name : {&c.id, &c.amount, &c.status}) {
        if (index[*name] < 0) return LineError(line_no, *name, "the header has no such column");
      }
      continue;
    }
    if (fields.size() != header_size) {
      return LineError(line_no, "", fmt::format("{} fields, the header has {}", fields.size(), header_size));
    }
    BankLine line;
    Status s = ParseRow(line_no, fields, index, c, &line);
    if (!s.ok()) return s;
    lines->push_back(std::move(line));
  }
  if (header_size == 0) return Status::Invalid("line 1", "the file is empty (no header)");
  return Status::Ok();
}

Status Reconcile(const Store& store, const std::vector<BankLine>& lines, std::vector<Match>* matches) {
  matches->clear();
  std::set<std::string> seen, rolls;
  auto load = [&](const std::string& key, auto* out) -> Status {
    std::string v;
    bool found = false;
    Status s = store.Get(kState, key, &v, &found);
    if (!s.ok()) return s;
    if (found && !state::Decode(v, out))
      return Status::Corruption("state record " + key + " does not read (run rebuild)");
    return found ? Status::Ok() : Status::NotFound("");
  };
  for (const auto& line : lines) {
    Match m;
    m.line = &line;
    state::Payment p;
    Status s = load(state::PaymentKey(line.payment_id), &p);
    if (!s.ok() && s.code() != Status::Code::kNotFound) return s;
    if (!seen.insert(line.payment_id).second) {
      m.category = Category::kDuplicate;
    } else if (!s.ok()) {
      m.category = Category::kUnknown;
    } else {
      m.payment = p;
      rolls.insert(p.roll_id);
      state::Household h;
      if ((s = load(state::HouseholdKey(p.household), &h)).ok()) m.region = h.region_code;
      state::Case* c = s.ok() ? h.FindCase(p.case_id) : nullptr;
      bool after_exit = c && c->status == state::CaseStatus::kExited && p.period > c->paid_until_period;
      if (line.status == BankStatus::kFailed)
        m.category = Category::kFailed;
      else if (line.status == BankStatus::kReturned)
        m.category = Category::kReturned;
      else if (line.amount_fen != p.amount_fen)
        m.category = Category::kAmountMismatch;
      else if (after_exit)
        m.category = Category::kPaidAfterExit;
      else
        m.category = Category::kMatched;
    }
    matches->push_back(m);
  }
  // Payments on the rolls the file covers that it says nothing about.
  for (const auto& roll : rolls) {
    std::string prefix = state::RollPaymentPrefix(roll);
    std::unique_ptr<rocksdb::Iterator> it(store.db()->NewIterator(rocksdb::ReadOptions(), store.cf(kState)));
    for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
      std::string payment_id = it->key().ToString().substr(prefix.size());
      if (seen.count(payment_id)) continue;
      Match m;
      m.category = Category::kMissingResult;
      state::Payment p;
      Status s = load(state::PaymentKey(payment_id), &p);
      if (!s.ok()) return Status::Corruption("payment " + payment_id + " is on a roll but has no record (run rebuild)");
      if (p.status == state::PaymentStatus::kVoid) continue;
      m.payment = p;
      state::Household h;
      if (load(state::HouseholdKey(p.household), &h).ok()) m.region = h.region_code;
      matches->push_back(m);
    }
    if (!it->status().ok()) return FromRocks(it->status(), "reading the rolls");
  }
  return Status::Ok();
}

}  // namespace ledger::reconcile
