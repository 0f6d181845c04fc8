// Proxy codec micro-benchmarks: ns per request head for parse, rewrite, response handling,
// chunked framing and PROXY headers; with PRIVCAST_HAVE_HTTP_PARSER the same request heads
// through nodejs/http-parser 2.9 (Debian libhttp-parser-dev), collecting the same
// name/value views, for comparison.
//
// Run: proxy_codec_bench --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
#include <arpa/inet.h>
#include <benchmark/benchmark.h>
#include <netinet/in.h>

#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/codec/chunked.h"
#include "proxy/codec/http1.h"
#include "proxy/codec/proxy_protocol.h"
#include "proxy/codec/rewrite.h"

#ifdef PRIVCAST_HAVE_HTTP_PARSER
#include <http_parser.h>
#endif

namespace {

using namespace privcast::codec;

// What `curl http://app.flycast/` sends.
const std::string kCurl = "GET / HTTP/1.1\r\nHost: app.flycast\r\nUser-Agent: curl/7.88.1\r\nAccept: */*\r\n\r\n";
// What `wrk -c50 http://[fdaa:...]:80/` sends (wrk 4.x: request line + Host only).
const std::string kWrk = "GET / HTTP/1.1\r\nHost: [fdaa:0:1:0:1::3]:80\r\n\r\n";
// A browser navigation (~520 bytes, 10 fields).
const std::string kBrowser =
    "GET /dashboard/settings?tab=members HTTP/1.1\r\n"
    "Host: admin.flycast\r\n"
    "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0\r\n"
    "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8\r\n"
    "Accept-Language: en-US,en;q=0.5\r\n"
    "Accept-Encoding: gzip, deflate, br, zstd\r\n"
    "Referer: http://admin.flycast/dashboard\r\n"
    "Cookie: session=9f2c1e7a4b3d8e6f0a1b2c3d4e5f6a7b; theme=dark; csrftoken=AbCdEfGhIjKlMnOp\r\n"
    "Connection: keep-alive\r\n"
    "Upgrade-Insecure-Requests: 1\r\n"
    "Priority: u=0, i\r\n"
    "\r\n";
const std::string kNginxResponse =
    "HTTP/1.1 200 OK\r\nServer: nginx/1.22.1\r\nDate: Sun, 22 Nov 2026 03:00:00 GMT\r\n"
    "Content-Type: text/plain\r\nContent-Length: 100\r\nConnection: keep-alive\r\n\r\n";

const std::string& Input(int64_t i) { return i == 0 ? kWrk : i == 1 ? kCurl : kBrowser; }
const char* InputName(int64_t i) { return i == 0 ? "wrk" : i == 1 ? "curl" : "browser"; }

RequestFacts Facts() {
  RequestFacts f;
  f.client_ip = "fdaa:0:1:a7b:5::2";
  f.forwarded_port = 80;
  f.region = "ams";
  f.request_id = "01JDQ5ZK3M2P8V4XW6Y7Z9ABCD-ams";
  f.request_start_us = 1763780000123456;
  return f;
}

void BM_ParseRequest(benchmark::State& state) {
  const std::string& in = Input(state.range(0));
  auto head = std::make_unique<RequestHead>();
  for (auto _ : state) {
    RequestParser p;
    ParseResult r = p.Parse(in, head.get());
    benchmark::DoNotOptimize(r);
    benchmark::DoNotOptimize(head->header_count);
  }
  state.SetLabel(InputName(state.range(0)));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * in.size()));
}
BENCHMARK(BM_ParseRequest)->DenseRange(0, 2);

// Two reads: the head arrives in two segments (the second call scans only the new bytes).
void BM_ParseRequestTwoReads(benchmark::State& state) {
  const std::string& in = Input(state.range(0));
  auto head = std::make_unique<RequestHead>();
  for (auto _ : state) {
    RequestParser p;
    ParseResult r = p.Parse(std::string_view(in).substr(0, in.size() / 2), head.get());
    benchmark::DoNotOptimize(r);
    r = p.Parse(in, head.get());
    benchmark::DoNotOptimize(r);
  }
  state.SetLabel(InputName(state.range(0)));
}
BENCHMARK(BM_ParseRequestTwoReads)->DenseRange(0, 2);

void BM_ParseAndRewriteRequest(benchmark::State& state) {
  const std::string& in = Input(state.range(0));
  auto head = std::make_unique<RequestHead>();
  RequestFacts f = Facts();
  std::vector<char> out(4096);
  for (auto _ : state) {
    RequestParser p;
    ParseResult r = p.Parse(in, head.get());
    benchmark::DoNotOptimize(r);
    size_t n = RewriteRequest(*head, f, out);
    benchmark::DoNotOptimize(n);
    benchmark::ClobberMemory();
  }
  state.SetLabel(InputName(state.range(0)));
}
BENCHMARK(BM_ParseAndRewriteRequest)->DenseRange(0, 2);

