// `privcast images`: the daemon's local image store (list, pull, rm, prune), and the one
// rule every command that takes an image reference shares (AbsoluteImageRef).
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <memory>

#include "cli/extend.h"
#include "cli/groups.h"
#include "cli/json_fields.h"
#include "cli/table.h"

namespace privcast::cli {
namespace {

using nlohmann::json;

std::string HumanSize(uint64_t b) {
  char buf[32];
  if (b >= (1ull << 20)) std::snprintf(buf, sizeof buf, "%.1f MB", static_cast<double>(b) / 1e6);
  else std::snprintf(buf, sizeof buf, "%.1f kB", static_cast<double>(b) / 1e3);
  return buf;
}

std::string ShortImageId(const std::string& id) {
  auto c = id.find(':');
  return id.substr(c == std::string::npos ? 0 : c + 1, 12);
}

std::vector<Row> ImageRows(const json& a) {
  std::vector<Row> rows;
  for (auto& i : AsArray(a)) {
    std::string refs;
    if (i.contains("refs"))
      for (auto& r : i["refs"]) refs += (refs.empty() ? "" : ", ") + r.get<std::string>();
    rows.push_back({ShortImageId(S(i, "id")), Dash(refs), HumanSize(i.value("size", uint64_t{0})),
                    std::to_string(i.value("layers", 0)), i.value("in_use", false) ? "yes" : "no",
                    Dash(S(i, "created_at"))});
  }
  return rows;
}

int ImagesList(Context& ctx, bool as_json) {
  json a = CallJson(ctx, "GET", "/v1/images");
  if (as_json) return PrintJson(ctx, a), 0;
  ctx.out << FormatTable({"ID", "REFERENCES", "SIZE", "LAYERS", "IN USE", "PULLED AT"}, ImageRows(a));
  return 0;
}

int ImagesPull(Context& ctx, const std::string& ref) {
  json i = CallJson(ctx, "POST", "/v1/images", {{"ref", AbsoluteImageRef(ref)}});
  ctx.out << "Pulled " << ShortImageId(S(i, "id")) << " (" << HumanSize(i.value("size", uint64_t{0})) << ")\n";
  return 0;
}

int ImagesRm(Context& ctx, const std::string& ref) {
  CallJson(ctx, "POST", "/v1/images/remove", {{"ref", AbsoluteImageRef(ref)}});
  ctx.out << "Removed " << ref << "\n";
  return 0;
}

int ImagesPrune(Context& ctx, bool as_json) {
  json a = CallJson(ctx, "POST", "/v1/images/prune", json::object());
  if (as_json) return PrintJson(ctx, a), 0;
  ctx.out << "Removed " << AsArray(a).size() << " image(s)\n";
  return 0;
}

struct State {
  std::string ref;
  bool json_out = false;
};

}  // namespace

std::string AbsoluteImageRef(const std::string& ref) {
  for (const char* p : {"oci:", "oci-archive:", "docker-archive:"}) {
    std::string prefix = p;
    if (ref.rfind(prefix, 0) != 0 || ref.size() == prefix.size() || ref[prefix.size()] == '/') continue;
    char* cwd = ::getcwd(nullptr, 0);
    std::string abs = std::string(cwd ? cwd : ".") + "/" + ref.substr(prefix.size());
    ::free(cwd);
    return prefix + std::filesystem::path(abs).lexically_normal().string();
  }
  return ref;
}

void RegisterImages(CLI::App& root, Context& ctx) {
  auto* imgs = root.add_subcommand("images", "Manage the local image store")->require_subcommand(1);
  imgs->alias("image");
  auto ls = std::make_shared<State>();
  auto* img_list = AddCommand(ctx, imgs, "list", "List images", [&ctx, ls] { return ImagesList(ctx, ls->json_out); });
  img_list->alias("ls");
  img_list->add_flag("--json", ls->json_out, "JSON output");
  auto pull = std::make_shared<State>();
  AddCommand(
      ctx, imgs, "pull",
      "Fetch an image into the store (REF: registry reference, oci:DIR[:TAG], oci-archive:FILE, docker-archive:FILE)",
      [&ctx, pull] { return ImagesPull(ctx, pull->ref); })
      ->add_option("ref", pull->ref, "Image reference")
      ->required();
  auto rm = std::make_shared<State>();
  AddCommand(ctx, imgs, "rm", "Remove an image (a reference untags; an id removes it), never one a machine uses",
             [&ctx, rm] { return ImagesRm(ctx, rm->ref); })
      ->add_option("ref", rm->ref, "Image reference or id")
      ->required();
  auto prune = std::make_shared<State>();
  AddCommand(ctx, imgs, "prune", "Remove every image no machine uses", [&ctx, prune] {
    return ImagesPrune(ctx, prune->json_out);
  })->add_flag("--json", prune->json_out, "JSON output");
}

}  // namespace privcast::cli
