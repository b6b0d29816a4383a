// Pieces shared by the history generators of testing/: history.cc (one county over one or more
// years) and province.cc (a province's month): the line writer with its seeded random source,
// the calendar arithmetic of months, and synthetic identity numbers.
//
// Header-only. A Writer belongs to one generator on one thread.
#pragma once

#include <fmt/format.h>

#include <cstdint>
#include <random>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "testing/events.h"

namespace testing::gen {

// A yearly standard as a monthly amount, rounded up as the rules round it.
inline int64_t MonthlyOfYearly(int64_t yearly_fen) {
  return (yearly_fen + 11) / 12;
}

// `period` (YYYYMM) moved by n months (n may be negative).
inline uint32_t AddMonths(uint32_t period, int n) {
  int months = static_cast<int>(period / 100) * 12 + static_cast<int>(period % 100) - 1 + n;
  return static_cast<uint32_t>((months / 12) * 100 + months % 12 + 1);
}

// An 18-character identity number of someone registered in `county` (6 digits), born between
// 1940 and 1994: distinct for each index below 231000 (the period of its date and sequence parts).
inline std::string PersonNumber(std::string_view county, int index) {
  return IdentityNumber(
      fmt::format("{}19{:02}{:02}{:02}{:03}", county, 40 + index % 55, 1 + index % 12, 1 + index % 28, index % 1000));
}
inline constexpr int kPersonsPerCounty = 231000;

// Collects the JSON Lines of a history, one event per line in the ledger's input format.
class Writer {
 public:
  explicit Writer(uint64_t seed) : rng_(seed) {}

  // One event (EventLine, events.h): `household` may be empty (events with no household); `body`
  // is the inside of the kind's object.
  void Line(const std::string& id, const std::string& household, const std::string& region, const std::string& actor,
            uint32_t date, const std::string& kind, const std::string& body) {
    lines_.push_back(EventLine(id, household, region, actor, date, kind, body));
  }
  // One event line made by a builder of events.h.
  void Add(std::string line) { lines_.push_back(std::move(line)); }
  // A uniform draw from 0 to n-1 (n > 0).
  uint64_t Next(uint64_t n) { return rng_() % n; }
  std::vector<std::string>& lines() { return lines_; }

 private:
  std::mt19937_64 rng_;
  std::vector<std::string> lines_;
};

}  // namespace testing::gen
