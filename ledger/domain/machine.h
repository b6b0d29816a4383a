// The benefit domain as the log's state machine (core/state_machine.h): identity protection
// (identity.h), structure (validate.h), the actor's signature (signing.h), the rules (rules.h)
// and the projections (projections.h), in that order, over the state records of state.h.
// Stateless and thread-safe; one instance serves every ledger.
#pragma once

#include "ledger/core/state_machine.h"

namespace ledger::domain {

// The state machine every benefit ledger runs: pass it to Log::Create, Open and Upgrade.
const StateMachine& Rules();

}  // namespace ledger::domain
