#include "proxy/h2_head.h"

#include <algorithm>
#include <cstdint>
#include <cstring>

namespace privcast::proxy {

bool H2ConnectionSpecific(std::string_view n) {
  switch (n.size()) {  // one comparison at most: every field of every head goes through here
    case 7:
      return n == "upgrade";
    case 10:
      return n == "connection" || n == "keep-alive";
    case 16:
      return n == "proxy-connection";
    case 17:
      return n == "transfer-encoding";
    default:
      return false;
  }
}

namespace {

// ASCII upper case letters of [p, p + n) to lower case, eight bytes at a time (the names of our
// heads are mostly "Fly-Client-IP" style; the per-character loop was the top of HeadNv's profile).
// Bytes above 0x7F are left alone.
void LowerAscii(char* p, size_t n) {
  constexpr uint64_t kOnes = 0x0101010101010101ULL;
  size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    uint64_t w;
    std::memcpy(&w, p + i, 8);
    uint64_t low7 = w & (0x7F * kOnes);
    uint64_t at_least_a = low7 + (0x80 - 'A') * kOnes;   // high bit: byte >= 'A'
    uint64_t above_z = low7 + (0x80 - 'Z' - 1) * kOnes;  // high bit: byte > 'Z'
    uint64_t upper = at_least_a & ~above_z & ~w & (0x80 * kOnes);
    w |= upper >> 2;  // 0x80 >> 2 = 0x20: 'A' → 'a'
    std::memcpy(p + i, &w, 8);
  }
  for (; i < n; ++i)
    if (p[i] >= 'A' && p[i] <= 'Z') p[i] = static_cast<char>(p[i] + 32);
}

bool NewWithEveryMessage(std::string_view n) {
  return (n.size() == 14 && n == "fly-request-id") || (n.size() == 15 && n == "x-request-start");
}

}  // namespace

void H2RequestFields::Add(std::string_view name, std::string_view value, size_t max_list_bytes) {
  list_bytes += name.size() + value.size() + 32;
  if (too_large || list_bytes > max_list_bytes) {
    too_large = true;
    return;
  }
  if (!name.empty() && name[0] == ':') {
    if (name == ":method") method.assign(value);
    else if (name == ":path") path.assign(value);
    else if (name == ":authority") authority.assign(value);
    else if (name == ":scheme") scheme.assign(value);
    return;
  }
  if (name == "cookie") {
    if (!cookies.empty()) cookies += "; ";
    cookies.append(value);
    return;
  }
  if (name == "host") {  // :authority wins (RFC 9113 §8.3.1)
    if (authority.empty()) authority.assign(value);
    return;
  }
  if (name == "te") {  // hop-by-hop; "trailers" is all HTTP/2 allows, and an h2 app gets it again
    te_trailers = true;
    return;
  }
  if (name == "content-length") has_content_length = true;
  if (fields.empty()) fields.reserve(256);  // one allocation for a usual head, not a doubling series
  fields.append(name).append(": ").append(value).append("\r\n");
}

void H2RequestFields::Clear() {
  method.clear();
  path.clear();
  authority.clear();
  scheme.clear();
  cookies.clear();
  fields.clear();
  list_bytes = 0;
  has_content_length = te_trailers = too_large = false;
}

std::string H2RequestFields::ToHttp1(bool end_stream, bool chunk_body, bool* chunked) const {
  std::string h;
  ToHttp1(end_stream, chunk_body, chunked, &h);
  return h;
}

void H2RequestFields::ToHttp1(bool end_stream, bool chunk_body, bool* chunked, std::string* out) const {
  std::string& h = *out;
  h.clear();
  h.reserve(fields.size() + method.size() + path.size() + authority.size() + cookies.size() + 64);
  h.append(method).append(" ").append(path).append(" HTTP/1.1\r\nhost: ").append(authority).append("\r\n");
  h.append(fields);
  if (!cookies.empty()) h.append("cookie: ").append(cookies).append("\r\n");
  *chunked = false;
  if (!has_content_length) {
    if (!end_stream && chunk_body) {
      h.append("transfer-encoding: chunked\r\n");
      *chunked = true;
    } else if (end_stream && (method == "POST" || method == "PUT" || method == "PATCH")) {
      h.append("content-length: 0\r\n");
    }
  }
  h.append("\r\n");
}

