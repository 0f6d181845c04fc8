#include "daemon/tls_certs.h"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <ctime>

#include "common/file.h"
#include "common/log.h"

namespace privcast::daemon {

void X509Free::operator()(X509* x) const { X509_free(x); }
void PkeyFree::operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }

namespace {

constexpr int64_t kDay = 86400;
constexpr int64_t kCaDays = 3650;
constexpr int64_t kLeafDays = 397;   // within what every client accepts for a server certificate
constexpr int64_t kRenewDays = 30;   // reissue a leaf with less left than this
constexpr int64_t kBackdate = 3600;  // tolerate clients whose clock is a little behind

Status SslError(const std::string& what) {
  std::string e = proxy::TakeOpenSslError();
  return Internal(what + (e.empty() ? "" : ": " + e));
}

Result<PkeyPtr> NewKey() {
  PkeyPtr k(EVP_EC_gen("P-256"));
  if (!k) return SslError("EC P-256 key generation");
  return k;
}

bool AddExt(X509* cert, X509V3_CTX* ctx, int nid, const std::string& value) {
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, ctx, nid, value.c_str());
  if (!ext) return false;
  bool ok = X509_add_ext(cert, ext, -1) == 1;
  X509_EXTENSION_free(ext);
  return ok;
}

// A v3 certificate for `key` named `cn`, valid [now - backdate, now + days], random serial.
Result<X509Ptr> NewCert(const std::string& cn, EVP_PKEY* key, int64_t now_s, int64_t days) {
  X509Ptr x(X509_new());
  if (!x) return SslError("X509_new");
  unsigned char serial[16];
  if (RAND_bytes(serial, sizeof serial) != 1) return SslError("RAND_bytes");
  serial[0] &= 0x7f;  // positive
  BIGNUM* bn = BN_bin2bn(serial, sizeof serial, nullptr);
  bool ok = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(x.get())) != nullptr;
  BN_free(bn);
  ok = ok && X509_set_version(x.get(), 2) == 1 &&
       ASN1_TIME_set(X509_getm_notBefore(x.get()), static_cast<time_t>(now_s - kBackdate)) != nullptr &&
       ASN1_TIME_set(X509_getm_notAfter(x.get()), static_cast<time_t>(now_s + days * kDay)) != nullptr &&
       X509_set_pubkey(x.get(), key) == 1;
  X509_NAME* name = X509_get_subject_name(x.get());
  ok = ok &&
       X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>("privcast"), -1, -1,
                                  0) == 1 &&
       X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1,
                                  0) == 1;
  if (!ok) return SslError("building certificate " + cn);
  return x;
}

std::string Pem(X509* cert) {
  BIO* b = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(b, cert);
  char* p = nullptr;
  long n = BIO_get_mem_data(b, &p);
  std::string out(p, static_cast<size_t>(n));
  BIO_free(b);
  return out;
}

std::string Pem(EVP_PKEY* key) {
  BIO* b = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr);
  char* p = nullptr;
  long n = BIO_get_mem_data(b, &p);
  std::string out(p, static_cast<size_t>(n));
  BIO_free(b);
  return out;
}

bool Exists(const std::string& path) { return ::access(path.c_str(), F_OK) == 0; }

}  // namespace

Result<Certified> MakeCa(const std::string& common_name, int64_t now_s) {
  Certified ca;
  PC_ASSIGN_OR_RETURN(ca.key, NewKey());
  PC_ASSIGN_OR_RETURN(ca.cert, NewCert(common_name, ca.key.get(), now_s, kCaDays));
  X509* x = ca.cert.get();
  if (X509_set_issuer_name(x, X509_get_subject_name(x)) != 1) return SslError("CA issuer");
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, x, x, nullptr, nullptr, 0);
  bool ok = AddExt(x, &ctx, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") &&
            AddExt(x, &ctx, NID_key_usage, "critical,keyCertSign,cRLSign") &&
            AddExt(x, &ctx, NID_subject_key_identifier, "hash") &&
            AddExt(x, &ctx, NID_authority_key_identifier, "keyid:always");
  if (!ok) return SslError("CA extensions");
  if (X509_sign(x, ca.key.get(), EVP_sha256()) == 0) return SslError("signing the CA");
  return ca;
}

Result<Certified> IssueServerCert(const Certified& ca, const std::string& app, const std::vector<Ip6>& addresses,
                                  int64_t now_s) {
  Certified leaf;
  PC_ASSIGN_OR_RETURN(leaf.key, NewKey());
  PC_ASSIGN_OR_RETURN(leaf.cert, NewCert(app + ".flycast", leaf.key.get(), now_s, kLeafDays));
  X509* x = leaf.cert.get();
  if (X509_set_issuer_name(x, X509_get_subject_name(ca.cert.get())) != 1) return SslError("leaf issuer");
  // App names are DNS labels (validated by the API), so they cannot inject list separators.
  // *.svc.<app>.flycast: the app's per-service names (ADR 0013), served by the same context.
  std::string san = "DNS:" + app + ".flycast,DNS:*.svc." + app + ".flycast,DNS:" + app + ".internal";
  for (const Ip6& a : addresses) san += ",IP:" + a.ToString();
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, ca.cert.get(), x, nullptr, nullptr, 0);
  bool ok = AddExt(x, &ctx, NID_basic_constraints, "critical,CA:FALSE") &&
            AddExt(x, &ctx, NID_key_usage, "critical,digitalSignature") &&
            AddExt(x, &ctx, NID_ext_key_usage, "serverAuth") && AddExt(x, &ctx, NID_subject_key_identifier, "hash") &&
            AddExt(x, &ctx, NID_authority_key_identifier, "keyid:always") && AddExt(x, &ctx, NID_subject_alt_name, san);
  if (!ok) return SslError("certificate extensions for " + app);
  if (X509_sign(x, ca.key.get(), EVP_sha256()) == 0) return SslError("signing the certificate of " + app);
  return leaf;
}

