// Test doubles for the API: a fake api::Backend that keeps machines in the real Registry,
// and a fake supervisor thread that plays the daemon's part of the lifecycle (moves
// starting → started, stopping → stopped, suspending → suspended, destroying → record
// deleted) by watching the Store's revisions. Shared by tests/api and tests/cli.
#pragma once

#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "api/backend.h"
#include "api/server.h"
#include "common/clock.h"
#include "store/registry.h"
#include "store/sqlite_store.h"
#include "store/store.h"

namespace privcast::testing {

class FakeBackend : public api::Backend {
 public:
  explicit FakeBackend(store::Registry* reg) : reg_(reg) {}

  // Not encryption: the API tests check what reaches the store is what this returns.
  Result<store::Secret> SealSecret(const std::string& app, const std::string& name, const std::string& value) override {
    return store::Secret{app, name, "digest-" + std::to_string(value.size()), "sealed-" + std::to_string(value.size()),
                         0};
  }

  Result<api::DeployResult> Deploy(const store::App& app, const store::Release& release,
                                   const api::DeployOptions& opts) override {
    deploys++;
    last_ha = opts.ha;
    api::DeployResult r;
    auto ms = reg_->ListMachines(app.name);
    if (!ms.ok()) return ms.status();
    size_t want = opts.ha ? 2 : 1;
    for (auto& m : *ms) {
      auto u = reg_->UpdateMachineRelease(m.id, release.version);
      if (!u.ok()) return u.status();
    }
    for (size_t i = ms->size(); i < want; ++i) {
      store::MachineSpec spec;
      spec.app = app.name;
      spec.release_version = release.version;
      spec.initial_state = store::MachineState::kStarting;
      auto m = reg_->CreateMachine(spec);
      if (!m.ok()) return m.status();
    }
    auto all = reg_->ListMachines(app.name);
    if (!all.ok()) return all.status();
    r.machines = *all;
    r.warnings.push_back("backend says hi");
    r.errors = deploy_errors;
    r.failed = deploy_failed;
    return r;
  }

  // The daemon marks machines destroying and waits for them; here they simply go.
  Status DestroyApp(const store::App& app, const api::ClientWatch&) override {
    ++destroy_app_calls;
    auto ms = reg_->ListMachines(app.name);
    if (!ms.ok()) return ms.status();
    for (auto& m : *ms)
      if (Status s = reg_->DeleteMachine(m.id); !s.ok() && s.code() != Code::kNotFound) return s;
    return reg_->DestroyApp(app.name);
  }

  std::vector<std::string> scale_regions;  // what the last Scale was asked
  Result<std::vector<store::Machine>> Scale(const store::App& app, int count,
                                            const std::vector<std::string>& regions) override {
    scale_regions = regions;
    auto ms = reg_->ListMachines(app.name);
    if (!ms.ok()) return ms.status();
    for (int i = static_cast<int>(ms->size()); i < count; ++i) {
      store::MachineSpec spec;
      spec.app = app.name;
      spec.release_version = app.current_release;
      auto m = reg_->CreateMachine(spec);
      if (!m.ok()) return m.status();
    }
    for (int i = count; i < static_cast<int>(ms->size()); ++i) {
      Status s = reg_->DeleteMachine((*ms)[i].id);
      if (!s.ok()) return s;
    }
    return reg_->ListMachines(app.name);
  }

  // Images: "good/..." references exist (id sha256:<64 × 'a'>), everything else fails to pull.
  Result<api::ImageView> EnsureImage(const std::string& ref) override {
    ensured.push_back(ref);
    if (ref.rfind("good/", 0) != 0) return Unavailable("pull " + ref + ": manifest unknown");
    api::ImageView v;
    v.id = "sha256:" + std::string(64, 'a');
    v.ref = "docker.io/" + ref + ":latest";
    v.refs = {v.ref};
    v.manifest_digest = "sha256:" + std::string(64, 'b');
    return v;
  }
  std::vector<std::string> ensured;

  Result<store::Machine> RunMachine(const store::MachineSpec& spec) override {
    store::MachineSpec s = spec;
    s.initial_state = store::MachineState::kStarting;
    return reg_->CreateMachine(s);
  }

  Result<int> RunAttached(const store::MachineSpec& spec, api::AttachedStdio stdio, const api::ClientWatch& client,
                          const std::function<void(const store::Machine&)>& on_started) override {
    auto m = reg_->CreateMachine(spec);
    if (!m.ok()) return m.status();
    last_tty = stdio.tty;
    on_started(*m);
    std::string greeting = "hello from " + m->id + "\n";
    (void)!::write(stdio.out.get(), greeting.data(), greeting.size());
    (void)!::write(stdio.err.get(), "err\n", 4);
    // Echo stdin to stdout until EOF (or the client leaves), then "exit" with the byte count.
    int total = 0;
    char buf[256];
    for (;;) {
      if (client.Gone()) return 130;
      struct pollfd p {
        stdio.in.get(), POLLIN, 0
      };
      if (::poll(&p, 1, 50) <= 0) continue;
      ssize_t n = ::read(stdio.in.get(), buf, sizeof buf);
      if (n <= 0) break;
      total += static_cast<int>(n);
      (void)!::write(stdio.out.get(), buf, static_cast<size_t>(n));
    }
    (void)reg_->DeleteMachine(m->id);
    return total;
  }

