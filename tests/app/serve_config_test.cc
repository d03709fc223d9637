// `bastion serve` settings: precedence flag > environment > file > default for every setting in
// the table, the config file's errors (unknown keys with line, wrong types, ranges, syntax),
// environment and flag errors, paths, byte suffixes, and the help text.
#include <gtest/gtest.h>

#include <CLI/CLI.hpp>

#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "app/serve_config.h"
#include "test_util.h"

namespace bastion::cli {
namespace {

using Env = std::map<std::string, std::string>;

class ServeConfigTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = bastion::testing::TempDir("serve_config");
    model_ = WriteFile("qwen-test.GGUF", "GGUF");
    env_["HOME"] = dir_ + "/home";
  }

  std::string WriteFile(const std::string& name, const std::string& text) {
    const std::string path = dir_ + "/" + name;
    std::ofstream(path) << text;
    return path;
  }

  EnvLookup Lookup() {
    return [this](const char* name) -> const char* {
      auto it = env_.find(name);
      return it == env_.end() ? nullptr : it->second.c_str();
    };
  }

  // Parses `args` as `serve` flags (CLI11, as the real command does) and resolves.
  Result<ServeConfig> Resolve(std::vector<std::string> args) {
    CLI::App app{"serve"};
    ServeFlags flags;
    RegisterServeFlags(&app, &flags);
    std::vector<char*> argv{const_cast<char*>("serve")};
    for (std::string& a : args) argv.push_back(a.data());
    try {
      app.parse(static_cast<int>(argv.size()), argv.data());
    } catch (const CLI::ParseError& e) {
      return Error(std::string("CLI11: ") + e.what());
    }
    return ResolveServeConfig(flags, Lookup());
  }

  ServeConfig MustResolve(std::vector<std::string> args) {
    auto r = Resolve(std::move(args));
    EXPECT_TRUE(r.ok()) << r.error().message();
    return r.ok() ? std::move(r).value() : ServeConfig{};
  }

  std::string ErrorOf(std::vector<std::string> args) {
    auto r = Resolve(std::move(args));
    EXPECT_FALSE(r.ok());
    return r.ok() ? "" : r.error().message();
  }

  std::string dir_;
  std::string model_;
  Env env_;
};

// The value of a setting, as text, read straight from the struct (independent of the table).
std::string ValueOf(const ServeConfig& c, const std::string& name) {
  const auto s = [](std::chrono::milliseconds ms) { return std::to_string(ms.count() / 1000); };
  if (name == "config") return c.config_path;
  if (name == "host") return c.host;
  if (name == "port") return std::to_string(c.port);
  if (name == "model") return c.model_path;
  if (name == "alias") return c.alias;
  if (name == "state_dir") return c.state_dir;
  if (name == "parallel") return std::to_string(c.parallel);
  if (name == "ctx_size") return std::to_string(c.ctx_size);
  if (name == "threads") return std::to_string(c.threads);
  if (name == "kv_type") return c.kv_type;
  if (name == "mmap") return c.mmap ? "true" : "false";
  if (name == "max_queue") return std::to_string(c.max_queue);
  if (name == "http_threads") return std::to_string(c.http_threads);
  if (name == "shutdown_timeout") return std::to_string(c.shutdown_timeout_s);
  if (name == "max_header_bytes") return std::to_string(c.limits.max_header_bytes);
  if (name == "max_header_count") return std::to_string(c.limits.max_header_count);
  if (name == "max_body_bytes") return std::to_string(c.limits.max_body_bytes);
  if (name == "header_timeout") return s(c.limits.header_timeout);
  if (name == "body_timeout") return s(c.limits.body_timeout);
  if (name == "idle_timeout") return s(c.limits.idle_timeout);
  if (name == "send_timeout") return s(c.limits.send_timeout);
  if (name == "max_connections") return std::to_string(c.limits.max_connections);
  if (name == "max_connections_per_ip") return std::to_string(c.limits.max_connections_per_ip);
  if (name == "max_output_tokens") return std::to_string(c.max_output_tokens);
  if (name == "max_json_depth") return std::to_string(c.max_json_depth);
  if (name == "max_stream_duration") return std::to_string(c.max_stream_duration_s);
  if (name == "error_log") return c.error_log;
  if (name == "log_level") return c.log_level;
  if (name == "no_tls") return c.no_tls ? "true" : "false";
  if (name == "tls_cert") return c.tls_cert;
  if (name == "tls_key") return c.tls_key;
  if (name == "hsts") return c.hsts;
  if (name == "http_port") return std::to_string(c.http_port);
  if (name == "domain") {
    std::string joined;
    for (const std::string& d : c.domains) joined += (joined.empty() ? "" : ",") + d;
    return joined;
  }
  if (name == "email") return c.email;
  if (name == "acme_ca") return c.acme_ca;
  if (name == "acme_ca_root") return c.acme_ca_root;
  if (name == "acme_challenge") {
    std::string joined;
    for (const std::string& t : c.acme_challenges) joined += (joined.empty() ? "" : ",") + t;
    return joined;
  }
  if (name == "acme_retry_min") return std::to_string(c.acme_retry_min_s);
  if (name == "user") return c.user;
  if (name == "insecure_no_auth") return c.insecure_no_auth ? "true" : "false";
  if (name == "public_metrics") return c.public_metrics ? "true" : "false";
  if (name == "model_management") return c.model_management ? "true" : "false";
  if (name == "rate") return c.rate;
  if (name == "access_log") return c.access_log;
  if (name == "access_log_format") return c.access_log_format;
  if (name == "burst") return std::to_string(c.burst);
  if (name == "trusted_proxies" || name == "cors_origins") {
    std::string joined;
    for (const std::string& t : name == "trusted_proxies" ? c.trusted_proxies : c.cors_origins) {
      joined += (joined.empty() ? "" : ",") + t;
    }
    return joined;
  }
  ADD_FAILURE() << "setting '" << name << "' is not covered by this test";
  return "";
}

