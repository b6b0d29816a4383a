// Value formats (ledger/formats.h) and number protection (ledger/identity.h).
#include "ledger/util/formats.h"

#include <doctest/doctest.h>

#include "ledger/domain/identity.h"
#include "ledger/util/calendar.h"
#include "ledger/util/hash.h"
#include "tests/test_util.h"

using namespace ledger;

TEST_CASE("dates are real calendar dates") {
  CHECK(IsValidDate(20240229));
  CHECK_FALSE(IsValidDate(20230229));
  CHECK_FALSE(IsValidDate(20240431));
  CHECK_FALSE(IsValidDate(20241301));
  CHECK_FALSE(IsValidDate(20240100));
  CHECK_FALSE(IsValidDate(19890101));  // before the ledger's years
  CHECK(IsValidDate(19450808, kMinBirthYear));
  CHECK_FALSE(IsValidDate(21000101));
  CHECK(IsValidPeriod(202412));
  CHECK_FALSE(IsValidPeriod(202413));
  CHECK_FALSE(IsValidPeriod(20241));
  CHECK(DaysSinceEpoch(19700101) == 0);
  CHECK(DaysSinceEpoch(20240122) - DaysSinceEpoch(20240116) == 6);
  CHECK(DaysSinceEpoch(20240301) - DaysSinceEpoch(20240228) == 2);
}

TEST_CASE("calendar: the parts of a period and a date") {
  CHECK(calendar::Year(202402) == 2024);
  CHECK(calendar::Month(202402) == 2);
  CHECK(calendar::MakePeriod(2024, 2) == 202402);
  CHECK(calendar::PeriodOf(20240229) == 202402);
  CHECK(calendar::Day(20240229) == 29);
  CHECK(calendar::MakeDate(202402, 29) == 20240229);
  CHECK(calendar::FirstDayOf(202412) == 20241201);
}

TEST_CASE("calendar: month arithmetic across years") {
  CHECK(calendar::AddMonths(202412, 1) == 202501);   // December + 1
  CHECK(calendar::AddMonths(202401, -1) == 202312);  // January - 1
  CHECK(calendar::AddMonths(202403, 0) == 202403);
  CHECK(calendar::AddMonths(202403, 12) == 202503);
  CHECK(calendar::AddMonths(202403, -12) == 202303);
  CHECK(calendar::AddMonths(202403, -15) == 202212);
  CHECK(calendar::AddMonths(202411, 26) == 202701);
  CHECK(calendar::AddMonths(202403, -27) == 202112);
  CHECK(calendar::MonthsBetween(202401, 202401) == 0);
  CHECK(calendar::MonthsBetween(202312, 202401) == 1);
  CHECK(calendar::MonthsBetween(202401, 202312) == -1);
  CHECK(calendar::MonthsBetween(202203, 202503) == 36);
  for (int64_t n : {-25, -13, -12, -1, 0, 1, 11, 12, 13, 40}) {
    CAPTURE(n);
    CHECK(calendar::MonthsBetween(202406, calendar::AddMonths(202406, n)) == n);
  }
}

TEST_CASE("calendar: the same day months later, clamped to the month's end") {
  CHECK(calendar::AddMonthsToDate(20240131, 1) == 20240229);  // leap year
  CHECK(calendar::AddMonthsToDate(20230131, 1) == 20230228);
  CHECK(calendar::AddMonthsToDate(20240229, 12) == 20250228);
  CHECK(calendar::AddMonthsToDate(20240229, 48) == 20280229);
  CHECK(calendar::AddMonthsToDate(20240331, -1) == 20240229);
  CHECK(calendar::AddMonthsToDate(20241231, 1) == 20250131);
  CHECK(calendar::AddMonthsToDate(20240115, -1) == 20231215);
  CHECK(calendar::AddMonthsToDate(20240531, 1) == 20240630);
}

TEST_CASE("calendar: leap years and month lengths") {
  CHECK(calendar::IsLeapYear(2024));
  CHECK_FALSE(calendar::IsLeapYear(2023));
  CHECK_FALSE(calendar::IsLeapYear(2100));
  CHECK(calendar::IsLeapYear(2000));
  CHECK(calendar::DaysInMonth(2024, 2) == 29);
  CHECK(calendar::DaysInMonth(2023, 2) == 28);
  CHECK(calendar::DaysInMonth(1900, 2) == 28);
  CHECK(calendar::DaysInMonth(2024, 4) == 30);
  CHECK(calendar::DaysInMonth(2024, 12) == 31);
}

TEST_CASE("calendar: quarter starts") {
  for (uint32_t m = 1; m <= 12; ++m) {
    CAPTURE(m);
    CHECK(calendar::IsFirstMonthOfQuarter(calendar::MakePeriod(2024, m)) == (m == 1 || m == 4 || m == 7 || m == 10));
  }
}

