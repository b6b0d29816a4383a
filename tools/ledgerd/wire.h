// The library's values on ledgerd's wire (ledgerd.capnp) and back: a Status as a Failure, an
// AppendResult as an AppendOutcome. Used by the server and by its clients (ledgerctl --server,
// the tests), so that both ends word results alike. Pure functions; thread-safe.
#pragma once

#include <capnp/message.h>

#include <vector>

#include "benefit_ledger/event.capnp.h"
#include "benefit_ledger/status.h"
#include "benefit_ledger/types.h"
#include "tools/ledgerd/ledgerd.capnp.h"

namespace ledgerd {

void ToWire(const ledger::Status& s, rpc::Failure::Builder out);
ledger::Status FromWire(rpc::Failure::Reader failure);

void ToWire(const ledger::AppendResult& r, rpc::AppendOutcome::Builder out);
ledger::AppendResult FromWire(rpc::AppendOutcome::Reader outcome);

// Copies a received event into `out` (its root) field by field, as this build's schema knows
// the fields, so that the stored event is what ParseEventJson would make of it: data a newer
// schema (or a forger) put beyond the known fields is dropped, not hashed into an entry unseen.
// Refuses, as the JSON path does, text that is not text: a NUL in it, or invalid UTF-8
// (InvalidArgument naming the field, e.g. "householdRegistered.members[0].name").
ledger::Status CopyEvent(ledger::schema::Event::Reader event, capnp::MessageBuilder* out);

}  // namespace ledgerd
