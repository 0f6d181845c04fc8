#include "api/http.h"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cstdio>

#include "common/strings.h"

namespace privcast::api::http {
namespace {

bool IsTchar(char c) {
  if (std::isalnum(static_cast<unsigned char>(c))) return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~':
      return true;
    default:
      return false;
  }
}

bool ContainsToken(std::string_view list, std::string_view token) {
  size_t pos = 0;
  while (pos <= list.size()) {
    size_t comma = list.find(',', pos);
    if (comma == std::string_view::npos) comma = list.size();
    if (Lower(Trim(list.substr(pos, comma - pos))) == token) return true;
    pos = comma + 1;
  }
  return false;
}

ParseResult Error(int status, std::string msg) {
  ParseResult r;
  r.kind = ParseResult::Kind::kError;
  r.status = status;
  r.error = std::move(msg);
  return r;
}

// Parses header lines in [begin, end) (each ending in CRLF). Returns an error message or "".
std::string ParseHeaderLines(std::string_view block, Headers* out) {
  size_t pos = 0;
  while (pos < block.size()) {
    size_t eol = block.find("\r\n", pos);
    if (eol == std::string_view::npos) return "header line without CRLF";
    std::string_view line = block.substr(pos, eol - pos);
    pos = eol + 2;
    if (line.empty()) continue;
    if (line.front() == ' ' || line.front() == '\t') return "obsolete header folding";
    size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) return "header without a name";
    std::string_view name = line.substr(0, colon);
    if (!std::all_of(name.begin(), name.end(), IsTchar)) return "invalid header name";
    std::string_view value = Trim(line.substr(colon + 1));
    for (char c : value)
      if ((static_cast<unsigned char>(c) < 0x20 && c != '\t') || c == 0x7f) return "control character in header value";
    out->emplace_back(Lower(name), std::string(value));
  }
  return "";
}

std::optional<size_t> ParseSize(std::string_view s, int base = 10) {
  if (s.empty() || s.size() > 16) return std::nullopt;
  size_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v, base);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

int HexVal(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

const std::string* FindHeader(const Headers& h, std::string_view name) {
  for (auto& [k, v] : h)
    if (k == name) return &v;
  return nullptr;
}

}  // namespace

const std::string* Request::Header(std::string_view n) const { return FindHeader(headers, n); }
const std::string* ResponseHead::Header(std::string_view n) const { return FindHeader(headers, n); }

const std::string* Request::Query(std::string_view name) const {
  for (auto& [k, v] : query)
    if (k == name) return &v;
  return nullptr;
}

std::optional<std::string> PercentDecode(std::string_view s, bool plus_is_space) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      int hi = HexVal(s[i + 1]), lo = HexVal(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out.push_back(static_cast<char>(hi << 4 | lo));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::string PercentEncode(std::string_view s) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(static_cast<char>(c));
    } else {
      out.push_back('%');
      out.push_back(kHex[c >> 4]);
      out.push_back(kHex[c & 15]);
    }
  }
  return out;
}

std::optional<std::vector<std::string>> SplitPath(std::string_view path) {
  if (path.empty() || path.front() != '/') return std::nullopt;
  std::vector<std::string> parts;
  size_t pos = 1;
  while (pos <= path.size()) {
    size_t slash = path.find('/', pos);
    if (slash == std::string_view::npos) slash = path.size();
    std::string_view seg = path.substr(pos, slash - pos);
    if (!seg.empty()) {
      auto d = PercentDecode(seg, false);
      if (!d) return std::nullopt;
      parts.push_back(std::move(*d));
    }
    pos = slash + 1;
  }
  return parts;
}

// `qs` (after '?') as decoded key/value pairs; false when a part does not decode.
static bool ParseQuery(std::string_view qs, std::vector<std::pair<std::string, std::string>>* out) {
  size_t pos = 0;
  while (pos <= qs.size()) {
    size_t amp = qs.find('&', pos);
    if (amp == std::string_view::npos) amp = qs.size();
    std::string_view kv = qs.substr(pos, amp - pos);
    if (!kv.empty()) {
      size_t eq = kv.find('=');
      auto k = PercentDecode(kv.substr(0, eq), true);
      auto v = PercentDecode(eq == std::string_view::npos ? std::string_view() : kv.substr(eq + 1), true);
      if (!k || !v) return false;
      out->emplace_back(std::move(*k), std::move(*v));
    }
    pos = amp + 1;
  }
  return true;
}

