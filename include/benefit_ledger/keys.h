// Ed25519 keys in the text formats of c2sp.org/signed-note (as golang.org/x/mod/sumdb/note):
// the ledger's checkpoint key, and the keys actors sign their events with. Key texts:
//   verifier key  <name>+<key id, 8 hex digits>+<base64(0x01 || public key)>
//   signer key    PRIVATE+KEY+<name>+<key id, 8 hex digits>+<base64(0x01 || seed)>
// where the key id is the big-endian uint32 of the first 4 bytes of
// SHA-256(name || "\n" || 0x01 || public key). A seed is the 32-byte private key: whoever holds
// it can sign; nothing here stores keys. Also the checkpoint's fields (c2sp.org/tlog-checkpoint).
// All functions are thread-safe; the signing and the notes themselves are ledger/util/note.h.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "benefit_ledger/status.h"
#include "benefit_ledger/types.h"

namespace ledger::note {

using Seed = std::array<uint8_t, 32>;
using PublicKey = std::array<uint8_t, 32>;

// A signed note is at most this long (OpenNote reads no more); a checkpoint note is under 1 KiB.
inline constexpr size_t kMaxNoteBytes = 1 << 20;

// --- Named keys --------------------------------------------------------------------------------
bool IsValidKeyName(std::string_view name);
// SHA-256(name ‖ "\n" ‖ 0x01 ‖ public key), first 4 bytes, big-endian.
uint32_t KeyId(std::string_view name, const PublicKey& public_key);

struct KeyPair {
  std::string name;
  Seed seed{};
  PublicKey public_key{};
};

// The public half of a key: what a verifier is configured with.
struct Verifier {
  std::string name;
  PublicKey public_key{};
};

inline Verifier VerifierOf(const KeyPair& key) {
  return {key.name, key.public_key};
}

// A new key with a random seed. InvalidArgument for a bad name.
Status GenerateKey(std::string name, KeyPair* key);
// The key with the given seed (e.g. read from a secret store).
Status KeyPairFromSeed(std::string name, const Seed& seed, KeyPair* key);

// The key texts above. Formatting requires a valid name (as the functions above make).
std::string FormatVerifierKey(const Verifier& key);
std::string FormatSignerKey(const KeyPair& key);
// InvalidArgument naming the part at fault ("verifierKey.keyId", "signerKey.key", ...): bad name,
// key id not 8 hex digits, bad base64, algorithm byte not 0x01, key not 32 bytes, or a key id
// that does not match the name and key.
Status ParseVerifierKey(std::string_view text, Verifier* key);
Status ParseSignerKey(std::string_view text, KeyPair* key);

// --- Base64 (RFC 4648 §4, with padding) --------------------------------------------------------
std::string Base64(std::span<const uint8_t> data);
// False unless `text` is the canonical base64 text of some bytes; then sets *out to them.
bool ParseBase64(std::string_view text, std::string* out);

// A checkpoint: what a checkpoint note says (the signed text, note.h FormatCheckpoint).
struct Checkpoint {
  std::string origin;                        // the log's identity; by convention its key name
  uint64_t tree_size = 0;                    // number of leaves
  Hash root_hash{};                          // RFC 6962 root of the first tree_size leaves
  std::vector<std::string> extension_lines;  // opaque, without "\n"; usually none
};

}  // namespace ledger::note
