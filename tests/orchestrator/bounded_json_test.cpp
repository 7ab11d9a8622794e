// The shared bounded JSON parser: the exact depth and size limits, faults as values, and no
// recursion on hostile input (a million unclosed brackets return at once).
#include <gtest/gtest.h>

#include "orchestrator/bounded_json.hpp"

using nlohmann::json;
using shmcp::JsonFault;
using shmcp::JsonLimits;
using shmcp::parse_json_bounded;

namespace {

std::string nested(std::size_t depth) { return std::string(depth, '[') + std::string(depth, ']'); }

TEST(BoundedJson, ParsesOrdinaryValues) {
  json j;
  ASSERT_EQ(parse_json_bounded(R"({"tool":"x","arguments":{"a":[1,2.5,"s",null,true]}})", j), JsonFault::none);
  EXPECT_EQ(j["arguments"]["a"][2], "s");
  ASSERT_EQ(parse_json_bounded(" 42 ", j), JsonFault::none);
  EXPECT_EQ(j, 42);
}

TEST(BoundedJson, DepthLimitIsExact) {
  json j;
  EXPECT_EQ(parse_json_bounded(nested(shmcp::kMaxJsonDepth), j), JsonFault::none);
  EXPECT_EQ(parse_json_bounded(nested(shmcp::kMaxJsonDepth + 1), j), JsonFault::too_deep);
  EXPECT_TRUE(j.is_null());
  const JsonLimits three{3, 1000};
  EXPECT_EQ(parse_json_bounded(R"({"a":[{"b":1}]})", j, three), JsonFault::none);
  EXPECT_EQ(parse_json_bounded(R"({"a":[{"b":[]}]})", j, three), JsonFault::too_deep);
  // Brackets inside strings are not nesting.
  EXPECT_EQ(parse_json_bounded("\"" + std::string(10000, '[') + "\"", j), JsonFault::none);
}

TEST(BoundedJson, HostileNestingIsRefusedWithoutRecursing) {
  json j;
  EXPECT_EQ(parse_json_bounded(std::string(1'000'000, '['), j), JsonFault::too_deep);
  EXPECT_EQ(parse_json_bounded(nested(1'000'000), j), JsonFault::too_deep);
  std::string objects;
  for (int i = 0; i < 200'000; ++i) objects += "{\"a\":";
  EXPECT_EQ(parse_json_bounded(objects, j), JsonFault::too_deep);
  // "{{" is a syntax error at the second brace, before any nesting.
  EXPECT_EQ(parse_json_bounded(std::string(1'000'000, '{'), j), JsonFault::malformed);
}

TEST(BoundedJson, SizeLimitIsExact) {
  json j;
  const JsonLimits small{shmcp::kMaxJsonDepth, 7};
  EXPECT_EQ(parse_json_bounded("[1,2,3]", j, small), JsonFault::none);
  EXPECT_EQ(parse_json_bounded("[1,2,34]", j, small), JsonFault::too_large);
  EXPECT_TRUE(j.is_null());
}

TEST(BoundedJson, MalformedTextIsMalformed) {
  json j;
  for (const char* bad : {"", "   ", "{", "[1,]", "{\"a\":1} x", "{'a':1}", "nul", "[1] [2]"}) {
    EXPECT_EQ(parse_json_bounded(bad, j), JsonFault::malformed) << bad;
    EXPECT_TRUE(j.is_null()) << bad;
  }
}

}  // namespace
