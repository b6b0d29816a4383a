// The offline side of evidence.h: proofs as JSON text, and checking them with no ledger.
//
// The JSON reader is a small strict parser of its own (RFC 8259 values; numbers kept as text so
// that 64-bit sizes stay exact) rather than capnp's codec, which reads numbers as doubles.
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <memory>

#include "ledger/core/entry.h"
#include "ledger/evidence/evidence.h"
#include "ledger/util/formats.h"
#include "ledger/util/json_text.h"

namespace ledger::evidence {
namespace {

constexpr size_t kMaxDepth = 8;
constexpr std::string_view kTypeNames[] = {"inclusion", "consistency", "household"};

// ---- Writing ------------------------------------------------------------------------------------------

std::string B64(const Hash& h) {
  return "\"" + note::Base64(h) + "\"";
}

std::string HashList(const std::vector<Hash>& hashes) {
  std::string out = "[";
  for (size_t i = 0; i < hashes.size(); ++i) out += (i ? ", " : "") + B64(hashes[i]);
  return out + "]";
}

// {"a": 1, "b": 2} on one line, from (name, JSON text) pairs.
std::string Inline(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string out = "{";
  for (size_t i = 0; i < fields.size(); ++i)
    out += fmt::format("{}\"{}\": {}", i ? ", " : "", fields[i].first, fields[i].second);
  return out + "}";
}

// One field per line, indented by two spaces.
std::string Block(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string out = "{\n";
  for (size_t i = 0; i < fields.size(); ++i) {
    out += fmt::format("  \"{}\": {}{}\n", fields[i].first, fields[i].second, i + 1 < fields.size() ? "," : "");
  }
  return out + "}\n";
}

std::string HeadsLeafJson(const HeadsLeafProof& l) {
  return Inline({{"index", std::to_string(l.index)},
                 {"household", JsonString(l.leaf.household)},
                 {"version", std::to_string(l.leaf.head.version)},
                 {"lastSeq", std::to_string(l.leaf.head.last_seq)},
                 {"lastHash", B64(l.leaf.head.last_hash)},
                 {"proof", HashList(l.path)}});
}

std::string InclusionJson(const Proof& p) {
  const InclusionProof& i = p.inclusion;
  std::vector<std::pair<std::string, std::string>> f = {{"type", "\"inclusion\""}, {"origin", JsonString(p.origin)}};
  if (i.seq) f.emplace_back("seq", std::to_string(*i.seq));
  f.insert(f.end(), {{"leafIdx", std::to_string(i.leaf_index)},
                     {"treeSize", std::to_string(i.tree_size)},
                     {"root", B64(i.root)},
                     {"leafHash", B64(i.leaf_hash)}});
  if (i.entry) f.emplace_back("entry", "\"" + note::Base64(AsBytes(*i.entry)) + "\"");
  f.emplace_back("proof", HashList(i.path));
  return Block(f);
}

std::string ConsistencyJson(const Proof& p) {
  const ConsistencyProof& c = p.consistency;
  return Block({{"type", "\"consistency\""},
                {"origin", JsonString(p.origin)},
                {"size1", std::to_string(c.size1)},
                {"size2", std::to_string(c.size2)},
                {"root1", B64(c.root1)},
                {"root2", B64(c.root2)},
                {"proof", HashList(c.path)}});
}

std::string HouseholdJson(const Proof& p) {
  const HouseholdProof& h = p.household;
  std::vector<std::pair<std::string, std::string>> f = {
      {"type", "\"household\""},
      {"origin", JsonString(p.origin)},
      {"household", JsonString(h.household)},
      {"treeSize", std::to_string(h.tree_size)},
      {"root", B64(h.root)},
      {"heads", Inline({{"count", std::to_string(h.heads.count)}, {"root", B64(h.heads.root)}})}};
  if (h.head) f.emplace_back("head", HeadsLeafJson(*h.head));
  if (h.before) f.emplace_back("before", HeadsLeafJson(*h.before));
  if (h.after) f.emplace_back("after", HeadsLeafJson(*h.after));
  std::string entries = "[";
  for (size_t i = 0; i < h.entries.size(); ++i) {
    const EntryProof& e = h.entries[i];
    entries += (i ? ",\n    " : "\n    ") + Inline({{"seq", std::to_string(e.seq)},
                                                    {"entry", "\"" + note::Base64(AsBytes(e.entry)) + "\""},
                                                    {"proof", HashList(e.path)}});
  }
  f.emplace_back("entries", entries + (h.entries.empty() ? "]" : "\n  ]"));
  return Block(f);
}

// ---- Reading: a strict JSON parser --------------------------------------------------------------------

struct Json {
  enum class Kind { kNull, kBool, kNumber, kString, kArray, kObject };
  Kind kind = Kind::kNull;
  std::string text;  // a string's value, a number's digits, "true"/"false"
  std::vector<Json> items;
  std::vector<std::pair<std::string, Json>> members;
};

class Parser {
 public:
  explicit Parser(std::string_view text) : text_(text) {}

