// JsonGrammar construction: compiles a JSON Schema (the subset listed in json_constraint.h) into
// the node graph of json_internal.h, rejecting keywords that change validity but that we cannot
// enforce, with the keyword's path in the message. AnyValue/AnyObject are fixed small graphs.
#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>

#include "base/check.h"
#include "grammar/json_internal.h"

namespace bastion::grammar {
namespace {

using nlohmann::json;

// Node 0 accepts anything, node 1 nothing; every graph starts with them.
constexpr uint32_t kAnyNode = 0;
constexpr uint32_t kNeverNode = 1;
// Bounds on what a (possibly hostile) request may make us build.
constexpr int kMaxSchemaDepth = 64;
constexpr size_t kMaxNodes = 10000;

// Keywords that decide validity and that this compiler does not implement: refusing the schema
// is better than producing output that does not match it.
const std::set<std::string_view> kUnsupported = {
    "pattern",           "patternProperties",    "propertyNames",    "dependentRequired",
    "dependentSchemas",  "dependencies",         "if",               "then",
    "else",              "not",                  "minimum",          "maximum",
    "exclusiveMinimum",  "exclusiveMaximum",     "multipleOf",       "contains",
    "minContains",       "maxContains",          "unevaluatedProperties", "unevaluatedItems",
    "$dynamicRef",       "$recursiveRef",
};
// Keywords this compiler implements, by the type they constrain.
const std::set<std::string_view> kObjectKeywords = {"properties", "required", "additionalProperties",
                                                    "minProperties", "maxProperties"};
const std::set<std::string_view> kArrayKeywords = {"items", "prefixItems", "additionalItems", "minItems",
                                                   "maxItems", "uniqueItems"};
const std::set<std::string_view> kStringKeywords = {"minLength", "maxLength"};
const std::set<std::string_view> kCombinators = {"$ref", "anyOf", "oneOf", "allOf"};

bool IsValidationKeyword(std::string_view key) {
  return key == "type" || key == "enum" || key == "const" || kObjectKeywords.count(key) ||
         kArrayKeywords.count(key) || kStringKeywords.count(key) || kCombinators.count(key);
}

Error PathError(const std::string& path, const std::string& message) { return Error(path + ": " + message); }

// A JSON-pointer fragment ("/$defs/a") as a path ("$.$defs.a") for messages.
std::string PointerPath(const std::string& pointer) {
  std::string path = "$";
  for (char c : pointer) path += c == '/' ? '.' : c;
  return path;
}

// Keys with control characters other than \b \f \n \r \t need \u escapes, which the matcher
// refuses where only listed keys are allowed (see json_constraint.h).
bool KeyNeedsUnicodeEscape(const std::string& key) {
  for (unsigned char c : key) {
    if (c < 0x20 && c != '\b' && c != '\f' && c != '\n' && c != '\r' && c != '\t') return true;
  }
  return false;
}

class Compiler {
 public:
  explicit Compiler(const json& root) : root_(root) {
    graph_.nodes.resize(2);
    JsonGrammar::Node& any = graph_.nodes[kAnyNode];
    any.additional = kAnyNode;
    any.items = kAnyNode;
    graph_.nodes[kNeverNode].types = 0;
  }

  Result<uint32_t> Compile(const json& schema, const std::string& path, int depth);
  JsonGrammar::Graph TakeGraph() { return std::move(graph_); }

 private:
  uint32_t NewNode() {
    graph_.nodes.emplace_back();
    return static_cast<uint32_t>(graph_.nodes.size() - 1);
  }
  JsonGrammar::Node& node(uint32_t index) { return graph_.nodes[index]; }

  Result<uint32_t> CompileCombinator(const json& schema, const std::string& path, int depth);
  Result<uint32_t> CompileRef(const json& ref, const std::string& path, int depth);
  Status CompileType(const json& schema, const std::string& path, uint32_t index);
  Status CompileObject(const json& schema, const std::string& path, int depth, uint32_t index);
  Status CompileArray(const json& schema, const std::string& path, int depth, uint32_t index);
  Status CompileString(const json& schema, const std::string& path, uint32_t index);
  // minItems and friends: a non-negative integer; huge values saturate.
  static Result<uint32_t> Count(const json& schema, const std::string& key, const std::string& path,
                                uint32_t absent);

