// Random schemas of the supported subset, and an independent validator for them written
// straight from JSON Schema (plus the documented decisions of json_constraint.h), so the random
// walks can check the matcher's output without trusting the grammar compiler.
#pragma once

#include <algorithm>
#include <cmath>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace bastion::grammar::testing {

using nlohmann::json;

class Rng {
 public:
  explicit Rng(uint64_t seed) : gen_(seed) {}
  int Uniform(int n) { return static_cast<int>(gen_() % static_cast<uint64_t>(n)); }
  bool Chance(double p) { return std::uniform_real_distribution<double>(0, 1)(gen_) < p; }
  template <typename T>
  const T& Pick(const std::vector<T>& v) { return v[Uniform(static_cast<int>(v.size()))]; }

 private:
  std::mt19937_64 gen_;
};

inline const std::vector<std::string>& KeyPool() {
  static const std::vector<std::string> keys = {"a", "b", "ab", "abc", "name", "x y", "", "\xC3\xA9", "a\"b", "\\",
                                                "\xE6\x97\xA5\xE6\x9C\xAC", "k1", "k2", "tab\t", "\xF0\x9F\x98\x80"};
  return keys;
}

inline json RandomValue(Rng& r, int depth = 0) {
  switch (r.Uniform(depth > 1 ? 7 : 9)) {
    case 0: return nullptr;
    case 1: return r.Chance(0.5);
    case 2: return r.Uniform(21) - 5;
    case 3: return r.Pick(std::vector<double>{2.5, -0.125, 1e20, 3.0, 0.1});
    case 4: return r.Pick(KeyPool());
    case 5: return std::string("q\x01z");
    case 6: return static_cast<uint64_t>(r.Uniform(1000));
    case 7: {
      json a = json::array();
      for (int i = r.Uniform(3); i > 0; --i) a.push_back(RandomValue(r, depth + 1));
      return a;
    }
    default: {
      json o = json::object();
      for (int i = r.Uniform(3); i > 0; --i) o[r.Pick(KeyPool())] = RandomValue(r, depth + 1);
      return o;
    }
  }
}

// refs: names under #/$defs/ that may be referenced.
inline json RandomSchema(Rng& r, int depth, const std::vector<std::string>& refs) {
  const int kind = r.Uniform(depth >= 3 ? 7 : 13);
  switch (kind) {
    case 0: {
      json s = {{"type", "string"}};
      if (r.Chance(0.4)) s["minLength"] = r.Uniform(3);
      if (r.Chance(0.4)) s["maxLength"] = s.value("minLength", 0) + r.Uniform(4);
      return s;
    }
    case 1: return {{"type", "integer"}};
    case 2: return {{"type", "number"}};
    case 3: return {{"type", r.Chance(0.5) ? "boolean" : "null"}};
    case 4: {
      json s = {{"enum", json::array()}};
      for (int i = 1 + r.Uniform(4); i > 0; --i) s["enum"].push_back(RandomValue(r));
      if (r.Chance(0.3)) s["type"] = r.Pick(std::vector<std::string>{"string", "integer", "number", "object"});
      return s;
    }
    case 5: return {{"const", RandomValue(r)}};
    case 6: return r.Pick(std::vector<json>{json(true), json::object(), json{{"type", {"integer", "string"}}},
                                            json{{"type", {"null", "boolean", "number"}}}});
    case 7:
    case 8: {
      json s = {{"type", "object"}};
      json props = json::object();
      for (int i = r.Uniform(5); i > 0; --i) props[r.Pick(KeyPool())] = RandomSchema(r, depth + 1, refs);
      if (r.Chance(0.9)) s["properties"] = props;
      json required = json::array();
      for (const auto& [k, v] : props.items()) {
        if (r.Chance(0.5)) required.push_back(k);
      }
      if (r.Chance(0.1)) required.push_back("extra");
      switch (r.Uniform(5)) {
        case 0: s["additionalProperties"] = false; break;
        case 1: s["additionalProperties"] = true; break;
        case 2: s["additionalProperties"] = RandomSchema(r, depth + 1, refs); break;
        default: break;
      }
      // A random walk through an object open to any key rarely types a required key by chance
      // (and is then abandoned): keep such combinations, but rarer.
      const bool open = s.contains("additionalProperties") ? s["additionalProperties"] != false : !s.contains("properties");
      if (!required.empty() && (!open || r.Chance(0.3))) s["required"] = required;
      if (r.Chance(0.15)) s["minProperties"] = r.Uniform(3);
      if (r.Chance(0.15)) s["maxProperties"] = 1 + r.Uniform(3);
      return s;
    }
    case 9: {
      json s = {{"type", "array"}};
      if (r.Chance(0.3)) {
        json prefix = json::array();
        for (int i = 1 + r.Uniform(3); i > 0; --i) prefix.push_back(RandomSchema(r, depth + 1, refs));
        s["prefixItems"] = prefix;
        if (r.Chance(0.5)) s["items"] = false;
      }
      if (!s.contains("items") && r.Chance(0.8)) s["items"] = RandomSchema(r, depth + 1, refs);
      if (r.Chance(0.3)) s["minItems"] = r.Uniform(3);
      if (r.Chance(0.3)) s["maxItems"] = s.value("minItems", 0) + r.Uniform(3);
      return s;
    }
    case 10: {
      json alts = json::array();
      for (int i = 2 + r.Uniform(2); i > 0; --i) alts.push_back(RandomSchema(r, depth + 1, refs));
      return {{r.Chance(0.5) ? "anyOf" : "oneOf", alts}};
    }
    case 11:
      if (!refs.empty()) return {{"$ref", "#/$defs/" + r.Pick(refs)}};
      return {{"type", "string"}};
    default:
      return {{"type", "array"}, {"items", {{"type", "integer"}}}, {"maxItems", 3}};
  }
}