TEST_F(ServeConfigTest, DefaultsWhenOnlyTheModelIsGiven) {
  const ServeConfig c = MustResolve({"-m", model_});
  EXPECT_EQ(c.config_path, "");
  EXPECT_EQ(c.host, "127.0.0.1");
  EXPECT_EQ(c.port, 11434);
  EXPECT_EQ(c.model_path, model_);
  EXPECT_EQ(c.alias, "qwen-test");  // .GGUF dropped, case-insensitively
  EXPECT_EQ(c.state_dir, dir_ + "/home/.bastion");
  EXPECT_EQ(c.parallel, 4);
  EXPECT_EQ(c.ctx_size, 4096);
  EXPECT_EQ(c.threads, 0);
  EXPECT_EQ(c.kv_type, "f16");
  EXPECT_EQ(c.max_queue, 64);
  EXPECT_EQ(c.http_threads, 2);
  EXPECT_EQ(c.shutdown_timeout(), std::chrono::seconds(10));
  const http::ServerLimits defaults;
  EXPECT_EQ(c.limits.max_header_bytes, defaults.max_header_bytes);
  EXPECT_EQ(c.limits.max_header_count, defaults.max_header_count);
  EXPECT_EQ(c.limits.max_body_bytes, defaults.max_body_bytes);
  EXPECT_EQ(c.limits.header_timeout, defaults.header_timeout);
  EXPECT_EQ(c.limits.body_timeout, defaults.body_timeout);
  EXPECT_EQ(c.limits.idle_timeout, defaults.idle_timeout);
  EXPECT_EQ(c.limits.send_timeout, defaults.send_timeout);
  EXPECT_EQ(c.limits.max_connections, defaults.max_connections);
  EXPECT_EQ(c.limits.max_connections_per_ip, 64);
  EXPECT_EQ(c.max_output_tokens, 4096);
  EXPECT_EQ(c.max_json_depth, 64);
  EXPECT_EQ(c.max_stream_duration_s, 600);
  EXPECT_EQ(c.error_log, "-");
  EXPECT_EQ(c.log_level, "info");
  EXPECT_FALSE(c.no_tls);
  for (const SettingInfo& s : ServeSettings()) {
    EXPECT_EQ(c.sources.at(s.name), s.name == "model" ? SettingSource::kFlag : SettingSource::kDefault) << s.name;
  }
  const http::ServerOptions o = c.ToServerOptions();
  EXPECT_EQ(o.host, "127.0.0.1");
  EXPECT_EQ(o.port, 11434);
  EXPECT_EQ(o.io_threads, 2);
}

