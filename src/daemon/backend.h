// DaemonBackend: api::Backend implemented by the daemon — deploys, scale, ad-hoc and attached
// machines go to the MachineManager; logs are read from machine log files and the app's
// event log; live load and metrics come from the proxy and DNS.
// Thread-safe (called from API connection threads); holds no state of its own besides
// borrowed pointers.
#pragma once

#include <functional>
#include <set>
#include <string>

#include "api/backend.h"
#include "daemon/app_events.h"
#include "daemon/machine_manager.h"
#include "daemon/secret_box.h"
#include "images/store.h"

namespace privcast::daemon {

class DaemonBackend final : public api::Backend {
 public:
  DaemonBackend(store::Registry* registry, MachineManager* manager, AppEvents* events,
                std::function<std::string()> metrics,
                std::function<std::map<std::string, api::MachineLive>(const store::App&)> live,
                images::ImageStore* images = nullptr)
      : registry_(registry),
        manager_(manager),
        events_(events),
        metrics_(std::move(metrics)),
        live_(std::move(live)),
        images_(images) {}

  Result<api::ImageView> PullImage(const std::string& ref) override;
  Result<api::ImageView> EnsureImage(const std::string& ref) override;
  Result<api::ImageView> ResolveImage(const std::string& ref) override;
  Result<std::vector<api::ImageView>> ListImages() override;
  Status RemoveImage(const std::string& ref) override;
  Result<std::vector<api::ImageView>> PruneImages() override;

  Result<api::DeployResult> Deploy(const store::App& app, const store::Release& release,
                                   const api::DeployOptions& opts) override;
  // Every process group's command exists inside a machine (CheckPlanCommands).
  Status CheckConfig(const store::App& app, const std::string& config_json) override;
  Result<std::vector<store::Machine>> Scale(const store::App& app, int count,
                                            const std::vector<std::string>& regions) override;
  Status DestroyApp(const store::App& app, const api::ClientWatch& client) override;  // daemon/app_teardown.cc
  Result<store::Machine> RunMachine(const store::MachineSpec& spec) override;
  Result<int> RunAttached(const store::MachineSpec& spec, api::AttachedStdio stdio, const api::ClientWatch& client,
                          const std::function<void(const store::Machine&)>& on_started) override;
  Status StreamLogs(const store::App& app, const api::LogOptions& opts, const api::ClientWatch& client,
                    const std::function<bool(std::string_view line)>& sink) override;
  std::map<std::string, api::MachineLive> Live(const store::App& app) override;
  std::string MetricsText() override;
  Result<store::Secret> SealSecret(const std::string& app, const std::string& name, const std::string& value) override;
  void SetSecretBox(const SecretBox* box) { secrets_ = box; }
  // The time DestroyApp's wait is measured on (RealClock unless set; tests: a FakeClock).
  void SetClock(const Clock* clock) { clock_ = clock; }
  // How long DestroyApp waits for the app's machines to be torn down.
  static constexpr Duration kAppTeardownWait = std::chrono::seconds(60);
  // daemon/console.cc
  Result<int> Console(const store::Machine& m, const std::vector<std::string>& cmd,
                      const std::vector<std::pair<std::string, std::string>>& env, api::AttachedStdio stdio,
                      const api::ClientWatch& client) override;

 private:
  store::Registry* registry_;
  MachineManager* manager_;
  AppEvents* events_;
  std::function<std::string()> metrics_;
  std::function<std::map<std::string, api::MachineLive>(const store::App&)> live_;
  images::ImageStore* images_;
  const SecretBox* secrets_ = nullptr;
  const Clock* clock_ = RealClock::Get();

  Result<std::set<std::string>> ImagesInUse();
  api::ImageView View(const images::Image& i, const std::set<std::string>& in_use, const std::string& asked = "") const;
};

}  // namespace privcast::daemon
