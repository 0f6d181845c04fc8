// HTTP/2 ↔ HTTP/1 head conversion for the HTTP/2 sessions (docs/adr/0011-http2.md, item 4): an
// HTTP/2 request's fields become an HTTP/1.1 head text for the codec (parser + rewriter), and an
// HTTP/1 head text of ours becomes HTTP/2 fields. Pure functions and a plain value; no nghttp2
// session (only its nghttp2_nv type), no sockets (the HTTP/2 fuzzer drives them behind a real
// nghttp2 session).
#pragma once

#include <nghttp2/nghttp2.h>

#include <cstddef>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace privcast::proxy {

using H2Fields = std::vector<std::pair<std::string, std::string>>;

// Fields of an HTTP/1 message that mean nothing (or are forbidden) in HTTP/2 (RFC 9113 §8.2.2).
bool H2ConnectionSpecific(std::string_view lowercase_name);

// One request's HEADERS block, as nghttp2 hands it over (validated: lowercase names, no
// connection-specific fields but `te: trailers`, pseudo-headers first).
struct H2RequestFields {
  std::string method, path, authority, scheme, cookies;
  std::string fields;     // "name: value\r\n" lines of the regular fields
  size_t list_bytes = 0;  // header list size so far (name + value + 32 per field, RFC 9113 §6.5.2)
  bool has_content_length = false;
  bool te_trailers = false;  // the client sent "te: trailers" (gRPC)
  bool too_large = false;    // over max_list_bytes: answer 431

  void Add(std::string_view name, std::string_view value, size_t max_list_bytes);
  void Clear();  // for the next block, keeping the strings' memory
  // The HTTP/1.1 head text: ":method :path HTTP/1.1", Host from :authority (or host), cookie
  // crumbs joined with "; " (RFC 9113 §8.2.3), the fields; without content-length, a body that
  // follows goes up chunked when `chunk_body` (*chunked set), and POST/PUT/PATCH without one get
  // "content-length: 0".
  std::string ToHttp1(bool end_stream, bool chunk_body, bool* chunked) const;
  void ToHttp1(bool end_stream, bool chunk_body, bool* chunked, std::string* out) const;  // reuses *out
};

// The fields of an HTTP/1 head text of our own making (CRLF lines) as nghttp2 pairs appended to
// *out, pointing into `head` — whose field names are lowercased in place — so they live as long
// as `head` is neither freed nor changed; minus the connection-specific fields and `skip` (a
// lowercase name, empty: none); the start line is left out. Fields whose value is new with every
// message (fly-request-id, x-request-start) carry NGHTTP2_NV_FLAG_NO_INDEX: never entered in
// HPACK's dynamic table, where each would evict a field every message. No allocation but *out's growth:
// the per-stream path (nghttp2 copies the pairs when a HEADERS frame is submitted).
void HeadNv(std::span<char> head, std::vector<nghttp2_nv>* out, std::string_view skip = {});

// Points the names of `nv` that are common response field names (a fixed table: the ones every
// response carries, ours, gRPC's) at static copies and flags them NGHTTP2_NV_FLAG_NO_COPY_NAME,
// so nghttp2 neither copies nor lowercases them per message; other names are left as they are
// (copied). For heads in a buffer that is reused before the frame is sent.
void InternNames(std::span<nghttp2_nv> nv);

// The same as owned strings (tests, the fuzzer).
H2Fields HeadFields(std::string_view http1_head);

// HTTP2-Settings (RFC 7540 §3.2.1): base64url without padding. False on a character outside
// the alphabet or an impossible length.
bool Base64UrlDecode(std::string_view in, std::string* out);

}  // namespace privcast::proxy