  Status Parse(Json* out) {
    Status s = Value(out, 0);
    SkipSpace();
    if (s.ok() && pos_ != text_.size()) s = Error("text after the JSON value");
    return s;
  }

 private:
  Status Error(std::string_view what) const {
    size_t line = 1 + static_cast<size_t>(std::count(text_.begin(), text_.begin() + static_cast<long>(pos_), '\n'));
    size_t line_start = text_.rfind('\n', pos_ == 0 ? 0 : pos_ - 1);
    size_t column = pos_ - (line_start == std::string_view::npos || pos_ == 0 ? 0 : line_start + 1) + 1;
    return Status::Invalid("", fmt::format("not JSON: line {}, column {}: {}", line, column, what));
  }
  void SkipSpace() {
    while (pos_ < text_.size() &&
           (text_[pos_] == ' ' || text_[pos_] == '\t' || text_[pos_] == '\n' || text_[pos_] == '\r')) {
      ++pos_;
    }
  }
  bool Eat(char c) {
    SkipSpace();
    if (pos_ == text_.size() || text_[pos_] != c) return false;
    ++pos_;
    return true;
  }

  Status Value(Json* out, size_t depth) {
    if (depth > kMaxDepth) return Error("nested too deeply");
    SkipSpace();
    if (pos_ == text_.size()) return Error("expected a value");
    char c = text_[pos_];
    if (c == '{') return Object(out, depth);
    if (c == '[') return Array(out, depth);
    if (c == '"') {
      out->kind = Json::Kind::kString;
      return String(&out->text);
    }
    if (c == '-' || (c >= '0' && c <= '9')) return Number(out);
    for (std::string_view word : {"true", "false", "null"}) {
      if (text_.substr(pos_, word.size()) != word) continue;
      pos_ += word.size();
      out->kind = word == "null" ? Json::Kind::kNull : Json::Kind::kBool;
      out->text = std::string(word);
      return Status::Ok();
    }
    return Error("expected a value");
  }

  Status Object(Json* out, size_t depth) {
    out->kind = Json::Kind::kObject;
    ++pos_;
    if (Eat('}')) return Status::Ok();
    do {
      SkipSpace();
      std::string name;
      if (pos_ == text_.size() || text_[pos_] != '"') return Error("expected a field name");
      Status s = String(&name);
      if (!s.ok()) return s;
      for (const auto& m : out->members) {
        if (m.first == name) return Error(fmt::format("field \"{}\" appears twice", name));
      }
      if (!Eat(':')) return Error("expected ':'");
      out->members.emplace_back(std::move(name), Json{});
      if (!(s = Value(&out->members.back().second, depth + 1)).ok()) return s;
    } while (Eat(','));
    return Eat('}') ? Status::Ok() : Error("expected ',' or '}'");
  }

