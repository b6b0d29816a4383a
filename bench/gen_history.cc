// gen_history: prints a synthetic, lawful county history of one or more years (testing/history.h)
// as JSON Lines.
//
// usage: gen_history [--seed N] [--households N] [--years N]
#include <fmt/format.h>

#include <cstdlib>
#include <string>

#include "testing/history.h"

int main(int argc, char** argv) {
  testing::CountyYearOptions options;
  for (int i = 1; i < argc; i += 2) {
    std::string flag = argv[i];
    const char* value = i + 1 < argc ? argv[i + 1] : nullptr;
    char* end = nullptr;
    long long n = value ? std::strtoll(value, &end, 10) : -1;
    bool ok = value && *end == '\0' && n > 0;
    if (flag == "--seed" && ok) {
      options.seed = static_cast<uint64_t>(n);
    } else if (flag == "--households" && ok && n >= 8 && n <= 1000000) {
      options.households = static_cast<int>(n);
    } else if (flag == "--years" && ok && n <= 50) {
      options.years = static_cast<int>(n);
    } else {
      fmt::print(stderr, "usage: gen_history [--seed N] [--households N (8 to 1000000)] [--years N (1 to 50)]\n");
      return 2;
    }
  }
  for (const auto& line : testing::CountyYear(options)) fmt::print("{}\n", line);
  return 0;
}
