// Counters of one AcmeClient, for tests and metrics (kept out of acme_client.h, whose contract
// is shared with the lifecycle manager).
#pragma once

#include <cstdint>

#include "acme/acme_client.h"

namespace bastion::acme {

struct AcmeClientStats {
  uint64_t requests = 0;           // HTTP requests sent (all kinds)
  uint64_t bad_nonce_retries = 0;  // POSTs re-sent after a badNonce error
  uint64_t busy_retries = 0;       // requests re-sent after 429/503 with a short Retry-After
  uint64_t orders = 0;             // newOrder calls
};

// The counters of a client made by AcmeClient::Create (zeros for any other implementation).
AcmeClientStats GetStats(const AcmeClient& client);

}  // namespace bastion::acme
