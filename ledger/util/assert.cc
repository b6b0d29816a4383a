#include "ledger/util/assert.h"

#include <cstdio>
#include <cstdlib>

namespace ledger::internal {

void AssertFailed(const char* file, int line, const char* condition, const std::string& message) {
  // One write of the whole line, flushed: stderr is unbuffered, and abort() runs no destructors.
  std::fprintf(stderr, "%s:%d: ledger invariant broken: %s: %s\n", file, line, condition, message.c_str());
  std::fflush(stderr);
  std::abort();
}

}  // namespace ledger::internal
