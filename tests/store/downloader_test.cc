// Downloads against an in-process HTTP server: a whole file, resume of a partial file (206), a
// server that ignores Range (200: start over), a cut connection retried from where it stopped, a
// complete partial (416), 503 with Retry-After, permanent errors, redirects, cancellation, the
// address filter, and Fetch's retries.
#include "store/downloader.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "store/sha256.h"
#include "test_http_server.h"

namespace bastion::store {
namespace {

namespace fs = std::filesystem;
using testing::ServeRange;
using testing::TestHttpServer;
using testing::TestRequest;
using testing::TestResponse;

std::string Data(size_t n) {
  std::string s(n, '\0');
  uint32_t x = 12345;
  for (char& c : s) {
    x = x * 1103515245u + 12345u;
    c = static_cast<char>(x >> 24);
  }
  return s;
}

std::string HexOf(const std::string& s) {
  Sha256 h;
  h.Update(s);
  return h.FinishHex();
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class DownloaderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/bastion-dl-test-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
    options_.allow_plain_http = true;
    options_.retry_base = std::chrono::milliseconds(10);
    options_.retry_max = std::chrono::milliseconds(50);
    options_.max_attempts = 3;
  }
  void TearDown() override { fs::remove_all(dir_); }

  DownloadRequest Request(const TestHttpServer& server, const std::string& path = "/blob") {
    DownloadRequest r;
    r.url = server.url(path);
    r.partial_path = dir_ + "/blob.partial";
    return r;
  }

  std::string dir_;
  FetchOptions options_;
  const std::string data_ = Data(300000);
};

TEST_F(DownloaderTest, WholeFileWithProgressAndDigest) {
  TestHttpServer server([&](const TestRequest& req) { return ServeRange(req, data_); });
  uint64_t last = 0, total = 0;
  auto r = Download(Request(server), options_, [&](uint64_t c, uint64_t t) {
    EXPECT_GE(c, last);
    last = c;
    total = t;
  });
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->sha256, HexOf(data_));
  EXPECT_EQ(r->size, data_.size());
  EXPECT_EQ(r->requests, 1);
  EXPECT_EQ(last, data_.size());
  EXPECT_EQ(total, data_.size());
  EXPECT_EQ(Slurp(dir_ + "/blob.partial"), data_);
  EXPECT_EQ(server.requests()[0].Header("range"), "");
}

TEST_F(DownloaderTest, ResumesAPartialFileWithRange) {
  TestHttpServer server([&](const TestRequest& req) { return ServeRange(req, data_); });
  std::ofstream(dir_ + "/blob.partial", std::ios::binary) << data_.substr(0, 1000);
  auto req = Request(server);
  req.expected_size = data_.size();
  auto r = Download(req, options_, nullptr);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->resumed_from, 1000u);
  EXPECT_EQ(r->sha256, HexOf(data_));
  EXPECT_EQ(server.requests()[0].Header("range"), "bytes=1000-");
}

TEST_F(DownloaderTest, StartsOverWhenTheServerIgnoresRange) {
  TestHttpServer server([&](const TestRequest&) {
    TestResponse r;
    r.body = data_;
    return r;
  });
  std::ofstream(dir_ + "/blob.partial", std::ios::binary) << "garbage that must go";
  auto r = Download(Request(server), options_, nullptr);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->sha256, HexOf(data_));
  EXPECT_EQ(Slurp(dir_ + "/blob.partial"), data_);
}

TEST_F(DownloaderTest, ACutConnectionResumesWhereItStopped) {
  std::atomic<int> calls{0};
  TestHttpServer server([&](const TestRequest& req) {
    TestResponse r = ServeRange(req, data_);
    if (calls++ == 0) r.cut_after = 120000;
    return r;
  });
  std::vector<std::string> notes;
  options_.on_retry = [&](const std::string& n) { notes.push_back(n); };
  auto r = Download(Request(server), options_, nullptr);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->sha256, HexOf(data_));
  EXPECT_EQ(r->requests, 2);
  const auto reqs = server.requests();
  ASSERT_EQ(reqs.size(), 2u);
  EXPECT_EQ(reqs[1].Header("range"), "bytes=120000-");
  ASSERT_EQ(notes.size(), 1u);
  EXPECT_NE(notes[0].find("retrying"), std::string::npos) << notes[0];
}

TEST_F(DownloaderTest, ACompletePartialIsDone) {
  TestHttpServer server([&](const TestRequest& req) { return ServeRange(req, data_); });
  std::ofstream(dir_ + "/blob.partial", std::ios::binary) << data_;
  auto req = Request(server);
  req.expected_size = data_.size();
  auto r = Download(req, options_, nullptr);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->sha256, HexOf(data_));
}

