// Head rewriters: one forward pass over the parsed fields, memcpy into the output span.
#include "proxy/codec/rewrite.h"

#include <cstring>

namespace privcast::codec {
namespace {

// Bounded writer: every Put checks room; once out of room it stays failed.
class Writer {
 public:
  explicit Writer(std::span<char> out) : p_(out.data()), end_(out.data() + out.size()), begin_(out.data()) {}
  void Put(std::string_view s) {
    if (s.empty()) return;  // data() may be null: memcpy(dst, nullptr, 0) is UB
    if (static_cast<size_t>(end_ - p_) < s.size()) {
      ok_ = false;
      p_ = end_;
      return;
    }
    std::memcpy(p_, s.data(), s.size());
    p_ += s.size();
  }
  void PutU64(uint64_t v) {
    char buf[20];
    char* q = buf + sizeof(buf);
    do {
      *--q = static_cast<char>('0' + v % 10);
      v /= 10;
    } while (v != 0);
    Put(std::string_view(q, static_cast<size_t>(buf + sizeof(buf) - q)));
  }
  void Field(std::string_view name, std::string_view value) {
    Put(name);
    Put(": ");
    Put(value);
    Put("\r\n");
  }
  size_t Finish() const { return ok_ ? static_cast<size_t>(p_ - begin_) : 0; }

