// to_json_text must be byte-identical to nlohmann's dump(-1, ' ', false, handler): it replaces
// dump() wherever results are written as JSON (HTTP /execute, MCP, the C ABI), and clients and
// the interop tests compare those bytes. Checked against dump() on edge cases and on random
// documents, for each error handler.
#include <gtest/gtest.h>

#include <functional>
#include <random>
#include <string>

#include "orchestrator/convert.hpp"

namespace shmcp {
namespace {

using nlohmann::json;
using Handler = json::error_handler_t;

void expect_same(const json& j, Handler h = Handler::strict) {
  EXPECT_EQ(to_json_text(j, h), j.dump(-1, ' ', false, h)) << j.dump(-1, ' ', true, Handler::replace);
}

TEST(ToJsonText, EveryEscapeAndScalarMatchesDump) {
  std::string all_controls;
  for (int c = 0; c < 0x20; ++c) all_controls.push_back(static_cast<char>(c));
  for (const json& j : {json(nullptr), json(true), json(false), json(0), json(-7), json(18446744073709551615ull),
                        json(-9223372036854775807ll - 1), json(0.1), json(-1e300), json(3.0), json(""),
                        json("plain"), json("quote \" backslash \\ slash / del \x7f"), json(all_controls),
                        json("tab\tnl\ncr\rff\fbs\b"), json("é ü 中文 😀 \xe2\x80\xa8"), json::array(), json::object(),
                        json{{"b", 1}, {"a", {1, "x", nullptr, json::object()}}, {"", json::array()}},
                        json{{"k\"ey\n", "v"}}, json::binary({1, 2, 3})}) {
    expect_same(j);
  }
}

TEST(ToJsonText, InvalidUtf8IsLeftToTheHandler) {
  for (const std::string& bad : {std::string("a\xff" "b"), std::string("\xc3"), std::string("\xed\xa0\x80"),
                                std::string("ok \xf4\x90\x80\x80"), std::string("\xe0\x80\xaf")}) {
    SCOPED_TRACE(json(bad).dump(-1, ' ', true, Handler::replace));
    expect_same(json(bad), Handler::replace);
    expect_same(json(bad), Handler::ignore);
    expect_same(json{{"text", bad}, {"n", 1}}, Handler::replace);
    expect_same(json{{bad, "key is bad"}}, Handler::replace);
    EXPECT_THROW((void)to_json_text(json(bad)), json::type_error);
    EXPECT_THROW((void)to_json_text(json{{"x", {bad}}}), json::type_error);
  }
}

TEST(ToJsonText, RandomDocumentsMatchDump) {
  std::mt19937_64 rng(42);
  // Bytes biased towards the interesting ones: controls, quotes, backslashes, UTF-8 lead and
  // continuation bytes (so some strings are valid multi-byte text and some are broken).
  const std::string alphabet = std::string("aZ09 \"\\/\x7f\t\n\x01\x1f") + "\xc3\xa9\xe4\xb8\xad\xf0\x9f\x98\x80\xff\x80";
  auto random_string = [&] {
    std::string s;
    const std::size_t n = rng() % 40;
    for (std::size_t i = 0; i < n; ++i) s.push_back(alphabet[rng() % alphabet.size()]);
    return s;
  };
  std::function<json(int)> random_json = [&](int depth) -> json {
    switch (rng() % (depth > 3 ? 4 : 6)) {
      case 0: return random_string();
      case 1: return static_cast<std::int64_t>(rng());
      case 2: return static_cast<double>(rng() % 100000) / 7.0;
      case 3: return rng() % 2 == 0 ? json(nullptr) : json(rng() % 2 == 0);
      case 4: {
        json a = json::array();
        for (std::size_t i = rng() % 5; i > 0; --i) a.push_back(random_json(depth + 1));
        return a;
      }
      default: {
        json o = json::object();
        for (std::size_t i = rng() % 5; i > 0; --i) o[random_string()] = random_json(depth + 1);
        return o;
      }
    }
  };
  for (int i = 0; i < 3000; ++i) {
    const json j = random_json(0);
    expect_same(j, Handler::replace);
    expect_same(j, Handler::ignore);
    std::string strict;
    bool threw = false;
    try {
      strict = j.dump(-1, ' ', false, Handler::strict);
    } catch (const json::type_error&) {
      threw = true;
    }
    if (threw) EXPECT_THROW((void)to_json_text(j), json::type_error);
    else EXPECT_EQ(to_json_text(j), strict);
    if (HasFailure()) break;
  }
}

}  // namespace
}  // namespace shmcp
