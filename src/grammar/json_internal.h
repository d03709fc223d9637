// Internal to src/grammar: the compiled schema graph (JsonGrammar::Node) and the matcher's stack
// frame. Shared by the schema compiler (json_schema.cc), the analysis that prunes what can never
// be completed (json_schema_analysis.cc) and the pushdown automaton (json_matcher.cc).
#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "grammar/json_constraint.h"

namespace bastion::grammar {

inline constexpr uint32_t kNoNode = std::numeric_limits<uint32_t>::max();
inline constexpr uint32_t kUnlimited = std::numeric_limits<uint32_t>::max();

// Type facets of a node (bit set). kNumber admits integers too; kInteger alone means "no
// fraction, no exponent" (a stricter reading than JSON Schema's "1.0 is an integer", chosen so
// the matcher needs no arithmetic).
enum TypeBits : uint8_t {
  kTypeNull = 1,
  kTypeBoolean = 2,
  kTypeObject = 4,
  kTypeArray = 8,
  kTypeString = 16,
  kTypeInteger = 32,
  kTypeNumber = 64,
  kAllTypes = 127,
};

struct JsonGrammar::Property {
  std::string key;  // decoded key bytes (UTF-8)
  uint32_t node = kNoNode;
  bool required = false;
};

// One schema (or subschema) after compilation. Either a union (anyOf/oneOf/$ref: the value must
// match one alternative) or a concrete node whose type facets each carry their own keywords.
struct JsonGrammar::Node {
  bool is_union = false;
  std::vector<uint32_t> alternatives;  // as written; may name other unions
  std::vector<uint32_t> flat;          // after analysis: the satisfiable concrete alternatives

  uint8_t types = kAllTypes;

  // enum/const: the value must be one of these. The matcher compares output bytes with the
  // compact serializations (sorted, unique); the other keywords only filter the members.
  bool has_enum = false;
  std::vector<nlohmann::json> enum_values;
  std::vector<std::string> enum_bytes;

  // object: properties sorted by key; required keys missing from `properties` are added here
  // with the additionalProperties schema (or any value when additionalProperties is absent).
  std::vector<Property> properties;
  uint32_t n_required = 0;
  uint32_t additional = kNoNode;  // schema of other keys; kNoNode = no other keys
  uint32_t min_properties = 0, max_properties = kUnlimited;

  // array: element i matches prefix_items[i], later ones `items` (kNoNode = none allowed).
  std::vector<uint32_t> prefix_items;
  uint32_t items = kNoNode;
  uint32_t min_items = 0, max_items = kUnlimited;

  // string: length in code points.
  uint32_t min_length = 0, max_length = kUnlimited;

  uint32_t SeenWords() const { return properties.empty() ? 1 : static_cast<uint32_t>((properties.size() + 63) / 64); }
  uint32_t ItemNode(uint32_t index) const { return index < prefix_items.size() ? prefix_items[index] : items; }
};

// The shared body of every JsonGrammar.
struct JsonGrammar::Graph {
  std::vector<Node> nodes;
  uint32_t root = 0;
};

// JSON Schema validation of a parsed value against the compiled graph (same semantics the
// matcher enforces, except that it accepts any spelling: 1.0 for an integer, escaped keys,
// whitespace inside enum values). Used to filter enum members and by tests and the fuzzer.
// `check_enum` false ignores a node's own enum (how members are filtered).
bool ValidateNode(const JsonGrammar::Graph& graph, uint32_t node, const nlohmann::json& value, bool check_enum = true);

// Flattens unions, filters enums, finds which nodes admit a finite value and prunes everything
// that does not, so the matcher never enters a state it cannot finish. Fails when the root admits
// no value.
Status AnalyzeGraph(JsonGrammar::Graph* graph);

// One entry of a matcher thread's stack. Fixed size and trivially copyable so that copying a
// matcher state is a few memcpy's. Field use depends on `kind` (see json_matcher.cc).
struct Frame {
  uint32_t node = kNoNode;
  uint8_t kind = 0;
  uint8_t phase = 0;
  uint8_t flags = 0;
  uint8_t small = 0;
  uint32_t count = 0;
  uint32_t lo = 0;
  uint32_t hi = 0;
  uint32_t aux = 0;
  uint64_t bits = 0;

  bool operator==(const Frame&) const = default;
};
static_assert(sizeof(Frame) == 32, "Frame must stay small and free of padding");

}  // namespace bastion::grammar
