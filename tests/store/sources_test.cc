// The parsers of what hubs and registries send (model info, ETags, registry manifests,
// Content-Range, Retry-After), the retry delay, the address filter, base URLs and digests.
#include <gtest/gtest.h>

#include "store/downloader.h"
#include "store/hf_source.h"
#include "store/http_fetch.h"
#include "store/ollama_source.h"
#include "store/sha256.h"
#include "store/source.h"

namespace bastion::store {
namespace {

std::string Siblings(std::initializer_list<const char*> names) {
  std::string out = R"({"id":"o/r","siblings":[)";
  bool first = true;
  for (const char* n : names) {
    out += std::string(first ? "" : ",") + R"({"rfilename":")" + n + R"("})";
    first = false;
  }
  return out + "]}";
}

TEST(HfSource, ChooseGgufForQuant) {
  const std::string info = Siblings({"README.md", "qwen2.5-0.5b-instruct-q4_k_m.gguf", "qwen2.5-0.5b-instruct-q4_0.gguf",
                                     "qwen2.5-0.5b-instruct-iq4_k_m.gguf", "qwen2.5-0.5b-instruct-fp16-00001-of-00002.gguf",
                                     "qwen2.5-0.5b-instruct-fp16-00002-of-00002.gguf", "sub/model-Q8_0.gguf"});
  EXPECT_EQ(*ChooseGgufForQuant(info, "Q4_K_M", "o/r"), "qwen2.5-0.5b-instruct-q4_k_m.gguf");
  EXPECT_EQ(*ChooseGgufForQuant(info, "q4_0", "o/r"), "qwen2.5-0.5b-instruct-q4_0.gguf");
  EXPECT_EQ(*ChooseGgufForQuant(info, "Q8_0", "o/r"), "sub/model-Q8_0.gguf");
  auto split = ChooseGgufForQuant(info, "FP16", "o/r");
  ASSERT_FALSE(split.ok());
  EXPECT_NE(split.error().message().find("split GGUF"), std::string::npos);
  auto none = ChooseGgufForQuant(info, "Q2_K", "o/r");
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.error().message().find("no .gguf file for Q2_K"), std::string::npos);
  auto several = ChooseGgufForQuant(Siblings({"a-Q8_0.gguf", "b-Q8_0.gguf"}), "Q8_0", "o/r");
  ASSERT_FALSE(several.ok());
  EXPECT_NE(several.error().message().find("several"), std::string::npos);
  // Names that could escape the repo path are ignored.
  auto unsafe = ChooseGgufForQuant(Siblings({"../x-Q8_0.gguf", "a/../b-Q8_0.gguf", "-Q8_0.gguf"}), "Q8_0", "o/r");
  ASSERT_FALSE(unsafe.ok());
  EXPECT_NE(unsafe.error().message().find("has no .gguf files"), std::string::npos);
  for (const char* bad : {"", "[]", "{}", R"({"siblings":3})", R"({"siblings":[1,{"rfilename":2}]})"}) {
    EXPECT_FALSE(ChooseGgufForQuant(bad, "Q8_0", "o/r").ok()) << bad;
  }
}

TEST(HfSource, Sha256FromEtag) {
  const std::string hex(64, 'a');
  EXPECT_EQ(Sha256FromEtag("\"" + hex + "\""), hex);
  EXPECT_EQ(Sha256FromEtag("W/\"" + std::string(64, 'B') + "\""), std::string(64, 'b'));
  EXPECT_EQ(Sha256FromEtag(hex), hex);
  EXPECT_EQ(Sha256FromEtag("\"abc\""), "");
  EXPECT_EQ(Sha256FromEtag("\"sha256:" + hex + "\""), "");
  EXPECT_EQ(Sha256FromEtag(""), "");
}

TEST(OllamaSource, ParseManifest) {
  const std::string hex(64, 'c');
  const std::string good = R"({"schemaVersion":2,"layers":[
      {"mediaType":"application/vnd.ollama.image.template","digest":"sha256:)" + std::string(64, 'd') + R"(","size":5},
      {"mediaType":"application/vnd.ollama.image.model","digest":"sha256:)" + hex + R"(","size":397807936}]})";
  auto layer = ParseOllamaManifest(good);
  ASSERT_TRUE(layer.ok()) << layer.error().message();
  EXPECT_EQ(layer->sha256, hex);
  EXPECT_EQ(layer->size, 397807936u);
  const std::string model_layer = R"({"mediaType":"application/vnd.ollama.image.model",)";
  for (const std::string& bad : {std::string(""), std::string("[]"), std::string(R"({"schemaVersion":1,"layers":[]})"),
                                 std::string(R"({"layers":{}})"), std::string(R"({"layers":[]})"),
                                 R"({"layers":[)" + model_layer + R"("digest":"md5:x","size":1}]})",
                                 R"({"layers":[)" + model_layer + R"("digest":"sha256:12","size":1}]})",
                                 R"({"layers":[)" + model_layer + R"("digest":"sha256:)" + hex + R"(","size":-1}]})",
                                 R"({"layers":[)" + model_layer + R"("digest":"sha256:)" + hex + R"("}]})",
                                 std::string(R"({"layers":[3]})"), std::string(100, '[')}) {
    EXPECT_FALSE(ParseOllamaManifest(bad).ok()) << bad;
  }
}

