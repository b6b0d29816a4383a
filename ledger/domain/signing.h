// Signed events: an actor who has registered an Ed25519 public key signs its approvals,
// rejections, payment rolls and corrections, so that the office running the ledger (which never
// holds actors' keys) cannot forge or alter them. The design, for people, is
// docs/SIGNED_APPROVALS.md; this header is where the signed bytes are defined, once.
//
// What is signed (SignedEventBytes), byte for byte:
//   "benefit-ledger event signature v1\n" ‖ CanonicalEvent(event with actorSignature cleared)
// where the event is the one the ledger stores: after identity.h's ProtectNumbers. An event
// signed by its actor therefore holds no identity or card number (the stored form would hold the
// ledger's keyed hash, which the signer cannot compute); a card may be named by reference
// (keyedHash and masked of a card on file), since that form does not depend on the secret.
//
// The rule (CheckSignature), the same on append and in verify:
//   - kinds approval, rejection, paymentRollIssued and correction by an actor with a key carry a
//     signature that verifies with that key; under every policy (authenticity is not a domain
//     finding: an unsigned or badly signed event is refused like a malformed one);
//   - every other event carries none (another kind, or an actor without a key): a signature
//     nobody can check is refused rather than stored;
//   - an amendment inside a correction carries none: the correction's signature covers it.
// Keys: ActorRegistered.publicKey and ActorKeySet, as verifier key texts (note.h) named after
// the actor. The key that counts is the one in force at the event's place in the log.
//
// Thread-safe, except LogSignatures (one per pass over the log).
#pragma once

#include <capnp/message.h>

#include <map>
#include <string>
#include <string_view>

#include "benefit_ledger/event.capnp.h"
#include "benefit_ledger/events.h"
#include "benefit_ledger/status.h"
#include "ledger/domain/state.h"
#include "ledger/util/note.h"

namespace ledger::signing {

// IsSignedKind and SignEvent: benefit_ledger/events.h.

// The first line of every signed message: a signature made for anything else never verifies.
inline constexpr std::string_view kEventSignatureContext = "benefit-ledger event signature v1\n";

// The message an actor signs for `event` (as stored); see above.
std::string SignedEventBytes(schema::Event::Reader event);

// Parses a publicKey field: a verifier key text named `actor_id`. InvalidArgument naming the
// part at fault ("verifierKey.keyId", ...) or "name" when the key is named after someone else.
Status ParseActorKey(std::string_view text, std::string_view actor_id, note::Verifier* key);

// What the ledger requires of `event`'s actorSignature when its actor has `key` (null: no key).
// InvalidArgument naming the field: "actorSignature" (missing, present where none may be, does
// not verify), "correction.amend.actorSignature", or the path of an identity or card number in
// an event that must be signed.
Status CheckSignature(schema::Event::Reader event, const note::Verifier* key);

// The append path: CheckSignature with the actor's key as the state holds it (state::ActorPublicKey).
Status CheckActorSignature(schema::Event::Reader event, state::StateTxn* txn);

// Verify's view: follows the actors' keys along the log, from the log alone (not the state,
// which is derived and could be altered). Feed it every entry's event in seq order.
class LogSignatures {
 public:
  // Checks `event`'s signature against the key its actor has at this point of the log, then
  // takes in the key the event registers or sets, if any.
  Status Check(schema::Event::Reader event);

 private:
  Status Learn(schema::Event::Reader event);
  std::map<std::string, note::Verifier> keys_;  // Actor id -> key in force.
};

}  // namespace ledger::signing