  Status Array(Json* out, size_t depth) {
    out->kind = Json::Kind::kArray;
    ++pos_;
    if (Eat(']')) return Status::Ok();
    do {
      out->items.emplace_back();
      Status s = Value(&out->items.back(), depth + 1);
      if (!s.ok()) return s;
    } while (Eat(','));
    return Eat(']') ? Status::Ok() : Error("expected ',' or ']'");
  }

  Status Number(Json* out) {
    size_t start = pos_;
    auto digits = [&] {
      size_t from = pos_;
      while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') ++pos_;
      return pos_ > from;
    };
    if (text_[pos_] == '-') ++pos_;
    if (pos_ < text_.size() && text_[pos_] == '0') {
      ++pos_;
    } else if (!digits()) {
      return Error("malformed number");
    }
    if (pos_ < text_.size() && text_[pos_] == '.' && (++pos_, !digits())) return Error("malformed number");
    if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) ++pos_;
      if (!digits()) return Error("malformed number");
    }
    out->kind = Json::Kind::kNumber;
    out->text = std::string(text_.substr(start, pos_ - start));
    return Status::Ok();
  }

  // Four hex digits at pos_ (after "\u").
  bool Hex4(uint32_t* out) {
    if (text_.size() - pos_ < 4) return false;
    auto r = std::from_chars(text_.data() + pos_, text_.data() + pos_ + 4, *out, 16);
    if (r.ptr != text_.data() + pos_ + 4) return false;
    pos_ += 4;
    return true;
  }

  Status Escape(std::string* out) {
    char c = text_[pos_++];
    static constexpr std::string_view kFrom = "\"\\/bfnrt", kTo = "\"\\/\b\f\n\r\t";
    if (size_t i = kFrom.find(c); i != std::string_view::npos) {
      out->push_back(kTo[i]);
      return Status::Ok();
    }
    uint32_t cp = 0, low = 0;
    if (c != 'u' || !Hex4(&cp)) return Error("bad escape in a string");
    if (cp >= 0xd800 && cp < 0xdc00) {  // a surrogate pair
      if (text_.substr(pos_, 2) != "\\u" || (pos_ += 2, !Hex4(&low)) || low < 0xdc00 || low >= 0xe000) {
        return Error("unpaired surrogate in a string");
      }
      cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
    } else if (cp >= 0xdc00 && cp < 0xe000) {
      return Error("unpaired surrogate in a string");
    }
    if (cp < 0x80) {
      out->push_back(static_cast<char>(cp));
      return Status::Ok();
    }
    if (cp < 0x800) {
      out->push_back(static_cast<char>(0xc0 | cp >> 6));
    } else if (cp < 0x10000) {
      out->push_back(static_cast<char>(0xe0 | cp >> 12));
      out->push_back(static_cast<char>(0x80 | (cp >> 6 & 0x3f)));
    } else {
      out->push_back(static_cast<char>(0xf0 | cp >> 18));
      out->push_back(static_cast<char>(0x80 | (cp >> 12 & 0x3f)));
      out->push_back(static_cast<char>(0x80 | (cp >> 6 & 0x3f)));
    }
    out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    return Status::Ok();
  }

  Status String(std::string* out) {
    ++pos_;  // the opening quote
    size_t start = pos_;
    while (pos_ < text_.size() && text_[pos_] != '"') {
      char c = text_[pos_];
      if (static_cast<unsigned char>(c) < 0x20) return Error("control character in a string");
      if (c != '\\') {
        out->push_back(c);
        ++pos_;
        continue;
      }
      if (++pos_ == text_.size()) break;
      Status s = Escape(out);
      if (!s.ok()) return s;
    }
    if (pos_ == text_.size()) return Error("unterminated string");
    size_t bad = 0;
    if (!IsValidUtf8(text_.substr(start, pos_ - start), &bad)) {
      pos_ = start + bad;
      return Error("not UTF-8");
    }
    ++pos_;
    return Status::Ok();
  }

  std::string_view text_;
  size_t pos_ = 0;
};

