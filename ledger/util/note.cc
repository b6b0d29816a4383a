#include "ledger/util/note.h"

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include <algorithm>
#include <charconv>
#include <memory>
#include <optional>
#include <utility>

#include "ledger/util/assert.h"
#include "ledger/util/formats.h"

namespace ledger::note {
namespace {

constexpr uint8_t kAlgEd25519 = 0x01;
constexpr std::string_view kSignerKeyPrefix = "PRIVATE+KEY+";
constexpr std::string_view kSignatureLinePrefix = "\u2014 ";  // EM DASH, space
constexpr size_t kKeyIdBytes = 4;

// --- OpenSSL ---

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct MdCtxFree {
  void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;

// OpenSSL's error, taken off this thread's error queue so that it does not confuse later calls.
Status OpenSslError(std::string_view what) {
  char buf[256] = "unknown error";
  unsigned long code = ERR_peek_last_error();
  if (code != 0) ERR_error_string_n(code, buf, sizeof(buf));
  ERR_clear_error();
  return Status::IOError("OpenSSL: " + std::string(what) + ": " + buf);
}

// EVP one-shot calls want a non-null pointer even for an empty message.
const uint8_t* DataOrEmpty(Bytes b) {
  static const uint8_t kEmpty = 0;
  return b.empty() ? &kEmpty : b.data();
}

PkeyPtr PrivateKey(const Seed& seed) {
  return PkeyPtr(EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, nullptr, seed.data(), seed.size()));
}

// --- Text helpers ---

// Splits at the first `sep`: ("a+b+c", '+') -> "a", "b+c". Without `sep`: s, "".
std::pair<std::string_view, std::string_view> Chop(std::string_view s, char sep) {
  size_t i = s.find(sep);
  if (i == std::string_view::npos) return {s, {}};
  return {s.substr(0, i), s.substr(i + 1)};
}

// The code point at s[*i] of valid UTF-8; advances *i past it.
uint32_t NextCodePoint(std::string_view s, size_t* i) {
  auto c = static_cast<unsigned char>(s[*i]);
  size_t len = c < 0x80 ? 1 : c < 0xe0 ? 2 : c < 0xf0 ? 3 : 4;
  uint32_t cp = len == 1 ? c : len == 2 ? c & 0x1f : len == 3 ? c & 0x0f : c & 0x07;
  for (size_t k = 1; k < len; ++k) cp = cp << 6 | (static_cast<unsigned char>(s[*i + k]) & 0x3f);
  *i += len;
  return cp;
}

// Unicode White_Space, as Go's unicode.IsSpace (which the note package uses for names).
bool IsUnicodeSpace(uint32_t cp) {
  return (cp >= 0x09 && cp <= 0x0d) || cp == 0x20 || cp == 0x85 || cp == 0xa0 || cp == 0x1680 ||
         (cp >= 0x2000 && cp <= 0x200a) || cp == 0x2028 || cp == 0x2029 || cp == 0x202f || cp == 0x205f || cp == 0x3000;
}

// Valid UTF-8 without ASCII control characters other than newline (the signed-note rule). On
// failure, says why and where.
bool IsNoteText(std::string_view text, std::string* why) {
  size_t bad = 0;
  if (!IsValidUtf8(text, &bad)) {
    *why = "invalid UTF-8 at byte " + std::to_string(bad);
    return false;
  }
  for (size_t i = 0; i < text.size(); ++i) {
    if (static_cast<unsigned char>(text[i]) < 0x20 && text[i] != '\n') {
      *why = "control character at byte " + std::to_string(i);
      return false;
    }
  }
  return true;
}

std::array<uint8_t, kKeyIdBytes> BigEndian(uint32_t v) {
  return {static_cast<uint8_t>(v >> 24), static_cast<uint8_t>(v >> 16), static_cast<uint8_t>(v >> 8),
          static_cast<uint8_t>(v)};
}

std::string KeyIdHex(uint32_t key_id) {
  return Hex(BigEndian(key_id));
}

std::string KeyLabel(std::string_view name, uint32_t key_id) {
  return std::string(name) + "+" + KeyIdHex(key_id);
}

// Exactly 8 hex digits, either case (as the Go package).
bool ParseKeyIdHex(std::string_view text, uint32_t* key_id) {
  if (text.size() != 8) return false;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, *key_id, 16);
  return ec == std::errc() && ptr == end;
}

std::string AlgorithmKeyBase64(const std::array<uint8_t, 32>& key) {
  std::array<uint8_t, 33> raw;
  raw[0] = kAlgEd25519;
  std::copy(key.begin(), key.end(), raw.begin() + 1);
  std::string text = Base64(raw);
  OPENSSL_cleanse(raw.data(), raw.size());  // may be a seed
  return text;
}

// The parts of "<name>+<key id>+<base64(0x01 ‖ 32-byte key)>", checked but for the key id's match.
// `field` names the text in errors ("verifierKey").
Status ParseKeyParts(std::string_view text, const std::string& field, std::string* name, uint32_t* key_id,
                     std::array<uint8_t, 32>* key) {
  auto [name_text, rest] = Chop(text, '+');
  auto [id_text, key_text] = Chop(rest, '+');
  if (!IsValidKeyName(name_text)) {
    return Status::Invalid(field + ".name", "must be non-empty UTF-8 without spaces, '+' or control characters");
  }
  if (!ParseKeyIdHex(id_text, key_id)) return Status::Invalid(field + ".keyId", "must be 8 hex digits");
  std::string raw;
  if (!ParseBase64(key_text, &raw)) return Status::Invalid(field + ".key", "not canonical base64");
  Status s;
  if (raw.empty() || static_cast<uint8_t>(raw[0]) != kAlgEd25519) {
    s = Status::Invalid(field + ".key", "algorithm byte must be 0x01 (Ed25519)");
  } else if (raw.size() != 1 + key->size()) {
    s = Status::Invalid(field + ".key", "Ed25519 key has " + std::to_string(raw.size() - 1) + " bytes, want 32");
  } else {
    std::copy(raw.begin() + 1, raw.end(), key->begin());
    *name = name_text;
  }
  OPENSSL_cleanse(raw.data(), raw.size());  // may be a seed
  return s;
}

Status CheckKeyId(const std::string& field, uint32_t key_id, std::string_view name, const PublicKey& public_key) {
  uint32_t want = KeyId(name, public_key);
  if (key_id == want) return Status::Ok();
  return Status::Invalid(field + ".keyId",
                         "key id " + KeyIdHex(key_id) + " does not match the name and key (" + KeyIdHex(want) + ")");
}

// --- Signature lines ---

struct SignatureLine {
  std::string_view name;
  uint32_t key_id = 0;
  std::string signature;  // the bytes after the key id
};

// "— <name> <base64(key id ‖ signature)>" (without "\n"); the reason on failure.
Status ParseSignatureLine(std::string_view line, SignatureLine* out) {
  if (!line.starts_with(kSignatureLinePrefix)) return Status::Invalid("", "does not start with \"— \"");
  auto [name, b64] = Chop(line.substr(kSignatureLinePrefix.size()), ' ');
  if (!IsValidKeyName(name)) return Status::Invalid("", "bad key name");
  std::string blob;
  if (b64.empty() || !ParseBase64(b64, &blob)) return Status::Invalid("", "signature is not canonical base64");
  if (blob.size() <= kKeyIdBytes) return Status::Invalid("", "signature has no bytes after the key id");
  out->name = name;
  out->key_id = 0;
  for (size_t i = 0; i < kKeyIdBytes; ++i) out->key_id = out->key_id << 8 | static_cast<uint8_t>(blob[i]);
  out->signature = blob.substr(kKeyIdBytes);
  return Status::Ok();
}

// Splits a note into its text (with the final "\n") and signature block (lines ending in "\n").
Status SplitNote(std::string_view note, std::string_view* text, std::string_view* signatures) {
  std::string why;
  if (note.size() > kMaxNoteBytes) return Status::Invalid("note", "longer than " + std::to_string(kMaxNoteBytes));
  if (!IsNoteText(note, &why)) return Status::Invalid("note", why);
  size_t split = note.rfind("\n\n");
  if (split == std::string_view::npos) return Status::Invalid("note", "no blank line before the signatures");
  *text = note.substr(0, split + 1);
  *signatures = note.substr(split + 2);
  if (signatures->empty()) return Status::Invalid("note", "no signature lines after the last blank line");
  if (signatures->back() != '\n') return Status::Invalid("note", "the last signature line does not end in a newline");
  return Status::Ok();
}

// --- Base64 ---

int Base64Value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == '/') return 63;
  return -1;
}

