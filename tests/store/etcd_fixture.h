// A throw-away etcd server for tests: Debian's etcd-server on free loopback ports with its data
// in a temp dir, started on first use by this process and killed (by pid) at exit.
//
// Several tests share it: each opens its store under its own key prefix (NextPrefix), and
// expects revisions relative to the revision it started at (etcd's revision is global, and an
// empty etcd is at revision 1, not 0). Not thread-safe to start; the stores it opens are.
#pragma once

#include <memory>
#include <string>

#include "store/etcd/etcd_store.h"

namespace privcast::store::testing {

class EtcdServer {
 public:
  // The process-wide server, started on first call; nullptr (and a reason) when no etcd binary.
  static EtcdServer* Get(std::string* why_not);
  // A second, private server that speaks TLS only and requires a client certificate (certs
  // made with the openssl CLI in its dir); nullptr and a reason when that cannot be done.
  static std::unique_ptr<EtcdServer> NewTls(std::string* why_not);
  // A store on it with a fresh key prefix (and, if given, a local id); on a TLS server with
  // the CA and client certificate.
  std::unique_ptr<EtcdStore> Open(const std::string& prefix, const std::string& local_id = "");
  // The options Open uses (endpoint, and TLS files on a TLS server).
  EtcdOptions Options() const;
  const std::string& dir() const { return dir_; }
  static std::string NextPrefix();
  const std::string& endpoint() const { return endpoint_; }  // "127.0.0.1:port"
  int client_port() const { return client_port_; }
  // Kill / restart (same data dir and ports), for outage tests.
  void Stop();
  bool Start();
  ~EtcdServer();

 private:
  EtcdServer() = default;
  bool Init(std::string* why_not);  // temp dir and ports
  bool tls_ = false;
  std::string dir_, endpoint_;
  int client_port_ = 0, peer_port_ = 0;
  int pid_ = -1;
};

}  // namespace privcast::store::testing
