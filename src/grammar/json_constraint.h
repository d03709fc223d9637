// Structured output: JSON (any value, or one matching a JSON Schema subset) enforced during
// sampling, byte by byte, so the output is valid JSON rather than just asked for in the prompt.
//
// JsonGrammar   — a compiled schema (immutable, shared between requests and threads).
// JsonMatcher   — incremental validator over output bytes: a pushdown automaton whose state is a
//                 small stack per live alternative, cheap to copy, so "would these bytes be
//                 allowed?" is a copy + feed without allocating.
// TokenTable    — per-tokenizer bytes and kind of every token (build once per model, share).
// JsonTokenConstraint — adapts a matcher to tokens (grammar::TokenConstraint).
//
// Supported schema subset (what OpenAI/Ollama clients commonly send), everything else is an error
// at compile time naming the keyword and its path, never silently ignored:
//   type (string or list), enum, const (any JSON values), properties, required,
//   additionalProperties (false/true/schema), minProperties, maxProperties, items (schema or the
//   old tuple form with additionalItems), prefixItems, minItems, maxItems, minLength, maxLength
//   (in code points), uniqueItems:false, anyOf/oneOf (alternatives; oneOf's "exactly one" is not
//   enforced), allOf with a single schema, $ref to local JSON pointers (#, #/$defs/...,
//   #/definitions/...; recursion allowed), boolean schemas.
//   Errors: pattern, patternProperties, propertyNames, minimum/maximum/exclusive*, multipleOf,
//   dependentRequired/dependentSchemas/dependencies, if/then/else, not, contains (+min/max),
//   uniqueItems:true, unevaluated*, $dynamicRef/$recursiveRef, allOf with several schemas, and
//   validation keywords next to $ref/anyOf/oneOf/allOf (intersections are not supported).
//   Annotations (ignored): title, description, default, examples, $schema, $id, $comment,
//   deprecated, readOnly, writeOnly, content*, and `format` (an annotation by default in JSON
//   Schema 2020-12: not enforced), plus any keyword JSON Schema does not define.
//
// Decisions (all restrict output to a subset of what the schema accepts, so output stays valid):
//   * An object schema with `properties` and no `additionalProperties` admits no other keys
//     (required keys not listed in `properties` are still allowed, with any value). Without
//     `properties`, other keys are allowed as JSON Schema says. Matches OpenAI strict mode and
//     keeps models from inventing keys.
//   * Without `type`, type-specific keywords imply their type ({"properties":...} is an object).
//   * Keys appear in any order, each at most once (listed or not: an unlisted key is remembered
//     by a 64-bit hash); every required key before the object closes. Keys are compared decoded ("\u0061" is the key "a"). Where only listed keys are allowed,
//     \uXXXX escapes are refused in keys (a partial escape could otherwise lead nowhere), and a
//     listed key with control characters other than \b \f \n \r \t can never be produced.
//   * enum/const values must be written in compact serialization (nlohmann's dump(): no spaces,
//     object keys sorted), compared byte for byte.
//   * integer: digits only (no fraction, no exponent, so no 1.0).
//   * Numbers have at most JsonMatcher::kMaxIntegerDigits / kMaxFractionDigits digits and an
//     exponent of at most kMaxExponentDigits digits: every number then parses as a finite double
//     (nlohmann refuses 1e400), and a model cannot stall in an endless 0.33333...
//   * Whitespace between tokens is one space or a newline plus up to JsonMatcher::kMaxIndent
//     spaces/tabs (llama.cpp's rule), so a model cannot stall forever emitting blanks; after the
//     top-level value only such a run and then end-of-generation may follow.
//   * Nesting (plus unlisted keys of open objects) is capped at kMaxFrames stack frames;
//     alternatives in flight at kMaxThreads (more are dropped: the rest stay valid).
//   * No dead ends: every byte the matcher accepts can be continued to a complete document (the
//     compiler prunes what admits no finite value, and refuses schemas that admit none). The
//     only exception is a schema that forces nesting deeper than kMaxFrames.
//   * Accepted but not enforced: `format`, and oneOf's "exactly one".
#pragma once

#include <array>
#include <bitset>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/result.h"
#include "grammar/token_constraint.h"
#include "tokenizer/tokenizer.h"

namespace bastion::grammar {

class JsonGrammar {
 public:
  // Any JSON value.
  static std::shared_ptr<const JsonGrammar> AnyValue();
  // Any JSON object: OpenAI response_format json_object, and the natural reading of Ollama
  // format:"json" (llama.cpp's json grammar, which Ollama used, has an object at its root).
  static std::shared_ptr<const JsonGrammar> AnyObject();
  // A schema; errors name the keyword and where it is ("$.properties.a.pattern").
  static Result<std::shared_ptr<const JsonGrammar>> FromSchema(const nlohmann::json& schema);

  // Does a parsed value satisfy the grammar? Same rules as the matcher, but any spelling is
  // accepted (1.0 for an integer, escaped keys, spaces inside enum values).
  bool Matches(const nlohmann::json& value) const;

  // The compiled form (json_internal.h); public only for the matcher.
  struct Node;
  struct Property;
  struct Graph;
  const Graph& graph() const { return *graph_; }

  explicit JsonGrammar(std::unique_ptr<const Graph> graph);
  ~JsonGrammar();

