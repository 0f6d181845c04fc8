#include "images/store.h"

#include <dirent.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "common/file.h"
#include "common/ids.h"
#include "common/strings.h"
#include "images/reference.h"
#include "images/unpack.h"

extern char** environ;

namespace privcast::images {
namespace {

using nlohmann::json;

Result<json> ParseJson(const std::string& text, const std::string& what) {
  try {
    return json::parse(text);
  } catch (const std::exception& e) {
    return InvalidArgument(what + ": bad JSON: " + e.what());
  }
}

std::string Hex(const std::string& digest) {
  auto c = digest.find(':');
  return c == std::string::npos ? digest : digest.substr(c + 1);
}

bool ValidDigest(const std::string& d) {
  if (d.rfind("sha256:", 0) != 0 || d.size() != 71) return false;
  return std::all_of(d.begin() + 7, d.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); });
}

std::vector<std::string> Strings(const json& j, const char* key) {
  std::vector<std::string> out;
  if (j.contains(key) && j[key].is_array())
    for (const auto& v : j[key])
      if (v.is_string()) out.push_back(v.get<std::string>());
  return out;
}

json ToJson(const Image& i) {
  json ports = json::array();
  for (auto p : i.config.exposed_tcp_ports) ports.push_back(p);
  return json{{"id", i.id},
              {"manifest_digest", i.manifest_digest},
              {"refs", i.refs},
              {"layers", i.layers},
              {"size", i.size},
              {"created_at", i.created_at},
              {"config",
               {{"entrypoint", i.config.entrypoint},
                {"cmd", i.config.cmd},
                {"env", i.config.env},
                {"working_dir", i.config.working_dir},
                {"user", i.config.user},
                {"exposed_tcp_ports", ports}}}};
}

Result<Image> FromJson(const std::string& text) {
  PC_ASSIGN_OR_RETURN(json j, ParseJson(text, "image record"));
  try {
    Image i;
    i.id = j.at("id").get<std::string>();
    i.manifest_digest = j.value("manifest_digest", "");
    i.refs = Strings(j, "refs");
    i.layers = Strings(j, "layers");
    i.size = j.value("size", uint64_t{0});
    i.created_at = j.value("created_at", int64_t{0});
    const json& c = j.at("config");
    i.config.entrypoint = Strings(c, "entrypoint");
    i.config.cmd = Strings(c, "cmd");
    i.config.env = Strings(c, "env");
    i.config.working_dir = c.value("working_dir", "");
    i.config.user = c.value("user", "");
    if (c.contains("exposed_tcp_ports"))
      for (const auto& p : c["exposed_tcp_ports"]) i.config.exposed_tcp_ports.push_back(p.get<uint16_t>());
    for (const auto& l : i.layers)
      if (!ValidDigest(l)) return InvalidArgument("image record: bad layer digest");
    return i;
  } catch (const std::exception& e) {
    return InvalidArgument(std::string("image record: ") + e.what());
  }
}

// skopeo's fatal message without its logrus decoration: `time=".." level=fatal msg="..."`.
std::string SkopeoError(const std::string& err) {
  std::string line;
  std::istringstream in(err);
  std::string last;
  while (std::getline(in, line))
    if (!line.empty()) last = line;
  auto m = last.find("msg=\"");
  if (m != std::string::npos) {
    last = last.substr(m + 5);
    if (!last.empty() && last.back() == '"') last.pop_back();
    // logfmt's escapes; an escaped newline (registries' error lists) joins as "; ", and the
    // message stays one line.
    std::string unq;
    for (size_t i = 0; i < last.size(); ++i) {
      if (last[i] == '\\' && i + 1 < last.size()) {
        if (last[++i] == 'n') {
          while (!unq.empty() && unq.back() == ' ') unq.pop_back();
          if (!unq.empty() && unq.back() != ':' && i + 1 < last.size()) unq += ";";
          if (i + 1 < last.size()) unq += " ";
          continue;
        }
      }
      unq += last[i];
    }
    last = unq;
  }
  return last;
}

}  // namespace

std::string Image::ShortId() const { return Hex(id).substr(0, 12); }