// The body length the headers announce (0 without Content-Length); "" or why it is malformed.
static std::string ContentLength(const Headers& headers, size_t* len) {
  int count = 0;
  for (auto& [k, v] : headers) {
    if (k != "content-length") continue;
    if (++count > 1) return "more than one Content-Length";
    auto n = ParseSize(v);
    if (!n) return "malformed Content-Length";
    *len = *n;
  }
  return "";
}

ParseResult ParseRequest(std::string_view buf, const ParseLimits& limits, Request* out) {
  // Tolerate (and skip) empty lines before a request line, as RFC 9112 allows.
  size_t start = 0;
  while (start + 1 < buf.size() && buf[start] == '\r' && buf[start + 1] == '\n') start += 2;
  size_t head_end = buf.find("\r\n\r\n", start);
  if (head_end == std::string_view::npos) {
    if (buf.size() - start > limits.max_header_bytes)
      return Error(431, "request headers exceed " + std::to_string(limits.max_header_bytes) + " bytes");
    return {};
  }
  if (head_end - start > limits.max_header_bytes)
    return Error(431, "request headers exceed " + std::to_string(limits.max_header_bytes) + " bytes");

  std::string_view head = buf.substr(start, head_end - start + 2);
  size_t eol = head.find("\r\n");
  std::string_view line = head.substr(0, eol);
  size_t sp1 = line.find(' ');
  size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp1 == std::string_view::npos || sp2 == std::string_view::npos ||
      line.find(' ', sp2 + 1) != std::string_view::npos)
    return Error(400, "malformed request line");
  std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  std::string_view version = line.substr(sp2 + 1);
  if (method.empty() || !std::all_of(method.begin(), method.end(), IsTchar)) return Error(400, "malformed method");
  if (target.empty() || target.front() != '/') return Error(400, "request target must be a path");
  for (char c : target)
    if (static_cast<unsigned char>(c) <= 0x20 || c == 0x7f) return Error(400, "malformed request target");
  if (version != "HTTP/1.1" && version != "HTTP/1.0") {
    if (version.rfind("HTTP/", 0) == 0) return Error(505, "only HTTP/1.0 and HTTP/1.1 are supported");
    return Error(400, "malformed HTTP version");
  }

  Request r;
  r.method = std::string(method);
  r.target = std::string(target);
  size_t q = target.find('?');
  r.path = std::string(target.substr(0, q));
  if (q != std::string_view::npos && !ParseQuery(target.substr(q + 1), &r.query))
    return Error(400, "malformed query string");
  std::string herr = ParseHeaderLines(head.substr(eol + 2), &r.headers);
  if (!herr.empty()) return Error(400, herr);

  const std::string* conn = r.Header("connection");
  if (version == "HTTP/1.0") {
    r.keep_alive = conn && ContainsToken(*conn, "keep-alive");
  } else {
    r.keep_alive = !(conn && ContainsToken(*conn, "close"));
  }
  if (version == "HTTP/1.1" && !r.Header("host")) {
    // Unix-socket clients often omit Host; we accept that (no virtual hosting here).
  }
  if (r.Header("transfer-encoding")) return Error(501, "chunked request bodies are not supported; send Content-Length");

  size_t body_len = 0;
  if (std::string err = ContentLength(r.headers, &body_len); !err.empty()) return Error(400, err);
  if (body_len > limits.max_body_bytes)
    return Error(413, "request body exceeds " + std::to_string(limits.max_body_bytes) + " bytes");
  size_t body_start = head_end + 4;
  if (buf.size() - body_start < body_len) return {};
  r.body = std::string(buf.substr(body_start, body_len));
  *out = std::move(r);
  ParseResult ok;
  ok.kind = ParseResult::Kind::kOk;
  ok.consumed = body_start + body_len;
  return ok;
}

const char* ReasonPhrase(int status) {
  switch (status) {
    case 100:
      return "Continue";
    case 200:
      return "OK";
    case 201:
      return "Created";
    case 202:
      return "Accepted";
    case 204:
      return "No Content";
    case 400:
      return "Bad Request";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 408:
      return "Request Timeout";
    case 409:
      return "Conflict";
    case 412:
      return "Precondition Failed";
    case 413:
      return "Content Too Large";
    case 415:
      return "Unsupported Media Type";
    case 422:
      return "Unprocessable Content";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 503:
      return "Service Unavailable";
    case 505:
      return "HTTP Version Not Supported";
    default:
      return "Unknown";
  }
}