void HeadNv(std::span<char> head, std::vector<nghttp2_nv>* out, std::string_view skip) {
  std::string_view text(head.data(), head.size());
  size_t pos = text.find("\r\n");
  while (pos != std::string_view::npos && pos + 2 < text.size()) {
    size_t start = pos + 2;
    size_t end = text.find("\r\n", start);
    if (end == std::string_view::npos || end == start) break;
    std::string_view line = text.substr(start, end - start);
    pos = end;
    size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    char* name = head.data() + start;
    LowerAscii(name, colon);  // ASCII only: the field-name grammar (RFC 9110 §5.1)
    std::string_view n(name, colon);
    if (H2ConnectionSpecific(n) || (!skip.empty() && n == skip)) continue;
    std::string_view v = line.substr(colon + 1);
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
    while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
    // A value new with every message (ours: the request id, the request start) is sent as a
    // literal never indexed: indexing it would evict a field every message and make the
    // constant ones (server, content-type, the Fly headers) literals again — HPACK work on
    // both ends of the connection, per message, for nothing.
    uint8_t flags = NewWithEveryMessage(n) ? NGHTTP2_NV_FLAG_NO_INDEX : NGHTTP2_NV_FLAG_NONE;
    out->push_back(nghttp2_nv{reinterpret_cast<uint8_t*>(name), reinterpret_cast<uint8_t*>(const_cast<char*>(v.data())),
                              n.size(), v.size(), flags});
  }
}

void InternNames(std::span<nghttp2_nv> nv) {
  // Lowercase, as HTTP/2 requires and nghttp2 expects of a name it does not copy.
  static constexpr std::string_view kNames[] = {
      ":status",
      "server",
      "date",
      "content-type",
      "content-length",
      "fly-request-id",
      "via",
      "cache-control",
      "etag",
      "last-modified",
      "vary",
      "content-encoding",
      "accept-ranges",
      "expires",
      "location",
      "set-cookie",
      "grpc-status",
      "grpc-message",
      "grpc-encoding",
      "grpc-accept-encoding",
      "fly-preferred-instance-unavailable",
  };
  for (nghttp2_nv& f : nv) {
    std::string_view n(reinterpret_cast<const char*>(f.name), f.namelen);
    for (std::string_view k : kNames) {
      if (k.size() != n.size() || k != n) continue;
      f.name = reinterpret_cast<uint8_t*>(const_cast<char*>(k.data()));
      f.flags |= NGHTTP2_NV_FLAG_NO_COPY_NAME;
      break;
    }
  }
}

H2Fields HeadFields(std::string_view text) {
  std::string copy(text);
  std::vector<nghttp2_nv> nv;
  HeadNv(std::span<char>(copy.data(), copy.size()), &nv);
  H2Fields out;
  out.reserve(nv.size());
  for (const nghttp2_nv& f : nv)
    out.emplace_back(std::string(reinterpret_cast<const char*>(f.name), f.namelen),
                     std::string(reinterpret_cast<const char*>(f.value), f.valuelen));
  return out;
}

bool Base64UrlDecode(std::string_view in, std::string* out) {
  while (!in.empty() && in.back() == '=') in.remove_suffix(1);  // tolerated, though not sent
  if (in.size() % 4 == 1) return false;
  out->clear();
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    else if (c >= '0' && c <= '9') v = c - '0' + 52;
    else if (c == '-' || c == '+') v = 62;
    else if (c == '_' || c == '/') v = 63;
    else return false;
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out->push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  return true;
}

}  // namespace privcast::proxy
