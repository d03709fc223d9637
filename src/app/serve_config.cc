// The settings table of `bastion serve` and its resolution from flags, BASTION_* environment
// variables, the TOML config file and defaults (see serve_config.h). toml++ (header-only) is
// compiled in this file and nowhere else.
#include "app/serve_config.h"

#include <CLI/CLI.hpp>
#include <toml++/toml.h>

#include <pwd.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <sstream>

#include "api/api_limits.h"
#include "base/check.h"
#include "policy/cors.h"
#include "policy/rate_limiter.h"
#include "policy/trusted_proxies.h"
#include "tls/x509_issue.h"

namespace bastion::cli {
namespace {

namespace fs = std::filesystem;

enum class Kind {
  kString,   // non-empty, no spaces or control characters; optionally one of `choices`
  kPath,     // "~" expanded; relative paths in the config file are relative to the file
  kInt,      // decimal integer in [min, max]
  kSeconds,  // like kInt, in seconds
  kBytes,    // integer with an optional KiB/MiB/GiB (or K/M/G) suffix, in [min, max]
  kBool,     // true/false (also 1/0, yes/no, on/off); a flag without a value
  kText,     // non-empty, spaces allowed, no control characters
  kList,     // comma-separated (flag repeatable; TOML array of strings); items trimmed, non-empty
};

struct Value {
  std::string text;
  std::string raw;  // the text as given, before a kPath's "~" and config-relative resolution
  int64_t number = 0;
  bool flag = false;
  std::vector<std::string> list;  // kList
};

struct Setting {
  SettingInfo info;
  Kind kind = Kind::kString;
  int64_t min = 0;
  int64_t max = 0;
  std::vector<std::string> choices;
  std::string default_value;  // parsed like any input; "" = no default
  void (*apply)(ServeConfig&, const Value&) = nullptr;
  // Extra validation after the kind's own, which may also normalize the value.
  Status (*check)(Value&) = nullptr;
};

constexpr int64_t kKiB = 1024;
constexpr int64_t kMiB = 1024 * kKiB;
constexpr int64_t kGiB = 1024 * kMiB;

std::string Seconds(std::chrono::milliseconds ms) {
  return std::to_string(std::chrono::duration_cast<std::chrono::seconds>(ms).count());
}

std::string BytesText(int64_t n) {
  if (n % kGiB == 0) return std::to_string(n / kGiB) + "GiB";
  if (n % kMiB == 0) return std::to_string(n / kMiB) + "MiB";
  if (n % kKiB == 0) return std::to_string(n / kKiB) + "KiB";
  return std::to_string(n);
}

std::chrono::milliseconds ToMs(const Value& v) { return std::chrono::seconds(v.number); }

std::string Lower(std::string_view s);

Status CheckHsts(Value& v) {
  const std::string t = Lower(v.text);
  if (t == "auto" || t == "off") {
    v.text = t;
    return OkStatus();
  }
  if (t.rfind("max-age=", 0) != 0) {
    return Error("expected 'auto', 'off' or a header value starting with max-age=, got '" + v.text + "'");
  }
  return OkStatus();
}

Status CheckDomains(Value& v) {
  for (std::string& d : v.list) {
    d = Lower(d);
    if (!d.empty() && d.back() == '.') d.pop_back();
    if (d.rfind("*.", 0) == 0) {
      return Error("wildcard domain '" + d + "' needs the DNS-01 challenge, which bastion does not do; list the names");
    }
    if (tls::IsIpLiteral(d)) return Error("'" + d + "' is an IP address; --domain takes DNS names");
    if (!tls::IsValidDnsName(d) || d.find('.') == std::string::npos) {
      return Error("'" + d + "' is not a public DNS name (labels of letters, digits and '-', at least one dot)");
    }
  }
  std::sort(v.list.begin(), v.list.end());
  v.list.erase(std::unique(v.list.begin(), v.list.end()), v.list.end());
  return OkStatus();
}

Status CheckEmail(Value& v) {
  const size_t at = v.text.find('@');
  if (at == std::string::npos || at == 0 || at + 1 >= v.text.size() || v.text.find('@', at + 1) != std::string::npos ||
      v.text.find(',') != std::string::npos) {
    return Error("expected one e-mail address such as admin@example.com, got '" + v.text + "'");
  }
  return OkStatus();
}

Status CheckAcmeCa(Value& v) {
  const std::string t = Lower(v.text);
  if (t == "staging") v.text = std::string(kLetsEncryptStaging);
  else if (t == "production" || t == "letsencrypt") v.text = std::string(kLetsEncryptProduction);
  if (v.text.rfind("https://", 0) != 0 || v.text.size() <= 8) {
    return Error("expected an https:// ACME directory URL or 'staging', got '" + v.text + "'");
  }
  return OkStatus();
}

// ACME challenge types, in the order to try them; each at most once.
Status CheckChallenges(Value& v) {
  std::vector<std::string> seen;
  for (std::string& t : v.list) {
    t = Lower(t);
    if (t != "http-01" && t != "tls-alpn-01") {
      return Error("expected http-01 or tls-alpn-01 (dns-01 is not supported), got '" + t + "'");
    }
    if (std::find(seen.begin(), seen.end(), t) != seen.end()) return Error("'" + t + "' is listed twice");
    seen.push_back(t);
  }
  return OkStatus();
}

Status CheckRate(Value& v) {
  BASTION_RETURN_IF_ERROR(policy::ParseRateLimit(v.text, 0));
  return OkStatus();
}

Status CheckProxies(Value& v) {
  std::string joined;
  for (const std::string& p : v.list) joined += (joined.empty() ? "" : ",") + p;
  BASTION_RETURN_IF_ERROR(policy::TrustedProxies::Parse(joined));
  return OkStatus();
}

Status CheckOrigins(Value& v) {
  policy::CorsOptions o;
  o.allowed_origins = v.list;
  BASTION_RETURN_IF_ERROR(policy::CorsPolicy::Create(o));
  return OkStatus();
}

// The one declaration of every setting. Order = order in --help and docs/CONFIG.md.
const std::vector<Setting>& Table() {
  static const std::vector<Setting> table = [] {
    std::vector<Setting> t;
    const auto add = [&t](SettingInfo info, Kind kind, int64_t min, int64_t max, std::string default_value,
                          void (*apply)(ServeConfig&, const Value&), std::vector<std::string> choices = {},
                          Status (*check)(Value&) = nullptr) {
      if (info.default_text.empty()) info.default_text = default_value;
      t.push_back(Setting{std::move(info), kind, min, max, std::move(choices), std::move(default_value), apply, check});
    };
    // clang-format off
    add({"config", "--config", "BASTION_CONFIG", "", "none",
         "TOML file with more settings; flags and environment variables override it"},
        Kind::kPath, 0, 0, "", [](ServeConfig& c, const Value& v) { c.config_path = v.text; });
    add({"host", "--host", "BASTION_HOST", "host", "",
         "Address to listen on: 127.0.0.1 (this machine only), 0.0.0.0 or :: (every interface)"},
        Kind::kString, 0, 0, "127.0.0.1", [](ServeConfig& c, const Value& v) { c.host = v.text; });
    add({"port", "--port", "BASTION_PORT", "port", "",
         "TCP port; 11434 is Ollama's, so Ollama clients work unchanged (0 = any free port)"},
        Kind::kInt, 0, 65535, "11434",
        [](ServeConfig& c, const Value& v) { c.port = static_cast<uint16_t>(v.number); });
    add({"model", "-m,--model", "BASTION_MODEL", "model", std::string(kDefaultModel) + " (pulled on first use)",
         "GGUF model file, or a model in the store by name (bastion pull NAME / bastion list)"},
        Kind::kPath, 0, 0, "", [](ServeConfig& c, const Value& v) {
          c.model_path = v.text;
          c.model_name = v.raw;
        });
    add({"alias", "--alias", "BASTION_ALIAS", "alias", "the model file name without .gguf",
         "Name clients use for the model (the \"model\" field of requests)"},
        Kind::kString, 0, 0, "", [](ServeConfig& c, const Value& v) { c.alias = v.text; });
    add({"state_dir", "--state-dir", "BASTION_HOME", "state_dir", "",
         "Directory for bastion's state (models, keys, certificates)"},
        Kind::kPath, 0, 0, "~/.bastion", [](ServeConfig& c, const Value& v) { c.state_dir = v.text; });
    add({"parallel", "--parallel,--np", "BASTION_PARALLEL", "parallel", "",
         "Sequence slots: requests generated at the same time"},
        Kind::kInt, 1, 256, "4", [](ServeConfig& c, const Value& v) { c.parallel = static_cast<int>(v.number); });
    add({"ctx_size", "-c,--ctx-size", "BASTION_CTX_SIZE", "ctx_size", "",
         "Context size of each slot, in tokens (prompt + output)"},
        Kind::kInt, 16, 1 << 20, "4096", [](ServeConfig& c, const Value& v) { c.ctx_size = static_cast<int>(v.number); });
    add({"threads", "-t,--threads", "BASTION_THREADS", "threads", "0 (all cores)", "Inference threads"},
        Kind::kInt, 0, 1024, "0", [](ServeConfig& c, const Value& v) { c.threads = static_cast<int>(v.number); });
    add({"kv_type", "--kv-type", "BASTION_KV_TYPE", "kv_type", "", "KV cache element type: f16 or f32"},
        Kind::kString, 0, 0, "f16", [](ServeConfig& c, const Value& v) { c.kv_type = v.text; }, {"f16", "f32"});
    add({"mmap", "--mmap", "BASTION_MMAP", "mmap", "false",
         "Map the weights from the file instead of reading them into (huge-page) memory: starts "
         "faster and shares the page cache, decodes slower"},
        Kind::kBool, 0, 0, "false", [](ServeConfig& c, const Value& v) { c.mmap = v.flag; });
    add({"max_queue", "--max-queue", "BASTION_MAX_QUEUE", "max_queue", "",
         "Requests that may wait for a free slot; more get 503"},
        Kind::kInt, 0, 100000, "64", [](ServeConfig& c, const Value& v) { c.max_queue = static_cast<int>(v.number); });
    add({"http_threads", "--http-threads", "BASTION_HTTP_THREADS", "http_threads", "",
         "Threads for network I/O (not inference)"},
        Kind::kInt, 1, 64, "2", [](ServeConfig& c, const Value& v) { c.http_threads = static_cast<int>(v.number); });
    add({"shutdown_timeout", "--shutdown-timeout", "BASTION_SHUTDOWN_TIMEOUT", "shutdown_timeout", "",
         "Seconds that running requests get to finish on SIGTERM/SIGINT before they are cancelled"},
        Kind::kSeconds, 0, 3600, "10",
        [](ServeConfig& c, const Value& v) { c.shutdown_timeout_s = static_cast<int>(v.number); });
    add({"max_header_bytes", "--max-header-bytes", "BASTION_MAX_HEADER_BYTES", "limits.max_header_bytes",
         BytesText(http::kDefaultMaxHeaderBytes), "Request line + headers, in bytes (past it: 431)"},
        Kind::kBytes, kKiB, kMiB, std::to_string(http::kDefaultMaxHeaderBytes),
        [](ServeConfig& c, const Value& v) { c.limits.max_header_bytes = static_cast<size_t>(v.number); });
    add({"max_header_count", "--max-header-count", "BASTION_MAX_HEADER_COUNT", "limits.max_header_count", "",
         "Header fields per request (past it: 431)"},
        Kind::kInt, 8, 10000, std::to_string(http::kDefaultMaxHeaderCount),
        [](ServeConfig& c, const Value& v) { c.limits.max_header_count = static_cast<int>(v.number); });
    add({"max_body_bytes", "--max-body-bytes", "BASTION_MAX_BODY_BYTES", "limits.max_body_bytes",
         BytesText(http::kDefaultMaxBodyBytes), "Request body, in bytes (past it: 413)"},
        Kind::kBytes, kKiB, kGiB, std::to_string(http::kDefaultMaxBodyBytes),
        [](ServeConfig& c, const Value& v) { c.limits.max_body_bytes = static_cast<size_t>(v.number); });
    add({"header_timeout", "--header-timeout", "BASTION_HEADER_TIMEOUT", "limits.header_timeout", "",
         "Seconds a client has to send a request's headers (past it: 408)"},
        Kind::kSeconds, 1, 3600, Seconds(http::kDefaultHeaderTimeout),
        [](ServeConfig& c, const Value& v) { c.limits.header_timeout = ToMs(v); });
    add({"body_timeout", "--body-timeout", "BASTION_BODY_TIMEOUT", "limits.body_timeout", "",
         "Seconds a client has to send a request's body (past it: 408)"},
        Kind::kSeconds, 1, 3600, Seconds(http::kDefaultBodyTimeout),
        [](ServeConfig& c, const Value& v) { c.limits.body_timeout = ToMs(v); });
    add({"idle_timeout", "--idle-timeout", "BASTION_IDLE_TIMEOUT", "limits.idle_timeout", "",
         "Seconds an idle keep-alive connection stays open"},
        Kind::kSeconds, 1, 86400, Seconds(http::kDefaultIdleTimeout),
        [](ServeConfig& c, const Value& v) { c.limits.idle_timeout = ToMs(v); });
    add({"send_timeout", "--send-timeout", "BASTION_SEND_TIMEOUT", "limits.send_timeout", "",
         "Seconds a response write may stall (client not reading) before the request is cancelled"},
        Kind::kSeconds, 1, 3600, Seconds(http::kDefaultSendTimeout),
        [](ServeConfig& c, const Value& v) { c.limits.send_timeout = ToMs(v); });
    add({"max_connections", "--max-connections", "BASTION_MAX_CONNECTIONS", "limits.max_connections", "",
         "Open client connections (past it: 503)"},
        Kind::kInt, 1, 100000, std::to_string(http::kDefaultMaxConnections),
        [](ServeConfig& c, const Value& v) { c.limits.max_connections = static_cast<int>(v.number); });
    add({"max_connections_per_ip", "--max-connections-per-ip", "BASTION_MAX_CONNECTIONS_PER_IP",
         "limits.max_connections_per_ip", "",
         "Open connections from one client address (past it: 429; 0 = no limit; trusted proxies exempt)"},
        Kind::kInt, 0, 100000, std::to_string(http::kDefaultMaxConnectionsPerIp),
        [](ServeConfig& c, const Value& v) { c.limits.max_connections_per_ip = static_cast<int>(v.number); });
    add({"max_output_tokens", "--max-output-tokens", "BASTION_MAX_OUTPUT_TOKENS", "limits.max_output_tokens", "",
         "Most tokens one request may generate: asking for more (max_tokens, num_predict) is a 400, "
         "asking for no limit gets this many"},
        Kind::kInt, 1, 1 << 20, std::to_string(api::kDefaultMaxOutputTokens),
        [](ServeConfig& c, const Value& v) { c.max_output_tokens = static_cast<int>(v.number); });
    add({"max_json_depth", "--max-json-depth", "BASTION_MAX_JSON_DEPTH", "limits.max_json_depth", "",
         "Nesting depth of objects and arrays in a request body (past it: 400)"},
        Kind::kInt, 2, api::kMaxJsonDepthLimit, std::to_string(api::kMaxJsonDepth),
        [](ServeConfig& c, const Value& v) { c.max_json_depth = static_cast<int>(v.number); });
    add({"max_stream_duration", "--max-stream-duration", "BASTION_MAX_STREAM_DURATION", "limits.max_stream_duration",
         "", "Seconds a generation may run from the request's arrival; then a stream ends with an error "
         "(stream: false gets 503); 0 = no limit"},
        Kind::kSeconds, 0, 7 * 86400,
        std::to_string(std::chrono::duration_cast<std::chrono::seconds>(api::kDefaultMaxStreamDuration).count()),
        [](ServeConfig& c, const Value& v) { c.max_stream_duration_s = static_cast<int>(v.number); });
    add({"no_tls", "--no-tls", "BASTION_NO_TLS", "no_tls", "",
         "Serve plain HTTP instead of HTTPS (behind a TLS-terminating proxy, or in tests)"},
        Kind::kBool, 0, 0, "false", [](ServeConfig& c, const Value& v) { c.no_tls = v.flag; });
    add({"tls_cert", "--tls-cert", "BASTION_TLS_CERT", "tls.cert", "none",
         "PEM certificate chain to serve (with --tls-key); reloaded when the file changes or on SIGHUP"},
        Kind::kPath, 0, 0, "", [](ServeConfig& c, const Value& v) { c.tls_cert = v.text; });
    add({"tls_key", "--tls-key", "BASTION_TLS_KEY", "tls.key", "none",
         "PEM private key of --tls-cert (unencrypted; keep it mode 0600)"},
        Kind::kPath, 0, 0, "", [](ServeConfig& c, const Value& v) { c.tls_key = v.text; });
    add({"hsts", "--hsts", "BASTION_HSTS", "tls.hsts", "",
         "Strict-Transport-Security on HTTPS responses: a header value, 'off', or 'auto' "
         "(max-age=31536000 with a real certificate, off with the local CA)"},
        Kind::kText, 0, 0, "auto", [](ServeConfig& c, const Value& v) { c.hsts = v.text; }, {}, CheckHsts);
    add({"http_port", "--http-port", "BASTION_HTTP_PORT", "http_port", "80 with --domain, otherwise off",
         "Plain-HTTP port that answers ACME HTTP-01 challenges and redirects everything else to HTTPS "
         "(0 = any free port)"},
        Kind::kInt, 0, 65535, "", [](ServeConfig& c, const Value& v) { c.http_port = static_cast<int>(v.number); });
    add({"domain", "--domain", "BASTION_DOMAIN", "acme.domains", "none",
         "Domain to obtain a certificate for with ACME (repeatable; comma-separated in the environment)"},
        Kind::kList, 0, 0, "", [](ServeConfig& c, const Value& v) { c.domains = v.list; }, {}, CheckDomains);
    add({"email", "--email", "BASTION_EMAIL", "acme.email", "none",
         "Contact e-mail for the ACME account (expiry and policy notices from the CA)"},
        Kind::kString, 0, 0, "", [](ServeConfig& c, const Value& v) { c.email = v.text; }, {}, CheckEmail);
    add({"acme_ca", "--acme-ca", "BASTION_ACME_CA", "acme.ca", std::string(kLetsEncryptProduction),
         "ACME directory URL ('staging' = Let's Encrypt staging)"},
        Kind::kString, 0, 0, std::string(kLetsEncryptProduction),
        [](ServeConfig& c, const Value& v) { c.acme_ca = v.text; }, {}, CheckAcmeCa);
    add({"acme_ca_root", "--acme-ca-root", "BASTION_ACME_CA_ROOT", "acme.ca_root", "the system's trusted roots",
         "PEM file of the root that signs the ACME server's own HTTPS certificate (a private CA, Pebble)"},
        Kind::kPath, 0, 0, "", [](ServeConfig& c, const Value& v) { c.acme_ca_root = v.text; });
    add({"acme_challenge", "--acme-challenge", "BASTION_ACME_CHALLENGE", "acme.challenges", "http-01,tls-alpn-01",
         "ACME challenge types to use, in the order tried; a type that fails falls back to the next "
         "(http-01 needs --http-port reachable as port 80, tls-alpn-01 the HTTPS port as 443)"},
        Kind::kList, 0, 0, "http-01,tls-alpn-01",
        [](ServeConfig& c, const Value& v) { c.acme_challenges = v.list; }, {}, CheckChallenges);
    add({"acme_retry_min", "--acme-retry-min", "BASTION_ACME_RETRY_MIN", "acme.retry_min", "60",
         "Seconds to wait after a failed certificate order before the next; doubles (with jitter) after "
         "each failure up to a day, and a longer Retry-After from the CA wins"},
        Kind::kSeconds, 1, 86400, "60",
        [](ServeConfig& c, const Value& v) { c.acme_retry_min_s = static_cast<int>(v.number); });
    add({"insecure_no_auth", "--insecure-no-auth", "BASTION_INSECURE_NO_AUTH", "guard.insecure_no_auth", "false",
         "Serve on a non-loopback address without any API key (refused by default: create a key with "
         "`bastion keys create`)"},
        Kind::kBool, 0, 0, "false", [](ServeConfig& c, const Value& v) { c.insecure_no_auth = v.flag; });
    add({"rate", "--rate", "BASTION_RATE", "guard.rate", "5r/s",
         "Requests per client address (nginx limit_req: r/s or r/m), every route but /health"},
        Kind::kString, 0, 0, "5r/s", [](ServeConfig& c, const Value& v) { c.rate = v.text; }, {}, CheckRate);
    add({"burst", "--burst", "BASTION_BURST", "guard.burst", "10",
         "Requests a client may send above --rate at once before getting 429 (nginx burst, nodelay)"},
        Kind::kInt, 0, 100000, "10", [](ServeConfig& c, const Value& v) { c.burst = static_cast<int>(v.number); });
    add({"trusted_proxies", "--trusted-proxies", "BASTION_TRUSTED_PROXIES", "guard.trusted_proxies", "none",
         "CIDRs of proxies whose X-Forwarded-For / X-Real-IP name the client (comma-separated)"},
        Kind::kList, 0, 0, "", [](ServeConfig& c, const Value& v) { c.trusted_proxies = v.list; }, {},
        CheckProxies);
    add({"cors_origins", "--cors-origin", "BASTION_CORS_ORIGINS", "guard.cors_origins", "none (CORS off)",
         "Browser origin allowed to call the API, e.g. https://app.example.com (repeatable)"},
        Kind::kList, 0, 0, "", [](ServeConfig& c, const Value& v) { c.cors_origins = v.list; }, {}, CheckOrigins);
    add({"public_metrics", "--public-metrics", "BASTION_PUBLIC_METRICS", "guard.public_metrics", "false",
         "Serve /metrics to any valid API key (by default only admin-scope keys)"},
        Kind::kBool, 0, 0, "false", [](ServeConfig& c, const Value& v) { c.public_metrics = v.flag; });
    add({"model_management", "--model-management", "BASTION_MODEL_MANAGEMENT", "guard.model_management", "false",
         "Enable Ollama's /api/pull, /api/delete and /api/copy (admin-scope keys only once keys exist; pulls "
         "only from the configured Hugging Face and Ollama hubs)"},
        Kind::kBool, 0, 0, "false", [](ServeConfig& c, const Value& v) { c.model_management = v.flag; });
    add({"access_log", "--access-log", "BASTION_ACCESS_LOG", "log.access", "<state-dir>/logs/access.log",
         "Access log file: one line per request (never keys, prompts or outputs); '-' = stderr, 'off' = none; "
         "reopened on SIGUSR1"},
        Kind::kString, 0, 0, "", [](ServeConfig& c, const Value& v) { c.access_log = v.text; });
    add({"access_log_format", "--access-log-format", "BASTION_ACCESS_LOG_FORMAT", "log.access_format", "combined",
         "Access log format: combined (nginx's, plus request id, latency, TTFT, tokens, TLS) or json (JSON lines)"},
        Kind::kString, 0, 0, "combined", [](ServeConfig& c, const Value& v) { c.access_log_format = v.text; },
        {"combined", "json"});
    add({"error_log", "--error-log", "BASTION_ERROR_LOG", "log.error", "-",
         "Error log (startup, refusals at every limit, certificate events, failures): a file, or '-' = "
         "stderr; reopened on SIGUSR1"},
        Kind::kString, 0, 0, "-", [](ServeConfig& c, const Value& v) { c.error_log = v.text; });
    add({"log_level", "--log-level", "BASTION_LOG_LEVEL", "log.level", "info",
         "Least severe error-log level written: debug, info, notice, warn, error or crit"},
        Kind::kString, 0, 0, "info", [](ServeConfig& c, const Value& v) { c.log_level = v.text; },
        {"debug", "info", "notice", "warn", "error", "crit"});
    add({"user", "--user", "BASTION_USER", "user", "none",
         "When started as root: switch to this user after binding the ports and reading the keys"},
        Kind::kString, 0, 0, "", [](ServeConfig& c, const Value& v) { c.user = v.text; });
    // clang-format on
    return t;
  }();
  return table;
}

const Setting* FindByName(std::string_view name) {
  for (const Setting& s : Table()) {
    if (s.info.name == name) return &s;
  }
  return nullptr;
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::optional<int64_t> ParseInteger(std::string_view text) {
  int64_t value = 0;
  const char* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end || text.empty()) return std::nullopt;
  return value;
}

std::optional<int64_t> ParseByteCount(std::string_view text) {
  size_t digits = 0;
  while (digits < text.size() && std::isdigit(static_cast<unsigned char>(text[digits]))) ++digits;
  const auto number = ParseInteger(text.substr(0, digits));
  if (!number) return std::nullopt;
  const std::string suffix = Lower(text.substr(digits));
  int64_t unit = 1;
  if (suffix == "" || suffix == "b") unit = 1;
  else if (suffix == "k" || suffix == "kib") unit = kKiB;
  else if (suffix == "m" || suffix == "mib") unit = kMiB;
  else if (suffix == "g" || suffix == "gib") unit = kGiB;
  else return std::nullopt;
  if (*number > INT64_MAX / unit) return std::nullopt;
  return *number * unit;
}

Status CheckRange(const Setting& s, int64_t n) {
  if (n >= s.min && n <= s.max) return OkStatus();
  const auto show = [&s](int64_t v) { return s.kind == Kind::kBytes ? BytesText(v) : std::to_string(v); };
  return Error("must be between " + show(s.min) + " and " + show(s.max) + ", got " + show(n));
}

// Parses a value given as text (flag, environment variable, default, TOML string) by its kind.
Result<Value> ParseTextKind(const Setting& s, std::string_view text) {
  Value v;
  v.text = std::string(text);
  v.raw = v.text;
  switch (s.kind) {
    case Kind::kText:
      if (text.empty()) return Error("must not be empty");
      for (const char c : text) {
        if (std::iscntrl(static_cast<unsigned char>(c))) return Error("must not contain control characters");
      }
      return v;
    case Kind::kList: {
      size_t start = 0;
      while (start <= text.size()) {
        size_t end = text.find(',', start);
        if (end == std::string_view::npos) end = text.size();
        std::string_view item = text.substr(start, end - start);
        while (!item.empty() && std::isspace(static_cast<unsigned char>(item.front()))) item.remove_prefix(1);
        while (!item.empty() && std::isspace(static_cast<unsigned char>(item.back()))) item.remove_suffix(1);
        if (item.empty()) return Error("empty item in the list '" + v.text + "'");
        for (const char c : item) {
          if (std::isspace(static_cast<unsigned char>(c)) || std::iscntrl(static_cast<unsigned char>(c))) {
            return Error("must not contain spaces or control characters, got '" + std::string(item) + "'");
          }
        }
        v.list.emplace_back(item);
        start = end + 1;
      }
      return v;
    }
    case Kind::kString:
      if (text.empty()) return Error("must not be empty");
      for (const char c : text) {
        if (std::isspace(static_cast<unsigned char>(c)) || std::iscntrl(static_cast<unsigned char>(c))) {
          return Error("must not contain spaces or control characters, got '" + v.text + "'");
        }
      }
      if (!s.choices.empty() && std::find(s.choices.begin(), s.choices.end(), Lower(text)) == s.choices.end()) {
        std::string list;
        for (const std::string& c : s.choices) list += (list.empty() ? "" : ", ") + c;
        return Error("must be one of " + list + ", got '" + v.text + "'");
      }
      if (!s.choices.empty()) v.text = Lower(text);
      return v;
    case Kind::kPath:
      if (text.empty()) return Error("must not be empty");
      return v;
    case Kind::kInt:
    case Kind::kSeconds: {
      const auto n = ParseInteger(text);
      if (!n) return Error("expected an integer" + std::string(s.kind == Kind::kSeconds ? " (seconds)" : "") +
                           ", got '" + v.text + "'");
      BASTION_RETURN_IF_ERROR(CheckRange(s, *n));
      v.number = *n;
      return v;
    }
    case Kind::kBytes: {
      const auto n = ParseByteCount(text);
      if (!n) return Error("expected a byte count such as 16384, 16KiB or 8MiB, got '" + v.text + "'");
      BASTION_RETURN_IF_ERROR(CheckRange(s, *n));
      v.number = *n;
      return v;
    }
    case Kind::kBool: {
      const std::string t = Lower(text);
      if (t == "1" || t == "true" || t == "yes" || t == "on") {
        v.flag = true;
      } else if (t == "0" || t == "false" || t == "no" || t == "off") {
        v.flag = false;
      } else {
        return Error("expected true or false (or 1/0, yes/no, on/off), got '" + v.text + "'");
      }
      return v;
    }
  }
  return Error("unknown setting kind");
}

// Parses by kind, then the setting's own check.
Result<Value> ParseText(const Setting& s, std::string_view text) {
  BASTION_ASSIGN_OR_RETURN(Value v, ParseTextKind(s, text));
  if (s.check != nullptr) BASTION_RETURN_IF_ERROR(s.check(v));
  if (s.kind == Kind::kList) {
    v.text.clear();
    for (const std::string& item : v.list) v.text += (v.text.empty() ? "" : ",") + item;
  }
  return v;
}

std::string_view TomlTypeName(toml::node_type type) {
  switch (type) {
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a floating-point number";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
    case toml::node_type::array: return "an array";
    case toml::node_type::table: return "a table";
    case toml::node_type::none: break;
  }
  return "nothing";
}

std::string_view ExpectedTomlType(Kind kind) {
  switch (kind) {
    case Kind::kString:
    case Kind::kPath: return "a string";
    case Kind::kInt: return "an integer";
    case Kind::kSeconds: return "an integer (seconds)";
    case Kind::kBytes: return "an integer or a string such as \"8MiB\"";
    case Kind::kBool: return "a boolean";
    case Kind::kText: return "a string";
    case Kind::kList: return "an array of strings";
  }
  return "a value";
}

// Parses a value from the config file: the TOML type must fit, then the same checks as text.
Result<Value> ParseToml(const Setting& s, const toml::node& node) {
  const auto mismatch = [&] {
    return Error("expected " + std::string(ExpectedTomlType(s.kind)) + ", got " + std::string(TomlTypeName(node.type())));
  };
  switch (s.kind) {
    case Kind::kList: {
      if (node.is_string()) return ParseText(s, node.as_string()->get());
      if (!node.is_array()) return mismatch();
      std::string joined;
      for (const toml::node& item : *node.as_array()) {
        if (!item.is_string()) return mismatch();
        joined += (joined.empty() ? "" : ",") + item.as_string()->get();
      }
      if (joined.empty()) return Error("the list is empty");
      return ParseText(s, joined);
    }
    case Kind::kString:
    case Kind::kText:
    case Kind::kPath:
      if (!node.is_string()) return mismatch();
      return ParseText(s, node.as_string()->get());
    case Kind::kInt:
    case Kind::kSeconds:
      if (!node.is_integer()) return mismatch();
      return ParseText(s, std::to_string(node.as_integer()->get()));
    case Kind::kBytes:
      if (node.is_integer()) return ParseText(s, std::to_string(node.as_integer()->get()));
      if (node.is_string()) return ParseText(s, node.as_string()->get());
      return mismatch();
    case Kind::kBool:
      if (!node.is_boolean()) return mismatch();
      return ParseText(s, node.as_boolean()->get() ? "true" : "false");
  }
  return mismatch();
}

std::string HomeDir(const EnvLookup& env) {
  if (const char* home = env("HOME"); home != nullptr && home[0] != '\0') return home;
  if (const passwd* pw = ::getpwuid(::getuid()); pw != nullptr && pw->pw_dir != nullptr) return pw->pw_dir;
  return "";
}

// "~" and "~/x" become the home directory; a relative path from the config file is taken
// relative to the file's directory (base_dir), from anywhere else relative to the working
// directory (left as is).
Result<std::string> ResolvePath(const std::string& path, const std::string& base_dir, const std::string& home) {
  if (path == "~" || path.rfind("~/", 0) == 0) {
    if (home.empty()) return Error("cannot expand '~': HOME is not set");
    return (fs::path(home) / path.substr(path.size() > 1 ? 2 : 1)).lexically_normal().string();
  }
  if (!base_dir.empty() && fs::path(path).is_relative()) return (fs::path(base_dir) / path).lexically_normal().string();
  return path;
}

size_t EditDistance(std::string_view a, std::string_view b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      const size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

std::string Suggestion(const std::string& key) {
  const Setting* best = nullptr;
  size_t best_distance = 3;  // suggest only near misses
  for (const Setting& s : Table()) {
    if (s.info.toml_key.empty()) continue;
    const size_t d = EditDistance(key, s.info.toml_key);
    if (d < best_distance) {
      best_distance = d;
      best = &s;
    }
  }
  return best ? " (did you mean '" + best->info.toml_key + "'?)" : "";
}

std::string Where(const std::string& path, const toml::source_region& region) {
  return path + ":" + std::to_string(region.begin.line) + ":" + std::to_string(region.begin.column);
}

// A table that holds settings ("limits" for "limits.max_body_bytes").
bool IsSection(const std::string& key) {
  for (const Setting& s : Table()) {
    if (s.info.toml_key.rfind(key + ".", 0) == 0) return true;
  }
  return false;
}

Status ReadTable(const toml::table& table, const std::string& prefix, const std::string& path,
                 const std::string& home, std::map<std::string, Value>* out) {
  const std::string base_dir = fs::path(path).parent_path().string();
  for (auto&& [key, node] : table) {
    const std::string full = prefix.empty() ? std::string(key.str()) : prefix + "." + std::string(key.str());
    if (IsSection(full)) {
      if (!node.is_table()) {
        return Error(Where(path, node.source()) + ": '" + full + "' must be a table of settings, got " +
                     std::string(TomlTypeName(node.type())));
      }
      BASTION_RETURN_IF_ERROR(ReadTable(*node.as_table(), full, path, home, out));
      continue;
    }
    const Setting* setting = nullptr;
    for (const Setting& s : Table()) {
      if (!s.info.toml_key.empty() && s.info.toml_key == full) setting = &s;
    }
    if (setting == nullptr) {
      if (node.is_table()) return Error(Where(path, key.source()) + ": unknown section [" + full + "]");
      return Error(Where(path, key.source()) + ": unknown setting '" + full + "'" + Suggestion(full));
    }
    auto value = ParseToml(*setting, node);
    if (!value.ok()) return value.error().WithContext(Where(path, node.source()) + ": " + full);
    if (setting->kind == Kind::kPath) {
      auto resolved = ResolvePath(value->text, base_dir, home);
      if (!resolved.ok()) return resolved.error().WithContext(Where(path, node.source()) + ": " + full);
      value->text = *resolved;
    }
    (*out)[setting->info.name] = std::move(*value);
  }
  return OkStatus();
}

// Reads the config file into setting name -> value; every entry checked.
Result<std::map<std::string, Value>> ReadConfigFile(const std::string& path, const std::string& home) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error("cannot read config file '" + path + "': " + std::strerror(errno));
  std::stringstream text;
  text << in.rdbuf();
  toml::table root;
  try {
    root = toml::parse(text.str(), path);
  } catch (const toml::parse_error& e) {
    return Error(Where(path, e.source()) + ": invalid TOML: " + std::string(e.description()));
  }
  std::map<std::string, Value> values;
  BASTION_RETURN_IF_ERROR(ReadTable(root, "", path, home, &values));
  return values;
}

// A -m value that must name a file (an error when there is none) rather than a store model:
// an absolute or ./ ~/ path, "dir/file", or a name ending in .gguf — except the store's own
// reference forms (hf.co/OWNER/REPO/FILE.gguf, ollama://..., https://...).
bool LooksLikeModelPath(std::string_view text) {
  if (text.empty()) return false;
  if (text.rfind("hf.co/", 0) == 0 || text.rfind("huggingface.co/", 0) == 0 ||
      text.find("://") != std::string_view::npos) {
    return false;
  }
  if (text.front() == '/' || text.front() == '.' || text.front() == '~') return true;
  const std::string lower = Lower(text);
  if (lower.size() > 5 && lower.compare(lower.size() - 5, 5, ".gguf") == 0) return true;
  // Store names may contain '/' (hf.co/Owner/Repo:Q8_0, ollama://x) but never start a path-like
  // "dir/file" without a host-looking first part; anything with '/' and no ':' is a path.
  return text.find('/') != std::string_view::npos && text.find(':') == std::string_view::npos;
}

std::string DeriveAlias(const std::string& model_path) {
  std::string name = fs::path(model_path).filename().string();
  if (name.size() > 5 && Lower(name.substr(name.size() - 5)) == ".gguf") name.resize(name.size() - 5);
  return name;
}

}  // namespace

std::string_view SettingSourceName(SettingSource source) {
  switch (source) {
    case SettingSource::kDefault: return "default";
    case SettingSource::kFile: return "config file";
    case SettingSource::kEnv: return "environment";
    case SettingSource::kFlag: return "command line";
  }
  return "?";
}

bool ServeConfig::ListensOnLoopbackOnly() const {
  if (host == "localhost" || host == "::1" || host == "[::1]") return true;
  // 127.0.0.0/8, written as a dotted quad starting with "127.".
  if (host.rfind("127.", 0) == 0) {
    int dots = 0;
    for (const char ch : host) {
      if (ch == '.') ++dots;
      else if (!std::isdigit(static_cast<unsigned char>(ch))) return false;
    }
    return dots == 3;
  }
  return false;
}

ServeConfig::TlsMode ServeConfig::tls_mode() const {
  if (no_tls) return TlsMode::kOff;
  if (!tls_cert.empty()) return TlsMode::kFiles;
  if (!domains.empty()) return TlsMode::kAcme;
  return TlsMode::kLocal;
}

std::string ServeConfig::HstsHeader() const {
  if (hsts == "off" || tls_mode() == TlsMode::kOff) return "";
  if (hsts != "auto") return hsts;
  // HSTS is per host name, whatever the port: a browser told so by a local-CA server on
  // localhost would refuse plain HTTP to every other development server on localhost.
  return tls_mode() == TlsMode::kLocal ? "" : "max-age=31536000";
}

http::ServerOptions ServeConfig::ToServerOptions() const {
  http::ServerOptions o;
  o.host = host;
  o.port = port;
  o.io_threads = http_threads;
  o.limits = limits;
  return o;
}

const std::vector<SettingInfo>& ServeSettings() {
  static const std::vector<SettingInfo> infos = [] {
    std::vector<SettingInfo> out;
    for (const Setting& s : Table()) out.push_back(s.info);
    return out;
  }();
  return infos;
}

const char* ProcessEnv(const char* name) { return std::getenv(name); }

void RegisterServeFlags(CLI::App* app, ServeFlags* flags) {
  for (const Setting& s : Table()) {
    std::string help = s.info.help + " [env: " + s.info.env + "]";
    if (!s.info.toml_key.empty()) help += " [config: " + s.info.toml_key + "]";
    help += " [default: " + s.info.default_text + "]";
    const std::string name = s.info.name;
    if (s.kind == Kind::kBool) {
      // "--no-tls" sets it; "--no-tls=false" overrides a true from the environment or file.
      app->add_flag_function(
          s.info.flags, [flags, name](int64_t count) { flags->given[name] = count > 0 ? "true" : "false"; }, help);
      continue;
    }
    const bool list = s.kind == Kind::kList;
    CLI::Option* option = app->add_option(
        s.info.flags,
        [flags, name, list](const CLI::results_t& results) {
          if (!list) {
            flags->given[name] = results.back();
            return true;
          }
          std::string joined;  // --domain a --domain b,c: every value counts
          for (const std::string& r : results) joined += (joined.empty() ? "" : ",") + r;
          flags->given[name] = joined;
          return true;
        },
        help);
    option->multi_option_policy(list ? CLI::MultiOptionPolicy::TakeAll : CLI::MultiOptionPolicy::TakeLast);
    switch (s.kind) {
      case Kind::kPath: option->type_name("PATH"); break;
      case Kind::kInt: option->type_name("INT"); break;
      case Kind::kSeconds: option->type_name("SECONDS"); break;
      case Kind::kBytes: option->type_name("BYTES"); break;
      case Kind::kList: option->type_name("NAME"); break;
      default: option->type_name("TEXT"); break;
    }
  }
  app->footer(
      "Every setting can also come from its BASTION_* environment variable or the TOML file named by "
      "--config; a flag beats the environment, which beats the file, which beats the default. "
      "See docs/CONFIG.md.\n");
}

Result<ServeConfig> ResolveServeConfig(const ServeFlags& flags, const EnvLookup& env) {
  const std::string home = HomeDir(env);
  const auto env_value = [&env](const std::string& name) -> std::optional<std::string> {
    const char* v = env(name.c_str());
    if (v == nullptr || v[0] == '\0') return std::nullopt;  // empty counts as unset
    return std::string(v);
  };

  // The config file first: it is one of the sources of everything else.
  std::map<std::string, Value> file_values;
  std::string config_path;
  const Setting& config_setting = *FindByName("config");
  if (auto it = flags.given.find("config"); it != flags.given.end()) {
    config_path = it->second;
  } else if (auto v = env_value(config_setting.info.env)) {
    config_path = *v;
  }
  if (!config_path.empty()) {
    BASTION_ASSIGN_OR_RETURN(config_path, ResolvePath(config_path, "", home));
    BASTION_ASSIGN_OR_RETURN(file_values, ReadConfigFile(config_path, home));
  }

  ServeConfig config;
  for (const Setting& s : Table()) {
    std::optional<Value> chosen;
    SettingSource source = SettingSource::kDefault;
    if (!s.default_value.empty()) {
      auto v = ParseText(s, s.default_value);
      BASTION_CHECK_MSG(v.ok(), ("bad default for serve setting " + s.info.name).c_str());
      chosen = std::move(*v);
    }
    if (auto it = file_values.find(s.info.name); it != file_values.end()) {
      chosen = it->second;
      source = SettingSource::kFile;
    }
    // Every value given is checked, even one that a higher source overrides: a broken
    // environment variable should not wait for the day the flag is dropped.
    if (auto text = env_value(s.info.env)) {
      auto v = ParseText(s, *text);
      if (!v.ok()) return v.error().WithContext("environment variable " + s.info.env + "='" + *text + "'");
      chosen = std::move(*v);
      source = SettingSource::kEnv;
    }
    if (auto it = flags.given.find(s.info.name); it != flags.given.end()) {
      auto v = ParseText(s, it->second);
      const std::string flag = s.info.flags.substr(s.info.flags.rfind(',') + 1);
      if (!v.ok()) return v.error().WithContext(flag + " '" + it->second + "'");
      chosen = std::move(*v);
      source = SettingSource::kFlag;
    }
    if (chosen && s.kind == Kind::kPath && source != SettingSource::kFile) {
      BASTION_ASSIGN_OR_RETURN(chosen->text, ResolvePath(chosen->text, "", home));
    }
    if (chosen) s.apply(config, *chosen);
    config.sources[s.info.name] = source;
  }
  config.config_path = config_path;

  // The model: a file (anything that looks like a path must be one), or else a store name that the
  // serve command resolves, pulling it when it is missing (the default model too).
  if (config.model_path.empty()) config.model_name = std::string(kDefaultModel);
  if (LooksLikeModelPath(config.model_name)) {
    std::error_code ec;
    if (!fs::exists(config.model_path, ec)) return Error("model file '" + config.model_path + "' does not exist");
    if (!fs::is_regular_file(config.model_path, ec)) {
      return Error("model '" + config.model_path + "' is not a regular file");
    }
    config.model_name.clear();
  } else {
    std::error_code ec;
    if (fs::is_regular_file(config.model_name, ec)) {
      config.model_path = fs::absolute(config.model_name, ec).lexically_normal().string();  // "model.gguf" in cwd
      config.model_name.clear();
    } else {
      config.model_path.clear();
    }
  }
  if (config.alias.empty()) config.alias = config.model_path.empty() ? config.model_name : DeriveAlias(config.model_path);

  // TLS: which way the certificate comes, and the settings that only make sense together.
  if (config.tls_cert.empty() != config.tls_key.empty()) {
    return Error("--tls-cert and --tls-key go together: give both files, or neither");
  }
  if (!config.tls_cert.empty() && !config.domains.empty()) {
    return Error("--tls-cert/--tls-key and --domain are two ways to get a certificate; choose one");
  }
  if (config.no_tls && (!config.tls_cert.empty() || !config.domains.empty())) {
    return Error("--no-tls serves plain HTTP, but a certificate was configured (--tls-cert or --domain)");
  }
  if (config.http_port < 0 && !config.domains.empty()) config.http_port = 80;
  if (config.no_tls && config.http_port >= 0) {
    return Error("--http-port redirects to HTTPS, which --no-tls turns off");
  }
  if (config.http_port > 0 && config.http_port == config.port) {
    return Error("--http-port and --port are both " + std::to_string(config.port) + "; they need different ports");
  }
  return config;
}

void RewriteLegacyServeFlags(int argc, char** argv) {
  static char kNp[] = "--np";
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "-np") == 0) argv[i] = kNp;
  }
}

}  // namespace bastion::cli
