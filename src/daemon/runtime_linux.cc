#include "daemon/runtime_linux.h"

#include <fcntl.h>

#include <fstream>

#include <sys/stat.h>
#include <sys/statfs.h>

#include <filesystem>
#include <fstream>

#include "common/log.h"
#include "common/mutex.h"
#include "daemon/cgroup_mounts.h"
#include "netns/firewall.h"
#include "netns/host_network.h"
#include "netns/listener_probe.h"
#include "netns/machine_network.h"
#include "netns/net_ops.h"
#include "netns/netns.h"
#include "supervisor/enter.h"
#include "supervisor/launch.h"
#include "supervisor/supervisor.h"

namespace privcast::daemon {
namespace {
// A live network namespace file (nsfs), not the empty placeholder a dead mount leaves behind.
bool IsNetnsMount(const std::string& path) {
  struct statfs fs;
  return ::statfs(path.c_str(), &fs) == 0 && static_cast<uint64_t>(fs.f_type) == 0x6e736673ull;  // NSFS_MAGIC
}
}  // namespace

struct LinuxRuntime::Impl {
  LinuxRuntimeOptions opts;
  std::unique_ptr<netns::KernelNetOps> ops;
  std::unique_ptr<netns::HostNetwork> host;
  std::unique_ptr<netns::MachineNetwork> machines;
  std::unique_ptr<supervisor::Supervisor> sup;
  Mutex cb_mu;
  std::function<void(const ExitInfo&)> exit_cb;
  std::set<std::string> networks_ready;  // machine ids whose netns exists
  std::unique_ptr<netns::Firewall> firewall;
  std::unordered_map<std::string, uint32_t> slots;  // machine id → link slot
  std::map<Ip6, Ip6> peer_routes;                   // applied by SyncPeers: prefix /80 → underlay address
  std::set<Ip6> peers;                              // other live hosts' underlay addresses (firewall)
  std::unordered_map<std::string, std::pair<netns::ListenerProbe, uint32_t>> probes;  // id → (probe, link slot)

  void OnEvent(const supervisor::MachineEvent& ev) {
    ExitInfo e;
    e.machine_id = ev.machine_id;
    switch (ev.kind) {
      case supervisor::EventKind::kExited:
      case supervisor::EventKind::kRestartFailed:
        e.restarting = false;
        break;
      case supervisor::EventKind::kRestartScheduled:
        e.restarting = true;
        break;
      case supervisor::EventKind::kRestarted:
        return;
    }
    if (ev.exit.known) e.code = ev.exit.signal ? 128 + ev.exit.signal : ev.exit.code;
    std::function<void(const ExitInfo&)> cb;
    {
      MutexLock l(&cb_mu);
      cb = exit_cb;
    }
    if (cb) cb(e);
  }

