// `bastion run`: an interactive, multi-turn chat in the terminal, streamed.
//
//   bastion run -m FILE [--system TEXT] [sampling flags]
// Each turn re-renders the whole conversation with the chat template; the KV cache keeps the
// shared prefix, so only the new turn is evaluated. Ctrl-C stops a reply; Ctrl-D or /bye exits.
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <iostream>
#include <memory>

#include "app/cli_common.h"
#include "app/prompt.h"

namespace bastion::cli {
namespace {

std::atomic<bool> g_interrupted{false};

void OnSigint(int) { g_interrupted.store(true); }

struct RunArgs {
  ModelOptions model;
  SamplingOptions sampling;
  std::string system;
};

void PrintHelp() {
  std::printf(
      "Commands:\n"
      "  /clear   start a new conversation\n"
      "  /bye     exit (also /exit, Ctrl-D)\n"
      "  /help    this text\n"
      "Ctrl-C stops the current reply.\n");
}

int RunChat(const RunArgs& a) {
  auto model = LoadModel(a.model.model_path, a.model.residency());
  if (!model.ok()) return Fail(model.error());
  auto options = a.model.ToContextOptions();
  if (!options.ok()) return Fail(options.error());
  auto ctx = InferenceContext::Create(**model, *options);
  if (!ctx.ok()) return Fail(ctx.error());

  const bool tty = ::isatty(STDIN_FILENO) != 0;
  if (tty) {
    std::printf("bastion: %s\n", (*model)->Describe().c_str());
    std::printf("Type a message and press Enter; /help for commands.\n");
  }
  struct sigaction sa {};
  sa.sa_handler = OnSigint;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, nullptr);

  GenerationParams params = a.sampling.ToParams();
  // A chat reply ends at <|im_end|>; cap it only if the user asked (-n), else the context decides.
  Generator generator(**ctx);
  std::vector<ChatMessage> messages;
  if (!a.system.empty()) messages.push_back({"system", a.system, nullptr, ""});

  std::string line;
  for (;;) {
    if (tty) {
      std::printf(">>> ");
      std::fflush(stdout);
    }
    g_interrupted.store(false);
    if (!std::getline(std::cin, line)) {
      if (tty) std::printf("\n");
      break;
    }
    if (line.empty()) continue;
    if (line == "/bye" || line == "/exit" || line == "/quit") break;
    if (line == "/help" || line == "/?") {
      PrintHelp();
      continue;
    }
    if (line == "/clear") {
      messages.resize(a.system.empty() ? 0 : 1);
      generator.Reset();
      if (tty) std::printf("Cleared.\n");
      continue;
    }
    if (line[0] == '/') {
      std::printf("Unknown command '%s'; /help lists them.\n", line.c_str());
      continue;
    }
    messages.push_back({"user", line, nullptr, ""});
    auto prompt = BuildChatPrompt(**model, messages);
    if (!prompt.ok()) return Fail(prompt.error());
    auto result = generator.Generate(*prompt, params, [&](std::string_view text) {
      std::fwrite(text.data(), 1, text.size(), stdout);
      std::fflush(stdout);
      return !g_interrupted.load();
    });
    if (!result.ok()) {
      // Typically a full context: say so and start over rather than exit.
      std::fprintf(stderr, "\nbastion: %s\n", result.error().message().c_str());
      messages.resize(a.system.empty() ? 0 : 1);
      generator.Reset();
      continue;
    }
    std::printf("\n");
    if (tty) std::printf("\n");
    messages.push_back({"assistant", result->text, nullptr, ""});
  }
  return kExitOk;
}

}  // namespace

Command AddRunCommand(CLI::App& root) {
  auto args = std::make_shared<RunArgs>();
  CLI::App* app = root.add_subcommand("run", "Chat with a model in the terminal");
  args->model.Register(app);
  args->sampling.Register(app);
  args->sampling.max_tokens = -1;
  app->add_option("--system", args->system, "System message (default: the model's own)");
  return {app, [args] { return RunChat(*args); }};
}

}  // namespace bastion::cli
