#include "common/strings.h"

#include <gtest/gtest.h>

namespace privcast {
namespace {

TEST(StringsTest, LowerAndUpperMapAsciiOnly) {
  EXPECT_EQ(Lower("Web.FLYCAST"), "web.flycast");
  EXPECT_EQ(Upper("sigTerm"), "SIGTERM");
  EXPECT_EQ(Lower(""), "");
  // Bytes outside ASCII (UTF-8 "É") are left as they are, whatever the locale.
  EXPECT_EQ(Lower("\xC3\x89X"), "\xC3\x89x");
  EXPECT_EQ(Upper("\xC3\xA9x"), "\xC3\xA9X");
  EXPECT_EQ(Lower("A-Z_0@[`{"), "a-z_0@[`{");
}

TEST(StringsTest, TrimDefaultsToHttpOws) {
  EXPECT_EQ(Trim(" \t a b \t "), "a b");
  EXPECT_EQ(Trim("a\r"), "a\r");  // CR is not OWS
  EXPECT_EQ(Trim(" \t "), "");
  EXPECT_EQ(Trim(""), "");
  EXPECT_EQ(Trim("x"), "x");
}

TEST(StringsTest, TrimWithOwnSet) {
  EXPECT_EQ(Trim("\r\n value \r", " \t\r\n"), "value");
  EXPECT_EQ(Trim("--a--", "-"), "a");
  static_assert(Trim("  k  ") == "k");
}

TEST(StringsTest, ParseDecimalTakesOnlyWholeNumbersThatFit) {
  EXPECT_EQ(ParseDecimal<uint16_t>("53"), 53);
  EXPECT_EQ(ParseDecimal<uint16_t>("65535"), 65535);
  EXPECT_EQ(ParseDecimal<uint16_t>("0"), 0);
  EXPECT_EQ(ParseDecimal<uint16_t>("70000"), std::nullopt);  // would wrap to 4464
  EXPECT_EQ(ParseDecimal<uint16_t>("abc"), std::nullopt);
  EXPECT_EQ(ParseDecimal<uint16_t>(""), std::nullopt);
  EXPECT_EQ(ParseDecimal<uint16_t>("53x"), std::nullopt);
  EXPECT_EQ(ParseDecimal<uint16_t>(" 53"), std::nullopt);
  EXPECT_EQ(ParseDecimal<uint16_t>("+53"), std::nullopt);
  EXPECT_EQ(ParseDecimal<uint16_t>("-1"), std::nullopt);
  EXPECT_EQ(ParseDecimal<int64_t>("-12"), -12);
  EXPECT_EQ(ParseDecimal<int64_t>("9223372036854775807"), INT64_MAX);
  EXPECT_EQ(ParseDecimal<int64_t>("9223372036854775808"), std::nullopt);
}

TEST(StringsTest, Fnv1a64MatchesTheReferenceVectors) {
  // Published FNV-1a 64 test vectors: they pin the value forever (names derived from it
  // must not change between builds).
  EXPECT_EQ(Fnv1a64(""), 0xcbf29ce484222325ull);
  EXPECT_EQ(Fnv1a64("a"), 0xaf63dc4c8601ec8cull);
  EXPECT_EQ(Fnv1a64("foobar"), 0x85944171f73967e8ull);
  static_assert(Fnv1a64("a") == 0xaf63dc4c8601ec8cull);
}

TEST(StringsTest, ParseIntegerTakesTheBase) {
  EXPECT_EQ(ParseInteger<uint32_t>("ffffffff", 16), 0xffffffffu);
  EXPECT_EQ(ParseInteger<uint32_t>("A1", 16), 0xa1u);
  EXPECT_EQ(ParseInteger<uint32_t>("100000000", 16), std::nullopt);  // does not fit
  EXPECT_EQ(ParseInteger<uint32_t>("0x10", 16), std::nullopt);       // no prefix
  EXPECT_EQ(ParseInteger<uint32_t>("", 16), std::nullopt);
  EXPECT_EQ(ParseInteger<uint32_t>("12g", 16), std::nullopt);
}

TEST(StringsTest, ParseIsoSecondsReadsTheLeadingUtcTime) {
  EXPECT_EQ(ParseIsoSeconds("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(ParseIsoSeconds("2026-11-22T03:41:02.123Z rest"), 1795318862);
  EXPECT_EQ(ParseIsoSeconds("2026-11-22T03:41:02"), 1795318862);
  EXPECT_EQ(ParseIsoSeconds("2026-11-22 03:41:02Z"), std::nullopt);  // 'T'
  EXPECT_EQ(ParseIsoSeconds("2026-13-22T03:41:02Z"), std::nullopt);  // month
  EXPECT_EQ(ParseIsoSeconds("2026-11-22T24:00:00Z"), std::nullopt);  // hour
  EXPECT_EQ(ParseIsoSeconds("2026-1-22T03:41:02Z"), std::nullopt);   // width
  EXPECT_EQ(ParseIsoSeconds("+026-11-22T03:41:02Z"), std::nullopt);
  EXPECT_EQ(ParseIsoSeconds("2026-11-22T03:41"), std::nullopt);  // short
}

}  // namespace
}  // namespace privcast
