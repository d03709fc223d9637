// Parsers for what an ACME CA sends back (RFC 8555 section 7, RFC 9773): the directory, orders,
// authorizations and challenges, problem documents, Retry-After, and ARI renewal windows. Pure
// functions over bytes — every one is fed hostile input by fuzz/acme_response_fuzz.cc — that
// return an Error (or a generic AcmeError) instead of throwing.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "acme/acme_client.h"
#include "base/result.h"

namespace bastion::acme {

// Each JSON reply is at most this big; more is refused before parsing.
inline constexpr size_t kMaxJsonBytes = 256 * 1024;

struct Directory {
  std::string new_nonce, new_account, new_order, revoke_cert, key_change;
  std::string renewal_info;  // RFC 9773; empty when the CA has no ARI
  std::string terms_of_service;
  bool external_account_required = false;
};
Result<Directory> ParseDirectory(std::string_view body);

// A status value of an order, authorization or challenge.
enum class ObjectStatus { kPending, kReady, kProcessing, kValid, kInvalid, kDeactivated, kExpired, kRevoked, kUnknown };
ObjectStatus ParseStatus(std::string_view text);
const char* StatusName(ObjectStatus status);

struct Challenge {
  std::string type;  // "http-01", ...
  std::string url;
  std::string token;
  ObjectStatus status = ObjectStatus::kUnknown;
  std::optional<AcmeError> error;
};

struct Authorization {
  std::string identifier_type;  // "dns" or "ip"
  std::string identifier;
  ObjectStatus status = ObjectStatus::kUnknown;
  bool wildcard = false;
  std::vector<Challenge> challenges;
};
Result<Authorization> ParseAuthorization(std::string_view body);

struct Order {
  ObjectStatus status = ObjectStatus::kUnknown;
  std::vector<std::string> authorizations;
  std::string finalize;
  std::string certificate;  // present once valid
  std::optional<AcmeError> error;
};
Result<Order> ParseOrder(std::string_view body);

// A problem document (RFC 7807) from an error response; anything unparsable still gives an
// AcmeError that carries the status and a clipped, printable copy of the body.
AcmeError ParseProblem(int http_status, std::string_view body, std::optional<std::chrono::seconds> retry_after);

// Retry-After (RFC 9110 section 10.2.3): delay-seconds or an HTTP-date (IMF-fixdate, also
// RFC 850 and asctime forms). Past dates give 0. Clamped to at most 30 days; nullopt when
// malformed.
std::optional<std::chrono::seconds> ParseRetryAfter(std::string_view value, std::chrono::system_clock::time_point now);

// RFC 3339 date-time ("2025-01-02T04:00:00Z", fractions and offsets allowed).
std::optional<std::chrono::system_clock::time_point> ParseRfc3339(std::string_view text);

// The body of a renewalInfo response. retry_after is left at its default; the caller sets it
// from the header.
Result<RenewalInfo> ParseRenewalInfo(std::string_view body);

// Replay-Nonce values are base64url tokens (RFC 8555 section 6.5.1); clients ignore others.
bool IsValidNonce(std::string_view nonce);

// Text from the CA made safe to log and show: printable ASCII only, at most `max` bytes.
std::string Printable(std::string_view text, size_t max = 512);

}  // namespace bastion::acme