// Three different valid values of a setting, written for the file (TOML), and as text.
struct Sample {
  std::string toml;
  std::string text;
};

std::vector<Sample> SamplesFor(const std::string& name, const std::string& dir) {
  if (name == "host") return {{"\"10.0.0.1\"", "10.0.0.1"}, {"", "10.0.0.2"}, {"", "::1"}};
  if (name == "model") return {{"\"" + dir + "/m1.gguf\"", dir + "/m1.gguf"}, {"", dir + "/m2.gguf"}, {"", dir + "/m3.gguf"}};
  if (name == "alias") return {{"\"a1\"", "a1"}, {"", "a2"}, {"", "library/qwen2.5:0.5b"}};
  if (name == "state_dir") return {{"\"/srv/s1\"", "/srv/s1"}, {"", "/srv/s2"}, {"", "/srv/s3"}};
  if (name == "kv_type") return {{"\"f32\"", "f32"}, {"", "f16"}, {"", "f32"}};
  if (name == "max_header_bytes") return {{"2048", "2048"}, {"", "4096"}, {"", "8192"}};
  if (name == "max_body_bytes") return {{"\"2KiB\"", "2048"}, {"", "4096"}, {"", "8192"}};
  if (name == "no_tls") return {{"true", "true"}, {"", "false"}, {"", "true"}};
  if (name == "tls_cert") return {{"\"/c1.pem\"", "/c1.pem"}, {"", "/c2.pem"}, {"", "/c3.pem"}};
  if (name == "tls_key") return {{"\"/k1.pem\"", "/k1.pem"}, {"", "/k2.pem"}, {"", "/k3.pem"}};
  if (name == "acme_ca_root") return {{"\"/r1.pem\"", "/r1.pem"}, {"", "/r2.pem"}, {"", "/r3.pem"}};
  if (name == "hsts") return {{"\"off\"", "off"}, {"", "max-age=60"}, {"", "max-age=600; includeSubDomains"}};
  if (name == "domain") return {{"[\"b.example.com\", \"a.example.com\"]", "a.example.com,b.example.com"},
                                {"", "x.example.org"}, {"", "ai.example.net"}};
  if (name == "email") return {{"\"a@example.com\"", "a@example.com"}, {"", "b@example.com"}, {"", "c@example.com"}};
  if (name == "acme_ca") return {{"\"https://ca.test/dir\"", "https://ca.test/dir"}, {"", "https://ca2.test/dir"},
                                 {"", "https://ca3.test/dir"}};
  if (name == "user") return {{"\"u1\"", "u1"}, {"", "u2"}, {"", "u3"}};
  if (name == "insecure_no_auth" || name == "public_metrics" || name == "model_management" || name == "mmap") {
    return {{"true", "true"}, {"", "false"}, {"", "true"}};
  }
  if (name == "access_log") return {{"\"/var/log/a.log\"", "/var/log/a.log"}, {"", "-"}, {"", "off"}};
  if (name == "access_log_format") return {{"\"json\"", "json"}, {"", "combined"}, {"", "json"}};
  if (name == "error_log") return {{"\"/var/log/e.log\"", "/var/log/e.log"}, {"", "-"}, {"", "/tmp/e.log"}};
  if (name == "log_level") return {{"\"warn\"", "warn"}, {"", "debug"}, {"", "error"}};
  if (name == "rate") return {{"\"2r/s\"", "2r/s"}, {"", "3r/s"}, {"", "30r/m"}};
  if (name == "trusted_proxies") return {{"[\"10.0.0.0/8\"]", "10.0.0.0/8"}, {"", "192.168.0.0/16"}, {"", "::1"}};
  if (name == "cors_origins") return {{"[\"https://a.example.com\"]", "https://a.example.com"},
                                      {"", "https://b.example.com"}, {"", "http://localhost:3000"}};
  if (name == "acme_challenge") return {{"[\"tls-alpn-01\"]", "tls-alpn-01"}, {"", "http-01"},
                                        {"", "tls-alpn-01,http-01"}};
  // Integers and seconds: small values inside every range used.
  return {{"17", "17"}, {"", "18"}, {"", "19"}};
}

