// libFuzzer target for the command line's token-list parser (`--tokens 1,2,3`): never crashes,
// and whatever it accepts is a non-empty list of non-negative ids that prints back to a list it
// parses the same way.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "app/cli_common.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto ids = bastion::cli::ParseTokenList(text);
  if (!ids.ok()) return 0;
  if (ids->empty()) std::abort();
  std::string printed;
  for (size_t i = 0; i < ids->size(); ++i) {
    if ((*ids)[i] < 0) std::abort();
    printed += (i ? "," : "") + std::to_string((*ids)[i]);
  }
  auto again = bastion::cli::ParseTokenList(printed);
  if (!again.ok() || *again != *ids) std::abort();
  return 0;
}
