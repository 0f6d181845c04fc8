#include "dns/wire.h"

#include <cstring>

namespace privcast::dns {
namespace {

inline uint16_t Get16(const uint8_t* p) { return static_cast<uint16_t>(p[0] << 8 | p[1]); }
inline uint32_t Get32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) << 24 | static_cast<uint32_t>(p[1]) << 16 | static_cast<uint32_t>(p[2]) << 8 |
         p[3];
}

bool ReadHeader(const uint8_t* m, size_t n, Header* h) {
  if (n < kHeaderSize) return false;
  h->id = Get16(m);
  h->flags = Get16(m + 2);
  h->qdcount = Get16(m + 4);
  h->ancount = Get16(m + 6);
  h->nscount = Get16(m + 8);
  h->arcount = Get16(m + 10);
  return true;
}

// Skips one resource record starting at *pos (validating its owner name and bounds).
// Fills type/klass/ttl/rdata offset and length.
struct RawRR {
  uint16_t type, klass;
  uint32_t ttl;
  size_t rdata, rdlen;
};
bool ReadRR(const uint8_t* m, size_t n, size_t* pos, Name* owner, RawRR* rr) {
  if (!ReadName(m, n, pos, owner)) return false;
  if (*pos + 10 > n) return false;
  const uint8_t* p = m + *pos;
  rr->type = Get16(p);
  rr->klass = Get16(p + 2);
  rr->ttl = Get32(p + 4);
  rr->rdlen = Get16(p + 8);
  rr->rdata = *pos + 10;
  if (rr->rdata + rr->rdlen > n) return false;
  *pos = rr->rdata + rr->rdlen;
  return true;
}

// EDNS options are TLVs that must tile the rdata exactly.
bool ValidOptRdata(const uint8_t* p, size_t len) {
  size_t i = 0;
  while (i < len) {
    if (i + 4 > len) return false;
    size_t olen = Get16(p + i + 2);
    i += 4 + olen;
  }
  return i == len;
}

void AppendName(std::vector<uint8_t>* v, const Name& n) { v->insert(v->end(), n.data, n.data + n.len); }

// Rdata of types whose rdata embeds names: decompress into canonical form.
// Returns false if the rdata does not match the type's layout.
bool CanonicalRdata(const uint8_t* m, size_t n, const RawRR& rr, std::vector<uint8_t>* out) {
  size_t pos = rr.rdata, end = rr.rdata + rr.rdlen;
  out->clear();
  Name nm;
  auto name = [&]() {
    if (!ReadName(m, end, &pos, &nm)) return false;
    AppendName(out, nm);
    return true;
  };
  auto fixed = [&](size_t k) {
    if (pos + k > end) return false;
    out->insert(out->end(), m + pos, m + pos + k);
    pos += k;
    return true;
  };
  (void)n;
  switch (rr.type) {
    case kTypeNS:
    case kTypeCNAME:
    case kTypePTR:
      if (!name()) return false;
      break;
    case kTypeMX:
      if (!fixed(2) || !name()) return false;
      break;
    case kTypeSRV:
      if (!fixed(6) || !name()) return false;
      break;
    case kTypeSOA:
      if (!name() || !name() || !fixed(20)) return false;
      break;
    default:
      out->assign(m + rr.rdata, m + end);
      return true;
  }
  return pos == end;
}

}  // namespace

bool ReadName(const uint8_t* m, size_t n, size_t* pos, Name* out) {
  size_t p = *pos;
  size_t run_start = p;  // pointers must land strictly before the current run: no loops
  size_t end_pos = 0;
  bool jumped = false;
  size_t olen = 0;
  for (;;) {
    if (p >= n) return false;
    uint8_t c = m[p];
    if (c == 0) {
      out->data[olen++] = 0;
      if (!jumped) end_pos = p + 1;
      break;
    }
    if ((c & 0xC0) == 0xC0) {
      if (p + 1 >= n) return false;
      size_t target = static_cast<size_t>(c & 0x3f) << 8 | m[p + 1];
      if (target >= run_start) return false;
      if (!jumped) end_pos = p + 2;
      jumped = true;
      p = run_start = target;
      continue;
    }
    if (c & 0xC0) return false;  // 0x40/0x80: extended label types are not supported
    if (p + 1 + c > n) return false;
    if (olen + 1 + c + 1 > kMaxNameLen) return false;
    std::memcpy(out->data + olen, m + p, 1 + c);
    olen += 1 + c;
    p += 1 + c;
  }
  out->len = static_cast<uint8_t>(olen);
  *pos = end_pos;
  return true;
}