// The fields of one JSON object, each read at most once; the first error sticks (and names the
// field's path), and Finish reports fields that were not read.
class Fields {
 public:
  Fields(const Json& object, std::string path) : path_(std::move(path)) {
    if (object.kind != Json::Kind::kObject) Fail("", "expected an object");
    if (object.kind == Json::Kind::kObject) members_ = &object.members;
  }

  const Json* Take(std::string_view name, bool required = true) {
    if (!members_) return nullptr;
    for (const auto& [n, value] : *members_) {
      if (n != name) continue;
      taken_.emplace_back(name);
      return &value;
    }
    if (required) Fail(name, "is missing");
    return nullptr;
  }

  uint64_t Number(std::string_view name) { return NumberOf(Take(name), name); }
  std::optional<uint64_t> OptionalNumber(std::string_view name) {
    const Json* v = Take(name, false);
    return v ? std::optional<uint64_t>(NumberOf(v, name)) : std::nullopt;
  }
  std::string Text(std::string_view name, bool required = true) {
    const Json* v = Take(name, required);
    if (v && v->kind != Json::Kind::kString) Fail(name, "expected a string");
    return v && v->kind == Json::Kind::kString ? v->text : "";
  }
  Hash HashField(std::string_view name) { return HashOf(Take(name), name); }
  std::optional<std::string> OptionalBytes(std::string_view name) {
    const Json* v = Take(name, false);
    return v ? std::optional<std::string>(BytesOf(v, name)) : std::nullopt;
  }
  std::string Bytes(std::string_view name) { return BytesOf(Take(name), name); }
  std::optional<bool> OptionalBool(std::string_view name) {
    const Json* v = Take(name, false);
    if (v && v->kind != Json::Kind::kBool) Fail(name, "expected true or false");
    return v && v->kind == Json::Kind::kBool ? std::optional<bool>(v->text == "true") : std::nullopt;
  }
  bool Has(std::string_view name) const {
    return members_ && std::any_of(members_->begin(), members_->end(), [&](const auto& m) { return m.first == name; });
  }
  // An array of base64 hashes; null is an empty list (Go's encoding of an empty slice).
  std::vector<Hash> HashList(std::string_view name) {
    std::vector<Hash> out;
    const Json* v = Take(name);
    if (v && v->kind == Json::Kind::kNull) return out;
    if (v && v->kind != Json::Kind::kArray) Fail(name, "expected an array of base64 hashes");
    if (!v || v->kind != Json::Kind::kArray) return out;
    for (size_t i = 0; i < v->items.size(); ++i) out.push_back(HashOf(&v->items[i], fmt::format("{}[{}]", name, i)));
    return out;
  }

  // Reads a nested object (or each item of an array of objects) with `read`.
  template <typename F>
  void Nested(std::string_view name, const Json& value, F read) {
    Fields inner(value, Path(name));
    read(inner);
    Status s = inner.Finish();
    if (!s.ok() && status_.ok()) status_ = s;
  }

  const Status& status() const { return status_; }
  Status Finish() {
    if (members_ && status_.ok()) {
      for (const auto& m : *members_) {
        if (std::find(taken_.begin(), taken_.end(), m.first) == taken_.end()) Fail(m.first, "is not a field here");
      }
    }
    return status_;
  }
  void Fail(std::string_view name, std::string reason) {
    if (status_.ok()) status_ = Status::Invalid(Path(name), std::move(reason));
  }
  std::string Path(std::string_view name) const {
    if (path_.empty() || name.empty()) return path_ + std::string(name);
    return path_ + (name[0] == '[' ? "" : ".") + std::string(name);
  }

