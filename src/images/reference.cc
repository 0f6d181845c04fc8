#include "images/reference.h"

#include <algorithm>
#include <cctype>

namespace privcast::images {
namespace {

bool IsDigest(const std::string& d) {
  if (d.rfind("sha256:", 0) != 0 || d.size() != 7 + 64) return false;
  return std::all_of(d.begin() + 7, d.end(), [](char c) { return std::isdigit(c) || (c >= 'a' && c <= 'f'); });
}

// A repository path component: [a-z0-9]+ joined by '.', '_', '__' or '-'+ (distribution's grammar).
bool IsPathComponent(const std::string& c) {
  if (c.empty() || !std::isalnum(static_cast<unsigned char>(c.front())) ||
      !std::isalnum(static_cast<unsigned char>(c.back())))
    return false;
  for (char ch : c) {
    if (std::islower(static_cast<unsigned char>(ch)) || std::isdigit(static_cast<unsigned char>(ch))) continue;
    if (ch == '.' || ch == '_' || ch == '-') continue;
    return false;
  }
  return true;
}

bool IsTag(const std::string& t) {
  if (t.empty() || t.size() > 128 || t.front() == '.' || t.front() == '-') return false;
  return std::all_of(t.begin(), t.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == '-';
  });
}

std::string HostOf(const std::string& host_port) {
  if (!host_port.empty() && host_port.front() == '[') {
    auto close = host_port.find(']');
    return close == std::string::npos ? host_port : host_port.substr(0, close + 1);
  }
  return host_port.substr(0, host_port.find(':'));
}

Result<ImageSource> ParseLocal(const std::string& ref, ImageSource::Kind kind, const std::string& prefix) {
  std::string rest = ref.substr(prefix.size());
  if (rest.empty() || rest.front() != '/') {
    return InvalidArgument("image '" + ref + "': " + prefix + " needs an absolute path (" + prefix + "/path" +
                           (kind == ImageSource::kOciLayout ? "[:TAG])" : ")"));
  }
  ImageSource s;
  s.kind = kind;
  s.canonical = ref;
  s.transport = ref;
  return s;
}

}  // namespace

bool IsLoopbackRegistry(const std::string& host_port) {
  std::string h = HostOf(host_port);
  if (h == "localhost" || h == "[::1]") return true;
  if (h.rfind("127.", 0) != 0) return false;
  int dots = 0;
  for (char c : h) {
    if (c == '.') ++dots;
    else if (!std::isdigit(static_cast<unsigned char>(c))) return false;
  }
  return dots == 3;
}

Result<ImageSource> ParseImageSource(const std::string& ref, const std::vector<std::string>& insecure) {
  if (ref.empty()) return InvalidArgument("empty image reference");
  if (ref.rfind("oci:", 0) == 0) return ParseLocal(ref, ImageSource::kOciLayout, "oci:");
  if (ref.rfind("oci-archive:", 0) == 0) return ParseLocal(ref, ImageSource::kOciArchive, "oci-archive:");
  if (ref.rfind("docker-archive:", 0) == 0) return ParseLocal(ref, ImageSource::kDockerArchive, "docker-archive:");
  std::string name = ref;
  if (name.rfind("docker://", 0) == 0) name = name.substr(9);
  auto bad = [&](const std::string& why) {
    return InvalidArgument("invalid image reference '" + ref + "': " + why +
                           " (expected [REGISTRY/]REPOSITORY[:TAG][@sha256:DIGEST], oci:DIR[:TAG], "
                           "oci-archive:FILE or docker-archive:FILE)");
  };
  std::string digest, tag;
  if (auto at = name.find('@'); at != std::string::npos) {
    digest = name.substr(at + 1);
    name = name.substr(0, at);
    if (!IsDigest(digest)) return bad("digest must be sha256: and 64 hex digits");
  }
  if (auto colon = name.rfind(':'); colon != std::string::npos && name.find('/', colon) == std::string::npos) {
    tag = name.substr(colon + 1);
    name = name.substr(0, colon);
    if (!IsTag(tag)) return bad("bad tag '" + tag + "'");
  }
  std::string registry = "docker.io";
  if (auto slash = name.find('/'); slash != std::string::npos) {
    std::string first = name.substr(0, slash);
    if (first.find('.') != std::string::npos || first.find(':') != std::string::npos || first == "localhost" ||
        first.front() == '[') {
      registry = first;
      name = name.substr(slash + 1);
    }
  }
  if (registry == "index.docker.io" || registry == "registry-1.docker.io") registry = "docker.io";
  if (name.empty()) return bad("no repository");
  size_t start = 0;
  for (;;) {
    size_t end = name.find('/', start);
    if (!IsPathComponent(name.substr(start, end == std::string::npos ? std::string::npos : end - start)))
      return bad("repository must be lowercase letters, digits and separators");
    if (end == std::string::npos) break;
    start = end + 1;
  }
  if (registry == "docker.io" && name.find('/') == std::string::npos) name = "library/" + name;
  if (tag.empty() && digest.empty()) tag = "latest";
  ImageSource s;
  s.kind = ImageSource::kRegistry;
  s.registry = registry;
  s.canonical = registry + "/" + name + (tag.empty() ? "" : ":" + tag) + (digest.empty() ? "" : "@" + digest);
  // skopeo refuses a tag beside a digest; the digest alone names the content.
  s.transport = "docker://" + registry + "/" + name + (digest.empty() ? ":" + tag : "@" + digest);
  s.plain_http = IsLoopbackRegistry(registry) ||
                 std::find(insecure.begin(), insecure.end(), registry) != insecure.end();
  return s;
}

}  // namespace privcast::images