bool Name::FromText(std::string_view t) {
  len = 0;
  if (t == ".") {
    data[0] = 0;
    len = 1;
    return true;
  }
  if (!t.empty() && t.back() == '.') t.remove_suffix(1);
  if (t.empty()) return false;
  size_t olen = 0;
  while (true) {
    size_t dot = t.find('.');
    std::string_view label = t.substr(0, dot);
    if (label.empty() || label.size() > kMaxLabelLen) return false;
    if (olen + 1 + label.size() + 1 > kMaxNameLen) return false;
    data[olen++] = static_cast<uint8_t>(label.size());
    std::memcpy(data + olen, label.data(), label.size());
    olen += label.size();
    if (dot == std::string_view::npos) break;
    t.remove_prefix(dot + 1);
  }
  data[olen++] = 0;
  len = static_cast<uint8_t>(olen);
  return true;
}

std::string Name::ToText() const {
  if (len <= 1) return ".";
  std::string s;
  size_t i = 0;
  while (i < len && data[i] != 0) {
    size_t l = data[i];
    s.append(reinterpret_cast<const char*>(data + i + 1), l);
    s.push_back('.');
    i += 1 + l;
  }
  return s;
}

bool Name::operator==(const Name& o) const { return len == o.len && std::memcmp(data, o.data, len) == 0; }

bool Name::EqualsIgnoreCase(const Name& o) const {
  if (len != o.len) return false;
  for (size_t i = 0; i < len; ++i)
    if (ToLowerAscii(data[i]) != ToLowerAscii(o.data[i])) return false;
  return true;
}

ParseStatus ParseQuery(const uint8_t* m, size_t n, Query* q) {
  q->have_question = false;
  q->has_edns = false;
  q->udp_size = kMinUdpPayload;
  q->edns_version = 0;
  q->do_bit = false;
  if (!ReadHeader(m, n, &q->header)) return ParseStatus::kDrop;
  if (q->header.flags & kFlagQR) return ParseStatus::kDrop;
  if (q->header.opcode() != 0) return ParseStatus::kNotImp;
  if (q->header.qdcount != 1) return ParseStatus::kFormErr;
  size_t pos = kHeaderSize;
  if (!ReadName(m, n, &pos, &q->qname)) return ParseStatus::kFormErr;
  if (pos + 4 > n) return ParseStatus::kFormErr;
  q->question_compressed = (pos - kHeaderSize) != q->qname.len;
  q->qtype = Get16(m + pos);
  q->qclass = Get16(m + pos + 2);
  pos += 4;
  q->question_end = pos;
  q->have_question = true;
  Name owner;
  RawRR rr;
  uint32_t others = static_cast<uint32_t>(q->header.ancount) + q->header.nscount;
  for (uint32_t i = 0; i < others; ++i)
    if (!ReadRR(m, n, &pos, &owner, &rr)) return ParseStatus::kFormErr;
  for (uint32_t i = 0; i < q->header.arcount; ++i) {
    if (!ReadRR(m, n, &pos, &owner, &rr)) return ParseStatus::kFormErr;
    if (rr.type != kTypeOPT) continue;
    if (q->has_edns || owner.len != 1) return ParseStatus::kFormErr;  // RFC 6891 6.1.1
    if (!ValidOptRdata(m + rr.rdata, rr.rdlen)) return ParseStatus::kFormErr;
    q->has_edns = true;
    q->udp_size = rr.klass < kMinUdpPayload ? kMinUdpPayload : rr.klass;
    q->edns_version = static_cast<uint8_t>(rr.ttl >> 16);
    q->do_bit = (rr.ttl & 0x8000) != 0;
  }
  // Bytes after the counted records are ignored (as most servers do).
  if (q->has_edns && q->edns_version > 0) return ParseStatus::kBadVers;
  return ParseStatus::kOk;
}