 private:
  uint64_t NumberOf(const Json* v, std::string_view name) {
    if (!v) return 0;
    uint64_t n = 0;
    bool whole = v->kind == Json::Kind::kNumber && !v->text.empty() && v->text[0] != '-' &&
                 v->text.find_first_of(".eE") == std::string::npos;
    auto r = std::from_chars(v->text.data(), v->text.data() + v->text.size(), n);
    if (!whole || r.ec != std::errc() || r.ptr != v->text.data() + v->text.size()) {
      Fail(name, "expected a whole number from 0 to 2^64-1");
    }
    return n;
  }
  std::string BytesOf(const Json* v, std::string_view name) {
    std::string bytes;
    if (v && (v->kind != Json::Kind::kString || !note::ParseBase64(v->text, &bytes))) Fail(name, "expected base64");
    return bytes;
  }
  Hash HashOf(const Json* v, std::string_view name) {
    Hash h{};
    std::string bytes = BytesOf(v, name);
    if (v && bytes.size() != h.size()) Fail(name, "expected base64 of a 32-byte hash");
    if (bytes.size() == h.size()) memcpy(h.data(), bytes.data(), h.size());
    return h;
  }

  std::string path_;
  const std::vector<std::pair<std::string, Json>>* members_ = nullptr;
  std::vector<std::string> taken_;
  Status status_;
};

void ReadInclusion(Fields& f, InclusionProof* p) {
  p->seq = f.OptionalNumber("seq");
  p->leaf_index = f.Number("leafIdx");
  p->tree_size = f.Number("treeSize");
  p->root = f.HashField("root");
  p->leaf_hash = f.HashField("leafHash");
  p->entry = f.OptionalBytes("entry");
  p->path = f.HashList("proof");
}

void ReadConsistency(Fields& f, ConsistencyProof* p) {
  p->size1 = f.Number("size1");
  p->size2 = f.Number("size2");
  p->root1 = f.HashField("root1");
  p->root2 = f.HashField("root2");
  p->path = f.HashList("proof");
}

void ReadHeadsLeaf(Fields& f, std::string_view name, std::optional<HeadsLeafProof>* out) {
  const Json* v = f.Take(name, false);
  if (!v) return;
  out->emplace();
  f.Nested(name, *v, [&](Fields& g) {
    HeadsLeafProof& l = **out;
    l.index = g.Number("index");
    l.leaf.household = g.Text("household");
    l.leaf.head.version = g.Number("version");
    l.leaf.head.last_seq = g.Number("lastSeq");
    l.leaf.head.last_hash = g.HashField("lastHash");
    l.path = g.HashList("proof");
  });
}

void ReadHousehold(Fields& f, HouseholdProof* p) {
  p->household = f.Text("household");
  p->tree_size = f.Number("treeSize");
  p->root = f.HashField("root");
  if (const Json* heads = f.Take("heads")) {
    f.Nested("heads", *heads, [&](Fields& g) {
      p->heads.count = g.Number("count");
      p->heads.root = g.HashField("root");
    });
  }
  ReadHeadsLeaf(f, "head", &p->head);
  ReadHeadsLeaf(f, "before", &p->before);
  ReadHeadsLeaf(f, "after", &p->after);
  const Json* entries = f.Take("entries");
  if (entries && entries->kind != Json::Kind::kArray) f.Fail("entries", "expected an array");
  if (!entries || entries->kind != Json::Kind::kArray) return;
  for (size_t i = 0; i < entries->items.size(); ++i) {
    p->entries.emplace_back();
    f.Nested(fmt::format("entries[{}]", i), entries->items[i], [&](Fields& g) {
      p->entries.back().seq = g.Number("seq");
      p->entries.back().entry = g.Bytes("entry");
      p->entries.back().path = g.HashList("proof");
    });
  }
}

// ---- Checking -----------------------------------------------------------------------------------------

std::string LogOf(uint64_t size) {
  return Counted(size, "entry", "entries");
}

Status Bad(std::string field, std::string reason) {
  return Status::Invalid(std::move(field), std::move(reason));
}

// The proof's origin, size and root against the signed checkpoint's.
Status CheckSigned(const Proof& p, uint64_t size, const Hash& root, const SignedCheckpoint& cp, const char* size_field,
                   const char* root_field) {
  if (!p.origin.empty() && p.origin != cp.checkpoint.origin) {
    return Bad("origin", fmt::format("is \"{}\", the checkpoint's is \"{}\"", p.origin, cp.checkpoint.origin));
  }
  if (size != cp.checkpoint.tree_size) {
    return Bad(size_field, fmt::format("is {}, the signed checkpoint's size is {}", size, cp.checkpoint.tree_size));
  }
  if (root != cp.checkpoint.root_hash) return Bad(root_field, "is not the signed checkpoint's root");
  return Status::Ok();
}

