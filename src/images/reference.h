// Image references as users type them (docs/images.md#references): registry references with
// Docker's defaults, and the local sources skopeo reads (oci:DIR[:TAG], oci-archive:FILE,
// docker-archive:FILE). ParseImageSource normalises a reference to its canonical name (what
// `images list` shows and machines record) and to the skopeo transport string that fetches it.
//
// Plain HTTP: docker's rule — registries on localhost, 127.0.0.0/8 and [::1] are reached
// without TLS; any other registry only when the operator lists it (privcastd
// --insecure-registry HOST[:PORT]).
//
// Pure functions; thread-safe.
#pragma once

#include <string>
#include <vector>

#include "common/result.h"

namespace privcast::images {

struct ImageSource {
  enum Kind { kRegistry, kOciLayout, kOciArchive, kDockerArchive };
  Kind kind = kRegistry;
  std::string canonical;    // "docker.io/library/nginx:1.25", "oci:/abs/dir:tag", ...
  std::string registry;     // kRegistry: "docker.io", "registry.local:5000"
  std::string transport;    // what skopeo reads: "docker://docker.io/library/nginx:1.25", ...
  bool plain_http = false;  // kRegistry: no TLS (loopback, or listed as insecure)
};

// `ref` as typed; `insecure` are the operator's HOST[:PORT] entries allowed over plain HTTP.
// Local paths must be absolute (the CLI makes them so). Errors say what is wrong in one line.
Result<ImageSource> ParseImageSource(const std::string& ref, const std::vector<std::string>& insecure = {});

// localhost, 127.0.0.0/8 or [::1], with or without a port.
bool IsLoopbackRegistry(const std::string& host_port);

}  // namespace privcast::images
