// JsonGrammar::FromSchema: what compiles, what is refused (the message names the keyword and its
// path), annotations that are ignored, unsatisfiable schemas, and Matches() on parsed values.
#include <gtest/gtest.h>

#include <string>

#include "grammar/json_constraint.h"
#include "grammar_test_util.h"

namespace bastion::grammar {
namespace {

using nlohmann::json;
using testing::CompileError;
using testing::MustCompile;

TEST(JsonSchemaCompile, UnsupportedKeywordsNameKeywordAndPath) {
  const std::pair<const char*, const char*> cases[] = {
      {R"({"type":"string","pattern":"^a"})", "$.pattern"},
      {R"({"properties":{"a":{"type":"string","pattern":"x"}}})", "$.properties.a.pattern"},
      {R"({"type":"integer","minimum":0})", "$.minimum"},
      {R"({"type":"number","maximum":1})", "$.maximum"},
      {R"({"type":"number","exclusiveMinimum":0})", "$.exclusiveMinimum"},
      {R"({"type":"number","multipleOf":2})", "$.multipleOf"},
      {R"({"items":{"properties":{"b":{"exclusiveMaximum":3}}}})", "$.items.properties.b.exclusiveMaximum"},
      {R"({"type":"object","patternProperties":{"^x":{}}})", "$.patternProperties"},
      {R"({"type":"object","propertyNames":{"maxLength":3}})", "$.propertyNames"},
      {R"({"type":"object","dependentRequired":{"a":["b"]}})", "$.dependentRequired"},
      {R"({"type":"object","dependentSchemas":{"a":{}}})", "$.dependentSchemas"},
      {R"({"type":"object","dependencies":{"a":["b"]}})", "$.dependencies"},
      {R"({"if":{},"then":{}})", "$.if"},
      {R"({"not":{"type":"null"}})", "$.not"},
      {R"({"type":"array","contains":{"type":"null"}})", "$.contains"},
      {R"({"type":"array","uniqueItems":true})", "$.uniqueItems"},
      {R"({"type":"object","unevaluatedProperties":false})", "$.unevaluatedProperties"},
      {R"({"anyOf":[{"type":"null"},{"$dynamicRef":"#x"}]})", "$.anyOf[1].$dynamicRef"},
      {R"({"$defs":{"a":{"pattern":"x"}},"$ref":"#/$defs/a"})", "$.$defs.a.pattern"},
  };
  for (const auto& [schema, path] : cases) {
    const std::string message = CompileError(schema);
    EXPECT_NE(message.find(path), std::string::npos) << schema << " -> " << message;
    const std::string keyword = std::string(path).substr(std::string(path).rfind('.') + 1);
    EXPECT_NE(message.find("'" + keyword + "'"), std::string::npos) << schema << " -> " << message;
  }
}

TEST(JsonSchemaCompile, CombinatorsStandAlone) {
  EXPECT_NE(CompileError(R"({"type":"object","anyOf":[{"required":["a"]},{"required":["b"]}]})").find("$.type"),
            std::string::npos);
  EXPECT_NE(CompileError(R"({"$ref":"#/$defs/a","type":"string","$defs":{"a":{}}})").find("'type' next to '$ref'"),
            std::string::npos);
  EXPECT_NE(CompileError(R"({"anyOf":[{}],"oneOf":[{}]})").find("$.oneOf"), std::string::npos);
  EXPECT_NE(CompileError(R"({"allOf":[{"type":"string"},{"maxLength":2}]})").find("allOf"), std::string::npos);
  EXPECT_NE(CompileError(R"({"anyOf":[]})").find("$.anyOf"), std::string::npos);
  EXPECT_NE(CompileError(R"({"anyOf":{}})").find("$.anyOf"), std::string::npos);
  // Annotations and $defs next to a combinator are fine; allOf of one schema is that schema.
  MustCompile(R"({"anyOf":[{"type":"null"}],"title":"t","description":"d","default":null,"$defs":{}})");
  const auto one = MustCompile(R"({"allOf":[{"type":"string"}],"description":"x"})");
  EXPECT_ACCEPTS(one, R"("s")");
  EXPECT_REJECTS_AT(one, "1", 0);
}

TEST(JsonSchemaCompile, References) {
  EXPECT_NE(CompileError(R"({"$ref":"https://example.com/s.json"})").find("only local references"), std::string::npos);
  EXPECT_NE(CompileError(R"({"$ref":"#anchor"})").find("does not resolve"), std::string::npos);
  EXPECT_NE(CompileError(R"({"$ref":"#/$defs/missing","$defs":{}})").find("$.$ref"), std::string::npos);
  EXPECT_NE(CompileError(R"({"$ref":5})").find("$.$ref"), std::string::npos);
  // Pure reference cycles admit nothing.
  CompileError(R"({"$ref":"#/$defs/a","$defs":{"a":{"$ref":"#/$defs/b"},"b":{"$ref":"#/$defs/a"}}})");
  CompileError(R"({"$ref":"#"})");
}

TEST(JsonSchemaCompile, MalformedKeywords) {
  EXPECT_NE(CompileError(R"({"type":"text"})").find("$.type"), std::string::npos);
  EXPECT_NE(CompileError(R"({"type":[]})").find("$.type"), std::string::npos);
  EXPECT_NE(CompileError(R"({"type":"array","minItems":-1})").find("$.minItems"), std::string::npos);
  EXPECT_NE(CompileError(R"({"type":"string","maxLength":1.5})").find("$.maxLength"), std::string::npos);
  EXPECT_NE(CompileError(R"({"type":"object","required":"a"})").find("$.required"), std::string::npos);
  EXPECT_NE(CompileError(R"({"type":"object","properties":[]})").find("$.properties"), std::string::npos);
  EXPECT_NE(CompileError(R"({"enum":"a"})").find("$.enum"), std::string::npos);
  EXPECT_NE(CompileError(R"({"properties":{"a":3}})").find("$.properties.a"), std::string::npos);
  EXPECT_NE(CompileError(R"({"prefixItems":[{}],"items":[{}]})").find("$.items"), std::string::npos);
  EXPECT_NE(CompileError(R"({"type":"object","required":["\u0001"]})").find("control characters"), std::string::npos);
  // Integral floats are fine for counts.
  MustCompile(R"({"type":"array","maxItems":3.0})");
}

TEST(JsonSchemaCompile, Limits) {
  std::string deep = "{}";
  for (int i = 0; i < 70; ++i) deep = R"({"type":"array","items":)" + deep + "}";
  EXPECT_NE(CompileError(deep).find("64 levels"), std::string::npos);
  json many = json::object();
  for (int i = 0; i < 10001; ++i) many["p" + std::to_string(i)] = json::object();
  auto g = JsonGrammar::FromSchema(json{{"properties", many}});
  ASSERT_FALSE(g.ok());
  EXPECT_NE(g.error().message().find("10000"), std::string::npos);
  json bad_utf8 = {{"const", std::string("\xFF")}};
  ASSERT_FALSE(JsonGrammar::FromSchema(bad_utf8).ok());
}

TEST(JsonSchemaCompile, AnnotationsAreIgnored) {
  const auto g = MustCompile(R"({
      "$schema":"https://json-schema.org/draft/2020-12/schema","$id":"x","$comment":"c",
      "title":"T","description":"D","examples":[1],"default":{},"deprecated":false,
      "readOnly":true,"writeOnly":false,"x-vendor":1,"nullable":true,"discriminator":{},
      "type":"object","properties":{
        "when":{"type":"string","format":"date-time","contentEncoding":"base64"},
        "id":{"type":"string","format":"uuid"}},
      "uniqueItems":false})");
  EXPECT_ACCEPTS(g, R"({"when":"not a date","id":"x"})");  // format is an annotation
}

TEST(JsonSchemaCompile, Unsatisfiable) {
  for (const char* schema : {
           R"({"type":"string","minLength":3,"maxLength":2})",
           R"({"type":"array","minItems":3,"maxItems":1})",
           R"({"type":"object","required":["a","b"],"maxProperties":1})",
           R"({"type":"object","minProperties":2,"properties":{"a":{}}})",
           R"({"type":"object","required":["a"],"additionalProperties":false})",
           R"({"enum":[]})",
           R"({"type":"string","enum":[1,2]})",
           R"({"enum":[1],"const":2})",
           R"({"type":"array","minItems":1,"items":false})",
           R"({"type":"object","properties":{"self":{"$ref":"#"}},"required":["self"]})",
           "false",
       }) {
    EXPECT_NE(CompileError(schema).find("no JSON value"), std::string::npos) << schema;
  }
  // Unsatisfiable parts that are optional are pruned instead.
  const auto g = MustCompile(R"({"properties":{"a":{"type":"string","minLength":2,"maxLength":1},"b":{}}})");
  EXPECT_ACCEPTS(g, R"({"b":1})");
  EXPECT_REJECTS_AT(g, R"({"a":"x"})", 2);
  const auto arr = MustCompile(R"({"prefixItems":[{"type":"null"},false],"minItems":1})");
  EXPECT_ACCEPTS(arr, "[null]");
  EXPECT_REJECTS_AT(arr, "[null,", 5);
  const auto types = MustCompile(R"({"type":["object","null"],"required":["a"],"additionalProperties":false})");
  EXPECT_ACCEPTS(types, "null");
  EXPECT_REJECTS_AT(types, "{", 0);
}

TEST(JsonSchemaMatches, ParsedValues) {
  const auto g = MustCompile(R"({"type":"object","properties":{
      "n":{"type":"integer"},"s":{"type":"string","maxLength":2},"e":{"enum":["x",{"k":[1]}]},
      "a":{"type":"array","prefixItems":[{"type":"null"}],"items":{"type":"boolean"},"maxItems":3},
      "u":{"anyOf":[{"type":"string"},{"type":"null"}]}},
      "required":["n"]})");
  EXPECT_TRUE(g->Matches(json::parse(R"({"n":1})")));
  EXPECT_TRUE(g->Matches(json::parse(R"({"n":1.0})")));  // JSON Schema: 1.0 is an integer
  EXPECT_FALSE(g->Matches(json::parse(R"({"n":1.5})")));
  EXPECT_FALSE(g->Matches(json::parse(R"({})")));
  EXPECT_FALSE(g->Matches(json::parse(R"({"n":1,"x":2})")));
  EXPECT_TRUE(g->Matches(json::parse(R"({"n":1,"s":"\u00e9\u00e9"})")));
  EXPECT_FALSE(g->Matches(json::parse(R"({"n":1,"s":"abc"})")));
  EXPECT_TRUE(g->Matches(json::parse(R"({"n":1,"e":{ "k" : [ 1 ] }})")));
  EXPECT_FALSE(g->Matches(json::parse(R"({"n":1,"e":"y"})")));
  EXPECT_TRUE(g->Matches(json::parse(R"({"n":1,"a":[null,true,false]})")));
  EXPECT_FALSE(g->Matches(json::parse(R"({"n":1,"a":[true]})")));
  EXPECT_FALSE(g->Matches(json::parse(R"({"n":1,"a":[null,true,false,true]})")));
  EXPECT_TRUE(g->Matches(json::parse(R"({"n":1,"u":null})")));
  EXPECT_FALSE(g->Matches(json::parse(R"({"n":1,"u":3})")));
  EXPECT_TRUE(JsonGrammar::AnyValue()->Matches(json::parse(R"([1,{"a":null}])")));
  EXPECT_FALSE(JsonGrammar::AnyObject()->Matches(json::parse("[]")));
}

}  // namespace
}  // namespace bastion::grammar
