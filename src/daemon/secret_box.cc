#include "daemon/secret_box.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <memory>
#include <vector>

#include "common/fd.h"

namespace privcast::daemon {
namespace {

constexpr size_t kNonce = 12, kTag = 16;
constexpr std::string_view kPrefix = "v1:";

std::string B64(const uint8_t* p, size_t n) {
  std::string out(4 * ((n + 2) / 3) + 1, '\0');
  int len = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), p, static_cast<int>(n));
  out.resize(static_cast<size_t>(len));
  return out;
}

bool UnB64(std::string_view s, std::vector<uint8_t>* out) {
  if (s.empty() || s.size() % 4 != 0) return false;
  out->assign(3 * s.size() / 4, 0);
  int len = EVP_DecodeBlock(out->data(), reinterpret_cast<const unsigned char*>(s.data()), static_cast<int>(s.size()));
  if (len < 0) return false;
  size_t pad = (s.back() == '=') + (s.size() > 1 && s[s.size() - 2] == '=');
  out->resize(static_cast<size_t>(len) - pad);
  return true;
}

using CipherCtx = std::unique_ptr<EVP_CIPHER_CTX, decltype(&EVP_CIPHER_CTX_free)>;

}  // namespace

SecretBox SecretBox::FromKey(const std::array<uint8_t, 32>& key) {
  SecretBox b;
  b.key_ = key;
  // A separate key for digests: SHA-256("privcast secret digest" | key).
  std::string in = "privcast secret digest";
  in.append(reinterpret_cast<const char*>(key.data()), key.size());
  unsigned int len = 0;
  EVP_Digest(in.data(), in.size(), b.digest_key_.data(), &len, EVP_sha256(), nullptr);
  OPENSSL_cleanse(in.data(), in.size());
  return b;
}

Result<SecretBox> SecretBox::LoadOrCreate(const std::string& path) {
  std::array<uint8_t, 32> key{};
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  if (!fd.valid() && errno == ENOENT) {
    if (RAND_bytes(key.data(), static_cast<int>(key.size())) != 1) return Internal("secrets key: no randomness");
    std::string tmp = path + ".new";
    ::unlink(tmp.c_str());
    UniqueFd w(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (!w.valid()) return ErrnoStatus("secrets key " + tmp + ": create", errno);
    if (::write(w.get(), key.data(), key.size()) != static_cast<ssize_t>(key.size()) || ::fsync(w.get()) != 0)
      return ErrnoStatus("secrets key " + tmp + ": write", errno);
    // link(), not rename(): a key another process created meanwhile wins, never overwritten.
    if (::link(tmp.c_str(), path.c_str()) != 0 && errno != EEXIST) {
      int e = errno;
      ::unlink(tmp.c_str());
      return ErrnoStatus("secrets key " + path + ": create", e);
    }
    ::unlink(tmp.c_str());
    fd.reset(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
  }
  if (!fd.valid()) return ErrnoStatus("secrets key " + path + ": open", errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return ErrnoStatus("secrets key " + path + ": stat", errno);
  if ((st.st_mode & 077) != 0)
    return InvalidArgument("secrets key " + path + " is open to group or others: chmod 600 it");
  if (st.st_size != 32) return InvalidArgument("secrets key " + path + " is not 32 bytes: restore it from a backup");
  if (::read(fd.get(), key.data(), key.size()) != static_cast<ssize_t>(key.size()))
    return ErrnoStatus("secrets key " + path + ": read", errno);
  return FromKey(key);
}

Result<std::string> SecretBox::Seal(std::string_view plaintext, std::string_view associated) const {
  std::vector<uint8_t> buf(kNonce + plaintext.size() + kTag);
  if (RAND_bytes(buf.data(), kNonce) != 1) return Internal("seal: no randomness");
  CipherCtx ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  int len = 0;
  auto* out = buf.data() + kNonce;
  if (!ctx || EVP_EncryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key_.data(), buf.data()) != 1 ||
      EVP_EncryptUpdate(ctx.get(), nullptr, &len, reinterpret_cast<const uint8_t*>(associated.data()),
                        static_cast<int>(associated.size())) != 1 ||
      EVP_EncryptUpdate(ctx.get(), out, &len, reinterpret_cast<const uint8_t*>(plaintext.data()),
                        static_cast<int>(plaintext.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), out + len, &len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTag, out + plaintext.size()) != 1)
    return Internal("seal: AES-256-GCM failed");
  return std::string(kPrefix) + B64(buf.data(), buf.size());
}

Result<std::string> SecretBox::Open(std::string_view sealed, std::string_view associated) const {
  std::vector<uint8_t> buf;
  if (sealed.substr(0, kPrefix.size()) != kPrefix || !UnB64(sealed.substr(kPrefix.size()), &buf) ||
      buf.size() < kNonce + kTag)
    return InvalidArgument("sealed secret is malformed");
  size_t n = buf.size() - kNonce - kTag;
  std::string plain(n, '\0');
  CipherCtx ctx(EVP_CIPHER_CTX_new(), EVP_CIPHER_CTX_free);
  int len = 0;
  uint8_t* tag = buf.data() + kNonce + n;
  if (!ctx || EVP_DecryptInit_ex(ctx.get(), EVP_aes_256_gcm(), nullptr, key_.data(), buf.data()) != 1 ||
      EVP_DecryptUpdate(ctx.get(), nullptr, &len, reinterpret_cast<const uint8_t*>(associated.data()),
                        static_cast<int>(associated.size())) != 1 ||
      EVP_DecryptUpdate(ctx.get(), reinterpret_cast<uint8_t*>(plain.data()), &len, buf.data() + kNonce,
                        static_cast<int>(n)) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, kTag, tag) != 1 ||
      EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<uint8_t*>(plain.data()) + len, &len) != 1)
    return InvalidArgument("sealed secret failed authentication (altered, or sealed for another app/name or key)");
  return plain;
}

std::string SecretBox::Digest(std::string_view plaintext) const {
  unsigned char mac[32];
  unsigned int len = 0;
  HMAC(EVP_sha256(), digest_key_.data(), static_cast<int>(digest_key_.size()),
       reinterpret_cast<const unsigned char*>(plaintext.data()), plaintext.size(), mac, &len);
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (int i = 0; i < 8; ++i) {
    out += kHex[mac[i] >> 4];
    out += kHex[mac[i] & 15];
  }
  return out;
}

}  // namespace privcast::daemon
