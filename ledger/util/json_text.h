// Small pieces of JSON text, for code that writes a few fields by hand (proofs, tool summaries).
// Pure, thread-safe.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace ledger {

// `text` as a JSON string literal, quotes included. Text that is not valid UTF-8 (a cut-off
// quote of input, say) has its non-ASCII bytes written as '?'.
std::string JsonString(std::string_view text);

// "2026-11-22T09:20:42.123456Z" for microseconds since the Unix epoch.
std::string FormatTimestampUs(int64_t us);

}  // namespace ledger
