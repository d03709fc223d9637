// The store on disk: manifest format and its errors, name escaping, commit/list/find/copy/remove
// with reference-counted blobs, malformed manifest files, concurrent commits of one blob, and the
// -m argument resolution.
#include "store/model_store.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "store/model_ref.h"
#include "store/sha256.h"

namespace bastion::store {
namespace {

namespace fs = std::filesystem;

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/bastion-store-test-XXXXXX";
    dir_ = ::mkdtemp(tmpl);
  }
  void TearDown() override { fs::remove_all(dir_); }

  // A file with `content` in the state dir and a manifest naming its digest.
  std::pair<std::string, Manifest> MakeBlob(const std::string& name, const std::string& content, const std::string& file) {
    const std::string path = dir_ + "/" + file;
    std::ofstream(path, std::ios::binary) << content;
    Sha256 h;
    h.Update(content);
    Manifest m;
    m.name = name;
    m.source = "test";
    m.digest = "sha256:" + h.FinishHex();
    m.size = content.size();
    m.weight_type = "Q8_0";
    m.architecture = "qwen2";
    m.parameters = 123;
    m.context_length = 4096;
    m.added = NowRfc3339();
    return {path, m};
  }

  std::vector<std::string> Files(const std::string& sub) {
    std::vector<std::string> out;
    std::error_code ec;
    for (const auto& e : fs::directory_iterator(dir_ + "/models/" + sub, ec)) out.push_back(e.path().filename().string());
    std::sort(out.begin(), out.end());
    return out;
  }

  std::string dir_;
};

TEST(Manifest, RoundTripAndStrictParsing) {
  Manifest m;
  m.name = "qwen2.5:0.5b";
  m.source = "hf.co/Qwen/Qwen2.5-0.5B-Instruct-GGUF/qwen2.5-0.5b-instruct-q4_k_m.gguf";
  m.source_url = "https://huggingface.co/x";
  m.digest = "sha256:" + std::string(64, 'a');
  m.size = 1ull << 33;
  m.weight_type = "Q4_K_M";
  m.architecture = "qwen2";
  m.parameters = 494032768;
  m.context_length = 32768;
  m.added = "2025-01-31T12:00:00Z";
  auto back = ParseManifest(SerializeManifest(m));
  ASSERT_TRUE(back.ok()) << back.error().message();
  EXPECT_EQ(back->name, m.name);
  EXPECT_EQ(back->size, m.size);
  EXPECT_EQ(back->parameters, m.parameters);
  EXPECT_EQ(SerializeManifest(*back), SerializeManifest(m));
  // Upper-case hex is accepted and normalized.
  auto upper = ParseManifest(R"({"name":"a","digest":"sha256:)" + std::string(64, 'A') + R"(","size":1})");
  ASSERT_TRUE(upper.ok());
  EXPECT_EQ(upper->digest, "sha256:" + std::string(64, 'a'));

  auto error_of = [](const std::string& text) {
    auto r = ParseManifest(text);
    EXPECT_FALSE(r.ok()) << text;
    return r.ok() ? "" : r.error().message();
  };
  const std::string digest = "\"sha256:" + std::string(64, 'b') + "\"";
  EXPECT_NE(error_of("").find("not valid JSON"), std::string::npos);
  EXPECT_NE(error_of("[]").find("JSON object"), std::string::npos);
  EXPECT_NE(error_of(R"({"digest":)" + digest + R"(,"size":1})").find("missing field 'name'"), std::string::npos);
  EXPECT_NE(error_of(R"({"name":"a","digest":"md5:x","size":1})").find("field 'digest'"), std::string::npos);
  EXPECT_NE(error_of(R"({"name":"a","digest":)" + digest + R"(,"size":-1})").find("non-negative"), std::string::npos);
  EXPECT_NE(error_of(R"({"name":"a","digest":)" + digest + R"(,"size":"1"})").find("field 'size'"), std::string::npos);
  EXPECT_NE(error_of(R"({"name":7,"digest":)" + digest + R"(,"size":1})").find("expected a string"), std::string::npos);
  EXPECT_NE(error_of(R"({"name":"a b","digest":)" + digest + R"(,"size":1})").find("invalid model name"), std::string::npos);
  EXPECT_NE(error_of(std::string(10000, '[')).find("nested"), std::string::npos);
}

