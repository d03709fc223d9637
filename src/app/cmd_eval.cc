// `bastion eval`: logits for a token sequence, as raw float32 (what golden tests compare).
//
//   bastion eval -m FILE --tokens 1,2,3 -o OUT.f32 [--all]
// Writes n_vocab little-endian floats for the last position, or one row per position with --all
// (row i = the prediction after token i), row-major.
#include <cstdio>
#include <memory>

#include "app/cli_common.h"

namespace bastion::cli {
namespace {

struct EvalArgs {
  ModelOptions model;
  std::string tokens;
  std::string output;
  bool all = false;
};

int RunEval(const EvalArgs& a) {
  auto ids = ParseTokenList(a.tokens);
  if (!ids.ok()) return Fail(ids.error().WithContext("--tokens"));
  auto model = LoadModel(a.model.model_path, a.model.residency());
  if (!model.ok()) return Fail(model.error());
  auto options = a.model.ToContextOptions();
  if (!options.ok()) return Fail(options.error());
  // The context must hold the whole sequence.
  options->n_ctx = std::max<int>(options->n_ctx, static_cast<int>(ids->size()));
  if ((*model)->config().n_ctx_train > 0) options->n_ctx = std::min(options->n_ctx, (*model)->config().n_ctx_train);
  auto ctx = InferenceContext::Create(**model, *options);
  if (!ctx.ok()) return Fail(ctx.error());

  std::vector<float> logits;
  const Status st = (*ctx)->Evaluate(0, *ids, a.all ? LogitsMode::kAll : LogitsMode::kLast, &logits);
  if (!st.ok()) return Fail(st.error());

  std::FILE* f = std::fopen(a.output.c_str(), "wb");
  if (f == nullptr) return Fail("cannot open '" + a.output + "' for writing");
  const size_t written = std::fwrite(logits.data(), sizeof(float), logits.size(), f);
  if (std::fclose(f) != 0 || written != logits.size()) return Fail("writing '" + a.output + "' failed");
  return kExitOk;
}

}  // namespace

Command AddEvalCommand(CLI::App& root) {
  auto args = std::make_shared<EvalArgs>();
  CLI::App* app = root.add_subcommand("eval", "Write the logits of a token sequence as float32");
  args->model.Register(app);
  app->add_option("--tokens", args->tokens, "Comma-separated token ids")->required();
  app->add_option("-o,--output", args->output, "Output file (.f32)")->required();
  app->add_flag("--all", args->all, "Logits of every position, not just the last");
  return {app, [args] { return RunEval(*args); }};
}

}  // namespace bastion::cli
