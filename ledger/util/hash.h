// SHA-256 hashes, HMAC keyed hashes and their text forms, over OpenSSL.
//
// The entry hash is the RFC 6962 leaf hash: SHA-256(0x00 ‖ canonical entry bytes), so that the
// same value serves as a Merkle-tree leaf. All functions are thread-safe.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

#include "benefit_ledger/format.h"  // Hex
#include "benefit_ledger/types.h"   // Hash

namespace ledger {

using Bytes = std::span<const uint8_t>;

inline Bytes AsBytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

Hash Sha256(Bytes data);
// RFC 6962 leaf hash: SHA-256(0x00 ‖ data). The hash of a log entry.
Hash LeafHash(Bytes entry_bytes);
// HMAC-SHA256(key, data).
Hash HmacSha256(Bytes key, Bytes data);
// Fills `out` with cryptographically random bytes; false if the generator failed.
bool RandomBytes(std::span<uint8_t> out);

// Hex: benefit_ledger/format.h.
// Parses exactly 64 hex digits; false on anything else.
bool ParseHexHash(std::string_view text, Hash* out);

}  // namespace ledger
