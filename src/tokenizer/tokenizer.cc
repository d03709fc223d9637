// Tokenizer construction (validation, lookup tables) and the encode/decode pipelines.
#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <limits>

#include "base/check.h"
#include "tokenizer/pretokenizer.h"
#include "tokenizer/unicode.h"

namespace bastion {
namespace {

// tokenizer.ggml.pre values whose pre-tokenizer regex is exactly Qwen2's (llama.cpp maps these
// to LLAMA_VOCAB_PRE_TYPE_QWEN2). Any other value would tokenize differently, so it is refused.
constexpr std::string_view kQwen2PreNames[] = {"qwen2", "deepseek-r1-qwen", "megrez"};

// "<0x41>" -> 0x41; -1 when `text` is not of that form.
int ParseByteToken(std::string_view text) {
  if (text.size() != 6 || text.substr(0, 3) != "<0x" || text[5] != '>') return -1;
  int value = 0;
  for (char c : text.substr(3, 2)) {
    value <<= 4;
    if (c >= '0' && c <= '9') value |= c - '0';
    else if (c >= 'A' && c <= 'F') value |= c - 'A' + 10;
    else if (c >= 'a' && c <= 'f') value |= c - 'a' + 10;
    else return -1;
  }
  return value;
}

// Raw bytes of a byte-level token text. Characters outside the GPT-2 byte map (none in a sane
// vocabulary) and invalid UTF-8 in the text are passed through unchanged rather than dropped.
void AppendByteLevelDecoded(std::string_view text, std::string* out) {
  size_t i = 0;
  while (i < text.size()) {
    const Utf8Step step = DecodeUtf8Step(text.substr(i));
    if (step.status == Utf8Status::kValid) {
      const int byte = CodePointToByte(step.code_point);
      if (byte >= 0) out->push_back(static_cast<char>(byte));
      else out->append(text.substr(i, step.length));
    } else {
      out->append(text.substr(i, step.length));
    }
    i += step.length;
  }
}

}  // namespace

Result<std::unique_ptr<Tokenizer>> Tokenizer::Create(TokenizerData data) {
  std::unique_ptr<Tokenizer> tokenizer(new Tokenizer());
  Status status = tokenizer->Build(std::move(data));
  if (!status.ok()) return status.error().WithContext("tokenizer");
  return tokenizer;
}

Status Tokenizer::Build(TokenizerData data) {
  if (data.model != "gpt2") {
    return Error("tokenizer.ggml.model is '" + data.model +
                 "'; only 'gpt2' (byte-level BPE) is supported");
  }
  if (std::find(std::begin(kQwen2PreNames), std::end(kQwen2PreNames), data.pre) ==
      std::end(kQwen2PreNames)) {
    return Error("tokenizer.ggml.pre is '" + data.pre +
                 "'; only the Qwen2 pre-tokenizer ('qwen2', 'deepseek-r1-qwen', 'megrez') is supported");
  }
  const size_t n = data.tokens.size();
  if (n == 0) return Error("vocabulary is empty");
  if (n > static_cast<size_t>(std::numeric_limits<int32_t>::max())) {
    return Error("vocabulary has " + std::to_string(n) + " tokens; at most 2^31-1 are supported");
  }
  if (!data.token_types.empty() && data.token_types.size() != n) {
    return Error("token_type has " + std::to_string(data.token_types.size()) +
                 " entries, expected one per token (" + std::to_string(n) + ")");
  }
  types_.assign(n, TokenType::kNormal);
  for (size_t i = 0; i < data.token_types.size(); ++i) {
    const int32_t t = data.token_types[i];
    if (t < 1 || t > 6) {
      return Error("token " + std::to_string(i) + " has type " + std::to_string(t) + ", expected 1..6");
    }
    types_[i] = static_cast<TokenType>(t);
  }
  const auto check_id = [&](int32_t id, const char* name) -> Status {
    if (id < -1 || id >= static_cast<int64_t>(n)) {
      return Error(std::string(name) + " id " + std::to_string(id) + " is outside the vocabulary (" +
                   std::to_string(n) + " tokens)");
    }
    return OkStatus();
  };
  BASTION_RETURN_IF_ERROR(check_id(data.bos_id, "bos"));
  BASTION_RETURN_IF_ERROR(check_id(data.eos_id, "eos"));
  BASTION_RETURN_IF_ERROR(check_id(data.eot_id, "eot"));
  BASTION_RETURN_IF_ERROR(check_id(data.pad_id, "padding"));
  bos_id_ = data.bos_id;
  eos_id_ = data.eos_id;
  eot_id_ = data.eot_id;
  pad_id_ = data.pad_id;
  add_bos_ = data.add_bos;
  if (add_bos_ && bos_id_ < 0) return Error("add_bos_token is set but there is no bos token");

  // From here on tokens_ is never resized, so views into its strings stay valid.
  tokens_ = std::move(data.tokens);
  text_to_id_.Build(tokens_);  // first id wins on duplicates

  for (int b = 0; b < 256; ++b) {
    const std::string symbol = BytesToByteLevel(std::string_view(reinterpret_cast<const char*>(&b), 1));
    const int32_t id = text_to_id_.Find(symbol);
    if (id < 0) {
      return Error("vocabulary has no token for byte 0x" + std::string(1, "0123456789abcdef"[b >> 4]) +
                   std::string(1, "0123456789abcdef"[b & 15]) + " ('" + symbol +
                   "'); a byte-level BPE vocabulary needs all 256");
    }
    byte_to_id_[b] = id;
  }

  merges_.Reserve(data.merges.size());
  std::string joined;
  for (size_t r = 0; r < data.merges.size(); ++r) {
    const std::string& line = data.merges[r];
    const size_t space = line.size() > 1 ? line.find(' ', 1) : std::string::npos;
    if (space == std::string::npos || space + 1 >= line.size()) {
      return Error("merge " + std::to_string(r) + " '" + line + "' is not of the form 'left right'");
    }
    const std::string_view left(line.data(), space);
    const std::string_view right(line.data() + space + 1, line.size() - space - 1);
    joined.assign(left);
    joined.append(right);
    const int32_t l = text_to_id_.Find(left);
    const int32_t rt = text_to_id_.Find(right);
    const int32_t j = text_to_id_.Find(joined);
    if (l < 0 || rt < 0 || j < 0) {
      return Error("merge " + std::to_string(r) + " '" + line + "' names a token that is not in the vocabulary ('" +
                   std::string(l < 0 ? left : rt < 0 ? right : std::string_view(joined)) + "')");
    }
    merges_.Add(l, rt, j);  // a repeated pair keeps its first rank
  }

  for (size_t i = 0; i < n; ++i) {
    const TokenType t = types_[i];
    if (tokens_[i].empty()) continue;
    if (t == TokenType::kControl || t == TokenType::kUnknown || t == TokenType::kUserDefined) {
      specials_.push_back({tokens_[i], static_cast<int32_t>(i), t == TokenType::kUserDefined});
    }
  }
  std::stable_sort(specials_.begin(), specials_.end(), [](const SpecialToken& a, const SpecialToken& b) {
    return a.text.size() > b.text.size();
  });

  piece_offsets_.reserve(n + 1);
  piece_data_.reserve(n * 6);
  for (size_t i = 0; i < n; ++i) {
    piece_offsets_.push_back(piece_data_.size());
    const std::string& text = tokens_[i];
    switch (types_[i]) {
      case TokenType::kNormal:
        AppendByteLevelDecoded(text, &piece_data_);
        break;
      case TokenType::kByte: {
        const int byte = ParseByteToken(text);
        if (byte >= 0) piece_data_.push_back(static_cast<char>(byte));
        else AppendByteLevelDecoded(text, &piece_data_);
        break;
      }
      default:
        piece_data_.append(text);
        break;
    }
  }
  piece_offsets_.push_back(piece_data_.size());

  const auto add_eog = [&](int32_t id) {
    if (id >= 0 && std::find(eog_ids_.begin(), eog_ids_.end(), id) == eog_ids_.end()) eog_ids_.push_back(id);
  };
  add_eog(eos_id_);
  add_eog(eot_id_);
  for (std::string_view name : {"<|im_end|>", "<|endoftext|>"}) {
    if (auto id = FindToken(name)) add_eog(*id);
  }
  return OkStatus();
}

std::optional<int32_t> Tokenizer::FindToken(std::string_view text) const {
  const int32_t id = text_to_id_.Find(text);
  if (id < 0) return std::nullopt;
  return id;
}

const std::string& Tokenizer::TokenText(int32_t id) const {
  BASTION_CHECK(id >= 0 && id < n_vocab());
  return tokens_[id];
}

TokenType Tokenizer::GetTokenType(int32_t id) const {
  BASTION_CHECK(id >= 0 && id < n_vocab());
  return types_[id];
}

bool Tokenizer::IsEndOfGeneration(int32_t id) const {
  return std::find(eog_ids_.begin(), eog_ids_.end(), id) != eog_ids_.end();
}

std::string Tokenizer::TokenBytes(int32_t id) const {
  if (id < 0 || id >= n_vocab()) return std::string();
  return piece_data_.substr(piece_offsets_[id], piece_offsets_[id + 1] - piece_offsets_[id]);
}

std::string_view Tokenizer::Piece(int32_t id, bool render_special) const {
  if (id < 0 || id >= n_vocab()) return {};
  const TokenType t = types_[id];
  if (!render_special && (t == TokenType::kControl || t == TokenType::kUnknown || t == TokenType::kUnused)) {
    return {};
  }
  return std::string_view(piece_data_).substr(piece_offsets_[id], piece_offsets_[id + 1] - piece_offsets_[id]);
}

std::string Tokenizer::Decode(std::span<const int32_t> ids, bool render_special) const {
  std::string raw;
  for (int32_t id : ids) raw.append(Piece(id, render_special));
  if (IsValidUtf8(raw)) return raw;
  return SanitizeUtf8(raw);
}

std::vector<int32_t> Tokenizer::Encode(std::string_view text, bool parse_special, bool add_special) const {
  std::vector<int32_t> out;
  if (add_special && add_bos_) out.push_back(bos_id_);
  if (text.empty()) return out;

  std::string repaired;
  if (!IsValidUtf8(text)) {
    repaired = SanitizeUtf8(text);
    text = repaired;
  }

  // Fragments are either a special token (id >= 0) or text still to be searched/encoded.
  struct Fragment {
    int32_t id;
    std::string_view text;
  };
  std::vector<Fragment> fragments{{-1, text}};
  std::vector<Fragment> next;
  for (const SpecialToken& special : specials_) {
    if (!special.always && !parse_special) continue;
    next.clear();
    bool found = false;
    for (const Fragment& f : fragments) {
      if (f.id >= 0) {
        next.push_back(f);
        continue;
      }
      size_t pos = 0;
      while (true) {
        const size_t hit = f.text.find(special.text, pos);
        if (hit == std::string_view::npos) break;
        found = true;
        if (hit > pos) next.push_back({-1, f.text.substr(pos, hit - pos)});
        next.push_back({special.id, special.text});
        pos = hit + special.text.size();
      }
      if (pos < f.text.size()) next.push_back({-1, f.text.substr(pos)});
    }
    if (found) fragments.swap(next);
  }

  for (const Fragment& f : fragments) {
    if (f.id >= 0) out.push_back(f.id);
    else EncodeFragment(f.text, &out);
  }
  return out;
}

void Tokenizer::EncodeFragment(std::string_view text, std::vector<int32_t>* out) const {
  const std::string normalized = NfcNormalize(text);
  std::vector<std::string_view> pieces;
  PreTokenizeQwen2(normalized, &pieces);
  std::vector<int32_t> symbols;
  for (std::string_view piece : pieces) {
    symbols.clear();
    for (char c : piece) symbols.push_back(byte_to_id_[static_cast<uint8_t>(c)]);
    merges_.Apply(symbols, out);
  }
}

}  // namespace bastion
