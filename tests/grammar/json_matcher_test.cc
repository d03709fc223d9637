// JsonMatcher on hand-written documents, byte by byte: valid ones complete, invalid ones are
// refused at the first byte that cannot lead to a valid document. One group per JSON feature and
// per supported schema keyword.
#include <gtest/gtest.h>

#include <string>

#include "grammar/json_constraint.h"
#include "grammar_test_util.h"

namespace bastion::grammar {
namespace {

using testing::MustCompile;

TEST(JsonMatcherAny, Literals) {
  const auto any = JsonGrammar::AnyValue();
  EXPECT_ACCEPTS(any, "true");
  EXPECT_ACCEPTS(any, "false");
  EXPECT_ACCEPTS(any, "null");
  EXPECT_PREFIX(any, "tru");
  EXPECT_REJECTS_AT(any, "trux", 3);
  EXPECT_REJECTS_AT(any, "nul1", 3);
  EXPECT_REJECTS_AT(any, "True", 0);
  EXPECT_REJECTS_AT(any, "truee", 4);
}

TEST(JsonMatcherAny, Numbers) {
  const auto any = JsonGrammar::AnyValue();
  for (const char* ok : {"0", "-0", "7", "123", "-45", "0.5", "-0.25", "1e5", "1E+5", "2.5e-3", "10.01"}) {
    EXPECT_ACCEPTS(any, ok);
  }
  EXPECT_PREFIX(any, "-");
  EXPECT_PREFIX(any, "1.");
  EXPECT_PREFIX(any, "1e");
  EXPECT_PREFIX(any, "1e+");
  EXPECT_REJECTS_AT(any, "01", 1);
  EXPECT_REJECTS_AT(any, "-01", 2);
  EXPECT_REJECTS_AT(any, ".5", 0);
  EXPECT_REJECTS_AT(any, "+1", 0);
  EXPECT_REJECTS_AT(any, "1.e5", 2);
  EXPECT_REJECTS_AT(any, "1e5.", 3);
  EXPECT_REJECTS_AT(any, "--1", 1);
  EXPECT_REJECTS_AT(any, "1x", 1);
  EXPECT_ACCEPTS(any, "[1,-2.5e3,0]");
  // Digit caps: every number parses as a finite double, and none goes on forever.
  EXPECT_ACCEPTS(any, "-" + std::string(JsonMatcher::kMaxIntegerDigits, '9'));
  EXPECT_REJECTS_AT(any, std::string(JsonMatcher::kMaxIntegerDigits + 1, '9'), JsonMatcher::kMaxIntegerDigits);
  EXPECT_ACCEPTS(any, "0." + std::string(JsonMatcher::kMaxFractionDigits, '3'));
  EXPECT_REJECTS_AT(any, "0." + std::string(JsonMatcher::kMaxFractionDigits + 1, '3'),
                    JsonMatcher::kMaxFractionDigits + 2);
  EXPECT_ACCEPTS(any, "1e99");
  EXPECT_ACCEPTS(any, "-1.5E-07");
  EXPECT_REJECTS_AT(any, "1e100", 4);
  EXPECT_REJECTS_AT(any, "[01]", 2);
}

TEST(JsonMatcherAny, StringsAndEscapes) {
  const auto any = JsonGrammar::AnyValue();
  EXPECT_ACCEPTS(any, R"("")");
  EXPECT_ACCEPTS(any, R"("a b\"\\\/\b\f\n\r\t")");
  EXPECT_ACCEPTS(any, R"("\u00e9\u00E9")");
  EXPECT_ACCEPTS(any, R"("\ud83d\ude00")");  // surrogate pair
  EXPECT_ACCEPTS(any, R"("\u0000")");
  EXPECT_PREFIX(any, R"("\ud83d)");
  EXPECT_REJECTS_AT(any, R"("\ud83d")", 7);        // high surrogate must be followed by \u
  EXPECT_REJECTS_AT(any, R"("\ud83d\u0041")", 9);  // ... by a low one
  EXPECT_REJECTS_AT(any, R"("\ud83d\ud83d")", 10);
  EXPECT_REJECTS_AT(any, R"("\udc00")", 4);        // lone low surrogate
  EXPECT_REJECTS_AT(any, R"("\x")", 2);
  EXPECT_REJECTS_AT(any, R"("\u12g4")", 5);
  EXPECT_REJECTS_AT(any, "\"a\nb\"", 2);           // raw control character
  EXPECT_REJECTS_AT(any, "\"\t\"", 1);
  EXPECT_ACCEPTS(any, "\"\x7f\"");
}

TEST(JsonMatcherAny, Utf8) {
  const auto any = JsonGrammar::AnyValue();
  EXPECT_ACCEPTS(any, "\"h\xC3\xA9llo \xE4\xBD\xA0\xE5\xA5\xBD \xF0\x9F\x98\x80\"");
  EXPECT_ACCEPTS(any, "\"\xF4\x8F\xBF\xBF\"");            // U+10FFFF
  EXPECT_REJECTS_AT(any, "\"\xC0\xAF\"", 1);             // overlong lead
  EXPECT_REJECTS_AT(any, "\"\xE0\x80\xAF\"", 2);         // overlong 3-byte form
  EXPECT_REJECTS_AT(any, "\"\xED\xA0\x80\"", 2);         // UTF-16 surrogate encoded
  EXPECT_REJECTS_AT(any, "\"\xF4\x90\x80\x80\"", 2);     // above U+10FFFF
  EXPECT_REJECTS_AT(any, "\"\xF5\x80\x80\x80\"", 1);
  EXPECT_REJECTS_AT(any, "\"\x80\"", 1);                 // stray continuation byte
  EXPECT_REJECTS_AT(any, "\"\xC3\"", 2);                 // truncated sequence
  EXPECT_REJECTS_AT(any, "\"\xE4\xBD\x41\"", 3);
}

TEST(JsonMatcherAny, Containers) {
  const auto any = JsonGrammar::AnyValue();
  EXPECT_ACCEPTS(any, "{}");
  EXPECT_ACCEPTS(any, "[]");
  EXPECT_ACCEPTS(any, R"({"a":[1,{"b":null}],"c":"d"})");
  EXPECT_ACCEPTS(any, "[[[[]]],[{}]]");
  EXPECT_REJECTS_AT(any, "[1,]", 3);
  EXPECT_REJECTS_AT(any, R"({"a":1,})", 7);
  EXPECT_REJECTS_AT(any, R"({"a" 1})", 5);
  EXPECT_REJECTS_AT(any, "{1:2}", 1);
  EXPECT_REJECTS_AT(any, "[1 2]", 3);
  EXPECT_REJECTS_AT(any, "[}", 1);
  EXPECT_REJECTS_AT(any, "{]", 1);
  EXPECT_REJECTS_AT(any, "{} {}", 3);  // one top-level value only
  EXPECT_PREFIX(any, R"({"a":[1,2)");
}

TEST(JsonMatcherAny, DepthCap) {
  // The root frame plus one per open container or scalar. (Fed whole: the byte-by-byte helper
  // would copy a thousand-frame stack 256 times per byte.)
  const auto any = JsonGrammar::AnyValue();
  const std::string deep(JsonMatcher::kMaxFrames - 1, '[');
  JsonMatcher m(any);
  ASSERT_TRUE(m.Feed(deep));
  EXPECT_FALSE(m.CanFeed("["));
  EXPECT_FALSE(m.CanFeed("1"));
  EXPECT_TRUE(m.CanFeed("]"));
  EXPECT_TRUE(m.Feed(std::string(deep.size(), ']')));
  EXPECT_TRUE(m.Complete());
  const std::string shallower(JsonMatcher::kMaxFrames - 2, '[');
  JsonMatcher n(any);
  EXPECT_TRUE(n.Feed(shallower + "1" + std::string(shallower.size(), ']')));
  EXPECT_TRUE(n.Complete());
}

TEST(JsonMatcherAny, AnyObject) {
  const auto obj = JsonGrammar::AnyObject();
  EXPECT_ACCEPTS(obj, R"({"x":[1,"y"],"z":{}})");
  EXPECT_ACCEPTS(obj, "{}");
  EXPECT_REJECTS_AT(obj, "[]", 0);
  EXPECT_REJECTS_AT(obj, "1", 0);
  EXPECT_REJECTS_AT(obj, R"("a")", 0);
  // Unlisted keys are remembered too: no duplicates, however spelled.
  EXPECT_REJECTS_AT(obj, R"({"a":1,"a":2})", 9);
  EXPECT_REJECTS_AT(obj, R"({"ab":1,"b":{"x":1,"x":2},"\u0061b":3})", 21);
  EXPECT_REJECTS_AT(obj, R"({"ab":1,"b":{},"\u0061b":3})", 23);
  EXPECT_ACCEPTS(obj, R"({"ab":1,"b":{"ab":{"ab":2}},"a":3,"abc":4})");
  // ... which is what keeps minProperties honest for them.
  const auto two = MustCompile(R"({"type":"object","minProperties":2})");
  EXPECT_REJECTS_AT(two, R"({"a":1,"a":2})", 9);
  EXPECT_ACCEPTS(two, R"({"a":1,"b":2})");
  // Many unlisted keys: one record frame each.
  std::string doc = "{";
  for (int i = 0; i < 100; ++i) doc += (i ? ",\"" : "\"") + std::to_string(i) + "\":" + std::to_string(i);
  EXPECT_ACCEPTS(obj, doc + "}");
  EXPECT_REJECTS_AT(obj, doc + ",\"99\"", static_cast<int>(doc.size()) + 4);
}

TEST(JsonMatcherAny, UnlistedKeysUpToTheFrameCap) {
  // Each unlisted key holds a frame while its object is open; at the cap the object must close
  // (no ',' is offered that could lead nowhere).
  const auto obj = JsonGrammar::AnyObject();
  JsonMatcher m(obj);
  ASSERT_TRUE(m.Feed("{"));
  int keys = 0;
  while (m.CanFeed(keys ? "," : "\"")) {
    ASSERT_TRUE(m.Feed((keys ? ",\"" : "\"") + std::to_string(keys) + "\":1"));
    ++keys;
  }
  EXPECT_EQ(keys, static_cast<int>(JsonMatcher::kMaxFrames) - 3);  // root, object, one spare
  EXPECT_TRUE(m.CanFeed("}"));
  EXPECT_TRUE(m.NextBytes().any());
}

TEST(JsonMatcherWhitespace, AllowedBetweenTokensOnly) {
  const auto any = JsonGrammar::AnyValue();
  EXPECT_ACCEPTS(any, " {\n  \"a\" : [ 1 , 2 ] ,\n\t\"b\":true } ");
  EXPECT_REJECTS_AT(any, "t rue", 1);
  EXPECT_REJECTS_AT(any, "1 2", 2);
  EXPECT_REJECTS_AT(any, "- 1", 1);
}

TEST(JsonMatcherWhitespace, OneSpaceOrNewlineAndIndentation) {
  const auto any = JsonGrammar::AnyValue();
  const std::string indent(JsonMatcher::kMaxIndent, ' ');
  EXPECT_ACCEPTS(any, "[\n" + indent + "1\n" + indent + "]\n" + indent);
  EXPECT_ACCEPTS(any, "{\n\t\t\"a\": [1, 2]\n}");
  EXPECT_REJECTS_AT(any, "[\n" + indent + " 1]", 2 + static_cast<int>(indent.size()));
  EXPECT_REJECTS_AT(any, "[  1]", 2);     // two spaces: only a newline may start indentation
  EXPECT_REJECTS_AT(any, "{\n\n\"a\":1}", 2);  // no blank lines
  EXPECT_REJECTS_AT(any, "{\r\n}", 1);     // no carriage returns
  EXPECT_REJECTS_AT(any, "[\t1]", 1);      // a tab only as indentation
  EXPECT_REJECTS_AT(any, "[ \n1]", 2);
  // After the value only one run may follow, and then nothing: the model must stop.
  JsonMatcher m(any);
  ASSERT_TRUE(m.Feed("{}\n" + indent));
  EXPECT_TRUE(m.Complete());
  EXPECT_TRUE(m.NextBytes().none());
}

TEST(JsonMatcherTypes, ScalarTypes) {
  const auto integer = MustCompile(R"({"type":"integer"})");
  EXPECT_ACCEPTS(integer, "-42");
  EXPECT_ACCEPTS(integer, "0");
  EXPECT_REJECTS_AT(integer, "4.2", 1);
  EXPECT_REJECTS_AT(integer, "4e2", 1);
  EXPECT_REJECTS_AT(integer, "\"4\"", 0);
  const auto number = MustCompile(R"({"type":"number"})");
  EXPECT_ACCEPTS(number, "4.2e-1");
  EXPECT_REJECTS_AT(number, "true", 0);
  const auto boolean = MustCompile(R"({"type":"boolean"})");
  EXPECT_ACCEPTS(boolean, "false");
  EXPECT_REJECTS_AT(boolean, "null", 0);
  const auto null = MustCompile(R"({"type":"null"})");
  EXPECT_ACCEPTS(null, "null");
  EXPECT_REJECTS_AT(null, "0", 0);
  const auto string = MustCompile(R"({"type":"string"})");
  EXPECT_ACCEPTS(string, R"("x")");
  EXPECT_REJECTS_AT(string, "{", 0);
  const auto list = MustCompile(R"({"type":["string","null"]})");
  EXPECT_ACCEPTS(list, "null");
  EXPECT_ACCEPTS(list, R"("s")");
  EXPECT_REJECTS_AT(list, "1", 0);
  EXPECT_REJECTS_AT(list, "true", 0);
}

TEST(JsonMatcherTypes, InferredFromKeywords) {
  const auto obj = MustCompile(R"({"properties":{"a":{}}})");
  EXPECT_ACCEPTS(obj, R"({"a":1})");
  EXPECT_REJECTS_AT(obj, "1", 0);
  const auto arr = MustCompile(R"({"items":{"type":"integer"}})");
  EXPECT_ACCEPTS(arr, "[1,2]");
  EXPECT_REJECTS_AT(arr, "\"a\"", 0);
  const auto str = MustCompile(R"({"maxLength":3})");
  EXPECT_ACCEPTS(str, R"("abc")");
  EXPECT_REJECTS_AT(str, "1", 0);
}

TEST(JsonMatcherObject, PropertiesAndRequired) {
  const auto g = MustCompile(R"({"type":"object","properties":{"name":{"type":"string"},
      "age":{"type":"integer"},"nick":{"type":"string"}},"required":["name","age"]})");
  EXPECT_ACCEPTS(g, R"({"name":"Ann","age":30})");
  EXPECT_ACCEPTS(g, R"({"age":30,"nick":"A","name":"Ann"})");
  EXPECT_ACCEPTS(g, R"( { "name" : "Ann" , "age" : 30 } )");
  EXPECT_REJECTS_AT(g, R"({"name":"Ann"})", 13);             // age missing
  EXPECT_REJECTS_AT(g, "{}", 1);
  EXPECT_REJECTS_AT(g, R"({"nam":"Ann"})", 5);               // not a key
  EXPECT_REJECTS_AT(g, R"({"namex":1})", 6);
  EXPECT_REJECTS_AT(g, R"({"other":1})", 2);                 // no key starts with 'o'
  EXPECT_REJECTS_AT(g, R"({"name":1})", 8);                  // wrong value type
  EXPECT_REJECTS_AT(g, R"({"age":1.5})", 8);
  EXPECT_REJECTS_AT(g, R"({"name":"a","name":"b"})", 14);    // each key once: "n" may still be "nick"
}

