// `bastion synth`: write a synthetic model with real Qwen2.5 shapes and weight-type mix.
//
//   bastion synth --preset qwen2.5-0.5b --type Q4_K_M -o FILE [--seed S]
#include <cstdio>
#include <memory>

#include "app/cli_common.h"
#include "synth/synth.h"

namespace bastion::cli {
namespace {

struct SynthArgs {
  std::string preset = "qwen2.5-0.5b";
  std::string type = "Q4_K_M";
  std::string output;
  uint64_t seed = 1;
  int threads = 0;
  bool quiet = false;
};

int RunSynth(const SynthArgs& a) {
  SynthOptions o;
  o.preset = a.preset;
  const auto type = ParseFileType(a.type);
  if (!type) return Fail("unknown --type '" + a.type + "' (known: " + FileTypeNames() + ")");
  o.file_type = *type;
  o.seed = a.seed;
  o.n_threads = a.threads;
  const Status st = WriteSyntheticModel(o, a.output, [&](const std::string& line) {
    if (!a.quiet) std::fprintf(stderr, "synth: %s\n", line.c_str());
  });
  if (!st.ok()) return Fail(st.error());
  if (!a.quiet) std::fprintf(stderr, "synth: wrote %s\n", a.output.c_str());
  return kExitOk;
}

}  // namespace

Command AddSynthCommand(CLI::App& root) {
  auto args = std::make_shared<SynthArgs>();
  CLI::App* app = root.add_subcommand("synth", "Write a random-weight model with real Qwen2.5 shapes (for benchmarks)");
  app->add_option("--preset", args->preset, "Model shape: " + SynthPresetNames() + " (default qwen2.5-0.5b)");
  app->add_option("--type", args->type, "Weight type mix: " + FileTypeNames() + " (default Q4_K_M)");
  app->add_option("-o,--output", args->output, "Output GGUF file")->required();
  app->add_option("--seed", args->seed, "Random seed (default 1)");
  app->add_option("-t,--threads", args->threads, "Threads (default: all cores)")->check(CLI::Range(0, 1024));
  app->add_flag("-q,--quiet", args->quiet, "No progress output");
  return {app, [args] { return RunSynth(*args); }};
}

}  // namespace bastion::cli