// One 4-character group; `pad` of its characters (at the end, last group only) are '='.
bool DecodeBase64Group(std::string_view group_text, size_t pad, std::string* out) {
  uint32_t group = 0;
  for (size_t k = 0; k < 4 - pad; ++k) {
    int v = Base64Value(group_text[k]);
    if (v < 0) return false;
    group = group << 6 | static_cast<uint32_t>(v);
  }
  group <<= 6 * pad;
  // Canonical text only: the bits below the last whole byte must be zero.
  if ((pad == 1 && (group & 0xff) != 0) || (pad == 2 && (group & 0xffff) != 0)) return false;
  out->push_back(static_cast<char>(group >> 16));
  if (pad < 2) out->push_back(static_cast<char>(group >> 8 & 0xff));
  if (pad < 1) out->push_back(static_cast<char>(group & 0xff));
  return true;
}

// --- Checkpoints ---

Status CheckCheckpointLine(std::string_view line, const std::string& field) {
  std::string why;
  if (line.empty()) return Status::Invalid(field, "must not be empty");
  if (line.find('\n') != std::string_view::npos) return Status::Invalid(field, "must not contain a newline");
  if (!IsNoteText(line, &why)) return Status::Invalid(field, why);
  return Status::Ok();
}

Status ParseTreeSize(std::string_view text, uint64_t* tree_size) {
  const std::string field = "checkpoint.treeSize";
  if (text.empty()) return Status::Invalid(field, "line 2 is empty");
  for (char c : text) {
    if (c < '0' || c > '9') return Status::Invalid(field, "line 2 is not a decimal number");
  }
  if (text.size() > 1 && text[0] == '0') return Status::Invalid(field, "line 2 has a leading zero");
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, *tree_size);
  if (ec != std::errc() || ptr != end) return Status::Invalid(field, "line 2 is above 2^64-1");
  return Status::Ok();
}