bool ParseMessage(const uint8_t* m, size_t n, Message* out) {
  *out = Message();
  if (!ReadHeader(m, n, &out->header)) return false;
  size_t pos = kHeaderSize;
  for (uint32_t i = 0; i < out->header.qdcount; ++i) {
    Question q;
    if (!ReadName(m, n, &pos, &q.name) || pos + 4 > n) return false;
    q.type = Get16(m + pos);
    q.klass = Get16(m + pos + 2);
    pos += 4;
    out->questions.push_back(q);
  }
  std::vector<Record>* secs[3] = {&out->answers, &out->authority, &out->additional};
  uint16_t counts[3] = {out->header.ancount, out->header.nscount, out->header.arcount};
  for (int s = 0; s < 3; ++s) {
    for (uint32_t i = 0; i < counts[s]; ++i) {
      Record r;
      RawRR rr;
      if (!ReadRR(m, n, &pos, &r.name, &rr)) return false;
      r.type = rr.type;
      r.klass = rr.klass;
      r.ttl = rr.ttl;
      if (!CanonicalRdata(m, n, rr, &r.rdata)) return false;
      secs[s]->push_back(std::move(r));
    }
  }
  return true;
}

// ---------------------------------------------------------------------------------------
// Builder

Builder::Builder(uint8_t* buf, size_t cap, size_t limit) : buf_(buf), cap_(cap), limit_(limit < cap ? limit : cap) {
  if (limit_ > kMaxMessage) limit_ = kMaxMessage;
  std::memset(buf_, 0, kHeaderSize);
}

void Builder::SetHeader(uint16_t id, uint16_t flags) {
  Put16(0, id);
  Put16(2, flags);
}
uint16_t Builder::flags() const { return Get16(buf_ + 2); }
void Builder::SetFlags(uint16_t f) { Put16(2, f); }
void Builder::SetRcode(uint8_t rcode) { Put16(2, static_cast<uint16_t>((flags() & ~0xf) | (rcode & 0xf))); }

uint16_t Builder::count(Section s) const { return Get16(buf_ + 6 + 2 * static_cast<int>(s)); }

void Builder::Bump(Section s) {
  size_t at = 6 + 2 * static_cast<int>(s);
  Put16(at, static_cast<uint16_t>(Get16(buf_ + at) + 1));
}

namespace {
// Does the (possibly compressed) name at buf[off] equal the uncompressed suffix `s`?
bool NameAtEquals(const uint8_t* buf, size_t off, const uint8_t* s) {
  for (int guard = 0; guard < 300; ++guard) {
    uint8_t c = buf[off];
    if ((c & 0xC0) == 0xC0) {
      off = static_cast<size_t>(c & 0x3f) << 8 | buf[off + 1];
      continue;
    }
    if (c != *s) return false;
    if (c == 0) return true;
    if (std::memcmp(buf + off + 1, s + 1, c) != 0) return false;
    off += 1 + c;
    s += 1 + c;
  }
  return false;
}
}  // namespace

bool Builder::WriteName(const Name& n) {
  if (n.len == 0) return false;
  // Find the longest suffix already in the message.
  size_t i = 0;
  int match = -1;
  while (true) {
    if (n.data[i] == 0) break;
    for (int t = 0; t < ntargets_; ++t) {
      if (NameAtEquals(buf_, targets_[t], n.data + i)) {
        match = targets_[t];
        break;
      }
    }
    if (match >= 0) break;
    i += 1 + n.data[i];
  }
  size_t need = i + (match >= 0 ? 2 : 1);
  if (!Fits(need) || pos_ + need > cap_) return false;
  // Literal labels before the match, each a future compression target.
  size_t j = 0;
  while (j < i) {
    if (pos_ + j < 0x4000 && ntargets_ < kMaxTargets) targets_[ntargets_++] = static_cast<uint16_t>(pos_ + j);
    j += 1 + n.data[j];
  }
  std::memcpy(buf_ + pos_, n.data, i);
  pos_ += i;
  if (match >= 0) {
    Put16(pos_, static_cast<uint16_t>(0xC000 | match));
    pos_ += 2;
  } else {
    buf_[pos_++] = 0;
  }
  return true;
}

