// Text for people, in and out: money, counts, dates and months, region prefixes, identifiers,
// UTF-8, hex, JSON string literals and CSV fields. The ledger's own messages and reports use the
// same functions, so a command line or a server words and checks values as the ledger does.
// Pure functions, thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace ledger {

// Largest amount any money field may hold: 10^14 fen (one trillion yuan). Keeps every sum of a
// bounded number of amounts far from int64 overflow.
inline constexpr int64_t kMaxAmountFen = 100'000'000'000'000;
// Calendar years the ledger accepts (低保 began in the 1990s).
inline constexpr int kMinYear = 1990;
inline constexpr int kMaxYear = 2099;

// Fen as yuan with two decimals, the one money formatter: 12345 -> "123.45", -5 -> "-0.05".
std::string FormatYuan(int64_t fen);

// "1 entry", "2 entries": a count with the noun in the right number, for messages.
std::string Counted(uint64_t n, std::string_view one, std::string_view many);

// A real calendar date written as YYYYMMDD (20240229 yes, 20230229 no), years kMinYear..kMaxYear
// (or from min_year, for birth dates).
bool IsValidDate(uint32_t yyyymmdd, int min_year = kMinYear);
inline constexpr int kMinBirthYear = 1880;
// A month written as YYYYMM.
bool IsValidPeriod(uint32_t yyyymm);
// A prefix of a region code at a level boundary: 2, 4, 6, 9 or 12 digits, real province.
bool IsValidRegionPrefix(std::string_view prefix);
// An identifier chosen by a writer (event, household, actor, case, payment, roll ids):
// 1 to kMaxIdBytes characters from [A-Za-z0-9._:/-].
inline constexpr size_t kMaxIdBytes = 128;
bool IsValidId(std::string_view id);
// Valid UTF-8 (no overlong forms, no surrogates); sets *bad_offset to the first bad byte.
bool IsValidUtf8(std::string_view text, size_t* bad_offset);
// Today's date (UTC) as YYYYMMDD.
uint32_t TodayUtc();

// Lowercase hex of `data` (a hash: 64 digits).
std::string Hex(std::span<const uint8_t> data);

// `text` as a JSON string literal, quotes included. Text that is not valid UTF-8 (a cut-off
// quote of input, say) has its non-ASCII bytes written as '?'.
std::string JsonString(std::string_view text);

// One CSV field (RFC 4180), quoted if it holds a comma, a quote or a line break.
std::string CsvField(std::string_view text);

}  // namespace ledger

namespace ledger::calendar {

// ISO 8601 text, as the JSON output writes them.
std::string IsoPeriod(uint32_t period);  // 202402 -> "2024-02"
std::string IsoDate(uint32_t date);      // 20240229 -> "2024-02-29"

}  // namespace ledger::calendar
