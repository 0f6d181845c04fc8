// Message parser: never crashes on any input; ParseQuery and ParseMessage agree on the
// question; anything ParseMessage accepts survives build → parse unchanged.
#include <cstdint>
#include <vector>

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
