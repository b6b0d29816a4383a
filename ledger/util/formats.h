// The value formats of the event schema, checked in one place: dates, periods, region codes,
// identifiers and money. Pure functions, thread-safe. The schema (benefit_ledger/event.capnp) says which
// field uses which format; validate.cc applies them.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "benefit_ledger/format.h"  // money, counts, dates, region prefixes, ids, UTF-8

namespace ledger {

// Days since 1970-01-01 of a valid YYYYMMDD date (for intervals such as notice periods).
int64_t DaysSinceEpoch(uint32_t yyyymmdd);

// A 12-digit statistical region code: a real province code, and once a level (province 2,
// city 2, county 2, township 3, village 3 digits) is all zeros, every later level is too.
bool IsValidRegionCode(std::string_view code);

// Free text: valid UTF-8 of at most kMaxTextBytes, no control characters but tab and newline.
inline constexpr size_t kMaxTextBytes = 4096;
bool IsValidText(std::string_view text);

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