TEST_F(ServeConfigTest, FlagBeatsEnvironmentBeatsFileBeatsDefaultForEverySetting) {
  for (const char* m : {"m1.gguf", "m2.gguf", "m3.gguf"}) WriteFile(m, "GGUF");
  for (const SettingInfo& s : ServeSettings()) {
    if (s.name == "config") continue;  // the file cannot name itself; tested below
    SCOPED_TRACE(s.name);
    const std::vector<Sample> samples = SamplesFor(s.name, dir_);
    const std::string flag = s.flags.substr(s.flags.rfind(',') + 1);
    const std::string file = WriteFile("p.toml", s.toml_key + " = " + samples[0].toml + "\n");
    // The model must come from somewhere when the setting under test is not the model.
    std::vector<std::string> model_args =
        s.name == "model" ? std::vector<std::string>{} : std::vector<std::string>{"--model", model_};
    // The certificate files only come in pairs.
    if (s.name == "tls_cert") model_args.insert(model_args.end(), {"--tls-key", "/k.pem"});
    if (s.name == "tls_key") model_args.insert(model_args.end(), {"--tls-cert", "/c.pem"});

    env_.erase(s.env);
    std::vector<std::string> args = model_args;
    args.insert(args.end(), {"--config", file});
    ServeConfig c = MustResolve(args);
    EXPECT_EQ(ValueOf(c, s.name), samples[0].text);
    EXPECT_EQ(c.sources[s.name], SettingSource::kFile);

    env_[s.env] = samples[1].text;
    c = MustResolve(args);
    EXPECT_EQ(ValueOf(c, s.name), samples[1].text);
    EXPECT_EQ(c.sources[s.name], SettingSource::kEnv);

    if (s.name == "no_tls" || s.name == "insecure_no_auth" || s.name == "public_metrics" ||
        s.name == "model_management" || s.name == "mmap") {  // switches
      args.push_back(flag);
    } else {
      args.insert(args.end(), {flag, samples[2].text});
    }
    c = MustResolve(args);
    EXPECT_EQ(ValueOf(c, s.name), samples[2].text);
    EXPECT_EQ(c.sources[s.name], SettingSource::kFlag);
    env_.erase(s.env);
  }
}

TEST_F(ServeConfigTest, ConfigFileComesFromFlagOrEnvironment) {
  const std::string a = WriteFile("a.toml", "port = 1111\n");
  const std::string b = WriteFile("b.toml", "port = 2222\n");
  env_["BASTION_CONFIG"] = a;
  ServeConfig c = MustResolve({"-m", model_});
  EXPECT_EQ(c.port, 1111);
  EXPECT_EQ(c.config_path, a);
  EXPECT_EQ(c.sources["config"], SettingSource::kEnv);
  c = MustResolve({"-m", model_, "--config", b});
  EXPECT_EQ(c.port, 2222);
  EXPECT_EQ(c.config_path, b);
  EXPECT_EQ(c.sources["config"], SettingSource::kFlag);
}

TEST_F(ServeConfigTest, FullFileWithLimitsTable) {
  const std::string file = WriteFile("full.toml", R"(# bastion serve settings
host = "0.0.0.0"
port = 8080
model = "qwen-test.GGUF"   # relative to this file
alias = "qwen2.5:0.5b"
parallel = 8
kv_type = "F32"
no_tls = true

[limits]
max_body_bytes = "1MiB"
header_timeout = 5
max_connections = 100
)");
  const ServeConfig c = MustResolve({"--config", file});
  EXPECT_EQ(c.host, "0.0.0.0");
  EXPECT_EQ(c.port, 8080);
  EXPECT_EQ(c.model_path, model_);
  EXPECT_EQ(c.alias, "qwen2.5:0.5b");
  EXPECT_EQ(c.parallel, 8);
  EXPECT_EQ(c.kv_type, "f32");
  EXPECT_TRUE(c.no_tls);
  EXPECT_EQ(c.limits.max_body_bytes, 1024u * 1024u);
  EXPECT_EQ(c.limits.header_timeout, std::chrono::seconds(5));
  EXPECT_EQ(c.limits.max_connections, 100);
}

