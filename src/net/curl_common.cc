#include "net/curl_common.h"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <signal.h>

#include <mutex>
#include <vector>

#include "base/atomic_file.h"

namespace bastion::net {

// With CURLOPT_NOSIGNAL (no process-wide signal juggling from a background thread) libcurl leaves
// SIGPIPE to the application, and OpenSSL writes to a socket the peer closed would raise it: a
// network server must never die of that, so SIGPIPE is ignored unless someone installed a handler.
std::string AsciiLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string_view TrimHeaderSpace(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) s.remove_suffix(1);
  return s;
}

HeaderLine ParseHeaderLine(std::string_view line) {
  HeaderLine h;
  if (line.starts_with("HTTP/")) {
    h.status_line = true;
    return h;
  }
  const size_t colon = line.find(':');
  if (colon != std::string_view::npos) {
    h.field.emplace(AsciiLower(TrimHeaderSpace(line.substr(0, colon))), std::string(TrimHeaderSpace(line.substr(colon + 1))));
  }
  return h;
}

void CurlGlobalInitOnce() {
  static std::once_flag once;
  std::call_once(once, [] {
    curl_global_init(CURL_GLOBAL_DEFAULT);
    struct sigaction current {};
    if (sigaction(SIGPIPE, nullptr, &current) == 0 && current.sa_handler == SIG_DFL) {
      struct sigaction ignore {};
      ignore.sa_handler = SIG_IGN;
      sigemptyset(&ignore.sa_mask);
      sigaction(SIGPIPE, &ignore, nullptr);
    }
  });
}

struct TrustRoots::Impl {
  std::vector<X509*> certs;
  ~Impl() {
    for (X509* x : certs) X509_free(x);
  }

  // Runs for each new TLS context curl makes, after it loaded the default trust store: adding
  // to that store trusts the extra roots as well as the system's.
  static CURLcode OnSslContext(CURL*, void* ssl_ctx, void* user) {
    const auto* impl = static_cast<const Impl*>(user);
    X509_STORE* store = SSL_CTX_get_cert_store(static_cast<SSL_CTX*>(ssl_ctx));
    for (X509* x : impl->certs) X509_STORE_add_cert(store, x);  // duplicates are ignored
    return CURLE_OK;
  }
};

TrustRoots::TrustRoots(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
TrustRoots::~TrustRoots() = default;

Result<std::shared_ptr<const TrustRoots>> TrustRoots::LoadPemFile(const std::string& path) {
  BASTION_ASSIGN_OR_RETURN(std::string pem, ReadFile(path, 1u << 20));
  auto impl = std::make_unique<Impl>();
  BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
  while (X509* x = PEM_read_bio_X509(bio, nullptr, nullptr, nullptr)) impl->certs.push_back(x);
  BIO_free(bio);
  ERR_clear_error();  // the read that ended the loop left "no start line" on the error queue
  if (impl->certs.empty()) return Error("CA root file " + path + ": no PEM certificate in it");
  return std::shared_ptr<const TrustRoots>(new TrustRoots(std::move(impl)));
}

void TrustRoots::Install(CURL* curl) const {
  curl_easy_setopt(curl, CURLOPT_SSL_CTX_FUNCTION, &Impl::OnSslContext);
  curl_easy_setopt(curl, CURLOPT_SSL_CTX_DATA, impl_.get());
}

size_t TrustRoots::size() const { return impl_->certs.size(); }

}  // namespace bastion::net