 private:
  char* p_;
  char* end_;
  char* begin_;
  bool ok_ = true;
};

// Fields privcast sets itself on requests; the client's copies are dropped (anti-spoofing).
bool IsProxyOwnedRequestField(HeaderKind k) {
  switch (k) {
    case HeaderKind::kFlyClientIp:
    case HeaderKind::kFlyForwardedPort:
    case HeaderKind::kFlyRegion:
    case HeaderKind::kFlyRequestId:
    case HeaderKind::kFlyReplaySrc:
    case HeaderKind::kXForwardedProto:
    case HeaderKind::kXForwardedPort:
    case HeaderKind::kXForwardedSsl:
    case HeaderKind::kXRequestStart:
      return true;
    default:
      return false;
  }
}

// Writes "name: value, extra" (or "name: extra" when value is empty).
void AppendToList(Writer& w, const Header& h, std::string_view extra) {
  w.Put(h.name);
  w.Put(": ");
  if (!h.value.empty()) {
    w.Put(h.value);
    w.Put(", ");
  }
  w.Put(extra);
  w.Put("\r\n");
}

constexpr size_t kFixedRequestExtra = 320;  // our field names, CRLFs, ports, timestamp
constexpr size_t kFixedResponseExtra = 160;

}  // namespace

size_t MaxRewrittenRequestSize(const RequestHead& head, const RequestFacts& facts) {
  // Each kept field is rewritten as "name: value\r\n": at most 2 bytes more than received
  // ("name:value\r\n" -> adds one space; trimmed whitespace only shrinks it).
  return head.head_len + 2 * static_cast<size_t>(head.header_count) + kFixedRequestExtra + 2 * facts.client_ip.size() +
         facts.region.size() + facts.request_id.size() + kViaToken.size();
}

size_t RewriteRequest(const RequestHead& head, const RequestFacts& facts, std::span<char> out) {
  Writer w(out);
  w.Put(head.request_line);
  w.Put("\r\n");
  int last_xff = -1, last_via = -1;
  for (size_t i = 0; i < head.header_count; ++i) {
    if (head.headers[i].kind == HeaderKind::kXForwardedFor) last_xff = static_cast<int>(i);
    if (head.headers[i].kind == HeaderKind::kVia) last_via = static_cast<int>(i);
  }
  for (size_t i = 0; i < head.header_count; ++i) {
    const Header& h = head.headers[i];
    if (h.hop_by_hop && !(h.kind == HeaderKind::kUpgrade && head.upgrade)) continue;
    if (IsProxyOwnedRequestField(h.kind)) continue;
    if (static_cast<int>(i) == last_xff) {
      AppendToList(w, h, facts.client_ip);
    } else if (static_cast<int>(i) == last_via) {
      AppendToList(w, h, kViaToken);
    } else {
      w.Field(h.name, h.value);
    }
  }
  w.Field("Fly-Client-IP", facts.client_ip);
  if (last_xff < 0) w.Field("X-Forwarded-For", facts.client_ip);
  w.Field("X-Forwarded-Proto", facts.tls ? "https" : "http");
  w.Put("X-Forwarded-Port: ");
  w.PutU64(facts.forwarded_port);
  w.Put("\r\n");
  w.Field("X-Forwarded-SSL", facts.tls ? "on" : "off");
  w.Put("Fly-Forwarded-Port: ");
  w.PutU64(facts.forwarded_port);
  w.Put("\r\n");
  w.Field("Fly-Region", facts.region);
  w.Field("Fly-Request-Id", facts.request_id);
  if (last_via < 0) w.Field("Via", kViaToken);
  w.Put("X-Request-Start: t=");
  w.PutU64(facts.request_start_us < 0 ? 0 : static_cast<uint64_t>(facts.request_start_us));
  w.Put("\r\n");
  if (head.upgrade) {
    w.Put("Connection: upgrade\r\n");
  } else if (head.version_minor == 0) {
    w.Put("Connection: keep-alive\r\n");
  }
  w.Put("\r\n");
  return w.Finish();
}

size_t MaxRewrittenResponseSize(const ResponseHead& head, const ResponseFacts& facts) {
  size_t n = head.head_len + 2 * static_cast<size_t>(head.header_count) + kFixedResponseExtra +
             facts.request_id.size() + kViaToken.size() + kServerName.size();
  for (const HeaderOverride& o : facts.overrides) n += o.name.size() + o.value.size() + 4;
  return n + facts.extra_fields.size();
}

size_t RewriteResponse(const ResponseHead& head, const ResponseFacts& facts, std::span<char> out) {
  Writer w(out);
  w.Put(head.status_line);
  w.Put("\r\n");
  const bool switching = head.status == 101;
  const bool informational = head.informational();
  const bool decorate = !facts.pristine && !informational;
  int last_via = -1;
  if (decorate)
    for (size_t i = 0; i < head.header_count; ++i)
      if (head.headers[i].kind == HeaderKind::kVia) last_via = static_cast<int>(i);
  for (size_t i = 0; i < head.header_count; ++i) {
    const Header& h = head.headers[i];
    if (h.hop_by_hop && !(switching && h.kind == HeaderKind::kUpgrade)) continue;
    if (decorate && (h.kind == HeaderKind::kServer || h.kind == HeaderKind::kFlyRequestId)) continue;
    if (!informational) {
      bool overridden = false;
      for (const HeaderOverride& o : facts.overrides)
        if (EqualsIgnoreCase(o.name, h.name)) overridden = true;
      if (overridden) continue;
    }
    if (static_cast<int>(i) == last_via) {
      AppendToList(w, h, kViaToken);
    } else {
      w.Field(h.name, h.value);
    }
  }
  if (decorate) {
    w.Field("Fly-Request-Id", facts.request_id);
    if (last_via < 0) w.Field("Via", kViaToken);
    w.Field("Server", kServerName);
  }
  if (!informational) {
    for (const HeaderOverride& o : facts.overrides)
      if (!o.remove) w.Field(o.name, o.value);
    w.Put(facts.extra_fields);
  }
  if (switching) {
    w.Put("Connection: upgrade\r\n");
  } else if (!informational) {
    if (!facts.client_keep_alive) {
      w.Put("Connection: close\r\n");
    } else if (facts.client_http10 || head.version_minor == 0) {
      // An HTTP/1.0 status line is not persistent by default for the client either.
      w.Put("Connection: keep-alive\r\n");
    }
  }
  w.Put("\r\n");
  return w.Finish();
}

#define PC_ERR(code, text, extra)                                                                                    \
  case code:                                                                                                         \
    return close ? std::string_view("HTTP/1.1 " #code " " text "\r\nServer: privcast\r\nContent-Length: 0\r\n" extra \
                                    "Connection: close\r\n\r\n")                                                     \
                 : std::string_view("HTTP/1.1 " #code " " text "\r\nServer: privcast\r\nContent-Length: 0\r\n" extra \
                                    "\r\n");

std::string_view ErrorResponse(uint16_t status, bool close) {
  switch (status) {
    PC_ERR(400, "Bad Request", "")
    PC_ERR(403, "Forbidden", "")
    PC_ERR(404, "Not Found", "")
    PC_ERR(408, "Request Timeout", "")
    PC_ERR(413, "Content Too Large", "")
    PC_ERR(417, "Expectation Failed", "")
    PC_ERR(421, "Misdirected Request", "")
    PC_ERR(431, "Request Header Fields Too Large", "")
    PC_ERR(501, "Not Implemented", "")
    PC_ERR(502, "Bad Gateway", "")
    PC_ERR(503, "Service Unavailable", "Retry-After: 1\r\n")
    PC_ERR(504, "Gateway Timeout", "")
    PC_ERR(505, "HTTP Version Not Supported", "")
    PC_ERR(500, "Internal Server Error", "")
    default:
      return ErrorResponse(500, close);
  }
}
#undef PC_ERR

}  // namespace privcast::codec
