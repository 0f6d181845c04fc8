#include "netns/firewall.h"

#include <sched.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fcntl.h>
#include <nftables/libnftables.h>

#include <cctype>
#include <cerrno>
#include <cstdio>
#include <cstdlib>

#include "common/strings.h"
#include "netns/netns.h"

namespace privcast::netns {
namespace {

std::string NetCidr(uint32_t net32) { return addr::NetworkCidr(net32); }
std::string MachineSrcElement(const std::string& ifname, uint32_t net) {
  return "\"" + ifname + "\" . " + NetCidr(net);
}
std::string FlycastTcpElement(const FlycastPorts& p) {
  std::string e = p.address.ToString() + " . " + std::to_string(p.first);
  if (p.last != p.first) e += "-" + std::to_string(p.last);
  return e;
}

// "    elements = { a, b }\n" (nothing for an empty set: nft refuses an empty list).
template <typename Set, typename Fn>
std::string Elements(const Set& set, Fn element) {
  if (set.empty()) return "";
  std::string t = "    elements = { ";
  bool first = true;
  for (const auto& e : set) {
    if (!first) t += ", ";
    first = false;
    t += element(e);
  }
  return t + " }\n";
}

// Element-only changes of one set: deletions into *del, additions into *add.
template <typename Set, typename Fn>
void DeltaOf(const Set& from, const Set& to, const char* set_name, Fn element, std::string* del, std::string* add) {
  for (const auto& e : from)
    if (!to.count(e)) *del += std::string("delete element inet privcast ") + set_name + " { " + element(e) + " }\n";
  for (const auto& e : to)
    if (!from.count(e)) *add += std::string("add element inet privcast ") + set_name + " { " + element(e) + " }\n";
}

}  // namespace

std::string Firewall::NetworkCounterName(uint32_t net32) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "xnet_%08x", net32);
  return buf;
}

std::string Firewall::Render(const FirewallState& s) {
  std::string t;
  t += "table inet privcast {}\n";
  t += "delete table inet privcast\n";
  t += "table inet privcast {\n";
  for (const char* c : {"input_drop", "fwd_drop", "fwd4_drop", "spoof_drop"})
    t += std::string("  counter ") + c + " {}\n";
  for (uint32_t n : s.networks) t += "  counter " + NetworkCounterName(n) + " {}\n";

  t += "  counter flycast_port_drop {}\n";
  t += "  set flycast {\n    type ipv6_addr\n";
  t += Elements(s.flycast, [](const Ip6& a) { return a.ToString(); });
  t += "  }\n";
  t += "  set flycast_tcp {\n    type ipv6_addr . inet_service\n    flags interval\n";
  t += Elements(s.flycast_tcp, FlycastTcpElement);
  t += "  }\n";
  t += "  set machine_src {\n    type ifname . ipv6_addr\n    flags interval\n";
  t += Elements(s.machine_ifs, [](const auto& kv) { return MachineSrcElement(kv.first, kv.second); });
  t += "  }\n";

  t += "  chain forward {\n"
       "    type filter hook forward priority filter; policy accept;\n"
       "    iifname \"pcv*\" jump from_machine\n"
       "    oifname \"pcv*\" jump to_machine\n"
       "  }\n";
  t += "  chain from_machine {\n"
       "    meta nfproto ipv4 counter name \"fwd4_drop\" drop\n"
       "    iifname . ip6 saddr != @machine_src counter name \"spoof_drop\" drop\n";
  if (!s.peers.empty()) t += "    ct state established,related accept\n";
  for (uint32_t n : s.networks) {
    std::string c = NetCidr(n);
    t += "    ip6 saddr " + c + " ip6 daddr " + c + " accept\n";
    t += "    ip6 saddr " + c + " counter name \"" + NetworkCounterName(n) + "\" drop\n";
  }
  t += "    counter name \"fwd_drop\" drop\n"
       "  }\n";
  t += "  chain to_machine {\n"
       "    meta nfproto ipv4 counter name \"fwd4_drop\" drop\n";
  if (!s.peers.empty()) {
    t += "    ct state established,related accept\n";
    t += "    ip6 saddr { ";
    bool first = true;
    for (const Ip6& p : s.peers) {
      t += (first ? "" : ", ") + p.ToString();
      first = false;
    }
    t += " } meta l4proto tcp accept\n";
    for (uint32_t n : s.networks) {
      std::string c = NetCidr(n);
      t += "    ip6 saddr " + c + " ip6 daddr " + c + " accept\n";
    }
  }
  t += "    counter name \"fwd_drop\" drop\n"
       "  }\n";
  t += "  chain input {\n"
       "    type filter hook input priority filter; policy accept;\n"
       "    iifname \"pcv*\" jump machine_input\n"
       "  }\n";
  t += "  chain machine_input {\n"
       "    ct state established,related accept\n"
       "    icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert, nd-router-solicit } accept\n"
       "    iifname . ip6 saddr != @machine_src counter name \"spoof_drop\" drop\n"
       "    ip6 daddr fdaa::3 meta l4proto { tcp, udp } th dport 53 accept\n"
       "    ip6 daddr fdaa::3 icmpv6 type echo-request accept\n"
       "    ip6 daddr . tcp dport @flycast_tcp accept\n"
       "    ip6 daddr @flycast icmpv6 type echo-request accept\n"
       "    ip6 daddr @flycast counter name \"flycast_port_drop\" drop\n"
       "    counter name \"input_drop\" drop\n"
       "  }\n";
  t += "}\n";
  return t;
}