TEST_F(ServeConfigTest, FileErrorsNameTheKeyAndLine) {
  const auto error_for = [this](const std::string& text) {
    return ErrorOf({"-m", model_, "--config", WriteFile("bad.toml", text)});
  };
  const std::string path = dir_ + "/bad.toml";

  std::string e = error_for("port = 1\nprot = 2\n");
  EXPECT_NE(e.find(path + ":2:1: unknown setting 'prot'"), std::string::npos) << e;
  EXPECT_NE(e.find("did you mean 'port'"), std::string::npos) << e;

  e = error_for("[limits]\nmax_body = 5\n");
  EXPECT_NE(e.find(":2:1: unknown setting 'limits.max_body'"), std::string::npos) << e;

  e = error_for("[network]\nport = 5\n");
  EXPECT_NE(e.find(path + ":1:2: unknown section [network]"), std::string::npos) << e;

  e = error_for("port = \"8080\"\n");
  EXPECT_NE(e.find(path + ":1:8: port: expected an integer, got a string"), std::string::npos) << e;

  e = error_for("ctx_size = 4096.5\n");
  EXPECT_NE(e.find("ctx_size: expected an integer, got a floating-point number"), std::string::npos) << e;

  e = error_for("no_tls = \"yes\"\n");
  EXPECT_NE(e.find("no_tls: expected a boolean, got a string"), std::string::npos) << e;

  e = error_for("host = [\"a\"]\n");
  EXPECT_NE(e.find("host: expected a string, got an array"), std::string::npos) << e;

  e = error_for("port = 70000\n");
  EXPECT_NE(e.find("port: must be between 0 and 65535, got 70000"), std::string::npos) << e;

  e = error_for("kv_type = \"q4_0\"\n");
  EXPECT_NE(e.find("must be one of f16, f32"), std::string::npos) << e;

  e = error_for("limits = 5\n");
  EXPECT_NE(e.find("'limits' must be a table of settings, got an integer"), std::string::npos) << e;

  e = error_for("[limits]\nmax_body_bytes = \"8 parsecs\"\n");
  EXPECT_NE(e.find("expected a byte count"), std::string::npos) << e;

  e = error_for("port = \n");
  EXPECT_NE(e.find(path + ":1:"), std::string::npos) << e;
  EXPECT_NE(e.find("invalid TOML"), std::string::npos) << e;

  e = error_for("config = \"other.toml\"\n");
  EXPECT_NE(e.find("unknown setting 'config'"), std::string::npos) << e;

  e = ErrorOf({"-m", model_, "--config", dir_ + "/missing.toml"});
  EXPECT_NE(e.find("cannot read config file '" + dir_ + "/missing.toml'"), std::string::npos) << e;
}

TEST_F(ServeConfigTest, EnvironmentErrorsNameTheVariable) {
  env_["BASTION_PORT"] = "http";
  std::string e = ErrorOf({"-m", model_});
  EXPECT_NE(e.find("BASTION_PORT='http'"), std::string::npos) << e;
  EXPECT_NE(e.find("expected an integer"), std::string::npos) << e;
  // Checked even when a flag overrides it.
  e = ErrorOf({"-m", model_, "--port", "80"});
  EXPECT_NE(e.find("BASTION_PORT"), std::string::npos) << e;
  env_.erase("BASTION_PORT");

  env_["BASTION_PARALLEL"] = "0";
  e = ErrorOf({"-m", model_});
  EXPECT_NE(e.find("BASTION_PARALLEL='0': must be between 1 and 256, got 0"), std::string::npos) << e;
  env_.erase("BASTION_PARALLEL");

  env_["BASTION_NO_TLS"] = "maybe";
  e = ErrorOf({"-m", model_});
  EXPECT_NE(e.find("BASTION_NO_TLS='maybe': expected true or false"), std::string::npos) << e;
  env_["BASTION_NO_TLS"] = "on";
  EXPECT_TRUE(MustResolve({"-m", model_}).no_tls);

  EXPECT_FALSE(MustResolve({"-m", model_, "--no-tls=false"}).no_tls);  // a flag can turn it off again

  env_["BASTION_HOST"] = "";  // empty counts as unset
  EXPECT_EQ(MustResolve({"-m", model_}).host, "127.0.0.1");
}

