#include "ledger/util/hash.h"

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/params.h>
#include <openssl/rand.h>

#include <cstdlib>
#include <initializer_list>
#include <memory>
#include <string>

namespace ledger {

namespace {

// OpenSSL 3 looks an algorithm up on every EVP_sha256()-style call and allocates a context per
// digest; at hundreds of thousands of hashes a second that costs more than the hashing. So the
// digest is fetched once and each thread reuses one context (and one HMAC context per key).
const EVP_MD* Sha256Algorithm() {
  static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  if (md == nullptr) abort();  // No SHA-256: the ledger cannot work at all.
  return md;
}

EVP_MD_CTX* ThreadDigestContext() {
  thread_local std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (ctx == nullptr) abort();
  return ctx.get();
}

// SHA-256 over the concatenation of `parts`. Hashing memory cannot fail short of allocation
// failure; a ledger must not go on without it.
Hash DigestOf(std::initializer_list<Bytes> parts) {
  EVP_MD_CTX* ctx = ThreadDigestContext();
  Hash out;
  unsigned int len = 0;
  bool ok = EVP_DigestInit_ex(ctx, Sha256Algorithm(), nullptr) == 1;
  for (Bytes part : parts) ok = ok && EVP_DigestUpdate(ctx, part.data(), part.size()) == 1;
  ok = ok && EVP_DigestFinal_ex(ctx, out.data(), &len) == 1 && len == out.size();
  if (!ok) abort();
  return out;
}

struct HmacContext {
  std::unique_ptr<EVP_MAC, decltype(&EVP_MAC_free)> mac{EVP_MAC_fetch(nullptr, "HMAC", nullptr), EVP_MAC_free};
  std::unique_ptr<EVP_MAC_CTX, decltype(&EVP_MAC_CTX_free)> ctx{mac ? EVP_MAC_CTX_new(mac.get()) : nullptr,
                                                                EVP_MAC_CTX_free};
  std::string key;  // The key ctx was initialised with.
  bool keyed = false;
};

}  // namespace

Hash Sha256(Bytes data) {
  return DigestOf({data});
}

Hash LeafHash(Bytes entry_bytes) {
  static constexpr uint8_t kLeafPrefix = 0x00;
  return DigestOf({Bytes(&kLeafPrefix, 1), entry_bytes});
}

Hash HmacSha256(Bytes key, Bytes data) {
  thread_local HmacContext h;
  if (h.ctx == nullptr) abort();
  std::string_view key_text(reinterpret_cast<const char*>(key.data()), key.size());
  bool ok = true;
  if (!h.keyed || h.key != key_text) {  // A new key: set it (and the digest) once.
    char digest[] = "SHA256";
    OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string("digest", digest, 0), OSSL_PARAM_construct_end()};
    ok = EVP_MAC_init(h.ctx.get(), key.data(), key.size(), params) == 1;
    h.key.assign(key_text);
    h.keyed = ok;
  } else {
    ok = EVP_MAC_init(h.ctx.get(), nullptr, 0, nullptr) == 1;  // Same key: restart.
  }
  Hash out;
  size_t len = 0;
  ok = ok && EVP_MAC_update(h.ctx.get(), data.data(), data.size()) == 1 &&
       EVP_MAC_final(h.ctx.get(), out.data(), &len, out.size()) == 1 && len == out.size();
  if (!ok) abort();
  return out;
}

bool RandomBytes(std::span<uint8_t> out) {
  return RAND_bytes(out.data(), static_cast<int>(out.size())) == 1;
}

std::string Hex(Bytes data) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(data.size() * 2);
  for (uint8_t b : data) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 0xf]);
  }
  return out;
}

static int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool ParseHexHash(std::string_view text, Hash* out) {
  if (text.size() != 64) return false;
  for (size_t i = 0; i < 32; ++i) {
    int hi = HexValue(text[2 * i]), lo = HexValue(text[2 * i + 1]);
    if (hi < 0 || lo < 0) return false;
    (*out)[i] = static_cast<uint8_t>(hi << 4 | lo);
  }
  return true;
}

}  // namespace ledger
