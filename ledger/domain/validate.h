// Structural validation of an event: every field in its format, every required field present.
//
// The rules follow the naming conventions of benefit_ledger/event.capnp, so a new field is checked as
// soon as it is named by them:
//   *Id (Text)          identifier (formats.h IsValidId), required; householdId per event kind
//   regionCode          12-digit region code, required
//   regionPrefix, jurisdiction   region prefix; countyCode: 6-digit prefix
//   other Text          free text (IsValidText), optional
//   *Fen (Int64)        0 ..kMaxAmountFen
//   *Date (UInt32)      YYYYMMDD calendar date from 1990 (birthDate: 1880), required except
//                       reviewDueDate
//   *Period, period     YYYYMM, required
//   enums               the value "unspecified" (0) is "required"
//   PersonId, BankCard  present, protected (masked + keyedHash set, number cleared)
//   publicKey (Text)    empty, or a verifier key text (note.h)
//   *Signature (Data)   empty, or 64 bytes (an Ed25519 signature; signing.h checks it)
//   lists               at most kMaxListItems items
// Household scope: most kinds are about one household and need householdId; standardChanged,
// paymentRollIssued, fundsAllocated, relativeDeclared, actorRegistered, approvalLevelSet and
// actorKeySet must not have one;
// a correction has the household of the event it corrects (checked by the ledger on append).
// The ledger's own kinds (genesis.h: ledgerGenesis, checkpointKeySet) have no household, no
// region code and no signature.
//
// This is structure only; the domain rules (procedure, standards, payments) are the rules
// module's. Pure, thread-safe.
#pragma once

#include <optional>
#include <string>

#include "benefit_ledger/event.capnp.h"
#include "benefit_ledger/status.h"
#include "ledger/core/entry.h"  // KindName

namespace ledger {

inline constexpr unsigned kMaxListItems = 1000;

// Checks a protected event (see identity.h). Errors name the field path.
Status ValidateEvent(schema::Event::Reader event);

// The kind's first money field (*Fen), for summaries; nullopt if the kind has none.
std::optional<int64_t> AmountFenOf(schema::Event::Reader event);

}  // namespace ledger