TEST(Http, ContentRange) {
  auto r = ParseContentRange("bytes 100-199/1000");
  ASSERT_TRUE(r.has_value());
  EXPECT_EQ(r->first, 100u);
  EXPECT_EQ(r->last, 199u);
  EXPECT_EQ(r->total, 1000u);
  EXPECT_FALSE(ParseContentRange("bytes 100-199/*")->total.has_value());
  for (const char* bad : {"", "bytes */1000", "bytes 200-100/1000", "bytes 0-999/999", "items 0-1/2", "bytes 1-2",
                          "bytes -1-2/3", "bytes 0-99999999999999999999/1"}) {
    EXPECT_FALSE(ParseContentRange(bad).has_value()) << bad;
  }
}

TEST(Http, RetryAfterAndBackoff) {
  EXPECT_EQ(ParseRetryAfter("3"), std::chrono::milliseconds(3000));
  EXPECT_EQ(ParseRetryAfter(" 0 "), std::chrono::milliseconds(0));
  EXPECT_EQ(ParseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT"), std::chrono::milliseconds(0));  // in the past
  EXPECT_FALSE(ParseRetryAfter("soon").has_value());
  EXPECT_FALSE(ParseRetryAfter("").has_value());
  EXPECT_GT(*ParseRetryAfter("99999999999999"), std::chrono::milliseconds(0));

  FetchOptions o;
  o.retry_base = std::chrono::milliseconds(1000);
  o.retry_max = std::chrono::milliseconds(8000);
  for (int attempt = 1; attempt <= 10; ++attempt) {
    const int64_t d = BackoffDelay(attempt, o, std::nullopt).count();
    const int64_t full = std::min<int64_t>(8000, 1000LL << std::min(attempt - 1, 20));
    EXPECT_GE(d, full / 2) << attempt;
    EXPECT_LE(d, full) << attempt;
  }
  EXPECT_EQ(BackoffDelay(1, o, std::chrono::milliseconds(5000)).count(), 5000);
  EXPECT_EQ(BackoffDelay(1, o, std::chrono::hours(5)), o.retry_after_max);
  EXPECT_TRUE(IsRetryableStatus(503));
  EXPECT_TRUE(IsRetryableStatus(429));
  EXPECT_FALSE(IsRetryableStatus(404));
  EXPECT_TRUE(IsRetryableCurlCode(CURLE_RECV_ERROR));
  EXPECT_FALSE(IsRetryableCurlCode(CURLE_PEER_FAILED_VERIFICATION));
}

TEST(Http, NonPublicAddresses) {
  for (const char* a : {"127.0.0.1", "10.1.2.3", "172.16.0.1", "172.31.255.255", "192.168.1.1", "169.254.169.254",
                        "100.64.0.1", "0.0.0.0", "224.0.0.1", "255.255.255.255", "::1", "::", "fe80::1", "fd00::1",
                        "::ffff:127.0.0.1", "::ffff:10.0.0.1", "64:ff9b::a00:1", "ff02::1", "not an address"}) {
    EXPECT_TRUE(IsNonPublicAddress(a)) << a;
  }
  for (const char* a : {"8.8.8.8", "172.32.0.1", "100.128.0.1", "1.1.1.1", "2606:4700::1111", "::ffff:8.8.8.8"}) {
    EXPECT_FALSE(IsNonPublicAddress(a)) << a;
  }
}

TEST(Sources, BaseUrlsAndHosts) {
  EXPECT_EQ(*NormalizeBaseUrl("https://huggingface.co/", "HF_ENDPOINT"), "https://huggingface.co");
  EXPECT_EQ(*NormalizeBaseUrl("http://127.0.0.1:8080/mirror", "x"), "http://127.0.0.1:8080/mirror");
  EXPECT_FALSE(NormalizeBaseUrl("ftp://x", "x").ok());
  EXPECT_FALSE(NormalizeBaseUrl("https://", "x").ok());
  EXPECT_FALSE(NormalizeBaseUrl("https://x/?q=1", "x").ok());
  EXPECT_EQ(UrlHost("https://User@Example.COM:8443/a?b"), "example.com:8443");
  EXPECT_EQ(UrlHost("nothing"), "");
  FetchOptions o;
  EXPECT_TRUE(CheckUrlAllowed("https://x/y", o).ok());
  EXPECT_FALSE(CheckUrlAllowed("http://x/y", o).ok());
  EXPECT_FALSE(CheckUrlAllowed("file:///etc/passwd", o).ok());
  o.allow_plain_http = true;
  EXPECT_TRUE(CheckUrlAllowed("http://x/y", o).ok());
}

TEST(Sha256, DigestsAndNormalizing) {
  Sha256 h;
  h.Update("abc");
  EXPECT_EQ(h.FinishHex(), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_EQ(h.FinishHex(), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");  // starts over
  const std::string hex(64, 'A');
  EXPECT_EQ(*NormalizeSha256("sha256:" + hex), std::string(64, 'a'));
  EXPECT_EQ(*NormalizeSha256("sha256-" + hex), std::string(64, 'a'));
  EXPECT_FALSE(NormalizeSha256("sha512:" + hex).ok());
  EXPECT_FALSE(NormalizeSha256(std::string(63, 'a')).ok());
  EXPECT_FALSE(NormalizeSha256(std::string(64, 'g')).ok());
}

}  // namespace
}  // namespace bastion::store
