// gen_province: prints a synthetic, lawful province-month (testing/province.h) as JSON Lines: the
// province administrator, then each county's staff, standards, households through approval and
// the month's rolls, payments and bank results. With --red-flags-per-mille, some households carry
// a planted red flag: append such a history to a ledger made with the `record` policy.
//
// usage: gen_province [--seed N] [--counties N] [--households N (per county)] [--period YYYYMM]
//                     [--temporary-per-mille N] [--red-flags-per-mille N]
#include <fmt/format.h>

#include <cstdlib>
#include <string>

#include "testing/province.h"

int main(int argc, char** argv) {
  testing::ProvinceMonthOptions o;
  auto usage = [] {
    fmt::print(stderr,
               "usage: gen_province [--seed N] [--counties N (1 to {})] [--households N (per county, 1 to {})]\n"
               "                    [--period YYYYMM (202501 to 209912)] [--temporary-per-mille N (0 to 1000)]\n"
               "                    [--red-flags-per-mille N (0 to 1000)]\n",
               testing::kMaxCounties, testing::kMaxHouseholdsPerCounty);
    return 2;
  };
  for (int i = 1; i < argc; i += 2) {
    std::string flag = argv[i];
    const char* value = i + 1 < argc ? argv[i + 1] : nullptr;
    char* end = nullptr;
    long long n = value ? std::strtoll(value, &end, 10) : -1;
    if (!value || *end != '\0' || n < 0) return usage();
    if (flag == "--seed" && n > 0) {
      o.seed = static_cast<uint64_t>(n);
    } else if (flag == "--counties" && n >= 1 && n <= testing::kMaxCounties) {
      o.counties = static_cast<int>(n);
    } else if (flag == "--households" && n >= 1 && n <= testing::kMaxHouseholdsPerCounty) {
      o.households = static_cast<int>(n);
    } else if (flag == "--period" && n >= 202501 && n <= 209912 && n % 100 >= 1 && n % 100 <= 12) {
      o.period = static_cast<uint32_t>(n);
    } else if (flag == "--temporary-per-mille" && n <= 1000) {
      o.temporary_per_mille = static_cast<int>(n);
    } else if (flag == "--red-flags-per-mille" && n <= 1000) {
      o.red_flag_per_mille = static_cast<int>(n);
    } else {
      return usage();
    }
  }
  for (const auto& line : testing::ProvinceMonthHeader(o)) fmt::print("{}\n", line);
  for (int c = 0; c < o.counties; ++c) {
    for (const auto& line : testing::ProvinceMonthCounty(o, c).lines) fmt::print("{}\n", line);
  }
  return 0;
}
