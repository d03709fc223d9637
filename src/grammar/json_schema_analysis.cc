// Analysis of a compiled schema graph, after compilation and before any matching:
//   1. unions (anyOf/oneOf/$ref chains) are flattened to lists of concrete nodes (cycles of bare
//      references contribute nothing, as a least fixed point should);
//   2. enum/const members that violate their own schema's other keywords are dropped, and the
//      rest serialized compactly for byte-wise matching;
//   3. which nodes admit a finite value is computed as a least fixed point (so a required
//      recursive property with no base case is unsatisfiable, not an infinite loop);
//   4. everything unsatisfiable is pruned: type facets, optional properties (made forbidden,
//      not removed, so they cannot come back as "additional"), additional properties, array
//      items beyond the last satisfiable position, union alternatives.
// After this, every state the matcher can reach can still be completed: it never offers a byte
// that leads to a dead end. Also holds ValidateNode, the value-level validator.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "grammar/json_internal.h"

namespace bastion::grammar {
namespace {

using nlohmann::json;
using Node = JsonGrammar::Node;

// Values nested deeper than this are rejected by ValidateNode (the matcher refuses them anyway).
constexpr int kMaxValidateDepth = 2 * static_cast<int>(JsonMatcher::kMaxFrames);

size_t CodePoints(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

const JsonGrammar::Property* FindProperty(const Node& n, const std::string& key) {
  auto it = std::lower_bound(n.properties.begin(), n.properties.end(), key,
                             [](const JsonGrammar::Property& p, const std::string& k) { return p.key < k; });
  return it != n.properties.end() && it->key == key ? &*it : nullptr;
}

bool Validate(const JsonGrammar::Graph& g, uint32_t index, const json& v, bool check_enum, int depth) {
  if (depth > kMaxValidateDepth || index == kNoNode) return false;
  const Node& n = g.nodes[index];
  if (n.is_union) {
    for (uint32_t alt : n.flat) {
      if (Validate(g, alt, v, true, depth + 1)) return true;
    }
    return false;
  }
  if (check_enum && n.has_enum && std::find(n.enum_values.begin(), n.enum_values.end(), v) == n.enum_values.end()) {
    return false;
  }
  switch (v.type()) {
    case json::value_t::null:
      return n.types & kTypeNull;
    case json::value_t::boolean:
      return n.types & kTypeBoolean;
    case json::value_t::number_integer:
    case json::value_t::number_unsigned:
      return n.types & (kTypeInteger | kTypeNumber);
    case json::value_t::number_float: {
      const double d = v.get<double>();
      if (std::isfinite(d) && std::floor(d) == d && (n.types & kTypeInteger)) return true;
      return n.types & kTypeNumber;
    }
    case json::value_t::string: {
      if (!(n.types & kTypeString)) return false;
      const size_t len = CodePoints(v.get_ref<const std::string&>());
      return len >= n.min_length && len <= n.max_length;
    }
    case json::value_t::array: {
      if (!(n.types & kTypeArray) || v.size() < n.min_items || v.size() > n.max_items) return false;
      for (size_t i = 0; i < v.size(); ++i) {
        if (!Validate(g, n.ItemNode(static_cast<uint32_t>(i)), v[i], true, depth + 1)) return false;
      }
      return true;
    }
    case json::value_t::object: {
      if (!(n.types & kTypeObject) || v.size() < n.min_properties || v.size() > n.max_properties) return false;
      uint32_t required_seen = 0;
      for (const auto& [key, child] : v.items()) {
        const JsonGrammar::Property* p = FindProperty(n, key);
        if (p && p->required) ++required_seen;
        if (!Validate(g, p ? p->node : n.additional, child, true, depth + 1)) return false;
      }
      return required_seen == n.n_required;
    }
    default:
      return false;
  }
}

void FlattenUnions(JsonGrammar::Graph* g) {
  std::vector<uint32_t> mark(g->nodes.size(), 0);
  std::vector<uint32_t> stack;
  uint32_t generation = 0;
  for (uint32_t u = 0; u < g->nodes.size(); ++u) {
    if (!g->nodes[u].is_union) continue;
    ++generation;
    std::vector<uint32_t> flat;
    mark[u] = generation;
    stack.assign(g->nodes[u].alternatives.rbegin(), g->nodes[u].alternatives.rend());
    while (!stack.empty()) {
      const uint32_t x = stack.back();
      stack.pop_back();
      if (mark[x] == generation) continue;
      mark[x] = generation;
      const Node& n = g->nodes[x];
      if (n.is_union) {
        stack.insert(stack.end(), n.alternatives.rbegin(), n.alternatives.rend());
      } else {
        flat.push_back(x);
      }
    }
    g->nodes[u].flat = std::move(flat);
  }
}

void FilterEnums(JsonGrammar::Graph* g) {
  for (uint32_t i = 0; i < g->nodes.size(); ++i) {
    if (g->nodes[i].is_union || !g->nodes[i].has_enum) continue;
    std::vector<json> kept;
    for (const json& v : g->nodes[i].enum_values) {
      if (Validate(*g, i, v, /*check_enum=*/false, 0)) kept.push_back(v);
    }
    Node& n = g->nodes[i];
    n.enum_values = std::move(kept);
    n.enum_bytes.clear();
    for (const json& v : n.enum_values) n.enum_bytes.push_back(v.dump(-1, ' ', false, json::error_handler_t::replace));
    // std::string orders by unsigned bytes, the order the matcher's range narrowing needs.
    std::sort(n.enum_bytes.begin(), n.enum_bytes.end());
    n.enum_bytes.erase(std::unique(n.enum_bytes.begin(), n.enum_bytes.end()), n.enum_bytes.end());
  }
}

class Satisfiability {
 public:
  explicit Satisfiability(const JsonGrammar::Graph& g) : g_(g), sat_(g.nodes.size(), 0) {}

  // Least fixed point: start from "nothing is satisfiable" and grow until stable.
  void Solve() {
    for (bool changed = true; changed;) {
      changed = false;
      for (uint32_t i = 0; i < g_.nodes.size(); ++i) {
        if (!sat_[i] && Compute(i)) sat_[i] = 1, changed = true;
      }
    }
  }
  bool Sat(uint32_t i) const { return i != kNoNode && sat_[i]; }

  // The satisfiable type facets of a concrete node.
  uint8_t Facets(uint32_t i) const {
    const Node& n = g_.nodes[i];
    uint8_t facets = n.types & (kTypeNull | kTypeBoolean | kTypeInteger | kTypeNumber);
    if ((n.types & kTypeString) && n.min_length <= n.max_length) facets |= kTypeString;
    if ((n.types & kTypeArray) && MaxItems(i) >= n.min_items) facets |= kTypeArray;
    if ((n.types & kTypeObject) && ObjectSat(n)) facets |= kTypeObject;
    return facets;
  }
  // maxItems lowered to the first position whose schema admits nothing.
  uint32_t MaxItems(uint32_t i) const {
    const Node& n = g_.nodes[i];
    uint32_t max = n.max_items;
    for (uint32_t k = 0; k < n.prefix_items.size() && k < max; ++k) {
      if (!Sat(n.prefix_items[k])) max = k;
    }
    if (!Sat(n.items)) max = std::min<uint32_t>(max, static_cast<uint32_t>(n.prefix_items.size()));
    return max;
  }

 private:
  bool Compute(uint32_t i) const {
    const Node& n = g_.nodes[i];
    if (n.is_union) return std::any_of(n.flat.begin(), n.flat.end(), [&](uint32_t a) { return Sat(a); });
    if (n.has_enum) return !n.enum_bytes.empty();
    return Facets(i) != 0;
  }
  bool ObjectSat(const Node& n) const {
    uint64_t available = 0;
    for (const JsonGrammar::Property& p : n.properties) {
      if (Sat(p.node)) {
        ++available;
      } else if (p.required) {
        return false;
      }
    }
    if (Sat(n.additional)) available = kUnlimited;
    return n.n_required <= n.max_properties && n.min_properties <= n.max_properties && available >= n.min_properties;
  }

  const JsonGrammar::Graph& g_;
  std::vector<char> sat_;
};

}  // namespace

bool ValidateNode(const JsonGrammar::Graph& graph, uint32_t node, const nlohmann::json& value, bool check_enum) {
  return Validate(graph, node, value, check_enum, 0);
}

Status AnalyzeGraph(JsonGrammar::Graph* g) {
  for (Node& n : g->nodes) {
    n.n_required = static_cast<uint32_t>(
        std::count_if(n.properties.begin(), n.properties.end(), [](const JsonGrammar::Property& p) { return p.required; }));
  }
  FlattenUnions(g);
  FilterEnums(g);
  Satisfiability sat(*g);
  sat.Solve();
  if (!sat.Sat(g->root)) {
    return Error("schema: no JSON value satisfies it (contradictory keywords, an empty enum, or a required "
                 "recursion without a base case)");
  }
  // Prune, computing every new value from the unpruned graph first (the analysis reads it).
  std::vector<uint8_t> facets(g->nodes.size());
  std::vector<uint32_t> max_items(g->nodes.size());
  for (uint32_t i = 0; i < g->nodes.size(); ++i) {
    if (g->nodes[i].is_union) continue;
    facets[i] = sat.Facets(i);
    max_items[i] = sat.MaxItems(i);
  }
  for (uint32_t i = 0; i < g->nodes.size(); ++i) {
    Node& n = g->nodes[i];
    if (n.is_union) {
      std::erase_if(n.flat, [&](uint32_t a) { return !sat.Sat(a); });
      continue;
    }
    if (!n.has_enum) n.types = facets[i];
    for (JsonGrammar::Property& p : n.properties) {
      if (!sat.Sat(p.node)) p.node = kNoNode;  // a listed key that can never be written
    }
    if (!sat.Sat(n.additional)) n.additional = kNoNode;
    n.max_items = max_items[i];
    if (n.prefix_items.size() > n.max_items) n.prefix_items.resize(n.max_items);
    if (!sat.Sat(n.items) || n.max_items <= n.prefix_items.size()) n.items = kNoNode;
  }
  return OkStatus();
}

}  // namespace bastion::grammar