inline json RandomRootSchema(Rng& r) {
  std::vector<std::string> refs;
  json defs = json::object();
  if (r.Chance(0.3)) {
    // A recursive definition with a base case, and a plain one.
    defs["tree"] = {{"anyOf", {{{"type", "integer"}},
                               {{"type", "array"}, {"maxItems", 2}, {"items", {{"$ref", "#/$defs/tree"}}}}}}};
    refs.push_back("tree");
    defs["plain"] = RandomSchema(r, 2, {});
    refs.push_back("plain");
  }
  // Mostly containers at the top, as requests have them.
  json s = RandomSchema(r, 0, refs);
  auto container = [](const json& x) {
    return x.is_object() && (x.contains("properties") || x.contains("items") || x.value("type", json()) == "object");
  };
  for (int tries = 0; tries < 3 && r.Chance(0.7) && !container(s); ++tries) {
    s = RandomSchema(r, 0, refs);
  }
  if (!refs.empty() && s.is_object() && !s.contains("$ref")) s["$defs"] = defs;
  if (!refs.empty() && s.is_object() && s.contains("$ref")) s = {{"anyOf", {s}}, {"$defs", defs}};
  return s;
}

inline size_t CodePointCount(const std::string& s) {
  size_t n = 0;
  for (unsigned char c : s) n += (c & 0xC0) != 0x80;
  return n;
}