Result<ImageConfig> ParseImageConfig(const std::string& text) {
  PC_ASSIGN_OR_RETURN(json j, ParseJson(text, "image config"));
  ImageConfig c;
  if (!j.is_object()) return InvalidArgument("image config: not an object");
  if (!j.contains("config") || !j["config"].is_object()) return c;
  const json& k = j["config"];
  c.entrypoint = Strings(k, "Entrypoint");
  c.cmd = Strings(k, "Cmd");
  c.env = Strings(k, "Env");
  if (k.contains("WorkingDir") && k["WorkingDir"].is_string()) c.working_dir = k["WorkingDir"].get<std::string>();
  if (k.contains("User") && k["User"].is_string()) c.user = k["User"].get<std::string>();
  if (k.contains("ExposedPorts") && k["ExposedPorts"].is_object()) {
    for (const auto& [port, _] : k["ExposedPorts"].items()) {
      auto slash = port.find('/');
      std::string proto = slash == std::string::npos ? "tcp" : port.substr(slash + 1);
      if (proto != "tcp") continue;
      std::optional<uint16_t> n = ParseDecimal<uint16_t>(std::string_view(port).substr(0, slash));
      if (n && *n > 0) c.exposed_tcp_ports.push_back(*n);
    }
    std::sort(c.exposed_tcp_ports.begin(), c.exposed_tcp_ports.end());
  }
  return c;
}

Result<std::pair<uint32_t, uint32_t>> LookupUser(const std::string& user, const std::string& passwd,
                                                 const std::string& group) {
  std::string u = user, g;
  if (auto c = user.find(':'); c != std::string::npos) {
    u = user.substr(0, c);
    g = user.substr(c + 1);
  }
  auto numeric = [](const std::string& s, uint32_t* out) {
    std::optional<uint16_t> v = ParseDecimal<uint16_t>(s);
    if (!v) return false;
    *out = *v;
    return true;
  };
  // The fields of the line of `file` whose field `key_field` is `key`.
  auto line_where = [](const std::string& file, size_t key_field, const std::string& key) {
    std::istringstream in(file);
    std::string line;
    while (std::getline(in, line)) {
      std::vector<std::string> f;
      std::stringstream ls(line);
      std::string part;
      while (std::getline(ls, part, ':')) f.push_back(part);
      if (f.size() >= 3 && f.size() > key_field && f[key_field] == key) return f;
    }
    return std::vector<std::string>{};
  };
  // A number field of /etc/passwd or /etc/group; 0 (root) when it is not one.
  auto num = [](const std::string& s) { return ParseDecimal<uint32_t>(s).value_or(0); };
  uint32_t uid = 0, gid = 0;
  if (!u.empty() && !numeric(u, &uid)) {
    auto f = line_where(passwd, 0, u);
    if (f.size() < 4) return NotFound("user '" + u + "' not in the image's /etc/passwd");
    uid = num(f[2]);
    gid = num(f[3]);
  } else if (!u.empty()) {
    // A numeric user takes its passwd entry's group when it has one (docker does).
    if (auto f = line_where(passwd, 2, u); f.size() > 3) gid = num(f[3]);
  }
  if (!g.empty() && !numeric(g, &gid)) {
    auto f = line_where(group, 0, g);
    if (f.size() < 3) return NotFound("group '" + g + "' not in the image's /etc/group");
    gid = num(f[2]);
  }
  if (uid > 65535 || gid > 65535) return InvalidArgument("user " + user + ": ids above 65535 are not mapped");
  return std::make_pair(uid, gid);
}

Result<std::unique_ptr<ImageStore>> ImageStore::Open(ImageStoreOptions o) {
  if (o.root.empty() || o.root.front() != '/') return InvalidArgument("image store root must be absolute");
  for (const std::string& d : {o.root, o.root + "/layers", o.root + "/images", o.root + "/oci", o.root + "/tmp"}) {
    if (::mkdir(d.c_str(), 0700) != 0 && errno != EEXIST) return ErrnoStatus("mkdir " + d, errno);
  }
  if (!o.auth_file.empty()) {
    // Checked now: a typo would otherwise surface as "authentication required" at some pull.
    if (o.auth_file.front() != '/')
      return InvalidArgument("registry auth file " + o.auth_file + ": path must be absolute");
    auto text = ReadFile(o.auth_file);
    if (!text.ok())
      return Status(text.status().code(), "registry auth file " + o.auth_file + ": " + text.status().message());
    json j = json::parse(*text, nullptr, false);
    if (!j.is_object() || !j.contains("auths") || !j["auths"].is_object())
      return InvalidArgument(
          "registry auth file " + o.auth_file +
          ": expected docker's config.json shape {\"auths\": {\"HOST[:PORT]\": {\"auth\": \"<base64 user:password>\"}}}");
  }
  // Leftovers of an interrupted pull: partial layer trees.
  std::error_code ec;
  for (const auto& de : std::filesystem::directory_iterator(o.root + "/layers", ec))
    if (de.path().filename().string().find(".tmp") != std::string::npos) std::filesystem::remove_all(de.path(), ec);
  return std::unique_ptr<ImageStore>(new ImageStore(std::move(o)));
}

