#include "api/release_config.h"

#include "config/load.h"
#if __has_include("config/json.h")
#include "config/json.h"
#define PRIVCAST_API_HAVE_CONFIG_JSON 1
#endif

namespace privcast::api {

Result<ValidatedConfig> ValidateFlyToml(std::string_view source, std::string_view path, const std::string& app) {
  // `-a APP` wins over the file's `app` (as in flyctl), before validation: a template's
  // `app = "{APP_NAME}"` deploys with -a. The stored config names the app.
  auto loaded = config::ParseFlyToml(source, path, config::LoadOptions{app});
  if (!loaded.ok()) return InvalidArgument(loaded.status().message());
  config::AppConfig cfg = loaded->config;
  cfg.app = app;
  ValidatedConfig out;
  for (auto& d : loaded->warnings) out.warnings.push_back(d.ToString());
  for (auto& d : config::DeployWarnings(cfg, /*has_public_ips=*/false)) out.warnings.push_back(d.ToString());
#ifdef PRIVCAST_API_HAVE_CONFIG_JSON
  out.config_json = config::ToJson(cfg);
#else
  return Internal("this build's config module cannot serialise configs yet (config/json.h missing)");
#endif
  return out;
}

}  // namespace privcast::api
