// `bastion generate`: one prompt in, streamed text out.
//
//   bastion generate -m FILE -p TEXT [-n N] [--chat] [--temp T --top-k K --top-p P --min-p M --seed S]
//   bastion generate -m FILE --tokens 1,2,3 [--print-ids]
// --tokens feeds ids verbatim (no template, no BOS). --print-ids ends the output with the
// generated ids as a JSON array on a line of its own.
#include <cstdio>
#include <memory>

#include "app/cli_common.h"
#include "app/prompt.h"

namespace bastion::cli {
namespace {

struct GenerateArgs {
  ModelOptions model;
  SamplingOptions sampling;
  std::string prompt;
  std::string tokens;
  std::string system;
  bool chat = false;
  bool special = false;
  bool print_ids = false;
  bool ignore_eos = false;
  bool verbose = false;
};

std::string IdsJson(const std::vector<int32_t>& ids) {
  std::string s = "[";
  for (size_t i = 0; i < ids.size(); ++i) s += (i ? "," : "") + std::to_string(ids[i]);
  return s + "]";
}

int RunGenerate(const GenerateArgs& a) {
  auto model = LoadModel(a.model.model_path, a.model.residency());
  if (!model.ok()) return Fail(model.error());
  auto ctx_options = a.model.ToContextOptions();
  if (!ctx_options.ok()) return Fail(ctx_options.error());
  auto ctx = InferenceContext::Create(**model, *ctx_options);
  if (!ctx.ok()) return Fail(ctx.error());
  if (a.verbose) std::fprintf(stderr, "model: %s\n", (*model)->Describe().c_str());

  std::vector<int32_t> prompt;
  if (!a.tokens.empty()) {
    auto ids = ParseTokenList(a.tokens);
    if (!ids.ok()) return Fail(ids.error().WithContext("--tokens"));
    prompt = std::move(ids).value();
  } else {
    auto ids = BuildPrompt(**model, a.prompt, a.chat, a.system, a.special);
    if (!ids.ok()) return Fail(ids.error());
    prompt = std::move(ids).value();
  }

  GenerationParams params = a.sampling.ToParams();
  params.ignore_eos = a.ignore_eos;
  Generator generator(**ctx);
  bool ends_with_newline = true;
  auto result = generator.Generate(prompt, params, [&](std::string_view text) {
    std::fwrite(text.data(), 1, text.size(), stdout);
    std::fflush(stdout);
    ends_with_newline = text.back() == '\n';
    return true;
  });
  if (!result.ok()) return Fail(result.error());
  if (a.verbose) {
    const double new_tokens = result->n_prompt - result->n_reused;
    std::fprintf(stderr, "\nprompt: %d tokens in %.1f ms (%.1f t/s); generated %zu tokens in %.1f ms (%.1f t/s); finish: %s\n",
                 result->n_prompt, result->prompt_seconds * 1e3,
                 result->prompt_seconds > 0 ? new_tokens / result->prompt_seconds : 0.0, result->tokens.size(),
                 result->generate_seconds * 1e3,
                 result->generate_seconds > 0 ? static_cast<double>(result->tokens.size()) / result->generate_seconds : 0.0,
                 FinishReasonName(result->finish));
    std::fflush(stderr);
  }
  if (a.print_ids) {
    if (!ends_with_newline) std::fputc('\n', stdout);
    std::printf("%s\n", IdsJson(result->tokens).c_str());
  } else if (!ends_with_newline) {
    std::fputc('\n', stdout);
  }
  std::fflush(stdout);
  return kExitOk;
}

}  // namespace

Command AddGenerateCommand(CLI::App& root) {
  auto args = std::make_shared<GenerateArgs>();
  CLI::App* app = root.add_subcommand("generate", "Generate text from a prompt (streamed to stdout)");
  args->model.Register(app);
  args->sampling.Register(app);
  auto* p = app->add_option("-p,--prompt", args->prompt, "Prompt text");
  auto* t = app->add_option("--tokens", args->tokens, "Prompt as comma-separated token ids, used verbatim");
  p->excludes(t);
  app->add_flag("--chat", args->chat, "Wrap the prompt in the model's chat template as a user message");
  app->add_option("--system", args->system, "System message for --chat (default: Qwen's own)");
  app->add_flag("--special", args->special, "Parse special tokens such as <|im_start|> in the prompt text");
  app->add_flag("--print-ids", args->print_ids, "Print the generated token ids as a JSON array on the last line");
  app->add_flag("--ignore-eos", args->ignore_eos, "Keep generating past end-of-generation tokens");
  app->add_flag("-v,--verbose", args->verbose, "Print model information and timings to stderr");
  app->callback([app, p, t] {
    if (p->count() == 0 && t->count() == 0) throw CLI::RequiredError("-p/--prompt or --tokens");
    (void)app;
  });
  return {app, [args] { return RunGenerate(*args); }};
}

}  // namespace bastion::cli