// Decodes entry bytes that are a leaf of the log; `field` names them.
Status DecodeEntry(const std::string& bytes, uint64_t seq, const std::string& field, EntryReader* reader) {
  Status s = reader->Init(bytes);
  if (!s.ok()) return Bad(field, "does not decode as a canonical entry: " + s.reason());
  if (reader->entry().getSeq() != seq) {
    return Bad(field, fmt::format("is the entry of seq {}, not seq {}", reader->entry().getSeq(), seq));
  }
  return Status::Ok();
}

Status CheckInclusion(const Proof& p, const SignedCheckpoint* cp, std::string* summary) {
  const InclusionProof& i = p.inclusion;
  if (i.seq && *i.seq != i.leaf_index + 1) {
    return Bad("leafIdx",
               fmt::format("is {}; entry seq {} is leaf {} (leafIdx = seq - 1)", i.leaf_index, *i.seq, *i.seq - 1));
  }
  if (i.entry) {
    EntryReader reader;
    if (LeafHash(AsBytes(*i.entry)) != i.leaf_hash) return Bad("entry", "its hash is not leafHash");
    Status s = DecodeEntry(*i.entry, i.leaf_index + 1, "entry", &reader);
    if (!s.ok()) return s;
  }
  Status s = merkle::VerifyInclusion(i.leaf_index, i.tree_size, i.leaf_hash, i.path, i.root);
  if (s.ok() && cp) s = CheckSigned(p, i.tree_size, i.root, *cp, "treeSize", "root");
  if (!s.ok()) return s;
  *summary = fmt::format("entry seq {} (leaf {}, hash {}) is in the log of {} with root {}", i.leaf_index + 1,
                         i.leaf_index, note::Base64(i.leaf_hash), LogOf(i.tree_size), note::Base64(i.root));
  return Status::Ok();
}

Status CheckConsistency(const Proof& p, const SignedCheckpoint* cp, std::string* summary) {
  const ConsistencyProof& c = p.consistency;
  Status s = merkle::VerifyConsistency(c.size1, c.size2, c.root1, c.root2, c.path);
  if (s.ok() && cp) {
    bool first = cp->checkpoint.tree_size == c.size1;
    s = first ? CheckSigned(p, c.size1, c.root1, *cp, "size1", "root1")
              : CheckSigned(p, c.size2, c.root2, *cp, "size2", "root2");
  }
  if (!s.ok()) return s;
  *summary = fmt::format("the log of {} (root {}) extends the log of {} (root {})", LogOf(c.size2),
                         note::Base64(c.root2), LogOf(c.size1), note::Base64(c.root1));
  return Status::Ok();
}

Status CheckHeadsLeaf(const HeadsLeafProof& l, const HeadsCommitment& heads, const char* field) {
  if (!IsValidId(l.leaf.household)) return Bad(std::string(field) + ".household", "is not a household id");
  Hash leaf = LeafHash(AsBytes(HeadsLeafBytes(l.leaf.household, l.leaf.head)));
  Status s = merkle::VerifyInclusion(l.index, heads.count, leaf, l.path, heads.root);
  return s.ok() ? s : s.WithFieldPrefix(field);
}

