#include "daemon/backend.h"

#include <poll.h>
#include <sys/inotify.h>
#include <unistd.h>

#include <algorithm>
#include <fstream>
#include <map>

#include "common/log.h"
#include "config/json.h"
#include "daemon/attach_pty.h"
#include "daemon/log_merge.h"
#include "daemon/plan.h"
#include "images/reference.h"

namespace privcast::daemon {

Result<api::DeployResult> DaemonBackend::Deploy(const store::App& app, const store::Release& release,
                                                const api::DeployOptions& opts) {
  auto r = manager_->Deploy(app, release, opts.ha, opts.regions);
  if (!r.ok()) return r.status();
  api::DeployResult out;
  out.warnings = r->warnings;
  out.machines = r->machines;
  out.failed = r->failed;
  out.errors = r->errors;
  for (const auto& w : out.warnings) events_->Append(app.name, "deploy", "warning: " + w);
  std::string rel = "release v" + std::to_string(release.version);
  if (out.errors.empty()) events_->Append(app.name, "deploy", rel + " deployed");
  for (const auto& e : out.errors) events_->Append(app.name, "deploy", rel + " failed: machine failed to start: " + e);
  return out;
}

Status DaemonBackend::CheckConfig(const store::App& app, const std::string& config_json) {
  store::Release r;
  r.app = app.name;
  r.config_json = config_json;
  auto plan = DecodePlan(r);
  if (!plan.ok()) return plan.status();
  return CheckPlanCommands(*plan);
}

Result<std::vector<store::Machine>> DaemonBackend::Scale(const store::App& app, int count,
                                                         const std::vector<std::string>& regions) {
  return manager_->Scale(app, count, regions);
}

Result<std::set<std::string>> DaemonBackend::ImagesInUse() {
  PC_ASSIGN_OR_RETURN(auto machines, registry_->ListMachines(std::nullopt));
  std::set<std::string> ids;
  for (const auto& m : machines)
    if (!m.image_id.empty()) ids.insert(m.image_id);
  // A release's [build] image is in use while the release is current (its machines start
  // from it, also when none exists right now).
  PC_ASSIGN_OR_RETURN(auto apps, registry_->ListApps());
  for (const auto& a : apps) {
    if (a.current_release == 0) continue;
    auto rel = registry_->GetRelease(a.name, a.current_release);
    if (!rel.ok()) continue;
    auto cfg = config::FromJson(rel->config_json);
    if (!cfg.ok() || cfg->image.empty()) continue;
    if (auto img = images_->Find(cfg->image); img.ok()) ids.insert(img->id);
  }
  return ids;
}

api::ImageView DaemonBackend::View(const images::Image& i, const std::set<std::string>& in_use,
                                   const std::string& asked) const {
  api::ImageView v;
  // The name a machine records: the canonical form of what was asked for (an id stays an id).
  if (!asked.empty()) {
    auto src = images::ParseImageSource(asked, images_->insecure_registries());
    v.ref = src.ok() && std::find(i.refs.begin(), i.refs.end(), src->canonical) != i.refs.end() ? src->canonical : i.id;
  }
  v.id = i.id;
  v.refs = i.refs;
  v.size = i.size;
  v.layers = i.layers.size();
  v.created_at = i.created_at;
  v.exposed_tcp_ports = i.config.exposed_tcp_ports;
  v.manifest_digest = i.manifest_digest;
  v.in_use = in_use.count(i.id) > 0;
  return v;
}

Result<api::ImageView> DaemonBackend::PullImage(const std::string& ref) {
  if (!images_) return api::Backend::PullImage(ref);
  PC_ASSIGN_OR_RETURN(images::Image img, images_->Pull(ref));
  PC_ASSIGN_OR_RETURN(auto used, ImagesInUse());
  return View(img, used, ref);
}

Result<api::ImageView> DaemonBackend::EnsureImage(const std::string& ref) {
  if (!images_) return api::Backend::EnsureImage(ref);
  PC_ASSIGN_OR_RETURN(images::Image img, images_->Ensure(ref));
  PC_ASSIGN_OR_RETURN(auto used, ImagesInUse());
  return View(img, used, ref);
}

Result<api::ImageView> DaemonBackend::ResolveImage(const std::string& ref) {
  if (!images_) return api::Backend::ResolveImage(ref);
  PC_ASSIGN_OR_RETURN(images::Image img, images_->Resolve(ref));
  PC_ASSIGN_OR_RETURN(auto used, ImagesInUse());
  return View(img, used, ref);
}

Result<std::vector<api::ImageView>> DaemonBackend::ListImages() {
  if (!images_) return api::Backend::ListImages();
  PC_ASSIGN_OR_RETURN(auto used, ImagesInUse());
  std::vector<api::ImageView> out;
  for (const auto& i : images_->List()) out.push_back(View(i, used));
  return out;
}

Status DaemonBackend::RemoveImage(const std::string& ref) {
  if (!images_) return api::Backend::RemoveImage(ref);
  PC_ASSIGN_OR_RETURN(auto used, ImagesInUse());
  return images_->Remove(ref, used);
}

Result<std::vector<api::ImageView>> DaemonBackend::PruneImages() {
  if (!images_) return api::Backend::PruneImages();
  PC_ASSIGN_OR_RETURN(auto used, ImagesInUse());
  PC_ASSIGN_OR_RETURN(auto gone, images_->Prune(used));
  std::vector<api::ImageView> out;
  out.reserve(gone.size());
  for (const auto& i : gone) out.push_back(View(i, {}));
  return out;
}

Result<store::Machine> DaemonBackend::RunMachine(const store::MachineSpec& spec) { return manager_->RunMachine(spec); }

Result<int> DaemonBackend::RunAttached(const store::MachineSpec& spec, api::AttachedStdio stdio,
                                       const api::ClientWatch& client,
                                       const std::function<void(const store::Machine&)>& on_started) {
  // The fds stay owned here until the machine has exited (the supervisor dups them).
  auto gone = [&client] { return client.Gone(); };
  if (!stdio.tty)
    return manager_->RunAttached(spec, stdio.in.get(), stdio.out.get(), stdio.err.get(), false, gone, on_started);
  // A terminal: the machine gets a pty of its own, relayed to the user's (AttachPty).
  auto pty = AttachPty::Open(stdio.rows, stdio.cols);
  if (!pty.ok()) return Status(pty.status().code(), "allocating a terminal for the shell: " + pty.status().message());
  AttachPty& p = **pty;
  p.Start({stdio.in.get(), stdio.out.get(), stdio.resize.get(), client.fd()}, gone);
  auto r = manager_->RunAttached(spec, p.slave(), p.slave(), p.slave(), /*tty=*/true, gone, on_started);
  // The machine's processes are gone (or never started): with our copy closed too, the
  // master reads EIO once the output is drained, and the relay ends.
  p.CloseSlave();
  p.Wait();
  return r;
}

Status DaemonBackend::StreamLogs(const store::App& app, const api::LogOptions& opts, const api::ClientWatch& client,
                                 const std::function<bool(std::string_view line)>& sink) {
  auto machines = registry_->ListMachines(app.name);
  if (!machines.ok()) return machines.status();
  // The proxy's events are the app's, not a machine's or a region's: shown unfiltered only.
  bool filtered = !opts.machine_id.empty() || !opts.region.empty();
  auto wanted = [&](const store::Machine& m) {
    return (opts.machine_id.empty() || m.id == opts.machine_id) && (opts.region.empty() || m.region == opts.region);
  };
  std::vector<LogSource> sources;
  if (!filtered) sources.push_back({"", "", events_->PathFor(app.name), 0});
  for (const auto& m : machines.value())
    if (wanted(m)) sources.push_back({m.id, m.region, manager_->LogPath(m.id), 0});
  if (!opts.machine_id.empty() && sources.empty())
    return NotFound("unknown machine " + opts.machine_id + " in app " + app.name);
  // History: the last `tail` lines of all sources, in time order.
  for (const auto& l : MergedHistory(sources, opts.tail, events_->NowMs()))
    if (!sink(l.text)) return Status::Ok();
  if (!opts.follow) return Status::Ok();
  // Follow: inotify on the files' directories would miss new machines; poll sizes on a
  // short interval instead (control plane, one thread per follower) and wake early when
  // the client goes away. New lines are stamped when read (within the interval).
  while (!client.Gone()) {
    pollfd p{client.fd(), POLLIN | POLLRDHUP, 0};
    ::poll(&p, 1, 200);
    auto now = registry_->ListMachines(app.name);
    if (now.ok()) {
      for (const auto& m : now.value()) {
        if (!wanted(m)) continue;
        bool known = std::any_of(sources.begin(), sources.end(),
                                 [&](const LogSource& s) { return s.machine_id == m.id; });
        if (!known) sources.push_back({m.id, m.region, manager_->LogPath(m.id), 0});
      }
    }
    std::vector<LogLine> fresh;
    for (auto& s : sources)
      for (auto& l : ReadNewLines(s, events_->NowMs())) fresh.push_back(std::move(l));
    std::stable_sort(fresh.begin(), fresh.end(),
                     [](const LogLine& a, const LogLine& b) { return a.unix_ms < b.unix_ms; });
    for (const auto& l : fresh)
      if (!sink(l.text)) return Status::Ok();
  }
  return Status::Ok();
}

std::map<std::string, api::MachineLive> DaemonBackend::Live(const store::App& app) {
  return live_ ? live_(app) : std::map<std::string, api::MachineLive>{};
}

std::string DaemonBackend::MetricsText() { return metrics_ ? metrics_() : std::string(); }

Result<store::Secret> DaemonBackend::SealSecret(const std::string& app, const std::string& name,
                                                const std::string& value) {
  if (!secrets_) return FailedPrecondition("this privcastd keeps no secrets key");
  store::Secret s;
  s.app = app;
  s.name = name;
  s.digest = secrets_->Digest(value);
  PC_ASSIGN_OR_RETURN(s.sealed, secrets_->Seal(value, app + "/" + name));
  return s;
}

}  // namespace privcast::daemon
