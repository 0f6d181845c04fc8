// ImageStore: the local, content-addressed image store under <data-dir>/images
// (docs/images.md, ADR 0009).
//
//   <root>/oci/          one OCI layout that skopeo copies every pull into: blobs by digest,
//                        so a layer shared by two images is fetched and kept once
//   <root>/layers/<hex>/ each layer blob unpacked once (whiteouts converted for overlayfs),
//                        shared read-only by every machine of every image that has it
//   <root>/images/<hex>.json  one record per image (id = config digest): the references
//                        that name it, its manifest, layers and the parts of its config that
//                        drive a machine (Entrypoint, Cmd, Env, WorkingDir, User, ExposedPorts)
//
// Pulls run skopeo (registries, oci:, oci-archive:, docker-archive:) and then libarchive for
// the layers not unpacked yet. The records are the truth: index.json of the layout is only
// skopeo's scratch (a pull tags there under a temporary name, read once and dropped).
//
// Thread-safety: every method may be called from any thread. Pulls, removals and prunes are
// serialised by write_mu_ (a pull blocks its caller for as long as skopeo runs); the records
// are guarded by mu_, which lookups (Find, List, LayerDirs: the control thread at every
// machine start) take briefly and a pull only for its final record update, so a long pull
// never delays a start. Lock order: write_mu_, then mu_.
#pragma once

#include <cstdint>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "common/mutex.h"
#include "common/result.h"

namespace privcast::images {

struct ImageConfig {
  std::vector<std::string> entrypoint;
  std::vector<std::string> cmd;
  std::vector<std::string> env;  // "K=V"
  std::string working_dir;       // "" = /
  std::string user;              // "" = root; "name", "uid", "name:group", "uid:gid"
  std::vector<uint16_t> exposed_tcp_ports;
};

struct Image {
  std::string id;                   // "sha256:<config digest>"
  std::string manifest_digest;      // "sha256:..."
  std::vector<std::string> refs;    // canonical references naming it (may be empty)
  std::vector<std::string> layers;  // layer blob digests, lowest first
  uint64_t size = 0;                // bytes of the layer blobs (as fetched)
  int64_t created_at = 0;           // unix seconds of the first pull
  ImageConfig config;

  std::string ShortId() const;  // 12 hex digits, as docker shows
};

struct ImageStoreOptions {
  std::string root;                              // <data-dir>/images (created 0700)
  std::string skopeo = "skopeo";                 // looked up in PATH
  std::vector<std::string> insecure_registries;  // HOST[:PORT] reached over plain HTTP
  // Registry credentials (privcastd --registry-auth-file): docker's config.json shape,
  // {"auths": {"HOST[:PORT]": {"auth": base64("user:password")}}}, read by skopeo as its
  // REGISTRY_AUTH_FILE. Empty: the REGISTRY_AUTH_FILE privcastd was started with, if any.
  std::string auth_file;
};

class ImageStore {
 public:
  static Result<std::unique_ptr<ImageStore>> Open(ImageStoreOptions o);

  // Fetches `ref` (every form of reference.h) and unpacks its new layers; the image then
  // answers to the reference's canonical name (a tag moves from any image that had it).
  Result<Image> Pull(const std::string& ref);
  // The image `ref` names without fetching: a reference (as typed or canonical; one with a
  // digest also names the image whose manifest has that digest, whatever its tags), an id,
  // "sha256:<hex>" or a prefix of at least 4 hex digits of an id.
  Result<Image> Find(const std::string& ref) const;
  // Find, else Pull (docker's --pull=missing: `machine run IMAGE`).
  Result<Image> Ensure(const std::string& ref);
  // The image `ref` names now at its source, as Fly's deploy resolves one: a reference with a
  // digest is immutable (Ensure); any other (a tag, a local layout or archive) is fetched
  // again (Pull: skopeo reads the manifest and copies only blobs the store lacks), so a tag
  // that moved in its registry brings the new image. Fails when the source cannot be read.
  Result<Image> Resolve(const std::string& ref);
  std::vector<Image> List() const;
  // Unpacked layer directories of `img`, lowest first.
  std::vector<std::string> LayerDirs(const Image& img) const;
  // Untags `ref`; the image itself goes when no reference is left (or `ref` is its id),
  // refused while an image in `in_use` (ids) is concerned. Unreferenced blobs and layers go.
  Status Remove(const std::string& ref, const std::set<std::string>& in_use);
  // Removes every image not in `in_use`; returns what went.
  Result<std::vector<Image>> Prune(const std::set<std::string>& in_use);
  // Resolves an image's User ("name[:group]", "uid[:gid]") through the image's own
  // /etc/passwd and /etc/group (topmost layer that has them) → (uid, gid).
  Result<std::pair<uint32_t, uint32_t>> ResolveUser(const Image& img) const;

  const std::string& root() const { return o_.root; }
  const std::vector<std::string>& insecure_registries() const { return o_.insecure_registries; }

 private:
  explicit ImageStore(ImageStoreOptions o) : o_(std::move(o)) {}
  Result<Image> FindLocked(const std::string& ref) const REQUIRES(mu_);
  std::vector<Image> ListLocked() const REQUIRES(mu_);
  Status SaveLocked(const Image& img) const REQUIRES(mu_);
  // Pull's steps: unpack the layers not unpacked yet; record the image under `canonical`
  // (which then names it only: a tag moves).
  Status UnpackLayers(const Image& img, const std::string& canonical) const;
  Result<Image> SavePulledLocked(Image img, const std::string& canonical) const REQUIRES(mu_);
  void CollectGarbageLocked() const REQUIRES(mu_);
  Result<std::string> RunSkopeo(const std::vector<std::string>& args) const;

  ImageStoreOptions o_;
  Mutex write_mu_ ACQUIRED_BEFORE(mu_);  // pulls, removals, prunes
  mutable Mutex mu_;                     // the records (images/*.json); index.json is write_mu_'s
};

// Pure helpers (tests): the OCI image config JSON → ImageConfig; a passwd/group lookup.
Result<ImageConfig> ParseImageConfig(const std::string& json);
Result<std::pair<uint32_t, uint32_t>> LookupUser(const std::string& user, const std::string& passwd,
                                                 const std::string& group);

}  // namespace privcast::images