// A neighbour at `index` (when `expected`) whose id sorts on the right side of the household.
Status CheckNeighbour(const std::optional<HeadsLeafProof>& n, bool expected, uint64_t index, const HouseholdProof& p,
                      bool before) {
  const char* field = before ? "before" : "after";
  if (!expected && n) return Bad(field, "is given, but there is no leaf on that side");
  if (!expected) return Status::Ok();
  if (!n) return Bad(field, fmt::format("is missing: the heads map has a leaf at index {}", index));
  if (n->index != index) return Bad(std::string(field) + ".index", fmt::format("is {}, must be {}", n->index, index));
  bool sorted = before ? n->leaf.household < p.household : n->leaf.household > p.household;
  if (!sorted) {
    return Bad(std::string(field) + ".household", fmt::format("\"{}\" does not sort {} \"{}\"", n->leaf.household,
                                                              before ? "before" : "after", p.household));
  }
  return CheckHeadsLeaf(*n, p.heads, field);
}

// The household's leaf and its neighbours: H is in the map once, or (no head) not at all.
Status CheckHeadsMap(const HouseholdProof& p) {
  uint64_t count = p.heads.count;
  if (p.head) {
    Status s = p.head->leaf.household == p.household
                   ? CheckHeadsLeaf(*p.head, p.heads, "head")
                   : Bad("head.household", fmt::format("is \"{}\", not \"{}\"", p.head->leaf.household, p.household));
    uint64_t i = p.head->index;
    if (s.ok()) s = CheckNeighbour(p.before, i > 0, i - 1, p, /*before=*/true);
    if (s.ok()) s = CheckNeighbour(p.after, i + 1 < count, i + 1, p, /*before=*/false);
    return s;
  }
  if (!p.entries.empty()) return Bad("entries", "are given for a household that is not in the heads map");
  if (count > 0 && !p.before && !p.after) return Bad("head", "is missing, and no neighbours show the household absent");
  // Absent: the neighbours are adjacent leaves around where it would sort (or an end of the map).
  Status s = p.before ? CheckNeighbour(p.before, true, p.before->index, p, /*before=*/true) : Status::Ok();
  uint64_t after_index = p.before ? p.before->index + 1 : 0;
  if (s.ok()) s = CheckNeighbour(p.after, after_index < count, after_index, p, /*before=*/false);
  return s;
}

// One entry of the household chain: in the log, of the household, linked to the previous one.
Status CheckChainEntry(const HouseholdProof& p, size_t k, uint64_t* prev_seq, Hash* prev_hash) {
  const EntryProof& e = p.entries[k];
  std::string field = fmt::format("entries[{}]", k);
  if (e.seq == 0) return Bad(field + ".seq", "must be at least 1");
  Hash leaf = LeafHash(AsBytes(e.entry));
  Status s = merkle::VerifyInclusion(e.seq - 1, p.tree_size, leaf, e.path, p.root);
  if (!s.ok()) return s.WithFieldPrefix(field);
  EntryReader reader;
  if (!(s = DecodeEntry(e.entry, e.seq, field + ".entry", &reader)).ok()) return s;
  auto entry = reader.entry();
  std::string household = entry.getEvent().getHouseholdId();
  if (household != p.household) {
    return Bad(field + ".entry", fmt::format("is an entry of household \"{}\", not \"{}\"", household, p.household));
  }
  bool linked = entry.getHouseholdPrevSeq() == *prev_seq &&
                entry.getHouseholdPrevHash() == capnp::Data::Reader(prev_hash->data(), prev_hash->size());
  if (!linked) {
    return Bad(field + ".entry", fmt::format("links to the household's entry seq {}, the entry before it is seq {}",
                                             entry.getHouseholdPrevSeq(), *prev_seq));
  }
  *prev_seq = e.seq;
  *prev_hash = leaf;
  return Status::Ok();
}

Status CheckHouseholdEntries(const HouseholdProof& p) {
  uint64_t prev_seq = 0;
  Hash prev_hash{};
  Status s;
  for (size_t k = 0; k < p.entries.size() && s.ok(); ++k) {
    KJ_IF_MAYBE (e, kj::runCatchingExceptions([&] { s = CheckChainEntry(p, k, &prev_seq, &prev_hash); })) {
      s = Bad(fmt::format("entries[{}].entry", k), std::string("does not read: ") + e->getDescription().cStr());
    }
  }
  if (!s.ok() || !p.head) return s;
  const HouseholdHead& head = p.head->leaf.head;
  if (p.entries.size() != head.version) {
    return Bad("entries",
               fmt::format("are {}, the signed head says the household has {}", p.entries.size(), head.version));
  }
  if (prev_seq != head.last_seq || prev_hash != head.last_hash) {
    return Bad("entries",
               fmt::format("end at seq {}, the signed head's last entry is seq {}", prev_seq, head.last_seq));
  }
  return Status::Ok();
}