bool Builder::AddQuestion(const Name& name, uint16_t type, uint16_t klass) {
  size_t save = pos_;
  int save_t = ntargets_;
  if (!WriteName(name) || !Fits(4)) {
    pos_ = save;
    ntargets_ = save_t;
    return false;
  }
  Put16(pos_, type);
  Put16(pos_ + 2, klass);
  pos_ += 4;
  Put16(4, static_cast<uint16_t>(Get16(buf_ + 4) + 1));
  question_end_ = pos_;
  return true;
}

bool Builder::AddRawQuestion(const uint8_t* raw, size_t len) {
  if (!Fits(len) || len < 5) return false;
  std::memcpy(buf_ + pos_, raw, len);
  for (size_t j = 0; j < len - 4 && buf_[pos_ + j] != 0; j += 1 + buf_[pos_ + j])
    if (pos_ + j < 0x4000 && ntargets_ < kMaxTargets) targets_[ntargets_++] = static_cast<uint16_t>(pos_ + j);
  pos_ += len;
  Put16(4, static_cast<uint16_t>(Get16(buf_ + 4) + 1));
  question_end_ = pos_;
  return true;
}

bool Builder::RecordHead(Section, const Name* owner, uint16_t type, uint16_t klass, uint32_t ttl, size_t* rdlen_at) {
  if (owner) {
    if (!WriteName(*owner)) return false;
  } else {
    if (!Fits(2)) return false;
    Put16(pos_, 0xC00C);
    pos_ += 2;
  }
  if (!Fits(10)) return false;
  Put16(pos_, type);
  Put16(pos_ + 2, klass);
  Put16(pos_ + 4, static_cast<uint16_t>(ttl >> 16));
  Put16(pos_ + 6, static_cast<uint16_t>(ttl));
  *rdlen_at = pos_ + 8;
  pos_ += 10;
  return true;
}

bool Builder::AddRecord(Section s, const Name& owner, uint16_t type, uint16_t klass, uint32_t ttl, const uint8_t* rdata,
                        size_t rdlen) {
  size_t save = pos_;
  int save_t = ntargets_;
  auto fail = [&] {
    pos_ = save;
    ntargets_ = save_t;
    return false;
  };
  size_t rdlen_at;
  if (!RecordHead(s, &owner, type, klass, ttl, &rdlen_at)) return fail();
  size_t start = pos_;
  // Rdata names of well-known types (RFC 3597 §4) are compressed; SRV's is written as is.
  size_t rp = 0;
  auto name = [&](bool compress) {
    Name nm;
    size_t p = rp;
    if (!ReadName(rdata, rdlen, &p, &nm) || p - rp != nm.len) return false;  // canonical only
    rp = p;
    if (compress) return WriteName(nm);
    if (!Fits(nm.len)) return false;
    std::memcpy(buf_ + pos_, nm.data, nm.len);
    pos_ += nm.len;
    return true;
  };
  auto fixed = [&](size_t k) {
    if (rp + k > rdlen || !Fits(k)) return false;
    if (k) std::memcpy(buf_ + pos_, rdata + rp, k);  // rdata may be null when empty
    pos_ += k;
    rp += k;
    return true;
  };
  bool ok = true;
  switch (type) {
    case kTypeNS:
    case kTypeCNAME:
    case kTypePTR:
      ok = name(true);
      break;
    case kTypeMX:
      ok = fixed(2) && name(true);
      break;
    case kTypeSRV:
      ok = fixed(6) && name(false);
      break;
    case kTypeSOA:
      ok = name(true) && name(true) && fixed(20);
      break;
    default:
      ok = fixed(rdlen);
  }
  if (!ok || rp != rdlen) return fail();
  size_t written = pos_ - start;
  if (written > 0xffff) return fail();
  Put16(rdlen_at, static_cast<uint16_t>(written));
  Bump(s);
  return true;
}

