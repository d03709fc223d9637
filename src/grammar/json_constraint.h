// Structured output: JSON (any value, or one matching a JSON Schema subset) enforced during
// sampling, byte by byte, so the output is valid JSON rather than just asked for in the prompt.
//
// JsonGrammar   — a compiled schema (immutable, shared between requests).
// JsonMatcher   — incremental validator over output bytes: a pushdown automaton whose state is a
//                 small stack, cheap to copy, so "would these bytes be allowed?" is a copy + feed.
// JsonTokenConstraint — adapts a matcher to tokens of a Tokenizer (grammar::TokenConstraint).
//
// Supported schema subset (what OpenAI/Ollama clients commonly send): type (object, array,
// string, number, integer, boolean, null, and lists of types), properties, required,
// additionalProperties (false/true/schema), items, enum, const, anyOf/oneOf of these, minItems /
// maxItems, nested to any depth; $ref to #/$defs or #/definitions. Anything else is an error at
// compile time, never silently ignored. Output is compact-or-whitespace JSON; object keys appear
// in any order but each required property must appear before the object can close.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "base/result.h"
#include "grammar/token_constraint.h"
#include "tokenizer/tokenizer.h"

namespace bastion::grammar {

class JsonGrammar {
 public:
  // Any JSON value (Ollama format:"json", OpenAI response_format json_object: an object).
  static std::shared_ptr<const JsonGrammar> AnyValue();
  static std::shared_ptr<const JsonGrammar> AnyObject();
  // A schema; errors name the unsupported keyword and where it is ("$.properties.a.pattern").
  static Result<std::shared_ptr<const JsonGrammar>> FromSchema(const nlohmann::json& schema);
  // Opaque; the implementation defines the compiled form.
  struct Node;
  virtual ~JsonGrammar() = default;
};

class JsonMatcher {
 public:
  explicit JsonMatcher(std::shared_ptr<const JsonGrammar> grammar);
  // Feeds bytes; returns false (and leaves the state unchanged) if they cannot continue a valid
  // document.
  bool Feed(std::string_view bytes);
  bool CanFeed(std::string_view bytes) const;
  // A complete document has been read (trailing whitespace allowed).
  bool Complete() const;
};

class JsonTokenConstraint : public TokenConstraint {
 public:
  JsonTokenConstraint(const Tokenizer& tokenizer, std::shared_ptr<const JsonGrammar> grammar);
  bool Allows(int32_t token) override;
  void Accept(int32_t token) override;
  bool Complete() const override;
};

}  // namespace bastion::grammar
