// TokenTable and JsonTokenConstraint: JSON structured output at the level of tokens.
//
// The sampler asks Allows() lazily — drawn tokens first, then in logit order — so in the worst
// case (the model wants prose, the grammar wants '{') it walks a large part of a 152k-token
// vocabulary in one step. Allows therefore rejects by the token's first byte against a 256-bit
// set of allowed next bytes (computed once per state, i.e. once per accepted token) before it
// feeds the whole token to a scratch copy of the matcher, and never allocates once warm.
#include <utility>

#include "base/check.h"
#include "grammar/json_constraint.h"
#include "tokenizer/unicode.h"

namespace bastion::grammar {
namespace {

// See TokenTable::plain_code_points.
uint8_t PlainCodePoints(std::string_view bytes) {
  if (!IsValidUtf8(bytes)) return TokenTable::kNotPlain;
  size_t n = 0;
  for (unsigned char c : bytes) {
    if (c < 0x20 || c == '"' || c == '\\') return TokenTable::kNotPlain;
    n += (c & 0xC0) != 0x80;
  }
  return n < TokenTable::kNotPlain ? static_cast<uint8_t>(n) : TokenTable::kNotPlain;
}

}  // namespace

std::shared_ptr<const TokenTable> TokenTable::Build(const Tokenizer& tokenizer) {
  auto table = std::make_shared<TokenTable>();
  const int32_t n = tokenizer.n_vocab();
  table->kinds_.resize(n);
  table->first_bytes_.assign(n, 0);
  table->plain_.assign(n, kNotPlain);
  table->offsets_.resize(static_cast<size_t>(n) + 1);
  for (int32_t id = 0; id < n; ++id) {
    table->offsets_[id] = static_cast<uint32_t>(table->data_.size());
    const TokenType type = tokenizer.GetTokenType(id);
    Kind kind = Kind::kNever;
    if (tokenizer.IsEndOfGeneration(id)) {
      kind = Kind::kEndOfGeneration;
    } else if (type == TokenType::kNormal || type == TokenType::kByte) {
      // Piece(id, true) is TokenBytes without the copy.
      const std::string_view bytes = tokenizer.Piece(id, /*render_special=*/true);
      if (!bytes.empty()) {
        kind = Kind::kText;
        table->data_.append(bytes);
        table->first_bytes_[id] = static_cast<uint8_t>(bytes[0]);
        table->plain_[id] = PlainCodePoints(bytes);
      }
    }
    table->kinds_[id] = kind;
  }
  table->offsets_[n] = static_cast<uint32_t>(table->data_.size());
  return table;
}

JsonTokenConstraint::JsonTokenConstraint(const Tokenizer& tokenizer, std::shared_ptr<const JsonGrammar> grammar)
    : JsonTokenConstraint(TokenTable::Build(tokenizer), std::move(grammar)) {}

JsonTokenConstraint::JsonTokenConstraint(std::shared_ptr<const TokenTable> table,
                                         std::shared_ptr<const JsonGrammar> grammar)
    : table_(std::move(table)), matcher_(grammar), probe_(std::move(grammar)) {
  BASTION_CHECK(table_ != nullptr);
}

bool JsonTokenConstraint::Allows(int32_t token) {
  if (finished_ || token < 0 || token >= table_->n_vocab()) return false;
  switch (table_->kind(token)) {
    case TokenTable::Kind::kNever:
      return false;
    case TokenTable::Kind::kEndOfGeneration:
      return matcher_.Complete();
    case TokenTable::Kind::kText:
      break;
  }
  if (!next_bytes_valid_) {
    next_bytes_ = matcher_.NextBytes();
    plain_room_ = matcher_.PlainStringRoom();
    next_bytes_valid_ = true;
    second_valid_.reset();
    asks_.fill(0);
  }
  // Inside a string most tokens are plain text, allowed as long as they fit.
  const uint8_t plain = table_->plain_code_points(token);
  if (plain != TokenTable::kNotPlain && plain <= plain_room_) return true;
  const uint8_t first = table_->first_byte(token);
  if (!next_bytes_[first]) return false;
  const std::string_view bytes = table_->bytes(token);
  if (bytes.size() == 1) return true;
  if (!second_valid_[first] && ++asks_[first] >= kSecondByteSetAfter) ComputeSecondByteSet(first);
  if (second_valid_[first]) {
    if (!second_bytes_[first][static_cast<uint8_t>(bytes[1])]) return false;
    if (bytes.size() == 2) return true;
  }
  return matcher_.CanFeed(bytes);
}

void JsonTokenConstraint::ComputeSecondByteSet(uint8_t first) {
  probe_ = matcher_;
  const char c = static_cast<char>(first);
  BASTION_CHECK(probe_.Feed(std::string_view(&c, 1)));
  second_bytes_[first] = probe_.NextBytes();
  second_valid_.set(first);
}

void JsonTokenConstraint::Accept(int32_t token) {
  BASTION_CHECK_MSG(!finished_, "JsonTokenConstraint: token accepted after end of generation");
  BASTION_CHECK(token >= 0 && token < table_->n_vocab());
  switch (table_->kind(token)) {
    case TokenTable::Kind::kNever:
      BASTION_CHECK_MSG(false, "JsonTokenConstraint: accepted a token it does not allow");
      break;
    case TokenTable::Kind::kEndOfGeneration:
      BASTION_CHECK_MSG(matcher_.Complete(), "JsonTokenConstraint: end of generation before the JSON is complete");
      finished_ = true;
      break;
    case TokenTable::Kind::kText:
      BASTION_CHECK_MSG(matcher_.Feed(table_->bytes(token)), "JsonTokenConstraint: accepted a token it does not allow");
      next_bytes_valid_ = false;
      break;
  }
}

bool JsonTokenConstraint::Complete() const { return matcher_.Complete(); }

}  // namespace bastion::grammar
