// The deepest nesting of arrays/objects in a JSON text, counting brackets outside strings (no
// validation). Checked before a JSON library sees untrusted bytes, so a million '[' is a one-line
// error rather than a deep parse. Stops counting once the depth passes `stop_above`.
#pragma once

#include <algorithm>
#include <climits>
#include <string_view>

namespace bastion {

inline int JsonNestingDepth(std::string_view text, int stop_above = INT_MAX) {
  int depth = 0, max_depth = 0;
  bool in_string = false, escaped = false;
  for (const char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      max_depth = std::max(max_depth, ++depth);
      if (max_depth > stop_above) return max_depth;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return max_depth;
}

}  // namespace bastion
