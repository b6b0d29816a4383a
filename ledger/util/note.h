// Ed25519 signatures, and signed notes and transparency-log checkpoints in the text formats of
// c2sp.org/signed-note, c2sp.org/tlog-checkpoint and golang.org/x/mod/sumdb/note, over OpenSSL.
//
// Design. The ledger signs two kinds of things with Ed25519 (RFC 8032, PureEdDSA): events, by the
// actor who wrote them (the raw Sign / VerifySignature), and checkpoints (the size and Merkle root
// of the log at some moment) by the ledger's own key, as a signed note. Signed notes are the text
// format of public transparency logs, so an auditor can check a ledger checkpoint with any tool
// made for Go's checksum database or the witness network, and a witness can add its own line.
//
// Formats, byte for byte those of the Go note package (ASCII, "‖" is concatenation):
//   key id        big-endian uint32 of the first 4 bytes of SHA-256(name ‖ "\n" ‖ 0x01 ‖ public key)
//   verifier key  <name>+<key id, 8 hex digits>+<base64(0x01 ‖ public key)>
//   signer key    PRIVATE+KEY+<name>+<key id, 8 hex digits>+<base64(0x01 ‖ seed)>
//   signed note   text ending in "\n", a blank line, then one or more signature lines
//                 "— <name> <base64(key id ‖ 64-byte signature of the text)>\n" (U+2014 EM DASH)
//   checkpoint    the note text "<origin>\n<tree size, decimal>\n<base64 root hash>\n", then
//                 optional non-empty extension lines
// Base64 is RFC 4648 §4 with padding. Parsing is strict: only the canonical text of a value is
// accepted (no line breaks, no stray padding bits, no leading zeros), so every value has exactly
// one text. Key names are non-empty UTF-8 with no Unicode space, no '+' and no control character.
//
// Opening a note follows the spec: the text ends at the last blank line; signature lines by other
// keys are ignored (witnesses, key rotation) but must be well formed; the first line whose name
// and key id match the given key decides, and the note is rejected unless it verifies.
//
// A seed is the 32-byte Ed25519 private key: whoever holds it can sign. Nothing here stores keys.
// All functions are thread-safe.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "benefit_ledger/keys.h"
#include "benefit_ledger/status.h"
#include "ledger/util/hash.h"

namespace ledger::note {

// Keys, their texts, Base64 and the Checkpoint struct: benefit_ledger/keys.h.

using Signature = std::array<uint8_t, 64>;

// Limits on what OpenNote and ParseCheckpoint read: kMaxNoteBytes (keys.h), and
inline constexpr size_t kMaxSignatureLines = 100;  // as the Go note package

// --- Raw Ed25519 -------------------------------------------------------------------------------
// The only failures are OpenSSL's (allocation); they come back as IOError.
Status PublicKeyFromSeed(const Seed& seed, PublicKey* public_key);
Status Sign(const Seed& seed, Bytes message, Signature* signature);
// True if `signature` is a valid signature of `message` under `public_key` (RFC 8032, with
// OpenSSL's checks: canonical S, valid point encodings).
bool VerifySignature(const PublicKey& public_key, Bytes message, const Signature& signature);

// --- Signed notes ------------------------------------------------------------------------------
// Signs `text` with `key` and sets *note to the signed note. InvalidArgument unless the text is
// non-empty, ends in "\n", is valid UTF-8 with no control character but "\n", and fits with its
// signature in kMaxNoteBytes; or unless the key's public key matches its seed.
Status SignNote(std::string_view text, const KeyPair& key, std::string* note);
// Checks `note` and sets *text to the signed text (with its final "\n"). Errors:
//   InvalidArgument  malformed note: not UTF-8, control characters, no blank line before the
//                    signatures, a malformed signature line (by any key), too many lines or bytes;
//   NotFound         no signature line with `key`'s name and key id;
//   Corruption       the signature by `key` does not verify.
Status OpenNote(std::string_view note, const Verifier& key, std::string* text);

// --- Checkpoints -------------------------------------------------------------------------------

// Sets *body to the checkpoint's note text. InvalidArgument ("checkpoint.origin",
// "checkpoint.extensionLines[i]") for an empty line, or one with "\n", another control character
// or invalid UTF-8.
Status FormatCheckpoint(const Checkpoint& checkpoint, std::string* body);
// Parses a checkpoint note text (as OpenNote returns it). InvalidArgument naming the line at fault
// for: fewer than three lines, no final "\n", empty origin, a tree size that is not canonical
// decimal (sign, leading zero, other characters, above 2^64-1), a root that is not canonical
// base64 of 32 bytes, an empty extension line, control characters or invalid UTF-8.
Status ParseCheckpoint(std::string_view body, Checkpoint* checkpoint);

}  // namespace ledger::note
