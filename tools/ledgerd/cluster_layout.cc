#include "cluster_layout.h"

#include <fmt/format.h>
#include <openssl/sha.h>

#include <algorithm>
#include <charconv>
#include <cstring>

#include "benefit_ledger/format.h"

namespace ledgerd::cluster {
namespace {

using ledger::Hash;
using ledger::Status;

constexpr std::string_view kGroupMagic = "BLG1", kManifestMagic = "BLM1";

void PutU32(std::string* out, uint32_t v) {
  for (int i = 3; i >= 0; --i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void PutU64(std::string* out, uint64_t v) {
  for (int i = 7; i >= 0; --i) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}
void PutHash(std::string* out, const Hash& h) {
  out->append(reinterpret_cast<const char*>(h.data()), h.size());
}

// Reads fixed-width fields off the front of a value; ok() false once any read ran past its end.
class Reader {
 public:
  explicit Reader(std::string_view bytes) : rest_(bytes) {}
  uint64_t Uint(size_t width) {
    if (!Take(width)) return 0;
    uint64_t v = 0;
    for (size_t i = 0; i < width; ++i) v = (v << 8) | static_cast<uint8_t>(taken_[i]);
    return v;
  }
  Hash HashField() {
    Hash h{};
    if (Take(h.size())) memcpy(h.data(), taken_.data(), h.size());
    return h;
  }
  std::string_view Bytes(size_t n) { return Take(n) ? taken_ : std::string_view(); }
  bool ok() const { return ok_; }
  size_t left() const { return rest_.size(); }

 private:
  bool Take(size_t n) {
    if (!ok_ || rest_.size() < n) return ok_ = false;
    taken_ = rest_.substr(0, n);
    rest_.remove_prefix(n);
    return true;
  }
  std::string_view rest_, taken_;
  bool ok_ = true;
};

std::string Seq20(uint64_t seq) {
  return fmt::format("{:020}", seq);
}

}  // namespace

std::string Prefix(std::string_view ledger_id) {
  return fmt::format("/benefit-ledger/{}/", ledger_id);
}

bool IsValidName(std::string_view name) {
  if (name.empty() || name.size() > 64) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == '-';
  });
}

std::string HeadKey(std::string_view p) {
  return std::string(p) + "head";
}
std::string LeaderKey(std::string_view p) {
  return std::string(p) + "leader";
}
std::string GroupsPrefix(std::string_view p) {
  return std::string(p) + "g/";
}
std::string GroupKey(std::string_view p, uint64_t first_seq) {
  return GroupsPrefix(p) + Seq20(first_seq);
}
std::string ChunksPrefix(std::string_view p) {
  return std::string(p) + "c/";
}
std::string ChunkPrefix(std::string_view p, uint64_t first_seq, int64_t term) {
  return fmt::format("{}{}/{:020}/", ChunksPrefix(p), Seq20(first_seq), term);
}
std::string ChunkKey(std::string_view p, uint64_t first_seq, int64_t term, size_t k) {
  return fmt::format("{}{:06}", ChunkPrefix(p, first_seq, term), k);
}
std::string MembersPrefix(std::string_view p) {
  return std::string(p) + "members/";
}
std::string MemberKey(std::string_view p, std::string_view node) {
  return MembersPrefix(p) + std::string(node);
}

uint64_t GroupKeySeq(std::string_view p, std::string_view key) {
  std::string groups = GroupsPrefix(p);
  if (key.size() != groups.size() + 20 || key.substr(0, groups.size()) != groups) return 0;
  uint64_t seq = 0;
  for (char c : key.substr(groups.size())) {
    if (c < '0' || c > '9') return 0;
    seq = seq * 10 + static_cast<uint64_t>(c - '0');
  }
  return seq;
}

std::string HashHex(const Hash& hash) {
  return ledger::Hex(hash);
}

std::string HeadText(uint64_t seq, const Hash& hash) {
  return fmt::format("{} {}", seq, HashHex(hash));
}

bool ParseHead(std::string_view text, uint64_t* seq, Hash* hash) {
  size_t space = text.find(' ');
  if (space == std::string_view::npos || space == 0 || space > 20 || text.size() != space + 1 + 64) return false;
  uint64_t n = 0;
  for (char c : text.substr(0, space)) {
    if (c < '0' || c > '9') return false;
    n = n * 10 + static_cast<uint64_t>(c - '0');
  }
  std::string_view hex = text.substr(space + 1);
  for (size_t i = 0; i < hash->size(); ++i) {
    auto digit = [](char c) { return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1; };
    int hi = digit(hex[2 * i]), lo = digit(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    (*hash)[i] = static_cast<uint8_t>(hi * 16 + lo);
  }
  *seq = n;
  return true;
}

std::string EncodeGroup(const ledger::GroupEntries& g) {
  size_t size = kGroupMagic.size() + 8 + 64 + 4;
  for (const auto& e : g.entries) size += 4 + e.size();
  std::string out;
  out.reserve(size);
  out.append(kGroupMagic);
  PutU64(&out, g.first_seq);
  PutHash(&out, g.prev_hash);
  PutHash(&out, g.last_hash);
  PutU32(&out, static_cast<uint32_t>(g.entries.size()));
  for (const auto& e : g.entries) {
    PutU32(&out, static_cast<uint32_t>(e.size()));
    out.append(e);
  }
  return out;
}

Status DecodeGroup(std::string_view bytes, ledger::GroupEntries* g) {
  if (bytes.substr(0, kGroupMagic.size()) != kGroupMagic) return Status::Corruption("not a group (no BLG1)");
  Reader r(bytes.substr(kGroupMagic.size()));
  g->first_seq = r.Uint(8);
  g->prev_hash = r.HashField();
  g->last_hash = r.HashField();
  uint64_t count = r.Uint(4);
  g->entries.clear();
  for (uint64_t i = 0; i < count && r.ok(); ++i) {
    std::string_view entry = r.Bytes(r.Uint(4));
    if (r.ok()) g->entries.emplace_back(entry);
  }
  if (!r.ok() || r.left() != 0 || g->first_seq == 0) {
    return Status::Corruption(fmt::format("group of seq {}: its bytes end {} ({} entries said)", g->first_seq,
                                          r.ok() ? "after its entries" : "inside an entry", count));
  }
  return Status::Ok();
}

bool IsManifest(std::string_view value) {
  return value.substr(0, kManifestMagic.size()) == kManifestMagic;
}

std::string EncodeManifest(const Manifest& m) {
  std::string out(kManifestMagic);
  PutU64(&out, m.first_seq);
  PutU64(&out, static_cast<uint64_t>(m.term));
  PutU32(&out, m.chunks);
  PutU64(&out, m.bytes);
  PutHash(&out, m.sha256);
  return out;
}

Status DecodeManifest(std::string_view value, Manifest* m) {
  if (!IsManifest(value)) return Status::Corruption("not a manifest (no BLM1)");
  Reader r(value.substr(kManifestMagic.size()));
  m->first_seq = r.Uint(8);
  m->term = static_cast<int64_t>(r.Uint(8));
  m->chunks = static_cast<uint32_t>(r.Uint(4));
  m->bytes = r.Uint(8);
  m->sha256 = r.HashField();
  if (!r.ok() || r.left() != 0) return Status::Corruption("a group manifest of the wrong length");
  return Status::Ok();
}

std::vector<std::string_view> Chunks(std::string_view bytes) {
  std::vector<std::string_view> out;
  for (size_t at = 0; at < bytes.size(); at += kInlineGroupBytesMax)
    out.push_back(bytes.substr(at, kInlineGroupBytesMax));
  return out;
}

Hash Sha256(std::string_view bytes) {
  Hash h{};
  SHA256(reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), h.data());
  return h;
}

std::string EncodeMember(const MemberRecord& m) {
  auto line = [](std::string_view key, std::string_view value) {
    std::string clean(value);
    std::replace(clean.begin(), clean.end(), '\n', ' ');  // One line per field.
    return fmt::format("{}={}\n", key, clean);
  };
  return line("node", m.node) + line("address", m.address) + line("role", m.role) +
         line("applied_seq", std::to_string(m.applied_seq)) + line("applied_hash", m.applied_hash) +
         line("error", m.error) + line("updated_unix_ms", std::to_string(m.updated_unix_ms));
}

MemberRecord DecodeMember(std::string_view text) {
  MemberRecord m;
  while (!text.empty()) {
    size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text.remove_prefix(end == std::string_view::npos ? text.size() : end + 1);
    size_t eq = line.find('=');
    if (eq == std::string_view::npos) continue;
    std::string_view key = line.substr(0, eq);
    std::string value(line.substr(eq + 1));
    auto number = [&] {
      int64_t n = 0;
      std::from_chars(value.data(), value.data() + value.size(), n);  // 0 unless a number.
      return n;
    };
    if (key == "node") m.node = value;
    if (key == "address") m.address = value;
    if (key == "role") m.role = value;
    if (key == "applied_seq") m.applied_seq = static_cast<uint64_t>(number());
    if (key == "applied_hash") m.applied_hash = value;
    if (key == "error") m.error = value;
    if (key == "updated_unix_ms") m.updated_unix_ms = number();
  }
  return m;
}

}  // namespace ledgerd::cluster
