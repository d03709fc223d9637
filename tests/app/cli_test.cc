// End-to-end checks of the bastion command line: the real binary, run as a user would.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include <nlohmann/json.hpp>

#include "test_util.h"

namespace bastion {
namespace {

struct RunResult {
  int exit_code = -1;
  std::string out;  // stdout
  std::string err;  // stderr
};

std::string Bastion() { return std::string(BASTION_BINARY_DIR) + "/bastion"; }

// Runs `bastion <args>` through the shell with optional stdin text.
RunResult RunBastion(const std::string& args, const std::string& stdin_text = "") {
  const std::string dir = testing::TempDir("cli_run");
  const std::string in = dir + "/stdin", out = dir + "/stdout", err = dir + "/stderr";
  std::ofstream(in) << stdin_text;
  const std::string cmd = Bastion() + " " + args + " <" + in + " >" + out + " 2>" + err;
  const int status = std::system(cmd.c_str());
  RunResult r;
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  r.out = testing::ReadFileToString(out);
  r.err = testing::ReadFileToString(err);
  return r;
}

std::string LastLine(const std::string& s) {
  std::string t = s;
  while (!t.empty() && t.back() == '\n') t.pop_back();
  const size_t nl = t.rfind('\n');
  return nl == std::string::npos ? t : t.substr(nl + 1);
}

class Cli : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(testing::TempDir("cli"));
    model_ = new std::string(*dir_ + "/tiny-q8.gguf");
    const RunResult r = RunBastion("synth --preset tiny --type Q8_0 -q -o " + *model_);
    ASSERT_EQ(r.exit_code, 0) << r.err;
  }
  static std::string* dir_;
  static std::string* model_;
};
std::string* Cli::dir_ = nullptr;
std::string* Cli::model_ = nullptr;

TEST_F(Cli, GenerateGreedyTokensPrintsIdsOnLastLine) {
  const RunResult r = RunBastion("generate -m " + *model_ + " --tokens 10,20,30 -n 6 --temp 0 --ignore-eos --print-ids");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto ids = nlohmann::json::parse(LastLine(r.out));
  ASSERT_TRUE(ids.is_array());
  EXPECT_EQ(ids.size(), 6u);
  // Greedy is deterministic.
  const RunResult again = RunBastion("generate -m " + *model_ + " --tokens 10,20,30 -n 6 --temp 0 --ignore-eos --print-ids");
  EXPECT_EQ(LastLine(again.out), LastLine(r.out));
}

TEST_F(Cli, SameSeedSameText) {
  const std::string args = "generate -m " + *model_ + " -p 'once upon a time' -n 12 --temp 1.0 --seed 5 --ignore-eos";
  const RunResult a = RunBastion(args), b = RunBastion(args);
  ASSERT_EQ(a.exit_code, 0) << a.err;
  EXPECT_EQ(a.out, b.out);
  EXPECT_FALSE(a.out.empty());
}

TEST_F(Cli, EvalWritesOneRowOrAll) {
  const std::string out = *dir_ + "/logits.f32";
  RunResult r = RunBastion("eval -m " + *model_ + " --tokens 1,2,3,4 -o " + out);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(std::filesystem::file_size(out), 4096u * sizeof(float));
  const auto last = testing::ReadF32File(out);
  r = RunBastion("eval -m " + *model_ + " --tokens 1,2,3,4 --all -o " + out);
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto all = testing::ReadF32File(out);
  ASSERT_EQ(all.size(), 4u * 4096u);
  // The last row of --all is the single row of the plain run.
  for (size_t i = 0; i < 4096; ++i) ASSERT_NEAR(all[3 * 4096 + i], last[i], 1e-4f * (1.0f + std::fabs(last[i])));
}

TEST_F(Cli, TokenizeRoundTripsThroughGenerate) {
  const RunResult r = RunBastion("tokenize -m " + *model_, "hello world");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto ids = nlohmann::json::parse(r.out);
  ASSERT_TRUE(ids.is_array());
  EXPECT_GE(ids.size(), 2u);
  const RunResult special = RunBastion("tokenize -m " + *model_ + " --special", "<|im_start|>");
  EXPECT_EQ(nlohmann::json::parse(special.out).size(), 1u);
  const RunResult plain = RunBastion("tokenize -m " + *model_, "<|im_start|>");
  EXPECT_GT(nlohmann::json::parse(plain.out).size(), 1u);
}

TEST_F(Cli, RunChatsOverStdin) {
  const RunResult r = RunBastion("run -m " + *model_ + " -n 5 --temp 0", "hi there\nand again\n/bye\n");
  ASSERT_EQ(r.exit_code, 0) << r.err;
}

TEST_F(Cli, BenchJson) {
  const RunResult r = RunBastion("bench -m " + *model_ + " -p 32 -n 8 -r 2 --json");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[0]["n_prompt"], 32);
  EXPECT_EQ(j[1]["n_gen"], 8);
  EXPECT_GT(j[0]["avg_ts"].get<double>(), 0.0);
  EXPECT_TRUE(j[1].contains("stddev_ts"));
  // Decode's read probe runs around every repetition: one share of the limit per repetition.
  EXPECT_GT(j[1]["read_bandwidth_gbps"].get<double>(), 0.0);
  ASSERT_EQ(j[1]["limit_share_samples"].size(), 2u);
  for (const auto& s : j[1]["limit_share_samples"]) EXPECT_GT(s.get<double>(), 0.0);
  EXPECT_FALSE(j[0].contains("limit_share_samples"));  // prefill has no read limit
}

TEST_F(Cli, BadInputGivesClearErrors) {
  RunResult r = RunBastion("generate -m /nonexistent.gguf -p hi");
  EXPECT_NE(r.exit_code, 0);
  r = RunBastion("generate -m " + *model_ + " --tokens 1,x,3");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("'x'"), std::string::npos) << r.err;
  r = RunBastion("generate -m " + *model_ + " --tokens 1,99999");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("out of range"), std::string::npos) << r.err;
  r = RunBastion("generate -m " + *model_ + " -p hi --top-p 3");
  EXPECT_EQ(r.exit_code, 2);
  // A file that is not GGUF.
  const std::string junk = *dir_ + "/junk.gguf";
  std::ofstream(junk) << "this is not a model";
  r = RunBastion("generate -m " + junk + " -p hi");
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.err.find("bastion: error:"), std::string::npos) << r.err;
  r = RunBastion("frobnicate");
  EXPECT_EQ(r.exit_code, 2);
}

}  // namespace
}  // namespace bastion