TEST_CASE("calendar: ISO text") {
  CHECK(calendar::IsoPeriod(202402) == "2024-02");
  CHECK(calendar::IsoPeriod(199012) == "1990-12");
  CHECK(calendar::IsoDate(20240229) == "2024-02-29");
  CHECK(calendar::IsoDate(20240101) == "2024-01-01");
}

TEST_CASE("region codes and prefixes") {
  CHECK(IsValidRegionCode("341502001001"));
  CHECK(IsValidRegionCode("341502000000"));
  CHECK(IsValidRegionCode("110000000000"));
  CHECK_FALSE(IsValidRegionCode("991502001001"));  // no province 99
  CHECK_FALSE(IsValidRegionCode("34150200100"));   // 11 digits
  CHECK_FALSE(IsValidRegionCode("34150200100a"));
  CHECK_FALSE(IsValidRegionCode("340002001001"));  // county under a zero city
  CHECK_FALSE(IsValidRegionCode("341500001001"));  // township under a zero county
  CHECK(IsValidRegionPrefix("34"));
  CHECK(IsValidRegionPrefix("341502"));
  CHECK(IsValidRegionPrefix("341502001"));
  CHECK_FALSE(IsValidRegionPrefix("3415020"));
  CHECK_FALSE(IsValidRegionPrefix("00"));
}

TEST_CASE("identifiers and text") {
  CHECK(IsValidId("R-341502-urban_dibao-202402"));
  CHECK(IsValidId("a:b/c.d"));
  CHECK_FALSE(IsValidId(""));
  CHECK_FALSE(IsValidId("has space"));
  CHECK_FALSE(IsValidId(std::string("nul\0x", 5)));
  CHECK_FALSE(IsValidId(std::string(kMaxIdBytes + 1, 'a')));
  CHECK(IsValidText("城东街道 3 号\n第二行"));
  CHECK_FALSE(IsValidText("bell\a"));
  CHECK_FALSE(IsValidText("\xff\xfe"));
  size_t bad = 0;
  CHECK_FALSE(IsValidUtf8("ok\xc0\xaf", &bad));  // overlong "/"
  CHECK(bad == 2);
  CHECK_FALSE(IsValidUtf8("\xed\xa0\x80", &bad));  // surrogate
}

TEST_CASE("identity numbers: format, checksum, birth date") {
  CHECK(IsValidIdentityNumber("341502195203141236"));
  CHECK(IsValidIdentityNumber("34150220050901345X"));
  CHECK_FALSE(IsValidIdentityNumber("341502195203141237"));              // wrong check digit
  CHECK_FALSE(IsValidIdentityNumber("34150219520314123"));               // 17 characters
  std::string bad_birth = testing::IdentityNumber("34150219521314123");  // month 13
  CHECK_FALSE(IsValidIdentityNumber(bad_birth));
  CHECK(IsValidCardNumber("6228480012345678901"));
  CHECK_FALSE(IsValidCardNumber("62284800123"));
  CHECK_FALSE(IsValidCardNumber("6228 4800 1234 5678"));
}

TEST_CASE("masks keep only the ends") {
  CHECK(MaskIdentityNumber("341502195203141236") == "341502********1236");
  CHECK(MaskCardNumber("6228480012345678901") == "6228***********8901");
}

TEST_CASE("SHA-256 and HMAC-SHA256 give the published answers, whatever key was used before") {
  using ledger::AsBytes;
  using ledger::Hex;
  CHECK(Hex(ledger::Sha256(AsBytes("abc"))) == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  // RFC 6962 leaf hash of the empty entry: SHA-256 of the single byte 0x00.
  CHECK(Hex(ledger::LeafHash(AsBytes(""))) == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
  // RFC 4231 test cases 2 and 1, alternating keys (each thread caches the last key's context).
  const std::string key1(20, '\x0b');
  for (int round = 0; round < 2; ++round) {
    CHECK(Hex(ledger::HmacSha256(AsBytes("Jefe"), AsBytes("what do ya want for nothing?"))) ==
          "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    CHECK(Hex(ledger::HmacSha256(AsBytes(key1), AsBytes("Hi There"))) ==
          "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
  }
}

TEST_CASE("money: one formatter, right for negative amounts and the extremes, counts in the right number") {
  CHECK(FormatYuan(0) == "0.00");
  CHECK(FormatYuan(5) == "0.05");
  CHECK(FormatYuan(12345) == "123.45");
  CHECK(FormatYuan(-5) == "-0.05");    // Before: "0.-5" in the rules' messages.
  CHECK(FormatYuan(-150) == "-1.50");  // Before: "-1.-50".
  CHECK(FormatYuan(kMaxAmountFen) == "1000000000000.00");
  CHECK(FormatYuan(INT64_MIN) == "-92233720368547758.08");
  CHECK(Counted(1, "entry", "entries") == "1 entry");
  CHECK(Counted(0, "entry", "entries") == "0 entries");
  CHECK(Counted(2, "entry", "entries") == "2 entries");
}