TEST(JsonMatcherObject, DuplicateKeyWithLongerSibling) {
  const auto g = MustCompile(R"({"properties":{"a":{},"ab":{}}})");
  EXPECT_ACCEPTS(g, R"({"a":1,"ab":2})");
  EXPECT_REJECTS_AT(g, R"({"a":1,"a":2})", 9);  // "a" could still become "ab"; the quote is refused
}

TEST(JsonMatcherObject, AdditionalProperties) {
  // Default with `properties`: closed (see json_constraint.h).
  const auto closed = MustCompile(R"({"properties":{"a":{"type":"integer"}}})");
  EXPECT_ACCEPTS(closed, R"({"a":1})");
  EXPECT_ACCEPTS(closed, "{}");
  EXPECT_REJECTS_AT(closed, R"({"b":1})", 2);
  // Without `properties`: any keys.
  const auto open = MustCompile(R"({"type":"object"})");
  EXPECT_ACCEPTS(open, R"({"anything":[1],"else":{}})");
  // additionalProperties: true.
  const auto any_extra = MustCompile(R"({"properties":{"a":{"type":"integer"}},"additionalProperties":true})");
  EXPECT_ACCEPTS(any_extra, R"({"a":1,"b":"x"})");
  EXPECT_REJECTS_AT(any_extra, R"({"b":"x","a":"y"})", 13);  // a listed key keeps its schema
  EXPECT_ACCEPTS(any_extra, R"({"ab":"y"})");
  // additionalProperties: a schema.
  const auto typed = MustCompile(R"({"properties":{"a":{"type":"string"}},"additionalProperties":{"type":"integer"}})");
  EXPECT_ACCEPTS(typed, R"({"a":"s","b":2,"c":3})");
  EXPECT_REJECTS_AT(typed, R"({"b":"s"})", 5);
  // additionalProperties: false, explicit.
  const auto none = MustCompile(R"({"type":"object","additionalProperties":false})");
  EXPECT_ACCEPTS(none, "{}");
  EXPECT_REJECTS_AT(none, R"({"a":1})", 1);
  // A required key that is not in properties is allowed (any value when additionalProperties is
  // absent, its schema otherwise).
  const auto req_extra = MustCompile(R"({"properties":{"a":{}},"required":["z"]})");
  EXPECT_ACCEPTS(req_extra, R"({"z":[1]})");
  EXPECT_REJECTS_AT(req_extra, R"({"a":1})", 6);
}