TEST(Manifest, NameEscapingCannotLeaveTheDirectory) {
  EXPECT_EQ(EscapeModelName("qwen2.5:0.5b"), "qwen2.5%3A0.5b");
  EXPECT_EQ(EscapeModelName("hf.co/o/r:Q8_0"), "hf.co%2Fo%2Fr%3AQ8_0");
  EXPECT_EQ(EscapeModelName(".."), "%2E.");
  EXPECT_EQ(EscapeModelName("a%b"), "a%25b");
  EXPECT_NE(EscapeModelName("A"), EscapeModelName("a"));
  for (const std::string name : {"../../etc/passwd", "/abs", ".hidden", "x\\y"}) {
    EXPECT_EQ(EscapeModelName(name).find('/'), std::string::npos) << name;
    EXPECT_NE(EscapeModelName(name).front(), '.') << name;
  }
  // A valid name escapes to up to 3x its length; these all escape past 200 bytes, so each keeps a
  // prefix, then '~' and its 64-digit hash, and distinct names stay distinct.
  const std::string slashes(200, '/'), colons(200, ':');
  for (const std::string& name : {slashes, colons, std::string(199, ':') + "a", std::string(199, 'a') + "/"}) {
    ASSERT_TRUE(IsValidModelName(name));
    const std::string file = EscapeModelName(name);
    EXPECT_LE(file.size(), 200u) << file;
    EXPECT_EQ(file.find('/'), std::string::npos);
    ASSERT_GT(file.size(), 65u);
    EXPECT_EQ(file[file.size() - 65], '~') << file;
    EXPECT_EQ(file.find('~'), file.size() - 65) << file;
  }
  EXPECT_NE(EscapeModelName(slashes), EscapeModelName(colons));
  EXPECT_NE(EscapeModelName(std::string(199, ':') + "a"), EscapeModelName(std::string(199, ':') + "b"));
  EXPECT_EQ(EscapeModelName(std::string(200, 'a')), std::string(200, 'a'));  // fits: unchanged
}

TEST_F(StoreTest, NamesOfEveryLengthCanBeStored) {
  // 200 characters, most of which escape to 3: the manifest's file name must still be creatable.
  const std::string name = "hf.co/" + std::string(194, ':');
  ASSERT_TRUE(IsValidModelName(name));
  ModelStore store(dir_);
  auto [file, m] = MakeBlob(name, "gguf bytes", "download.partial");
  const Status committed = store.Commit(file, m);
  ASSERT_TRUE(committed.ok()) << committed.error().message();
  auto found = store.Find(name);
  ASSERT_TRUE(found.ok() && found->has_value());
  EXPECT_EQ((*found)->name, name);
  std::vector<std::string> problems;
  ASSERT_EQ(store.List(&problems).size(), 1u);
  EXPECT_TRUE(problems.empty());
  EXPECT_TRUE(*store.Remove(name));
}

TEST(Manifest, Rfc3339) {
  EXPECT_EQ(ParseRfc3339("1970-01-02T00:00:00Z"), 86400);
  EXPECT_FALSE(ParseRfc3339("2025-01-31 12:00:00").has_value());
  EXPECT_FALSE(ParseRfc3339("").has_value());
  EXPECT_TRUE(ParseRfc3339(NowRfc3339()).has_value());
}

TEST_F(StoreTest, CommitFindListCopyRemove) {
  ModelStore store(dir_);
  auto [file, m] = MakeBlob("qwen2.5:0.5b", "gguf bytes", "download.partial");
  ASSERT_TRUE(store.Commit(file, m).ok());
  EXPECT_FALSE(fs::exists(file)) << "moved, not copied";
  EXPECT_EQ(Files("blobs"), std::vector<std::string>{"sha256-" + m.DigestHex()});
  EXPECT_EQ(Files("manifests"), std::vector<std::string>{"qwen2.5%3A0.5b.json"});

  auto found = store.Find("qwen2.5:0.5b");
  ASSERT_TRUE(found.ok());
  ASSERT_TRUE(found->has_value());
  EXPECT_EQ((*found)->digest, m.digest);
  EXPECT_FALSE(store.Find("other")->has_value());

  ASSERT_TRUE(store.Copy("qwen2.5:0.5b", "mine").ok());
  EXPECT_FALSE(store.Copy("ghost", "x").ok());
  EXPECT_FALSE(store.Copy("mine", "bad name").ok());
  const auto list = store.List();
  ASSERT_EQ(list.size(), 2u);
  EXPECT_EQ(list[0].name, "mine");
  EXPECT_EQ(list[1].name, "qwen2.5:0.5b");

  // The blob stays while a name refers to it.
  EXPECT_TRUE(*store.Remove("qwen2.5:0.5b"));
  EXPECT_EQ(Files("blobs").size(), 1u);
  EXPECT_FALSE(*store.Remove("qwen2.5:0.5b"));
  EXPECT_TRUE(*store.Remove("mine"));
  EXPECT_TRUE(Files("blobs").empty());
  EXPECT_TRUE(Files("manifests").empty());
}

