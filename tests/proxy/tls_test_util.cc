#include "tls_test_util.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <signal.h>
#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <fstream>

#include "daemon/tls_certs.h"

namespace privcast::proxy::testing {

TestPki::~TestPki() {
  if (!ca_file.empty()) ::unlink(ca_file.c_str());
}

std::unique_ptr<TestPki> MakeTestPki(const std::vector<std::string>& ips) {
  auto now = static_cast<int64_t>(std::time(nullptr));
  auto ca = daemon::MakeCa("privcast test CA", now);
  if (!ca.ok()) return nullptr;
  std::vector<Ip6> addrs;
  for (const auto& s : ips) addrs.push_back(*Ip6::Parse(s));
  auto leaf = daemon::IssueServerCert(ca.value(), "web", addrs, now);
  if (!leaf.ok()) return nullptr;
  auto ctx = NewServerTlsContext(leaf.value().cert.get(), leaf.value().key.get());
  if (!ctx.ok()) return nullptr;
  auto pki = std::make_unique<TestPki>();
  pki->server_ctx = ctx.value();
  BIO* b = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(b, ca.value().cert.get());
  char* p = nullptr;
  long n = BIO_get_mem_data(b, &p);
  pki->ca_pem.assign(p, static_cast<size_t>(n));
  BIO_free(b);
  char path[] = "/tmp/pc-test-ca-XXXXXX";
  int fd = ::mkstemp(path);
  if (fd < 0) return nullptr;
  ::close(fd);
  pki->ca_file = path;
  std::ofstream(path) << pki->ca_pem;
  return pki;
}

std::unique_ptr<TlsClient> TlsClient::Connect(int fd, const TlsClientOptions& o, std::string* error) {
  ::signal(SIGPIPE, SIG_IGN);  // OpenSSL's socket BIO write()s: a peer that closed must not kill the test
  std::unique_ptr<TlsClient> c(new TlsClient());
  c->fd_ = fd;
  c->ctx_ = SSL_CTX_new(TLS_client_method());
  if (o.min_version) SSL_CTX_set_min_proto_version(c->ctx_, o.min_version);
  if (o.max_version) SSL_CTX_set_max_proto_version(c->ctx_, o.max_version);
  if (!o.ca_pem.empty()) {
    BIO* b = BIO_new_mem_buf(o.ca_pem.data(), static_cast<int>(o.ca_pem.size()));
    X509* ca = PEM_read_bio_X509(b, nullptr, nullptr, nullptr);
    BIO_free(b);
    X509_STORE_add_cert(SSL_CTX_get_cert_store(c->ctx_), ca);
    X509_free(ca);
    SSL_CTX_set_verify(c->ctx_, SSL_VERIFY_PEER, nullptr);
  }
  c->ssl_ = SSL_new(c->ctx_);
  SSL_set_fd(c->ssl_, fd);
  if (!o.verify_name.empty()) {
    X509_VERIFY_PARAM* vp = SSL_get0_param(c->ssl_);
    if (X509_VERIFY_PARAM_set1_ip_asc(vp, o.verify_name.c_str()) != 1) {
      X509_VERIFY_PARAM_set1_host(vp, o.verify_name.c_str(), 0);
      SSL_set_tlsext_host_name(c->ssl_, o.verify_name.c_str());
    }
  }
  if (!o.alpn.empty()) {
    std::string wire;
    for (const auto& a : o.alpn) {
      wire.push_back(static_cast<char>(a.size()));
      wire += a;
    }
    SSL_set_alpn_protos(c->ssl_, reinterpret_cast<const unsigned char*>(wire.data()),
                        static_cast<unsigned int>(wire.size()));
  }
  if (SSL_connect(c->ssl_) != 1) {
    if (error) *error = TakeOpenSslError();
    return nullptr;
  }
  return c;
}

TlsClient::~TlsClient() {
  if (ssl_) SSL_free(ssl_);
  if (ctx_) SSL_CTX_free(ctx_);
  if (fd_ >= 0) ::close(fd_);
}

bool TlsClient::WriteAll(std::string_view data) {
  while (!data.empty()) {
    int n = SSL_write(ssl_, data.data(), static_cast<int>(std::min<size_t>(data.size(), 1 << 20)));
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

int TlsClient::Read(char* p, int n) {
  int r = SSL_read(ssl_, p, n);
  if (r > 0) return r;
  int e = SSL_get_error(ssl_, r);
  ERR_clear_error();
  return e == SSL_ERROR_ZERO_RETURN ? 0 : -1;
}

std::string TlsClient::ReadAll(bool* clean) {
  std::string out;
  char buf[16384];
  int n;
  while ((n = SSL_read(ssl_, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  if (clean) *clean = SSL_get_error(ssl_, n) == SSL_ERROR_ZERO_RETURN;
  ERR_clear_error();
  return out;
}

void TlsClient::CloseNotify() { SSL_shutdown(ssl_); }

std::string TlsClient::alpn() const {
  const unsigned char* p = nullptr;
  unsigned int n = 0;
  SSL_get0_alpn_selected(ssl_, &p, &n);
  return p ? std::string(reinterpret_cast<const char*>(p), n) : "";
}

std::string TlsClient::version() const { return SSL_get_version(ssl_); }

}  // namespace privcast::proxy::testing
