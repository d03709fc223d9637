// base64url without padding (RFC 4648 section 5), the encoding of every binary field in JOSE and
// ACME (JWS parts, JWK coordinates, thumbprints, CSRs, ARI CertIDs).
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace bastion::acme {

std::string Base64UrlEncode(std::string_view bytes);

// Strict: only the URL-safe alphabet, no padding, no whitespace, and no non-zero bits left over
// in the last character (so every input has exactly one encoding). nullopt otherwise.
std::optional<std::string> Base64UrlDecode(std::string_view text);

}  // namespace bastion::acme
