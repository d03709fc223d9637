// Shared CLI option groups and helpers.
#include "app/cli_common.h"

#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <iterator>
#include <sstream>

#include "base/atomic_file.h"
#include "store/model_store.h"

namespace bastion::cli {

int Fail(const std::string& message) {
  std::fprintf(stderr, "bastion: error: %s\n", message.c_str());
  return kExitFailure;
}

int Fail(const Error& error) { return Fail(error.message()); }

Result<std::string> ResolveStateDir(const std::string& flag) {
  std::string dir = flag;
  if (dir.empty()) {
    const char* env = std::getenv("BASTION_HOME");
    dir = env != nullptr && env[0] != '\0' ? env : "~/.bastion";
  }
  if (dir == "~" || dir.rfind("~/", 0) == 0) {
    const char* home = std::getenv("HOME");
    if (home == nullptr || home[0] == '\0') return Error("cannot expand '~' in the state directory: HOME is not set");
    dir = std::string(home) + dir.substr(1);
  }
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return dir;
}

void ModelOptions::Register(CLI::App* app, bool with_context, bool with_mmap) {
  // Not CLI::ExistingFile: a pulled model's name works too (LoadModel resolves it).
  app->add_option("-m,--model", model_path, "GGUF model file, or the name of a pulled model (bastion list)")->required();
  app->add_option("-t,--threads", threads, "Threads to use (default: all cores)")->check(CLI::Range(0, 1024));
  if (with_context) {
    app->add_option("-c,--ctx-size", ctx_size, "Context size in tokens (default 4096, at most the model's)")
        ->check(CLI::Range(16, 1 << 20));
    app->add_option("--kv-type", kv_type, "KV cache type: f16 (default) or f32")
        ->check(CLI::IsMember({"f16", "f32"}, CLI::ignore_case));
    app->add_option("--ubatch", ubatch, "Tokens per forward pass during prompt processing (default 512)")
        ->check(CLI::Range(1, 8192));
  }
  if (with_mmap) {
    app->add_flag("--mmap", mmap,
                  "Map the weights from the file instead of reading them into (huge-page) memory: "
                  "starts faster and shares the page cache, decodes slower");
  }
}

Result<ContextOptions> ModelOptions::ToContextOptions() const {
  ContextOptions o;
  o.n_ctx = ctx_size;
  o.n_threads = threads;
  o.n_ubatch = ubatch;
  o.kv_type = (kv_type == "f32" || kv_type == "F32") ? GgmlType::kF32 : GgmlType::kF16;
  return o;
}

Result<std::unique_ptr<Model>> LoadModel(const std::string& path, FileResidency residency) {
  if (FileExists(path)) return Model::Load(path, residency);
  // Not a file: a store name in the default state directory (BASTION_HOME or ~/.bastion).
  BASTION_ASSIGN_OR_RETURN(std::string state_dir, ResolveStateDir(""));
  BASTION_ASSIGN_OR_RETURN(store::ModelLocation location, store::ResolveModelArgument(state_dir, path));
  return Model::Load(location.path, residency);
}

void SamplingOptions::Register(CLI::App* app) {
  app->add_option("-n,--max-tokens", max_tokens, "Tokens to generate at most (-1: until the context is full)")
      ->check(CLI::Range(-1, 1 << 30));
  app->add_option("--temp,--temperature", temperature, "Sampling temperature; 0 = greedy (default 0.8)")
      ->check(CLI::Range(0.0f, 100.0f));
  app->add_option("--top-k", top_k, "Keep the k most likely tokens; 0 = off (default 40)")->check(CLI::Range(0, 1 << 30));
  app->add_option("--top-p", top_p, "Nucleus sampling threshold; 1 = off (default 0.95)")->check(CLI::Range(0.0f, 1.0f));
  app->add_option("--min-p", min_p, "Drop tokens below min-p x the best probability; 0 = off (default 0.05)")
      ->check(CLI::Range(0.0f, 1.0f));
  app->add_option("--repeat-penalty", repeat_penalty, "Repetition penalty; 1 = off (default 1.0)")
      ->check(CLI::Range(0.0f, 100.0f));
  app->add_option("--repeat-last-n", repeat_last_n, "Tokens the penalties look back over; -1 = all (default 64)")
      ->check(CLI::Range(-1, 1 << 30));
  app->add_option("--presence-penalty", presence_penalty, "Presence penalty (default 0)")->check(CLI::Range(-100.0f, 100.0f));
  app->add_option("--frequency-penalty", frequency_penalty, "Frequency penalty (default 0)")
      ->check(CLI::Range(-100.0f, 100.0f));
  app->add_option("-s,--seed", seed, "Random seed; -1 = random (default)")->check(CLI::Range(int64_t{-1}, int64_t{0xFFFFFFFE}));
  app->add_option("--stop", stop, "Stop when this text is generated (repeatable)");
}

GenerationParams SamplingOptions::ToParams() const {
  GenerationParams p;
  p.sampling.temperature = temperature;
  p.sampling.top_k = top_k;
  p.sampling.top_p = top_p;
  p.sampling.min_p = min_p;
  p.sampling.repeat_penalty = repeat_penalty;
  p.sampling.repeat_last_n = repeat_last_n;
  p.sampling.presence_penalty = presence_penalty;
  p.sampling.frequency_penalty = frequency_penalty;
  p.sampling.seed = seed < 0 ? SamplingParams::kRandomSeed : static_cast<uint64_t>(seed);
  p.max_tokens = max_tokens;
  p.stop = stop;
  return p;
}

Result<std::vector<int32_t>> ParseTokenList(const std::string& text) {
  std::vector<int32_t> ids;
  std::stringstream in(text);
  std::string item;
  for (int index = 0; std::getline(in, item, ','); ++index) {
    const size_t b = item.find_first_not_of(" \t\r\n");
    const size_t e = item.find_last_not_of(" \t\r\n");
    item = b == std::string::npos ? "" : item.substr(b, e - b + 1);
    if (item.empty()) return Error("token list element " + std::to_string(index) + " is empty");
    char* stop = nullptr;
    errno = 0;
    const long long v = std::strtoll(item.c_str(), &stop, 10);
    if (*stop != '\0' || errno != 0 || v < 0 || v > INT32_MAX) {
      return Error("token list element " + std::to_string(index) + " ('" + item + "') is not a token id");
    }
    ids.push_back(static_cast<int32_t>(v));
  }
  if (ids.empty()) return Error("the token list is empty");
  return ids;
}

std::string ReadAllStdin() {
  std::ostringstream ss;
  ss << std::cin.rdbuf();
  return ss.str();
}

}  // namespace bastion::cli
