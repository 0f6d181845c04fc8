// `privcast proxy LOCAL[:REMOTE] [HOST]`: a local port forwarded into the private network
// (cli/forward.h) until SIGINT/SIGTERM/SIGHUP. HOST is resolved here: an IP as is,
// <app>.flycast and <app>.internal names through the API, anything else by the system.
#include <netdb.h>
#include <sys/socket.h>

#include <memory>
#include <optional>

#include "cli/extend.h"
#include "cli/forward.h"
#include "cli/groups.h"
#include "cli/internal_names.h"
#include "cli/json_fields.h"
#include "cli/machine.h"
#include "cli/terminal.h"
#include "common/addr.h"

namespace privcast::cli {
namespace {

using nlohmann::json;

// <app>.internal names (cli/internal_names.h) through the API; nullopt: not such a name.
std::optional<std::string> ResolveInternal(Context& ctx, const std::string& h) {
  auto name = ParseInternalName(h);
  if (!name.ok()) throw CommandFailure(name.status().message());
  if (!name->has_value()) return std::nullopt;
  auto ip = PickInternalAddress(**name, CallJson(ctx, "GET", MachinePath((*name)->app)), h);
  if (!ip.ok()) throw CommandFailure(ip.status().message());
  return *ip;
}

// <app>.flycast (or <service>.svc.<app>.flycast, ADR 0013): the app's flycast address on its
// own network, else its first one.
std::string ResolveFlycast(Context& ctx, std::string app) {
  std::string service;
  if (auto dot = app.find(".svc."); dot != std::string::npos) {
    service = app.substr(0, dot);
    app = app.substr(dot + 5);
  }
  json a = CallJson(ctx, "GET", "/v1/apps/" + UrlEnc(app));
  json ips = CallJson(ctx, "GET", "/v1/apps/" + UrlEnc(app) + "/ip_assignments");
  std::string first;
  for (auto& ip : AsArray(ips)) {
    if (S(ip, "service") != service) continue;
    if (first.empty()) first = S(ip, "ip");
    if (S(ip, "org") == S(a, "org") && S(ip, "network") == S(a, "network")) return S(ip, "ip");
  }
  if (!first.empty()) return first;
  throw CommandFailure("app " + app + " has no flycast address: run privcast ips allocate-v6 --private -a " + app);
}

// HOST → numeric address: an IP literal as is; <app>.flycast and <app>.internal through the
// API; anything else through the system resolver.
std::string ResolveHost(Context& ctx, const std::string& host) {
  std::string h = host;
  if (h.size() > 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
  if (Ip6::Parse(h) || addr::ParseV4(h)) return h;
  if (auto internal = ResolveInternal(ctx, h)) return *internal;
  const std::string suffix = ".flycast";
  if (h.size() > suffix.size() && h.compare(h.size() - suffix.size(), suffix.size(), suffix) == 0)
    return ResolveFlycast(ctx, h.substr(0, h.size() - suffix.size()));
  struct addrinfo hints {};
  hints.ai_socktype = SOCK_STREAM;
  struct addrinfo* res = nullptr;
  if (::getaddrinfo(h.c_str(), nullptr, &hints, &res) != 0 || !res)
    throw CommandFailure("cannot resolve " + h + ": give an IP address or <app>.flycast");
  char buf[NI_MAXHOST];
  ::getnameinfo(res->ai_addr, res->ai_addrlen, buf, sizeof buf, nullptr, 0, NI_NUMERICHOST);
  ::freeaddrinfo(res);
  return buf;
}

struct State {
  std::string app, config, ports, host, bind = "127.0.0.1";
};

int Proxy(Context& ctx, const State& st) {
  auto pp = ParsePortPair(st.ports);
  if (!pp.ok()) throw CommandFailure(pp.status().message());
  std::string host = st.host;
  if (host.empty()) host = AppName(st.app, st.config) + ".flycast";
  std::string target = ResolveHost(ctx, host);
  TerminationSignals signals;  // before the forwarder's threads start
  Forwarder f;
  Status started = f.Start(st.bind, pp->local, target, pp->remote);
  if (!started.ok()) throw CommandFailure(started.message());
  ctx.out << "Proxying " << st.bind << ":" << f.local_port() << " to [" << target << "]:" << pp->remote << " (" << host
          << ")\n";
  ctx.out.flush();
  signals.Wait();
  f.Stop();
  return 0;
}

}  // namespace

void RegisterProxy(CLI::App& root, Context& ctx) {
  auto st = std::make_shared<State>();
  auto* pxc = AddCommand(ctx, &root, "proxy",
                         "Forward a local port into the private network (default HOST <app>.flycast)",
                         [&ctx, st] { return Proxy(ctx, *st); });
  AddAppFlags(pxc, &st->app, &st->config);
  pxc->add_option("ports", st->ports, "LOCAL[:REMOTE]")->required();
  pxc->add_option("host", st->host,
                  "Target (default <app>.flycast, which wakes machines; an IP, <app>.flycast or <app>.internal)");
  pxc->add_option("-b,--bind-addr", st->bind, "Local address to listen on (default 127.0.0.1)");
}

}  // namespace privcast::cli
