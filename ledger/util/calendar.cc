#include "ledger/util/calendar.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>

namespace ledger::calendar {
namespace {

// Months since the year 0's January.
int64_t MonthIndex(uint32_t period) {
  return int64_t{Year(period)} * 12 + (int64_t{Month(period)} - 1);
}

}  // namespace

uint32_t AddMonths(uint32_t period, int64_t n) {
  int64_t months = MonthIndex(period) + n;
  return static_cast<uint32_t>(MakePeriod(static_cast<uint32_t>(months / 12), static_cast<uint32_t>(months % 12 + 1)));
}

int64_t MonthsBetween(uint32_t from, uint32_t to) {
  return MonthIndex(to) - MonthIndex(from);
}

bool IsFirstMonthOfQuarter(uint32_t period) {
  return Month(period) % 3 == 1;
}

bool IsLeapYear(uint32_t year) {
  return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

uint32_t DaysInMonth(uint32_t year, uint32_t month) {
  static constexpr std::array<uint32_t, 12> kDays = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && IsLeapYear(year) ? 29 : kDays[month - 1];
}

uint32_t AddMonthsToDate(uint32_t date, int64_t n) {
  uint32_t period = AddMonths(PeriodOf(date), n);
  return MakeDate(period, std::min(Day(date), DaysInMonth(Year(period), Month(period))));
}

std::string IsoPeriod(uint32_t period) {
  return fmt::format("{:04}-{:02}", Year(period), Month(period));
}

std::string IsoDate(uint32_t date) {
  return fmt::format("{:04}-{:02}-{:02}", Year(PeriodOf(date)), Month(PeriodOf(date)), Day(date));
}

}  // namespace ledger::calendar
