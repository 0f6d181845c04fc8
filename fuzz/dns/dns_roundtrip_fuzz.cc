// Builder round trip: a Message assembled from the fuzz input (names drawn from a small
// alphabet so compression has suffixes to share; every record type the server writes, plus
// opaque ones) must come back identical from parse(build(x)). Also exercises Builder limits:
// building into a small limit must fail cleanly or produce a message that parses.
#include <cstdint>
#include <string>
#include <vector>

#include "dns/wire.h"
#include "fuzz/dns/fuzz_check.h"

using namespace privcast::dns;

namespace {

struct Input {
  const uint8_t* p;
  size_t n;
  uint8_t Byte() {
    if (!n) return 0;
    --n;
    return *p++;
  }
  uint16_t U16() { return static_cast<uint16_t>(Byte() << 8 | Byte()); }
  uint32_t U32() { return static_cast<uint32_t>(U16()) << 16 | U16(); }
};

Name RandomName(Input& in) {
  static const char* kLabels[] = {"web", "flycast", "internal",       "vm",      "WEB",
                                  "a",   "_apps",   "top3",           "nearest", "of",
                                  "fra", "x-y",     "148e123a1b2c01", "process"};
  std::string text;
  int nl = in.Byte() % 6;
  for (int i = 0; i < nl; ++i) {
    uint8_t b = in.Byte();
    if (b >= 240) text += std::string(1 + b % 63, static_cast<char>('a' + b % 26));  // long label
    else text += kLabels[b % (sizeof kLabels / sizeof *kLabels)];
    text += '.';
  }
  Name n;
  if (text.empty() || !n.FromText(text)) n.FromText(".");
  return n;
}

void PutName(std::vector<uint8_t>& rd, const Name& n) { rd.insert(rd.end(), n.data, n.data + n.len); }

Record RandomRecord(Input& in) {
  Record r;
  r.name = RandomName(in);
  r.klass = kClassIN;
  r.ttl = in.U32();
  switch (in.Byte() % 8) {
    case 0:
      r.type = kTypeAAAA;
      for (int i = 0; i < 16; ++i) r.rdata.push_back(in.Byte());
      break;
    case 1: {
      r.type = kTypeTXT;
      int k = 1 + in.Byte() % 3;
      for (int i = 0; i < k; ++i) {
        uint8_t len = in.Byte();
        r.rdata.push_back(len);
        for (int j = 0; j < len; ++j) r.rdata.push_back(static_cast<uint8_t>('a' + j % 26));
      }
      break;
    }
    case 2:
      r.type = kTypeSOA;
      PutName(r.rdata, RandomName(in));
      PutName(r.rdata, RandomName(in));
      for (int i = 0; i < 20; ++i) r.rdata.push_back(in.Byte());
      break;
    case 3:
      r.type = kTypeNS;
      PutName(r.rdata, RandomName(in));
      break;
    case 4:
      r.type = kTypeMX;
      r.rdata.push_back(in.Byte());
      r.rdata.push_back(in.Byte());
      PutName(r.rdata, RandomName(in));
      break;
    case 5:
      r.type = kTypeSRV;
      for (int i = 0; i < 6; ++i) r.rdata.push_back(in.Byte());
      PutName(r.rdata, RandomName(in));
      break;
    case 6:
      r.type = kTypeOPT;
      r.name.FromText(".");
      r.klass = in.U16();
      break;
    default:
      r.type = in.U16();
      if (r.type == kTypeNS || r.type == kTypeCNAME || r.type == kTypePTR || r.type == kTypeMX || r.type == kTypeSOA ||
          r.type == kTypeSRV)
        r.type = 99;
      for (int i = in.Byte() % 32; i > 0; --i) r.rdata.push_back(in.Byte());
  }
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Input in{data, size};
  Message m;
  m.header.id = in.U16();
  m.header.flags = in.U16();
  int nq = in.Byte() % 3;
  for (int i = 0; i < nq; ++i) {
    Question q;
    q.name = RandomName(in);
    q.type = in.U16();
    q.klass = in.U16();
    m.questions.push_back(q);
  }
  std::vector<Record>* secs[3] = {&m.answers, &m.authority, &m.additional};
  for (auto* s : secs)
    for (int i = in.Byte() % 5; i > 0; --i) s->push_back(RandomRecord(in));
  m.header.qdcount = static_cast<uint16_t>(m.questions.size());
  m.header.ancount = static_cast<uint16_t>(m.answers.size());
  m.header.nscount = static_cast<uint16_t>(m.authority.size());
  m.header.arcount = static_cast<uint16_t>(m.additional.size());

  std::vector<uint8_t> wire;
  FUZZ_CHECK(BuildMessage(m, &wire));  // always fits in 64 KiB here
  Message back;
  FUZZ_CHECK(ParseMessage(wire.data(), wire.size(), &back));
  FUZZ_CHECK(back == m);

  // A tight limit: each Add either fits or leaves the buffer as it was.
  size_t limit = 12 + in.U16() % 600;
  std::vector<uint8_t> buf(limit);
  Builder b(buf.data(), buf.size(), limit);
  b.SetHeader(m.header.id, m.header.flags);
  for (const auto& q : m.questions) b.AddQuestion(q.name, q.type, q.klass);
  for (int s = 0; s < 3; ++s)
    for (const auto& r : *secs[s]) {
      size_t before = b.size();
      if (!b.AddRecord(static_cast<Section>(s), r.name, r.type, r.klass, r.ttl, r.rdata.data(), r.rdata.size()))
        FUZZ_CHECK(b.size() == before);
    }
  FUZZ_CHECK(b.size() <= limit);
  Message partial;
  FUZZ_CHECK(ParseMessage(b.data(), b.size(), &partial));
  return 0;
}