Result<std::string> ImageStore::RunSkopeo(const std::vector<std::string>& args) const {
  std::vector<std::string> argv = {o_.skopeo};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> cargv;
  cargv.reserve(argv.size() + 1);
  for (auto& a : argv) cargv.push_back(a.data());
  cargv.push_back(nullptr);
  int err_pipe[2];
  if (::pipe2(err_pipe, O_CLOEXEC) != 0) return ErrnoStatus("pipe", errno);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, err_pipe[1], 2);
  // skopeo's temporary files stay inside the store (same file system as the blobs).
  std::vector<std::string> env = {"TMPDIR=" + o_.root + "/tmp", "HOME=" + o_.root + "/tmp",
                                  "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"};
  // Registry credentials are the operator's: --registry-auth-file, else the REGISTRY_AUTH_FILE
  // privcastd was started with.
  if (!o_.auth_file.empty()) env.push_back("REGISTRY_AUTH_FILE=" + o_.auth_file);
  else if (const char* auth = ::getenv("REGISTRY_AUTH_FILE")) env.push_back(std::string("REGISTRY_AUTH_FILE=") + auth);
  std::vector<char*> cenv;
  cenv.reserve(env.size() + 1);
  for (auto& e : env) cenv.push_back(e.data());
  cenv.push_back(nullptr);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, o_.skopeo.c_str(), &fa, nullptr, cargv.data(), cenv.data());
  posix_spawn_file_actions_destroy(&fa);
  ::close(err_pipe[1]);
  if (rc != 0) {
    ::close(err_pipe[0]);
    return ErrnoStatus("run " + o_.skopeo + " (install skopeo: scripts/install-deps)", rc);
  }
  std::string err;
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(err_pipe[0], buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (err.size() < (1u << 20)) err.append(buf, static_cast<size_t>(n));
  }
  ::close(err_pipe[0]);
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) return Unavailable(SkopeoError(err));
  return err;
}

Result<Image> ImageStore::Pull(const std::string& ref) {
  PC_ASSIGN_OR_RETURN(ImageSource src, ParseImageSource(ref, o_.insecure_registries));
  // Writers (pulls, removals) one at a time; readers (Find, List: every machine start) only
  // wait for the record update at the end, never for skopeo or the unpacking.
  MutexLock writer(&write_mu_);
  const std::string layout = o_.root + "/oci";
  char tagbuf[32];
  std::snprintf(tagbuf, sizeof tagbuf, "pull-%016llx", static_cast<unsigned long long>(ids::RandomU64()));
  const std::string tag = tagbuf;
  std::vector<std::string> args = {"--insecure-policy", "copy", "--quiet"};
  if (src.kind == ImageSource::kRegistry && src.plain_http) args.push_back("--src-tls-verify=false");
  args.push_back(src.transport);
  args.push_back("oci:" + layout + ":" + tag);
  if (auto r = RunSkopeo(args); !r.ok()) return Unavailable("pull " + src.canonical + ": " + r.status().message());

  // Our tag in the layout's index.json → manifest digest; then drop the tag again.
  PC_ASSIGN_OR_RETURN(std::string index_text, ReadFile(layout + "/index.json"));
  PC_ASSIGN_OR_RETURN(json index, ParseJson(index_text, "index.json"));
  std::string manifest_digest;
  json kept = json::array();
  try {
    for (const auto& m : index.at("manifests")) {
      std::string name = m.contains("annotations") ? m["annotations"].value("org.opencontainers.image.ref.name", "")
                                                   : "";
      if (name == tag) manifest_digest = m.at("digest").get<std::string>();
      else if (name.rfind("pull-", 0) != 0) kept.push_back(m);  // a crashed pull's scratch tag goes too
    }
    index["manifests"] = kept;
  } catch (const std::exception& e) {
    return Internal(std::string("index.json: ") + e.what());
  }
  PC_RETURN_IF_ERROR(WriteFileAtomic(layout + "/index.json", index.dump(), 0644));
  if (!ValidDigest(manifest_digest)) return Internal("pull " + src.canonical + ": skopeo left no manifest");
  auto blob = [&](const std::string& d) { return layout + "/blobs/sha256/" + Hex(d); };
  PC_ASSIGN_OR_RETURN(std::string manifest_text, ReadFile(blob(manifest_digest)));
  PC_ASSIGN_OR_RETURN(json manifest, ParseJson(manifest_text, "manifest"));
  Image img;
  img.manifest_digest = manifest_digest;
  try {
    img.id = manifest.at("config").at("digest").get<std::string>();
    for (const auto& layer : manifest.at("layers")) {
      img.layers.push_back(layer.at("digest").get<std::string>());
      img.size += layer.value("size", uint64_t{0});
    }
  } catch (const std::exception& e) {
    return InvalidArgument("pull " + src.canonical + ": unexpected manifest: " + e.what());
  }
  if (!ValidDigest(img.id)) return InvalidArgument("pull " + src.canonical + ": bad config digest");
  for (const auto& d : img.layers)
    if (!ValidDigest(d)) return InvalidArgument("pull " + src.canonical + ": bad layer digest");
  PC_ASSIGN_OR_RETURN(std::string config_text, ReadFile(blob(img.id)));
  PC_ASSIGN_OR_RETURN(img.config, ParseImageConfig(config_text));

  PC_RETURN_IF_ERROR(UnpackLayers(img, src.canonical));
  MutexLock records(&mu_);
  return SavePulledLocked(std::move(img), src.canonical);
}

