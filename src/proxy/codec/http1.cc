// HTTP/1.1 head parser. Two phases: an incremental scan that only looks for the end of the
// head (every LF must follow a CR) and checks the start line as soon as it is complete, then
// one strict pass over the complete head. The scan keeps offsets only, so the caller may
// move its buffer between calls; the pass runs once per message.
#include "proxy/codec/http1.h"

#include <cstring>

#include "common/strings.h"

namespace privcast::codec {
namespace {

constexpr uint8_t kTok = 1;  // tchar (RFC 9110 §5.6.2)
constexpr uint8_t kVal = 2;  // field-value char: HTAB, SP, VCHAR, obs-text
constexpr uint8_t kTgt = 4;  // request-target char (strict: visible ASCII)
constexpr uint8_t kDig = 8;

struct CharTable {
  uint8_t t[256];
  uint8_t lower[256];
  constexpr CharTable() : t{}, lower{} {
    for (int c = 0; c < 256; ++c) {
      uint8_t f = 0;
      bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
      bool digit = c >= '0' && c <= '9';
      if (alpha || digit) f |= kTok;
      for (char s : std::string_view("!#$%&'*+-.^_`|~"))
        if (c == static_cast<unsigned char>(s)) f |= kTok;
      if (c == '\t' || c == ' ' || (c >= 0x21 && c <= 0x7e) || c >= 0x80) f |= kVal;
      if (c >= 0x21 && c <= 0x7e) f |= kTgt;
      if (digit) f |= kDig;
      t[c] = f;
      lower[c] = static_cast<uint8_t>((c >= 'A' && c <= 'Z') ? c + 32 : c);
    }
  }
};
constexpr CharTable kChars;

inline bool Is(char c, uint8_t cls) { return kChars.t[static_cast<unsigned char>(c)] & cls; }
inline bool IsOws(char c) { return c == ' ' || c == '\t'; }

// SWAR: 8 bytes at once. True when none of the bytes is a control char (< 0x20) or DEL.
// Bytes >= 0x80 (obs-text) pass. HTAB does not: the byte loop handles it.
inline bool AllPlainValue(const char* p) {
  uint64_t x;
  std::memcpy(&x, p, 8);
  constexpr uint64_t kOnes = 0x0101010101010101ull, kHigh = 0x8080808080808080ull;
  uint64_t lt20 = (x - kOnes * 0x20) & ~x & kHigh;
  uint64_t d = x ^ (kOnes * 0x7f);
  uint64_t del = (d - kOnes) & ~d & kHigh;
  return (lt20 | del) == 0;
}
// 8 target bytes: 0x21..0x7e only.
inline bool AllTarget(const char* p) {
  uint64_t x;
  std::memcpy(&x, p, 8);
  constexpr uint64_t kOnes = 0x0101010101010101ull, kHigh = 0x8080808080808080ull;
  uint64_t lt21 = (x - kOnes * 0x21) & ~x & kHigh;
  uint64_t d = x ^ (kOnes * 0x7f);
  uint64_t del = (d - kOnes) & ~d & kHigh;
  return ((lt21 | del) | (x & kHigh)) == 0;
}

ParseResult Err(uint16_t status, const char* reason) {
  ParseResult r;
  r.status = ParseStatus::kError;
  r.error_status = status;
  r.reason = reason;
  return r;
}

// Lower-case compare of a received name against a lower-case literal of the same length.
inline bool NameIs(std::string_view name, std::string_view lower_literal) {
  if (name.size() != lower_literal.size()) return false;
  for (size_t i = 0; i < name.size(); ++i)
    if (kChars.lower[static_cast<unsigned char>(name[i])] != static_cast<unsigned char>(lower_literal[i])) return false;
  return true;
}

HeaderKind Classify(std::string_view n) {
  using K = HeaderKind;
  switch (n.size()) {
    case 2:
      if (NameIs(n, "te")) return K::kTe;
      break;
    case 3:
      if (NameIs(n, "via")) return K::kVia;
      break;
    case 4:
      if (NameIs(n, "host")) return K::kHost;
      break;
    case 6:
      if (NameIs(n, "expect")) return K::kExpect;
      if (NameIs(n, "server")) return K::kServer;
      break;
    case 7:
      if (NameIs(n, "upgrade")) return K::kUpgrade;
      break;
    case 10:
      if (NameIs(n, "connection")) return K::kConnection;
      if (NameIs(n, "keep-alive")) return K::kKeepAlive;
      if (NameIs(n, "fly-region")) return K::kFlyRegion;
      break;
    case 13:
      if (NameIs(n, "fly-client-ip")) return K::kFlyClientIp;
      break;
    case 14:
      if (NameIs(n, "content-length")) return K::kContentLength;
      if (NameIs(n, "fly-request-id")) return K::kFlyRequestId;
      if (NameIs(n, "fly-replay-src")) return K::kFlyReplaySrc;
      break;
    case 15:
      if (NameIs(n, "x-forwarded-for")) return K::kXForwardedFor;
      if (NameIs(n, "x-forwarded-ssl")) return K::kXForwardedSsl;
      if (NameIs(n, "x-request-start")) return K::kXRequestStart;
      break;
    case 16:
      if (NameIs(n, "proxy-connection")) return K::kProxyConnection;
      if (NameIs(n, "x-forwarded-port")) return K::kXForwardedPort;
      if (NameIs(n, "fly-force-region")) return K::kFlyForceRegion;
      break;
    case 17:
      if (NameIs(n, "transfer-encoding")) return K::kTransferEncoding;
      if (NameIs(n, "x-forwarded-proto")) return K::kXForwardedProto;
      if (NameIs(n, "fly-prefer-region")) return K::kFlyPreferRegion;
      break;
    case 18:
      if (NameIs(n, "fly-forwarded-port")) return K::kFlyForwardedPort;
      break;
    case 21:
      if (NameIs(n, "fly-force-instance-id")) return K::kFlyForceInstanceId;
      break;
    case 22:
      if (NameIs(n, "fly-prefer-instance-id")) return K::kFlyPreferInstanceId;
      break;
    default:
      break;
  }
  return K::kOther;
}

// Calls f(element) for each non-empty, OWS-trimmed element of a comma-separated list.
template <typename F>
void ForEachListElement(std::string_view v, F&& f) {
  while (true) {
    size_t comma = v.find(',');
    std::string_view el = Trim(v.substr(0, comma));
    if (!el.empty()) f(el);
    if (comma == std::string_view::npos) return;
    v.remove_prefix(comma + 1);
  }
}

// Content-Length value: 1#DIGIT list whose elements are all equal (RFC 9110 §8.6).
// `have` says whether an earlier field already set *out; a different value is an error.
bool MergeContentLength(std::string_view v, bool* have, uint64_t* out) {
  bool ok = true;
  bool any = false;
  ForEachListElement(v, [&](std::string_view el) {
    any = true;
    if (el.size() > 18) {
      ok = false;
      return;
    }  // < 10^18: no overflow
    uint64_t n = 0;
    for (char c : el) {
      if (!Is(c, kDig)) {
        ok = false;
        return;
      }
      n = n * 10 + static_cast<uint64_t>(c - '0');
    }
    if (*have && n != *out) {
      ok = false;
      return;
    }
    *have = true;
    *out = n;
  });
  return ok && any;
}

// Transfer-Encoding codings across all TE fields, in order.
struct TeSummary {
  int chunked = 0;
  int other = 0;
  bool last_chunked = false;
};
void AddTransferCodings(std::string_view v, TeSummary* s) {
  ForEachListElement(v, [&](std::string_view el) {
    if (NameIs(el, "chunked")) {
      ++s->chunked;
      s->last_chunked = true;
    } else {
      ++s->other;
      s->last_chunked = false;
    }
  });
}

// Scans for the end of the head. Returns kDone with consumed = end offset, kIncomplete,
// or kError (bare LF). `check_start_line` runs once, when the start line is complete.
template <typename CheckStart>
ParseResult ScanHead(std::string_view d, HeadScanState* st, size_t limit, uint16_t too_large,
                     CheckStart&& check_start_line) {
  size_t i = st->scanned;
  const char* base = d.data();
  // Never look past the limit: a one-shot parse and a byte-by-byte one then see the same
  // bytes and reach the same verdict.
  const size_t scan_end = d.size() < limit ? d.size() : limit;
  while (i < scan_end) {
    const void* lf = std::memchr(base + i, '\n', scan_end - i);
    if (lf == nullptr) break;
    size_t p = static_cast<size_t>(static_cast<const char*>(lf) - base);
    if (p == 0 || base[p - 1] != '\r') return Err(too_large == 431 ? 400 : 502, "bare LF");
    bool empty_line = (p == 1) || base[p - 2] == '\n';
    i = p + 1;
    if (empty_line) {
      if (!st->seen_line) {
        st->start = i;  // leading empty line (RFC 9112 §2.2): skip
        continue;
      }
      st->scanned = i;
      ParseResult r;
      r.status = ParseStatus::kDone;
      r.consumed = i;
      return r;
    }
    if (!st->seen_line) {
      st->seen_line = true;
      ParseResult r = check_start_line(d.substr(st->start, p + 1 - st->start));
      if (r.error()) return r;
    }
  }
  st->scanned = scan_end;
  if (!st->seen_line) {
    // Reject obvious garbage (TLS handshakes, binary) before the first line ends: the
    // start line must begin with a token (method or "HTTP").
    size_t n = scan_end - st->start;
    if (n > 32) n = 32;
    for (size_t k = 0; k < n; ++k) {
      char c = base[st->start + k];
      if (c == ' ') break;
      if (c == '\r') break;
      if (!Is(c, kTok) && c != '/') return Err(too_large == 431 ? 400 : 502, "invalid start line");
    }
  }
  if (d.size() >= limit) return Err(too_large, "head too large");
  return ParseResult{};
}

// Parses field lines from p; the head ends at e (just after the final CRLF, guaranteed by
// the scan). Returns kDone or kError; *count set.
ParseResult ParseFields(const char* p, const char* e, std::array<Header, kMaxHeaders>& hs, size_t max_headers,
                        uint16_t* count, uint16_t bad) {
  size_t n = 0;
  while (true) {
    if (*p == '\r') {
      if (p + 1 >= e || p[1] != '\n') return Err(bad, "bare CR");
      break;
    }
    if (IsOws(*p)) return Err(bad, "obs-fold or whitespace before field name");
    const char* name = p;
    while (Is(*p, kTok)) ++p;
    if (*p != ':') {
      if (IsOws(*p)) return Err(bad, "whitespace before colon");
      return Err(bad, "invalid character in field name");
    }
    if (p == name) return Err(bad, "empty field name");
    std::string_view nm(name, static_cast<size_t>(p - name));
    ++p;
    while (IsOws(*p)) ++p;
    const char* v = p;
    while (true) {
      while (e - p >= 8 && AllPlainValue(p)) p += 8;
      if (Is(*p, kVal)) {
        ++p;
        continue;
      }
      break;
    }
    if (*p != '\r') return Err(bad, "invalid character in field value");
    if (p[1] != '\n') return Err(bad, "bare CR");
    const char* ve = p;
    while (ve > v && IsOws(ve[-1])) --ve;
    if (n >= max_headers) return Err(bad == 400 ? 431 : 502, "too many header fields");
    Header& h = hs[n++];
    h.name = nm;
    h.value = std::string_view(v, static_cast<size_t>(ve - v));
    h.kind = Classify(nm);
    h.hop_by_hop = false;
    p += 2;
  }
  *count = static_cast<uint16_t>(n);
  ParseResult r;
  r.status = ParseStatus::kDone;
  return r;
}

// Connection tokens: keep-alive/close/upgrade flags; other tokens mark same-named fields
// hop-by-hop. Framing and routing fields are never stripped by name (a client naming
// Content-Length in Connection must not change what the app sees).
struct ConnTokens {
  bool close = false, keep_alive = false, upgrade = false;
};
ConnTokens ApplyConnection(std::array<Header, kMaxHeaders>& hs, size_t n) {
  ConnTokens t;
  for (size_t i = 0; i < n; ++i) {
    Header& h = hs[i];
    switch (h.kind) {
      case HeaderKind::kConnection:
      case HeaderKind::kKeepAlive:
      case HeaderKind::kProxyConnection:
      case HeaderKind::kTe:
      case HeaderKind::kUpgrade:
        h.hop_by_hop = true;
        break;
      default:
        break;
    }
    if (h.kind != HeaderKind::kConnection) continue;
    ForEachListElement(h.value, [&](std::string_view tok) {
      if (NameIs(tok, "close")) {
        t.close = true;
      } else if (NameIs(tok, "keep-alive")) {
        t.keep_alive = true;
      } else if (NameIs(tok, "upgrade")) {
        t.upgrade = true;
      } else {
        for (size_t j = 0; j < n; ++j)
          if (hs[j].kind == HeaderKind::kOther && EqualsIgnoreCase(hs[j].name, tok)) hs[j].hop_by_hop = true;
      }
    });
  }
  return t;
}

// "HTTP/d.d" at p (8 bytes available). Returns -1 malformed, -2 unsupported, else minor.
int ParseVersion(const char* p) {
  if (std::memcmp(p, "HTTP/", 5) != 0 || !Is(p[5], kDig) || p[6] != '.' || !Is(p[7], kDig)) return -1;
  if (p[5] != '1' || (p[7] != '0' && p[7] != '1')) return -2;
  return p[7] - '0';
}

Method MethodId(std::string_view m) {
  switch (m.size()) {
    case 3:
      if (m == "GET") return Method::kGet;
      if (m == "PUT") return Method::kPut;
      break;
    case 4:
      if (m == "HEAD") return Method::kHead;
      if (m == "POST") return Method::kPost;
      break;
    case 5:
      if (m == "PATCH") return Method::kPatch;
      if (m == "TRACE") return Method::kTrace;
      break;
    case 6:
      if (m == "DELETE") return Method::kDelete;
      break;
    case 7:
      if (m == "OPTIONS") return Method::kOptions;
      if (m == "CONNECT") return Method::kConnect;
      break;
    default:
      break;
  }
  return Method::kOther;
}

// Request line "METHOD SP target SP HTTP/1.x CRLF" at the start of `line` (which ends with
// LF). Fills method/target/version when out != nullptr.
ParseResult ParseRequestLine(std::string_view line, RequestHead* out) {
  const char* p = line.data();
  const char* e = p + line.size();
  const char* m = p;
  while (Is(*p, kTok)) ++p;
  if (p == m || *p != ' ') return Err(400, "malformed method");
  const char* me = p++;
  const char* t = p;
  while (true) {
    while (e - p >= 8 && AllTarget(p)) p += 8;
    if (Is(*p, kTgt)) {
      ++p;
      continue;
    }
    break;
  }
  if (p == t || *p != ' ') return Err(400, "malformed request target");
  const char* te = p++;
  if (e - p != 10) return Err(400, "malformed HTTP version");
  int minor = ParseVersion(p);
  if (minor == -1) return Err(400, "malformed HTTP version");
  if (p[8] != '\r') return Err(400, "malformed HTTP version");
  if (minor == -2) return Err(505, "HTTP version not supported");
  if (out != nullptr) {
    out->method = std::string_view(m, static_cast<size_t>(me - m));
    out->method_id = MethodId(out->method);
    out->target = std::string_view(t, static_cast<size_t>(te - t));
    out->request_line = std::string_view(m, static_cast<size_t>(p + 8 - m));
    out->version_minor = static_cast<uint8_t>(minor);
  }
  ParseResult r;
  r.status = ParseStatus::kDone;
  return r;
}

// Status line "HTTP/1.x SP 3DIGIT [SP reason] CRLF".
ParseResult ParseStatusLine(std::string_view line, ResponseHead* out) {
  const char* p = line.data();
  const char* e = p + line.size();
  if (e - p < 14) return Err(502, "malformed status line");  // "HTTP/1.1 200" CRLF
  int minor = ParseVersion(p);
  if (minor < 0) return Err(502, "unsupported or malformed response version");
  if (p[8] != ' ' || !Is(p[9], kDig) || !Is(p[10], kDig) || !Is(p[11], kDig)) return Err(502, "malformed status line");
  int status = (p[9] - '0') * 100 + (p[10] - '0') * 10 + (p[11] - '0');
  if (status < 100) return Err(502, "malformed status code");
  const char* r = p + 12;
  const char* rs = r;
  if (*r == ' ') {
    rs = ++r;
    while (Is(*r, kVal)) ++r;
  }
  if (*r != '\r' || r + 2 != e) return Err(502, "malformed status line");
  if (out != nullptr) {
    out->status_line = std::string_view(p, static_cast<size_t>(r - p));
    out->status = static_cast<uint16_t>(status);
    out->reason = std::string_view(rs, static_cast<size_t>(r - rs));
    out->version_minor = static_cast<uint8_t>(minor);
  }
  ParseResult res;
  res.status = ParseStatus::kDone;
  return res;
}

}  // namespace

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (kChars.lower[static_cast<unsigned char>(a[i])] != kChars.lower[static_cast<unsigned char>(b[i])]) return false;
  return true;
}