std::string Firewall::RenderDelta(const FirewallState& from, const FirewallState& to) {
  // Deletions first: a slot reused for another network is a delete and an add of one key.
  std::string del, add;
  for (const auto& [ifname, net] : from.machine_ifs) {
    auto it = to.machine_ifs.find(ifname);
    if (it == to.machine_ifs.end() || it->second != net)
      del += "delete element inet privcast machine_src { " + MachineSrcElement(ifname, net) + " }\n";
  }
  for (const auto& [ifname, net] : to.machine_ifs) {
    auto it = from.machine_ifs.find(ifname);
    if (it == from.machine_ifs.end() || it->second != net)
      add += "add element inet privcast machine_src { " + MachineSrcElement(ifname, net) + " }\n";
  }
  DeltaOf(
      from.flycast, to.flycast, "flycast", [](const Ip6& a) { return a.ToString(); }, &del, &add);
  DeltaOf(from.flycast_tcp, to.flycast_tcp, "flycast_tcp", FlycastTcpElement, &del, &add);
  return del + add;
}

Result<std::unique_ptr<Firewall>> Firewall::Create() {
  PC_ASSIGN_OR_RETURN(UniqueFd ns, OpenCurrent());
  std::unique_ptr<Firewall> fw(new Firewall(std::move(ns)));
  MutexLock lock(&fw->mu_);
  fw->OpenNft();
  return fw;
}

Result<std::unique_ptr<Firewall>> Firewall::CreateFor(int nsfd) {
  int fd = ::fcntl(nsfd, F_DUPFD_CLOEXEC, 0);
  if (fd < 0) return ErrnoStatus("dup netns fd", errno);
  std::unique_ptr<Firewall> fw(new Firewall(UniqueFd(fd)));
  MutexLock lock(&fw->mu_);
  fw->OpenNft();
  return fw;
}

