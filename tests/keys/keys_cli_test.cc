// `bastion keys` through the real binary, as an operator runs it.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <cstdlib>
#include <fstream>

#include <nlohmann/json.hpp>

#include "keys/key_store.h"
#include "test_util.h"

namespace bastion::keys {
namespace {

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
};

// Runs `[env] bastion <args>` through the shell.
RunResult RunBastion(const std::string& args, const std::string& env = "") {
  const std::string dir = testing::TempDir("keys_cli_run");
  const std::string out = dir + "/stdout", err = dir + "/stderr";
  const std::string cmd = env + " " + std::string(BASTION_BINARY_DIR) + "/bastion " + args + " </dev/null >" + out + " 2>" + err;
  const int status = std::system(cmd.c_str());
  RunResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = testing::ReadFileToString(out);
  r.err = testing::ReadFileToString(err);
  return r;
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

TEST(KeysCli, CreateListRevoke) {
  const std::string state = testing::TempDir("keys_cli") + "/state";
  const std::string sd = " --state-dir " + state;
  RunResult r = RunBastion("keys list" + sd);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("no API keys"), std::string::npos);

  r = RunBastion("keys create --name ci --rate 2r/s --burst 4 --max-concurrent 2 --expires 2099-01-01" + sd);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string secret = Trim(r.out);  // stdout is the secret alone
  EXPECT_EQ(secret.rfind("bst_", 0), 0u) << r.out;
  EXPECT_EQ(secret.size(), 47u);
  EXPECT_NE(r.err.find("only time"), std::string::npos) << r.err;
  r = RunBastion("keys create --name ops --scope admin" + sd);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const std::string admin_secret = Trim(r.out);

  struct stat st;
  ASSERT_EQ(::stat(KeysFilePath(state).c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  const std::string file = testing::ReadFileToString(KeysFilePath(state));
  EXPECT_EQ(file.find(secret), std::string::npos);
  EXPECT_EQ(file.find(admin_secret), std::string::npos);

  r = RunBastion("keys list" + sd);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("ci"), std::string::npos);
  EXPECT_NE(r.out.find("ops"), std::string::npos);
  EXPECT_NE(r.out.find("2 r/s, burst 4, 2 concurrent"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("2099-01-01T00:00:00Z"), std::string::npos);
  EXPECT_NE(r.out.find(secret.substr(0, 10)), std::string::npos);  // the display id
  EXPECT_EQ(r.out.find(secret), std::string::npos);
  EXPECT_EQ(r.out.find("sha256"), std::string::npos);

  r = RunBastion("keys list --json" + sd);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[0]["name"], "ci");
  EXPECT_EQ(j[0]["id"], secret.substr(0, 10));
  EXPECT_EQ(j[0]["scope"], "inference");
  EXPECT_EQ(j[0]["rate"], 2.0);
  EXPECT_EQ(j[0]["burst"], 4);
  EXPECT_EQ(j[0]["max_concurrent"], 2);
  EXPECT_EQ(j[0]["expires"], "2099-01-01T00:00:00Z");
  EXPECT_EQ(j[0]["expired"], false);
  EXPECT_EQ(j[1]["scope"], "admin");
  EXPECT_TRUE(j[1]["expires"].is_null());
  EXPECT_EQ(r.out.find(secret), std::string::npos);

  // The server side sees the same keys.
  auto store = KeyStore::Load(state, [](const std::string&) {});
  ASSERT_TRUE(store.ok()) << store.error().message();
  EXPECT_TRUE((*store)->Authenticate(secret, std::chrono::system_clock::now()).has_value());

  r = RunBastion("keys revoke ci" + sd);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_TRUE((*store)->ReloadIfChanged());
  EXPECT_FALSE((*store)->Authenticate(secret, std::chrono::system_clock::now()).has_value());

  r = RunBastion("keys revoke ci" + sd);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("no key named 'ci'"), std::string::npos) << r.err;
}

TEST(KeysCli, BadInputIsAClearError) {
  const std::string state = testing::TempDir("keys_cli_bad");
  const std::string sd = " --state-dir " + state;
  ASSERT_EQ(RunBastion("keys create --name ci" + sd).exit_code, 0);
  RunResult r = RunBastion("keys create --name ci" + sd);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("already exists"), std::string::npos) << r.err;
  r = RunBastion("keys create --name 'a b'" + sd);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("must be 1..64"), std::string::npos) << r.err;
  r = RunBastion("keys create --name x --expires 2020-01-01" + sd);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("not in the future"), std::string::npos) << r.err;
  r = RunBastion("keys create --name x --expires soon" + sd);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("--expires"), std::string::npos) << r.err;
  r = RunBastion("keys create --name x --rate fast" + sd);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("--rate"), std::string::npos) << r.err;
  r = RunBastion("keys create --name x --burst 3" + sd);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("needs a rate"), std::string::npos) << r.err;
  EXPECT_EQ(RunBastion("keys create --name x --scope root" + sd).exit_code, 2);
  EXPECT_EQ(RunBastion("keys create" + sd).exit_code, 2);
  EXPECT_EQ(RunBastion("keys revoke" + sd).exit_code, 2);
  EXPECT_EQ(RunBastion("keys" + sd).exit_code, 2);

  // A corrupt file is reported, not overwritten.
  std::ofstream(KeysFilePath(state)) << "{not json";
  r = RunBastion("keys list" + sd);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("keys.json"), std::string::npos) << r.err;
  EXPECT_EQ(testing::ReadFileToString(KeysFilePath(state)), "{not json");
}

TEST(KeysCli, StateDirDefaultsToBastionHome) {
  const std::string home = testing::TempDir("keys_cli_home");
  RunResult r = RunBastion("keys create --name envkey", "BASTION_HOME=" + home);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  auto list = ListKeys(home);
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->size(), 1u);
  EXPECT_EQ((*list)[0].name, "envkey");
  r = RunBastion("keys list", "BASTION_HOME=" + home);
  EXPECT_NE(r.out.find("envkey"), std::string::npos);
}

}  // namespace
}  // namespace bastion::keys
