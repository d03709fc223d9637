// Pull end to end against an in-process imitation of the hubs, with a synthetic GGUF: the event
// sequence the server's /api/pull will stream, the manifest, reuse of a blob already there, the
// source policy (SSRF), cancellation, digest conflicts and the registry manifest's own digest.
#include "store/pull.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "store/sha256.h"
#include "synth/synth.h"
#include "test_http_server.h"

namespace bastion::store {
namespace {

namespace fs = std::filesystem;
using testing::ServeRange;
using testing::TestHttpServer;
using testing::TestRequest;
using testing::TestResponse;

class PullTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    char tmpl[] = "/tmp/bastion-pull-model-XXXXXX";
    model_dir_ = new std::string(::mkdtemp(tmpl));
    SynthOptions o;
    o.preset = "tiny";
    o.file_type = FileType::kQ8_0;
    const std::string path = *model_dir_ + "/tiny.gguf";
    ASSERT_TRUE(WriteSyntheticModel(o, path).ok());
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    model_ = new std::string(ss.str());
    Sha256 h;
    h.Update(*model_);
    sha_ = new std::string(h.FinishHex());
  }
  static void TearDownTestSuite() { fs::remove_all(*model_dir_); }

  void SetUp() override {
    char tmpl[] = "/tmp/bastion-pull-test-XXXXXX";
    state_ = ::mkdtemp(tmpl);
    hub_ = std::make_unique<TestHttpServer>([this](const TestRequest& req) { return Hub(req); });
    request_.state_dir = state_;
    request_.endpoints.hf_endpoint = hub_->url();
    request_.endpoints.ollama_registry = hub_->url();
    request_.fetch.retry_base = std::chrono::milliseconds(10);
    request_.fetch.max_attempts = 2;
  }
  void TearDown() override {
    hub_.reset();
    fs::remove_all(state_);
  }

  TestResponse Hub(const TestRequest& req) {
    TestResponse r;
    if (req.path == "/o/r/resolve/main/m.gguf") {
      r.status = 302;
      r.headers = {{"Location", "/cdn/" + *sha_},
                   {"X-Linked-Size", std::to_string(model_->size())},
                   {"X-Linked-Etag", "\"" + advertised_.value_or(*sha_) + "\""},
                   {"Content-Length", "0"}};
      return r;
    }
    if (req.path == "/cdn/" + *sha_) return ServeRange(req, *model_);
    if (req.path == "/v2/library/m/manifests/t") {
      r.body = R"({"schemaVersion":2,"layers":[{"mediaType":"application/vnd.ollama.image.model","digest":"sha256:)" +
               *sha_ + R"(","size":)" + std::to_string(model_->size()) + "}]}";
      r.headers.emplace_back("Docker-Content-Digest", "sha256:" + std::string(64, '0'));  // wrong on purpose
      return r;
    }
    r.status = 404;
    return r;
  }

  std::vector<PullEvent> PullNow(Result<Manifest>* out, const std::atomic<bool>* cancel = nullptr) {
    std::vector<PullEvent> events;
    *out = Pull(request_, [&](const PullEvent& e) { events.push_back(e); }, cancel);
    return events;
  }

  static std::string* model_dir_;
  static std::string* model_;
  static std::string* sha_;
  std::string state_;
  std::unique_ptr<TestHttpServer> hub_;
  PullRequest request_;
  std::optional<std::string> advertised_;
};
std::string* PullTest::model_dir_ = nullptr;
std::string* PullTest::model_ = nullptr;
std::string* PullTest::sha_ = nullptr;

TEST_F(PullTest, EventsManifestAndReuse) {
  request_.reference = "hf.co/o/r/m.gguf";
  Result<Manifest> m = Error("");
  auto events = PullNow(&m);
  ASSERT_TRUE(m.ok()) << m.error().message();
  EXPECT_EQ(m->name, "hf.co/o/r/m.gguf");
  EXPECT_EQ(m->digest, "sha256:" + *sha_);
  EXPECT_EQ(m->size, model_->size());
  EXPECT_EQ(m->weight_type, "Q8_0");
  EXPECT_EQ(m->architecture, "qwen2");
  EXPECT_GT(m->parameters, 0);
  EXPECT_EQ(m->source_url, hub_->url("/o/r/resolve/main/m.gguf"));

  ASSERT_GE(events.size(), 5u);
  EXPECT_EQ(events.front().status, "pulling manifest");
  const std::string pulling = "pulling " + sha_->substr(0, 12);
  EXPECT_EQ(events[1].status, pulling);
  EXPECT_EQ(events[1].digest, "sha256:" + *sha_);
  EXPECT_EQ(events[1].total, model_->size());
  const auto& last_download = events[events.size() - 4];
  EXPECT_EQ(last_download.status, pulling);
  EXPECT_EQ(last_download.completed, model_->size());
  EXPECT_EQ(events[events.size() - 3].status, "verifying sha256 digest");
  EXPECT_EQ(events[events.size() - 2].status, "writing manifest");
  EXPECT_EQ(events.back().status, "success");

  auto found = ModelStore(state_).Find("hf.co/o/r/m.gguf");
  ASSERT_TRUE(found.ok() && found->has_value());

  // The same blob under another name: no second download.
  const size_t before = hub_->requests().size();
  request_.name = "copy";
  events = PullNow(&m);
  ASSERT_TRUE(m.ok()) << m.error().message();
  for (size_t i = before; i < hub_->requests().size(); ++i) EXPECT_NE(hub_->requests()[i].path, "/cdn/" + *sha_);
  EXPECT_EQ(events[1].completed, model_->size());
  EXPECT_EQ(ModelStore(state_).List().size(), 2u);
}