TEST_F(ServeConfigTest, FlagErrorsNameTheFlag) {
  std::string e = ErrorOf({"-m", model_, "--port", "99999"});
  EXPECT_NE(e.find("--port '99999': must be between 0 and 65535"), std::string::npos) << e;
  e = ErrorOf({"-m", model_, "-c", "big"});
  EXPECT_NE(e.find("--ctx-size 'big': expected an integer"), std::string::npos) << e;
  e = ErrorOf({"-m", model_, "--host", "local host"});
  EXPECT_NE(e.find("--host 'local host': must not contain spaces"), std::string::npos) << e;
  e = ErrorOf({"-m", model_, "--max-body-bytes", "2TiB"});
  EXPECT_NE(e.find("expected a byte count"), std::string::npos) << e;
  // The last of a repeated flag wins.
  EXPECT_EQ(MustResolve({"-m", model_, "--port", "1", "--port", "2"}).port, 2);
}

TEST_F(ServeConfigTest, ModelIsAFileOrAStoreNameAndDefaultsToQwen) {
  // No model: the default store model, served under its own name.
  ServeConfig c = MustResolve({});
  EXPECT_EQ(c.model_path, "");
  EXPECT_EQ(c.model_name, "qwen2.5:0.5b");
  EXPECT_EQ(c.alias, "qwen2.5:0.5b");
  // Anything path-like must be an existing regular file.
  std::string e = ErrorOf({"-m", dir_ + "/nope.gguf"});
  EXPECT_NE(e.find("does not exist"), std::string::npos) << e;
  e = ErrorOf({"-m", "models/nope"});
  EXPECT_NE(e.find("does not exist"), std::string::npos) << e;
  e = ErrorOf({"-m", dir_});
  EXPECT_NE(e.find("not a regular file"), std::string::npos) << e;
  env_["BASTION_MODEL"] = model_;
  c = MustResolve({});
  EXPECT_EQ(c.model_path, model_);
  EXPECT_EQ(c.model_name, "");
  env_.erase("BASTION_MODEL");
  // Store names and references, including the hub forms that end in .gguf.
  for (const std::string name : {"qwen2.5:1.5b-instruct-q8_0", "hf.co/Qwen/Qwen2.5-0.5B-Instruct-GGUF:Q8_0",
                                 "hf.co/Qwen/Qwen2.5-0.5B-Instruct-GGUF/qwen2.5-0.5b-instruct-q8_0.gguf",
                                 "ollama://qwen2.5:0.5b", "mine"}) {
    c = MustResolve({"-m", name});
    EXPECT_EQ(c.model_path, "") << name;
    EXPECT_EQ(c.model_name, name);
    EXPECT_EQ(c.alias, name);
    EXPECT_EQ(MustResolve({"-m", name, "--alias", "x"}).alias, "x");
  }
}

TEST_F(ServeConfigTest, PathsExpandHomeAndFileRelativePaths) {
  std::filesystem::create_directories(dir_ + "/home/models");
  const std::string in_home = dir_ + "/home/models/q.gguf";
  std::ofstream(in_home) << "GGUF";
  env_["BASTION_MODEL"] = "~/models/q.gguf";
  env_["BASTION_HOME"] = "~/state";
  ServeConfig c = MustResolve({});
  EXPECT_EQ(c.model_path, in_home);
  EXPECT_EQ(c.state_dir, dir_ + "/home/state");
  EXPECT_EQ(c.alias, "q");
  env_.erase("BASTION_MODEL");
  env_.erase("BASTION_HOME");

  std::filesystem::create_directories(dir_ + "/conf");
  const std::string file = WriteFile("conf/s.toml", "model = \"../qwen-test.GGUF\"\nstate_dir = \"state\"\n");
  c = MustResolve({"--config", file});
  EXPECT_EQ(c.model_path, model_);
  EXPECT_EQ(c.state_dir, dir_ + "/conf/state");
}

