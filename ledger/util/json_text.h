// Small pieces of JSON text, for code that writes a few fields by hand (proofs, tool summaries).
// Pure, thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "benefit_ledger/format.h"  // JsonString

namespace ledger {

// "2026-11-22T09:20:42.123456Z" for microseconds since the Unix epoch.
std::string FormatTimestampUs(int64_t us);

}  // namespace ledger
