// h2_frames_fuzz: the HTTP/2 input path — a server nghttp2 session with the proxy's options and
// settings (H2ServerOptions / H2ServerSettings), fed the connection preface then the input, and
// behind it what H2Stream does with a request's HEADERS: H2RequestFields → HTTP/1.1 head text →
// the codec's parser and rewriter → HTTP/2 fields again (HeadFields). Never crashes; a head the
// parser accepts rewrites to a head it accepts again; HeadFields never yields a
// connection-specific or upper-case field name; nghttp2's output is drained every round.
//
// Input: the bytes a client sends after the 24-byte preface (frames), in slices of
// data[0] % 64 + 1 bytes (several mem_recv calls, as reads of a socket would be).
#include <nghttp2/nghttp2.h>

#include <cctype>
#include <cstdint>
#include <cstring>
#include <map>
#include <string>
#include <string_view>

#include "fuzz_check.h"
#include "proxy/codec/http1.h"
#include "proxy/codec/rewrite.h"
#include "proxy/h2_head.h"
#include "proxy/h2_session.h"

using namespace privcast;
using namespace privcast::proxy;

namespace {

constexpr size_t kMaxList = 16 * 1024;

struct Ctx {
  std::map<int32_t, H2RequestFields> streams;
};

void CheckHead(const H2RequestFields& f, bool end_stream) {
  bool chunked = false;
  std::string h1 = f.ToHttp1(end_stream, true, &chunked);
  codec::RequestParser parser(codec::ParseLimits{kMaxList + 256, codec::kMaxHeaders});
  static codec::RequestHead head, again;
  codec::ParseResult r = parser.Parse(h1, &head);
  if (!r.done()) return;
  codec::RequestFacts facts;
  facts.client_ip = "fdaa:0:1::5";
  facts.forwarded_port = 80;
  facts.region = "ams";
  facts.request_id = "01ARZ3NDEKTSV4RRFFQ69G5FAV";
  std::string out(codec::MaxRewrittenRequestSize(head, facts), '\0');
  size_t n = codec::RewriteRequest(head, facts, std::span<char>(out.data(), out.size()));
  FUZZ_CHECK(n > 0);
  out.resize(n);
  codec::RequestParser p2(codec::ParseLimits{out.size() + 1, codec::kMaxHeaders + 16});
  codec::ParseResult r2 = p2.Parse(out, &again);
  FUZZ_CHECK(r2.done());
  FUZZ_CHECK(again.framing == head.framing);
  for (auto& [name, value] : HeadFields(out)) {
    FUZZ_CHECK(!H2ConnectionSpecific(name));
    for (char c : name) FUZZ_CHECK(!std::isupper(static_cast<unsigned char>(c)));
  }
}

int BeginHeaders(nghttp2_session*, const nghttp2_frame* f, void* ud) {
  if (f->hd.type == NGHTTP2_HEADERS && f->headers.cat == NGHTTP2_HCAT_REQUEST)
    static_cast<Ctx*>(ud)->streams[f->hd.stream_id] = H2RequestFields{};
  return 0;
}

int Header(nghttp2_session*, const nghttp2_frame* f, const uint8_t* name, size_t namelen, const uint8_t* value,
           size_t valuelen, uint8_t, void* ud) {
  if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  auto& m = static_cast<Ctx*>(ud)->streams;
  auto it = m.find(f->hd.stream_id);
  if (it != m.end())
    it->second.Add({reinterpret_cast<const char*>(name), namelen}, {reinterpret_cast<const char*>(value), valuelen},
                   kMaxList);
  return 0;
}

int FrameRecv(nghttp2_session* ng, const nghttp2_frame* f, void* ud) {
  if (f->hd.type != NGHTTP2_HEADERS || f->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  auto& m = static_cast<Ctx*>(ud)->streams;
  auto it = m.find(f->hd.stream_id);
  if (it == m.end()) return 0;
  if (!it->second.too_large) CheckHead(it->second, f->hd.flags & NGHTTP2_FLAG_END_STREAM);
  // Answer like a stream would (a response without a body), so nghttp2 has output to produce.
  nghttp2_nv nv[] = {{(uint8_t*)":status", (uint8_t*)"200", 7, 3, NGHTTP2_NV_FLAG_NONE}};
  nghttp2_submit_response(ng, f->hd.stream_id, nv, 1, nullptr);
  return 0;
}

int DataChunk(nghttp2_session* ng, uint8_t, int32_t id, const uint8_t*, size_t len, void*) {
  nghttp2_session_consume(ng, id, len);  // NO_AUTO_WINDOW_UPDATE: as H2Stream does once sent
  return 0;
}

int StreamClose(nghttp2_session*, int32_t id, uint32_t, void* ud) {
  static_cast<Ctx*>(ud)->streams.erase(id);
  return 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  size_t slice = data[0] % 64 + 1;
  data += 1;
  size -= 1;
  static nghttp2_session_callbacks* cbs = [] {
    nghttp2_session_callbacks* c = nullptr;
    nghttp2_session_callbacks_new(&c);
    nghttp2_session_callbacks_set_on_begin_headers_callback(c, BeginHeaders);
    nghttp2_session_callbacks_set_on_header_callback(c, Header);
    nghttp2_session_callbacks_set_on_frame_recv_callback(c, FrameRecv);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(c, DataChunk);
    nghttp2_session_callbacks_set_on_stream_close_callback(c, StreamClose);
    return c;
  }();
  Ctx ctx;
  nghttp2_session* ng = nullptr;
  FUZZ_CHECK(nghttp2_session_server_new2(&ng, cbs, &ctx, H2ServerOptions()) == 0);
  std::vector<nghttp2_settings_entry> iv = H2ServerSettings(100, kMaxList);
  nghttp2_submit_settings(ng, NGHTTP2_FLAG_NONE, iv.data(), iv.size());
  std::string in = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
  in.append(reinterpret_cast<const char*>(data), size);
  size_t out_bytes = 0;
  for (size_t pos = 0; pos < in.size();) {
    size_t n = std::min(slice, in.size() - pos);
    ssize_t r = nghttp2_session_mem_recv(ng, reinterpret_cast<const uint8_t*>(in.data() + pos), n);
    if (r < 0) break;  // a connection error: the GOAWAY is queued, the proxy would close
    FUZZ_CHECK(static_cast<size_t>(r) == n);
    pos += n;
    for (;;) {
      const uint8_t* out = nullptr;
      ssize_t k = nghttp2_session_mem_send(ng, &out);
      if (k <= 0) break;
      out_bytes += static_cast<size_t>(k);
    }
  }
  (void)out_bytes;
  nghttp2_session_del(ng);
  return 0;
}
