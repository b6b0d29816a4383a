// Projections: what the supervision tools read, derived from the log alone and kept current on
// every append (in the same batch, after the rules have accepted the event).
//
//   - households by region ("r/"), so that a region's roll is a prefix scan;
//   - payments by roll ("z/"), so that reconciliation finds the payments a bank file misses;
//   - funding totals ("t/") per region, programme and month: allocated, issued, settled,
//     failed, returned, recovered, payments, household-months (户次), person-months (人次).
// Rolls (在册名单) and reviews due are read from the domain state (state.h) through these
// indexes by queries.h. Log::Rebuild recomputes all of it, with the rules' state, from the
// log; a test checks that the rebuilt state equals the incremental one byte for byte.
#pragma once

#include "benefit_ledger/event.capnp.h"
#include "ledger/domain/state.h"

namespace ledger::projections {

// Updates the projections for `event`, which rules::Process has just applied to `txn`;
// `corrected` is the event a correction names, else null.
void Apply(schema::Event::Reader event, const schema::Event::Reader* corrected, state::StateTxn* txn);

}  // namespace ledger::projections
