#include "proxy/tls_stream.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstring>

#include "proxy/tls_context.h"

namespace privcast::proxy {

// The socket BIO of every TlsStream. Its data is the TlsStream: reads record whether they
// drained the socket.
struct TlsBio {
  static int Write(BIO* b, const char* p, int n) {
    BIO_clear_retry_flags(b);
    int fd = static_cast<TlsStream*>(BIO_get_data(b))->fd_;
    ssize_t r;
    do r = ::send(fd, p, static_cast<size_t>(n), MSG_NOSIGNAL);
    while (r < 0 && errno == EINTR);
    if (r < 0 && errno == EAGAIN) BIO_set_retry_write(b);
    return static_cast<int>(r);
  }
  static int Read(BIO* b, char* p, int n) {
    BIO_clear_retry_flags(b);
    auto* s = static_cast<TlsStream*>(BIO_get_data(b));
    ssize_t r;
    do r = ::recv(s->fd_, p, static_cast<size_t>(n), 0);
    while (r < 0 && errno == EINTR);
    if (r < 0 && errno == EAGAIN) BIO_set_retry_read(b);
    // nginx's rule at the socket: a read shorter than asked (read-ahead asks for a whole
    // buffer), EOF or EAGAIN means nothing more was there.
    s->socket_drained_ = r < n;
    return static_cast<int>(r);
  }
  static long Ctrl(BIO*, int cmd, long, void*) { return cmd == BIO_CTRL_FLUSH ? 1 : 0; }
  // Created once, kept for the process's life.
  static BIO_METHOD* Method() {
    static BIO_METHOD* method = [] {
      BIO_METHOD* m = BIO_meth_new(BIO_get_new_index() | BIO_TYPE_SOURCE_SINK, "privcast socket");
      if (m) {
        BIO_meth_set_write(m, Write);
        BIO_meth_set_read(m, Read);
        BIO_meth_set_ctrl(m, Ctrl);
      }
      return m;
    }();
    return method;
  }
};

namespace {

// `want` among the client's ALPN offer (wire format); points *out into `in` when found.
bool Offered(std::string_view want, const unsigned char* in, unsigned int inlen, const unsigned char** out,
             unsigned char* outlen) {
  for (unsigned int i = 0; i < inlen;) {
    unsigned int len = in[i];
    if (i + 1 + len > inlen) break;
    if (want == std::string_view(reinterpret_cast<const char*>(in + i + 1), len)) {
      *out = in + i + 1;
      *outlen = static_cast<unsigned char>(len);
      return true;
    }
    i += 1 + len;
  }
  return false;
}

}  // namespace

int AlpnCallback(SSL* ssl, const unsigned char** out, unsigned char* outlen, const unsigned char* in,
                 unsigned int inlen, void*) {
  auto* s = static_cast<TlsStream*>(SSL_get_app_data(ssl));
  if (!s || !s->port_) return SSL_TLSEXT_ERR_NOACK;
  const PortSpec& p = *s->port_;
  // The http handler speaks HTTP/2 (preferred, like Fly's edge) and HTTP/1.1; a client that
  // offers neither is told so (RFC 7301 §3.2) rather than handed a connection it cannot use.
  if (p.http)
    return Offered("h2", in, inlen, out, outlen) || Offered("http/1.1", in, inlen, out, outlen)
               ? SSL_TLSEXT_ERR_OK
               : SSL_TLSEXT_ERR_ALERT_FATAL;
  if (p.tls_alpn.empty()) return SSL_TLSEXT_ERR_NOACK;
  for (const std::string& proto : p.tls_alpn)
    if (Offered(proto, in, inlen, out, outlen)) return SSL_TLSEXT_ERR_OK;
  return SSL_TLSEXT_ERR_ALERT_FATAL;
}

std::unique_ptr<TlsStream> TlsStream::New(SSL_CTX* ctx, int fd, const PortSpec& port) {
  BIO_METHOD* method = TlsBio::Method();
  if (!method) return nullptr;
  SSL* ssl = SSL_new(ctx);
  if (!ssl) return nullptr;
  BIO* bio = BIO_new(method);
  if (!bio) {
    SSL_free(ssl);
    return nullptr;
  }
  std::unique_ptr<TlsStream> s(new TlsStream());
  s->ssl_ = ssl;
  s->fd_ = fd;
  s->port_ = &port;
  BIO_set_data(bio, s.get());
  BIO_set_init(bio, 1);
  SSL_set_bio(ssl, bio, bio);  // one reference, consumed
  SSL_set_accept_state(ssl);
  SSL_set_min_proto_version(ssl, port.tls_min_version);
  SSL_set_max_proto_version(ssl, port.tls_max_version);
  SSL_set_app_data(ssl, s.get());
  return s;
}

TlsStream::~TlsStream() {
  if (ssl_) SSL_free(ssl_);
}

TlsStream::Step TlsStream::Handshake() {
  if (established_) return Step::kDone;
  if (failed_) return Step::kFailed;
  int r = SSL_do_handshake(ssl_);
  if (r == 1) {
    established_ = true;
    port_ = nullptr;  // the session may re-route under another snapshot from now on
    return Step::kDone;
  }
  int saved = errno;
  switch (SSL_get_error(ssl_, r)) {
    case SSL_ERROR_WANT_READ:
      return Step::kWantRead;
    case SSL_ERROR_WANT_WRITE:
      return Step::kWantWrite;
    case SSL_ERROR_SYSCALL:
      error_ = TakeOpenSslError();
      if (error_.empty()) error_ = saved ? std::strerror(saved) : "connection closed during the handshake";
      break;
    case SSL_ERROR_ZERO_RETURN:
      error_ = "connection closed during the handshake";
      ERR_clear_error();
      break;
    default:
      error_ = TakeOpenSslError();
      if (error_.empty()) error_ = "handshake failed";
      break;
  }
  failed_ = true;
  return Step::kFailed;
}

ssize_t TlsStream::Fail(int ret, bool reading) {
  int saved = errno;
  switch (SSL_get_error(ssl_, ret)) {
    case SSL_ERROR_WANT_READ:
      errno = EAGAIN;
      return -1;
    case SSL_ERROR_WANT_WRITE:
      if (reading) read_wants_write_ = true;
      errno = EAGAIN;
      return -1;
    case SSL_ERROR_ZERO_RETURN:  // close_notify, or a bare TCP EOF (SSL_OP_IGNORE_UNEXPECTED_EOF)
      return 0;
    case SSL_ERROR_SYSCALL:
      failed_ = true;
      error_ = TakeOpenSslError();
      if (reading && saved == 0 && error_.empty()) return 0;  // EOF as OpenSSL 1.1 reports it
      errno = saved ? saved : ECONNRESET;
      if (error_.empty()) error_ = std::strerror(errno);
      return -1;
    default:
      failed_ = true;
      error_ = TakeOpenSslError();
      errno = EPROTO;
      return -1;
  }
}

ssize_t TlsStream::Read(char* p, size_t n) {
  read_wants_write_ = false;
  if (failed_) {
    errno = ECONNRESET;
    return -1;
  }
  int r = SSL_read(ssl_, p, static_cast<int>(std::min<size_t>(n, INT_MAX)));
  return r > 0 ? r : Fail(r, true);
}

ssize_t TlsStream::Write(const char* p, size_t n) {
  if (failed_) {
    errno = EPIPE;
    return -1;
  }
  if (n == 0) return 0;
  int r = SSL_write(ssl_, p, static_cast<int>(std::min<size_t>(n, INT_MAX)));
  return r > 0 ? r : Fail(r, false);
}

ssize_t TlsStream::Write2(const char* p1, size_t n1, const char* p2, size_t n2) {
  // One record (one send) per SSL_write: a short p1 (a response head) and the start of p2 (its
  // body) share a record through a per-thread scratch copy instead of costing two. The bytes
  // at any offset are the caller's, so a retry after EAGAIN presents the same bytes first.
  constexpr size_t kRecord = 16384;
  thread_local char scratch[kRecord];
  const size_t total = n1 + n2;
  size_t done = 0;
  while (done < total) {
    const char* p;
    size_t n;
    if (done < n1 && n2 && n1 - done < kRecord) {
      size_t a = n1 - done;
      n = std::min(total - done, kRecord);
      std::memcpy(scratch, p1 + done, a);
      std::memcpy(scratch + a, p2, n - a);
      p = scratch;
    } else if (done < n1) {
      p = p1 + done;
      n = n1 - done;
    } else {
      p = p2 + (done - n1);
      n = total - done;
    }
    ssize_t r = Write(p, n);
    if (r < 0) return done ? static_cast<ssize_t>(done) : r;  // an error shows again on the next call
    done += static_cast<size_t>(r);
  }
  return static_cast<ssize_t>(done);
}

void TlsStream::CloseNotify() {
  if (!established_ || failed_ || close_notify_sent_) return;
  close_notify_sent_ = true;
  if (SSL_shutdown(ssl_) < 0) ERR_clear_error();  // a full socket drops it: best effort
}

bool TlsStream::HasBufferedInput() const { return SSL_has_pending(ssl_) == 1; }

bool TlsStream::Drained() const { return socket_drained_ && !HasBufferedInput(); }

std::string_view TlsStream::alpn() const {
  const unsigned char* p = nullptr;
  unsigned int n = 0;
  SSL_get0_alpn_selected(ssl_, &p, &n);
  return p ? std::string_view(reinterpret_cast<const char*>(p), n) : std::string_view();
}

const char* TlsStream::version() const { return SSL_get_version(ssl_); }

}  // namespace privcast::proxy