  Status StreamLogs(const store::App& app, const api::LogOptions& opts, const api::ClientWatch& client,
                    const std::function<bool(std::string_view)>& sink) override {
    for (int i = 0; i < 3; ++i)
      if (!sink("2026-11-22T03:00:0" + std::to_string(i) + "Z proxy " + app.name + " line " + std::to_string(i)))
        return Status::Ok();
    if (!opts.follow) return Status::Ok();
    following = true;
    while (!client.Gone()) std::this_thread::sleep_for(std::chrono::milliseconds(5));
    following = false;
    follow_ended++;
    return Status::Ok();
  }

  std::map<std::string, api::MachineLive> Live(const store::App& app) override {
    std::map<std::string, api::MachineLive> out;
    auto ms = reg_->ListMachines(app.name);
    if (ms.ok())
      for (auto& m : *ms) out[m.id] = api::MachineLive{3, "1 total, 1 passing"};
    return out;
  }

  std::string MetricsText() override { return "# TYPE privcast_up gauge\nprivcast_up 1\n"; }

  std::atomic<int> deploys{0};
  std::atomic<int> destroy_app_calls{0};
  std::atomic<bool> last_ha{true};
  std::atomic<bool> last_tty{false};
  // What Deploy reports as machines that failed to start (set before the request).
  std::vector<std::string> deploy_errors;
  int deploy_failed = 0;
  std::atomic<bool> following{false};
  std::atomic<int> follow_ended{0};

 private:
  store::Registry* reg_;
};

// Plays the supervisor: acts on recorded intent.
class FakeSupervisor {
 public:
  explicit FakeSupervisor(store::Registry* reg) : reg_(reg), thread_([this] { Loop(); }) {}
  ~FakeSupervisor() {
    stop_ = true;
    thread_.join();
  }

 private:
  void Loop() {
    int64_t seen = 0;
    while (!stop_) {
      auto rev = reg_->store()->Revision();
      if (!rev.ok()) return;
      auto ms = reg_->ListMachines(std::nullopt);
      if (ms.ok()) {
        for (auto& m : *ms) {
          using S = store::MachineState;
          switch (m.state) {
            case S::kStarting:
              (void)reg_->TransitionMachine(m.id, {S::kStarting}, S::kStarted, "started");
              break;
            case S::kStopping:
              (void)reg_->TransitionMachine(m.id, {S::kStopping}, S::kStopped, "stopped");
              break;
            case S::kSuspending:
              (void)reg_->TransitionMachine(m.id, {S::kSuspending}, S::kSuspended, "suspended");
              break;
            case S::kDestroying:
              (void)reg_->DeleteMachine(m.id);
              break;
            default:
              break;
          }
        }
      }
      seen = *rev;
      (void)reg_->store()->WaitForRevision(seen, std::chrono::milliseconds(50));
    }
  }

  store::Registry* reg_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// A temp dir, a SQLite store, a bootstrapped Registry, a fake backend and an API server.
struct ApiHarness {
  explicit ApiHarness(bool with_supervisor = true, const std::function<void(api::ServerOptions&)>& adjust = nullptr) {
    char tmpl[] = "/tmp/pcapi-XXXXXX";
    dir = ::mkdtemp(tmpl);
    store::SqliteOptions so;
    so.path = dir + "/state.db";
    auto s = store::OpenSqliteStore(so);
    PC_CHECK_MSG(s.ok(), s.status().ToString());
    st = std::move(*s);
    reg = std::make_unique<store::Registry>(st.get(), RealClock::Get());
    auto h = reg->Bootstrap("ams", "testhost");
    PC_CHECK_MSG(h.ok(), h.status().ToString());
    backend = std::make_unique<FakeBackend>(reg.get());
    if (with_supervisor) sup = std::make_unique<FakeSupervisor>(reg.get());
    api::ServerOptions opts;
    opts.socket_path = dir + "/api.sock";
    opts.idle_timeout = std::chrono::seconds(5);
    opts.max_body_bytes = 64 * 1024;
    if (adjust) adjust(opts);
    server = std::make_unique<api::Server>(reg.get(), backend.get(), opts);
    Status started = server->Start();
    PC_CHECK_MSG(started.ok(), started.ToString());
  }
  ~ApiHarness() {
    server.reset();
    sup.reset();
    backend.reset();
    reg.reset();
    st.reset();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
  std::string socket() const { return dir + "/api.sock"; }

  // Raw bytes on a fresh connection; returns everything until the server closes.
  std::string RawExchange(const std::string& bytes) const {
    int fd = ::socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa {};
    sa.sun_family = AF_UNIX;
    std::strcpy(sa.sun_path, socket().c_str());
    EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa), 0);
    (void)!::write(fd, bytes.data(), bytes.size());
    std::string out;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
    ::close(fd);
    return out;
  }

  std::string dir;
  std::unique_ptr<store::Store> st;
  std::unique_ptr<store::Registry> reg;
  std::unique_ptr<FakeBackend> backend;
  std::unique_ptr<FakeSupervisor> sup;
  std::unique_ptr<api::Server> server;
};

}  // namespace privcast::testing