bool ListContainsToken(std::string_view value, std::string_view token) {
  bool found = false;
  ForEachListElement(value, [&](std::string_view el) {
    if (EqualsIgnoreCase(el, token)) found = true;
  });
  return found;
}

const Header* RequestHead::Find(std::string_view name) const {
  for (size_t i = 0; i < header_count; ++i)
    if (EqualsIgnoreCase(headers[i].name, name)) return &headers[i];
  return nullptr;
}

const Header* ResponseHead::Find(std::string_view name) const {
  for (size_t i = 0; i < header_count; ++i)
    if (EqualsIgnoreCase(headers[i].name, name)) return &headers[i];
  return nullptr;
}

RequestParser::RequestParser(const ParseLimits& limits) : limits_(limits) {
  if (limits_.max_headers > kMaxHeaders) limits_.max_headers = kMaxHeaders;
}

// One request-head state machine that runs per request on the proxy hot path: kept whole.
// NOLINTNEXTLINE(readability-function-size): one state machine, read top to bottom
ParseResult RequestParser::Parse(std::string_view data, RequestHead* out) {
  ParseResult scan = ScanHead(data, &scan_, limits_.max_head_bytes, 431,
                              [](std::string_view line) { return ParseRequestLine(line, nullptr); });
  if (!scan.done()) return scan;
  const size_t end = scan.consumed;
  const char* base = data.data();
  const char* line_end = static_cast<const char*>(std::memchr(base + scan_.start, '\n', end - scan_.start));
  ParseResult r =
      ParseRequestLine(std::string_view(base + scan_.start, static_cast<size_t>(line_end + 1 - (base + scan_.start))),
                       out);
  if (r.error()) return r;
  r = ParseFields(line_end + 1, base + end, out->headers, limits_.max_headers, &out->header_count, 400);
  if (r.error()) return r;

  RequestHead& h = *out;
  h.head_len = end;
  h.head_start = scan_.start;
  h.framing = Framing::kNone;
  h.content_length = 0;
  h.expect_continue = false;
  h.upgrade = false;
  h.websocket = false;
  h.host = {};
  h.fly_prefer_region = h.fly_force_region = h.fly_prefer_instance_id = h.fly_force_instance_id = {};

  int hosts = 0;
  bool have_cl = false, have_te = false, cl_ok = true;
  TeSummary te;
  const Header* upgrade = nullptr;
  for (size_t i = 0; i < h.header_count; ++i) {
    const Header& f = h.headers[i];
    switch (f.kind) {
      case HeaderKind::kHost:
        ++hosts;
        h.host = f.value;
        break;
      case HeaderKind::kContentLength:
        if (!MergeContentLength(f.value, &have_cl, &h.content_length)) cl_ok = false;
        break;
      case HeaderKind::kTransferEncoding:
        have_te = true;
        AddTransferCodings(f.value, &te);
        break;
      case HeaderKind::kExpect:
        if (EqualsIgnoreCase(f.value, "100-continue")) h.expect_continue = true;
        break;
      case HeaderKind::kUpgrade:
        upgrade = &f;
        break;
      case HeaderKind::kFlyPreferRegion:
        h.fly_prefer_region = f.value;
        break;
      case HeaderKind::kFlyForceRegion:
        h.fly_force_region = f.value;
        break;
      case HeaderKind::kFlyPreferInstanceId:
        h.fly_prefer_instance_id = f.value;
        break;
      case HeaderKind::kFlyForceInstanceId:
        h.fly_force_instance_id = f.value;
        break;
      default:
        break;
    }
  }
  if (hosts > 1) return Err(400, "duplicate Host");
  if (hosts == 0 && h.version_minor == 1) return Err(400, "missing Host");
  for (char c : h.host)
    if (!Is(c, kTgt) || c == '/' || c == '@' || c == '?' || c == '#') return Err(400, "invalid Host");
  if (!cl_ok) return Err(400, "invalid or conflicting Content-Length");
  if (have_te) {
    if (have_cl) return Err(400, "both Content-Length and Transfer-Encoding");
    if (h.version_minor == 0) return Err(400, "Transfer-Encoding in HTTP/1.0");
    if (te.chunked == 0 || !te.last_chunked) return Err(400, "chunked is not the final transfer coding");
    if (te.chunked > 1) return Err(400, "chunked applied twice");
    if (te.other > 0) return Err(501, "unsupported transfer coding");
    h.framing = Framing::kChunked;
  } else if (have_cl) {
    h.framing = Framing::kContentLength;
  }
  if (h.version_minor == 0) h.expect_continue = false;  // RFC 9110 §10.1.1: ignore in 1.0

  ConnTokens ct = ApplyConnection(h.headers, h.header_count);
  h.keep_alive = h.version_minor == 1 ? !ct.close : (ct.keep_alive && !ct.close);
  if (upgrade != nullptr && ct.upgrade && h.version_minor == 1) {
    h.upgrade = true;
    ForEachListElement(upgrade->value, [&](std::string_view proto) {
      std::string_view name = proto.substr(0, proto.find('/'));
      if (EqualsIgnoreCase(name, "websocket")) h.websocket = true;
    });
  }
  r.status = ParseStatus::kDone;
  r.consumed = end;
  return r;
}

