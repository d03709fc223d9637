// `bastion show`: what a GGUF file holds — architecture, hyperparameters, types, metadata.
//
//   bastion show -m FILE [--metadata] [--tensors]
#include <cstdio>
#include <map>
#include <memory>

#include "app/cli_common.h"

namespace bastion::cli {
namespace {

struct ShowArgs {
  ModelOptions model;
  bool metadata = false;
  bool tensors = false;
};

int RunShow(const ShowArgs& a) {
  auto model = LoadModel(a.model.model_path);
  if (!model.ok()) return Fail(model.error());
  const Model& m = **model;
  const ModelConfig& c = m.config();
  std::printf("model:        %s\n", m.path().c_str());
  if (!c.name.empty()) std::printf("name:         %s\n", c.name.c_str());
  std::printf("architecture: %s\n", c.architecture.c_str());
  std::printf("parameters:   %.1fM\n", static_cast<double>(m.ParameterCount()) / 1e6);
  std::printf("layers:       %d\n", c.n_layer);
  std::printf("embedding:    %d (heads %d, kv heads %d, head dim %d)\n", c.n_embd, c.n_head, c.n_head_kv, c.head_dim);
  std::printf("feed-forward: %d\n", c.n_ff);
  std::printf("vocabulary:   %d\n", c.n_vocab);
  std::printf("context:      %d\n", c.n_ctx_train);
  std::printf("rope theta:   %g\n", static_cast<double>(c.rope_freq_base));
  std::printf("tied output:  %s\n", c.tied_embeddings ? "yes" : "no");
  std::map<std::string, std::pair<int, size_t>> types;
  for (const GgufTensorInfo& t : m.gguf().tensors()) {
    auto& e = types[TypeName(t.type)];
    ++e.first;
    e.second += t.size_bytes;
  }
  std::printf("tensor types:");
  for (const auto& [name, e] : types) std::printf(" %s x%d (%.1f MiB)", name.c_str(), e.first, e.second / 1048576.0);
  std::printf("\n");
  std::printf("template:     %s\n", m.chat_template().empty() ? "(none; Qwen2.5 ChatML is used)" : "present");
  if (a.metadata) {
    std::printf("\nmetadata:\n");
    for (const std::string& key : m.gguf().keys()) {
      std::printf("  %s = %s\n", key.c_str(), m.gguf().DescribeValue(key, 120).c_str());
    }
  }
  if (a.tensors) {
    std::printf("\ntensors:\n");
    for (const GgufTensorInfo& t : m.gguf().tensors()) {
      std::string shape;
      for (size_t i = 0; i < t.shape.size(); ++i) shape += (i ? ", " : "") + std::to_string(t.shape[i]);
      std::printf("  %-32s %-6s [%s]\n", t.name.c_str(), TypeName(t.type), shape.c_str());
    }
  }
  return kExitOk;
}

}  // namespace

Command AddShowCommand(CLI::App& root) {
  auto args = std::make_shared<ShowArgs>();
  CLI::App* app = root.add_subcommand("show", "Describe a GGUF model file");
  args->model.Register(app, /*with_context=*/false);
  app->add_flag("--metadata", args->metadata, "List every metadata key");
  app->add_flag("--tensors", args->tensors, "List every tensor");
  return {app, [args] { return RunShow(*args); }};
}

}  // namespace bastion::cli
