// The library's values on ledgerd's wire (ledgerd.capnp) and back: a Status as a Failure, an
// AppendResult as an AppendOutcome. Used by the server and by its clients (ledgerctl --server,
// the tests), so that both ends word results alike. Pure functions; thread-safe.
#pragma once

#include <vector>

#include "benefit_ledger/status.h"
#include "benefit_ledger/types.h"
#include "tools/ledgerd/ledgerd.capnp.h"

namespace ledgerd {

void ToWire(const ledger::Status& s, rpc::Failure::Builder out);
ledger::Status FromWire(rpc::Failure::Reader failure);

void ToWire(const ledger::AppendResult& r, rpc::AppendOutcome::Builder out);
ledger::AppendResult FromWire(rpc::AppendOutcome::Reader outcome);

}  // namespace ledgerd