Status ParseRootHash(std::string_view text, Hash* root_hash) {
  std::string raw;
  if (!ParseBase64(text, &raw)) return Status::Invalid("checkpoint.rootHash", "line 3 is not canonical base64");
  if (raw.size() != root_hash->size()) {
    return Status::Invalid("checkpoint.rootHash", "line 3 has " + std::to_string(raw.size()) + " bytes, want 32");
  }
  std::copy(raw.begin(), raw.end(), root_hash->begin());
  return Status::Ok();
}

// The lines of `body`, which ends in "\n", without their "\n".
std::vector<std::string_view> Lines(std::string_view body) {
  std::vector<std::string_view> lines;
  while (!body.empty()) {
    size_t end = body.find('\n');
    lines.push_back(body.substr(0, end));
    body.remove_prefix(end + 1);
  }
  return lines;
}

}  // namespace

// --- Raw Ed25519 ---

Status PublicKeyFromSeed(const Seed& seed, PublicKey* public_key) {
  PkeyPtr pkey = PrivateKey(seed);
  size_t len = public_key->size();
  if (pkey == nullptr || EVP_PKEY_get_raw_public_key(pkey.get(), public_key->data(), &len) != 1) {
    return OpenSslError("Ed25519 key from seed");
  }
  LEDGER_ASSERT(len == public_key->size(), "Ed25519 public key of {} bytes", len);
  return Status::Ok();
}

Status Sign(const Seed& seed, Bytes message, Signature* signature) {
  PkeyPtr pkey = PrivateKey(seed);
  MdCtxPtr ctx(EVP_MD_CTX_new());
  size_t len = signature->size();
  // PureEdDSA: no digest, and only the one-shot EVP_DigestSign (no Update/Final).
  bool ok = pkey != nullptr && ctx != nullptr &&
            EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, pkey.get()) == 1 &&
            EVP_DigestSign(ctx.get(), signature->data(), &len, DataOrEmpty(message), message.size()) == 1;
  if (!ok) return OpenSslError("Ed25519 sign");
  LEDGER_ASSERT(len == signature->size(), "Ed25519 signature of {} bytes", len);
  return Status::Ok();
}

bool VerifySignature(const PublicKey& public_key, Bytes message, const Signature& signature) {
  PkeyPtr pkey(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, public_key.data(), public_key.size()));
  MdCtxPtr ctx(EVP_MD_CTX_new());
  bool ok = pkey != nullptr && ctx != nullptr &&
            EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, pkey.get()) == 1 &&
            EVP_DigestVerify(ctx.get(), signature.data(), signature.size(), DataOrEmpty(message), message.size()) == 1;
  if (!ok) ERR_clear_error();  // a bad signature or key may leave errors on the queue
  return ok;
}

// --- Named keys ---

bool IsValidKeyName(std::string_view name) {
  if (name.empty() || !IsValidUtf8(name, nullptr)) return false;
  for (size_t i = 0; i < name.size();) {
    uint32_t cp = NextCodePoint(name, &i);
    if (cp < 0x20 || cp == '+' || IsUnicodeSpace(cp)) return false;
  }
  return true;
}

