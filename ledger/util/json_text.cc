#include "ledger/util/json_text.h"

#include <fmt/format.h>

#include <ctime>

#include "ledger/util/formats.h"

namespace ledger {

std::string JsonString(std::string_view text) {
  std::string out = "\"";
  bool utf8 = IsValidUtf8(text, nullptr);  // Else (say, a cut-off quote of input) non-ASCII -> '?'.
  for (char c : text) {
    if (!utf8 && static_cast<unsigned char>(c) >= 0x80) c = '?';
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u == 0x7f) {
      out += fmt::format("\\u{:04x}", u);
    } else {
      out += c;
    }
  }
  return out + "\"";
}

std::string FormatTimestampUs(int64_t us) {
  time_t secs = static_cast<time_t>(us / 1'000'000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec, us % 1'000'000);
}

}  // namespace ledger
