// The API's JSON: decoding request bodies (untrusted: every failure is an InvalidArgument
// that names the field, nothing throws) and encoding model records for responses.
// Shapes are documented in docs/api.md. nlohmann::json is confined to the control plane.
//
// Pure functions; thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "store/model.h"
#include "store/registry.h"

namespace privcast::api {

struct CreateOrgRequest {
  std::string slug;
};
struct CreateNetworkRequest {
  std::string org;
  std::string name;
};
struct CreateAppRequest {
  std::string name;
  std::optional<std::string> org;
  std::optional<std::string> network;
};
struct ReleaseRequest {
  std::string source;             // fly.toml text
  std::string path = "fly.toml";  // for diagnostics
  bool flycast = false;
  bool ha = true;
  std::string image;                 // deploy --image: replaces [build] image
  std::vector<std::string> regions;  // deploy --region ams,syd: machines per group in each
};
struct MachineRequest {  // POST /machines and POST /machines/run
  std::string region;
  std::string process_group = "app";
  std::vector<std::string> cmd;
  std::vector<std::pair<std::string, std::string>> env;
  std::string image;      // OCI image reference; "" = the app's image, else host /usr
  bool rm = false;        // auto_destroy
  bool services = false;  // carries the app's services of its process group
  std::optional<std::string> org;
  std::optional<std::string> network;
  bool shell = false;  // run only: attach the fds passed with the request
  bool tty = false;
  uint16_t rows = 0, cols = 0;
  // Fly's config.mounts: [{"volume": "vol_…" or a volume name, "path": "/data"}] (at most one).
  std::string volume;
  std::string volume_path;
};
struct VolumeRequest {  // POST /v1/apps/<app>/volumes (Fly's CreateVolumeRequest)
  std::string name;
  std::string region;
  uint32_t size_gb = 1;
};
struct ScaleRequest {
  int count = 0;
  std::vector<std::string> regions;  // scale count N --region ams,syd: N in each; empty = as before
};
struct IpRequest {
  std::string type = "private_v6";
  std::optional<std::string> org;
  std::optional<std::string> network;
  std::string service;  // a per-service address (ADR 0013); "" = the app's
};

Result<nlohmann::json> ParseJsonObject(std::string_view body);  // "" → {}
Result<CreateOrgRequest> DecodeCreateOrg(std::string_view body);
Result<CreateNetworkRequest> DecodeCreateNetwork(std::string_view body);
Result<CreateAppRequest> DecodeCreateApp(std::string_view body);
Result<ReleaseRequest> DecodeRelease(std::string_view body);
Result<MachineRequest> DecodeMachine(std::string_view body, bool run);
Result<ScaleRequest> DecodeScale(std::string_view body);
Result<VolumeRequest> DecodeVolume(std::string_view body);
nlohmann::json ToJson(const store::Volume& v);
Result<IpRequest> DecodeIp(std::string_view body);

// Unix ms → "2026-11-22T03:17:19Z" (UTC, seconds).
std::string FormatTime(int64_t unix_ms);
// A uid's user name ("root"), "uid N" when it has none, "" for -1 (unknown).
std::string UserName(int64_t uid);

nlohmann::json ToJson(const store::Org& o);
nlohmann::json ToJson(const store::Network& n);
nlohmann::json ToJson(const store::App& a);
nlohmann::json ToJson(const store::Machine& m);
nlohmann::json ToJson(const store::IpAssignment& ip);
nlohmann::json ToJson(const store::Release& r);  // without the config json (see docs)
nlohmann::json ToJson(const struct ImageView& i);
// {"ref": "..."} of POST /v1/images and /v1/images/remove.
Result<std::string> DecodeImageRef(std::string_view body);
std::string SixPnOf(const store::Machine& m);

// {"error": message}
std::string ErrorBody(std::string_view message);

}  // namespace privcast::api
