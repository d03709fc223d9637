// Parsing untrusted JSON (manifests on disk, hub and registry replies) into nlohmann::json
// without exceptions or deep recursion: too deep or malformed input is an Error naming `what`.
#pragma once

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

#include "base/json_depth.h"
#include "base/result.h"

namespace bastion::store {

inline Result<nlohmann::json> ParseJsonBounded(std::string_view text, const std::string& what, int max_depth = 16) {
  if (JsonNestingDepth(text, max_depth) > max_depth) {
    return Error(what + ": JSON nested deeper than " + std::to_string(max_depth) + " levels");
  }
  nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Error(what + ": not valid JSON");
  return j;
}

}  // namespace bastion::store