Status CheckHousehold(const Proof& proof, const SignedCheckpoint* cp, std::string* summary) {
  const HouseholdProof& p = proof.household;
  if (!cp) return Bad("checkpoint", "a household proof needs the signed checkpoint: the heads root is in its note");
  Status s = CheckSigned(proof, p.tree_size, p.root, *cp, "treeSize", "root");
  if (s.ok() && p.heads != cp->heads) s = Bad("heads", "is not the household heads map the checkpoint signs");
  if (s.ok()) s = CheckHeadsMap(p);
  if (s.ok()) s = CheckHouseholdEntries(p);
  if (!s.ok()) return s;
  if (!p.head) {
    *summary = fmt::format("household {} has no entries in the log of {} (it is not in the signed heads map)",
                           p.household, LogOf(p.tree_size));
    return Status::Ok();
  }
  *summary = fmt::format("household {} has exactly these {} (seq {} to {}) in the log of {}", p.household,
                         Counted(p.entries.size(), "entry", "entries"), p.entries.front().seq, p.entries.back().seq,
                         LogOf(p.tree_size));
  return Status::Ok();
}

// A proof without "type" (as other RFC 6962 tooling writes them) by the field only its type has.
std::string InferredType(Fields& f) {
  if (f.Has("leafIdx")) return "inclusion";
  if (f.Has("size1")) return "consistency";
  if (f.Has("household")) return "household";
  f.Fail("type",
         "is missing, and the fields are not those of an inclusion (leafIdx), consistency (size1) or "
         "household (household) proof");
  return "";
}

}  // namespace

std::string ProofToJson(const Proof& proof) {
  switch (proof.type) {
    case ProofType::kInclusion: return InclusionJson(proof);
    case ProofType::kConsistency: return ConsistencyJson(proof);
    case ProofType::kHousehold: return HouseholdJson(proof);
  }
  return "";
}

Status ParseProof(std::string_view text, Proof* out) {
  Json json;
  Status s = Parser(text).Parse(&json);
  if (!s.ok()) return s;
  *out = Proof{};
  Fields f(json, "");
  std::string type = f.Has("type") ? f.Text("type") : InferredType(f);
  auto known = std::find(std::begin(kTypeNames), std::end(kTypeNames), type);
  if (!f.status().ok()) return f.status();
  if (known == std::end(kTypeNames)) {
    return Status::Invalid("type", fmt::format("is \"{}\", expected inclusion, consistency or household", type));
  }
  out->type = static_cast<ProofType>(known - std::begin(kTypeNames));
  out->origin = f.Text("origin", /*required=*/false);
  out->description = f.Text("desc", /*required=*/false);
  out->want_error = f.OptionalBool("wantErr");
  if (out->type == ProofType::kInclusion) ReadInclusion(f, &out->inclusion);
  if (out->type == ProofType::kConsistency) ReadConsistency(f, &out->consistency);
  if (out->type == ProofType::kHousehold) ReadHousehold(f, &out->household);
  return f.Finish();
}

Status CheckProof(const Proof& proof, const SignedCheckpoint* checkpoint, std::string* summary) {
  switch (proof.type) {
    case ProofType::kInclusion: return CheckInclusion(proof, checkpoint, summary);
    case ProofType::kConsistency: return CheckConsistency(proof, checkpoint, summary);
    case ProofType::kHousehold: return CheckHousehold(proof, checkpoint, summary);
  }
  return Status::Invalid("type", "unknown proof type");
}

}  // namespace ledger::evidence
