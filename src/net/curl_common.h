// What every libcurl user in bastion shares: the process-wide libcurl initialisation (with the
// SIGPIPE policy a server needs) and extra trust roots (a private or test CA) added on top of the
// system's store, the way NODE_EXTRA_CA_CERTS works.
#pragma once

#include <curl/curl.h>

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include "base/result.h"

namespace bastion::net {

// ASCII lower case (header names, URL schemes).
std::string AsciiLower(std::string_view s);
// Without leading spaces/tabs and trailing spaces/tabs/CR/LF (header names and values).
std::string_view TrimHeaderSpace(std::string_view s);

// One line as libcurl hands it to a CURLOPT_HEADERFUNCTION callback.
struct HeaderLine {
  bool status_line = false;  // "HTTP/...": a new response begins (redirect, 100 Continue)
  std::optional<std::pair<std::string, std::string>> field;  // {lower-case name, trimmed value}
};
HeaderLine ParseHeaderLine(std::string_view line);

// curl_global_init, once, before the first handle (it is not thread-safe in libcurl 7.88), and
// SIGPIPE ignored unless the application installed its own handler.
void CurlGlobalInitOnce();

// PEM certificates trusted in addition to the system's roots. Immutable once loaded, so one set
// can serve many handles and threads.
class TrustRoots {
 public:
  // Reads every certificate in the PEM file; a file with none is an error.
  static Result<std::shared_ptr<const TrustRoots>> LoadPemFile(const std::string& path);
  ~TrustRoots();
  TrustRoots(const TrustRoots&) = delete;
  TrustRoots& operator=(const TrustRoots&) = delete;

  // Makes `curl` trust these roots as well as the default store (CURLOPT_SSL_CTX_FUNCTION). The
  // object must outlive the transfers on that handle.
  void Install(CURL* curl) const;

  size_t size() const;

 private:
  struct Impl;
  explicit TrustRoots(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace bastion::net
