// libFuzzer target for the parsers of the model store (store/): the whole input goes through
// ParseManifest (a manifest file on disk), ParseOllamaManifest (a registry reply),
// ChooseGgufForQuant (Hugging Face model info), and — when short — ParseModelRef, ParseContentRange,
// ParseRetryAfter and Sha256FromEtag. Invariants: a parsed manifest round-trips through
// Serialize -> Parse unchanged and its escaped file name has no '/'; a parsed reference has a
// valid store name and (for Hugging Face) a repo path without "..". Never crashes.
#include <cstdint>
#include <string>
#include <string_view>

#include "base/check.h"
#include "store/downloader.h"
#include "store/hf_source.h"
#include "store/http_fetch.h"
#include "store/model_ref.h"
#include "store/model_store.h"
#include "store/ollama_source.h"
#include "store/sha256.h"

namespace {

using namespace bastion::store;

void CheckManifest(std::string_view input) {
  auto m = ParseManifest(input);
  if (!m.ok()) {
    BASTION_CHECK(!m.error().message().empty());
    return;
  }
  BASTION_CHECK(IsValidModelName(m->name));
  BASTION_CHECK(IsSha256Hex(m->DigestHex()));
  BASTION_CHECK(EscapeModelName(m->name).find('/') == std::string::npos);
  const std::string text = SerializeManifest(*m);
  auto again = ParseManifest(text);
  BASTION_CHECK(again.ok());
  BASTION_CHECK(SerializeManifest(*again) == text);
}

void CheckReference(std::string_view input) {
  auto r = ParseModelRef(input);
  if (!r.ok()) return;
  BASTION_CHECK(IsValidModelName(r->name));
  if (r->kind == SourceKind::kHuggingFace) {
    // No path component starts with '.', so none is "." or "..".
    BASTION_CHECK(r->hf_repo.find("/.") == std::string::npos && !r->hf_repo.starts_with("."));
    BASTION_CHECK(r->hf_file.find("/.") == std::string::npos && !r->hf_file.starts_with("."));
    BASTION_CHECK(!r->hf_file.empty() || !r->hf_quant.empty());
  }
  BASTION_CHECK(!r->Source().empty());
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  CheckManifest(input);
  auto layer = ParseOllamaManifest(input);
  if (layer.ok()) BASTION_CHECK(IsSha256Hex(layer->sha256));
  auto file = ChooseGgufForQuant(input, "Q4_K_M", "o/r");
  if (file.ok()) BASTION_CHECK(("/" + *file + "/").find("/../") == std::string::npos);
  if (size <= 4096) {
    CheckReference(input);
    auto range = ParseContentRange(input);
    if (range) BASTION_CHECK(range->first <= range->last && (!range->total || *range->total > range->last));
    (void)ParseRetryAfter(input);
    const std::string etag = Sha256FromEtag(input);
    BASTION_CHECK(etag.empty() || IsSha256Hex(etag));
  }
  return 0;
}
