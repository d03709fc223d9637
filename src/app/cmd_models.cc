// The model store commands (store/model_store.h, store/pull.h):
//
//   bastion pull REF [--name NAME] [--sha256 HEX] [--ca-file PEM] [--state-dir DIR] [-q]
//   bastion list [--json] [--state-dir DIR]
//   bastion rm NAME... [--state-dir DIR]
//   bastion cp SOURCE DESTINATION [--state-dir DIR]
//
// `pull` draws its progress on stderr: a bar redrawn in place on a terminal, plain lines
// otherwise; the final "pulled ..." line goes to stdout. Ctrl-C stops it and keeps the partial
// download, which the next pull of the same model resumes. The hubs are HF_ENDPOINT and
// BASTION_OLLAMA_REGISTRY; extra trust roots come from --ca-file or BASTION_CA_FILE.
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "app/cli_common.h"
#include "app/version.h"
#include "store/model_store.h"
#include "store/progress_bar.h"
#include "store/pull.h"
#include "store/sha256.h"

namespace bastion::cli {
namespace {

const char* const kStateDirHelp = "State directory (default: $BASTION_HOME or ~/.bastion)";

std::atomic<bool> g_interrupted{false};

extern "C" void OnInterrupt(int) { g_interrupted.store(true); }

struct PullArgs {
  std::string reference;
  std::string name;
  std::string sha256;
  std::string ca_file;
  std::string state_dir;
  bool quiet = false;
};

}  // namespace

Result<store::Manifest> PullWithProgress(const std::string& state_dir, const std::string& reference,
                                         const PullCliOptions& a) {
  store::PullRequest request;
  request.reference = reference;
  request.name = a.name;
  request.sha256 = a.sha256;
  request.state_dir = state_dir;
  BASTION_ASSIGN_OR_RETURN(request.endpoints, store::SourceEndpoints::FromEnvironment());
  std::string ca_file = a.ca_file;
  if (ca_file.empty()) {
    const char* env = std::getenv("BASTION_CA_FILE");
    if (env != nullptr) ca_file = env;
  }
  if (!ca_file.empty()) {
    BASTION_ASSIGN_OR_RETURN(request.fetch.extra_roots, net::TrustRoots::LoadPemFile(ca_file));
  }
  request.fetch.user_agent = std::string("bastion/") + kVersion + " (model pull)";

  store::ProgressBar bar(stderr, ::isatty(STDERR_FILENO) != 0);
  if (!a.quiet) request.on_note = [&bar](const std::string& note) { bar.Note(note); };
  store::PullObserver observer;
  if (!a.quiet) {
    observer = [&bar](const store::PullEvent& e) {
      if (e.status.rfind("pulling ", 0) == 0 && e.status != "pulling manifest") {
        bar.Update(e.status, e.completed, e.total);
      } else {
        bar.Status(e.status);
      }
    };
  }

  // Ctrl-C cancels the transfer cleanly (the partial file stays for a resume).
  struct sigaction action {};
  action.sa_handler = OnInterrupt;
  sigemptyset(&action.sa_mask);
  struct sigaction old_int {}, old_term {};
  sigaction(SIGINT, &action, &old_int);
  sigaction(SIGTERM, &action, &old_term);
  auto manifest = store::Pull(request, observer, &g_interrupted);
  sigaction(SIGINT, &old_int, nullptr);
  sigaction(SIGTERM, &old_term, nullptr);
  bar.Finish();
  if (!manifest.ok() && g_interrupted.load()) {
    return Error("interrupted; the partial download is kept: run `bastion pull " + reference + "` again to resume");
  }
  return manifest;
}

namespace {

int RunPull(const PullArgs& a) {
  auto state = ResolveStateDir(a.state_dir);
  if (!state.ok()) return Fail(state.error());
  PullCliOptions options;
  options.name = a.name;
  options.sha256 = a.sha256;
  options.ca_file = a.ca_file;
  options.quiet = a.quiet;
  auto manifest = PullWithProgress(*state, a.reference, options);
  if (!manifest.ok()) return Fail(manifest.error());
  if (!a.quiet) {
    std::printf("pulled %s (%s, %s, %s, %s parameters)\n", manifest->name.c_str(), manifest->digest.substr(0, 19).c_str(),
                store::FormatBytes(manifest->size).c_str(), manifest->weight_type.c_str(),
                FormatCount(manifest->parameters).c_str());
  }
  return kExitOk;
}

std::string Ago(const std::string& rfc3339) {
  const auto t = store::ParseRfc3339(rfc3339);
  if (!t) return rfc3339.empty() ? "-" : rfc3339;
  const int64_t s = static_cast<int64_t>(std::time(nullptr)) - *t;
  auto unit = [](int64_t n, const char* what) {
    return std::to_string(n) + " " + what + (n == 1 ? "" : "s") + " ago";
  };
  if (s < 10) return "just now";
  if (s < 60) return unit(s, "second");
  if (s < 3600) return unit(s / 60, "minute");
  if (s < 86400) return unit(s / 3600, "hour");
  if (s < 86400 * 14) return unit(s / 86400, "day");
  if (s < 86400 * 60) return unit(s / (86400 * 7), "week");
  if (s < 86400 * 730) return unit(s / (86400 * 30), "month");
  return unit(s / (86400 * 365), "year");
}

struct ListArgs {
  std::string state_dir;
  bool json = false;
};

int RunList(const ListArgs& a) {
  auto state = ResolveStateDir(a.state_dir);
  if (!state.ok()) return Fail(state.error());
  store::ModelStore models(*state);
  std::vector<std::string> problems;
  const std::vector<store::Manifest> list = models.List(&problems);
  for (const std::string& p : problems) std::fprintf(stderr, "bastion: warning: skipping %s\n", p.c_str());
  if (a.json) {
    nlohmann::ordered_json out = nlohmann::ordered_json::array();
    for (const store::Manifest& m : list) out.push_back(nlohmann::ordered_json::parse(store::SerializeManifest(m)));
    std::printf("%s\n", out.dump(2).c_str());
    return kExitOk;
  }
  std::vector<std::vector<std::string>> rows = {{"NAME", "ID", "TYPE", "SIZE", "MODIFIED"}};
  for (const store::Manifest& m : list) {
    rows.push_back({m.name, m.DigestHex().substr(0, 12), m.weight_type, store::FormatBytes(m.size), Ago(m.added)});
  }
  std::vector<size_t> width(5, 0);
  for (const auto& r : rows) {
    for (size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
  }
  for (const auto& r : rows) {
    std::string line;
    for (size_t i = 0; i < r.size(); ++i) line += r[i] + (i + 1 < r.size() ? std::string(width[i] - r[i].size() + 3, ' ') : "");
    std::printf("%s\n", line.c_str());
  }
  return kExitOk;
}

struct RmArgs {
  std::vector<std::string> names;
  std::string state_dir;
};

int RunRm(const RmArgs& a) {
  auto state = ResolveStateDir(a.state_dir);
  if (!state.ok()) return Fail(state.error());
  store::ModelStore models(*state);
  int code = kExitOk;
  for (const std::string& name : a.names) {
    auto removed = models.Remove(name);
    if (!removed.ok()) {
      code = Fail(removed.error());
    } else if (!*removed) {
      code = Fail("model '" + name + "' not found (see `bastion list`)");
    } else {
      std::printf("deleted '%s'\n", name.c_str());
    }
  }
  return code;
}

struct CpArgs {
  std::string source, destination, state_dir;
};

int RunCp(const CpArgs& a) {
  auto state = ResolveStateDir(a.state_dir);
  if (!state.ok()) return Fail(state.error());
  const Status st = store::ModelStore(*state).Copy(a.source, a.destination);
  if (!st.ok()) return Fail(st.error());
  std::printf("copied '%s' to '%s'\n", a.source.c_str(), a.destination.c_str());
  return kExitOk;
}

}  // namespace

std::string FormatCount(int64_t n) {
  char buf[32];
  if (n >= 1000000000) {
    std::snprintf(buf, sizeof buf, "%.1fB", static_cast<double>(n) / 1e9);
  } else if (n >= 1000000) {
    std::snprintf(buf, sizeof buf, "%.0fM", static_cast<double>(n) / 1e6);
  } else {
    std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(n));
  }
  return buf;
}

Command AddPullCommand(CLI::App& root) {
  auto args = std::make_shared<PullArgs>();
  CLI::App* app = root.add_subcommand("pull", "Download a model into the store (Hugging Face, Ollama registry or URL)");
  app->add_option("reference", args->reference,
                  "qwen2.5:0.5b, qwen2.5:1.5b-instruct-q8_0, hf.co/OWNER/REPO[:QUANT], hf.co/OWNER/REPO/FILE.gguf, "
                  "ollama://NAME[:TAG] or https://.../FILE.gguf")
      ->required();
  app->add_option("--name", args->name, "Name in the store (default: from the reference)");
  app->add_option("--sha256", args->sha256, "Expected SHA-256 of the file (required for plain http:// URLs)");
  app->add_option("--ca-file", args->ca_file, "PEM file of extra trusted CA roots (default: $BASTION_CA_FILE)");
  app->add_option("--state-dir", args->state_dir, kStateDirHelp);
  app->add_flag("-q,--quiet", args->quiet, "No progress output");
  return {app, [args] { return RunPull(*args); }};
}

Command AddListCommand(CLI::App& root) {
  auto args = std::make_shared<ListArgs>();
  CLI::App* app = root.add_subcommand("list", "List the models in the store");
  app->alias("ls");
  app->add_flag("--json", args->json, "Print the manifests as a JSON array");
  app->add_option("--state-dir", args->state_dir, kStateDirHelp);
  return {app, [args] { return RunList(*args); }};
}

Command AddRmCommand(CLI::App& root) {
  auto args = std::make_shared<RmArgs>();
  CLI::App* app = root.add_subcommand("rm", "Remove models from the store (a blob goes with its last name)");
  app->add_option("names", args->names, "Model names (see `bastion list`)")->required();
  app->add_option("--state-dir", args->state_dir, kStateDirHelp);
  return {app, [args] { return RunRm(*args); }};
}

Command AddCpCommand(CLI::App& root) {
  auto args = std::make_shared<CpArgs>();
  CLI::App* app = root.add_subcommand("cp", "Give a model in the store another name (same file)");
  app->add_option("source", args->source, "Existing model name")->required();
  app->add_option("destination", args->destination, "New name")->required();
  app->add_option("--state-dir", args->state_dir, kStateDirHelp);
  return {app, [args] { return RunCp(*args); }};
}

}  // namespace bastion::cli
