// DNS wire codec (RFC 1035, RFC 6891 EDNS0): a bounded, exception-free parser and a
// compressing builder that writes into caller-owned memory.
//
// Two parsers:
//   * ParseQuery  — the hot path. Reads the header, the single question and the OPT record
//     (if any), and walks every other record only to check it is well-formed. No heap.
//   * ParseMessage — the general form (every section, rdata names decompressed) used by
//     tests, fuzzers and the forwarder's sanity checks. Allocates.
// Every read is bounds-checked; compression pointers must point strictly backwards, so a
// name decode always terminates; names are limited to 255 bytes and labels to 63.
//
// Builder writes a message into a fixed buffer with a size limit (the client's UDP payload
// size, or 65535 for TCP). Every Add* returns false when the record would not fit and leaves
// the buffer as it was, so callers can set TC and stop. Names are compressed against every
// name written before (exact, case-sensitive match, so parse(build(x)) == x byte for byte).
//
// Thread-safety: plain values and functions; a Builder belongs to one thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace privcast::dns {

inline constexpr uint16_t kTypeA = 1;
inline constexpr uint16_t kTypeNS = 2;
inline constexpr uint16_t kTypeCNAME = 5;
inline constexpr uint16_t kTypeSOA = 6;
inline constexpr uint16_t kTypePTR = 12;
inline constexpr uint16_t kTypeMX = 15;
inline constexpr uint16_t kTypeTXT = 16;
inline constexpr uint16_t kTypeAAAA = 28;
inline constexpr uint16_t kTypeSRV = 33;
inline constexpr uint16_t kTypeOPT = 41;
inline constexpr uint16_t kTypeIXFR = 251;
inline constexpr uint16_t kTypeAXFR = 252;
inline constexpr uint16_t kTypeANY = 255;
inline constexpr uint16_t kClassIN = 1;
inline constexpr uint16_t kClassANY = 255;

inline constexpr uint8_t kNoError = 0;
inline constexpr uint8_t kFormErr = 1;
inline constexpr uint8_t kServFail = 2;
inline constexpr uint8_t kNxDomain = 3;
inline constexpr uint8_t kNotImp = 4;
inline constexpr uint8_t kRefused = 5;
inline constexpr uint16_t kBadVers = 16;  // extended rcode, needs OPT

inline constexpr size_t kHeaderSize = 12;
inline constexpr size_t kMaxNameLen = 255;  // wire length including the root label
inline constexpr size_t kMaxLabelLen = 63;
inline constexpr size_t kMaxMessage = 65535;
inline constexpr uint16_t kMinUdpPayload = 512;

// Header flag bits (in Header::flags).
inline constexpr uint16_t kFlagQR = 0x8000;
inline constexpr uint16_t kFlagAA = 0x0400;
inline constexpr uint16_t kFlagTC = 0x0200;
inline constexpr uint16_t kFlagRD = 0x0100;
inline constexpr uint16_t kFlagRA = 0x0080;
inline constexpr uint16_t kFlagAD = 0x0020;
inline constexpr uint16_t kFlagCD = 0x0010;

struct Header {
  uint16_t id = 0;
  uint16_t flags = 0;  // QR, opcode, AA, TC, RD, RA, Z, AD, CD, rcode
  uint16_t qdcount = 0, ancount = 0, nscount = 0, arcount = 0;
  uint8_t opcode() const { return (flags >> 11) & 0xf; }
  uint8_t rcode() const { return flags & 0xf; }
  bool operator==(const Header&) const = default;
};

// A domain name in uncompressed wire form: length-prefixed labels ending with the root
// label (a zero byte). `len` counts every byte including that zero; an empty Name (len 0)
// is "not set". Fixed storage, no heap.
struct Name {
  uint8_t len = 0;
  uint8_t data[kMaxNameLen];

  // From dotted text ("app.flycast", "app.flycast.", "." for the root). False when a
  // label is empty or longer than 63 bytes or the name longer than 255. No escapes.
  bool FromText(std::string_view text);
  std::string ToText() const;  // "app.flycast." ("." for the root)
  bool operator==(const Name& o) const;
  bool EqualsIgnoreCase(const Name& o) const;
};

// Decode the name at `*pos` of msg[0..size), following compression pointers. On success
// `*pos` is advanced past the name as it appears at that position. False when malformed.
bool ReadName(const uint8_t* msg, size_t size, size_t* pos, Name* out);

enum class ParseStatus : uint8_t {
  kOk,
  kDrop,     // not worth an answer: shorter than a header, or a response (QR=1)
  kFormErr,  // header readable; answer FORMERR (with the question if it could be read)
  kNotImp,   // opcode other than QUERY
  kBadVers,  // EDNS version > 0
};

