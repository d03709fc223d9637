// Pieces shared by the subcommands: option groups (model/context, sampling), parsing helpers,
// and error reporting. Every subcommand returns a process exit code: 0 success, 1 runtime
// failure (bad model file, I/O), 2 bad usage (flags) — the last one mostly from CLI11 itself.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "model/context.h"
#include "model/generator.h"
#include "model/model.h"
#include "store/model_store.h"

namespace bastion::cli {

constexpr int kExitOk = 0;
constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

// Registered subcommands: main() runs the one that was selected.
struct Command {
  CLI::App* app;
  std::function<int()> run;
};

// Prints "bastion: error: <message>" to stderr and returns kExitFailure.
int Fail(const std::string& message);
int Fail(const Error& error);

// Options to load a model and create a context: -m, -t, -c, --kv-type.
struct ModelOptions {
  std::string model_path;
  int threads = 0;
  int ctx_size = 4096;
  std::string kv_type = "f16";
  int ubatch = 512;
  bool mmap = false;  // --mmap: map the weights instead of reading them into memory

  // with_mmap = false for commands that never read the weights (tokenize).
  void Register(CLI::App* app, bool with_context = true, bool with_mmap = true);
  FileResidency residency() const { return mmap ? FileResidency::kMapped : FileResidency::kInMemory; }
  Result<ContextOptions> ToContextOptions() const;
};

// Loads the model (printing nothing on success): `path` is a GGUF file, or else the name of a model
// in the default state directory's store (`bastion pull`). Commands that run the model want its
// weights kInMemory (base/mapped_file.h says why); those that only read metadata kMapped.
Result<std::unique_ptr<Model>> LoadModel(const std::string& path, FileResidency residency);

// Sampling flags shared by generate and run.
struct SamplingOptions {
  float temperature = 0.8f;
  int top_k = 40;
  float top_p = 0.95f;
  float min_p = 0.05f;
  float repeat_penalty = 1.0f;
  int repeat_last_n = 64;
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  int64_t seed = -1;  // -1: random
  int max_tokens = 256;
  std::vector<std::string> stop;

  void Register(CLI::App* app);
  GenerationParams ToParams() const;
};

// Parses "1,2,3" (spaces allowed) into token ids; errors name the bad element.
Result<std::vector<int32_t>> ParseTokenList(const std::string& text);

// A parameter count for people: "494M", "7.6B".
std::string FormatCount(int64_t n);

// A pull with the command line's progress display on stderr (a bar on a terminal, plain lines
// otherwise); SIGINT/SIGTERM cancel it and keep the partial file for a resume. Used by
// `bastion pull` and by `bastion serve` for a model that is not in the store yet.
struct PullCliOptions {
  std::string name;     // store name; "" = the reference's own
  std::string sha256;   // expected digest; "" = the source's
  std::string ca_file;  // extra trust roots; "" = $BASTION_CA_FILE or none
  bool quiet = false;
};
Result<store::Manifest> PullWithProgress(const std::string& state_dir, const std::string& reference,
                                         const PullCliOptions& options);

// Reads all of stdin.
std::string ReadAllStdin();

// The state directory for `cert` and `keys`: the same default as `serve` (--state-dir >
// BASTION_HOME > ~/.bastion), "~" expanded, trailing '/' removed.
Result<std::string> ResolveStateDir(const std::string& flag);

// Subcommand registration (each in its own file).
Command AddGenerateCommand(CLI::App& root);
Command AddEvalCommand(CLI::App& root);
Command AddTokenizeCommand(CLI::App& root);
Command AddRunCommand(CLI::App& root);
Command AddBenchCommand(CLI::App& root);
Command AddSynthCommand(CLI::App& root);
Command AddShowCommand(CLI::App& root);
Command AddServeCommand(CLI::App& root);
Command AddCertCommand(CLI::App& root);  // cmd_cert.cc: `bastion cert status|renew`
Command AddKeysCommand(CLI::App& root);  // cmd_keys.cc: `bastion keys create|list|revoke`
// cmd_models.cc: the model store.
Command AddPullCommand(CLI::App& root);  // `bastion pull REF`
Command AddListCommand(CLI::App& root);  // `bastion list`
Command AddRmCommand(CLI::App& root);    // `bastion rm NAME...`
Command AddCpCommand(CLI::App& root);    // `bastion cp SOURCE DESTINATION`

}  // namespace bastion::cli
