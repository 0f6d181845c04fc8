// Message parser: never crashes on any input; ParseQuery and ParseMessage agree on the
// question; anything ParseMessage accepts survives build → parse unchanged. The input is
// also fed to the negative cache as an upstream's reply to its own question: whatever the
// cache keeps, the answer it rebuilds parses and carries the asker's id and question.
#include <cstdint>
#include <vector>

#include "dns/neg_cache.h"
#include "dns/wire.h"
#include "fuzz/dns/fuzz_check.h"

using namespace privcast::dns;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Query q;
  ParseStatus st = ParseQuery(data, size, &q);
  Message m;
  bool full = ParseMessage(data, size, &m);
  if (st == ParseStatus::kOk) {
    FUZZ_CHECK(q.have_question && q.question_end <= size);
    FUZZ_CHECK(q.qname.len >= 1 && q.qname.len <= kMaxNameLen);
    FUZZ_CHECK(q.udp_size >= kMinUdpPayload);
    if (full) {
      FUZZ_CHECK(m.questions.size() == 1);
      FUZZ_CHECK(m.questions[0].name == q.qname);
      FUZZ_CHECK(m.questions[0].type == q.qtype);
    }
  }
  if (full && m.questions.size() == 1) {
    uint8_t qbuf[600];
    Builder qb(qbuf, sizeof qbuf, sizeof qbuf);
    qb.SetHeader(0x4242, kFlagRD);
    if (qb.AddQuestion(m.questions[0].name, m.questions[0].type, m.questions[0].klass)) {
      Query asked;
      if (ParseQuery(qbuf, qb.size(), &asked) == ParseStatus::kOk) {
        NegativeCache cache(NegativeCache::Options{});
        const privcast::MonoTime t0{};
        cache.StoreReply(7, asked, data, size, t0);
        std::vector<uint8_t> out(kMaxMessage);
        uint8_t rcode = 0;
        size_t n = cache.Answer(7, asked, qbuf, qb.size(), 512, 1232, out.data(), out.size(), t0, &rcode);
        if (n) {
          Message a;
          FUZZ_CHECK(ParseMessage(out.data(), n, &a));
          FUZZ_CHECK(a.header.id == 0x4242 && a.questions.size() == 1 && a.questions[0] == m.questions[0]);
          FUZZ_CHECK(a.header.rcode() == rcode);
        }
      }
    }
  }
  if (full) {
    std::vector<uint8_t> wire;
    if (BuildMessage(m, &wire)) {
      Message back;
      FUZZ_CHECK(ParseMessage(wire.data(), wire.size(), &back));
      FUZZ_CHECK(back == m);
      FUZZ_CHECK(wire.size() <= kMaxMessage);
    }
  }
  return 0;
}
