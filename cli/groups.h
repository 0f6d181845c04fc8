// The command groups: each file cli/<group>.cc adds its subcommands to the tree the core
// (cli/commands.cc) builds, through the Context of cli/extend.h. The core calls them in the
// order below, which is the order `privcast --help` lists the commands in; groups that add
// to another group's command (everyday: `config show`, `orgs show`, `machine restart`...)
// come after it. Option state lives in shared_ptrs captured by the commands' callbacks
// (extend.h's contract); `ctx` must outlive the parse and the action.
// Not thread-safe (one CLI run at a time).
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "cli/extend.h"

namespace privcast::cli {

void RegisterOrgs(CLI::App& root, Context& ctx);      // orgs create|list       (cli/orgs_apps.cc)
void RegisterNetworks(CLI::App& root, Context& ctx);  // networks create|list   (cli/orgs_apps.cc)
void RegisterApps(CLI::App& root, Context& ctx);      // apps create|list|destroy (cli/orgs_apps.cc)
void RegisterLaunch(CLI::App& root, Context& ctx);    // launch                 (cli/launch.cc)
void RegisterDeploy(CLI::App& root, Context& ctx);    // deploy, config validate (cli/deploy.cc)
void RegisterIps(CLI::App& root, Context& ctx);       // ips allocate-v6|list|release|private (cli/ips.cc)
void RegisterImages(CLI::App& root, Context& ctx);    // images list|pull|rm|prune (cli/images.cc)
void RegisterVolumes(CLI::App& root, Context& ctx);   // volumes create|list|show|destroy (cli/volumes.cc)
void RegisterMachine(CLI::App& root, Context& ctx);   // machine run|list|status|start|stop|suspend|destroy
                                                      // (cli/machine.cc, cli/machine_run.cc)
void RegisterScale(CLI::App& root, Context& ctx);     // scale count            (cli/scale.cc)
void RegisterStatus(CLI::App& root, Context& ctx);    // status                 (cli/status.cc)
void RegisterLogs(CLI::App& root, Context& ctx);      // logs                   (cli/logs.cc)
void RegisterProxy(CLI::App& root, Context& ctx);     // proxy                  (cli/proxy_command.cc)
void RegisterEveryday(CLI::App& root, Context& ctx);  // config show, releases, regions, orgs show, scale
                                                      // show, machine restart, apps restart (cli/everyday.cc)
void RegisterSecrets(CLI::App& root, Context& ctx);   // secrets set|import|list|unset (cli/secrets.cc)
void RegisterConsole(CLI::App& root, Context& ctx);   // ssh console, console   (cli/console.cc)
void RegisterPlatform(CLI::App& root, Context& ctx);  // platform regions       (cli/platform.cc)

// Shared between groups.

// oci:DIR[:TAG], oci-archive:FILE, docker-archive:FILE name paths of this shell: the daemon
// gets them absolute. Other references are returned as they are. (cli/images.cc)
std::string AbsoluteImageRef(const std::string& ref);

}  // namespace privcast::cli