namespace {

// libnftables talks netlink through select(), which aborts (glibc FORTIFY) when its socket's
// fd number is >= FD_SETSIZE — and a daemon with ~1000 machines holds that many pidfds. Then we
// run the same script through the `nft` binary in a child whose fd table is closed down to
// stdio first (only async-signal-safe calls between fork and exec).
bool LowFdsExhausted() {
  int fd = ::fcntl(0, F_DUPFD_CLOEXEC, 0);
  if (fd < 0) return true;
  ::close(fd);
  return fd >= 900;
}

Result<std::string> RunNftProcess(int nsfd, const std::string& script) {
  int in[2], out[2];
  if (::pipe2(in, O_CLOEXEC) != 0) return ErrnoStatus("pipe", errno);
  if (::pipe2(out, O_CLOEXEC) != 0) {
    ::close(in[0]);
    ::close(in[1]);
    return ErrnoStatus("pipe", errno);
  }
  pid_t pid = ::fork();
  if (pid < 0) {
    int e = errno;
    for (int f : {in[0], in[1], out[0], out[1]}) ::close(f);
    return ErrnoStatus("fork nft", e);
  }
  if (pid == 0) {
    if (::setns(nsfd, CLONE_NEWNET) != 0) ::_exit(126);
    ::dup2(in[0], 0);
    ::dup2(out[1], 1);
    ::dup2(out[1], 2);
    ::syscall(SYS_close_range, 3u, ~0u, 0u);
    const char* argv[] = {"nft", "-f", "-", nullptr};
    ::execv("/usr/sbin/nft", const_cast<char* const*>(argv));
    ::_exit(127);
  }
  ::close(in[0]);
  ::close(out[1]);
  size_t off = 0;
  while (off < script.size()) {
    ssize_t n = ::write(in[1], script.data() + off, script.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
  ::close(in[1]);
  std::string text;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(out[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    text.append(buf, static_cast<size_t>(n));
  }
  ::close(out[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    while (!text.empty() && text.back() == '\n') text.pop_back();
    return Status(Code::kIo, "nft: " + text);
  }
  return text;
}

}  // namespace

void Firewall::NftCtxFree::operator()(nft_ctx* c) const { nft_ctx_free(c); }

Firewall::~Firewall() = default;

bool Firewall::in_process() {
  MutexLock lock(&mu_);
  return nft_ != nullptr;
}

void Firewall::OpenNft() {
  if (nft_ || LowFdsExhausted()) return;
  // The context's netlink socket is opened here, inside ns_, at a low fd number (header).
  Status st = RunIn(ns_.get(), [&]() -> Status {
    mu_.AssertHeld();  // by our caller, blocked until this helper thread is done
    nft_.reset(nft_ctx_new(NFT_CTX_DEFAULT));
    if (!nft_) return Internal("nft_ctx_new failed");
    nft_ctx_buffer_output(nft_.get());
    nft_ctx_buffer_error(nft_.get());
    return Status::Ok();
  });
  if (!st.ok()) nft_.reset();
}

Result<std::string> Firewall::Run(const std::string& script) {
  OpenNft();
  if (!nft_) return RunNftProcess(ns_.get(), script);
  std::string out, err;
  int rc = -1;
  Status st = RunIn(ns_.get(), [&]() -> Status {
    mu_.AssertHeld();  // by our caller, blocked until this helper thread is done
    rc = nft_run_cmd_from_buffer(nft_.get(), script.c_str());
    if (const char* o = nft_ctx_get_output_buffer(nft_.get())) out = o;
    if (const char* e = nft_ctx_get_error_buffer(nft_.get())) err = e;
    return Status::Ok();
  });
  PC_RETURN_IF_ERROR(st);
  if (rc != 0) {
    while (!err.empty() && err.back() == '\n') err.pop_back();
    return Status(Code::kIo, "nft: " + err);
  }
  return out;
}

Status Firewall::Apply(const FirewallState& state) {
  // Interface names go into the nft script: only what IFNAMSIZ and our naming allow.
  for (const auto& [ifname, net] : state.machine_ifs) {
    bool ok = !ifname.empty() && ifname.size() < 16;
    for (char c : ifname) ok = ok && (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_');
    if (!ok) return InvalidArgument("bad machine interface name '" + ifname + "'");
    if (net == 0) return InvalidArgument("machine interface " + ifname + " on network 0");
  }
  for (uint32_t n : state.networks)
    if (n == 0) return InvalidArgument("network 0 is privcast's own, not a network");
  MutexLock lock(&mu_);
  if (applied_ && applied_->networks == state.networks && applied_->peers == state.peers) {
    std::string delta = RenderDelta(*applied_, state);
    if (delta.empty()) return Status::Ok();
    if (Run(delta).ok()) {
      applied_ = state;
      return Status::Ok();
    }
    // The table is not what we last applied (deleted or edited by hand): rebuild it whole.
  }
  applied_.reset();
  Result<std::string> r = Run(Render(state));
  if (!r.ok()) return r.status();
  applied_ = state;
  return Status::Ok();
}

Status Firewall::Remove() {
  MutexLock lock(&mu_);
  applied_.reset();
  Result<std::string> r = Run("table inet privcast {}\ndelete table inet privcast\n");
  return r.ok() ? Status::Ok() : r.status();
}

Result<uint64_t> Firewall::CounterPackets(const std::string& name) {
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_'))
      return InvalidArgument("bad counter name '" + name + "'");
  MutexLock lock(&mu_);
  Result<std::string> r = Run("list counter inet privcast " + name + "\n");
  if (!r.ok()) return NotFound("counter " + name + ": " + r.status().message());
  size_t p = r->find("packets ");
  if (p == std::string::npos) return Internal("unexpected nft output: " + *r);
  std::string_view digits = std::string_view(*r).substr(p + 8);
  digits = digits.substr(0, digits.find_first_not_of("0123456789"));
  std::optional<uint64_t> n = ParseDecimal<uint64_t>(digits);
  if (!n) return Internal("counter " + name + ": no packet count in nft's answer");
  return *n;
}

}  // namespace privcast::netns