TEST(JsonMatcherObject, KeysAreComparedDecoded) {
  const auto open = MustCompile(R"({"properties":{"a":{"type":"integer"}},"additionalProperties":{"type":"string"}})");
  EXPECT_ACCEPTS(open, R"({"\u0061":1})");               // "\u0061" is "a": integer
  EXPECT_REJECTS_AT(open, R"({"\u0061":"x"})", 10);
  EXPECT_REJECTS_AT(open, R"({"a":1,"\u0061":2})", 14);  // duplicate, however spelled
  const auto closed = MustCompile(R"({"properties":{"a\"b":{},"c\nd":{}}})");
  EXPECT_ACCEPTS(closed, R"({"a\"b":1,"c\nd":2})");
  EXPECT_REJECTS_AT(closed, R"({"\u0061\"b":1})", 2);    // no short escape starts a listed key
  EXPECT_REJECTS_AT(closed, R"({"a\u0022b":1})", 4);      // \u refused where only listed keys go
  EXPECT_REJECTS_AT(closed, R"({"a\n":1})", 4);
  EXPECT_REJECTS_AT(closed, R"({"c\t":1})", 4);
  EXPECT_REJECTS_AT(MustCompile(R"({"properties":{"ab":{}}})"), R"({"a\)", 3);  // no escape fits
}

