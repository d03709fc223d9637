// Real files made by llama.cpp (../shared/models/golden): every one parses, tensor types match
// INDEX.json, the real-vocabulary tokenizer metadata is complete and parses quickly; and the
// committed fuzz seeds (fuzz/corpus/gguf) are valid files.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>

#include "gguf/gguf_reader.h"
#include "gguf/gguf_writer.h"
#include "test_util.h"

namespace bastion {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

json LoadIndex(const std::string& shared) {
  return json::parse(testing::ReadFileToString(shared + "/golden/INDEX.json"));
}

// INDEX lists tensor types either as `tensor_types` {name: type} or `tensors` {name: {type, ne}}.
std::map<std::string, std::string> ExpectedTypes(const json& model) {
  std::map<std::string, std::string> out;
  if (model.contains("tensor_types")) {
    for (const auto& [name, type] : model["tensor_types"].items())
      out[name] = type.get<std::string>();
  } else {
    for (const auto& [name, t] : model["tensors"].items()) out[name] = t["type"].get<std::string>();
  }
  return out;
}

TEST(GgufGolden, EveryModelFileMatchesIndex) {
  BASTION_REQUIRE_SHARED(shared);
  const json index = LoadIndex(shared);
  std::map<std::string, std::string> file_to_id;
  for (const auto& [id, model] : index["models"].items()) {
    file_to_id[fs::path(model["file"].get<std::string>()).filename().string()] = id;
  }
  int checked = 0;
  for (const auto& entry : fs::directory_iterator(shared + "/models/golden")) {
    if (entry.path().extension() != ".gguf") continue;
    SCOPED_TRACE(entry.path().string());
    auto f = GgufFile::Open(entry.path().string());
    ASSERT_TRUE(f.ok()) << f.error().message();
    const GgufFile& gguf = **f;
    EXPECT_EQ(gguf.version(), 3u);
    EXPECT_EQ(*gguf.GetString("general.architecture"), "qwen2");

    auto it = file_to_id.find(entry.path().filename().string());
    ASSERT_NE(it, file_to_id.end()) << "not described in INDEX.json";
    const json& model = index["models"][it->second];
    EXPECT_EQ(gguf.mapped_file().size(), model["size_bytes"].get<size_t>());
    const auto expected = ExpectedTypes(model);
    EXPECT_EQ(gguf.tensors().size(), expected.size());
    for (const auto& [name, type] : expected) {
      const GgufTensorInfo* t = gguf.FindTensor(name);
      ASSERT_NE(t, nullptr) << name;
      EXPECT_EQ(TypeName(t->type), type) << name;
    }
    if (model.contains("tensors")) {
      for (const auto& [name, t] : model["tensors"].items()) {
        EXPECT_EQ(gguf.FindTensor(name)->shape, t["ne"].get<std::vector<int64_t>>()) << name;
      }
    }
    if (model.contains("hparams")) {
      const json& hp = model["hparams"];
      EXPECT_EQ(*gguf.GetUint("qwen2.block_count"), hp["n_layer"].get<uint64_t>());
      EXPECT_EQ(*gguf.GetUint("qwen2.embedding_length"), hp["n_embd"].get<uint64_t>());
      EXPECT_EQ(gguf.GetStringArray("tokenizer.ggml.tokens")->size(), hp["n_vocab"].get<size_t>());
    }
    ++checked;
  }
  EXPECT_EQ(checked, static_cast<int>(index["models"].size()));
}

TEST(GgufGolden, RealVocabularyMetadata) {
  BASTION_REQUIRE_SHARED(shared);
  const json index = LoadIndex(shared);
  const json& model = index["models"]["realvocab-tiny-f16"];
  const std::string path = shared + "/" + model["file"].get<std::string>();

  // Parse a few times and keep the best: the vocabulary (151936 tokens + 151387 merges) must
  // not make loading slow. The bound is loose for sanitizer builds; the time is printed.
  double best_ms = 1e9;
  std::unique_ptr<GgufFile> gguf;
  for (int i = 0; i < 3; ++i) {
    const auto start = std::chrono::steady_clock::now();
    auto f = GgufFile::Open(path);
    const double ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
    ASSERT_TRUE(f.ok()) << f.error().message();
    best_ms = std::min(best_ms, ms);
    gguf = std::move(f).value();
  }
  std::printf("parsed %s in %.1f ms\n", path.c_str(), best_ms);
  EXPECT_LT(best_ms, 1000.0);

  auto tokens = gguf->GetStringArray("tokenizer.ggml.tokens");
  ASSERT_TRUE(tokens.ok()) << tokens.error().message();
  EXPECT_EQ(tokens->size(), 151936u);
  auto merges = gguf->GetStringArray("tokenizer.ggml.merges");
  ASSERT_TRUE(merges.ok());
  EXPECT_EQ(merges->size(), 151387u);
  EXPECT_EQ(*gguf->GetString("tokenizer.ggml.pre"), "qwen2");
  EXPECT_EQ(*gguf->GetString("tokenizer.ggml.model"), "gpt2");
  EXPECT_EQ((*tokens)[151645], "<|im_end|>");
  EXPECT_EQ((*tokens)[151643], "<|endoftext|>");

  // Every key INDEX describes, with its type and value (or length and ends for arrays).
  const json& meta = model["gguf_metadata"];
  EXPECT_EQ(gguf->keys().size(), meta.size());
  for (const auto& [key, want] : meta.items()) {
    SCOPED_TRACE(key);
    const GgufValue* v = gguf->Find(key);
    ASSERT_NE(v, nullptr);
    std::string type = want["type"].get<std::string>();
    for (char& c : type) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    EXPECT_EQ(v->TypeDescription(), type);
    if (type == "string") {
      EXPECT_EQ(*v->As<std::string>(), want["value"].get<std::string>());
    } else if (type == "uint32") {
      EXPECT_EQ(*v->As<uint32_t>(), want["value"].get<uint32_t>());
    } else if (type == "float32") {
      EXPECT_EQ(*v->As<float>(), want["value"].get<float>());
    } else if (type == "bool") {
      EXPECT_EQ(*v->As<bool>(), want["value"].get<bool>());
    } else if (type == "array[string]" || type == "array[int32]") {
      EXPECT_EQ(v->array_size(), want["length"].get<size_t>());
      const auto first = want["first"];
      const auto last = want["last"];
      const size_t n = v->array_size();
      for (size_t i = 0; i < first.size(); ++i) {
        const size_t j = n - last.size() + i;
        if (type == "array[string]") {
          EXPECT_EQ((*v->ArrayAs<std::string>())[i], first[i].get<std::string>());
          EXPECT_EQ((*v->ArrayAs<std::string>())[j], last[i].get<std::string>());
        } else {
          EXPECT_EQ((*v->ArrayAs<int32_t>())[i], first[i].get<int32_t>());
          EXPECT_EQ((*v->ArrayAs<int32_t>())[j], last[i].get<int32_t>());
        }
      }
    } else {
      ADD_FAILURE() << "INDEX type not covered by this test: " << type;
    }
  }

  // Token types: counts per type and the non-normal ids.
  auto types = gguf->GetInt32Array("tokenizer.ggml.token_type");
  ASSERT_TRUE(types.ok());
  std::map<std::string, int> counts;
  for (int32_t t : *types) ++counts[std::to_string(t)];
  for (const auto& [t, n] : meta["tokenizer.ggml.token_type"]["counts"].items()) {
    EXPECT_EQ(counts[t], n.get<int>()) << "token type " << t;
  }
  for (const auto& [id, t] : meta["tokenizer.ggml.token_type"]["ids_not_normal"].items()) {
    EXPECT_EQ((*types)[std::stoul(id)], t.get<int32_t>()) << "token " << id;
  }
}

// Our writer follows llama.cpp's layout closely enough that re-writing a file llama.cpp made
// (same keys, same tensors, same order) reproduces it byte for byte.
TEST(GgufGolden, WriterReproducesLlamaCppFilesExactly) {
  BASTION_REQUIRE_SHARED(shared);
  for (const char* name :
       {"kernel-q4_k_m.gguf", "kernel-bf16-pure.gguf", "realvocab-tiny-f16.gguf"}) {
    SCOPED_TRACE(name);
    const std::string path = shared + "/models/golden/" + name;
    auto f = GgufFile::Open(path);
    ASSERT_TRUE(f.ok()) << f.error().message();
    GgufWriter w;
    for (const std::string& key : (*f)->keys()) w.Set(key, *(*f)->Find(key));
    for (const GgufTensorInfo& t : (*f)->tensors()) {
      const GgufTensorInfo* src = &t;  // stream from the mapping: nothing is copied up front
      w.AddTensorFrom(t.name, t.type, t.shape, [src](std::span<uint8_t> out) {
        std::copy(src->data, src->data + src->size_bytes, out.begin());
        return OkStatus();
      });
    }
    auto bytes = w.WriteToBuffer();
    ASSERT_TRUE(bytes.ok());
    const std::span<const uint8_t> original = (*f)->mapped_file().bytes();
    ASSERT_EQ(bytes->size(), original.size());
    const auto mismatch = std::mismatch(bytes->begin(), bytes->end(), original.begin());
    EXPECT_EQ(mismatch.first, bytes->end())
        << "first difference at byte " << (mismatch.first - bytes->begin());
  }
}

// The committed fuzz seeds are valid files (regenerate them with BASTION_WRITE_FUZZ_SEEDS=dir).
// They have no .gguf extension because the repository's .gitignore excludes *.gguf.
TEST(GgufFuzzSeeds, CommittedSeedsParse) {
  const std::string out_dir =
      std::getenv("BASTION_WRITE_FUZZ_SEEDS") ? std::getenv("BASTION_WRITE_FUZZ_SEEDS") : "";
  if (!out_dir.empty()) {
    GgufWriter minimal;
    minimal.SetString("general.architecture", "qwen2");
    ASSERT_TRUE(minimal.Write(out_dir + "/seed-metadata-only").ok());

    GgufWriter values;
    values.Set("u8", GgufValue::Of(uint8_t{1}));
    values.Set("i16", GgufValue::Of(int16_t{-2}));
    values.SetInt32("i32", -3);
    values.SetUint64("u64", 4);
    values.Set("f64", GgufValue::Of(0.5));
    values.SetFloat32("f32", 1.5f);
    values.SetBool("b", true);
    values.SetStringArray("tokens", {"!", "a", "<|im_end|>"});
    values.SetInt32Array("token_type", {1, 1, 3});
    values.Set("bools", GgufValue::ArrayOf(std::vector<bool>{true, false}));
    values.Set("nested", GgufValue::ArrayOf(std::vector<GgufValue>{
                             GgufValue::ArrayOf(std::vector<uint16_t>{1, 2}),
                             GgufValue::ArrayOf(std::vector<std::string>{"x"})}));
    ASSERT_TRUE(values.Write(out_dir + "/seed-all-values").ok());

    GgufWriter tensors;
    tensors.SetString("general.architecture", "qwen2");
    tensors.SetUint32("qwen2.block_count", 1);
    tensors.AddTensor("token_embd.weight", GgmlType::kQ8_0, {32, 2}, std::vector<uint8_t>(68, 1));
    tensors.AddTensor("output_norm.weight", GgmlType::kF32, {3}, std::vector<uint8_t>(12, 2));
    tensors.AddTensor("blk.0.ffn_down.weight", GgmlType::kQ4_K, {256, 1},
                      std::vector<uint8_t>(144, 3));
    ASSERT_TRUE(tensors.Write(out_dir + "/seed-tensors").ok());
    tensors.SetAlignment(64);
    tensors.AddTensor("blk.0.attn_q.bias", GgmlType::kF16, {2, 2}, std::vector<uint8_t>(8, 4));
    ASSERT_TRUE(tensors.Write(out_dir + "/seed-tensors-align64").ok());
  }
  const std::string dir = std::string(BASTION_SOURCE_DIR) + "/fuzz/corpus/gguf";
  int n = 0;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.path().filename().string().rfind("seed-", 0) != 0) continue;
    EXPECT_LT(entry.file_size(), 10u * 1024u) << entry.path();
    auto f = GgufFile::Open(entry.path().string());
    EXPECT_TRUE(f.ok()) << f.error().message();
    ++n;
  }
  EXPECT_GE(n, 4);
}

}  // namespace
}  // namespace bastion
