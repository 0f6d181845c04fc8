// TLS server contexts for the `tls` handler, and the seam through which the daemon hands them
// to the proxy (docs/adr/0005-tls-termination.md).
//
// The proxy never creates keys or certificates: the control plane owns them and implements
// TlsContextProvider. ProxyImpl::Publish asks it, on the publishing (control) thread, for the
// context of every app that has a `tls` port and a flycast address, and hands the contexts to
// the workers inside the RoutingState. Workers only call SSL_new on them (thread-safe in
// OpenSSL); nobody configures a context after it was handed out, so it is effectively
// immutable and shared by every worker.
//
// NewServerTlsContext applies the proxy's policy: TLS 1.2 and 1.3 (narrowed per port from
// tls_options.versions), no renegotiation, no compression, partial writes from moving
// buffers, read-ahead, buffers released while a connection is idle, TLS 1.3 / RFC 5077
// tickets instead of a server-side session cache, and ALPN chosen per port (TlsStream):
// `http` ports select http/1.1 or refuse with no_application_protocol; other ports select
// from tls_options.alpn in its order, or do no ALPN when it is empty.
#pragma once

#include <openssl/ossl_typ.h>

#include <memory>
#include <string>
#include <vector>

#include "common/addr.h"
#include "common/result.h"

namespace privcast::proxy {

using TlsContextPtr = std::shared_ptr<SSL_CTX>;

class TlsContextProvider {
 public:
  virtual ~TlsContextProvider() = default;
  // The server context for `app`, whose flycast addresses are `addresses` (sorted). Called on
  // the thread that calls Proxy::Publish, for every publish and every app with a tls port; it
  // must be quick when nothing changed (return the same context). nullptr = no certificate:
  // TLS connections to the app are closed and counted as handshake failures.
  virtual TlsContextPtr ForApp(const std::string& app, const std::vector<Ip6>& addresses) = 0;
  // Called after the ForApp calls of one publish with every app they named (sorted): the
  // provider may drop what it keeps for any other app (destroyed, or no tls port any more).
  virtual void ForgetAllBut(const std::vector<std::string>& apps) = 0;
};

// A server context for `cert` (+ intermediate `chain`, usually empty) and its `key`, with the
// proxy's policy (above). The context holds its own references; the caller keeps its own.
Result<TlsContextPtr> NewServerTlsContext(X509* cert, EVP_PKEY* key, const std::vector<X509*>& chain = {});

// The last OpenSSL error of this thread as text ("" when none), and the queue cleared.
std::string TakeOpenSslError();

}  // namespace privcast::proxy
