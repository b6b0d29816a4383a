#include "ledger/util/formats.h"

#include <algorithm>
#include <array>
#include <ctime>

#include "ledger/util/calendar.h"

namespace ledger {

std::string FormatYuan(int64_t fen) {
  // The magnitude as unsigned, so that INT64_MIN has one too.
  uint64_t magnitude = fen < 0 ? static_cast<uint64_t>(-(fen + 1)) + 1 : static_cast<uint64_t>(fen);
  std::string out = fen < 0 ? "-" : "";
  out += std::to_string(magnitude / 100) + ".";
  out += static_cast<char>('0' + magnitude % 100 / 10);
  out += static_cast<char>('0' + magnitude % 10);
  return out;
}

std::string Counted(uint64_t n, std::string_view one, std::string_view many) {
  return std::to_string(n) + " " + std::string(n == 1 ? one : many);
}

namespace {

bool AllDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// Province-level codes of GB/T 2260.
bool IsProvinceCode(std::string_view two) {
  static constexpr std::array<int, 34> kProvinces = {11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34,
                                                     35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52,
                                                     53, 54, 61, 62, 63, 64, 65, 71, 81, 82};
  if (two.size() != 2 || !AllDigits(two)) return false;
  int code = (two[0] - '0') * 10 + (two[1] - '0');
  return std::find(kProvinces.begin(), kProvinces.end(), code) != kProvinces.end();
}

}  // namespace

bool IsValidDate(uint32_t yyyymmdd, int min_year) {
  uint32_t period = calendar::PeriodOf(yyyymmdd);
  int y = static_cast<int>(calendar::Year(period));
  uint32_t m = calendar::Month(period), d = calendar::Day(yyyymmdd);
  if (y < min_year || y > kMaxYear || m < 1 || m > 12) return false;
  return d >= 1 && d <= calendar::DaysInMonth(calendar::Year(period), m);
}

bool IsValidPeriod(uint32_t yyyymm) {
  int y = static_cast<int>(calendar::Year(yyyymm));
  uint32_t m = calendar::Month(yyyymm);
  return y >= kMinYear && y <= kMaxYear && m >= 1 && m <= 12;
}

int64_t DaysSinceEpoch(uint32_t yyyymmdd) {
  // Howard Hinnant's days_from_civil.
  uint32_t period = calendar::PeriodOf(yyyymmdd);
  int64_t y = calendar::Year(period), m = calendar::Month(period), d = calendar::Day(yyyymmdd);
  y -= m <= 2;
  int64_t era = (y >= 0 ? y : y - 399) / 400;
  int64_t yoe = y - era * 400;
  int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

uint32_t TodayUtc() {
  std::time_t now = std::time(nullptr);
  std::tm utc{};
  gmtime_r(&now, &utc);
  return calendar::MakeDate(
      calendar::MakePeriod(static_cast<uint32_t>(utc.tm_year + 1900), static_cast<uint32_t>(utc.tm_mon + 1)),
      static_cast<uint32_t>(utc.tm_mday));
}

bool IsValidRegionCode(std::string_view code) {
  if (code.size() != 12 || !AllDigits(code) || !IsProvinceCode(code.substr(0, 2))) return false;
  static constexpr std::array<std::pair<size_t, size_t>, 4> kLevels = {
      {{2, 2}, {4, 2}, {6, 3}, {9, 3}}};  // city, county, township, village
  bool zero_seen = false;
  for (auto [pos, len] : kLevels) {
    bool zero = code.substr(pos, len).find_first_not_of('0') == std::string_view::npos;
    if (zero_seen && !zero) return false;
    zero_seen = zero_seen || zero;
  }
  return true;
}

bool IsValidRegionPrefix(std::string_view prefix) {
  size_t n = prefix.size();
  if (n != 2 && n != 4 && n != 6 && n != 9 && n != 12) return false;
  return AllDigits(prefix) && IsProvinceCode(prefix.substr(0, 2));
}

bool IsValidId(std::string_view id) {
  if (id.empty() || id.size() > kMaxIdBytes) return false;
  return std::all_of(id.begin(), id.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
           c == ':' || c == '/' || c == '-';
  });
}

bool IsValidUtf8(std::string_view text, size_t* bad_offset) {
  const auto* s = reinterpret_cast<const unsigned char*>(text.data());
  size_t n = text.size(), i = 0;
  while (i < n) {
    unsigned char c = s[i];
    size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    bool ok = len != 0 && i + len <= n;
    uint32_t cp = len == 1 ? c : len == 2 ? c & 0x1f : len == 3 ? c & 0x0f : c & 0x07;
    for (size_t k = 1; ok && k < len; ++k) {
      ok = (s[i + k] & 0xc0) == 0x80;
      cp = cp << 6 | (s[i + k] & 0x3f);
    }
    // Reject overlong encodings, surrogates and code points beyond U+10FFFF.
    static constexpr uint32_t kMinForLen[] = {0, 0, 0x80, 0x800, 0x10000};
    ok = ok && cp >= kMinForLen[len] && cp <= 0x10ffff && !(cp >= 0xd800 && cp <= 0xdfff);
    if (!ok) {
      if (bad_offset != nullptr) *bad_offset = i;
      return false;
    }
    i += len;
  }
  return true;
}

bool IsValidText(std::string_view text) {
  if (text.size() > kMaxTextBytes || !IsValidUtf8(text, nullptr)) return false;
  return std::none_of(text.begin(), text.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return (u < 0x20 && c != '\t' && c != '\n') || u == 0x7f;
  });
}

char IdentityCheckCharacter(std::string_view first17) {
  static constexpr std::array<int, 17> kWeights = {7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2};
  static constexpr char kCheck[] = "10X98765432";
  int sum = 0;
  for (size_t i = 0; i < 17 && i < first17.size(); ++i) sum += (first17[i] - '0') * kWeights[i];
  return kCheck[sum % 11];
}

bool IsValidIdentityNumber(std::string_view number) {
  if (number.size() != 18 || !AllDigits(number.substr(0, 17))) return false;
  if (number[17] != IdentityCheckCharacter(number.substr(0, 17))) return false;
  uint32_t birth = 0;
  for (size_t i = 6; i < 14; ++i) birth = birth * 10 + static_cast<uint32_t>(number[i] - '0');
  return IsValidDate(birth, kMinBirthYear);
}

bool IsValidCardNumber(std::string_view number) {
  return number.size() >= 12 && number.size() <= 19 && AllDigits(number);
}

bool IsMaskedCardNumber(std::string_view masked) {
  if (masked.size() < 12 || masked.size() > 19) return false;
  std::string_view middle = masked.substr(4, masked.size() - 8);
  return AllDigits(masked.substr(0, 4)) && AllDigits(masked.substr(masked.size() - 4)) &&
         middle.find_first_not_of('*') == std::string_view::npos;
}

}  // namespace ledger

namespace ledger {

std::string CsvField(std::string_view text) {
  if (text.find_first_of(",\"\n\r") == std::string_view::npos) return std::string(text);
  std::string out = "\"";
  for (char c : text) out += c == '"' ? std::string("\"\"") : std::string(1, c);
  return out + "\"";
}

}  // namespace ledger