TEST(JsonMatcherObject, UnicodeKeys) {
  const auto g = MustCompile(R"({"properties":{"h\u00e9":{},"h\u00e8":{},"\ud83d\ude00":{}},"required":["\ud83d\ude00"]})");
  EXPECT_ACCEPTS(g, "{\"h\xC3\xA9\":1,\"\xF0\x9F\x98\x80\":2}");
  EXPECT_REJECTS_AT(g, "{\"h\xC3\xAA\":1}", 4);
  EXPECT_REJECTS_AT(g, "{\"h\xC3\xA9\":1}", 8);  // required emoji key missing
}

TEST(JsonMatcherObject, MinMaxProperties) {
  const auto g = MustCompile(R"({"type":"object","minProperties":1,"maxProperties":2})");
  EXPECT_REJECTS_AT(g, "{}", 1);
  EXPECT_ACCEPTS(g, R"({"a":1})");
  EXPECT_ACCEPTS(g, R"({"a":1,"b":2})");
  EXPECT_REJECTS_AT(g, R"({"a":1,"b":2,"c":3})", 12);
  // maxProperties leaves room for the required keys: optional ones must not crowd them out.
  const auto budget = MustCompile(
      R"({"properties":{"r":{},"o":{},"p":{}},"required":["r"],"maxProperties":2})");
  EXPECT_ACCEPTS(budget, R"({"o":1,"r":2})");
  EXPECT_REJECTS_AT(budget, R"({"o":1,"p":2})", 8);
  EXPECT_ACCEPTS(budget, R"({"r":1,"p":2})");
  // Many properties: seen-key bits beyond the first 64.
  std::string props, doc = "{";
  for (int i = 0; i < 150; ++i) {
    props += (i ? "," : "") + std::string("\"k") + std::to_string(i) + "\":{\"type\":\"integer\"}";
  }
  const auto many = MustCompile("{\"properties\":{" + props + "},\"required\":[\"k149\",\"k70\"]}");
  for (int i = 149; i >= 0; i -= 7) doc += (i == 149 ? "" : ",") + std::string("\"k") + std::to_string(i) + "\":1";
  EXPECT_ACCEPTS(many, doc + ",\"k70\":0}");
  EXPECT_REJECTS_AT(many, doc + "}", static_cast<int>(doc.size()));        // k70 missing
  EXPECT_REJECTS_AT(many, doc + ",\"k142\":0}", static_cast<int>(doc.size()) + 5);  // k142 seen
}

