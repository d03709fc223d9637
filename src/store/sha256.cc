#include "store/sha256.h"

#include <fcntl.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "base/check.h"

namespace bastion::store {

Sha256::Sha256() : ctx_(EVP_MD_CTX_new()) {
  BASTION_CHECK(ctx_ != nullptr);
  Reset();
}

Sha256::~Sha256() { EVP_MD_CTX_free(static_cast<EVP_MD_CTX*>(ctx_)); }

void Sha256::Reset() { BASTION_CHECK(EVP_DigestInit_ex(static_cast<EVP_MD_CTX*>(ctx_), EVP_sha256(), nullptr) == 1); }

void Sha256::Update(const void* data, size_t size) {
  if (size > 0) BASTION_CHECK(EVP_DigestUpdate(static_cast<EVP_MD_CTX*>(ctx_), data, size) == 1);
}

std::string Sha256::FinishHex() {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  BASTION_CHECK(EVP_DigestFinal_ex(static_cast<EVP_MD_CTX*>(ctx_), md, &len) == 1);
  static const char kHex[] = "0123456789abcdef";
  std::string hex;
  for (unsigned int i = 0; i < len; ++i) {
    hex += kHex[md[i] >> 4];
    hex += kHex[md[i] & 15];
  }
  Reset();
  return hex;
}

Status HashFilePrefix(const std::string& path, uint64_t length, Sha256& hash) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return Error("opening " + path + ": " + std::strerror(errno));
  std::vector<char> buf(1 << 20);
  uint64_t left = length;
  while (left > 0) {
    const ssize_t n = ::read(fd, buf.data(), static_cast<size_t>(std::min<uint64_t>(left, buf.size())));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const std::string why = n < 0 ? std::strerror(errno) : "file is shorter than expected";
      ::close(fd);
      return Error("reading " + path + ": " + why);
    }
    hash.Update(buf.data(), static_cast<size_t>(n));
    left -= static_cast<uint64_t>(n);
  }
  ::close(fd);
  return OkStatus();
}

bool IsSha256Hex(std::string_view hex) {
  if (hex.size() != 64) return false;
  for (const char c : hex) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) return false;
  }
  return true;
}

Result<std::string> NormalizeSha256(std::string_view text) {
  std::string_view hex = text;
  if (hex.starts_with("sha256:") || hex.starts_with("sha256-")) hex.remove_prefix(7);
  if (!IsSha256Hex(hex)) {
    return Error("expected a SHA-256 digest (64 hex digits, optionally after 'sha256:'), found '" +
                 std::string(text.substr(0, 80)) + "'");
  }
  std::string out(hex);
  for (char& c : out) c = static_cast<char>(c >= 'A' && c <= 'F' ? c - 'A' + 'a' : c);
  return out;
}

}  // namespace bastion::store