TEST_F(StoreTest, CommitChecksTheBlob) {
  ModelStore store(dir_);
  auto [file, m] = MakeBlob("a", "12345", "f1");
  m.size = 6;
  auto st = store.Commit(file, m);
  ASSERT_FALSE(st.ok());
  EXPECT_NE(st.error().message().find("has 5 bytes, the manifest says 6"), std::string::npos) << st.error().message();
  EXPECT_TRUE(Files("manifests").empty());
  Manifest missing = m;
  missing.digest = "sha256:" + std::string(64, 'c');
  EXPECT_FALSE(store.Commit("", missing).ok());
  Manifest bad = m;
  bad.name = "bad name";
  EXPECT_FALSE(store.Commit("", bad).ok());
}

TEST_F(StoreTest, MalformedManifestFiles) {
  ModelStore store(dir_);
  auto [file, m] = MakeBlob("good", "content", "f");
  ASSERT_TRUE(store.Commit(file, m).ok());
  std::ofstream(dir_ + "/models/manifests/broken.json") << "{not json";
  std::ofstream(dir_ + "/models/manifests/other.json") << SerializeManifest(m);  // "good" under another file name
  std::vector<std::string> problems;
  const auto list = store.List(&problems);
  ASSERT_EQ(list.size(), 1u);
  EXPECT_EQ(list[0].name, "good");
  ASSERT_EQ(problems.size(), 2u);
  auto broken = store.Find("broken");
  ASSERT_FALSE(broken.ok());
  EXPECT_NE(broken.error().message().find("not valid JSON"), std::string::npos);
  EXPECT_TRUE(*store.Remove("broken"));  // a broken manifest can still be removed
  EXPECT_EQ(Files("blobs").size(), 1u);
}

TEST_F(StoreTest, ConcurrentCommitsOfOneBlobLeaveOneBlob) {
  ModelStore store(dir_);
  std::vector<std::thread> threads;
  std::atomic<int> failures{0};
  for (int i = 0; i < 8; ++i) {
    auto [file, m] = MakeBlob("model", std::string(100000, 'x'), "partial" + std::to_string(i));
    threads.emplace_back([&store, &failures, file = file, m = m] {
      if (!store.Commit(file, m).ok()) ++failures;
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failures.load(), 0);
  EXPECT_EQ(Files("blobs").size(), 1u);
  EXPECT_EQ(Files("manifests").size(), 1u);
  for (int i = 0; i < 8; ++i) EXPECT_FALSE(fs::exists(dir_ + "/partial" + std::to_string(i)));
}

TEST_F(StoreTest, ResolveModelArgument) {
  ModelStore store(dir_);
  auto [file, m] = MakeBlob("qwen2.5:0.5b", "bytes", "f");
  const std::string plain = dir_ + "/plain.gguf";
  std::ofstream(plain) << "x";
  ASSERT_TRUE(store.Commit(file, m).ok());
  auto byfile = ResolveModelArgument(dir_, plain);
  ASSERT_TRUE(byfile.ok());
  EXPECT_EQ(byfile->path, plain);
  EXPECT_TRUE(byfile->name.empty());
  auto byname = ResolveModelArgument(dir_, "qwen2.5:0.5b");
  ASSERT_TRUE(byname.ok());
  EXPECT_EQ(byname->path, store.BlobPath(m.DigestHex()));
  EXPECT_EQ(byname->name, "qwen2.5:0.5b");
  auto missing = ResolveModelArgument(dir_, "ghost");
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message().find("bastion pull ghost"), std::string::npos);
  auto nofile = ResolveModelArgument(dir_, "/nonexistent/x.gguf");
  ASSERT_FALSE(nofile.ok());
  EXPECT_NE(nofile.error().message().find("does not exist"), std::string::npos);
  auto dir = ResolveModelArgument(dir_, dir_);
  ASSERT_FALSE(dir.ok());
  EXPECT_NE(dir.error().message().find("not a regular file"), std::string::npos);
}

}  // namespace
}  // namespace bastion::store
