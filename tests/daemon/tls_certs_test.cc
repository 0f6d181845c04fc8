// The local CA and per-app certificates of `tls` ports: what OpenSSL's own verifier says about
// them (chain, purpose, names), where they live on disk, and when a leaf is issued again.
#include "daemon/tls_certs.h"

#include <openssl/bio.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace privcast::daemon {
namespace {

constexpr int64_t kNow = 1'800'000'000;  // 2027-01-15

Ip6 Ip(const char* s) { return *Ip6::Parse(s); }

X509Ptr ParsePem(const std::string& pem) {
  BIO* b = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  X509Ptr x(PEM_read_bio_X509(b, nullptr, nullptr, nullptr));
  BIO_free(b);
  return x;
}

std::string ReadFile(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

// X509_verify_cert of `leaf` against `ca` for a TLS server, at `at` (Unix seconds); "" when valid.
std::string Verify(X509* ca, X509* leaf, int64_t at) {
  X509_STORE* store = X509_STORE_new();
  X509_STORE_add_cert(store, ca);
  X509_STORE_CTX* ctx = X509_STORE_CTX_new();
  X509_STORE_CTX_init(ctx, store, leaf, nullptr);
  X509_STORE_CTX_set_purpose(ctx, X509_PURPOSE_SSL_SERVER);
  X509_VERIFY_PARAM* p = X509_STORE_CTX_get0_param(ctx);
  X509_VERIFY_PARAM_set_time(p, static_cast<time_t>(at));
  X509_VERIFY_PARAM_set_flags(p, X509_V_FLAG_X509_STRICT);
  std::string err;
  if (X509_verify_cert(ctx) != 1) err = X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx));
  X509_STORE_CTX_free(ctx);
  X509_STORE_free(store);
  return err;
}

