#include "dns/resolver.h"

#include <cstring>
#include <string_view>

namespace privcast::dns {
namespace {

struct SoaNames {
  Name flycast, internal, mname_flycast, mname_internal, rname_flycast, rname_internal;
  SoaNames() {
    flycast.FromText("flycast.");
    internal.FromText("internal.");
    mname_flycast.FromText("ns.flycast.");
    mname_internal.FromText("ns.internal.");
    rname_flycast.FromText("hostmaster.flycast.");
    rname_internal.FromText("hostmaster.internal.");
  }
};
const SoaNames& Soa() {
  static const SoaNames n;
  return n;
}

enum class ZoneId : uint8_t { kFlycast, kInternal };

// What the lookup decided, before writing.
struct Writer {
  Builder& b;
  const Query& q;
  bool overflow = false;
  int answers = 0;
  void Aaaa(const Ip6& a, uint32_t ttl) {
    if (overflow) return;
    if (b.AddAaaaAtQuestion(a.b.data(), ttl)) ++answers;
    else overflow = true;
  }
  void Txt(std::string_view text, uint32_t ttl) {
    if (overflow) return;
    if (b.AddTxt(Section::kAnswer, q.qname, text, ttl)) ++answers;
    else overflow = true;
  }
};

bool WantsAaaa(uint16_t t) { return t == kTypeAAAA || t == kTypeANY; }
bool WantsTxt(uint16_t t) { return t == kTypeTXT || t == kTypeANY; }

// Parses "top<N>" with 1 ≤ N ≤ 9999.
int ParseTopN(std::string_view l) {
  if (l.size() < 4 || l.size() > 7 || l.substr(0, 3) != "top" || l[3] == '0') return 0;
  int n = 0;
  for (char c : l.substr(3)) {
    if (c < '0' || c > '9') return 0;
    n = n * 10 + (c - '0');
  }
  return n;
}

enum class Verdict : uint8_t { kAnswered, kNoData, kNxDomain };

// Machine-set answers: AAAA of `set` filtered by `pred`; NODATA if the name exists anyway.
template <typename Pred>
Verdict MachineSet(const Zone& z, const ZoneApp& a, Writer& w, size_t limit_n, Pred pred, bool name_exists) {
  size_t n = 0;
  bool any = false;
  for (uint32_t mi : a.started) {
    const ZoneMachine& m = z.machines[mi];
    if (!pred(m)) continue;
    any = true;
    if (WantsAaaa(w.q.qtype)) w.Aaaa(m.six_pn, kTtlMachines);
    if (++n >= limit_n) break;
  }
  if (!any) {
    if (name_exists) return Verdict::kNoData;
    for (uint32_t mi : a.machines)
      if (pred(z.machines[mi])) return Verdict::kNoData;  // exists, nothing started
    return Verdict::kNxDomain;
  }
  return w.answers ? Verdict::kAnswered : Verdict::kNoData;
}

// <service>.svc.<app>.flycast (n == 3) and the empty non-terminal svc.<app>.flycast (n == 2):
// visible exactly where the service's address was allocated, like <app>.flycast (ADR 0013).
Verdict ResolveServiceFlycast(const Zone& z, const ClientView& v, std::string_view* labels, int n, Writer& w,
                              Outcome* o) {
  const ZoneApp* a = z.FindApp(labels[n - 1]);
  if (!a) return Verdict::kNxDomain;
  auto sees = [&](const ZoneService& s) {
    for (const auto& [net, address] : s.flycast)
      if (v.kind != ClientView::kNetwork || net == v.net32) return true;
    return false;
  };
  if (n == 2) {  // svc.<app>.flycast
    for (const ZoneService& s : a->services)
      if (sees(s)) return Verdict::kNoData;
    return Verdict::kNxDomain;
  }
  const ZoneService* s = Zone::FindService(*a, labels[0]);
  if (!s || !sees(*s)) return Verdict::kNxDomain;  // org B learns nothing of org A's services
  for (const auto& [net, address] : s->flycast) {
    if (v.kind == ClientView::kNetwork && net != v.net32) continue;
    if (WantsAaaa(w.q.qtype)) w.Aaaa(address, kTtlFlycast);
  }
  if (!s->waking_or_started) {
    o->prewarm_app = static_cast<int32_t>(a - z.apps.data());
    o->prewarm_service = static_cast<int32_t>(s - a->services.data());
  }
  return w.answers ? Verdict::kAnswered : Verdict::kNoData;
}

Verdict ResolveFlycast(const Zone& z, const ClientView& v, std::string_view* labels, int n, Writer& w, Outcome* o) {
  if (n == 0) return Verdict::kNoData;  // the apex (SOA handled by the caller)
  if ((n == 2 && labels[0] == "svc") || (n == 3 && labels[1] == "svc"))
    return ResolveServiceFlycast(z, v, labels, n, w, o);
  if (n != 1) return Verdict::kNxDomain;
  const ZoneApp* a = z.FindApp(labels[0]);
  if (!a) return Verdict::kNxDomain;
  bool visible = false;
  for (const auto& [net, address] : a->flycast) {
    if (v.kind == ClientView::kNetwork && net != v.net32) continue;
    visible = true;
    if (WantsAaaa(w.q.qtype)) w.Aaaa(address, kTtlFlycast);
  }
  if (!visible) return Verdict::kNxDomain;  // org B learns nothing of org A's apps
  if (!a->waking_or_started) o->prewarm_app = static_cast<int32_t>(a - z.apps.data());
  return w.answers ? Verdict::kAnswered : Verdict::kNoData;
}

Verdict ResolveInternal(const Zone& z, const ClientView& v, std::string_view* L, int n, Writer& w) {
  if (n == 0) return Verdict::kNoData;
  if (n == 1 && (L[0] == "_apps" || L[0] == "_instances")) {
    if (WantsTxt(w.q.qtype)) w.Txt(L[0] == "_apps" ? z.AppsTxt(v) : z.InstancesTxt(v), kTtlMachines);
    return w.answers ? Verdict::kAnswered : Verdict::kNoData;
  }
  const ZoneApp* a = z.FindApp(L[n - 1]);
  if (!a || !z.AppVisibleInternal(*a, v)) return Verdict::kNxDomain;
  auto all = [](const ZoneMachine&) { return true; };
  if (n == 1) return MachineSet(z, *a, w, SIZE_MAX, all, true);
  std::string_view l = L[n - 2];
  if (n == 2) {
    if (l == "global") return MachineSet(z, *a, w, SIZE_MAX, all, true);
    if (l == "regions" || l == "vms" || l == "_services") {
      const std::string& txt = l == "vms" ? a->vms_txt : l == "regions" ? a->regions_txt : a->services_txt;
      if (WantsTxt(w.q.qtype)) w.Txt(txt, kTtlMachines);
      return w.answers ? Verdict::kAnswered : Verdict::kNoData;
    }
    if (l == "vm" || l == "process" || l == "of") return Verdict::kNoData;  // empty non-terminals
    return MachineSet(
        z, *a, w, SIZE_MAX, [&](const ZoneMachine& m) { return m.region == l; }, false);
  }
  if (n == 3) {
    std::string_view x = L[0];
    if (l == "vm")
      return MachineSet(
          z, *a, w, 1, [&](const ZoneMachine& m) { return m.id == x; }, false);
    if (l == "process")
      return MachineSet(
          z, *a, w, SIZE_MAX, [&](const ZoneMachine& m) { return m.group == x; }, false);
    if (l == "of" && x == "nearest") return Verdict::kNoData;
    return Verdict::kNxDomain;
  }
  if (n == 4 && L[1] == "nearest" && L[2] == "of") {
    int top = ParseTopN(L[0]);
    if (top == 0) return Verdict::kNxDomain;
    return MachineSet(z, *a, w, static_cast<size_t>(top), all, true);
  }
  return Verdict::kNxDomain;
}

// The answer to a well-formed query (Resolve's normal case): sets *rcode and *overflow, or
// returns false when the query is not ours and goes upstream (o->action = kForward).
bool AnswerName(const Zone* zone, const ClientView& view, const Query& q, const ResolveOptions& opt, Builder& b,
                Outcome* o, uint8_t* rcode, bool* overflow) {
  // Lower-case copy of the name, split into labels (at most 127).
  uint8_t lname[kMaxNameLen];
  std::string_view labels[128];
  int nl = 0;
  for (size_t i = 0; i < q.qname.len; ++i) lname[i] = ToLowerAscii(q.qname.data[i]);
  for (size_t i = 0; i < q.qname.len && lname[i] != 0 && nl < 128; i += 1 + lname[i])
    labels[nl++] = std::string_view(reinterpret_cast<const char*>(lname + i + 1), lname[i]);
  bool ours = nl >= 1 && (labels[nl - 1] == "flycast" || labels[nl - 1] == "internal");
  if (!ours) {
    if (view.kind != ClientView::kNone && opt.has_upstream) {
      o->action = Outcome::kForward;
      return false;
    }
    *rcode = kRefused;
    return true;
  }
  ZoneId zid = labels[nl - 1] == "flycast" ? ZoneId::kFlycast : ZoneId::kInternal;
  if (!zone) {  // nothing published yet
    *rcode = kServFail;
    return true;
  }
  if (view.kind == ClientView::kNone || (q.qclass != kClassIN && q.qclass != kClassANY) || q.qtype == kTypeAXFR ||
      q.qtype == kTypeIXFR) {
    *rcode = kRefused;
    return true;
  }
  b.SetFlags(static_cast<uint16_t>(b.flags() | kFlagAA));
  Writer w{b, q};
  const SoaNames& s = Soa();
  const Name& zname = zid == ZoneId::kFlycast ? s.flycast : s.internal;
  const Name& mname = zid == ZoneId::kFlycast ? s.mname_flycast : s.mname_internal;
  const Name& rname = zid == ZoneId::kFlycast ? s.rname_flycast : s.rname_internal;
  uint32_t serial = zone->Serial(view);
  Verdict verdict;
  if (nl == 1 && (q.qtype == kTypeSOA || q.qtype == kTypeANY)) {
    if (!b.AddSoa(Section::kAnswer, q.qname, mname, rname, serial, 3600, 600, 86400, kTtlNegative, kTtlNegative))
      w.overflow = true;
    verdict = Verdict::kAnswered;
  } else if (zid == ZoneId::kFlycast) {
    verdict = ResolveFlycast(*zone, view, labels, nl - 1, w, o);
  } else {
    verdict = ResolveInternal(*zone, view, labels, nl - 1, w);
  }
  *overflow = w.overflow;
  if (verdict == Verdict::kNxDomain) *rcode = kNxDomain;
  if (verdict != Verdict::kAnswered && !*overflow) {
    if (!b.AddSoa(Section::kAuthority, zname, mname, rname, serial, 3600, 600, 86400, kTtlNegative, kTtlNegative))
      *overflow = true;
  }
  return true;
}

}  // namespace

size_t Resolve(const Zone* zone, const ClientView& view, ParseStatus status, const Query& q, const uint8_t* msg,
               size_t len, const ResolveOptions& opt, uint8_t* out, size_t cap, Outcome* o) {
  *o = Outcome();
  o->qtype = q.qtype;
  if (q.have_question && q.question_end > len) status = ParseStatus::kDrop;  // not from msg
  if (status == ParseStatus::kDrop) {
    o->action = Outcome::kDrop;
    return 0;
  }
  size_t limit = kMaxMessage;
  if (!opt.tcp) {
    limit = kMinUdpPayload;
    if (q.has_edns) limit = q.udp_size < opt.edns_udp_size ? q.udp_size : opt.edns_udp_size;
    if (limit < kMinUdpPayload) limit = kMinUdpPayload;
  }
  Builder b(out, cap, limit);
  uint16_t flags = kFlagQR | (q.header.flags & (0x7800 | kFlagRD | kFlagCD));
  if (opt.has_upstream) flags |= kFlagRA;
  b.SetHeader(q.header.id, flags);
  if (q.have_question) {
    bool ok = q.question_compressed ? b.AddQuestion(q.qname, q.qtype, q.qclass)
                                    : b.AddRawQuestion(msg + kHeaderSize, q.question_end - kHeaderSize);
    if (!ok) {  // cannot happen for a valid name under 512 bytes; be safe anyway
      o->action = Outcome::kDrop;
      return 0;
    }
  }
  if (q.has_edns) b.Reserve(11);
  uint8_t rcode = kNoError;
  uint8_t ext_rcode = 0;
  bool overflow = false;

  switch (status) {
    case ParseStatus::kFormErr:
      rcode = kFormErr;
      break;
    case ParseStatus::kNotImp:
      rcode = kNotImp;
      break;
    case ParseStatus::kBadVers:
      ext_rcode = kBadVers >> 4;
      break;
    default:
      if (!AnswerName(zone, view, q, opt, b, o, &rcode, &overflow)) return 0;  // forwarded
      break;
  }
  if (overflow) {
    b.TruncateToQuestion();
    b.SetFlags(static_cast<uint16_t>(b.flags() | kFlagTC));
    o->truncated = true;
  }
  b.SetRcode(rcode);
  o->rcode = ext_rcode ? static_cast<uint8_t>(kBadVers) : rcode;
  b.Reserve(0);
  if (q.has_edns) b.AddOpt(opt.edns_udp_size, ext_rcode, q.do_bit);
  return b.size();
}

}  // namespace privcast::dns
