#include "dns/wire.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstring>

#include "tests/dns/fixture.h"

namespace privcast::dns {
namespace {

using dnstest::MakeQuery;

std::vector<uint8_t> Bytes(std::initializer_list<int> v) {
  std::vector<uint8_t> r;
  for (int x : v) r.push_back(static_cast<uint8_t>(x));
  return r;
}

TEST(NameTest, TextRoundTrip) {
  Name n;
  ASSERT_TRUE(n.FromText("App.Flycast"));
  EXPECT_EQ(n.ToText(), "App.Flycast.");
  EXPECT_EQ(n.len, 1 + 3 + 1 + 7 + 1);
  Name lower;
  lower.FromText("app.flycast.");
  EXPECT_FALSE(n == lower);
  EXPECT_TRUE(n.EqualsIgnoreCase(lower));
  ASSERT_TRUE(n.FromText("."));
  EXPECT_EQ(n.ToText(), ".");
  EXPECT_FALSE(n.FromText("a..b"));
  EXPECT_FALSE(n.FromText(std::string(64, 'a') + ".x"));
  EXPECT_TRUE(n.FromText(std::string(63, 'a') + ".x"));
  std::string long_name;
  for (int i = 0; i < 50; ++i) long_name += "abcd.";
  EXPECT_FALSE(n.FromText(long_name + "abcdef"));  // 256 bytes on the wire
}

TEST(WireTest, QueryRoundTrip) {
  auto q = MakeQuery("web.Flycast", kTypeAAAA, true, 4096, 0xbeef);
  Query p;
  ASSERT_EQ(ParseQuery(q.data(), q.size(), &p), ParseStatus::kOk);
  EXPECT_EQ(p.header.id, 0xbeef);
  EXPECT_EQ(p.qname.ToText(), "web.Flycast.");
  EXPECT_EQ(p.qtype, kTypeAAAA);
  EXPECT_EQ(p.qclass, kClassIN);
  EXPECT_TRUE(p.has_edns);
  EXPECT_EQ(p.udp_size, 4096);
  EXPECT_FALSE(p.question_compressed);
  EXPECT_EQ(p.question_end, 12 + p.qname.len + 4u);
}

TEST(WireTest, NoEdnsMeans512) {
  auto q = MakeQuery("web.flycast", kTypeAAAA, false);
  Query p;
  ASSERT_EQ(ParseQuery(q.data(), q.size(), &p), ParseStatus::kOk);
  EXPECT_FALSE(p.has_edns);
  EXPECT_EQ(p.udp_size, 512);
  auto small = MakeQuery("web.flycast", kTypeAAAA, true, 100);
  ASSERT_EQ(ParseQuery(small.data(), small.size(), &p), ParseStatus::kOk);
  EXPECT_EQ(p.udp_size, 512);  // never below 512
}

TEST(WireTest, BuilderCompressesAndRoundTrips) {
  Message m;
  m.header.id = 7;
  m.header.flags = kFlagQR | kFlagAA;
  Question q;
  q.name.FromText("a.web.internal");
  q.type = kTypeAAAA;
  q.klass = kClassIN;
  m.questions.push_back(q);
  for (int i = 0; i < 3; ++i) {
    Record r;
    r.name = q.name;
    r.type = kTypeAAAA;
    r.klass = kClassIN;
    r.ttl = 5;
    r.rdata.assign(16, static_cast<uint8_t>(i));
    m.answers.push_back(r);
  }
  Record soa;
  soa.name.FromText("internal");
  soa.type = kTypeSOA;
  soa.klass = kClassIN;
  soa.ttl = 5;
  Name mn, rn;
  mn.FromText("ns.internal");
  rn.FromText("hostmaster.internal");
  soa.rdata.insert(soa.rdata.end(), mn.data, mn.data + mn.len);
  soa.rdata.insert(soa.rdata.end(), rn.data, rn.data + rn.len);
  soa.rdata.resize(soa.rdata.size() + 20, 1);
  m.authority.push_back(soa);
  Record txt;
  txt.name.FromText("_apps.internal");
  txt.type = kTypeTXT;
  txt.klass = kClassIN;
  txt.rdata = Bytes({3, 'a', 'b', 'c', 0});
  m.additional.push_back(txt);
  m.header.qdcount = 1;
  m.header.ancount = 3;
  m.header.nscount = 1;
  m.header.arcount = 1;

  std::vector<uint8_t> wire;
  ASSERT_TRUE(BuildMessage(m, &wire));
  // Each repeated owner is a 2-byte pointer; SOA owner and rdata names are compressed too.
  size_t uncompressed = 12 + (q.name.len + 4) + 3 * (q.name.len + 10 + 16) + (soa.name.len + 10 + soa.rdata.size()) +
                        (txt.name.len + 10 + 5);
  EXPECT_LT(wire.size(), uncompressed - 3 * (q.name.len - 2) - 20);
  Message back;
  ASSERT_TRUE(ParseMessage(wire.data(), wire.size(), &back));
  EXPECT_EQ(back, m);
}

TEST(WireTest, TxtSplitsInto255ByteStrings) {
  uint8_t buf[2048];
  Builder b(buf, sizeof buf, sizeof buf);
  Name owner;
  owner.FromText("x.internal");
  ASSERT_TRUE(b.AddQuestion(owner, kTypeTXT, kClassIN));
  std::string text(600, 'z');
  ASSERT_TRUE(b.AddTxt(Section::kAnswer, owner, text, 5));
  Message m;
  ASSERT_TRUE(ParseMessage(buf, b.size(), &m));
  ASSERT_EQ(m.answers.size(), 1u);
  const auto& rd = m.answers[0].rdata;
  ASSERT_EQ(rd.size(), 600u + 3);
  EXPECT_EQ(rd[0], 255);
  EXPECT_EQ(rd[256], 255);
  EXPECT_EQ(rd[512], 600 - 510);
}

TEST(WireTest, BuilderRespectsLimitAndRollsBack) {
  uint8_t buf[512];
  Builder b(buf, sizeof buf, 100);
  Name n;
  n.FromText("web.flycast");
  ASSERT_TRUE(b.AddQuestion(n, kTypeAAAA, kClassIN));
  uint8_t a[16] = {};
  int added = 0;
  while (b.AddAaaaAtQuestion(a, 5)) ++added;
  EXPECT_EQ(added, (100 - 12 - 17) / 28);
  size_t before = b.size();
  EXPECT_FALSE(b.AddTxt(Section::kAnswer, n, std::string(100, 'x'), 5));
  EXPECT_EQ(b.size(), before);
  EXPECT_EQ(b.count(Section::kAnswer), added);
}

// --- malicious inputs --------------------------------------------------------------------

std::vector<uint8_t> Header(int qd, int an = 0, int ns = 0, int ar = 0, int flags = 0x0100) {
  return Bytes({0x12, 0x34, flags >> 8, flags & 0xff, 0, qd, 0, an, 0, ns, 0, ar});
}

TEST(WireMaliciousTest, ShortAndResponsesAreDropped) {
  Query q;
  for (size_t n = 0; n < 12; ++n) {
    std::vector<uint8_t> b(n, 0);
    EXPECT_EQ(ParseQuery(b.data(), b.size(), &q), ParseStatus::kDrop) << n;
  }
  auto resp = MakeQuery("web.flycast", kTypeAAAA);
  resp[2] |= 0x80;
  EXPECT_EQ(ParseQuery(resp.data(), resp.size(), &q), ParseStatus::kDrop);
}

TEST(WireMaliciousTest, CompressionLoopsAreRejected) {
  Query q;
  // Pointer to itself.
  auto m = Header(1);
  auto tail = Bytes({0xC0, 12, 0, 28, 0, 1});
  m.insert(m.end(), tail.begin(), tail.end());
  EXPECT_EQ(ParseQuery(m.data(), m.size(), &q), ParseStatus::kFormErr);
  // Two labels pointing at each other (forward pointer).
  m = Header(1);
  tail = Bytes({1, 'a', 0xC0, 16, 1, 'b', 0xC0, 12, 0, 28, 0, 1});
  m.insert(m.end(), tail.begin(), tail.end());
  EXPECT_EQ(ParseQuery(m.data(), m.size(), &q), ParseStatus::kFormErr);
  // A pointer past the end.
  m = Header(1);
  tail = Bytes({0xC1, 0xff, 0, 28, 0, 1});
  m.insert(m.end(), tail.begin(), tail.end());
  EXPECT_EQ(ParseQuery(m.data(), m.size(), &q), ParseStatus::kFormErr);
  // A backward pointer is fine: answer record owner → question name.
  auto ok = MakeQuery("web.flycast", kTypeAAAA, false);
  ok[7] = 1;  // ancount = 1
  auto rr = Bytes({0xC0, 12, 0, 28, 0, 1, 0, 0, 0, 5, 0, 16});
  ok.insert(ok.end(), rr.begin(), rr.end());
  ok.resize(ok.size() + 16, 0);
  EXPECT_EQ(ParseQuery(ok.data(), ok.size(), &q), ParseStatus::kOk);
}

TEST(WireMaliciousTest, PointerChainsCannotExceedNameLimit) {
  // Many labels chained with backward pointers until the name would pass 255 bytes.
  auto m = Header(0);
  m.push_back(0);  // offset 12: root
  size_t prev = 12;
  for (int i = 0; i < 60; ++i) {
    size_t here = m.size();
    auto l = Bytes({4, 'a', 'b', 'c', 'd', 0xC0 | static_cast<int>(prev >> 8), static_cast<int>(prev & 0xff)});
    m.insert(m.end(), l.begin(), l.end());
    prev = here;
  }
  size_t pos = prev;
  Name n;
  EXPECT_FALSE(ReadName(m.data(), m.size(), &pos, &n));
  pos = 12 + 1 + 7 * 9;  // a shorter chain (10 labels) decodes
  ASSERT_TRUE(ReadName(m.data(), m.size(), &pos, &n));
  std::string ten;
  for (int i = 0; i < 10; ++i) ten += "abcd.";
  EXPECT_EQ(n.ToText(), ten);
}

TEST(WireMaliciousTest, BadCountsAreFormErr) {
  Query q;
  auto m = MakeQuery("web.flycast", kTypeAAAA, false);
  m[5] = 2;  // qdcount 2, only one question present
  EXPECT_EQ(ParseQuery(m.data(), m.size(), &q), ParseStatus::kFormErr);
  m = MakeQuery("web.flycast", kTypeAAAA, false);
  m[5] = 0;
  EXPECT_EQ(ParseQuery(m.data(), m.size(), &q), ParseStatus::kFormErr);
  m = MakeQuery("web.flycast", kTypeAAAA, false);
  m[11] = 3;  // arcount 3 with no records
  EXPECT_EQ(ParseQuery(m.data(), m.size(), &q), ParseStatus::kFormErr);
  m = MakeQuery("web.flycast", kTypeAAAA, true);
  m.resize(m.size() - 3);  // OPT cut short
  EXPECT_EQ(ParseQuery(m.data(), m.size(), &q), ParseStatus::kFormErr);
  m = MakeQuery("web.flycast", kTypeAAAA, false);
  m.resize(m.size() - 1);  // question cut short
  EXPECT_EQ(ParseQuery(m.data(), m.size(), &q), ParseStatus::kFormErr);
}

TEST(WireMaliciousTest, OptRules) {
  Query q;
  // Two OPT records.
  auto m = MakeQuery("web.flycast", kTypeAAAA, true);
  auto opt = Bytes({0, 0, 41, 4, 0, 0, 0, 0, 0, 0, 0});
  m.insert(m.end(), opt.begin(), opt.end());
  m[11] = 2;
  EXPECT_EQ(ParseQuery(m.data(), m.size(), &q), ParseStatus::kFormErr);
  // OPT whose options overrun its rdata.
  m = MakeQuery("web.flycast", kTypeAAAA, false);
  auto bad = Bytes({0, 0, 41, 4, 0, 0, 0, 0, 0, 0, 5, 0, 10, 0, 9, 1});
  m.insert(m.end(), bad.begin(), bad.end());
  m[11] = 1;
  EXPECT_EQ(ParseQuery(m.data(), m.size(), &q), ParseStatus::kFormErr);
  // EDNS version 1 → BADVERS.
  m = MakeQuery("web.flycast", kTypeAAAA, false);
  auto v1 = Bytes({0, 0, 41, 4, 0, 0, 1, 0, 0, 0, 0});
  m.insert(m.end(), v1.begin(), v1.end());
  m[11] = 1;
  EXPECT_EQ(ParseQuery(m.data(), m.size(), &q), ParseStatus::kBadVers);
}

TEST(WireMaliciousTest, LabelTypesAndOpcode) {
  Query q;
  auto m = Header(1);
  auto tail = Bytes({0x41, 'a', 0, 0, 28, 0, 1});  // 0x40 extended label type
  m.insert(m.end(), tail.begin(), tail.end());
  EXPECT_EQ(ParseQuery(m.data(), m.size(), &q), ParseStatus::kFormErr);
  auto upd = MakeQuery("web.flycast", kTypeAAAA, false);
  upd[2] = 5 << 3;  // opcode UPDATE
  EXPECT_EQ(ParseQuery(upd.data(), upd.size(), &q), ParseStatus::kNotImp);
}

TEST(WireMaliciousTest, RdataOfKnownTypesMustMatchLayout) {
  Message m;
  auto w = MakeQuery("x.internal", kTypeNS, false);
  w[7] = 1;
  auto rr = Bytes({0xC0, 12, 0, 2, 0, 1, 0, 0, 0, 5, 0, 4, 1, 'a', 0, 0});  // NS with a trailing byte
  w.insert(w.end(), rr.begin(), rr.end());
  EXPECT_FALSE(ParseMessage(w.data(), w.size(), &m));
  w[w.size() - 5] = 3;  // rdlength 3: exactly the name
  w.pop_back();
  EXPECT_TRUE(ParseMessage(w.data(), w.size(), &m));
}

}  // namespace
}  // namespace privcast::dns