TEST_F(ServeConfigTest, ByteSizesTakeSuffixes) {
  for (const auto& [text, bytes] : std::vector<std::pair<std::string, size_t>>{
           {"16MiB", 16u << 20}, {"2k", 2048}, {"1G", 1u << 30}, {"4096", 4096}, {"8KiB", 8192}}) {
    env_["BASTION_MAX_BODY_BYTES"] = text;
    EXPECT_EQ(MustResolve({"-m", model_}).limits.max_body_bytes, bytes) << text;
  }
  env_["BASTION_MAX_BODY_BYTES"] = "2GiB";
  EXPECT_NE(ErrorOf({"-m", model_}).find("must be between 1KiB and 1GiB, got 2GiB"), std::string::npos);
}

TEST_F(ServeConfigTest, HelpListsEverySettingWithEnvAndDefault) {
  CLI::App app{"serve"};
  ServeFlags flags;
  RegisterServeFlags(&app, &flags);
  const std::string help = app.help();
  for (const SettingInfo& s : ServeSettings()) {
    SCOPED_TRACE(s.name);
    EXPECT_NE(help.find(s.flags.substr(s.flags.rfind(',') + 1)), std::string::npos);
    EXPECT_NE(help.find("[env: " + s.env + "]"), std::string::npos);
    EXPECT_NE(help.find("[default: " + s.default_text + "]"), std::string::npos);
    if (!s.toml_key.empty()) {
      EXPECT_NE(help.find("[config: " + s.toml_key + "]"), std::string::npos);
    }
  }
  EXPECT_NE(help.find("11434 is Ollama's"), std::string::npos);
  EXPECT_NE(help.find("[default: 8MiB]"), std::string::npos);
  EXPECT_NE(help.find("a flag beats the environment"), std::string::npos);
}

