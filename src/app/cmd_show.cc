// `bastion show`: what a GGUF file holds — architecture, hyperparameters, quantization, context,
// template, metadata — and for a model in the store also its name, source, digest and date.
//
//   bastion show NAME [--state-dir DIR] [--metadata] [--tensors]
//   bastion show -m FILE|NAME [--metadata] [--tensors]
#include <cstdio>
#include <map>
#include <memory>

#include "app/cli_common.h"
#include "store/model_store.h"
#include "store/pull.h"

namespace bastion::cli {
namespace {

struct ShowArgs {
  std::string model_path;  // -m
  std::string name;        // positional
  std::string state_dir;
  bool metadata = false;
  bool tensors = false;
};

int RunShow(const ShowArgs& a) {
  if (a.model_path.empty() == a.name.empty()) return Fail("give a model name or -m FILE (one of them)");
  auto state = ResolveStateDir(a.state_dir);
  const std::string& argument = a.name.empty() ? a.model_path : a.name;
  auto location = state.ok() ? store::ResolveModelArgument(*state, argument) : Result<store::ModelLocation>(state.error());
  if (!location.ok()) return Fail(location.error());
  auto model = Model::Load(location->path);
  if (!model.ok()) return Fail(model.error());
  const Model& m = **model;
  const ModelConfig& c = m.config();
  if (location->manifest) {
    const store::Manifest& mf = *location->manifest;
    std::printf("name:         %s\n", mf.name.c_str());
    std::printf("source:       %s\n", mf.source.c_str());
    std::printf("digest:       %s\n", mf.digest.c_str());
    std::printf("size:         %llu bytes\n", static_cast<unsigned long long>(mf.size));
    std::printf("added:        %s\n", mf.added.c_str());
  }
  std::printf("model:        %s\n", m.path().c_str());
  if (!c.name.empty()) std::printf("general.name: %s\n", c.name.c_str());
  std::printf("architecture: %s\n", c.architecture.c_str());
  std::printf("parameters:   %.1fM\n", static_cast<double>(m.ParameterCount()) / 1e6);
  std::printf("quantization: %s\n", store::WeightTypeName(m).c_str());
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
  CLI::App* app = root.add_subcommand("show", "Describe a model in the store or a GGUF file");
  app->add_option("name", args->name, "Name of a pulled model (bastion list)");
  app->add_option("-m,--model", args->model_path, "GGUF model file (or a pulled model's name)");
  app->add_option("--state-dir", args->state_dir, "State directory (default: $BASTION_HOME or ~/.bastion)");
  app->add_flag("--metadata", args->metadata, "List every metadata key");
  app->add_flag("--tensors", args->tensors, "List every tensor");
  return {app, [args] { return RunShow(*args); }};
}

}  // namespace bastion::cli
