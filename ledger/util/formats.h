// The value formats of the event schema, checked in one place: dates, periods, region codes,
// identifiers and money. Pure functions, thread-safe. The schema (benefit_ledger/event.capnp) says which
// field uses which format; validate.cc applies them.
#pragma once

#include <cstdint>
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
// Days since 1970-01-01 of a valid YYYYMMDD date (for intervals such as notice periods).
int64_t DaysSinceEpoch(uint32_t yyyymmdd);
// Today's date (UTC) as YYYYMMDD.
uint32_t TodayUtc();

// A 12-digit statistical region code: a real province code, and once a level (province 2,
// city 2, county 2, township 3, village 3 digits) is all zeros, every later level is too.
bool IsValidRegionCode(std::string_view code);
// A prefix of a region code at a level boundary: 2, 4, 6, 9 or 12 digits, real province.
bool IsValidRegionPrefix(std::string_view prefix);

// An identifier chosen by a writer (event, household, actor, case, payment, roll ids):
// 1 to kMaxIdBytes characters from [A-Za-z0-9._:/-].
inline constexpr size_t kMaxIdBytes = 128;
bool IsValidId(std::string_view id);

// Free text: valid UTF-8 of at most kMaxTextBytes, no control characters but tab and newline.
inline constexpr size_t kMaxTextBytes = 4096;
bool IsValidText(std::string_view text);
// Valid UTF-8 (no overlong forms, no surrogates); sets *bad_offset to the first bad byte.
bool IsValidUtf8(std::string_view text, size_t* bad_offset);

// An 18-character resident identity number (GB 11643): 17 digits, a check character (digit or
// X) that matches the ISO 7064 MOD 11-2 checksum, and a valid birth date inside.
bool IsValidIdentityNumber(std::string_view number);
// The check character (0-9 or X) of an identity number's first 17 digits.
char IdentityCheckCharacter(std::string_view first17);
// A bank card number: 12 to 19 digits.
bool IsValidCardNumber(std::string_view number);
// A card number as identity.h masks it: 12 to 19 characters, 4 digits, '*'s, 4 digits.
bool IsMaskedCardNumber(std::string_view masked);

}  // namespace ledger