TEST_F(ServeConfigTest, TlsModesAndTheirChecks) {
  ServeConfig c = MustResolve({"-m", model_});
  EXPECT_EQ(c.tls_mode(), ServeConfig::TlsMode::kLocal);
  EXPECT_EQ(c.http_port, -1);
  EXPECT_EQ(c.hsts, "auto");
  EXPECT_EQ(c.HstsHeader(), "");  // local CA: no HSTS on localhost
  EXPECT_EQ(c.acme_ca, std::string(kLetsEncryptProduction));

  c = MustResolve({"-m", model_, "--no-tls"});
  EXPECT_EQ(c.tls_mode(), ServeConfig::TlsMode::kOff);
  EXPECT_EQ(c.HstsHeader(), "");

  c = MustResolve({"-m", model_, "--tls-cert", "/c.pem", "--tls-key", "/k.pem"});
  EXPECT_EQ(c.tls_mode(), ServeConfig::TlsMode::kFiles);
  EXPECT_EQ(c.HstsHeader(), "max-age=31536000");
  EXPECT_EQ(c.http_port, -1);

  c = MustResolve({"-m", model_, "--domain", "AI.Example.com", "--domain", "b.example.com,ai.example.com",
                   "--acme-ca", "staging", "--email", "me@example.com"});
  EXPECT_EQ(c.tls_mode(), ServeConfig::TlsMode::kAcme);
  EXPECT_EQ(c.domains, (std::vector<std::string>{"ai.example.com", "b.example.com"}));
  EXPECT_EQ(c.http_port, 80);
  EXPECT_EQ(c.acme_ca, std::string(kLetsEncryptStaging));
  EXPECT_EQ(c.HstsHeader(), "max-age=31536000");
  EXPECT_EQ(MustResolve({"-m", model_, "--domain", "a.example.com", "--http-port", "8080"}).http_port, 8080);
  EXPECT_EQ(MustResolve({"-m", model_, "--domain", "a.example.com", "--hsts", "off"}).HstsHeader(), "");
  EXPECT_EQ(MustResolve({"-m", model_, "--hsts", "max-age=5"}).HstsHeader(), "max-age=5");

  EXPECT_NE(ErrorOf({"-m", model_, "--tls-cert", "/c.pem"}).find("go together"), std::string::npos);
  EXPECT_NE(ErrorOf({"-m", model_, "--tls-cert", "/c", "--tls-key", "/k", "--domain", "a.example.com"})
                .find("choose one"),
            std::string::npos);
  EXPECT_NE(ErrorOf({"-m", model_, "--no-tls", "--domain", "a.example.com"}).find("--no-tls"), std::string::npos);
  EXPECT_NE(ErrorOf({"-m", model_, "--no-tls", "--http-port", "80"}).find("--no-tls"), std::string::npos);
  EXPECT_NE(ErrorOf({"-m", model_, "--port", "8080", "--http-port", "8080"}).find("different ports"), std::string::npos);
  EXPECT_NE(ErrorOf({"-m", model_, "--domain", "*.example.com"}).find("DNS-01"), std::string::npos);
  EXPECT_NE(ErrorOf({"-m", model_, "--domain", "localhost"}).find("not a public DNS name"), std::string::npos);
  EXPECT_NE(ErrorOf({"-m", model_, "--domain", "bad_name!.com"}).find("not a public DNS name"), std::string::npos);
  EXPECT_NE(ErrorOf({"-m", model_, "--domain", "10.0.0.1"}).find("IP address"), std::string::npos);
  EXPECT_NE(ErrorOf({"-m", model_, "--domain", "a.example.com,"}).find("empty item"), std::string::npos);
  EXPECT_NE(ErrorOf({"-m", model_, "--email", "nobody"}).find("e-mail"), std::string::npos);
  EXPECT_NE(ErrorOf({"-m", model_, "--acme-ca", "http://ca.test/dir"}).find("https://"), std::string::npos);
  EXPECT_NE(ErrorOf({"-m", model_, "--hsts", "yes"}).find("max-age"), std::string::npos);
  // ACME challenge types: the default order, a chosen one, and bad lists.
  EXPECT_EQ(c.acme_challenges, (std::vector<std::string>{"http-01", "tls-alpn-01"}));
  EXPECT_EQ(c.acme_retry_min_s, 60);
  EXPECT_EQ(MustResolve({"-m", model_, "--acme-challenge", "TLS-ALPN-01"}).acme_challenges,
            (std::vector<std::string>{"tls-alpn-01"}));
  EXPECT_NE(ErrorOf({"-m", model_, "--acme-challenge", "dns-01"}).find("not supported"), std::string::npos);
  EXPECT_NE(ErrorOf({"-m", model_, "--acme-challenge", "http-01,http-01"}).find("twice"), std::string::npos);
  EXPECT_NE(ErrorOf({"-m", model_, "--acme-retry-min", "0"}).find("acme"), std::string::npos);
  // The guard's settings check their values.
  EXPECT_NE(ErrorOf({"-m", model_, "--rate", "fast"}).find("rate"), std::string::npos);
  EXPECT_NE(ErrorOf({"-m", model_, "--trusted-proxies", "10.0.0.1/8"}).find("10.0.0.0/8"), std::string::npos);
  EXPECT_NE(ErrorOf({"-m", model_, "--cors-origin", "https://a.example.com/path"}).find("cors"), std::string::npos);
  EXPECT_TRUE(MustResolve({"-m", model_, "--host", "127.0.0.2"}).ListensOnLoopbackOnly());
  EXPECT_TRUE(MustResolve({"-m", model_, "--host", "::1"}).ListensOnLoopbackOnly());
  EXPECT_FALSE(MustResolve({"-m", model_, "--host", "0.0.0.0"}).ListensOnLoopbackOnly());
  EXPECT_FALSE(MustResolve({"-m", model_, "--host", "127.example.com"}).ListensOnLoopbackOnly());
  env_["BASTION_DOMAIN"] = "a.example.com, b.example.com";
  EXPECT_EQ(MustResolve({"-m", model_}).domains, (std::vector<std::string>{"a.example.com", "b.example.com"}));
  env_.erase("BASTION_DOMAIN");
}

TEST_F(ServeConfigTest, LlamaCppStyleNpFlag) {
  std::vector<std::string> args = {"serve", "-np", "8", "-m", model_};
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  RewriteLegacyServeFlags(static_cast<int>(argv.size()), argv.data());
  CLI::App app{"serve"};
  ServeFlags flags;
  RegisterServeFlags(&app, &flags);
  app.parse(static_cast<int>(argv.size()), argv.data());
  auto c = ResolveServeConfig(flags, Lookup());
  ASSERT_TRUE(c.ok()) << c.error().message();
  EXPECT_EQ(c->parallel, 8);
}

}  // namespace
}  // namespace bastion::cli
