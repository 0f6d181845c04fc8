// SecretBox: app secrets (`privcast secrets set`) encrypted at rest (ADR 0012).
//
// AES-256-GCM under one 32-byte key kept in a file of the data dir (`secrets.key`, mode
// 0600, created on first use with O_EXCL; the data dir is 0700): only privcastd's user
// reads it. Each value is sealed with a fresh random 96-bit nonce and authenticated together
// with "<app>/<name>" (associated data), so a sealed value moved to another app or name, or
// altered by one bit, fails to open. Sealed form: "v1:" + base64(nonce | ciphertext | tag).
//
// Digest(): what `secrets list` shows (flyctl shows a digest, never the value): the first
// 16 hex digits of HMAC-SHA256 under a key derived from the secret key, so equal values
// compare equal but a digest cannot be checked against guesses without the key.
//
// Thread-safety: immutable after Load; Seal/Open/Digest are safe from any thread.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace privcast::daemon {

class SecretBox {
 public:
  // Reads `path`, creating it (32 random bytes, 0600) when missing. kIo/kInvalidArgument
  // when it cannot be read, is not exactly 32 bytes, or is readable by group/others.
  static Result<SecretBox> LoadOrCreate(const std::string& path);
  // A box over a given key (tests).
  static SecretBox FromKey(const std::array<uint8_t, 32>& key);

  Result<std::string> Seal(std::string_view plaintext, std::string_view associated) const;
  // kInvalidArgument when the sealed text is malformed, altered, or for another app/name.
  Result<std::string> Open(std::string_view sealed, std::string_view associated) const;
  std::string Digest(std::string_view plaintext) const;

 private:
  std::array<uint8_t, 32> key_{};
  std::array<uint8_t, 32> digest_key_{};
};

}  // namespace privcast::daemon