uint32_t KeyId(std::string_view name, const PublicKey& public_key) {
  std::string input(name);
  input.push_back('\n');
  input.push_back(static_cast<char>(kAlgEd25519));
  input.append(public_key.begin(), public_key.end());
  Hash h = Sha256(AsBytes(input));
  return uint32_t{h[0]} << 24 | uint32_t{h[1]} << 16 | uint32_t{h[2]} << 8 | h[3];
}

Status GenerateKey(std::string name, KeyPair* key) {
  Seed seed;
  if (!RandomBytes(seed)) return OpenSslError("random seed");
  Status s = KeyPairFromSeed(std::move(name), seed, key);
  OPENSSL_cleanse(seed.data(), seed.size());
  return s;
}

Status KeyPairFromSeed(std::string name, const Seed& seed, KeyPair* key) {
  if (!IsValidKeyName(name)) {
    return Status::Invalid("key.name", "must be non-empty UTF-8 without spaces, '+' or control characters");
  }
  PublicKey public_key;
  Status s = PublicKeyFromSeed(seed, &public_key);
  if (!s.ok()) return s;
  key->name = std::move(name);
  key->seed = seed;
  key->public_key = public_key;
  return Status::Ok();
}

std::string FormatVerifierKey(const Verifier& key) {
  LEDGER_ASSERT(IsValidKeyName(key.name), "key name \"{}\" was not checked", key.name);
  return KeyLabel(key.name, KeyId(key.name, key.public_key)) + "+" + AlgorithmKeyBase64(key.public_key);
}

std::string FormatSignerKey(const KeyPair& key) {
  LEDGER_ASSERT(IsValidKeyName(key.name), "key name \"{}\" was not checked", key.name);
  return std::string(kSignerKeyPrefix) + KeyLabel(key.name, KeyId(key.name, key.public_key)) + "+" +
         AlgorithmKeyBase64(key.seed);
}

Status ParseVerifierKey(std::string_view text, Verifier* key) {
  Verifier v;
  uint32_t key_id = 0;
  Status s = ParseKeyParts(text, "verifierKey", &v.name, &key_id, &v.public_key);
  if (s.ok()) s = CheckKeyId("verifierKey", key_id, v.name, v.public_key);
  if (s.ok()) *key = std::move(v);
  return s;
}

Status ParseSignerKey(std::string_view text, KeyPair* key) {
  if (!text.starts_with(kSignerKeyPrefix)) return Status::Invalid("signerKey", "does not start with PRIVATE+KEY+");
  std::string name;
  uint32_t key_id = 0;
  Seed seed;
  KeyPair pair;
  Status s = ParseKeyParts(text.substr(kSignerKeyPrefix.size()), "signerKey", &name, &key_id, &seed);
  // The key id is over the public key: derive it from the seed first.
  if (s.ok()) s = KeyPairFromSeed(name, seed, &pair);
  if (s.ok()) s = CheckKeyId("signerKey", key_id, pair.name, pair.public_key);
  if (s.ok()) *key = std::move(pair);
  OPENSSL_cleanse(seed.data(), seed.size());
  OPENSSL_cleanse(pair.seed.data(), pair.seed.size());
  return s;
}

// --- Base64 ---

std::string Base64(Bytes data) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((data.size() + 2) / 3 * 4);
  for (size_t i = 0; i < data.size(); i += 3) {
    size_t n = std::min<size_t>(3, data.size() - i);
    uint32_t group = uint32_t{data[i]} << 16;
    if (n > 1) group |= uint32_t{data[i + 1]} << 8;
    if (n > 2) group |= data[i + 2];
    for (size_t k = 0; k < 4; ++k) out.push_back(k <= n ? kAlphabet[group >> (18 - 6 * k) & 0x3f] : '=');
  }
  return out;
}

bool ParseBase64(std::string_view text, std::string* out) {
  if (text.size() % 4 != 0) return false;
  std::string bytes;
  bytes.reserve(text.size() / 4 * 3);
  for (size_t i = 0; i < text.size(); i += 4) {
    std::string_view group = text.substr(i, 4);
    size_t pad = 0;
    if (i + 4 == text.size() && group[3] == '=') pad = group[2] == '=' ? 2 : 1;
    if (!DecodeBase64Group(group, pad, &bytes)) return false;
  }
  *out = std::move(bytes);
  return true;
}

// --- Signed notes ---