  const json& root_;
  JsonGrammar::Graph graph_;
  std::map<std::string, uint32_t> refs_;  // JSON pointer -> node (so recursion terminates)
};

Result<uint32_t> Compiler::Compile(const json& schema, const std::string& path, int depth) {
  if (depth > kMaxSchemaDepth) return PathError(path, "schema nested more than 64 levels deep");
  if (graph_.nodes.size() >= kMaxNodes) return PathError(path, "schema has more than 10000 subschemas");
  if (schema.is_boolean()) return schema.get<bool>() ? kAnyNode : kNeverNode;
  if (!schema.is_object()) {
    return PathError(path, std::string("a schema must be an object or a boolean, got ") + schema.type_name());
  }
  for (const auto& [key, value] : schema.items()) {
    if (kUnsupported.count(key)) {
      return PathError(path + "." + key, "keyword '" + key + "' is not supported in structured output");
    }
    if (key == "uniqueItems" && !(value.is_boolean() && !value.get<bool>())) {
      return PathError(path + "." + key, "keyword 'uniqueItems' is not supported in structured output");
    }
  }
  for (std::string_view combinator : kCombinators) {
    if (schema.contains(std::string(combinator))) return CompileCombinator(schema, path, depth);
  }

  const uint32_t index = NewNode();
  BASTION_RETURN_IF_ERROR(CompileType(schema, path, index));
  if (schema.contains("enum")) {
    const json& values = schema["enum"];
    if (!values.is_array()) return PathError(path + ".enum", "must be an array");
    node(index).has_enum = true;
    node(index).enum_values.assign(values.begin(), values.end());
  }
  if (schema.contains("const")) {
    const json& value = schema["const"];
    JsonGrammar::Node& n = node(index);
    if (n.has_enum) {
      std::erase_if(n.enum_values, [&](const json& v) { return v != value; });
    } else {
      n.has_enum = true;
      n.enum_values = {value};
    }
  }
  const uint8_t types = node(index).types;
  if (types & kTypeObject) BASTION_RETURN_IF_ERROR(CompileObject(schema, path, depth, index));
  if (types & kTypeArray) BASTION_RETURN_IF_ERROR(CompileArray(schema, path, depth, index));
  if (types & kTypeString) BASTION_RETURN_IF_ERROR(CompileString(schema, path, index));
  return index;
}

// $ref, anyOf, oneOf and allOf stand alone: next to other validation keywords they would mean
// an intersection, which the matcher cannot follow.
Result<uint32_t> Compiler::CompileCombinator(const json& schema, const std::string& path, int depth) {
  std::string combinator;
  for (const auto& [key, value] : schema.items()) {
    if (!kCombinators.count(key)) continue;
    if (!combinator.empty()) {
      return PathError(path + "." + key, "'" + key + "' next to '" + combinator + "' is not supported");
    }
    combinator = key;
  }
  for (const auto& [key, value] : schema.items()) {
    if (key != combinator && IsValidationKeyword(key)) {
      return PathError(path + "." + key, "'" + key + "' next to '" + combinator +
                                             "' is not supported (move it into the referenced schema or each alternative)");
    }
  }
  const std::string here = path + "." + combinator;
  const json& value = schema[combinator];
  if (combinator == "$ref") return CompileRef(value, here, depth);
  if (!value.is_array() || value.empty()) return PathError(here, "must be a non-empty array of schemas");
  if (combinator == "allOf" && value.size() != 1) {
    return PathError(here, "'allOf' with more than one schema is not supported");
  }
  const uint32_t index = NewNode();
  node(index).is_union = true;
  for (size_t i = 0; i < value.size(); ++i) {
    BASTION_ASSIGN_OR_RETURN(const uint32_t alternative,
                             Compile(value[i], here + "[" + std::to_string(i) + "]", depth + 1));
    node(index).alternatives.push_back(alternative);
  }
  return index;
}

Result<uint32_t> Compiler::CompileRef(const json& ref, const std::string& path, int depth) {
  if (!ref.is_string()) return PathError(path, "must be a string");
  const std::string& text = ref.get_ref<const std::string&>();
  if (text.empty() || text[0] != '#') {
    return PathError(path, "only local references (#, #/$defs/..., #/definitions/...) are supported, got '" + text + "'");
  }
  const std::string pointer = text.substr(1);
  if (auto it = refs_.find(pointer); it != refs_.end()) return it->second;
  const json* target = nullptr;
  try {
    target = &root_.at(json::json_pointer(pointer));
  } catch (const json::exception&) {
    return PathError(path, "reference '" + text + "' does not resolve");
  }
  // A union of one, created before the target is compiled so a recursive reference finds it.
  const uint32_t index = NewNode();
  node(index).is_union = true;
  refs_[pointer] = index;
  BASTION_ASSIGN_OR_RETURN(const uint32_t target_node, Compile(*target, PointerPath(pointer), depth + 1));
  node(index).alternatives.push_back(target_node);
  return index;
}

Status Compiler::CompileType(const json& schema, const std::string& path, uint32_t index) {
  auto type_bits = [](const json& name) -> uint8_t {
    if (!name.is_string()) return 0;
    const std::string& s = name.get_ref<const std::string&>();
    if (s == "null") return kTypeNull;
    if (s == "boolean") return kTypeBoolean;
    if (s == "object") return kTypeObject;
    if (s == "array") return kTypeArray;
    if (s == "string") return kTypeString;
    if (s == "integer") return kTypeInteger;
    if (s == "number") return kTypeNumber | kTypeInteger;
    return 0;
  };
  uint8_t types = 0;
  if (schema.contains("type")) {
    const json& type = schema["type"];
    std::vector<json> names;
    if (type.is_array()) {
      names.assign(type.begin(), type.end());
      if (names.empty()) return PathError(path + ".type", "empty list of types");
    } else {
      names.push_back(type);
    }
    for (const json& name : names) {
      const uint8_t bits = type_bits(name);
      if (bits == 0) return PathError(path + ".type", "unknown type " + name.dump());
      types |= bits;
    }
  } else {
    // Type-specific keywords imply their type (a sound restriction: see json_constraint.h).
    for (const auto& [key, value] : schema.items()) {
      if (kObjectKeywords.count(key)) types |= kTypeObject;
      if (kArrayKeywords.count(key) && key != "uniqueItems") types |= kTypeArray;
      if (kStringKeywords.count(key)) types |= kTypeString;
    }
    if (types == 0) types = kAllTypes;
  }
  node(index).types = types;
  return OkStatus();
}

Status Compiler::CompileObject(const json& schema, const std::string& path, int depth, uint32_t index) {
  std::map<std::string, uint32_t> properties;  // sorted by key bytes, as the matcher needs
  if (schema.contains("properties")) {
    const json& props = schema["properties"];
    if (!props.is_object()) return PathError(path + ".properties", "must be an object");
    for (const auto& [key, sub] : props.items()) {
      BASTION_ASSIGN_OR_RETURN(const uint32_t sub_node, Compile(sub, path + ".properties." + key, depth + 1));
      properties[key] = sub_node;
    }
  }
  std::set<std::string> required;
  if (schema.contains("required")) {
    const json& req = schema["required"];
    if (!req.is_array()) return PathError(path + ".required", "must be an array of strings");
    for (const json& key : req) {
      if (!key.is_string()) return PathError(path + ".required", "must be an array of strings");
      required.insert(key.get<std::string>());
    }
  }
  uint32_t additional = schema.contains("properties") ? kNoNode : kAnyNode;
  uint32_t required_extra = kAnyNode;  // schema of required keys not in `properties`
  if (schema.contains("additionalProperties")) {
    const json& extra = schema["additionalProperties"];
    BASTION_ASSIGN_OR_RETURN(const uint32_t extra_node, Compile(extra, path + ".additionalProperties", depth + 1));
    additional = extra_node == kNeverNode ? kNoNode : extra_node;
    required_extra = extra_node;
  }
  BASTION_ASSIGN_OR_RETURN(const uint32_t min_properties, Count(schema, "minProperties", path, 0));
  BASTION_ASSIGN_OR_RETURN(const uint32_t max_properties, Count(schema, "maxProperties", path, kUnlimited));
  for (const std::string& key : required) {
    if (!properties.count(key)) properties[key] = required_extra;
  }

  JsonGrammar::Node& n = node(index);
  for (const auto& [key, sub_node] : properties) {
    JsonGrammar::Property p{key, sub_node, required.count(key) > 0};
    if (KeyNeedsUnicodeEscape(key)) {
      if (p.required) {
        return PathError(path + ".required", "required property names with control characters are not supported");
      }
      p.node = kNeverNode;  // never produced (the analysis turns it into a forbidden key)
    }
    n.properties.push_back(std::move(p));
  }
  n.additional = additional;
  n.min_properties = min_properties;
  n.max_properties = max_properties;
  return OkStatus();
}

Status Compiler::CompileArray(const json& schema, const std::string& path, int depth, uint32_t index) {
  std::vector<uint32_t> prefix;
  uint32_t items = kAnyNode;
  auto compile_list = [&](const json& list, const std::string& where) -> Status {
    if (!list.is_array()) return PathError(where, "must be an array of schemas");
    for (size_t i = 0; i < list.size(); ++i) {
      BASTION_ASSIGN_OR_RETURN(const uint32_t sub, Compile(list[i], where + "[" + std::to_string(i) + "]", depth + 1));
      prefix.push_back(sub);
    }
    return OkStatus();
  };
  if (schema.contains("prefixItems")) BASTION_RETURN_IF_ERROR(compile_list(schema["prefixItems"], path + ".prefixItems"));
  if (schema.contains("items")) {
    const json& it = schema["items"];
    if (it.is_array()) {  // draft 4-2019 tuple form: `items` is the prefix, additionalItems the rest
      if (schema.contains("prefixItems")) return PathError(path + ".items", "array form of 'items' next to 'prefixItems'");
      BASTION_RETURN_IF_ERROR(compile_list(it, path + ".items"));
      if (schema.contains("additionalItems")) {
        BASTION_ASSIGN_OR_RETURN(items, Compile(schema["additionalItems"], path + ".additionalItems", depth + 1));
      }
    } else {
      BASTION_ASSIGN_OR_RETURN(items, Compile(it, path + ".items", depth + 1));
    }
  }
  BASTION_ASSIGN_OR_RETURN(const uint32_t min_items, Count(schema, "minItems", path, 0));
  BASTION_ASSIGN_OR_RETURN(const uint32_t max_items, Count(schema, "maxItems", path, kUnlimited));
  JsonGrammar::Node& n = node(index);
  n.prefix_items = std::move(prefix);
  n.items = items;
  n.min_items = min_items;
  n.max_items = max_items;
  return OkStatus();
}

Status Compiler::CompileString(const json& schema, const std::string& path, uint32_t index) {
  BASTION_ASSIGN_OR_RETURN(const uint32_t min_length, Count(schema, "minLength", path, 0));
  BASTION_ASSIGN_OR_RETURN(const uint32_t max_length, Count(schema, "maxLength", path, kUnlimited));
  node(index).min_length = min_length;
  node(index).max_length = max_length;
  return OkStatus();
}

Result<uint32_t> Compiler::Count(const json& schema, const std::string& key, const std::string& path,
                                 uint32_t absent) {
  if (!schema.contains(key)) return absent;
  const json& v = schema[key];
  const std::string where = path + "." + key;
  if (v.is_number_unsigned() || v.is_number_integer()) {
    if (v.is_number_integer() && v.get<int64_t>() < 0) return PathError(where, "must be a non-negative integer");
    const uint64_t u = v.get<uint64_t>();
    return static_cast<uint32_t>(std::min<uint64_t>(u, kUnlimited));
  }
  if (v.is_number_float()) {
    const double d = v.get<double>();
    if (!(d >= 0) || std::floor(d) != d) return PathError(where, "must be a non-negative integer");
    return d >= static_cast<double>(kUnlimited) ? kUnlimited : static_cast<uint32_t>(d);
  }
  return PathError(where, "must be a non-negative integer");
}

std::shared_ptr<const JsonGrammar> MakeFixed(bool object_only) {
  static const json kEmpty = json::object();
  auto graph = std::make_unique<JsonGrammar::Graph>(Compiler(kEmpty).TakeGraph());
  graph->root = kAnyNode;
  if (object_only) {
    JsonGrammar::Node object;
    object.types = kTypeObject;
    object.additional = kAnyNode;
    graph->nodes.push_back(std::move(object));
    graph->root = static_cast<uint32_t>(graph->nodes.size() - 1);
  }
  const Status status = AnalyzeGraph(graph.get());
  BASTION_CHECK(status.ok());
  return std::make_shared<const JsonGrammar>(std::move(graph));
}

}  // namespace

JsonGrammar::JsonGrammar(std::unique_ptr<const Graph> graph) : graph_(std::move(graph)) {}
JsonGrammar::~JsonGrammar() = default;

std::shared_ptr<const JsonGrammar> JsonGrammar::AnyValue() {
  static const std::shared_ptr<const JsonGrammar> grammar = MakeFixed(false);
  return grammar;
}

std::shared_ptr<const JsonGrammar> JsonGrammar::AnyObject() {
  static const std::shared_ptr<const JsonGrammar> grammar = MakeFixed(true);
  return grammar;
}

Result<std::shared_ptr<const JsonGrammar>> JsonGrammar::FromSchema(const nlohmann::json& schema) {
  // Keys and strings must be valid UTF-8: the matcher only ever produces valid UTF-8.
  try {
    (void)schema.dump();
  } catch (const json::exception&) {
    return Error("schema: contains invalid UTF-8");
  }
  Compiler compiler(schema);
  BASTION_ASSIGN_OR_RETURN(const uint32_t root, compiler.Compile(schema, "$", 0));
  auto graph = std::make_unique<Graph>(compiler.TakeGraph());
  graph->root = root;
  BASTION_RETURN_IF_ERROR(AnalyzeGraph(graph.get()));
  return std::make_shared<const JsonGrammar>(std::move(graph));
}

bool JsonGrammar::Matches(const nlohmann::json& value) const { return ValidateNode(*graph_, graph_->root, value); }

}  // namespace bastion::grammar