  supervisor::LaunchSpec SpecFor(const LaunchPlan& p) {
    const store::Machine& m = p.machine;
    supervisor::LaunchSpec s;
    s.machine_id = m.id;
    s.netns_path = machines->NetnsPath(m.id);
    s.hostname = m.id;
    s.argv = p.argv;
    s.shell_command = p.shell_command;
    std::string six_pn = addr::SixPnAddress(m.net32, m.host_id, m.machine32).ToString();
    supervisor::MachineEnvInputs env;
    env.app = m.app;
    env.machine_id = m.id;
    env.region = m.region;
    env.private_ip = six_pn;
    env.process_group = m.process_group;
    env.primary_region = p.primary_region.empty() ? opts.region : p.primary_region;
    env.extra = p.env;
    s.env = supervisor::BuildMachineEnv(env);
    s.resolv_conf = supervisor::RenderResolvConf();
    s.hosts = supervisor::RenderHosts(six_pn, m.id);
    s.limits.memory_mb = static_cast<int64_t>(p.memory_mb);
    s.limits.cpus = p.cpus;
    s.limits.pids_max = supervisor::kMachinePidsMax;
    // Every machine is sandboxed; its id range follows from its link slot, which the store
    // keeps, so a restarted daemon derives the same range (docs/security.md).
    s.sandbox = supervisor::SandboxSpec{supervisor::MachineIdRange(opts.id_base, m.link_slot)};
    s.log_path = opts.logs_dir + "/" + m.id + ".log";
    if (p.stdin_fd >= 0 || p.stdout_fd >= 0 || p.stderr_fd >= 0)
      s.stdio = supervisor::StdioFds{p.stdin_fd, p.stdout_fd, p.stderr_fd, p.tty};
    for (const auto& v : p.volumes) s.volumes.push_back(supervisor::VolumeMount{v.dir, v.path});
    if (p.image) {
      s.image = supervisor::ImageRootfs{p.image->layers, p.persist_rootfs, p.image->uid, p.image->gid};
      if (!p.image->working_dir.empty()) s.working_dir = p.image->working_dir;
    }
    s.kill_signal = p.kill_signal;
    s.kill_timeout = p.kill_timeout;
    s.restart.mode = p.restart_mode;
    s.restart.max_retries = p.restart_retries;
    return s;
  }
};

LinuxRuntime::LinuxRuntime(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
LinuxRuntime::~LinuxRuntime() = default;

Result<std::unique_ptr<LinuxRuntime>> LinuxRuntime::Create(const LinuxRuntimeOptions& o) {
  auto impl = std::make_unique<Impl>();
  impl->opts = o;
  std::error_code ec;
  std::filesystem::create_directories(o.logs_dir, ec);
  std::filesystem::create_directories(o.state_root, ec);
  PC_RETURN_IF_ERROR(EnsureCgroupMounts());
  auto ops = netns::KernelNetOps::Create();
  if (!ops.ok()) return ops.status();
  impl->ops = std::move(ops).value();
  impl->host = std::make_unique<netns::HostNetwork>(*impl->ops);
  impl->machines = std::make_unique<netns::MachineNetwork>(*impl->ops, o.netns_dir);
  if (o.firewall) {
    // Now, before adoption opens a pidfd per machine: see netns/firewall.h on fd numbers.
    auto fw = netns::Firewall::Create();
    if (!fw.ok()) return fw.status();
    impl->firewall = std::move(fw).value();
  }
  supervisor::SupervisorOptions so;
  so.state_root = o.state_root;
  so.cgroups.root_name = "privcast-" + o.instance;
  so.init_path = o.init_path;
  Impl* raw = impl.get();
  so.on_event = [raw](const supervisor::MachineEvent& ev) { raw->OnEvent(ev); };
  auto sup = supervisor::Supervisor::Create(std::move(so));
  if (!sup.ok()) return sup.status();
  impl->sup = std::move(sup).value();
  return std::unique_ptr<LinuxRuntime>(new LinuxRuntime(std::move(impl)));
}

Status LinuxRuntime::SetupHost() { return impl_->host->Setup(); }

void LinuxRuntime::TeardownHost() {
  // The nftables table stays (fail closed): machines keep running without the daemon, and
  // their isolation must not depend on it. `privcastd --uninstall` removes it.
  // privcast0, its addresses and the unreachable routes stay: machines keep running across
  // a daemon restart and the next privcastd adopts them (Setup is idempotent). The cgroup
  // root goes only when no machine is left in it.
  (void)impl_->sup->RemoveCgroupRoot();
}

Status LinuxRuntime::AddFlycast(const Ip6& a) { return impl_->host->AddFlycastAddress(a); }
Status LinuxRuntime::RemoveFlycast(const Ip6& a) { return impl_->host->RemoveFlycastAddress(a); }

Status LinuxRuntime::SyncFirewall(const store::StateView& state, const FlycastPortMap& ports) {
  if (!impl_->firewall) return Status::Ok();  // --no-firewall
  netns::FirewallState fs;
  for (const auto& n : state.networks) fs.networks.insert(n.net32);
  for (const auto& m : state.machines)
    if (m.host_id == impl_->opts.host_id) {
      fs.machine_ifs[netns::MachineNetwork::HostIfName(m.link_slot)] = m.net32;
      fs.networks.insert(m.net32);  // a network created since the state was loaded
    }
  fs.peers = impl_->peers;
  for (const auto& ip : state.ips)
    if (auto a = Ip6::Parse(ip.address)) fs.flycast.insert(*a);
  for (const auto& [ip, ranges] : ports)
    if (auto a = Ip6::Parse(ip))
      for (const auto& [first, last] : ranges) fs.flycast_tcp.insert({*a, first, last});
  return impl_->firewall->Apply(fs);
}

Status LinuxRuntime::SyncPeers(const std::map<Ip6, Ip6>& routes, const std::set<Ip6>& peers) {
  Status first;
  for (auto it = impl_->peer_routes.begin(); it != impl_->peer_routes.end();) {
    if (routes.count(it->first)) {
      ++it;
      continue;
    }
    Status st = impl_->host->RemovePeerRoute(it->first);
    if (!st.ok() && first.ok()) first = st;
    it = impl_->peer_routes.erase(it);
  }
  for (const auto& [prefix, via] : routes) {
    auto it = impl_->peer_routes.find(prefix);
    if (it != impl_->peer_routes.end() && it->second == via) continue;
    Status st = impl_->host->SetPeerRoute(prefix, via);
    if (st.ok()) impl_->peer_routes[prefix] = via;
    else if (first.ok()) first = st;
  }
  impl_->peers = peers;
  return first;
}

Status LinuxRuntime::EnsureNetwork(const store::Machine& m) {
  impl_->slots[m.id] = m.link_slot;
  if (impl_->networks_ready.count(m.id)) return Status::Ok();
  std::string path = impl_->machines->NetnsPath(m.id);
  if (IsNetnsMount(path)) {
    impl_->networks_ready.insert(m.id);  // adopted (daemon restart) or kept while stopped
    return Status::Ok();
  }
  // The mount died with a previous daemon's mount namespace (`ip netns exec` gives each
  // daemon its own) and no process kept the netns: clear leftovers and build it again.
  (void)impl_->machines->Teardown(m.id, m.link_slot);
  netns::MachineNetSpec spec{m.id, m.net32, m.host_id, m.machine32, m.link_slot};
  auto st = impl_->machines->Setup(spec);
  if (st.ok() || st.code() == Code::kAlreadyExists) {
    impl_->networks_ready.insert(m.id);
    return Status::Ok();
  }
  return st;
}

Status LinuxRuntime::Launch(const LaunchPlan& plan) {
  auto r = impl_->sup->Start(impl_->SpecFor(plan));
  if (!r.ok()) return r.status();
  log::Debug("supervisor", "machine exec'd",
             {{"machine", plan.machine.id},
              {"pid", static_cast<int64_t>(r->pid)},
              {"latency_us", static_cast<int64_t>(r->latency.count() / 1000)}});
  return Status::Ok();
}

Status LinuxRuntime::Stop(const std::string& id, KillSignal sig, Duration timeout) {
  return impl_->sup->Stop(id, sig.number(), timeout);
}
Status LinuxRuntime::Suspend(const std::string& id) { return impl_->sup->Suspend(id); }
Status LinuxRuntime::Resume(const std::string& id) { return impl_->sup->Resume(id); }

bool LinuxRuntime::IsRunning(const std::string& id) {
  auto d = impl_->sup->Describe(id);
  return d && (d->state == supervisor::RunState::kRunning || d->state == supervisor::RunState::kStopping ||
               d->state == supervisor::RunState::kBackoff);
}

bool LinuxRuntime::IsSuspended(const std::string& id) {
  auto d = impl_->sup->Describe(id);
  return d && d->state == supervisor::RunState::kSuspended;
}

Status LinuxRuntime::Destroy(const store::Machine& m) {
  auto st = impl_->sup->Destroy(m.id, /*force=*/true);
  if (!st.ok()) return st;
  impl_->networks_ready.erase(m.id);
  impl_->probes.erase(m.id);
  impl_->slots.erase(m.id);
  return impl_->machines->Teardown(m.id, m.link_slot);
}

Result<bool> LinuxRuntime::Adopt(const LaunchPlan& plan) {
  impl_->slots[plan.machine.id] = plan.machine.link_slot;
  auto r = impl_->sup->Adopt(impl_->SpecFor(plan));
  if (!r.ok()) return r.status();
  if (r->outcome == supervisor::AdoptOutcome::kAdopted) {
    // Re-attach the running machine's netns at its path if our mount namespace lost it.
    std::string path = impl_->machines->NetnsPath(plan.machine.id);
    if (!IsNetnsMount(path)) {
      auto st = netns::Adopt(impl_->machines->netns_dir(), plan.machine.id, r->pid);
      if (!st.ok())
        log::Warn("daemon", "cannot re-attach machine netns", {{"machine", plan.machine.id}, {"error", st.message()}});
    }
    impl_->networks_ready.insert(plan.machine.id);
    return true;
  }
  log::Info("supervisor", "machine not adopted", {{"machine", plan.machine.id}, {"reason", r->reason}});
  return false;
}

Result<bool> LinuxRuntime::Accepts(const std::string& id, uint16_t port) {
  auto ls = Listeners(id, /*probe_only=*/true);
  if (!ls.ok()) return ls.status();
  auto& entry = impl_->probes.at(id);
  auto r = entry.first.Accepts(netns::IpAddr::V4(addr::LinkV4Machine(entry.second)), port);
  if (!r.ok() || r->has_value()) impl_->probes.erase(id);  // ready (or broken): free the socket
  if (!r.ok()) return r.status();
  return r->has_value();
}

Result<std::vector<Listener>> LinuxRuntime::Listeners(const std::string& id) { return Listeners(id, false); }

Result<std::vector<Listener>> LinuxRuntime::Listeners(const std::string& id, bool probe_only) {
  auto it = impl_->probes.find(id);
  if (it == impl_->probes.end()) {
    auto ns = netns::Open(impl_->machines->NetnsPath(id));
    if (!ns.ok()) return ns.status();
    auto probe = netns::ListenerProbe::Open(ns->get());
    if (!probe.ok()) return probe.status();
    uint32_t slot = 0;
    auto d = impl_->slots.find(id);
    if (d != impl_->slots.end()) slot = d->second;
    it = impl_->probes.emplace(id, std::make_pair(std::move(probe).value(), slot)).first;
  }
  if (probe_only) return std::vector<Listener>{};
  auto ls = it->second.first.List();
  if (!ls.ok()) {
    impl_->probes.erase(it);
    return ls.status();
  }
  netns::IpAddr link = netns::IpAddr::V4(addr::LinkV4Machine(it->second.second));
  std::vector<Listener> out;
  for (const auto& l : ls.value()) out.push_back({l.addr.ToString(), l.port, l.ReachableOverV4(link)});
  return out;  // the probe stays open: Accepts() polls next and closes it when ready
}

std::string LinuxRuntime::LogPath(const std::string& id) { return impl_->opts.logs_dir + "/" + id + ".log"; }

void LinuxRuntime::SetExitCallback(std::function<void(const ExitInfo&)> cb) {
  MutexLock l(&impl_->cb_mu);
  impl_->exit_cb = std::move(cb);
}

Result<Entered> LinuxRuntime::Enter(const std::string& id, const EnterRequest& req) {
  auto st = impl_->sup->Describe(id);
  if (!st || st->state != supervisor::RunState::kRunning || st->pid <= 0)
    return FailedPrecondition("machine " + id + " is not running: start it first (privcast machine start " + id + ")");
  // The machine's own environment (its init's), then the request's (TERM).
  std::vector<std::string> env;
  {
    std::ifstream f("/proc/" + std::to_string(st->pid) + "/environ", std::ios::binary);
    for (std::string kv; std::getline(f, kv, '\0');)
      if (!kv.empty()) env.push_back(kv);
  }
  for (const auto& [k, v] : req.env) {
    std::string prefix = k + "=";
    std::erase_if(env, [&](const std::string& e) { return e.rfind(prefix, 0) == 0; });
    env.push_back(prefix + v);
  }
  auto seccomp = supervisor::DefaultSeccomp();
  if (!seccomp.ok()) return seccomp.status();
  supervisor::MachineCgroup cg = impl_->sup->CgroupOf(id);
  const char* attach = cg.version() == supervisor::CgroupVersion::kV1 ? "/tasks" : "/cgroup.procs";
  std::vector<UniqueFd> attach_fds;
  supervisor::EnterPlan p;
  for (const auto& d : cg.dirs()) {
    UniqueFd fd(::open((d + attach).c_str(), O_WRONLY | O_CLOEXEC));
    if (!fd) return ErrnoStatus("open " + d + attach, errno);
    p.cgroup_attach_fds.push_back(fd.get());
    attach_fds.push_back(std::move(fd));
  }
  p.target = st->pid;
  p.argv = req.argv;
  p.env = std::move(env);
  p.stdin_fd = req.in;
  p.stdout_fd = req.out;
  p.stderr_fd = req.err;
  p.controlling_tty = req.tty;
  p.seccomp = *seccomp;
  auto r = supervisor::EnterMachine(p);
  if (!r.ok()) return Status(r.status().code(), "machine " + id + ": " + r.status().message());
  Entered e;
  e.pid = r->relay;
  e.pidfd = std::move(r->relay_fd);
  e.program = r->program;
  return e;
}

std::string LinuxRuntime::PtmxPath(const std::string& id) {
  auto st = impl_->sup->Describe(id);
  if (!st || st->pid <= 0) return "";
  return "/proc/" + std::to_string(st->pid) + "/root/dev/pts/ptmx";
}

void LinuxRuntime::Detach() {
  MutexLock l(&impl_->cb_mu);
  impl_->exit_cb = nullptr;
}

}  // namespace privcast::daemon
