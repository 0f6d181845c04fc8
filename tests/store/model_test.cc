#include "store/model.h"

#include <gtest/gtest.h>

#include <set>
#include <utility>

#include "store/codec.h"

namespace privcast::store {
namespace {

using S = MachineState;
constexpr S kAll[] = {S::kCreated,    S::kStarting,  S::kStarted,    S::kStopping,  S::kStopped,
                      S::kSuspending, S::kSuspended, S::kDestroying, S::kDestroyed, S::kFailed};

TEST(MachineState, NamesRoundTrip) {
  for (S s : kAll) {
    auto p = ParseMachineState(MachineStateName(s));
    ASSERT_TRUE(p.has_value()) << MachineStateName(s);
    EXPECT_EQ(*p, s);
  }
  EXPECT_STREQ(MachineStateName(S::kSuspended), "suspended");
  EXPECT_STREQ(MachineStateName(S::kFailed), "failed");
  EXPECT_FALSE(ParseMachineState("running").has_value());
  EXPECT_FALSE(ParseMachineState("").has_value());
  EXPECT_FALSE(ParseMachineState("Started").has_value());
}

TEST(MachineState, TransitionsAreExactlyFlys) {
  const std::set<std::pair<S, S>> legal = {
      {S::kCreated, S::kStarting},   {S::kCreated, S::kDestroying},    {S::kStarting, S::kStarted},
      {S::kStarting, S::kStopped},   {S::kStarting, S::kStopping},     {S::kStarting, S::kDestroying},
      {S::kStarted, S::kStopping},   {S::kStarted, S::kSuspending},    {S::kStarted, S::kDestroying},
      {S::kStarted, S::kStopped},    {S::kStopping, S::kStopped},      {S::kStopping, S::kDestroying},
      {S::kStopped, S::kStarting},   {S::kStopped, S::kDestroying},    {S::kSuspending, S::kSuspended},
      {S::kSuspending, S::kStopped}, {S::kSuspending, S::kDestroying}, {S::kSuspended, S::kStarting},
      {S::kSuspended, S::kStopping}, {S::kSuspended, S::kDestroying},  {S::kDestroying, S::kDestroyed},
      {S::kStarting, S::kFailed},    {S::kFailed, S::kStarting},       {S::kFailed, S::kDestroying},
  };
  for (S from : kAll)
    for (S to : kAll)
      EXPECT_EQ(IsLegalTransition(from, to), legal.count({from, to}) == 1)
          << MachineStateName(from) << " -> " << MachineStateName(to);
}

Machine SampleMachine() {
  Machine m;
  m.id = "0123456789abcd";
  m.app = "web";
  m.org = "acme";
  m.network = "default";
  m.net32 = 0xdeadbeef;
  m.host_id = 0xfffffffe;
  m.machine32 = 7;
  m.link_slot = 3;
  m.region = "ams";
  m.process_group = "worker";
  m.state = S::kSuspended;
  m.release_version = 4;
  m.cmd = {"/bin/sh", "-c", "echo \"hi\""};
  m.env = {{"A", "1"}, {"B", "two words"}};
  m.auto_destroy = true;
  m.created_at = 1700000000000;
  m.updated_at = 1700000000123;
  m.last_event = "suspended by proxy";
  return m;
}

TEST(Codec, EveryRecordRoundTrips) {
  {
    Host h{0x12345678, "ams", "box", 5};
    Host out;
    ASSERT_TRUE(Decode(Encode(h), &out).ok());
    EXPECT_EQ(out.id, h.id);
    EXPECT_EQ(out.region, "ams");
    EXPECT_EQ(out.hostname, "box");
    EXPECT_EQ(out.created_at, 5);
  }
  {
    Org o{"acme", "Acme", "default", 9};
    Org out;
    ASSERT_TRUE(Decode(Encode(o), &out).ok());
    EXPECT_EQ(out.slug, "acme");
    EXPECT_EQ(out.name, "Acme");
    EXPECT_EQ(out.default_network, "default");
    EXPECT_EQ(out.created_at, 9);
  }
  {
    Network n{"acme", "blue", 0xffffffff, true, 11};
    Network out;
    ASSERT_TRUE(Decode(Encode(n), &out).ok());
    EXPECT_EQ(out.org, "acme");
    EXPECT_EQ(out.name, "blue");
    EXPECT_EQ(out.net32, 0xffffffffu);
    EXPECT_TRUE(out.is_default);
  }
  {
    App a{"web", "acme", "blue", 12, 3};
    App out;
    ASSERT_TRUE(Decode(Encode(a), &out).ok());
    EXPECT_EQ(out.name, "web");
    EXPECT_EQ(out.network, "blue");
    EXPECT_EQ(out.current_release, 3);
  }
  {
    Machine m = SampleMachine();
    Machine out;
    ASSERT_TRUE(Decode(Encode(m), &out).ok());
    EXPECT_EQ(Encode(out), Encode(m));
    EXPECT_EQ(out.cmd, m.cmd);
    EXPECT_EQ(out.env, m.env);
    EXPECT_EQ(out.state, S::kSuspended);
    EXPECT_EQ(out.host_id, 0xfffffffeu);
    EXPECT_TRUE(out.auto_destroy);
  }
  {
    IpAssignment ip;
    ip.address = "fdaa:1:2:0:1::5";
    ip.app = "web";
    ip.org = "acme";
    ip.network = "default";
    ip.net32 = 0x10002;
    ip.created_at = 13;
    IpAssignment out;
    ASSERT_TRUE(Decode(Encode(ip), &out).ok());
    EXPECT_EQ(Encode(out), Encode(ip));
    EXPECT_EQ(out.type, "private_v6");
    EXPECT_EQ(out.region, "global");
  }
  {
    Release r{"web", 2, R"({"app":"web"})", "app = \"web\"\n", 14};
    Release out;
    ASSERT_TRUE(Decode(Encode(r), &out).ok());
    EXPECT_EQ(out.config_json, r.config_json);
    EXPECT_EQ(out.source, r.source);
    EXPECT_EQ(out.version, 2);
  }
  {
    ReleasedAddress r{"fdaa:1:2:0:1::5", 0x10002, 5, "web", 15};
    ReleasedAddress out;
    ASSERT_TRUE(Decode(Encode(r), &out).ok());
    EXPECT_EQ(out.n, 5u);
    EXPECT_EQ(out.released_at, 15);
  }
}

TEST(Codec, MissingOptionalFieldsTakeDefaults) {
  Machine m;
  ASSERT_TRUE(Decode(R"({"id":"0123456789abcd","app":"web"})", &m).ok());
  EXPECT_EQ(m.process_group, "app");
  EXPECT_EQ(m.state, S::kCreated);
  EXPECT_TRUE(m.cmd.empty());
  EXPECT_FALSE(m.carries_services);
}

TEST(Codec, MachinesFromBeforeCarriesServicesKeepWhatDeployMeant) {
  // Deploy and scale machines (a release, not --rm) carried the services; machine run ones not.
  Machine deployed, adhoc, throwaway, explicit_off;
  ASSERT_TRUE(Decode(R"({"id":"0123456789abcd","app":"web","release_version":3})", &deployed).ok());
  EXPECT_TRUE(deployed.carries_services);
  ASSERT_TRUE(Decode(R"({"id":"0123456789abcd","app":"web","release_version":0})", &adhoc).ok());
  EXPECT_FALSE(adhoc.carries_services);
  ASSERT_TRUE(
      Decode(R"({"id":"0123456789abcd","app":"web","release_version":3,"auto_destroy":true})", &throwaway).ok());
  EXPECT_FALSE(throwaway.carries_services);
  ASSERT_TRUE(
      Decode(R"({"id":"0123456789abcd","app":"web","release_version":3,"carries_services":false})", &explicit_off)
          .ok());
  EXPECT_FALSE(explicit_off.carries_services);
}

TEST(Codec, BadInputIsAStatusNeverAThrow) {
  struct Case {
    const char* json;
    const char* message;
  } cases[] = {
      {"", "record is not valid JSON"},
      {"{", "record is not valid JSON"},
      {"[1,2]", "bad machine record: expected a JSON object"},
      {"null", "bad machine record: expected a JSON object"},
      {R"({"id":5,"app":"web"})", "bad machine record: field \"id\": expected a string"},
      {R"({"id":"x","app":"web","net32":-1})", "bad machine record: field \"net32\": expected a non-negative integer"},
      {R"({"id":"x","app":"web","net32":4294967296})", "bad machine record: field \"net32\": out of range for 32 bits"},
      {R"({"id":"x","app":"web","net32":1.5})", "bad machine record: field \"net32\": expected a non-negative integer"},
      {R"({"id":"x","app":"web","state":"running"})",
       "bad machine record: field \"state\": unknown machine state \"running\""},
      {R"({"id":"x","app":"web","state":3})", "bad machine record: field \"state\": expected a machine state name"},
      {R"({"id":"x","app":"web","cmd":"ls"})", "bad machine record: field \"cmd\": expected an array of strings"},
      {R"({"id":"x","app":"web","cmd":["ls",1]})", "bad machine record: field \"cmd\": expected an array of strings"},
      {R"({"id":"x","app":"web","env":[["A"]]})",
       "bad machine record: field \"env\": expected an array of [name, value] pairs"},
      {R"({"id":"x","app":"web","auto_destroy":"yes"})",
       "bad machine record: field \"auto_destroy\": expected a boolean"},
      {R"({"id":"x","app":"web","created_at":18446744073709551615})",
       "bad machine record: field \"created_at\": out of range"},
      {R"({"app":"web"})", "bad machine record: field \"id\": missing or empty"},
      {"\"\xff\"", "record is not valid JSON"},
  };
  for (const Case& c : cases) {
    Machine m;
    Status st = Decode(c.json, &m);
    EXPECT_EQ(st.code(), Code::kInvalidArgument) << c.json;
    EXPECT_EQ(st.message(), c.message) << c.json;
  }
  Network n;
  EXPECT_EQ(Decode(R"({"org":"a","name":"b"})", &n).message(), "bad network record: field \"net32\": missing or empty");
  Host h;
  EXPECT_EQ(Decode(R"({"id":0})", &h).message(), "bad host record: field \"id\": missing or empty");
}

TEST(Codec, InvalidUtf8IsReplacedNotThrown) {
  Machine m = SampleMachine();
  m.env = {{"BAD", "\xff\xfe"}};
  std::string text = Encode(m);
  Machine out;
  EXPECT_TRUE(Decode(text, &out).ok());
}

}  // namespace
}  // namespace privcast::store
