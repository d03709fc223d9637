// libFuzzer target for the API keys file and the other text the key store takes from outside:
// the whole input is parsed as <state-dir>/keys.json (ParseKeysFile); what parses must satisfy the
// invariants the server relies on (valid unique names, unique hashes, limits in range) and must
// survive Serialize -> Parse -> Serialize unchanged. The same bytes also go through ParseTime,
// ParseRate and, split at the first newline into Authorization / X-Api-Key values,
// ExtractPresentedKey. Never crashes; a violated invariant aborts.
#include <cmath>
#include <cstdint>
#include <set>
#include <string>
#include <string_view>

#include "base/check.h"
#include "keys/key_store.h"

namespace {

using namespace bastion::keys;

void CheckKeysFile(std::string_view input) {
  auto keys = ParseKeysFile(input);
  if (!keys.ok()) {
    BASTION_CHECK(!keys.error().message().empty());
    return;
  }
  std::set<std::string> names;
  std::set<Sha256> hashes;
  for (const StoredKey& k : *keys) {
    BASTION_CHECK(IsValidKeyName(k.info.name));
    BASTION_CHECK(names.insert(k.info.name).second);
    BASTION_CHECK(hashes.insert(k.hash).second);
    BASTION_CHECK(!k.info.prefix.empty() && k.info.prefix.size() <= 32);
    if (k.info.rate) BASTION_CHECK(*k.info.rate > 0 && std::isfinite(*k.info.rate));
    if (k.info.burst) BASTION_CHECK(*k.info.burst >= 0);
    if (k.info.max_concurrent) BASTION_CHECK(*k.info.max_concurrent >= 1);
  }
  const std::string text = SerializeKeysFile(*keys);
  auto again = ParseKeysFile(text);
  BASTION_CHECK(again.ok());
  BASTION_CHECK(again->size() == keys->size());
  BASTION_CHECK(SerializeKeysFile(*again) == text);
}

void CheckTime(std::string_view input) {
  auto t = ParseTime(input);
  if (!t.ok()) return;
  // What parses formats as RFC 3339 and parses back to the same second.
  const std::string formatted = FormatTime(*t);
  auto back = ParseTime(formatted);
  BASTION_CHECK(back.ok());
  BASTION_CHECK(*back == std::chrono::floor<std::chrono::seconds>(*t));
}

void CheckRate(std::string_view input) {
  auto r = ParseRate(input);
  if (r.ok()) BASTION_CHECK(*r > 0 && std::isfinite(*r));
}

void CheckHeaders(std::string_view input) {
  const size_t nl = input.find('\n');
  const std::string authorization(input.substr(0, nl));
  const std::string x_api_key(nl == std::string_view::npos ? std::string_view() : input.substr(nl + 1));
  for (int mode = 0; mode < 3; ++mode) {
    const std::string* a = mode != 1 ? &authorization : nullptr;
    const std::string* x = mode != 0 && nl != std::string_view::npos ? &x_api_key : nullptr;
    const auto key = ExtractPresentedKey(a, x);
    if (!key) continue;
    BASTION_CHECK(!key->empty() && key->size() <= 512);
    for (const char c : *key) BASTION_CHECK(c > ' ' && c < 0x7f && c != '"' && c != ',');
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  CheckKeysFile(input);
  if (size <= 256) {  // the other parsers take short values; long inputs only slow the run
    CheckTime(input);
    CheckRate(input);
  }
  CheckHeaders(input);
  return 0;
}
