// Model references: every accepted form, the name and source each gets, and the errors.
#include "store/model_ref.h"

#include <gtest/gtest.h>

namespace bastion::store {
namespace {

ModelRef MustParse(const std::string& text) {
  auto r = ParseModelRef(text);
  EXPECT_TRUE(r.ok()) << text << ": " << (r.ok() ? "" : r.error().message());
  return r.ok() ? *r : ModelRef{};
}

std::string ErrorOf(const std::string& text) {
  auto r = ParseModelRef(text);
  EXPECT_FALSE(r.ok()) << text << " parsed";
  return r.ok() ? "" : r.error().message();
}

TEST(ModelRef, QwenShortNames) {
  ModelRef r = MustParse("qwen2.5:0.5b");
  EXPECT_EQ(r.kind, SourceKind::kHuggingFace);
  EXPECT_EQ(r.name, "qwen2.5:0.5b");
  EXPECT_EQ(r.hf_repo, "Qwen/Qwen2.5-0.5B-Instruct-GGUF");
  EXPECT_EQ(r.hf_file, "qwen2.5-0.5b-instruct-q4_k_m.gguf");
  EXPECT_EQ(r.Source(), "hf.co/Qwen/Qwen2.5-0.5B-Instruct-GGUF/qwen2.5-0.5b-instruct-q4_k_m.gguf");

  r = MustParse("qwen2.5:0.5b-instruct-q8_0");
  EXPECT_EQ(r.name, "qwen2.5:0.5b-instruct-q8_0");
  EXPECT_EQ(r.hf_file, "qwen2.5-0.5b-instruct-q8_0.gguf");
  r = MustParse("qwen2.5:1.5b-instruct");
  EXPECT_EQ(r.hf_repo, "Qwen/Qwen2.5-1.5B-Instruct-GGUF");
  EXPECT_EQ(r.hf_file, "qwen2.5-1.5b-instruct-q4_k_m.gguf");
  r = MustParse("qwen2.5:3b-q5_k_m");
  EXPECT_EQ(r.hf_repo, "Qwen/Qwen2.5-3B-Instruct-GGUF");
  EXPECT_EQ(r.hf_file, "qwen2.5-3b-instruct-q5_k_m.gguf");
  r = MustParse("qwen2.5:7b-instruct-f16");  // f16 is spelled fp16 in Qwen's file names
  EXPECT_EQ(r.hf_file, "qwen2.5-7b-instruct-fp16.gguf");
  r = MustParse("Qwen2.5:0.5B");
  EXPECT_EQ(r.name, "qwen2.5:0.5b");
  for (const char* latest : {"qwen2.5", "qwen2.5:latest"}) {
    r = MustParse(latest);
    EXPECT_EQ(r.name, "qwen2.5:latest");
    EXPECT_EQ(r.hf_repo, "Qwen/Qwen2.5-7B-Instruct-GGUF");
  }
}

TEST(ModelRef, HuggingFace) {
  ModelRef r = MustParse("hf.co/Qwen/Qwen2.5-0.5B-Instruct-GGUF:q8_0");
  EXPECT_EQ(r.kind, SourceKind::kHuggingFace);
  EXPECT_EQ(r.hf_repo, "Qwen/Qwen2.5-0.5B-Instruct-GGUF");
  EXPECT_EQ(r.hf_quant, "Q8_0");
  EXPECT_TRUE(r.hf_file.empty());
  EXPECT_EQ(r.name, "hf.co/Qwen/Qwen2.5-0.5B-Instruct-GGUF:Q8_0");
  r = MustParse("hf.co/bartowski/Qwen2.5-7B-Instruct-GGUF");
  EXPECT_EQ(r.hf_quant, "Q4_K_M");
  r = MustParse("huggingface.co/o/r:latest");
  EXPECT_EQ(r.name, "hf.co/o/r:Q4_K_M");
  r = MustParse("hf.co/Qwen/Qwen2.5-0.5B-Instruct-GGUF/qwen2.5-0.5b-instruct-q8_0.gguf");
  EXPECT_EQ(r.hf_file, "qwen2.5-0.5b-instruct-q8_0.gguf");
  EXPECT_EQ(r.name, "hf.co/Qwen/Qwen2.5-0.5B-Instruct-GGUF/qwen2.5-0.5b-instruct-q8_0.gguf");
  r = MustParse("hf.co/o/r/sub/dir/model+x.GGUF");
  EXPECT_EQ(r.hf_file, "sub/dir/model+x.GGUF");
}

TEST(ModelRef, Ollama) {
  ModelRef r = MustParse("ollama://qwen2.5:0.5b");
  EXPECT_EQ(r.kind, SourceKind::kOllama);
  EXPECT_EQ(r.ollama_repo, "library/qwen2.5");
  EXPECT_EQ(r.ollama_tag, "0.5b");
  EXPECT_EQ(r.name, "ollama://qwen2.5:0.5b");
  EXPECT_EQ(r.Source(), "ollama://library/qwen2.5:0.5b");
  r = MustParse("ollama://someone/model");
  EXPECT_EQ(r.ollama_repo, "someone/model");
  EXPECT_EQ(r.ollama_tag, "latest");
  EXPECT_EQ(r.name, "ollama://someone/model:latest");
}

TEST(ModelRef, Urls) {
  ModelRef r = MustParse("https://example.com/models/tiny-q8_0.gguf?download=1");
  EXPECT_EQ(r.kind, SourceKind::kUrl);
  EXPECT_EQ(r.url, "https://example.com/models/tiny-q8_0.gguf?download=1");
  EXPECT_EQ(r.name, "tiny-q8_0");
  EXPECT_EQ(r.Source(), r.url);
  r = MustParse("http://127.0.0.1:8080/files/a%20b.gguf");
  EXPECT_EQ(r.name, "a-20b");
}

TEST(ModelRef, BadFormsAreErrors) {
  EXPECT_NE(ErrorOf("").find("empty"), std::string::npos);
  EXPECT_NE(ErrorOf("llama3").find("unknown model reference"), std::string::npos);
  EXPECT_NE(ErrorOf("qwen2.5:9b").find("unknown tag '9b'"), std::string::npos);
  EXPECT_NE(ErrorOf("qwen2.5:0.5b-instruct-q9_9").find("unknown tag"), std::string::npos);
  EXPECT_NE(ErrorOf("qwen2.5:0.5b-instructx").find("unknown tag"), std::string::npos);
  EXPECT_NE(ErrorOf("hf.co/onlyowner").find("OWNER/REPO"), std::string::npos);
  EXPECT_FALSE(ParseModelRef("hf.co/../etc").ok());
  EXPECT_FALSE(ParseModelRef("hf.co/o/r/../../x.gguf").ok());
  EXPECT_FALSE(ParseModelRef("hf.co/o/r/./x.gguf").ok());
  EXPECT_NE(ErrorOf("hf.co/o/r/readme.md").find(".gguf"), std::string::npos);
  EXPECT_FALSE(ParseModelRef("hf.co/o/r:Q4 K").ok());
  EXPECT_FALSE(ParseModelRef("hf.co/o/r:Q4/K").ok());
  EXPECT_FALSE(ParseModelRef("ollama://").ok());
  EXPECT_FALSE(ParseModelRef("ollama://a/b/c").ok());
  EXPECT_FALSE(ParseModelRef("ollama://x:../y").ok());
  EXPECT_NE(ErrorOf("ftp://host/x.gguf").find("unsupported scheme"), std::string::npos);
  EXPECT_NE(ErrorOf("https://user:pw@host/x.gguf").find("credentials"), std::string::npos);
  EXPECT_NE(ErrorOf("https:///x.gguf").find("no host"), std::string::npos);
  EXPECT_NE(ErrorOf("https://host/").find("does not name a file"), std::string::npos);
  EXPECT_NE(ErrorOf("qwen2.5:0.5b\n").find("control"), std::string::npos);
  EXPECT_NE(ErrorOf(std::string(5000, 'a')).find("longer than"), std::string::npos);
  // Every part within its limit, the whole name past the store's 200 characters.
  const std::string part(95, 'x');
  EXPECT_NE(ErrorOf("hf.co/o/r/" + part + "/" + part + "/x.gguf").find("longer than 200"), std::string::npos);
  EXPECT_NE(ErrorOf("hf.co/" + part + "/" + part + ":Q4_K_M_WITH_A_LONG_SUFFIX").find("longer than 200"), std::string::npos);
  EXPECT_NE(ErrorOf("ollama://" + part + "/" + part + ":" + part).find("longer than 200"), std::string::npos);
}

TEST(ModelRef, NameValidity) {
  EXPECT_TRUE(IsValidModelName("qwen2.5:0.5b"));
  EXPECT_TRUE(IsValidModelName("hf.co/o/r:Q8_0"));
  EXPECT_FALSE(IsValidModelName(""));
  EXPECT_FALSE(IsValidModelName("a b"));
  EXPECT_FALSE(IsValidModelName(std::string(201, 'a')));
  EXPECT_FALSE(IsValidModelName("caf\xc3\xa9"));
}

}  // namespace
}  // namespace bastion::store
