// Builds TokenizerData from the Hugging Face Qwen2.5 tokenizer files in shared/ the way
// convert_hf_to_gguf.py writes them into a GGUF (see shared/golden/README.md): vocab.json ids,
// then the 22 added tokens of tokenizer_config.json (CONTROL when special or shaped like <|...|>,
// else USER_DEFINED), then [PAD<id>] UNUSED tokens up to 151936, merges.txt in order.
#pragma once

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

#include "test_util.h"
#include "tokenizer/tokenizer.h"

namespace bastion::testing {

inline constexpr int32_t kQwenVocabSize = 151936;

inline TokenizerData LoadQwenTokenizerData(const std::string& shared_dir) {
  const std::string dir = shared_dir + "/models/qwen2.5-tokenizer/";
  TokenizerData data;
  data.model = "gpt2";
  data.pre = "qwen2";
  const nlohmann::json vocab = nlohmann::json::parse(ReadFileToString(dir + "vocab.json"));
  data.tokens.resize(vocab.size());
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    const size_t id = it.value().get<size_t>();
    if (id >= data.tokens.size()) ADD_FAILURE() << "vocab.json id out of range: " << id;
    else data.tokens[id] = it.key();
  }
  data.token_types.assign(data.tokens.size(), static_cast<int32_t>(TokenType::kNormal));

  const nlohmann::json config = nlohmann::json::parse(ReadFileToString(dir + "tokenizer_config.json"));
  for (auto it = config["added_tokens_decoder"].begin(); it != config["added_tokens_decoder"].end(); ++it) {
    const size_t id = std::stoul(it.key());
    const std::string content = it.value()["content"].get<std::string>();
    const bool special = it.value()["special"].get<bool>();
    const bool looks_special = content.size() >= 4 && content.starts_with("<|") && content.ends_with("|>");
    if (id != data.tokens.size()) ADD_FAILURE() << "added token ids are not consecutive at " << id;
    data.tokens.push_back(content);
    data.token_types.push_back(static_cast<int32_t>(special || looks_special ? TokenType::kControl
                                                                             : TokenType::kUserDefined));
  }
  while (data.tokens.size() < static_cast<size_t>(kQwenVocabSize)) {
    data.tokens.push_back("[PAD" + std::to_string(data.tokens.size()) + "]");
    data.token_types.push_back(static_cast<int32_t>(TokenType::kUnused));
  }

  std::istringstream merges(ReadFileToString(dir + "merges.txt"));
  std::string line;
  while (std::getline(merges, line)) {
    if (line.empty() || line.starts_with("#version")) continue;
    data.merges.push_back(line);
  }
  data.bos_id = 151643;
  data.eos_id = 151645;
  data.pad_id = 151643;
  data.add_bos = false;
  return data;
}

}  // namespace bastion::testing