bool Builder::AddAaaaAtQuestion(const uint8_t addr[16], uint32_t ttl) {
  if (!Fits(2 + 10 + 16)) return false;
  size_t rdlen_at = 0;
  if (!RecordHead(Section::kAnswer, nullptr, kTypeAAAA, kClassIN, ttl, &rdlen_at)) return false;
  Put16(rdlen_at, 16);
  std::memcpy(buf_ + pos_, addr, 16);
  pos_ += 16;
  Bump(Section::kAnswer);
  return true;
}

bool Builder::AddTxt(Section s, const Name& owner, std::string_view text, uint32_t ttl) {
  size_t save = pos_;
  int save_t = ntargets_;
  size_t rdlen_at;
  size_t chunks = text.empty() ? 1 : (text.size() + 254) / 255;
  size_t rdlen = text.size() + chunks;
  if (rdlen > 0xffff || !RecordHead(s, &owner, kTypeTXT, kClassIN, ttl, &rdlen_at) || !Fits(rdlen)) {
    pos_ = save;
    ntargets_ = save_t;
    return false;
  }
  Put16(rdlen_at, static_cast<uint16_t>(rdlen));
  if (text.empty()) buf_[pos_++] = 0;
  while (!text.empty()) {
    size_t k = text.size() < 255 ? text.size() : 255;
    buf_[pos_++] = static_cast<uint8_t>(k);
    std::memcpy(buf_ + pos_, text.data(), k);
    pos_ += k;
    text.remove_prefix(k);
  }
  Bump(s);
  return true;
}

bool Builder::AddSoa(Section s, const Name& zone, const Name& mname, const Name& rname, uint32_t serial,
                     uint32_t refresh, uint32_t retry, uint32_t expire, uint32_t minimum, uint32_t ttl) {
  uint8_t rd[2 * kMaxNameLen + 20];
  size_t k = 0;
  std::memcpy(rd, mname.data, mname.len);
  k += mname.len;
  std::memcpy(rd + k, rname.data, rname.len);
  k += rname.len;
  for (uint32_t v : {serial, refresh, retry, expire, minimum}) {
    rd[k++] = static_cast<uint8_t>(v >> 24);
    rd[k++] = static_cast<uint8_t>(v >> 16);
    rd[k++] = static_cast<uint8_t>(v >> 8);
    rd[k++] = static_cast<uint8_t>(v);
  }
  return AddRecord(s, zone, kTypeSOA, kClassIN, ttl, rd, k);
}

bool Builder::AddOpt(uint16_t udp_size, uint8_t ext_rcode, bool do_bit) {
  if (pos_ + 11 > limit_) return false;
  buf_[pos_] = 0;  // root owner
  Put16(pos_ + 1, kTypeOPT);
  Put16(pos_ + 3, udp_size);
  buf_[pos_ + 5] = ext_rcode;
  buf_[pos_ + 6] = 0;  // version 0
  Put16(pos_ + 7, do_bit ? 0x8000 : 0);
  Put16(pos_ + 9, 0);
  pos_ += 11;
  Bump(Section::kAdditional);
  return true;
}

void Builder::TruncateToQuestion() {
  pos_ = question_end_;
  Put16(6, 0);
  Put16(8, 0);
  Put16(10, 0);
  int k = 0;
  for (int t = 0; t < ntargets_; ++t)
    if (targets_[t] < question_end_) targets_[k++] = targets_[t];
  ntargets_ = k;
}

bool BuildMessage(const Message& m, std::vector<uint8_t>* out) {
  out->assign(kMaxMessage, 0);
  Builder b(out->data(), out->size(), kMaxMessage);
  b.SetHeader(m.header.id, m.header.flags);
  for (const auto& q : m.questions)
    if (!b.AddQuestion(q.name, q.type, q.klass)) return false;
  const std::vector<Record>* secs[3] = {&m.answers, &m.authority, &m.additional};
  for (int s = 0; s < 3; ++s)
    for (const auto& r : *secs[s])
      if (!b.AddRecord(static_cast<Section>(s), r.name, r.type, r.klass, r.ttl, r.rdata.data(), r.rdata.size()))
        return false;
  out->resize(b.size());
  return true;
}

}  // namespace privcast::dns
