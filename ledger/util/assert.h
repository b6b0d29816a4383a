// LEDGER_ASSERT: a check of one of the ledger's own invariants that stays on in every build
// (NDEBUG, which RelWithDebInfo and Release define, does not remove it).
//
// A broken invariant means the code is wrong, not the input: bad input gets a Status (status.h),
// never an assertion. When one fails, the process prints where, the condition and the message to
// stderr and aborts, rather than writing on: every write is a synced batch (core/log.h), so
// stopping between batches leaves the ledger as its last durable write left it.
//
// The condition is evaluated once; the message arguments (an fmt format string and its
// arguments) only when it fails, so a check that holds costs a comparison and a branch and
// allocates nothing.
#pragma once

#include <fmt/format.h>

#include <string>

namespace ledger::internal {

// Prints "file:line: ledger invariant broken: condition: message" to stderr and aborts.
[[noreturn]] void AssertFailed(const char* file, int line, const char* condition, const std::string& message);

}  // namespace ledger::internal

#define LEDGER_ASSERT(condition, ...)                                                               \
  do {                                                                                              \
    if (__builtin_expect(!(condition), 0)) {                                                        \
      ::ledger::internal::AssertFailed(__FILE__, __LINE__, #condition, ::fmt::format(__VA_ARGS__)); \
    }                                                                                               \
  } while (false)
