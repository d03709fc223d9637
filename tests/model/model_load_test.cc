// Model::Load on files that are valid GGUF but not a usable Qwen2 model: every error names what
// is wrong (the tensor, the expected and actual shape or type, the key) instead of crashing.
#include <gtest/gtest.h>

#include <functional>

#include "gguf/gguf_reader.h"
#include "gguf/gguf_writer.h"
#include "model/model.h"
#include "synth/synth.h"
#include "test_util.h"

namespace bastion {
namespace {

// The tiny synthetic model, copied through GgufWriter with `edit` applied to each tensor
// (return false to drop it) and `edit_meta` to the metadata.
struct TensorEdit {
  std::string name;
  GgmlType type;
  std::vector<int64_t> shape;
  std::vector<uint8_t> data;
};

class ModelLoad : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new std::string(testing::TempDir("model_load"));
    SynthOptions o;
    o.preset = "tiny";
    o.file_type = FileType::kQ8_0;
    ASSERT_TRUE(WriteSyntheticModel(o, *dir_ + "/base.gguf").ok());
  }

  static std::string Rewrite(const std::string& name, const std::function<bool(TensorEdit&)>& edit,
                             const std::function<void(GgufWriter&)>& edit_meta = nullptr) {
    auto src = GgufFile::Open(*dir_ + "/base.gguf");
    EXPECT_TRUE(src.ok());
    GgufWriter w;
    for (const std::string& key : (*src)->keys()) w.Set(key, *(*src)->Find(key));
    if (edit_meta) edit_meta(w);
    for (const GgufTensorInfo& t : (*src)->tensors()) {
      TensorEdit e{t.name, t.type, t.shape, std::vector<uint8_t>(t.data, t.data + t.size_bytes)};
      if (!edit(e)) continue;
      w.AddTensor(e.name, e.type, e.shape, std::move(e.data));
    }
    const std::string path = *dir_ + "/" + name + ".gguf";
    EXPECT_TRUE(w.Write(path).ok());
    return path;
  }

  static std::string LoadError(const std::string& path) {
    auto m = Model::Load(path);
    return m.ok() ? "" : m.error().message();
  }

  static std::string* dir_;
};
std::string* ModelLoad::dir_ = nullptr;

TEST_F(ModelLoad, UnchangedCopyLoads) {
  EXPECT_EQ(LoadError(Rewrite("copy", [](TensorEdit&) { return true; })), "");
}

TEST_F(ModelLoad, UnsupportedWeightTypeNamesTensorAndType) {
  const std::string path = Rewrite("i8", [](TensorEdit& e) {
    if (e.name == "blk.1.ffn_up.weight") {
      e.type = GgmlType(24);  // I8: a GGML type bastion does not compute with
      e.data.assign(static_cast<size_t>(e.shape[0] * e.shape[1]), 1);
    }
    return true;
  });
  const std::string err = LoadError(path);
  EXPECT_NE(err.find("blk.1.ffn_up.weight"), std::string::npos) << err;
  EXPECT_NE(err.find("I8"), std::string::npos) << err;
}

TEST_F(ModelLoad, WrongShapeSaysExpectedAndActual) {
  const std::string path = Rewrite("shape", [](TensorEdit& e) {
    if (e.name == "blk.0.attn_k.weight") std::swap(e.shape[0], e.shape[1]);
    return true;
  });
  const std::string err = LoadError(path);
  EXPECT_NE(err.find("blk.0.attn_k.weight"), std::string::npos) << err;
  EXPECT_NE(err.find("expected shape [384, 128], got [128, 384]"), std::string::npos) << err;
}

TEST_F(ModelLoad, MissingTensorIsNamed) {
  const std::string path = Rewrite("missing", [](TensorEdit& e) { return e.name != "blk.1.ffn_norm.weight"; });
  const std::string err = LoadError(path);
  EXPECT_NE(err.find("'blk.1.ffn_norm.weight' is missing"), std::string::npos) << err;
}

TEST_F(ModelLoad, OtherArchitectureIsRefused) {
  const std::string path = Rewrite("arch", [](TensorEdit&) { return true; },
                                   [](GgufWriter& w) { w.SetString("general.architecture", "llama"); });
  EXPECT_NE(LoadError(path).find("architecture 'llama' is not supported"), std::string::npos);
}

TEST_F(ModelLoad, MissingHyperparameterNamesKey) {
  const std::string path = Rewrite("nokey", [](TensorEdit&) { return true; },
                                   [](GgufWriter& w) { w.Remove("qwen2.feed_forward_length"); });
  EXPECT_NE(LoadError(path).find("qwen2.feed_forward_length"), std::string::npos) << LoadError(path);
}

TEST_F(ModelLoad, BadTokenizerIsReported) {
  const std::string path = Rewrite("tok", [](TensorEdit&) { return true; },
                                   [](GgufWriter& w) { w.SetUint32("tokenizer.ggml.eos_token_id", 999999); });
  const std::string err = LoadError(path);
  EXPECT_NE(err.find("eos_token_id"), std::string::npos) << err;
  EXPECT_NE(err.find("out of range"), std::string::npos) << err;
}

TEST_F(ModelLoad, NotAFile) {
  EXPECT_NE(LoadError(*dir_ + "/does-not-exist.gguf").find("cannot open"), std::string::npos);
  EXPECT_NE(LoadError(*dir_).find("not a regular file"), std::string::npos);
}

}  // namespace
}  // namespace bastion
