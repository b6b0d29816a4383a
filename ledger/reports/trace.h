// Approval tracing for discipline inspectors: every case's chain (who applied, checked,
// visited, reviewed, posted the notice, decided and paid, with dates) and the red flags, which
// are the findings the rules module (rules.h) recorded on the entries concerned, with their rule
// ids and the events behind them. Nothing here judges an event itself: one set of rules.
//
// A household's trace reads that household's entries (chain-checked); an actor's, the entries
// of the actor index and the households they touch; a region's, the households of the region.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "ledger/core/log.h"
#include "ledger/domain/rules.h"

namespace ledger::trace {

struct Step {
  uint32_t date = 0;  // YYYYMMDD
  std::vector<std::string> actors;
  uint64_t seq = 0;
  std::string submitted_by;  // The integration actor that submitted it for its actor; "" if none did.
};

struct Chain {
  std::string household, case_id;
  uint16_t programme = 0;
  std::map<std::string, Step> steps;  // By event kind; the latest of each.
  uint32_t payments = 0;
  int64_t paid_fen = 0;
  std::vector<std::string> payers;  // Distinct actors who issued its payments.
};

struct RedFlag {
  uint64_t seq = 0;
  std::string household;
  rules::Finding finding;
};

struct Trace {
  std::vector<Chain> chains;
  std::vector<RedFlag> flags;
};

Status ForHousehold(const Log& ledger, std::string_view household, Trace* out);
Status ForActor(const Log& ledger, std::string_view actor, Trace* out);
Status ForRegion(const Log& ledger, std::string_view region_prefix, Trace* out);

}  // namespace ledger::trace