Status ImageStore::UnpackLayers(const Image& img, const std::string& canonical) const {
  const std::string layout = o_.root + "/oci";
  auto blob = [&](const std::string& d) { return layout + "/blobs/sha256/" + Hex(d); };
  for (const auto& d : img.layers) {
    std::string dir = o_.root + "/layers/" + Hex(d);
    struct stat st;
    if (::stat(dir.c_str(), &st) == 0) continue;  // unpacked by an earlier pull
    std::string tmp = dir + ".tmp";
    std::error_code ec;
    std::filesystem::remove_all(tmp, ec);
    if (Status s = UnpackLayer(blob(d), tmp); !s.ok()) {
      std::filesystem::remove_all(tmp, ec);
      return Status(s.code(), "pull " + canonical + ": layer " + d.substr(0, 19) + ": " + s.message());
    }
    if (::rename(tmp.c_str(), dir.c_str()) != 0) return ErrnoStatus("rename " + tmp, errno);
  }
  return Status::Ok();
}

Result<Image> ImageStore::SavePulledLocked(Image img, const std::string& canonical) const {
  // The reference now names this image only (a tag moves).
  for (Image other : ListLocked()) {
    auto it = std::find(other.refs.begin(), other.refs.end(), canonical);
    if (it == other.refs.end() || other.id == img.id) continue;
    other.refs.erase(it);
    PC_RETURN_IF_ERROR(SaveLocked(other));
  }
  if (auto old = ReadFile(o_.root + "/images/" + Hex(img.id) + ".json"); old.ok()) {
    if (auto prev = FromJson(*old); prev.ok()) {
      img.refs = prev->refs;
      img.created_at = prev->created_at;
    }
  }
  if (std::find(img.refs.begin(), img.refs.end(), canonical) == img.refs.end()) img.refs.push_back(canonical);
  if (img.created_at == 0)
    img.created_at =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  PC_RETURN_IF_ERROR(SaveLocked(img));
  return img;
}

Status ImageStore::SaveLocked(const Image& img) const {
  return WriteFileAtomic(o_.root + "/images/" + Hex(img.id) + ".json", ToJson(img).dump(1), 0644);
}

std::vector<Image> ImageStore::ListLocked() const {
  std::vector<Image> out;
  std::error_code ec;
  for (const auto& de : std::filesystem::directory_iterator(o_.root + "/images", ec)) {
    if (de.path().extension() != ".json") continue;
    auto text = ReadFile(de.path().string());
    if (!text.ok()) continue;
    auto img = FromJson(*text);
    if (img.ok()) out.push_back(std::move(*img));
  }
  std::sort(out.begin(), out.end(), [](const Image& a, const Image& b) {
    return a.created_at != b.created_at ? a.created_at > b.created_at : a.id < b.id;
  });
  return out;
}

std::vector<Image> ImageStore::List() const {
  MutexLock l(&mu_);
  return ListLocked();
}

Result<Image> ImageStore::FindLocked(const std::string& ref) const {
  std::vector<Image> all = ListLocked();
  std::string canonical, digest;
  if (auto src = ParseImageSource(ref, o_.insecure_registries); src.ok()) {
    canonical = src->canonical;
    if (auto at = canonical.find('@'); src->kind == ImageSource::kRegistry && at != std::string::npos)
      digest = canonical.substr(at + 1);
  }
  for (const auto& i : all) {
    for (const auto& r : i.refs)
      if (r == ref || (!canonical.empty() && r == canonical)) return i;
  }
  // A digest names content: the image pulled by a tag that had this manifest then (a deploy
  // pins its release so, docs/images.md#apps-from-images).
  if (!digest.empty())
    for (const auto& i : all)
      if (i.manifest_digest == digest) return i;
  std::string hex = ref.rfind("sha256:", 0) == 0 ? ref.substr(7) : ref;
  if (hex.size() >= 4 &&
      std::all_of(hex.begin(), hex.end(), [](char c) { return std::isxdigit(static_cast<unsigned char>(c)); })) {
    const Image* hit = nullptr;
    for (const auto& i : all) {
      if (Hex(i.id).rfind(hex, 0) != 0) continue;
      if (hit) return InvalidArgument("image id prefix " + hex + " is ambiguous");
      hit = &i;
    }
    if (hit) return *hit;
  }
  return NotFound("no image " + ref + " in the local store (privcast images list)");
}

