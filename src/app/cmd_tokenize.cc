// `bastion tokenize`: UTF-8 text on stdin -> JSON array of token ids on stdout.
//
//   bastion tokenize -m FILE [--special]
// --special parses special tokens such as <|im_start|> in the text (off by default).
#include <cstdio>
#include <memory>

#include "app/cli_common.h"

namespace bastion::cli {
namespace {

struct TokenizeArgs {
  ModelOptions model;
  bool special = false;
};

int RunTokenize(const TokenizeArgs& a) {
  auto model = LoadModel(a.model.model_path, FileResidency::kMapped);
  if (!model.ok()) return Fail(model.error());
  const std::string text = ReadAllStdin();
  const std::vector<int32_t> ids = (*model)->tokenizer().Encode(text, a.special);
  std::string out = "[";
  for (size_t i = 0; i < ids.size(); ++i) out += (i ? "," : "") + std::to_string(ids[i]);
  out += "]\n";
  std::fwrite(out.data(), 1, out.size(), stdout);
  return kExitOk;
}

}  // namespace

Command AddTokenizeCommand(CLI::App& root) {
  auto args = std::make_shared<TokenizeArgs>();
  CLI::App* app = root.add_subcommand("tokenize", "Tokenize UTF-8 text from stdin; prints a JSON array of ids");
  args->model.Register(app, /*with_context=*/false, /*with_mmap=*/false);
  app->add_flag("--special", args->special, "Parse special tokens (<|im_start|> ...) in the text");
  return {app, [args] { return RunTokenize(*args); }};
}

}  // namespace bastion::cli
