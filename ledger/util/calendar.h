// Months and dates as the ledger writes them, and the month arithmetic, in one place: a period
// (a month) is the number YYYYMM (202402), a date the number YYYYMMDD (20240229). Pure functions,
// thread-safe. Whether a number is a real date or month is formats.h's IsValidDate/IsValidPeriod.
//
// Plain functions over the uint32_t encodings, not wrapper types: periods and dates are uint32_t
// in the event schema's getters and setters, in the state records (state.h) and in every report
// row, and they are printed as numbers in messages; a `Period` struct would need a conversion at
// each of those hundreds of places and buy little. What the encodings mean is asked here only.
#pragma once

#include <cstdint>
#include <string>

#include "benefit_ledger/format.h"

namespace ledger::calendar {

// ---- Periods (YYYYMM) ----

inline constexpr uint32_t Year(uint32_t period) {
  return period / 100;
}
inline constexpr uint32_t Month(uint32_t period) {
  return period % 100;
}  // 1..12 in a valid period.
inline constexpr uint32_t MakePeriod(uint32_t year, uint32_t month) {
  return year * 100 + month;
}

// The month `n` months after `period` (before, for negative n): 202412 + 1 -> 202501,
// 202401 - 1 -> 202312.
uint32_t AddMonths(uint32_t period, int64_t n);
// How many months `to` is after `from` (negative if before): AddMonths(from, MonthsBetween(from,
// to)) == to.
int64_t MonthsBetween(uint32_t from, uint32_t to);
// January, April, July or October: the month a quarterly payment is made for.
bool IsFirstMonthOfQuarter(uint32_t period);

// ---- Dates (YYYYMMDD) ----

inline constexpr uint32_t PeriodOf(uint32_t date) {
  return date / 100;
}
inline constexpr uint32_t Day(uint32_t date) {
  return date % 100;
}
inline constexpr uint32_t MakeDate(uint32_t period, uint32_t day) {
  return period * 100 + day;
}
inline constexpr uint32_t FirstDayOf(uint32_t period) {
  return MakeDate(period, 1);
}

bool IsLeapYear(uint32_t year);
uint32_t DaysInMonth(uint32_t year, uint32_t month);  // month 1..12.
// The same day `n` months later (earlier, for negative n), clamped to the month's end:
// 20240131 + 1 -> 20240229.
uint32_t AddMonthsToDate(uint32_t date, int64_t n);

// ISO 8601 text (IsoPeriod, IsoDate): benefit_ledger/format.h.

}  // namespace ledger::calendar
