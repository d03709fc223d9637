// bastion: entry point. Parses the command line and runs the selected subcommand.
#include <CLI/CLI.hpp>

#include <cstdio>
#include <vector>

#include "app/cli_common.h"
#include "app/serve_config.h"
#include "app/version.h"

int main(int argc, char** argv) {
  using namespace bastion::cli;
  CLI::App root{"bastion: serve Qwen2.5 models over HTTPS, with its own CPU inference engine.", "bastion"};
  root.require_subcommand(1);
  root.set_version_flag("--version", std::string("bastion ") + bastion::kVersion);

  std::vector<Command> commands = {
      AddGenerateCommand(root), AddEvalCommand(root),  AddTokenizeCommand(root), AddRunCommand(root),
      AddBenchCommand(root),    AddSynthCommand(root), AddShowCommand(root),     AddServeCommand(root),
      AddCertCommand(root),     AddKeysCommand(root),  AddPullCommand(root),     AddListCommand(root),
      AddRmCommand(root),       AddCpCommand(root),
  };

  RewriteLegacyServeFlags(argc, argv);
  try {
    root.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = root.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }
  for (const Command& c : commands) {
    if (c.app->parsed()) return c.run();
  }
  return kExitUsage;
}