TEST(JsonMatcherArray, ItemsAndCounts) {
  const auto g = MustCompile(R"({"type":"array","items":{"type":"integer"},"minItems":1,"maxItems":3})");
  EXPECT_ACCEPTS(g, "[1]");
  EXPECT_ACCEPTS(g, "[1,2,3]");
  EXPECT_REJECTS_AT(g, "[]", 1);
  EXPECT_REJECTS_AT(g, "[1,2,3,4]", 6);
  EXPECT_REJECTS_AT(g, "[1,\"a\"]", 3);
  const auto empty_only = MustCompile(R"({"type":"array","maxItems":0})");
  EXPECT_ACCEPTS(empty_only, "[]");
  EXPECT_REJECTS_AT(empty_only, "[1]", 1);
}

TEST(JsonMatcherArray, PrefixItems) {
  const auto g = MustCompile(R"({"prefixItems":[{"type":"string"},{"type":"integer"}],"items":false})");
  EXPECT_ACCEPTS(g, R"(["a",1])");
  EXPECT_ACCEPTS(g, R"(["a"])");
  EXPECT_ACCEPTS(g, "[]");
  EXPECT_REJECTS_AT(g, R"(["a",1,2])", 6);
  EXPECT_REJECTS_AT(g, "[1]", 1);
  const auto rest = MustCompile(R"({"prefixItems":[{"type":"string"}],"items":{"type":"boolean"},"minItems":2})");
  EXPECT_ACCEPTS(rest, R"(["a",true,false])");
  EXPECT_REJECTS_AT(rest, R"(["a"])", 4);
  EXPECT_REJECTS_AT(rest, R"(["a",1])", 5);
  // The old tuple form: items as an array, additionalItems for the rest.
  const auto tuple = MustCompile(R"({"items":[{"type":"null"}],"additionalItems":{"type":"integer"}})");
  EXPECT_ACCEPTS(tuple, "[null,1,2]");
  EXPECT_REJECTS_AT(tuple, "[1]", 1);
}