TEST(TlsCerts, LeafVerifiesAgainstTheCaAndNamesTheApp) {
  auto ca = MakeCa("privcast CA test", kNow);
  ASSERT_TRUE(ca.ok()) << ca.status().message();
  auto leaf = IssueServerCert(ca.value(), "web", {Ip("fdaa:0:1:0:1::5"), Ip("fdaa:0:7:0:1::2")}, kNow);
  ASSERT_TRUE(leaf.ok()) << leaf.status().message();
  X509* l = leaf.value().cert.get();
  EXPECT_EQ(Verify(ca.value().cert.get(), l, kNow), "");
  EXPECT_EQ(X509_check_host(l, "web.flycast", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_host(l, "web.internal", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_ip_asc(l, "fdaa:0:1:0:1::5", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(l, "fdaa:0:7:0:1::2", 0), 1);
  EXPECT_NE(X509_check_host(l, "other.flycast", 0, 0, nullptr), 1);
  EXPECT_NE(X509_check_ip_asc(l, "fdaa:0:1:0:1::6", 0), 1);
  EXPECT_EQ(X509_check_ca(ca.value().cert.get()), 1);
  EXPECT_EQ(X509_check_ca(l), 0);
  EXPECT_EQ(X509_check_private_key(l, leaf.value().key.get()), 1);
  // Validity: a little backdated, 397 days, and not signed by another CA.
  EXPECT_EQ(Verify(ca.value().cert.get(), l, kNow - 60), "");
  EXPECT_NE(Verify(ca.value().cert.get(), l, kNow + 398 * 86400), "");
  auto other = MakeCa("another CA", kNow);
  ASSERT_TRUE(other.ok());
  EXPECT_NE(Verify(other.value().cert.get(), l, kNow), "");
}

class TlsCertificatesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/pc-tls-certs-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    root_ = tmpl;
    dir_ = root_ + "/tls";
  }
  void TearDown() override { std::filesystem::remove_all(root_); }
  std::string root_, dir_;
  FakeClock clock_{kNow * 1000};
};

TEST_F(TlsCertificatesTest, CaIsCreatedOnFirstNeedWithAPrivateKeyAndReusedAfterARestart) {
  std::string ca_pem;
  {
    TlsCertificates certs(dir_, "privcast CA test", &clock_);
    EXPECT_FALSE(std::filesystem::exists(dir_));  // nothing before the first tls app
    auto ctx = certs.ForApp("web", {Ip("fdaa:0:1:0:1::5")});
    ASSERT_NE(ctx, nullptr);
    struct stat st {};
    ASSERT_EQ(::stat(certs.ca_key_path().c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0600u);
    ASSERT_EQ(::stat(certs.ca_cert_path().c_str(), &st), 0);
    EXPECT_EQ(st.st_mode & 0777, 0644u);
    ca_pem = ReadFile(certs.ca_cert_path());
    auto ca = ParsePem(ca_pem);
    auto leaf = ParsePem(certs.LeafPem("web"));
    ASSERT_TRUE(ca && leaf);
    EXPECT_EQ(Verify(ca.get(), leaf.get(), kNow), "");
    // The context serves that very certificate.
    EXPECT_EQ(X509_cmp(SSL_CTX_get0_certificate(ctx.get()), leaf.get()), 0);
  }
  TlsCertificates again(dir_, "privcast CA test", &clock_);
  ASSERT_NE(again.ForApp("web", {Ip("fdaa:0:1:0:1::5")}), nullptr);
  EXPECT_EQ(ReadFile(again.ca_cert_path()), ca_pem);  // same CA: clients keep trusting it
  auto ca = ParsePem(ca_pem);
  auto leaf = ParsePem(again.LeafPem("web"));
  EXPECT_EQ(Verify(ca.get(), leaf.get(), kNow), "");
}

TEST_F(TlsCertificatesTest, LeafIsIssuedAgainOnlyWhenAddressesChangeOrExpiryNears) {
  TlsCertificates certs(dir_, "privcast CA test", &clock_);
  auto a = certs.ForApp("web", {Ip("fdaa:0:1:0:1::5")});
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(certs.ForApp("web", {Ip("fdaa:0:1:0:1::5")}), a);  // unchanged: the same context
  auto b = certs.ForApp("web", {Ip("fdaa:0:1:0:1::5"), Ip("fdaa:0:9:0:1::3")});
  ASSERT_NE(b, nullptr);
  EXPECT_NE(b, a);
  auto leaf = ParsePem(certs.LeafPem("web"));
  EXPECT_EQ(X509_check_ip_asc(leaf.get(), "fdaa:0:9:0:1::3", 0), 1);
  EXPECT_EQ(certs.ForApp("web", {Ip("fdaa:0:1:0:1::5"), Ip("fdaa:0:9:0:1::3")}), b);
  // Other apps get their own certificate from the same CA.
  auto api = certs.ForApp("api", {Ip("fdaa:0:1:0:1::6")});
  ASSERT_NE(api, nullptr);
  EXPECT_NE(api, b);
  // 368 days later (< 30 days left of 397): issued again.
  clock_.Advance(std::chrono::hours(24 * 368));
  auto c = certs.ForApp("web", {Ip("fdaa:0:1:0:1::5"), Ip("fdaa:0:9:0:1::3")});
  ASSERT_NE(c, nullptr);
  EXPECT_NE(c, b);
}

TEST_F(TlsCertificatesTest, LeavesOfAppsNoLongerPublishedAreForgotten) {
  TlsCertificates certs(dir_, "privcast CA test", &clock_);
  auto web = certs.ForApp("web", {Ip("fdaa:0:1:0:1::5")});
  ASSERT_NE(certs.ForApp("api", {Ip("fdaa:0:1:0:1::6")}), nullptr);
  certs.ForgetAllBut({"web"});
  EXPECT_EQ(certs.LeafPem("api"), "");
  EXPECT_NE(certs.LeafPem("web"), "");
  EXPECT_EQ(certs.ForApp("web", {Ip("fdaa:0:1:0:1::5")}), web);  // kept, not reissued
  certs.ForgetAllBut({});
  EXPECT_EQ(certs.LeafPem("web"), "");
}

TEST_F(TlsCertificatesTest, AnUnreadableCaKeyIsAnErrorAndTheCaIsNeverReplaced) {
  {
    TlsCertificates certs(dir_, "privcast CA test", &clock_);
    ASSERT_TRUE(certs.EnsureCa().ok());
  }
  std::string ca_pem = ReadFile(dir_ + "/ca.crt");
  std::ofstream(dir_ + "/ca.key") << "not a key\n";
  TlsCertificates certs(dir_, "privcast CA test", &clock_);
  Status st = certs.EnsureCa();
  EXPECT_FALSE(st.ok());
  EXPECT_NE(st.message().find("ca.key"), std::string::npos) << st.message();
  EXPECT_EQ(certs.ForApp("web", {Ip("fdaa:0:1:0:1::5")}), nullptr);
  EXPECT_EQ(ReadFile(dir_ + "/ca.crt"), ca_pem);
}

}  // namespace
}  // namespace privcast::daemon
