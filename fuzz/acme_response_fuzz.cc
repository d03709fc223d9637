// libFuzzer target for everything bastion parses from an ACME CA (src/acme/messages.h): the
// directory, orders, authorizations, problem documents, ARI renewal windows, Retry-After and
// RFC 3339 times, Replay-Nonce checks, and the ARI CertID of a downloaded certificate. A hostile
// CA controls all of these bytes; the parsers must return errors, never crash, throw or hang,
// and what they return must respect their documented bounds.
#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

#include "acme/acme_client.h"
#include "acme/messages.h"
#include "base/check.h"

using namespace bastion::acme;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1700000000));

  if (auto dir = ParseDirectory(input); dir.ok()) {
    BASTION_CHECK(!dir->new_nonce.empty() && !dir->new_account.empty() && !dir->new_order.empty());
  }
  if (auto order = ParseOrder(input); order.ok()) {
    BASTION_CHECK(order->status != ObjectStatus::kUnknown);
    BASTION_CHECK(order->authorizations.size() <= 100);
    if (order->error) (void)order->error->ToString();
  }
  if (auto authz = ParseAuthorization(input); authz.ok()) {
    BASTION_CHECK(authz->challenges.size() <= 16);
    for (const Challenge& c : authz->challenges) BASTION_CHECK(!c.type.empty() && !c.url.empty());
  }
  const AcmeError problem = ParseProblem(400, input, std::nullopt);
  for (const char c : problem.type + problem.detail) BASTION_CHECK(c >= 0x20 && c < 0x7f);
  (void)problem.ToString();
  if (auto info = ParseRenewalInfo(input); info.ok()) BASTION_CHECK(info->window_start <= info->window_end);

  // Header-sized inputs: Retry-After, RFC 3339, nonces.
  if (size <= 128) {
    if (auto wait = ParseRetryAfter(input, now)) {
      BASTION_CHECK(*wait >= std::chrono::seconds(0) && *wait <= std::chrono::hours(24 * 30));
    }
    (void)ParseRfc3339(input);
    if (IsValidNonce(input)) BASTION_CHECK(!input.empty());
  }
  // A certificate download: the ARI CertID of its first certificate.
  if (auto id = AriCertId(std::string(input)); id.ok()) BASTION_CHECK(id->find('.') != std::string::npos);
  return 0;
}