TEST(JsonMatcherString, Lengths) {
  const auto g = MustCompile(R"({"type":"string","minLength":2,"maxLength":3})");
  EXPECT_ACCEPTS(g, R"("ab")");
  EXPECT_ACCEPTS(g, R"("abc")");
  EXPECT_REJECTS_AT(g, R"("a")", 2);
  EXPECT_REJECTS_AT(g, R"("abcd")", 4);
  // Code points, not bytes; an escape (or a surrogate pair) is one.
  EXPECT_ACCEPTS(g, "\"\xE4\xBD\xA0\xE5\xA5\xBD\xF0\x9F\x98\x80\"");
  EXPECT_ACCEPTS(g, R"("\n\u00e9\ud83d\ude00")");
  EXPECT_REJECTS_AT(g, R"("\n\n\n\n")", 7);
}

TEST(JsonMatcherEnum, CompactSerialization) {
  const auto g = MustCompile(R"({"enum":["red","green",1,10,2.5,null,true,{"b":1,"a":[1,2]},[]]})");
  for (const char* ok : {R"("red")", R"("green")", "1", "10", "2.5", "null", "true", R"({"a":[1,2],"b":1})", "[]"}) {
    EXPECT_ACCEPTS(g, ok);
  }
  EXPECT_PREFIX(g, R"("re)");
  EXPECT_REJECTS_AT(g, R"("blue")", 1);
  EXPECT_REJECTS_AT(g, "100", 2);
  EXPECT_PREFIX(g, "2");
  EXPECT_REJECTS_AT(g, R"({"a": [1,2],"b":1})", 5);  // compact only (documented)
  EXPECT_REJECTS_AT(g, "false", 0);
  EXPECT_ACCEPTS(g, " \"red\" ");
  // Inside containers the member is followed by the container's bytes.
  const auto arr = MustCompile(R"({"type":"array","items":{"enum":[1,12,"x"]}})");
  EXPECT_ACCEPTS(arr, R"([1,12,"x",1])");
  EXPECT_ACCEPTS(arr, "[ 1 , 12 ]");
  EXPECT_REJECTS_AT(arr, "[13]", 2);
  EXPECT_REJECTS_AT(arr, "[121]", 3);
}

