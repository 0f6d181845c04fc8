#include "daemon/store_open.h"

#include <cstdio>
#include <random>

#include "common/file.h"
#include "common/strings.h"
#include "store/etcd/etcd_endpoints.h"
#include "store/etcd/etcd_store.h"

namespace privcast::daemon {

Result<std::string> EtcdLocalId(const std::string& data_dir) {
  std::string path = data_dir + "/etcd-local-id";
  if (auto text = ReadFile(path); text.ok()) {
    std::string id(Trim(text->substr(0, text->find('\n'))));
    if (!id.empty()) return id;
  }
  std::random_device rd;
  char buf[17];
  snprintf(buf, sizeof buf, "%08x%08x", rd(), rd());
  std::string id = buf;
  PC_RETURN_IF_ERROR(WriteFileAtomic(path, id + "\n", 0600));
  return id;
}

Result<OpenedStore> OpenDaemonStore(const DaemonOptions& opts, const std::string& data_dir,
                                    const std::string& sqlite_default) {
  OpenedStore out;
  store::StoreUrl url;
  if (!opts.store.empty()) {
    PC_ASSIGN_OR_RETURN(url, store::ParseStoreUrl(opts.store));
  } else {
    url.sqlite_path = sqlite_default;
  }
  if (url.kind == store::StoreUrl::Kind::kSqlite) {
    auto st = store::OpenSqliteStore({url.sqlite_path});
    if (!st.ok())
      return Status(st.status().code(), "cannot open store " + url.sqlite_path + ": " + st.status().message());
    out.store = std::move(st).value();
    out.description = "sqlite " + url.sqlite_path;
    return out;
  }
  store::EtcdOptions eo;
  eo.endpoints = url.endpoints;
  eo.cacert_file = opts.etcd_cacert;
  eo.cert_file = opts.etcd_cert;
  eo.key_file = opts.etcd_key;
  PC_ASSIGN_OR_RETURN(eo.local_id, EtcdLocalId(data_dir));
  auto st = store::OpenEtcdStore(eo);
  if (!st.ok()) return Status(st.status().code(), "cannot open store " + opts.store + ": " + st.status().message());
  out.etcd = st->get();
  out.store = std::move(st).value();
  out.description = "etcd " + out.etcd->Describe();
  return out;
}

}  // namespace privcast::daemon
