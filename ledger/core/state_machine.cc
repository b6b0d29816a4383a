#include "ledger/core/state_machine.h"

namespace ledger {

const char* PolicyName(Policy p) {
  return p == Policy::kEnforce ? "enforce" : "record";
}

bool ParsePolicy(std::string_view name, Policy* out) {
  if (name == "enforce") {
    *out = Policy::kEnforce;
  } else if (name == "record") {
    *out = Policy::kRecord;
  } else {
    return false;
  }
  return true;
}

}  // namespace ledger