TEST(JsonMatcherEnum, FilteredByOtherKeywords) {
  const auto g = MustCompile(R"({"type":"string","enum":["a","bb",1,null],"maxLength":1})");
  EXPECT_ACCEPTS(g, R"("a")");
  EXPECT_REJECTS_AT(g, R"("bb")", 1);
  EXPECT_REJECTS_AT(g, "1", 0);
  EXPECT_REJECTS_AT(g, "null", 0);
}

TEST(JsonMatcherEnum, Const) {
  const auto g = MustCompile(R"({"properties":{"kind":{"const":"circle"},"r":{"type":"number"}},"required":["kind","r"]})");
  EXPECT_ACCEPTS(g, R"({"kind":"circle","r":2})");
  EXPECT_REJECTS_AT(g, R"({"kind":"square","r":2})", 9);
  const auto escaped = MustCompile(R"({"const":"a\"\n\u0001\u00e9"})");
  EXPECT_ACCEPTS(escaped, "\"a\\\"\\n\\u0001\xC3\xA9\"");
  EXPECT_REJECTS_AT(escaped, R"("a\"\n\u0001\u00e9")", 12);  // é must be raw UTF-8 (compact form)
}

TEST(JsonMatcherAnyOf, Alternatives) {
  const auto g = MustCompile(R"({"anyOf":[{"type":"string","maxLength":2},{"type":"integer"},{"type":"array","items":{"type":"null"}}]})");
  EXPECT_ACCEPTS(g, R"("ab")");
  EXPECT_ACCEPTS(g, "12");
  EXPECT_ACCEPTS(g, "[null]");
  EXPECT_REJECTS_AT(g, R"("abc")", 3);
  EXPECT_REJECTS_AT(g, "1.5", 1);
  EXPECT_REJECTS_AT(g, "true", 0);
}