// The part of a query the server needs.
struct Query {
  Header header;
  Name qname;  // as sent (case preserved)
  uint16_t qtype = 0;
  uint16_t qclass = 0;
  bool have_question = false;
  size_t question_end = 0;           // offset just past the question (== 12 + question bytes)
  bool question_compressed = false;  // qname used a pointer: the question cannot be copied raw
  bool has_edns = false;
  uint16_t udp_size = kMinUdpPayload;  // the client's limit (512 without EDNS, never less)
  uint8_t edns_version = 0;
  bool do_bit = false;
};

ParseStatus ParseQuery(const uint8_t* msg, size_t size, Query* q);

// The general message form. Rdata of NS/CNAME/PTR/MX/SOA/SRV is kept with its names
// decompressed (so it can be rebuilt with compression); other rdata is kept verbatim.
struct Question {
  Name name;
  uint16_t type = 0;
  uint16_t klass = 0;
  bool operator==(const Question&) const = default;
};

struct Record {
  Name name;
  uint16_t type = 0;
  uint16_t klass = 0;  // for OPT: the UDP payload size
  uint32_t ttl = 0;    // for OPT: extended rcode, version, flags
  std::vector<uint8_t> rdata;
  bool operator==(const Record&) const = default;
};

struct Message {
  Header header;  // counts as they were on the wire
  std::vector<Question> questions;
  std::vector<Record> answers, authority, additional;
  bool operator==(const Message&) const = default;
};

// Parses every section. False when malformed (bounds, counts, names, rdata of known types).
bool ParseMessage(const uint8_t* msg, size_t size, Message* out);

enum class Section : uint8_t { kAnswer, kAuthority, kAdditional };

class Builder {
 public:
  // Writes into buf[0..cap). `limit` (≤ cap) is the size the finished message must not
  // exceed; `reserve` bytes are kept free for a record added last (the OPT record).
  Builder(uint8_t* buf, size_t cap, size_t limit);

  void SetHeader(uint16_t id, uint16_t flags);
  uint16_t flags() const;
  void SetFlags(uint16_t flags);
  void SetRcode(uint8_t rcode);

  // Bytes kept free for a later record (call with 11 before adding answers when the
  // reply must end with an OPT record; call with 0 before adding the OPT).
  void Reserve(size_t n) { reserve_ = n; }

  bool AddQuestion(const Name& name, uint16_t type, uint16_t klass);
  // Copies a question exactly as it sits in a query (`raw` = its bytes, uncompressed),
  // registering its name for compression. Used to echo the client's casing cheaply.
  bool AddRawQuestion(const uint8_t* raw, size_t len);

  // A record with the given rdata; names inside rdata of known types are compressed.
  bool AddRecord(Section s, const Name& owner, uint16_t type, uint16_t klass, uint32_t ttl, const uint8_t* rdata,
                 size_t rdlen);
  // A record whose owner is the question name (pointer to offset 12).
  bool AddAaaaAtQuestion(const uint8_t addr[16], uint32_t ttl);
  // TXT with `text` split into character-strings of at most 255 bytes each, one after the
  // other, in one record (empty text → one empty string).
  bool AddTxt(Section s, const Name& owner, std::string_view text, uint32_t ttl);
  // SOA: serial/refresh/retry/expire/minimum as given.
  bool AddSoa(Section s, const Name& zone, const Name& mname, const Name& rname, uint32_t serial, uint32_t refresh,
              uint32_t retry, uint32_t expire, uint32_t minimum, uint32_t ttl);
  // OPT pseudo-record: payload size, extended rcode (upper 8 bits of a 12-bit rcode), DO.
  bool AddOpt(uint16_t udp_size, uint8_t ext_rcode, bool do_bit);

  size_t size() const { return pos_; }
  const uint8_t* data() const { return buf_; }
  uint16_t count(Section s) const;

  // Drops every record after the question (keeps header flags), for a TC=1 reply.
  void TruncateToQuestion();

 private:
  bool WriteName(const Name& n);
  bool Fits(size_t n) const { return pos_ + n + reserve_ <= limit_; }
  void Put16(size_t at, uint16_t v) {
    buf_[at] = static_cast<uint8_t>(v >> 8);
    buf_[at + 1] = static_cast<uint8_t>(v);
  }
  bool RecordHead(Section s, const Name* owner, uint16_t type, uint16_t klass, uint32_t ttl, size_t* rdlen_at);
  void Bump(Section s);

  uint8_t* buf_;
  size_t cap_;
  size_t limit_;
  size_t pos_ = kHeaderSize;
  size_t reserve_ = 0;
  size_t question_end_ = kHeaderSize;
  // Offsets of label starts written uncompressed (candidates for compression targets).
  static constexpr int kMaxTargets = 96;
  uint16_t targets_[kMaxTargets];
  int ntargets_ = 0;
};

// Serialises a whole Message (counts recomputed) into `out`; false when it exceeds
// kMaxMessage. Used by round-trip tests and fuzzers.
bool BuildMessage(const Message& m, std::vector<uint8_t>* out);

// Lower-case ASCII in place.
inline uint8_t ToLowerAscii(uint8_t c) { return (c >= 'A' && c <= 'Z') ? c + 32 : c; }

}  // namespace privcast::dns