ResponseParser::ResponseParser(const ParseLimits& limits) : limits_(limits) {
  if (limits_.max_headers > kMaxHeaders) limits_.max_headers = kMaxHeaders;
}

ParseResult ResponseParser::Parse(std::string_view data, const ResponseContext& ctx, ResponseHead* out) {
  ParseResult scan = ScanHead(data, &scan_, limits_.max_head_bytes, 502,
                              [](std::string_view line) { return ParseStatusLine(line, nullptr); });
  if (!scan.done()) return scan;
  const size_t end = scan.consumed;
  const char* base = data.data();
  const char* line_end = static_cast<const char*>(std::memchr(base + scan_.start, '\n', end - scan_.start));
  ParseResult r =
      ParseStatusLine(std::string_view(base + scan_.start, static_cast<size_t>(line_end + 1 - (base + scan_.start))),
                      out);
  if (r.error()) return r;
  r = ParseFields(line_end + 1, base + end, out->headers, limits_.max_headers, &out->header_count, 502);
  if (r.error()) return r;

  ResponseHead& h = *out;
  h.head_len = end;
  h.content_length = 0;
  bool have_cl = false, have_te = false, cl_ok = true;
  TeSummary te;
  for (size_t i = 0; i < h.header_count; ++i) {
    const Header& f = h.headers[i];
    if (f.kind == HeaderKind::kContentLength) {
      if (!MergeContentLength(f.value, &have_cl, &h.content_length)) cl_ok = false;
    } else if (f.kind == HeaderKind::kTransferEncoding) {
      have_te = true;
      AddTransferCodings(f.value, &te);
    }
  }
  ConnTokens ct = ApplyConnection(h.headers, h.header_count);
  h.keep_alive = h.version_minor == 1 ? !ct.close : (ct.keep_alive && !ct.close);

  // RFC 9112 §6.3, in order.
  const uint16_t s = h.status;
  if (ctx.request_method == Method::kHead || (s >= 100 && s < 200 && s != 101) || s == 204 || s == 304) {
    h.framing = Framing::kNone;
    if (have_te && s != 304 && ctx.request_method != Method::kHead && (s == 204 || s < 200))
      return Err(502, "Transfer-Encoding on a response without body");
  } else if (s == 101 || (ctx.request_method == Method::kConnect && s >= 200 && s < 300)) {
    h.framing = Framing::kTunnel;
    h.keep_alive = false;
  } else if (have_te) {
    if (have_cl) return Err(502, "both Content-Length and Transfer-Encoding");
    if (h.version_minor == 0) return Err(502, "Transfer-Encoding in HTTP/1.0");
    if (te.chunked > 1) return Err(502, "chunked applied twice");
    if (te.last_chunked) {
      h.framing = Framing::kChunked;
    } else {
      h.framing = Framing::kCloseDelimited;
      h.keep_alive = false;
    }
  } else if (have_cl) {
    if (!cl_ok) return Err(502, "invalid or conflicting Content-Length");
    h.framing = Framing::kContentLength;
  } else {
    h.framing = Framing::kCloseDelimited;
    h.keep_alive = false;
  }
  if (!cl_ok) return Err(502, "invalid or conflicting Content-Length");
  r.status = ParseStatus::kDone;
  r.consumed = end;
  return r;
}

}  // namespace privcast::codec