TEST(JsonMatcherAnyOf, OverlappingObjects) {
  // Both alternatives start the same way; the matcher follows both until the keys disagree.
  const auto g = MustCompile(R"({"oneOf":[
      {"properties":{"type":{"const":"a"},"x":{"type":"integer"}},"required":["type","x"]},
      {"properties":{"type":{"const":"b"},"y":{"type":"string"}},"required":["type","y"]}]})");
  EXPECT_ACCEPTS(g, R"({"type":"a","x":1})");
  EXPECT_ACCEPTS(g, R"({"y":"s","type":"b"})");
  EXPECT_REJECTS_AT(g, R"({"type":"a","y":"s"})", 13);
  EXPECT_REJECTS_AT(g, R"({"x":1,"type":"b"})", 15);
  EXPECT_PREFIX(g, R"({"type":)");
}

TEST(JsonMatcherAnyOf, NestedUnionsInArrays) {
  const auto g = MustCompile(R"({"type":"array","items":{"anyOf":[{"type":"number"},{"type":"integer"},
      {"anyOf":[{"type":"string"},{"$ref":"#/$defs/n"}]}]},"$defs":{"n":{"type":"null"}}})");
  EXPECT_ACCEPTS(g, R"([1,2.5,"x",null,3])");
  EXPECT_REJECTS_AT(g, "[true]", 1);
}

TEST(JsonMatcherRef, DefsDefinitionsAndRecursion) {
  const auto tree = MustCompile(R"({"$ref":"#/$defs/node","$defs":{"node":{"type":"object",
      "properties":{"v":{"type":"integer"},"kids":{"type":"array","items":{"$ref":"#/$defs/node"}}},
      "required":["v"]}}})");
  EXPECT_ACCEPTS(tree, R"({"v":1,"kids":[{"v":2},{"v":3,"kids":[{"v":4,"kids":[]}]}]})");
  EXPECT_REJECTS_AT(tree, R"({"v":1,"kids":[{}]})", 16);
  const auto defs = MustCompile(R"({"properties":{"p":{"$ref":"#/definitions/pos"}},"definitions":{"pos":{"type":"integer"}}})");
  EXPECT_ACCEPTS(defs, R"({"p":5})");
  EXPECT_REJECTS_AT(defs, R"({"p":"5"})", 5);
  const auto root = MustCompile(R"({"type":["array","integer"],"items":{"$ref":"#"}})");
  EXPECT_ACCEPTS(root, "[1,[2,[3,[]]]]");
}

TEST(JsonMatcherBooleanSchemas, TrueAndFalse) {
  EXPECT_ACCEPTS(MustCompile("true"), R"({"a":[1]})");
  const auto g = MustCompile(R"({"properties":{"a":true,"b":false},"additionalProperties":true})");
  EXPECT_ACCEPTS(g, R"({"a":1,"c":2})");
  EXPECT_REJECTS_AT(g, R"({"b":1})", 3);  // a listed key whose schema is false can never appear
}

TEST(JsonMatcher, CopiesAreIndependent) {
  const auto g = MustCompile(R"({"properties":{"a":{"type":"integer"}}})");
  JsonMatcher m(g);
  ASSERT_TRUE(m.Feed(R"({"a":)"));
  JsonMatcher copy = m;
  ASSERT_TRUE(copy.Feed("1}"));
  EXPECT_TRUE(copy.Complete());
  EXPECT_FALSE(m.Complete());
  EXPECT_TRUE(m.CanFeed("22}"));
  EXPECT_FALSE(m.CanFeed("\"x\""));
  m = copy;
  EXPECT_TRUE(m.Complete());
}

}  // namespace
}  // namespace bastion::grammar
