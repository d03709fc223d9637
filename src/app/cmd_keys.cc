// `bastion keys`: the API keys in the state directory (keys/key_store.h).
//
//   bastion keys create --name NAME [--scope inference|admin] [--rate R/s] [--burst B]
//                       [--max-concurrent N] [--expires DATE] [--state-dir DIR]
//   bastion keys list [--json] [--state-dir DIR]
//   bastion keys revoke NAME [--state-dir DIR]
//
// `create` prints the secret alone on stdout (so `KEY=$(bastion keys create --name ci)` works) and
// the description and the "shown only once" note on stderr. A running `bastion serve` on the same
// state directory picks up every change within about a second, without a restart.
#include <cinttypes>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "app/cli_common.h"
#include "keys/key_store.h"

namespace bastion::cli {
namespace {

struct KeysArgs {
  std::string state_dir;
  // create
  std::string name;
  std::string scope = "inference";
  std::string rate;
  int64_t burst = 0;
  int64_t max_concurrent = 0;
  std::string expires;
  CLI::Option* burst_opt = nullptr;
  CLI::Option* max_concurrent_opt = nullptr;
  // list
  bool json = false;
  // revoke
  std::string revoke_name;
};

std::string Limits(const keys::KeyInfo& k) {
  std::string out;
  char buf[64];
  if (k.rate) {
    std::snprintf(buf, sizeof buf, "%g r/s", *k.rate);
    out += buf;
  }
  if (k.burst) {
    std::snprintf(buf, sizeof buf, "%sburst %" PRId64, out.empty() ? "" : ", ", *k.burst);
    out += buf;
  }
  if (k.max_concurrent) {
    std::snprintf(buf, sizeof buf, "%s%" PRId64 " concurrent", out.empty() ? "" : ", ", *k.max_concurrent);
    out += buf;
  }
  return out.empty() ? "default" : out;
}

int RunCreate(const KeysArgs& a) {
  auto state = ResolveStateDir(a.state_dir);
  if (!state.ok()) return Fail(state.error());
  keys::KeySpec spec;
  spec.name = a.name;
  const auto scope = keys::ParseScope(a.scope);
  if (!scope) return Fail("--scope: expected 'inference' or 'admin', found '" + a.scope + "'");
  spec.scope = *scope;
  if (!a.rate.empty()) {
    auto rate = keys::ParseRate(a.rate);
    if (!rate.ok()) return Fail(rate.error().WithContext("--rate"));
    spec.rate = *rate;
  }
  if (a.burst_opt->count() > 0) spec.burst = a.burst;
  if (a.max_concurrent_opt->count() > 0) spec.max_concurrent = a.max_concurrent;
  if (!a.expires.empty()) {
    auto t = keys::ParseTime(a.expires);
    if (!t.ok()) return Fail(t.error().WithContext("--expires"));
    spec.expires = *t;
  }
  auto created = keys::CreateKey(*state, spec, std::chrono::system_clock::now());
  if (!created.ok()) return Fail(created.error());
  const keys::KeyInfo& k = created->info;
  std::printf("%s\n", created->secret.c_str());
  std::fflush(stdout);
  std::fprintf(stderr, "created key '%s' (%s): scope %s, limits %s, %s\n", k.name.c_str(), k.prefix.c_str(),
               keys::ScopeName(k.scope), Limits(k).c_str(),
               k.expires ? ("expires " + keys::FormatTime(*k.expires)).c_str() : "never expires");
  std::fprintf(stderr,
               "stored (hashed) in %s\n"
               "this is the only time the key is shown: it cannot be recovered, only revoked and replaced\n"
               "clients send it as 'Authorization: Bearer <key>' or 'X-Api-Key: <key>'\n",
               keys::KeysFilePath(*state).c_str());
  return kExitOk;
}

int RunList(const KeysArgs& a) {
  auto state = ResolveStateDir(a.state_dir);
  if (!state.ok()) return Fail(state.error());
  auto list = keys::ListKeys(*state);
  if (!list.ok()) return Fail(list.error());
  const keys::TimePoint now = std::chrono::system_clock::now();
  if (a.json) {
    nlohmann::ordered_json out = nlohmann::ordered_json::array();
    for (const keys::KeyInfo& k : *list) {
      nlohmann::ordered_json j;
      j["name"] = k.name;
      j["id"] = k.prefix;
      j["scope"] = keys::ScopeName(k.scope);
      j["rate"] = k.rate ? nlohmann::ordered_json(*k.rate) : nullptr;
      j["burst"] = k.burst ? nlohmann::ordered_json(*k.burst) : nullptr;
      j["max_concurrent"] = k.max_concurrent ? nlohmann::ordered_json(*k.max_concurrent) : nullptr;
      j["created"] = keys::FormatTime(k.created);
      j["expires"] = k.expires ? nlohmann::ordered_json(keys::FormatTime(*k.expires)) : nullptr;
      j["expired"] = k.ExpiredAt(now);
      out.push_back(std::move(j));
    }
    std::printf("%s\n", out.dump(2).c_str());
    return kExitOk;
  }
  if (list->empty()) {
    std::printf("no API keys in %s\n", keys::KeysFilePath(*state).c_str());
    return kExitOk;
  }
  // A plain table; widths from the content so long names still line up.
  struct Row {
    std::string cells[7];
  };
  std::vector<Row> rows;
  rows.push_back({{"NAME", "ID", "SCOPE", "LIMITS", "CREATED", "EXPIRES", ""}});
  for (const keys::KeyInfo& k : *list) {
    rows.push_back({{k.name, k.prefix, keys::ScopeName(k.scope), Limits(k), keys::FormatTime(k.created),
                     k.expires ? keys::FormatTime(*k.expires) : "never", k.ExpiredAt(now) ? "EXPIRED" : ""}});
  }
  size_t width[7] = {};
  for (const Row& r : rows) {
    for (int i = 0; i < 7; ++i) width[i] = std::max(width[i], r.cells[i].size());
  }
  for (const Row& r : rows) {
    std::string line;
    for (int i = 0; i < 7; ++i) {
      line += r.cells[i];
      if (i < 6) line += std::string(width[i] - r.cells[i].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    std::printf("%s\n", line.c_str());
  }
  return kExitOk;
}

int RunRevoke(const KeysArgs& a) {
  auto state = ResolveStateDir(a.state_dir);
  if (!state.ok()) return Fail(state.error());
  auto removed = keys::RevokeKey(*state, a.revoke_name);
  if (!removed.ok()) return Fail(removed.error());
  if (!*removed) return Fail("no key named '" + a.revoke_name + "' in " + keys::KeysFilePath(*state) + " (see `bastion keys list`)");
  std::printf("revoked key '%s'; a running server stops accepting it within a second\n", a.revoke_name.c_str());
  return kExitOk;
}

}  // namespace

Command AddKeysCommand(CLI::App& root) {
  auto args = std::make_shared<KeysArgs>();
  CLI::App* app = root.add_subcommand("keys", "Create, list and revoke the API keys in the state directory");
  app->require_subcommand(1);
  const char* const kStateDirHelp = "State directory (default: $BASTION_HOME or ~/.bastion)";

  CLI::App* create = app->add_subcommand("create", "Create a key and print it (once: only its hash is stored)");
  create->add_option("--name", args->name, "Unique name: 1..64 of A-Z a-z 0-9 . _ -")->required();
  create->add_option("--scope", args->scope, "inference (default) or admin (model management, /metrics; implies inference)")
      ->check(CLI::IsMember({"inference", "admin"}));
  create->add_option("--rate", args->rate, "Per-key request rate: 5, 0.5, 5/s, 5r/s or 30r/m (default: the server's)");
  args->burst_opt = create->add_option("--burst", args->burst, "Requests allowed above the rate at once (needs --rate)")
                        ->check(CLI::Range(int64_t{0}, int64_t{1'000'000'000}));
  args->max_concurrent_opt =
      create->add_option("--max-concurrent", args->max_concurrent, "Most generations this key may run at once")
          ->check(CLI::Range(int64_t{1}, int64_t{1'000'000}));
  create->add_option("--expires", args->expires, "Expiry: YYYY-MM-DD (00:00 UTC) or RFC 3339 (2027-01-31T12:00:00Z)");
  create->add_option("--state-dir", args->state_dir, kStateDirHelp);

  CLI::App* list = app->add_subcommand("list", "Show the keys (never the secrets): name, id, scope, limits, dates");
  list->add_flag("--json", args->json, "Print a JSON array");
  list->add_option("--state-dir", args->state_dir, kStateDirHelp);

  CLI::App* revoke = app->add_subcommand("revoke", "Remove a key; a running server refuses it within a second");
  revoke->add_option("name", args->revoke_name, "Name of the key")->required();
  revoke->add_option("--state-dir", args->state_dir, kStateDirHelp);

  return {app, [args, create, list, revoke]() {
            if (create->parsed()) return RunCreate(*args);
            if (list->parsed()) return RunList(*args);
            if (revoke->parsed()) return RunRevoke(*args);
            return kExitUsage;
          }};
}

}  // namespace bastion::cli