Result<Image> ImageStore::Find(const std::string& ref) const {
  MutexLock l(&mu_);
  return FindLocked(ref);
}

Result<Image> ImageStore::Ensure(const std::string& ref) {
  if (auto f = Find(ref); f.ok()) return f;
  return Pull(ref);
}

Result<Image> ImageStore::Resolve(const std::string& ref) {
  PC_ASSIGN_OR_RETURN(ImageSource src, ParseImageSource(ref, o_.insecure_registries));
  if (src.kind == ImageSource::kRegistry && src.canonical.find('@') != std::string::npos) return Ensure(ref);
  return Pull(ref);
}

std::vector<std::string> ImageStore::LayerDirs(const Image& img) const {
  std::vector<std::string> out;
  for (const auto& d : img.layers) out.push_back(o_.root + "/layers/" + Hex(d));
  return out;
}

Status ImageStore::Remove(const std::string& ref, const std::set<std::string>& in_use) {
  MutexLock writer(&write_mu_);
  MutexLock l(&mu_);
  PC_ASSIGN_OR_RETURN(Image img, FindLocked(ref));
  auto it = std::find(img.refs.begin(), img.refs.end(), ref);
  if (it == img.refs.end())
    if (auto src = ParseImageSource(ref, o_.insecure_registries); src.ok())
      it = std::find(img.refs.begin(), img.refs.end(), src->canonical);
  if (it != img.refs.end() && img.refs.size() > 1) {  // untag only
    img.refs.erase(it);
    return SaveLocked(img);
  }
  if (in_use.count(img.id))
    return FailedPrecondition("image " + img.ShortId() + " is used by a machine (destroy it first)");
  if (::unlink((o_.root + "/images/" + Hex(img.id) + ".json").c_str()) != 0) return ErrnoStatus("remove image", errno);
  CollectGarbageLocked();
  return Status::Ok();
}

Result<std::vector<Image>> ImageStore::Prune(const std::set<std::string>& in_use) {
  MutexLock writer(&write_mu_);
  MutexLock l(&mu_);
  std::vector<Image> gone;
  for (const auto& img : ListLocked()) {
    if (in_use.count(img.id)) continue;
    if (::unlink((o_.root + "/images/" + Hex(img.id) + ".json").c_str()) != 0)
      return ErrnoStatus("remove image", errno);
    gone.push_back(img);
  }
  CollectGarbageLocked();
  return gone;
}

void ImageStore::CollectGarbageLocked() const {
  std::set<std::string> blobs, layers;
  for (const auto& img : ListLocked()) {
    blobs.insert(Hex(img.id));
    blobs.insert(Hex(img.manifest_digest));
    for (const auto& d : img.layers) {
      blobs.insert(Hex(d));
      layers.insert(Hex(d));
    }
  }
  std::error_code ec;
  for (const auto& de : std::filesystem::directory_iterator(o_.root + "/oci/blobs/sha256", ec))
    if (!blobs.count(de.path().filename().string())) std::filesystem::remove(de.path(), ec);
  for (const auto& de : std::filesystem::directory_iterator(o_.root + "/layers", ec))
    if (!layers.count(de.path().filename().string())) std::filesystem::remove_all(de.path(), ec);
}

Result<std::pair<uint32_t, uint32_t>> ImageStore::ResolveUser(const Image& img) const {
  const std::string& user = img.config.user;
  if (user.empty()) return std::make_pair(0u, 0u);
  std::string passwd, group;
  bool have_p = false, have_g = false;
  auto dirs = LayerDirs(img);
  for (auto it = dirs.rbegin(); it != dirs.rend() && !(have_p && have_g); ++it) {
    if (!have_p)
      if (auto p = ReadFile(*it + "/etc/passwd"); p.ok()) passwd = *p, have_p = true;
    if (!have_g)
      if (auto g = ReadFile(*it + "/etc/group"); g.ok()) group = *g, have_g = true;
  }
  return LookupUser(user, passwd, group);
}

}  // namespace privcast::images
