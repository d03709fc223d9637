// StopMatcher: finds stop strings in streamed text without emitting any part of them.
//
// Text arrives in pieces (one token's worth at a time). Whatever could still be the start of a
// stop string is held back until the next piece decides it; once a stop string is complete,
// the text before it is released and generation ends.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace bastion {

class StopMatcher {
 public:
  explicit StopMatcher(std::vector<std::string> stops);

  // Adds a piece; returns the text that is now safe to emit. After stopped() turns true, the
  // text up to the stop string has been returned and further pieces return "".
  std::string Push(std::string_view piece);

  // Returns any held-back text (call when generation ends for another reason).
  std::string Flush();

  bool stopped() const { return stopped_; }
  // The stop string that matched, when stopped().
  const std::string& matched() const { return matched_; }

 private:
  std::vector<std::string> stops_;
  std::string pending_;
  bool stopped_ = false;
  std::string matched_;
};

}  // namespace bastion
