// Data-driven: every testdata/bad/*.toml must be refused with exactly the message in its
// sibling .err (every error, one line each); every testdata/good/*.toml must load, with
// exactly the warnings in its .warn (none when absent), the JSON in its .json (when
// present), and must survive ToJson → FromJson unchanged. A .app file holds the app name a
// test passes as -a (LoadOptions::app).
//
// Real-world shapes (written for these tests, after public fly.toml files that flyctl
// deploys): postgres_flex, tokenizer, nginx_cluster, grpc_service, tunnelto, statics, udp,
// mount_singular, templated_app, response_header_values. RealWorldShapes below asserts what
// each of them must give.
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
  std::istringstream lines(r.status().message());
  for (std::string line; std::getline(lines, line);) {
    EXPECT_EQ(line.rfind("fly.toml", 0), 0u) << "every line is one error naming the file: " << line;
  }
}

INSTANTIATE_TEST_SUITE_P(ConfigCorpus, BadFile, ::testing::ValuesIn(Cases("bad")), TestName);

class GoodFile : public ::testing::TestWithParam<std::string> {};

TEST_P(GoodFile, LoadsWithExpectedWarningsAndJson) {
  const std::string& name = GetParam();
  LoadOptions options;
  if (fs::exists(Data("good", name, ".app"))) options.app = Chomp(ReadFile(Data("good", name, ".app")));
  auto r = ParseFlyToml(ReadFile(Data("good", name, ".toml")), "fly.toml", options);
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

INSTANTIATE_TEST_SUITE_P(ConfigCorpus, GoodFile, ::testing::ValuesIn(Cases("good")), TestName);

TEST(ConfigCorpusSize, EnoughBadCases) { EXPECT_GE(Cases("bad").size(), 25u); }

AppConfig MustLoad(const std::string& name, const std::string& app = "") {
  auto r = ParseFlyToml(ReadFile(Data("good", name, ".toml")), "fly.toml", LoadOptions{app});
  EXPECT_TRUE(r.ok()) << name << ": " << r.status().message();
  return r.ok() ? r->config : AppConfig{};
}

std::string WarningsOf(const std::string& name) {
  auto r = ParseFlyToml(ReadFile(Data("good", name, ".toml")), "fly.toml");
  std::string out;
  if (r.ok())
    for (const auto& w : r->warnings) out += w.ToString() + "\n";
  return out;
}

// What each real-world shape must give, beyond loading (the .warn/.json files pin the rest).
TEST(RealWorldShapes, EmptyProcessesArrayMeansTheAppGroup) {
  for (const char* name : {"postgres_flex", "tokenizer"}) {
    AppConfig c = MustLoad(name);
    EXPECT_TRUE(c.processes.empty()) << name;
  }
  EXPECT_EQ(MustLoad("tokenizer").services.at(0).common.processes, std::vector<std::string>{"app"});
}

TEST(RealWorldShapes, PortsWrittenAsStrings) {
  AppConfig nginx = MustLoad("nginx_cluster");
  ASSERT_EQ(nginx.services.size(), 1u);
  EXPECT_EQ(nginx.services[0].common.internal_port, 8080);
  ASSERT_EQ(nginx.services[0].ports.size(), 2u);
  EXPECT_EQ(nginx.services[0].ports[0].start_port, 80);
  EXPECT_EQ(nginx.services[0].ports[1].end_port, 443);
  AppConfig grpc = MustLoad("grpc_service");
  EXPECT_EQ(grpc.services.at(0).ports.at(0).start_port, 443);
  AppConfig tunnel = MustLoad("tunnelto");
  ASSERT_EQ(tunnel.services.size(), 2u);
  EXPECT_EQ(tunnel.services[1].common.internal_port, 5000);
  EXPECT_EQ(tunnel.services[1].ports.at(0).start_port, 5000);
}

TEST(RealWorldShapes, IgnoredKeysAreWarnedAbout) {
  EXPECT_NE(WarningsOf("statics").find("fly.toml:11:3: statics: accepted and ignored"), std::string::npos)
      << WarningsOf("statics");
  EXPECT_NE(WarningsOf("udp").find("services[0].protocol: accepted and ignored"), std::string::npos);
  EXPECT_EQ(WarningsOf("udp").find("services[1]"), std::string::npos) << "tcp is served";
  EXPECT_NE(WarningsOf("grpc_service").find("build.builder: accepted and ignored: privcast builds no image"),
            std::string::npos);
  EXPECT_EQ(WarningsOf("mount_singular"), "") << "[mount] reads as [[mounts]]";
  EXPECT_EQ(WarningsOf("postgres_flex").find("mounts"), std::string::npos);
}

TEST(RealWorldShapes, TemplatedAppNameNeedsAndTakesDashA) {
  std::string text = ReadFile(Data("good", "templated_app", ".toml"));
  auto without = ParseFlyToml(text, "fly.toml");
  ASSERT_FALSE(without.ok());
  EXPECT_NE(without.status().message().find("pass -a APP"), std::string::npos);
  EXPECT_EQ(MustLoad("templated_app", "tmpl-web").app, "tmpl-web");
  // -a wins over a valid name in the file too (as in flyctl).
  EXPECT_EQ(MustLoad("statics", "other").app, "other");
}

TEST(RealWorldShapes, ResponseHeaderValuesOfEveryType) {
  AppConfig c = MustLoad("response_header_values");
  std::vector<std::pair<std::string, std::string>> want = {{"Vary", "Accept-Encoding, Origin"},
                                                           {"X-Frame-Options", "DENY"},
                                                           {"X-Ratio", "1.5"},
                                                           {"X-Retry-After", "30"}};
  EXPECT_EQ(c.http_service->http_options.response_headers, want);
  EXPECT_NE(WarningsOf("response_header_values").find("fly-request-id: accepted and ignored"), std::string::npos);
}

}  // namespace
}  // namespace privcast::config