std::string SerializeResponse(int status, std::string_view content_type, std::string_view body, bool keep_alive,
                              const Headers& extra) {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " + ReasonPhrase(status) + "\r\n";
  out += "Server: privcastd\r\n";
  if (!content_type.empty()) {
    out += "Content-Type: ";
    out += content_type;
    out += "\r\n";
  }
  for (auto& [k, v] : extra) out.append(k).append(": ").append(v).append("\r\n");
  out += "Content-Length: " + std::to_string(body.size()) + "\r\n";
  if (!keep_alive) out += "Connection: close\r\n";
  out += "\r\n";
  out += body;
  return out;
}

std::string SerializeChunkedHead(int status, std::string_view content_type) {
  std::string out = "HTTP/1.1 " + std::to_string(status) + " " + ReasonPhrase(status) + "\r\n";
  out += "Server: privcastd\r\nContent-Type: ";
  out += content_type;
  out += "\r\nTransfer-Encoding: chunked\r\nCache-Control: no-cache\r\n\r\n";
  return out;
}

std::string EncodeChunk(std::string_view data) {
  char size[32];
  std::snprintf(size, sizeof size, "%zx\r\n", data.size());
  std::string out = size;
  out += data;
  out += "\r\n";
  return out;
}

ParseResult ParseResponseHead(std::string_view buf, size_t max_header_bytes, ResponseHead* out) {
  size_t head_end = buf.find("\r\n\r\n");
  if (head_end == std::string_view::npos) {
    if (buf.size() > max_header_bytes) return Error(502, "response headers too large");
    return {};
  }
  std::string_view head = buf.substr(0, head_end + 2);
  size_t eol = head.find("\r\n");
  std::string_view line = head.substr(0, eol);
  if (line.size() < 12 || line.substr(0, 5) != "HTTP/" || line[8] != ' ') return Error(502, "malformed status line");
  auto code = ParseSize(line.substr(9, 3));
  if (!code || *code < 100 || *code > 599) return Error(502, "malformed status code");
  ResponseHead r;
  r.status = static_cast<int>(*code);
  std::string herr = ParseHeaderLines(head.substr(eol + 2), &r.headers);
  if (!herr.empty()) return Error(502, herr);
  if (auto* te = r.Header("transfer-encoding")) r.chunked = ContainsToken(*te, "chunked");
  if (auto* cl = r.Header("content-length")) {
    auto n = ParseSize(*cl);
    if (!n) return Error(502, "malformed Content-Length");
    r.content_length = *n;
  }
  if (auto* c = r.Header("connection")) r.keep_alive = !ContainsToken(*c, "close");
  if (line.substr(0, 8) == "HTTP/1.0") r.keep_alive = false;
  *out = std::move(r);
  ParseResult ok;
  ok.kind = ParseResult::Kind::kOk;
  ok.consumed = head_end + 4;
  return ok;
}

bool ChunkedDecoder::Feed(std::string_view in, std::string* out) {
  size_t i = 0;
  while (i < in.size()) {
    switch (state_) {
      case State::kSize:
      case State::kTrailer:
      case State::kDataCrlf: {
        char c = in[i++];
        line_.push_back(c);
        if (line_.size() > 1024) return false;
        if (line_.size() < 2 || line_.substr(line_.size() - 2) != "\r\n") break;
        std::string l = line_.substr(0, line_.size() - 2);
        line_.clear();
        if (state_ == State::kDataCrlf) {
          if (!l.empty()) return false;
          state_ = State::kSize;
        } else if (state_ == State::kTrailer) {
          if (l.empty()) state_ = State::kDone;
        } else {
          size_t semi = l.find(';');
          auto n = ParseSize(Trim(std::string_view(l).substr(0, semi)), 16);
          if (!n) return false;
          remaining_ = *n;
          state_ = remaining_ == 0 ? State::kTrailer : State::kData;
        }
        break;
      }
      case State::kData: {
        size_t take = std::min<uint64_t>(remaining_, in.size() - i);
        out->append(in.substr(i, take));
        i += take;
        remaining_ -= take;
        if (remaining_ == 0) state_ = State::kDataCrlf;
        break;
      }
      case State::kDone:
        return true;  // ignore anything after the last chunk
    }
  }
  return true;
}

}  // namespace privcast::api::http