void BM_RewriteRequestOnly(benchmark::State& state) {
  const std::string& in = Input(state.range(0));
  auto head = std::make_unique<RequestHead>();
  RequestParser p;
  if (!p.Parse(in, head.get()).done()) state.SkipWithError("parse failed");
  RequestFacts f = Facts();
  std::vector<char> out(4096);
  for (auto _ : state) {
    size_t n = RewriteRequest(*head, f, out);
    benchmark::DoNotOptimize(n);
    benchmark::ClobberMemory();
  }
  state.SetLabel(InputName(state.range(0)));
}
BENCHMARK(BM_RewriteRequestOnly)->DenseRange(0, 2);

void BM_ParseAndRewriteResponse(benchmark::State& state) {
  auto head = std::make_unique<ResponseHead>();
  ResponseFacts f;
  f.request_id = "01JDQ5ZK3M2P8V4XW6Y7Z9ABCD-ams";
  std::vector<char> out(4096);
  for (auto _ : state) {
    ResponseParser p;
    ParseResult r = p.Parse(kNginxResponse, ResponseContext{}, head.get());
    benchmark::DoNotOptimize(r);
    size_t n = RewriteResponse(*head, f, out);
    benchmark::DoNotOptimize(n);
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_ParseAndRewriteResponse);

void BM_ChunkedSmallBody(benchmark::State& state) {
  const std::string body = "5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
  for (auto _ : state) {
    ChunkedFramer f;
    ChunkedFramer::Result r = f.Feed(body);
    benchmark::DoNotOptimize(r);
  }
}
BENCHMARK(BM_ChunkedSmallBody);

void BM_ChunkedLargeChunks(benchmark::State& state) {
  std::string body;
  for (int i = 0; i < 16; ++i) body += "4000\r\n" + std::string(0x4000, 'x') + "\r\n";
  body += "0\r\n\r\n";
  for (auto _ : state) {
    ChunkedFramer f;
    ChunkedFramer::Result r = f.Feed(body);
    benchmark::DoNotOptimize(r);
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * body.size()));
}
BENCHMARK(BM_ChunkedLargeChunks);

sockaddr_storage V6(const char* ip, uint16_t port) {
  sockaddr_storage ss{};
  auto* s = reinterpret_cast<sockaddr_in6*>(&ss);
  s->sin6_family = AF_INET6;
  s->sin6_port = htons(port);
  inet_pton(AF_INET6, ip, &s->sin6_addr);
  return ss;
}

void BM_ProxyV1Write(benchmark::State& state) {
  sockaddr_storage c = V6("fdaa:0:1:a7b:5::2", 40000), d = V6("fdaa:0:1:0:1::3", 80);
  char buf[kProxyV1MaxLen];
  for (auto _ : state) {
    size_t n = WriteProxyV1(c, d, buf);
    benchmark::DoNotOptimize(n);
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_ProxyV1Write);

void BM_ProxyV2Write(benchmark::State& state) {
  sockaddr_storage c = V6("fdaa:0:1:a7b:5::2", 40000), d = V6("fdaa:0:1:0:1::3", 80);
  char buf[kProxyV2MaxWriteLen];
  for (auto _ : state) {
    size_t n = WriteProxyV2(c, d, buf);
    benchmark::DoNotOptimize(n);
    benchmark::ClobberMemory();
  }
}
BENCHMARK(BM_ProxyV2Write);

#ifdef PRIVCAST_HAVE_HTTP_PARSER
// http-parser with callbacks collecting the same zero-copy views our parser produces.
struct HpCollect {
  std::string_view url;
  std::string_view names[kMaxHeaders], values[kMaxHeaders];
  size_t n = 0;
  bool in_value = false;
  bool complete = false;
};

int OnUrl(http_parser* p, const char* at, size_t len) {
  static_cast<HpCollect*>(p->data)->url = std::string_view(at, len);
  return 0;
}
int OnField(http_parser* p, const char* at, size_t len) {
  auto* c = static_cast<HpCollect*>(p->data);
  if (c->n >= kMaxHeaders) return 1;
  c->names[c->n] = std::string_view(at, len);
  return 0;
}
int OnValue(http_parser* p, const char* at, size_t len) {
  auto* c = static_cast<HpCollect*>(p->data);
  c->values[c->n++] = std::string_view(at, len);
  return 0;
}
int OnHeadersComplete(http_parser* p) {
  static_cast<HpCollect*>(p->data)->complete = true;
  return 0;
}

void BM_HttpParserRequest(benchmark::State& state) {
  const std::string& in = Input(state.range(0));
  http_parser_settings s;
  http_parser_settings_init(&s);
  s.on_url = OnUrl;
  s.on_header_field = OnField;
  s.on_header_value = OnValue;
  s.on_headers_complete = OnHeadersComplete;
  auto c = std::make_unique<HpCollect>();
  for (auto _ : state) {
    http_parser p;
    http_parser_init(&p, HTTP_REQUEST);
    c->n = 0;
    p.data = c.get();
    size_t n = http_parser_execute(&p, &s, in.data(), in.size());
    benchmark::DoNotOptimize(n);
    benchmark::DoNotOptimize(c->n);
    if (!c->complete || p.http_errno != HPE_OK) state.SkipWithError("http_parser failed");
  }
  state.SetLabel(InputName(state.range(0)));
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * in.size()));
}
BENCHMARK(BM_HttpParserRequest)->DenseRange(0, 2);
#endif

}  // namespace
