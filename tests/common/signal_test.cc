#include "common/signal.h"

#include <gtest/gtest.h>

namespace privcast {
namespace {

TEST(KillSignal, DefaultIsSigint) {
  EXPECT_EQ(KillSignal().number(), SIGINT);
  EXPECT_STREQ(KillSignal().name(), "SIGINT");
  EXPECT_EQ(KillSignal::Interrupt(), KillSignal());
}

TEST(KillSignal, NamesWithOrWithoutPrefixAnyCase) {
  EXPECT_EQ(KillSignal::FromName("SIGINT")->number(), SIGINT);
  EXPECT_EQ(KillSignal::FromName("term")->number(), SIGTERM);
  EXPECT_EQ(KillSignal::FromName("SigUsr2")->number(), SIGUSR2);
  EXPECT_STREQ(KillSignal::FromName("hup")->name(), "SIGHUP");
}

TEST(KillSignal, UnknownDoesNotConstruct) {
  EXPECT_FALSE(KillSignal::FromName("SIGNOPE"));
  EXPECT_FALSE(KillSignal::FromName(""));
  EXPECT_FALSE(KillSignal::FromName("SIGSEGV"));  // a real signal, but not one Fly accepts
  EXPECT_FALSE(KillSignal::FromNumber(0));
  EXPECT_FALSE(KillSignal::FromNumber(99));
  EXPECT_FALSE(KillSignal::FromNumber(-2));
  EXPECT_EQ(KillSignal::FromNumber(15), KillSignal::Terminate());
}

}  // namespace
}  // namespace privcast
