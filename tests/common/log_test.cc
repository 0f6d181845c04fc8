#include "common/log.h"

#include <gtest/gtest.h>

namespace privcast {
namespace {

TEST(LogTest, FormatsLogfmtAndQuotes) {
  std::string line = log::Format(log::Level::kWarn, "proxy", "admission refused",
                                 {{"app", "web"}, {"src", "fdaa:1::2"}, {"why", "other network"}, {"n", 3}});
  EXPECT_NE(line.find(" level=warn comp=proxy msg=\"admission refused\" app=web src=fdaa:1::2 "
                      "why=\"other network\" n=3"),
            std::string::npos)
      << line;
  EXPECT_EQ(line.rfind("ts=", 0), 0u);
}

TEST(LogTest, EscapesControlCharacters) {
  std::string line = log::Format(log::Level::kInfo, "x", "a\"b\nc", {});
  EXPECT_NE(line.find("msg=\"a\\\"b\\nc\""), std::string::npos) << line;
}

}  // namespace
}  // namespace privcast
