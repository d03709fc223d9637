// What a user's model reference means: which source a pull fetches from and the name the model
// gets in the store. Pure parsing, no network (fuzzed: fuzz/store_parsers_fuzz.cc).
//
//   qwen2.5:0.5b                      Hugging Face Qwen/Qwen2.5-0.5B-Instruct-GGUF,
//   qwen2.5:1.5b-instruct-q8_0          file qwen2.5-<size>-instruct-<type>.gguf (default q4_k_m);
//   qwen2.5[:latest]                    sizes 0.5b 1.5b 3b 7b; latest = 7b (as Ollama's tag)
//   hf.co/OWNER/REPO[:QUANT]          the repo's .gguf file whose name carries QUANT (Q4_K_M)
//   hf.co/OWNER/REPO/FILE.gguf        that file (huggingface.co/ works as well as hf.co/)
//   ollama://[NAMESPACE/]MODEL[:TAG]  the Ollama registry (namespace library, tag latest)
//   https://HOST/PATH/FILE.gguf       a plain URL (http:// too, when a SHA-256 is given)
#pragma once

#include <string>
#include <string_view>

#include "base/result.h"

namespace bastion::store {

enum class SourceKind { kHuggingFace, kOllama, kUrl };

const char* SourceKindName(SourceKind kind);  // "huggingface", "ollama", "url"

struct ModelRef {
  SourceKind kind = SourceKind::kHuggingFace;
  // The store name this reference gets by default: "qwen2.5:0.5b", "hf.co/O/R:Q8_0",
  // "hf.co/O/R/file.gguf", "ollama://qwen2.5:0.5b", or a URL's file name without ".gguf".
  std::string name;

  // kHuggingFace: repo "OWNER/REPO" and either a file path in it or a quantization to look for.
  std::string hf_repo;
  std::string hf_file;   // "qwen2.5-0.5b-instruct-q4_k_m.gguf"; empty: choose by hf_quant
  std::string hf_quant;  // upper case, "Q4_K_M"; set only when hf_file is empty
  std::string hf_revision = "main";

  // kOllama: repository "library/qwen2.5" and tag "0.5b".
  std::string ollama_repo;
  std::string ollama_tag;

  // kUrl
  std::string url;

  // The canonical form of the source, recorded in the manifest: "hf.co/O/R/file.gguf",
  // "hf.co/O/R:Q8_0", "ollama://library/qwen2.5:0.5b" or the URL.
  std::string Source() const;
};

Result<ModelRef> ParseModelRef(std::string_view text);

// Store names: 1..200 printable ASCII characters without spaces (the store escapes them for file
// names, so '/' and ':' are fine and no name can reach outside the store).
bool IsValidModelName(std::string_view name);

// The Qwen2.5 quantizations Qwen publishes in its GGUF repos, in the spelling of
// their file names: fp16 q8_0 q6_k q5_k_m q5_0 q4_k_m q4_0 q3_k_m q2_k.
std::string KnownQwenTypes();

}  // namespace bastion::store
