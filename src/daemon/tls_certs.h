// TlsCertificates: privcastd's local certificate authority and the server certificates of
// `tls` ports (docs/adr/0005-tls-termination.md). Control plane only; the proxy sees nothing
// but the SSL_CTX it is handed (proxy/tls_context.h).
//
// A private network has no public names, so no public CA can vouch for `<app>.flycast`:
// privcastd keeps its own CA and users trust it explicitly (curl --cacert <data-dir>/tls/ca.crt).
//   <data-dir>/tls/ca.crt  PEM, 0644: what clients trust
//   <data-dir>/tls/ca.key  PEM, 0600
// Created on first need (the first app with a tls port and a flycast address), loaded again
// on every start: EC P-256, self-signed, 10 years, CA:TRUE pathlen 0, keyCertSign|cRLSign.
// Per app a leaf, kept in memory only (reissued at every daemon start; clients pin the CA, not
// the leaf): a fresh P-256 key, CN <app>.flycast, SANs <app>.flycast, <app>.internal and every
// flycast address of the app (IP SANs), serverAuth, 397 days. It is issued again when the
// app's flycast addresses change and when it has less than 30 days left, and dropped when a
// publish no longer names the app (destroyed, flycast released, no tls port).
//
// Thread-safety: ForApp is internally locked (the daemon publishes from its control thread,
// and once from main at start). Issuing a leaf is a P-256 keygen and a signature (well under a
// millisecond); the CA costs one file write, once.
#pragma once

#include <openssl/ossl_typ.h>

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common/addr.h"
#include "common/clock.h"
#include "common/mutex.h"
#include "common/result.h"
#include "proxy/tls_context.h"

namespace privcast::daemon {

struct X509Free {
  void operator()(X509* x) const;
};
struct PkeyFree {
  void operator()(EVP_PKEY* k) const;
};
using X509Ptr = std::unique_ptr<X509, X509Free>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

struct Certified {
  X509Ptr cert;
  PkeyPtr key;
};

// Pure certificate building (exposed for tests). `now_s` = Unix seconds.
Result<Certified> MakeCa(const std::string& common_name, int64_t now_s);
Result<Certified> IssueServerCert(const Certified& ca, const std::string& app, const std::vector<Ip6>& addresses,
                                  int64_t now_s);

class TlsCertificates final : public proxy::TlsContextProvider {
 public:
  // `dir` = <data-dir>/tls (created 0755 on first need); `ca_name` names the CA's subject.
  TlsCertificates(std::string dir, std::string ca_name, Clock* clock = RealClock::Get());
  ~TlsCertificates() override;

  proxy::TlsContextPtr ForApp(const std::string& app, const std::vector<Ip6>& addresses) override;
  void ForgetAllBut(const std::vector<std::string>& apps) override;  // drops other apps' leaves

  // Loads the CA from `dir`, or creates and writes it. Idempotent.
  Status EnsureCa();
  std::string ca_cert_path() const { return dir_ + "/ca.crt"; }
  std::string ca_key_path() const { return dir_ + "/ca.key"; }
  // PEM of the current leaf of `app` ("" when none): tests and diagnostics.
  std::string LeafPem(const std::string& app) const;

 private:
  struct Leaf {
    std::vector<Ip6> addresses;
    int64_t not_after_s = 0;
    X509Ptr cert;
    proxy::TlsContextPtr ctx;
  };
  Status EnsureCaLocked() REQUIRES(mu_);

  const std::string dir_;
  const std::string ca_name_;
  Clock* clock_;
  mutable Mutex mu_;
  Certified ca_ GUARDED_BY(mu_);
  std::string ca_error_ GUARDED_BY(mu_);                // logged once
  std::map<std::string, Leaf> leaves_ GUARDED_BY(mu_);  // by app
};

}  // namespace privcast::daemon