TEST_F(PullTest, DigestConflictsAndMismatches) {
  request_.reference = "hf.co/o/r/m.gguf";
  request_.sha256 = std::string(64, 'e');
  Result<Manifest> m = Error("");
  PullNow(&m);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.error().message().find("but --sha256 says"), std::string::npos) << m.error().message();

  request_.sha256.clear();
  advertised_ = std::string(64, 'f');
  PullNow(&m);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.error().message().find("expected sha256:" + std::string(64, 'f') + ", got sha256:" + *sha_),
            std::string::npos)
      << m.error().message();
  EXPECT_TRUE(fs::is_empty(state_ + "/models/blobs"));
  EXPECT_TRUE(fs::is_empty(state_ + "/models/manifests"));
}

TEST_F(PullTest, RegistryManifestDigestIsChecked) {
  request_.reference = "ollama://m:t";
  Result<Manifest> m = Error("");
  PullNow(&m);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.error().message().find("manifest digest mismatch"), std::string::npos) << m.error().message();
}

TEST_F(PullTest, PolicyRestrictsSources) {
  Result<Manifest> m = Error("");
  request_.policy = PullPolicy::ServerDefault();
  request_.reference = "https://example.com/x.gguf";
  PullNow(&m);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.error().message().find("not allowed"), std::string::npos);
  // The hub itself is on 127.0.0.1: a server-side pull may not connect there.
  request_.reference = "hf.co/o/r/m.gguf";
  PullNow(&m);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.error().message().find("non-public address"), std::string::npos) << m.error().message();

  PullPolicy p;
  p.allowed_url_hosts = {"models.example.com"};
  EXPECT_TRUE(CheckPullAllowed(*ParseModelRef("https://models.example.com/a.gguf"), p, "").ok());
  EXPECT_FALSE(CheckPullAllowed(*ParseModelRef("https://evil.example.com/a.gguf"), p, "").ok());
  p.require_sha256_for_url = true;
  EXPECT_FALSE(CheckPullAllowed(*ParseModelRef("https://models.example.com/a.gguf"), p, "").ok());
  p.allow_hugging_face = false;
  EXPECT_FALSE(CheckPullAllowed(*ParseModelRef("qwen2.5:0.5b"), p, "").ok());
  p.allow_ollama = false;
  EXPECT_FALSE(CheckPullAllowed(*ParseModelRef("ollama://qwen2.5"), p, "").ok());
}

TEST_F(PullTest, CancelledBeforeTheDownload) {
  std::atomic<bool> cancel{true};
  request_.reference = "hf.co/o/r/m.gguf";
  Result<Manifest> m = Error("");
  PullNow(&m, &cancel);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.error().message().find("cancelled"), std::string::npos) << m.error().message();
  EXPECT_FALSE(ModelStore(state_).Find("hf.co/o/r/m.gguf")->has_value());
}

TEST_F(PullTest, BadInputIsAnError) {
  Result<Manifest> m = Error("");
  request_.reference = "nonsense";
  PullNow(&m);
  EXPECT_FALSE(m.ok());
  request_.reference = "hf.co/o/r/m.gguf";
  request_.name = "bad name";
  PullNow(&m);
  EXPECT_FALSE(m.ok());
  request_.name.clear();
  request_.sha256 = "xyz";
  PullNow(&m);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.error().message().find("--sha256"), std::string::npos);
  request_.sha256.clear();
  request_.reference = "hf.co/o/missing/m.gguf";
  PullNow(&m);
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.error().message().find("not found (HTTP 404)"), std::string::npos) << m.error().message();
}

}  // namespace
}  // namespace bastion::store