Status SignNote(std::string_view text, const KeyPair& key, std::string* note) {
  std::string why;
  if (text.empty() || text.back() != '\n') return Status::Invalid("note", "text must end in a newline");
  if (!IsNoteText(text, &why)) return Status::Invalid("note", why);
  if (!IsValidKeyName(key.name)) return Status::Invalid("key.name", "not a valid key name");
  PublicKey public_key;
  Status s = PublicKeyFromSeed(key.seed, &public_key);
  if (!s.ok()) return s;
  if (public_key != key.public_key) return Status::Invalid("key", "public key does not match the seed");
  Signature signature;
  s = Sign(key.seed, AsBytes(text), &signature);
  if (!s.ok()) return s;

  std::array<uint8_t, kKeyIdBytes + 64> blob;
  auto id = BigEndian(KeyId(key.name, key.public_key));
  std::copy(id.begin(), id.end(), blob.begin());
  std::copy(signature.begin(), signature.end(), blob.begin() + kKeyIdBytes);
  std::string out(text);
  out += "\n";
  out += kSignatureLinePrefix;
  out += key.name + " " + Base64(blob) + "\n";
  if (out.size() > kMaxNoteBytes) return Status::Invalid("note", "longer than " + std::to_string(kMaxNoteBytes));
  *note = std::move(out);
  return Status::Ok();
}

Status OpenNote(std::string_view note, const Verifier& key, std::string* text) {
  std::string_view body, block;
  Status s = SplitNote(note, &body, &block);
  if (!s.ok()) return s;
  const uint32_t key_id = KeyId(key.name, key.public_key);
  std::optional<std::string> match;  // the signature of the first line by `key`
  for (size_t n = 1; !block.empty(); ++n) {
    if (n > kMaxSignatureLines) return Status::Invalid("note", "more than 100 signature lines");
    size_t end = block.find('\n');
    SignatureLine line;
    s = ParseSignatureLine(block.substr(0, end), &line);
    if (!s.ok()) return Status::Invalid("note", "signature line " + std::to_string(n) + ": " + s.reason());
    block.remove_prefix(end + 1);
    if (!match && line.name == key.name && line.key_id == key_id) match = std::move(line.signature);
  }
  const std::string label = KeyLabel(key.name, key_id);
  if (!match) return Status::NotFound("no signature by key " + label, "note");
  Signature signature;
  if (match->size() != signature.size()) {
    return Status::Corruption("note: signature by key " + label + " has " + std::to_string(match->size()) +
                              " bytes, want 64");
  }
  std::copy(match->begin(), match->end(), signature.begin());
  if (!VerifySignature(key.public_key, AsBytes(body), signature)) {
    return Status::Corruption("note: signature by key " + label + " does not verify");
  }
  *text = body;
  return Status::Ok();
}

// --- Checkpoints ---

Status FormatCheckpoint(const Checkpoint& checkpoint, std::string* body) {
  Status s = CheckCheckpointLine(checkpoint.origin, "checkpoint.origin");
  for (size_t i = 0; s.ok() && i < checkpoint.extension_lines.size(); ++i) {
    s = CheckCheckpointLine(checkpoint.extension_lines[i], "checkpoint.extensionLines[" + std::to_string(i) + "]");
  }
  if (!s.ok()) return s;
  std::string out =
      checkpoint.origin + "\n" + std::to_string(checkpoint.tree_size) + "\n" + Base64(checkpoint.root_hash) + "\n";
  for (const std::string& line : checkpoint.extension_lines) out += line + "\n";
  *body = std::move(out);
  return Status::Ok();
}

Status ParseCheckpoint(std::string_view body, Checkpoint* checkpoint) {
  std::string why;
  if (body.size() > kMaxNoteBytes) return Status::Invalid("checkpoint", "longer than " + std::to_string(kMaxNoteBytes));
  if (!IsNoteText(body, &why)) return Status::Invalid("checkpoint", why);
  if (body.empty() || body.back() != '\n') return Status::Invalid("checkpoint", "does not end in a newline");
  std::vector<std::string_view> lines = Lines(body);
  if (lines.size() < 3) return Status::Invalid("checkpoint", "fewer than 3 lines");
  Checkpoint c;
  if (lines[0].empty()) return Status::Invalid("checkpoint.origin", "line 1 is empty");
  c.origin = lines[0];
  Status s = ParseTreeSize(lines[1], &c.tree_size);
  if (s.ok()) s = ParseRootHash(lines[2], &c.root_hash);
  for (size_t i = 3; s.ok() && i < lines.size(); ++i) {
    if (lines[i].empty()) {
      return Status::Invalid("checkpoint.extensionLines[" + std::to_string(i - 3) + "]",
                             "line " + std::to_string(i + 1) + " is empty");
    }
    c.extension_lines.emplace_back(lines[i]);
  }
  if (s.ok()) *checkpoint = std::move(c);
  return s;
}

}  // namespace ledger::note
