// One image layer (a tar, gzip/zstd/uncompressed) unpacked into a directory of its own, in
// the form overlayfs reads as a lower layer (docs/images.md#layers):
//   - OCI whiteouts are converted: `.wh.NAME` becomes a 0/0 character device NAME, and
//     `.wh..wh..opq` marks its directory opaque (xattr trusted.overlay.opaque=y);
//   - owners, modes, times, xattrs and hard links are kept as the image has them (uid 0 stays
//     0 on disk: machines see the layers through an idmapped mount, ADR 0009);
//   - nothing lands outside `dir`: absolute names are made relative, `..` components and
//     paths through symlinks are refused; device nodes (other than whiteouts) are skipped.
// Needs root (owners, trusted.* xattrs, mknod). Thread-safe (no shared state).
#pragma once

#include <string>

#include "common/result.h"

namespace privcast::images {

// Unpacks `blob` into `dir` (created; must not exist). On error `dir` may hold a partial
// tree: the caller unpacks into a temporary name and renames on success.
Status UnpackLayer(const std::string& blob, const std::string& dir);

}  // namespace privcast::images
