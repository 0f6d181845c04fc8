#include "proxy/tls_context.h"

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "proxy/tls_stream.h"

namespace privcast::proxy {

std::string TakeOpenSslError() {
  unsigned long e = ERR_peek_last_error();
  std::string out;
  if (e) {
    const char* reason = ERR_reason_error_string(e);
    if (reason) {
      out = reason;
    } else {
      char buf[256];
      ERR_error_string_n(e, buf, sizeof buf);
      out = buf;
    }
  }
  ERR_clear_error();
  return out;
}

Result<TlsContextPtr> NewServerTlsContext(X509* cert, EVP_PKEY* key, const std::vector<X509*>& chain) {
  SSL_CTX* raw = SSL_CTX_new(TLS_server_method());
  if (!raw) return Internal("SSL_CTX_new: " + TakeOpenSslError());
  TlsContextPtr ctx(raw, SSL_CTX_free);
  SSL_CTX_set_min_proto_version(raw, TLS1_2_VERSION);
  SSL_CTX_set_max_proto_version(raw, TLS1_3_VERSION);
  SSL_CTX_set_options(raw, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION | SSL_OP_CIPHER_SERVER_PREFERENCE |
                               SSL_OP_IGNORE_UNEXPECTED_EOF);
  SSL_CTX_set_mode(raw, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER | SSL_MODE_RELEASE_BUFFERS);
  // Read-ahead: one recv fills OpenSSL's record buffer instead of one for each record header
  // and body. Readers therefore stop on EAGAIN only (transport.h), never on a short read.
  SSL_CTX_set_read_ahead(raw, 1);
  // Resumption through stateless tickets only: no cache shared (and locked) across workers.
  SSL_CTX_set_session_cache_mode(raw, SSL_SESS_CACHE_OFF);
  SSL_CTX_set_alpn_select_cb(raw, AlpnCallback, nullptr);
  if (SSL_CTX_use_certificate(raw, cert) != 1) return InvalidArgument("certificate: " + TakeOpenSslError());
  for (X509* c : chain)
    if (SSL_CTX_add1_chain_cert(raw, c) != 1) return InvalidArgument("certificate chain: " + TakeOpenSslError());
  if (SSL_CTX_use_PrivateKey(raw, key) != 1) return InvalidArgument("private key: " + TakeOpenSslError());
  if (SSL_CTX_check_private_key(raw) != 1)
    return InvalidArgument("key does not match the certificate: " + TakeOpenSslError());
  return ctx;
}

}  // namespace privcast::proxy