TlsCertificates::TlsCertificates(std::string dir, std::string ca_name, Clock* clock)
    : dir_(std::move(dir)), ca_name_(std::move(ca_name)), clock_(clock) {}

TlsCertificates::~TlsCertificates() = default;

Status TlsCertificates::EnsureCa() {
  MutexLock l(&mu_);
  return EnsureCaLocked();
}

Status TlsCertificates::EnsureCaLocked() {
  if (ca_.cert) return Status::Ok();
  const std::string crt = ca_cert_path(), key = ca_key_path();
  if (Exists(crt)) {
    // Never replace a CA that clients may already trust: a missing or bad key is an error.
    BIO* b = BIO_new_file(crt.c_str(), "r");
    X509Ptr cert(b ? PEM_read_bio_X509(b, nullptr, nullptr, nullptr) : nullptr);
    BIO_free(b);
    if (!cert) return InvalidArgument(SslError("cannot read " + crt).message() + "; remove it to create a new CA");
    b = BIO_new_file(key.c_str(), "r");
    PkeyPtr pkey(b ? PEM_read_bio_PrivateKey(b, nullptr, nullptr, nullptr) : nullptr);
    BIO_free(b);
    if (!pkey)
      return InvalidArgument(SslError("cannot read " + key).message() + "; restore it or remove " + crt +
                             " to create a new CA");
    if (X509_check_private_key(cert.get(), pkey.get()) != 1) return InvalidArgument(key + " does not match " + crt);
    ca_.cert = std::move(cert);
    ca_.key = std::move(pkey);
    return Status::Ok();
  }
  if (::mkdir(dir_.c_str(), 0755) != 0 && errno != EEXIST) return ErrnoStatus("mkdir " + dir_, errno);
  PC_ASSIGN_OR_RETURN(Certified ca, MakeCa(ca_name_, clock_->WallUnixMillis() / 1000));
  // The key first: a certificate on disk always has its key.
  PC_RETURN_IF_ERROR(WriteFileAtomic(key, Pem(ca.key.get()), 0600));
  PC_RETURN_IF_ERROR(WriteFileAtomic(crt, Pem(ca.cert.get()), 0644));
  ca_ = std::move(ca);
  log::Info("daemon", "created the local TLS certificate authority; clients trust it with --cacert", {{"ca", crt}});
  return Status::Ok();
}

proxy::TlsContextPtr TlsCertificates::ForApp(const std::string& app, const std::vector<Ip6>& addresses) {
  MutexLock l(&mu_);
  const int64_t now_s = clock_->WallUnixMillis() / 1000;
  auto it = leaves_.find(app);
  if (it != leaves_.end() && it->second.addresses == addresses && now_s < it->second.not_after_s - kRenewDays * kDay)
    return it->second.ctx;
  Status st = EnsureCaLocked();
  if (!st.ok()) {
    if (ca_error_ != st.message())
      log::Error("daemon", "no TLS certificate authority; tls ports are closed", {{"error", st.message()}});
    ca_error_ = st.message();
    return nullptr;
  }
  auto leaf = IssueServerCert(ca_, app, addresses, now_s);
  proxy::TlsContextPtr ctx;
  if (leaf.ok()) {
    auto c = proxy::NewServerTlsContext(leaf.value().cert.get(), leaf.value().key.get());
    if (c.ok()) ctx = std::move(c).value();
    else st = c.status();
  } else {
    st = leaf.status();
  }
  if (!ctx) {
    log::Error("daemon", "cannot issue the TLS certificate of an app", {{"app", app}, {"error", st.message()}});
    // Keep serving the previous certificate (one address short) rather than none.
    return it != leaves_.end() ? it->second.ctx : nullptr;
  }
  Leaf& e = leaves_[app];
  e.addresses = addresses;
  e.not_after_s = now_s + kLeafDays * kDay;
  e.cert = std::move(leaf.value().cert);
  e.ctx = ctx;
  log::Info("daemon", "issued TLS certificate", {{"app", app}, {"addresses", static_cast<uint64_t>(addresses.size())}});
  return ctx;
}

void TlsCertificates::ForgetAllBut(const std::vector<std::string>& apps) {
  MutexLock l(&mu_);
  std::erase_if(leaves_, [&](const auto& e) { return !std::binary_search(apps.begin(), apps.end(), e.first); });
}

std::string TlsCertificates::LeafPem(const std::string& app) const {
  MutexLock l(&mu_);
  auto it = leaves_.find(app);
  return it == leaves_.end() ? "" : Pem(it->second.cert.get());
}

}  // namespace privcast::daemon