 private:
  std::unique_ptr<const Graph> graph_;
};

struct MatcherState;  // json_matcher.cc

class JsonMatcher {
 public:
  // Structural whitespace, as llama.cpp's JSON grammars have it: a run is one space, or '\n'
  // followed by at most kMaxIndent spaces/tabs (pretty-printed JSON ten levels deep).
  static constexpr uint32_t kMaxIndent = 20;
  // Digits per part of a number (enum members are exempt: they are matched as written). 15
  // integer digits keep every integer exact in a double (JavaScript clients), like llama.cpp's
  // schema grammars; 16 fraction digits are a double's precision.
  static constexpr uint32_t kMaxIntegerDigits = 15;
  static constexpr uint32_t kMaxFractionDigits = 16;
  static constexpr uint32_t kMaxExponentDigits = 2;
  // Stack frames per alternative: one per open container or scalar, plus one per 64 properties
  // of an open object beyond the first 64, plus one per unlisted key of an open object. More
  // nesting (or keys) is refused; only there can the matcher reach a state it cannot finish.
  static constexpr size_t kMaxFrames = 1024;
  // Alternatives (anyOf branches) tracked at once; more are dropped (the rest stay valid).
  static constexpr size_t kMaxThreads = 32;

  explicit JsonMatcher(std::shared_ptr<const JsonGrammar> grammar);
  JsonMatcher(const JsonMatcher& other);
  JsonMatcher& operator=(const JsonMatcher& other);
  JsonMatcher(JsonMatcher&&) noexcept;
  JsonMatcher& operator=(JsonMatcher&&) noexcept;
  ~JsonMatcher();

  // Feeds bytes; returns false (and leaves the state unchanged) if they cannot continue a valid
  // document.
  bool Feed(std::string_view bytes);
  // Would Feed(bytes) succeed? Does not allocate once the matcher has warmed up. Not safe to call
  // from two threads at once on the same matcher (it uses scratch space).
  bool CanFeed(std::string_view bytes) const;
  // A complete document has been read (trailing whitespace allowed).
  bool Complete() const;
  // Bytes that may come next. Never empty unless Complete() (no dead ends).
  std::bitset<256> NextBytes() const;
  // Inside a string value (not a key, not mid-escape or mid-UTF-8 character, one alternative):
  // how many more code points of plain text (valid UTF-8 without '"', '\\' or control
  // characters) it can take. 0 otherwise. Lets the token constraint skip feeding such tokens.
  uint32_t PlainStringRoom() const;

  const std::shared_ptr<const JsonGrammar>& grammar() const { return grammar_; }

 private:
  std::shared_ptr<const JsonGrammar> grammar_;
  std::unique_ptr<MatcherState> state_;
  std::unique_ptr<MatcherState> scratch_;  // for CanFeed/Feed; logically not part of the state
};

// The bytes and kind of every token of a vocabulary, computed once (about 150k Piece() calls for
// Qwen) and shared by every constraint on that model.
class TokenTable {
 public:
  enum class Kind : uint8_t {
    kNever,            // control/unused/user-defined tokens, and tokens with no bytes
    kEndOfGeneration,  // allowed only when the output is complete
    kText,             // NORMAL and BYTE tokens: allowed when their bytes continue the output
  };
  static std::shared_ptr<const TokenTable> Build(const Tokenizer& tokenizer);

  int32_t n_vocab() const { return static_cast<int32_t>(kinds_.size()); }
  Kind kind(int32_t id) const { return kinds_[id]; }
  // The first byte of a kText token (0 for others), kept apart so a scan stays in cache.
  uint8_t first_byte(int32_t id) const { return first_bytes_[id]; }
  // Code points of a token that is plain string text (complete valid UTF-8 without '"', '\\'
  // or control characters); kNotPlain otherwise.
  static constexpr uint8_t kNotPlain = 255;
  uint8_t plain_code_points(int32_t id) const { return plain_[id]; }
  std::string_view bytes(int32_t id) const {
    return std::string_view(data_).substr(offsets_[id], offsets_[id + 1] - offsets_[id]);
  }

 private:
  std::string data_;
  std::vector<uint32_t> offsets_;  // n_vocab + 1
  std::vector<Kind> kinds_;
  std::vector<uint8_t> first_bytes_;
  std::vector<uint8_t> plain_;
};

class JsonTokenConstraint : public TokenConstraint {
 public:
  // Builds a TokenTable for this request; prefer the shared-table constructor in a server.
  JsonTokenConstraint(const Tokenizer& tokenizer, std::shared_ptr<const JsonGrammar> grammar);
  JsonTokenConstraint(std::shared_ptr<const TokenTable> table, std::shared_ptr<const JsonGrammar> grammar);

  // Cheap: a 256-bit set of allowed next bytes (computed once per state) rejects most tokens by
  // their first byte; a first byte asked about often gets its own set for the second byte (Qwen
  // has ~50k tokens starting with a space, allowed wherever whitespace is); the rest are fed to a
  // scratch copy of the matcher. Never allocates once warm.
  bool Allows(int32_t token) override;
  // Appends an allowed token (a disallowed one is a caller bug: BASTION_CHECK).
  void Accept(int32_t token) override;
  bool Complete() const override;

  const JsonMatcher& matcher() const { return matcher_; }

 private:
  // Requests for one first byte in one state before its second-byte set is computed (256
  // CanFeed calls): a sampler asking about a few tokens never pays for it, a full scan does.
  static constexpr uint16_t kSecondByteSetAfter = 16;

  void ComputeSecondByteSet(uint8_t first);

  std::shared_ptr<const TokenTable> table_;
  JsonMatcher matcher_;
  JsonMatcher probe_;  // scratch for ComputeSecondByteSet
  std::bitset<256> next_bytes_;
  bool next_bytes_valid_ = false;
  uint32_t plain_room_ = 0;                    // matcher_.PlainStringRoom() in this state
  std::bitset<256> second_valid_;              // second_bytes_[b] is computed for this state
  std::array<std::bitset<256>, 256> second_bytes_;
  std::array<uint16_t, 256> asks_{};           // CanFeed calls per first byte in this state
  bool finished_ = false;  // an end-of-generation token was accepted
};

}  // namespace bastion::grammar
