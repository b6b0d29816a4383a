// Identity and bank-card numbers: masked, keyed-hashed, never stored in full.
//
// A writer gives the full number in a PersonId or BankCard's `number` field. Before anything is
// stored, ProtectNumbers replaces it by
//   masked    - PersonId: first 6 and last 4 characters (341502********1234);
//               BankCard: first 4 and last 4 digits (6228********1234);
//   keyedHash - HMAC-SHA256(ledger secret, "id:" ‖ number) or (…, "card:" ‖ number),
// and clears `number`. The keyed hash lets tools match the same person or card across
// households without the number, and without the secret nobody can test guesses against it.
// The secret is 32 random bytes made at `ledgerctl init`, kept in the ledger directory beside
// (not inside) the database, so a copy of the database alone does not reveal it.
#pragma once

#include <capnp/dynamic.h>

#include <string>
#include <string_view>

#include "ledger/core/state_machine.h"  // kSecretBytes
#include "ledger/util/hash.h"
#include "benefit_ledger/status.h"

namespace ledger {

// Finds every PersonId and BankCard in `message` (an event, at any depth) and protects its
// number. Errors name the field ("householdRegistered.members[1].person.number") and leave the
// message partly protected: callers drop it. A PersonId that arrives with `masked` or
// `keyedHash` already set is refused: those are the ledger's to set. A BankCard may instead name
// a card the ledger already knows by `keyedHash` and `masked` alone (as generated payment rolls
// do): it is marked `onFile`, and the rules (rules.h, payment.card) refuse it unless that card is
// on file for the household.
Status ProtectNumbers(capnp::DynamicStruct::Builder message, Bytes secret);

std::string MaskIdentityNumber(std::string_view number);
std::string MaskCardNumber(std::string_view number);

}  // namespace ledger