// JSON Schema validation for the subset, with the documented decisions: oneOf as anyOf; type
// inferred from keywords; `properties` without `additionalProperties` closes the object except
// for required keys.
inline bool Valid(const json& s, const json& v, const json& root, int depth = 0) {
  if (depth > 200) return false;
  if (s.is_boolean()) return s.get<bool>();
  if (s.contains("$ref")) {
    return Valid(root.at(json::json_pointer(s["$ref"].get<std::string>().substr(1))), v, root, depth + 1);
  }
  for (const char* key : {"anyOf", "oneOf"}) {
    if (!s.contains(key)) continue;
    for (const json& alt : s[key]) {
      if (Valid(alt, v, root, depth + 1)) return true;
    }
    return false;
  }
  if (s.contains("allOf")) return Valid(s["allOf"][0], v, root, depth + 1);
  if (s.contains("enum") && std::find(s["enum"].begin(), s["enum"].end(), v) == s["enum"].end()) return false;
  if (s.contains("const") && s["const"] != v) return false;
  std::vector<std::string> types;
  if (s.contains("type")) {
    if (s["type"].is_string()) types.push_back(s["type"]);
    else for (const json& t : s["type"]) types.push_back(t);
  } else {
    for (const char* k : {"properties", "required", "additionalProperties", "minProperties", "maxProperties"}) {
      if (s.contains(k)) types.push_back("object");
    }
    for (const char* k : {"items", "prefixItems", "minItems", "maxItems"}) {
      if (s.contains(k)) types.push_back("array");
    }
    for (const char* k : {"minLength", "maxLength"}) {
      if (s.contains(k)) types.push_back("string");
    }
  }
  auto has = [&](const std::string& t) { return types.empty() || std::count(types.begin(), types.end(), t) > 0; };
  const bool integral = v.is_number_integer() || v.is_number_unsigned() ||
                        (v.is_number_float() && std::floor(v.get<double>()) == v.get<double>());
  if (v.is_null()) return has("null");
  if (v.is_boolean()) return has("boolean");
  if (v.is_number()) return has("number") || (integral && has("integer"));
  if (v.is_string()) {
    const size_t n = CodePointCount(v.get<std::string>());
    return has("string") && n >= s.value("minLength", 0u) && n <= s.value("maxLength", 1u << 30);
  }
  if (v.is_array()) {
    if (!has("array") || v.size() < s.value("minItems", 0u) || v.size() > s.value("maxItems", 1u << 30)) return false;
    json prefix = s.value("prefixItems", json::array());
    json rest = s.value("items", json(true));
    if (rest.is_array()) {
      prefix = rest;
      rest = s.value("additionalItems", json(true));
    }
    for (size_t i = 0; i < v.size(); ++i) {
      if (!Valid(i < prefix.size() ? prefix[i] : rest, v[i], root, depth + 1)) return false;
    }
    return true;
  }
  if (v.is_object()) {
    if (!has("object") || v.size() < s.value("minProperties", 0u) || v.size() > s.value("maxProperties", 1u << 30)) {
      return false;
    }
    const json props = s.value("properties", json::object());
    const json required = s.value("required", json::array());
    const bool explicit_extra = s.contains("additionalProperties");
    const json extra = explicit_extra ? s["additionalProperties"] : json(!s.contains("properties"));
    for (const auto& [k, x] : v.items()) {
      const bool is_required = std::find(required.begin(), required.end(), json(k)) != required.end();
      if (props.contains(k)) {
        if (!Valid(props[k], x, root, depth + 1)) return false;
      } else if (!Valid(is_required && !explicit_extra ? json(true) : extra, x, root, depth + 1)) {
        return false;
      }
    }
    for (const json& k : required) {
      if (!v.contains(k.get<std::string>())) return false;
    }
    return true;
  }
  return false;
}


