// The core of the privcast CLI: the root command, the connection to privcastd, every command
// group's registration (cli/groups.h), the parse, and errors mapped to exit codes. See
// cli/cli.h for the exit-code contract; each group lives in a file of its own.
#include <CLI/CLI.hpp>
#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "api/client.h"
#include "api/endpoint.h"
#include "cli/cli.h"
#include "cli/extend.h"
#include "cli/groups.h"

namespace privcast::cli {
namespace {

// Usage errors exit like every other error: 1, as flyctl's do (docs/cli.md).
constexpr int kUsageExit = 1;

class Cli {
 public:
  Cli(std::ostream& out, std::ostream& err, std::string api_env)
      : api_env_(std::move(api_env)),
        ctx_{out,
             err,
             [this]() -> api::Client& { return client(); },
             [this](std::function<int()> a) { action_ = std::move(a); },
             {}} {}

  int Run(int argc, const char* const* argv);

 private:
  // --api, else PRIVCAST_API, else the default socket; connects on first use.
  api::Client& client() {
    if (!client_) {
      std::string spec = !api_flag_.empty()  ? api_flag_
                         : !api_env_.empty() ? api_env_
                                             : std::string("unix:") + api::kDefaultSocketPath;
      auto path = api::ParseApiEndpoint(spec);
      if (!path)
        throw CommandFailure("'" + spec +
                             "' is not an API address: use unix:/path/to/privcastd.sock (--api or PRIVCAST_API)");
      client_ = std::make_unique<api::Client>(*path);
    }
    return *client_;
  }

  void BuildTree(CLI::App& app);
  int Parse(CLI::App& app, int argc, const char* const* argv);
  int RunAction();

  std::string api_env_;
  std::string api_flag_;
  std::unique_ptr<api::Client> client_;
  std::function<int()> action_;
  Context ctx_;
};

void Cli::BuildTree(CLI::App& app) {
  app.name("privcast");
  app.require_subcommand(1);
  app.fallthrough();
  app.add_option("--api", api_flag_,
                 "privcastd API address, unix:PATH (env PRIVCAST_API; default unix:" +
                     std::string(api::kDefaultSocketPath) + ")");
  app.set_version_flag("--version", std::string("privcast ") + kVersion);
  app.footer("Docs: docs/cli.md. Errors print `Error: ...` and exit 1 (usage errors too, like flyctl).");
  AddCommand(ctx_, &app, "version", "Print the version", [this] {
    ctx_.out << "privcast " << kVersion << "\n";
    return 0;
  });
  // The order `privcast --help` lists them in (cli/groups.h).
  for (auto* reg : {RegisterOrgs, RegisterNetworks, RegisterApps, RegisterLaunch, RegisterDeploy, RegisterIps,
                    RegisterImages, RegisterVolumes, RegisterMachine, RegisterScale, RegisterStatus, RegisterLogs,
                    RegisterProxy, RegisterEveryday, RegisterSecrets, RegisterConsole, RegisterPlatform})
    reg(app, ctx_);
}

// Parses argv into the tree (the chosen command's callback sets action_). Returns -1 when
// there is an action to run, else the exit code (help, version, usage errors).
int Cli::Parse(CLI::App& app, int argc, const char* const* argv) {
  // What follows "--" is a command line of its own (machine run [IMAGE] -- CMD ARGS...):
  // kept aside, so CLI11 never mixes it with the positionals before it.
  int end = argc;
  for (int i = 1; i < argc; ++i)
    if (std::string(argv[i]) == "--") {
      end = i;
      ctx_.after_dashdash.assign(argv + i + 1, argv + argc);
      break;
    }
  std::vector<std::string> args;
  for (int i = end - 1; i > 0; --i) args.emplace_back(argv[i]);
  if (auto rc = CheckUnknownCommand(app, std::vector<std::string>(argv + 1, argv + end), ctx_.err)) return *rc;
  try {
    app.parse(args);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e, ctx_.out, ctx_.err);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e, ctx_.out, ctx_.err);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e, ctx_.out, ctx_.err);
  } catch (const CLI::ParseError& e) {
    // Usage error: say what, show the usage of the command that was being parsed, exit 1
    // (flyctl's code for every error; docs/cli.md).
    ctx_.err << "Error: " << e.what() << "\n";
    std::string usage = app.help();  // the selected subcommand's, with its full path
    ctx_.err << usage << (usage.empty() || usage.back() == '\n' ? "" : "\n");
    return kUsageExit;
  }
  if (!action_) {
    ctx_.err << app.help();
    return kUsageExit;
  }
  return -1;
}

// The chosen command; a failure is "Error: <what>" on stderr and exit 1.
int Cli::RunAction() {
  try {
    return action_();
  } catch (const std::exception& e) {
    ctx_.out.flush();
    ctx_.err << "Error: " << e.what() << "\n";
    return 1;
  }
}

int Cli::Run(int argc, const char* const* argv) {
  CLI::App app{"privcast: Fly-style private services (flycast) on your own host"};
  BuildTree(app);
  if (int rc = Parse(app, argc, argv); rc >= 0) return rc;
  return RunAction();
}

}  // namespace

int RunCli(int argc, const char* const* argv, std::ostream& out, std::ostream& err, const std::string& api_env) {
  Cli cli(out, err, api_env);
  return cli.Run(argc, argv);
}

}  // namespace privcast::cli
