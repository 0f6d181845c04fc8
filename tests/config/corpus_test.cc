// Data-driven: every testdata/bad/*.toml must be refused with exactly the one-line message in
// its sibling .err; every testdata/good/*.toml must load, with exactly the warnings in its
// .warn (none when absent), the JSON in its .json (when present), and must survive
// ToJson → FromJson unchanged.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "config/json.h"
#include "config/load.h"

namespace privcast::config {
namespace {

namespace fs = std::filesystem;

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string Chomp(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

std::vector<std::string> Cases(const char* sub) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(fs::path(PRIVCAST_CONFIG_TESTDATA) / sub))
    if (e.path().extension() == ".toml") out.push_back(e.path().stem().string());
  std::sort(out.begin(), out.end());
  return out;
}

// GoogleTest names allow only [A-Za-z0-9_].
std::string TestName(const ::testing::TestParamInfo<std::string>& info) {
  std::string n = info.param;
  for (char& c : n)
    if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))) c = '_';
  return n;
}

fs::path Data(const char* sub, const std::string& name, const char* ext) {
  return fs::path(PRIVCAST_CONFIG_TESTDATA) / sub / (name + ext);
}

class BadFile : public ::testing::TestWithParam<std::string> {};

TEST_P(BadFile, RefusedWithExactMessage) {
  const std::string& name = GetParam();
  ASSERT_TRUE(fs::exists(Data("bad", name, ".err"))) << name << ".err is missing";
  std::string want = Chomp(ReadFile(Data("bad", name, ".err")));
  auto r = ParseFlyToml(ReadFile(Data("bad", name, ".toml")), "fly.toml");
  ASSERT_FALSE(r.ok()) << name << " was accepted";
  EXPECT_EQ(r.status().code(), Code::kInvalidArgument);
  EXPECT_EQ(r.status().message(), want);
  EXPECT_EQ(r.status().message().find('\n'), std::string::npos) << "message must be one line";
}

INSTANTIATE_TEST_SUITE_P(ConfigCorpus, BadFile, ::testing::ValuesIn(Cases("bad")),
                         TestName);

class GoodFile : public ::testing::TestWithParam<std::string> {};

TEST_P(GoodFile, LoadsWithExpectedWarningsAndJson) {
  const std::string& name = GetParam();
  auto r = ParseFlyToml(ReadFile(Data("good", name, ".toml")), "fly.toml");
  ASSERT_TRUE(r.ok()) << r.status().message();

  std::string warnings;
  for (const auto& w : r->warnings) warnings += w.ToString() + "\n";
  fs::path warn = Data("good", name, ".warn");
  EXPECT_EQ(warnings, fs::exists(warn) ? ReadFile(warn) : "");

  std::string js = ToJson(r->config);
  fs::path golden = Data("good", name, ".json");
  if (fs::exists(golden)) {
    EXPECT_EQ(nlohmann::json::parse(js), nlohmann::json::parse(ReadFile(golden)))
        << "got: " << nlohmann::json::parse(js).dump(2);
  }
  auto back = FromJson(js);
  ASSERT_TRUE(back.ok()) << back.status().message();
  EXPECT_TRUE(*back == r->config);
  EXPECT_EQ(ToJson(*back), js);
}

INSTANTIATE_TEST_SUITE_P(ConfigCorpus, GoodFile, ::testing::ValuesIn(Cases("good")),
                         TestName);

TEST(ConfigCorpusSize, EnoughBadCases) { EXPECT_GE(Cases("bad").size(), 25u); }

}  // namespace
}  // namespace privcast::config
