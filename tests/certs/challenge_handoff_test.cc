// The file handoff of challenges from `bastion cert renew` to a running server.
#include "certs/challenge_handoff.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <thread>

#include "base/atomic_file.h"
#include "certs/test_certs.h"

namespace bastion::certs {
namespace {

using namespace std::chrono_literals;
using testing::RecordingSolver;

class HandoffTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/bastion-handoff-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = std::string(tmpl) + "/acme/challenges";
    root_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(root_); }
  std::string root_, dir_;
};

TEST_F(HandoffTest, RunningServerAnswersAndWithdraws) {
  RecordingSolver server_solver;
  ChallengeHandoffResponder responder(dir_, server_solver);
  EXPECT_FALSE(ServerIsRunning(dir_));
  ASSERT_TRUE(responder.Start(10ms).ok());
  EXPECT_TRUE(ServerIsRunning(dir_));

  FileChallengeSolver cmd(dir_, 5s);
  ASSERT_TRUE(cmd.Present(acme::ChallengeType::kHttp01, "example.com", "tok_EN-1", "tok_EN-1.thumb").ok());
  {
    std::lock_guard lock(server_solver.mutex);
    ASSERT_EQ(server_solver.presented.size(), 1u);
    EXPECT_EQ(server_solver.presented[0].domain, "example.com");
    EXPECT_EQ(server_solver.presented[0].token, "tok_EN-1");
    EXPECT_EQ(server_solver.presented[0].key_authorization, "tok_EN-1.thumb");
  }
  cmd.CleanUp(acme::ChallengeType::kHttp01, "example.com", "tok_EN-1");
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (responder.presented_count() != 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(5ms);
  }
  EXPECT_EQ(responder.presented_count(), 0u);
  {
    std::lock_guard lock(server_solver.mutex);
    ASSERT_EQ(server_solver.cleaned.size(), 1u);
    EXPECT_EQ(server_solver.cleaned[0].token, "tok_EN-1");
  }
  responder.Stop();
  EXPECT_FALSE(ServerIsRunning(dir_));
}

TEST_F(HandoffTest, ServerThatCannotAnswerSaysWhy) {
  RecordingSolver server_solver;
  server_solver.fail_with = "http-01 needs the plain-HTTP listener";
  ChallengeHandoffResponder responder(dir_, server_solver);
  ASSERT_TRUE(responder.Start(10ms).ok());
  FileChallengeSolver cmd(dir_, 5s);
  Status st = cmd.Present(acme::ChallengeType::kHttp01, "example.com", "abc", "abc.t");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("plain-HTTP listener"), std::string::npos) << st.error().message();
}

TEST_F(HandoffTest, NoServerTimesOut) {
  FileChallengeSolver cmd(dir_, 100ms);
  Status st = cmd.Present(acme::ChallengeType::kTlsAlpn01, "example.com", "abc", "abc.t");
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("no running bastion server"), std::string::npos);
  EXPECT_FALSE(cmd.Present(acme::ChallengeType::kHttp01, "example.com", "../../etc", "x").ok());
}

TEST_F(HandoffTest, GarbageFilesAreIgnored) {
  RecordingSolver server_solver;
  ChallengeHandoffResponder responder(dir_, server_solver);
  ASSERT_TRUE(MakeDirectories(dir_).ok());
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/http-01-x.json", "{not json").ok());
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/http-01-y.json", "{\"type\":\"http-01\",\"token\":\"z\",\"domain\":\"a\","
                                                        "\"key_authorization\":\"k\"}").ok());  // name mismatch
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/http-01-$.json", "{\"type\":\"http-01\",\"token\":\"$\",\"domain\":\"a\","
                                                        "\"key_authorization\":\"k\"}").ok());  // bad token
  responder.PollOnce();
  EXPECT_EQ(responder.presented_count(), 0u);
  EXPECT_TRUE(server_solver.presented.empty());
}

}  // namespace
}  // namespace bastion::certs