TEST_F(DownloaderTest, RetriesServiceUnavailableThenGivesUp) {
  std::atomic<int> calls{0};
  TestHttpServer server([&](const TestRequest& req) {
    if (calls++ < 2) {
      TestResponse r;
      r.status = 503;
      r.headers.emplace_back("Retry-After", "0");
      r.body = "busy";
      return r;
    }
    return ServeRange(req, data_);
  });
  auto r = Download(Request(server), options_, nullptr);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->requests, 3);

  TestHttpServer down([&](const TestRequest&) {
    TestResponse r;
    r.status = 503;
    return r;
  });
  auto failed = Download(Request(down), options_, nullptr);
  ASSERT_FALSE(failed.ok());
  EXPECT_NE(failed.error().message().find("gave up after 3 attempts"), std::string::npos) << failed.error().message();
}

TEST_F(DownloaderTest, NotFoundIsPermanent) {
  TestHttpServer server([&](const TestRequest&) {
    TestResponse r;
    r.status = 404;
    r.body = "Entry not found";
    return r;
  });
  auto r = Download(Request(server), options_, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("HTTP 404: Entry not found"), std::string::npos) << r.error().message();
  EXPECT_EQ(server.requests().size(), 1u);
}

TEST_F(DownloaderTest, MoreThanExpectedIsAnError) {
  TestHttpServer server([&](const TestRequest& req) { return ServeRange(req, data_); });
  auto req = Request(server);
  req.expected_size = 1000;
  auto r = Download(req, options_, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("more than the expected 1000 bytes"), std::string::npos) << r.error().message();
}

TEST_F(DownloaderTest, FollowsRedirects) {
  TestHttpServer server([&](const TestRequest& req) {
    if (req.path == "/start") {
      TestResponse r;
      r.status = 302;
      r.headers.emplace_back("Location", "/cdn/blob");
      return r;
    }
    return ServeRange(req, data_);
  });
  auto r = Download(Request(server, "/start"), options_, nullptr);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->sha256, HexOf(data_));
  EXPECT_EQ(server.requests().back().path, "/cdn/blob");
}

TEST_F(DownloaderTest, CancelKeepsThePartialFile) {
  std::atomic<bool> cancel{false};
  TestHttpServer server([&](const TestRequest& req) { return ServeRange(req, data_); });
  options_.cancel = &cancel;
  auto r = Download(Request(server), options_, [&](uint64_t c, uint64_t) {
    if (c > 0) cancel = true;
  });
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("cancelled"), std::string::npos);
  EXPECT_TRUE(fs::exists(dir_ + "/blob.partial"));
}

TEST_F(DownloaderTest, TheAddressFilterRefusesLoopback) {
  TestHttpServer server([&](const TestRequest& req) { return ServeRange(req, data_); });
  options_.block_private_addresses = true;
  auto r = Download(Request(server), options_, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("non-public address 127.0.0.1"), std::string::npos) << r.error().message();
  EXPECT_TRUE(server.requests().empty());
  FetchRequest f;
  f.url = server.url("/x");
  auto fr = Fetch(f, options_);
  ASSERT_FALSE(fr.ok());
  EXPECT_NE(fr.error().message().find("non-public address"), std::string::npos);
}

TEST_F(DownloaderTest, PlainHttpNeedsPermission) {
  TestHttpServer server([&](const TestRequest& req) { return ServeRange(req, data_); });
  options_.allow_plain_http = false;
  auto r = Download(Request(server), options_, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message().find("plain http"), std::string::npos);
}

TEST_F(DownloaderTest, FetchHeadWithoutRedirectsAndRetries) {
  std::atomic<int> calls{0};
  TestHttpServer server([&](const TestRequest& req) {
    TestResponse r;
    if (calls++ == 0) {
      r.status = 503;
      return r;
    }
    r.status = 302;
    r.headers.emplace_back("Location", "/cdn/x");
    r.headers.emplace_back("X-Linked-Size", "42");
    if (req.method == "HEAD") r.headers.emplace_back("Content-Length", "0");
    return r;
  });
  FetchRequest f;
  f.method = "HEAD";
  f.url = server.url("/resolve");
  f.follow_redirects = false;
  auto r = Fetch(f, options_);
  ASSERT_TRUE(r.ok()) << r.error().message();
  EXPECT_EQ(r->status, 302);
  ASSERT_NE(r->Header("x-linked-size"), nullptr);
  EXPECT_EQ(*r->Header("x-linked-size"), "42");
  EXPECT_EQ(server.requests().size(), 2u);
  EXPECT_EQ(server.requests()[1].method, "HEAD");
}

}  // namespace
}  // namespace bastion::store
