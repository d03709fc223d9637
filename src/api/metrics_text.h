// Prometheus text exposition of the server's and engines' metrics (GET /metrics).
#pragma once

#include <string>

#include "api/routes.h"

namespace bastion::api {

// Counters and gauges per served model (label model="..."), HTTP response counts, and histograms
// of time to first token and decode tokens/s.
std::string RenderPrometheusMetrics(const ApiContext& context);

}  // namespace bastion::api
