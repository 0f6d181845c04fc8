// Helpers for the proxy's TLS tests: certificates from the daemon's real CA code, and a
// blocking OpenSSL client (the tests' own client side, a real TLS implementation).
// Not thread-safe per object; each TlsClient belongs to one test thread.
#pragma once

#include <openssl/ossl_typ.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "proxy/tls_context.h"

namespace privcast::proxy::testing {

// A CA and a server context for app "web" whose certificate names web.flycast and `ips`.
struct TestPki {
  std::string ca_pem;
  std::string ca_file;  // ca_pem written to a temp file (for curl --cacert); removed by the destructor
  TlsContextPtr server_ctx;
  ~TestPki();
};
std::unique_ptr<TestPki> MakeTestPki(const std::vector<std::string>& ips);

struct TlsClientOptions {
  std::string ca_pem;             // empty: no verification
  std::string verify_name;        // host name or IP the certificate must match
  std::vector<std::string> alpn;  // offered, in order
  int min_version = 0;            // TLS1_2_VERSION ... (0 = library default)
  int max_version = 0;
};

class TlsClient {
 public:
  // Handshakes over the connected blocking socket `fd` (owned from now on, also on failure).
  // nullptr with *error = OpenSSL's reason when the handshake fails.
  static std::unique_ptr<TlsClient> Connect(int fd, const TlsClientOptions& o, std::string* error);
  ~TlsClient();

  bool WriteAll(std::string_view data);
  // Until close_notify or EOF; *clean = whether it ended with close_notify.
  std::string ReadAll(bool* clean = nullptr);
  // One SSL_read: > 0 bytes, 0 at the end, < 0 on error.
  int Read(char* p, int n);
  void CloseNotify();
  std::string alpn() const;
  std::string version() const;
  int fd() const { return fd_; }

 private:
  TlsClient() = default;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  int fd_ = -1;
};

}  // namespace privcast::proxy::testing
