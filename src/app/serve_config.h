// ServeConfig: every setting of `bastion serve`, resolved from four sources with the precedence
//   command-line flag  >  BASTION_* environment variable  >  TOML config file  >  default.
// Each setting is declared once, in the table in serve_config.cc (name, flags, environment
// variable, TOML key, default, help, validation); the flags, the help text, the file reader and
// docs/CONFIG.md all follow that table. Every value from every source is validated the same way,
// and errors say where the bad value came from ("--port", "BASTION_PORT", "serve.toml:3:8").
//
// Use (cmd_serve.cc):
//   ServeFlags flags;
//   RegisterServeFlags(serve_app, &flags);
//   ... root.parse(argc, argv) ...
//   auto config = ResolveServeConfig(flags);   // error: print it, exit 2
//   http::Server::Create(config->ToServerOptions(), router) ...
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "base/result.h"
#include "http/limits.h"
#include "http/server.h"

namespace CLI {
class App;
}

namespace bastion::cli {

// What `bastion serve` serves when no model is given (pulled into the store on first use).
inline constexpr std::string_view kDefaultModel = "qwen2.5:0.5b";

inline constexpr std::string_view kLetsEncryptProduction = "https://acme-v02.api.letsencrypt.org/directory";
inline constexpr std::string_view kLetsEncryptStaging = "https://acme-staging-v02.api.letsencrypt.org/directory";

// Where a setting's value came from.
enum class SettingSource { kDefault, kFile, kEnv, kFlag };
std::string_view SettingSourceName(SettingSource source);  // "default", "config file", ...

struct ServeConfig {
  std::string config_path;  // the TOML file read, "" when none
  std::string host;
  uint16_t port = 0;
  std::string model_path;  // a regular file (checked); "" when the model is a store name
  std::string model_name;  // a store name to resolve (and pull if missing) when model_path is ""
  std::string alias;       // the name the model is served as; derived from the file name by default
  std::string state_dir;   // "~" expanded; not created here
  int parallel = 0;        // sequence slots
  int ctx_size = 0;        // tokens per slot
  int threads = 0;         // 0 = all cores
  std::string kv_type;     // "f16" or "f32"
  bool mmap = false;       // map the weights instead of reading them into memory (FileResidency)
  int max_queue = 0;       // requests waiting for a slot before new ones get 503
  int http_threads = 0;
  int shutdown_timeout_s = 0;
  http::ServerLimits limits;
  // The API layer's limits (api/routes.h ApiLimits; plain numbers here so this file does not
  // depend on the API library).
  int max_output_tokens = 0;      // most tokens one request may ask for
  int max_json_depth = 0;         // nesting of a request body
  int max_stream_duration_s = 0;  // a generation's lifetime from the request's arrival; 0 = none
  bool no_tls = false;     // plain HTTP on the main port

  // TLS. The certificate comes one of three ways (tls_mode()).
  std::string tls_cert, tls_key;  // files mode: PEM paths ("" = not given)
  std::string hsts;               // "auto", "off" or a header value (see HstsHeader)
  int http_port = -1;             // plain-HTTP redirect/HTTP-01 listener; -1 = none (80 with domains)
  std::vector<std::string> domains;  // acme mode: lower-case, sorted, unique
  std::string email;              // ACME account contact, "" = none
  std::string acme_ca;            // ACME directory URL ("staging" already expanded)
  std::string acme_ca_root;       // PEM trust root for the ACME server's HTTPS, "" = system roots
  std::vector<std::string> acme_challenges;  // "http-01", "tls-alpn-01": the types tried, in order
  int acme_retry_min_s = 60;      // first wait after a failed order (doubles up to a day)
  std::string user;               // drop root privileges to this user after binding, "" = don't

  // The guard (api/request_guard.h).
  bool insecure_no_auth = false;  // allow a non-loopback listener without any API key
  std::string rate;               // per client address, nginx syntax: "5r/s", "30r/m"
  int burst = 10;
  std::vector<std::string> trusted_proxies;  // CIDRs whose X-Forwarded-For / X-Real-IP are believed
  std::vector<std::string> cors_origins;     // exact origins allowed by CORS; empty = CORS off
  bool public_metrics = false;    // /metrics without the admin scope
  bool model_management = false;  // /api/pull, /api/delete, /api/copy (api/model_management.h)
  std::string access_log;         // path, "-" = stderr, "off"; "" = <state-dir>/logs/access.log
  std::string access_log_format;  // "combined" or "json"
  std::string error_log;          // path or "-" (stderr)
  std::string log_level;          // error log threshold: debug, info, notice, warn, error, crit
  // Is `host` a loopback address (127.0.0.0/8, ::1, localhost)?
  bool ListensOnLoopbackOnly() const;

  enum class TlsMode { kOff, kLocal, kFiles, kAcme };
  TlsMode tls_mode() const;
  // The Strict-Transport-Security value to send, "" for none: 'auto' is max-age=31536000 for
  // files and acme, none for the local CA (see serve_config.cc).
  std::string HstsHeader() const;

  // Setting name ("port") -> where its value came from, for the startup log.
  std::map<std::string, SettingSource> sources;

  // host, port, io_threads and limits for http::Server::Create (on_request_done left empty).
  http::ServerOptions ToServerOptions() const;
  std::chrono::milliseconds shutdown_timeout() const { return std::chrono::seconds(shutdown_timeout_s); }
};

// One row of the settings table, as shown in help and docs.
struct SettingInfo {
  std::string name;          // "port"
  std::string flags;         // "--port"
  std::string env;           // "BASTION_PORT"
  std::string toml_key;      // "port", "limits.max_body_bytes"; "" when the file cannot set it
  std::string default_text;  // "11434", "all cores"
  std::string help;
};
const std::vector<SettingInfo>& ServeSettings();

// The raw command-line values, filled by CLI11 while parsing (setting name -> text).
struct ServeFlags {
  std::map<std::string, std::string> given;
};

// Adds every setting as an option of `app` (help lists env var, config key and default for each)
// and a footer explaining the precedence. Values are only recorded here; validation happens in
// ResolveServeConfig, identically for every source.
void RegisterServeFlags(CLI::App* app, ServeFlags* flags);

// Environment lookup: nullptr when unset. Tests pass their own map.
using EnvLookup = std::function<const char*(const char* name)>;
const char* ProcessEnv(const char* name);

// Resolves every setting (flag > environment > file > default), reading the TOML file named by
// --config / BASTION_CONFIG. Errors: unknown key in the file (with line), wrong type (expected vs
// actual), out-of-range or malformed values (naming the source), no model, model not a file.
// An empty environment variable counts as unset.
Result<ServeConfig> ResolveServeConfig(const ServeFlags& flags, const EnvLookup& env = ProcessEnv);

// CLI11 cannot declare llama.cpp's multi-letter short flag "-np"; this rewrites it to "--np" in
// argv (call before parsing; leaves everything else alone).
void RewriteLegacyServeFlags(int argc, char** argv);

}  // namespace bastion::cli