// A random value meant to satisfy `s` (callers keep only those Valid() accepts): the other
// direction of the random walks, checking that the matcher accepts what it should.
inline std::optional<json> RandomInstance(Rng& r, const json& s, const json& root, int depth = 0) {
  if (depth > 12) return std::nullopt;
  if (s.is_boolean()) return s.get<bool>() ? std::optional<json>(RandomValue(r)) : std::nullopt;
  if (s.contains("$ref")) {
    return RandomInstance(r, root.at(json::json_pointer(s["$ref"].get<std::string>().substr(1))), root, depth + 1);
  }
  for (const char* key : {"anyOf", "oneOf", "allOf"}) {
    if (s.contains(key)) return RandomInstance(r, s[key][r.Uniform(static_cast<int>(s[key].size()))], root, depth + 1);
  }
  if (s.contains("const")) return s["const"];
  if (s.contains("enum")) {
    if (s["enum"].empty()) return std::nullopt;
    return s["enum"][r.Uniform(static_cast<int>(s["enum"].size()))];
  }
  std::vector<std::string> types;
  if (s.contains("type")) {
    if (s["type"].is_string()) types.push_back(s["type"]);
    else for (const json& t : s["type"]) types.push_back(t);
  } else if (s.contains("properties") || s.contains("required") || s.contains("additionalProperties")) {
    types.push_back("object");
  } else if (s.contains("items") || s.contains("prefixItems")) {
    types.push_back("array");
  } else if (s.contains("minLength") || s.contains("maxLength")) {
    types.push_back("string");
  } else {
    return RandomValue(r);
  }
  const std::string type = r.Pick(types);
  if (type == "null") return json(nullptr);
  if (type == "boolean") return json(r.Chance(0.5));
  if (type == "integer") return json(r.Uniform(2001) - 1000);
  if (type == "number") return r.Chance(0.5) ? json(r.Uniform(100)) : json(r.Uniform(1000) / 8.0 - 50);
  if (type == "string") {
    const int min = s.value("minLength", 0), max = std::min(s.value("maxLength", min + 6), min + 6);
    std::string out;
    for (int n = min + r.Uniform(max - min + 1); n > 0; --n) {
      out += r.Pick(std::vector<std::string>{"a", "Z", " ", "\"", "\\", "\n", "\x01", "\xC3\xA9", "\xF0\x9F\x98\x80", "/"});
    }
    return json(out);
  }
  if (type == "array") {
    const int min = s.value("minItems", 0), max = std::min(s.value("maxItems", min + 3), min + 3);
    json prefix = s.value("prefixItems", json::array());
    json rest = s.value("items", json(true));
    if (rest.is_array()) {
      prefix = rest;
      rest = s.value("additionalItems", json(true));
    }
    json out = json::array();
    for (int i = 0, n = min + r.Uniform(max - min + 1); i < n; ++i) {
      auto item = RandomInstance(r, i < static_cast<int>(prefix.size()) ? prefix[i] : rest, root, depth + 1);
      if (!item) return std::nullopt;
      out.push_back(*item);
    }
    return out;
  }
  // object
  json out = json::object();
  const json props = s.value("properties", json::object());
  const bool explicit_extra = s.contains("additionalProperties");
  for (const json& k : s.value("required", json::array())) {
    const std::string key = k;
    const json sub = props.contains(key) ? props[key] : explicit_extra ? s["additionalProperties"] : json(true);
    auto v = RandomInstance(r, sub, root, depth + 1);
    if (!v) return std::nullopt;
    out[key] = *v;
  }
  for (const auto& [key, sub] : props.items()) {
    if (out.contains(key) || !r.Chance(0.5)) continue;
    if (auto v = RandomInstance(r, sub, root, depth + 1)) out[key] = *v;
  }
  const json extra = explicit_extra ? s["additionalProperties"] : json(!s.contains("properties"));
  if (r.Chance(0.5)) {
    const std::string key = r.Pick(std::vector<std::string>{"zz", "q\"r", "\xC3\xA9t\xC3\xA9", "k1", "a"});
    if (!out.contains(key) && !props.contains(key)) {
      if (auto v = RandomInstance(r, extra, root, depth + 1)) out[key] = *v;
    }
  }
  return out;
}

// Does the schema hold an enum/const member that is an array or object? Their members must be
// written compactly, so a pretty-printed instance would (by design) be refused.
inline bool HasContainerMember(const json& s) {
  if (s.is_object()) {
    for (const auto& [key, value] : s.items()) {
      if (key == "const" && value.is_structured()) return true;
      if (key == "enum" && value.is_array()) {
        for (const json& m : value) {
          if (m.is_structured()) return true;
        }
      }
      if (HasContainerMember(value)) return true;
    }
  } else if (s.is_array()) {
    for (const json& v : s) {
      if (HasContainerMember(v)) return true;
    }
  }
  return false;
}

}  // namespace bastion::grammar::testing
