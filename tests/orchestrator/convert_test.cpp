// to_json_text must be byte-identical to nlohmann's dump(-1, ' ', false, handler): it replaces
// dump() wherever results are written as JSON (HTTP /execute, MCP, the C ABI), and clients and
// the interop tests compare those bytes. Checked against dump() on edge cases and on random
// documents, for each error handler. append_result_json, which writes a result straight from the
// wire response, must give the same bytes as that DOM path (response_to_result + to_json_text).
#include <functional>
#include <random>
#include <string>

#include <gtest/gtest.h>

#include "channel/messages.hpp"
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

TEST(ToJsonText, LongStringsWithSparseEscapesMatchDump) {
  // Long clean runs (skipped 8 bytes at a time) with escapes at every offset within a word.
  std::mt19937_64 rng(7);
  const std::string specials = std::string("\"\\\n\t\x01\x1f\x7f") + "\xc3\xa9";
  for (int i = 0; i < 2000; ++i) {
    std::string s(rng() % 300, 'x');
    for (auto& c : s) c = static_cast<char>(' ' + rng() % 95);
    for (std::size_t k = rng() % 6; k > 0 && !s.empty(); --k) s[rng() % s.size()] = specials[rng() % specials.size()];
    expect_same(json(s), Handler::replace);
    if (HasFailure()) break;
  }
}

struct Block {
  wire::ContentKind kind;
  std::string text, mime, uri;
  bool null_text = false;
};

// A verified Response as a worker would send it.
std::vector<std::uint8_t> response_bytes(const std::vector<Block>& blocks, bool is_error, bool media,
                                         bool no_content = false, wire::Status status = wire::Status::Ok) {
  flatbuffers::FlatBufferBuilder fbb;
  std::vector<flatbuffers::Offset<wire::Content>> offs;
  for (const auto& b : blocks) {
    auto text = b.null_text ? flatbuffers::Offset<flatbuffers::String>() : fbb.CreateString(b.text);
    auto mime = b.mime.empty() ? flatbuffers::Offset<flatbuffers::String>() : fbb.CreateString(b.mime);
    auto uri = b.uri.empty() ? flatbuffers::Offset<flatbuffers::String>() : fbb.CreateString(b.uri);
    offs.push_back(wire::CreateContent(fbb, b.kind, text, mime, uri));
  }
  auto vec = no_content ? flatbuffers::Offset<flatbuffers::Vector<flatbuffers::Offset<wire::Content>>>() : fbb.CreateVector(offs);
  auto err = status == wire::Status::Ok ? flatbuffers::Offset<flatbuffers::String>() : fbb.CreateString("why");
  wire::ResponseBuilder rb(fbb);
  rb.add_id(9);
  rb.add_status(status);
  rb.add_is_error(is_error);
  rb.add_media(media);
  rb.add_content(vec);
  rb.add_error(err);
  fbb.Finish(rb.Finish(), channel::kResponseIdentifier);
  return {fbb.GetBufferPointer(), fbb.GetBufferPointer() + fbb.GetSize()};
}

const wire::Response& verified(const std::vector<std::uint8_t>& bytes) {
  auto r = channel::verify_response({reinterpret_cast<const std::byte*>(bytes.data()), bytes.size()});
  EXPECT_TRUE(r) << r.error().describe();
  return **r;
}

// The DOM path the frontends used: response_to_result, isError stated on request, to_json_text.
std::string via_dom(const wire::Response& r, bool state_is_error, Handler h) {
  auto tr = response_to_result(r);
  EXPECT_TRUE(tr);
  if (state_is_error && !tr->json.contains("isError")) tr->json["isError"] = false;
  return to_json_text(tr->json, h);
}

void expect_result_same(const std::vector<std::uint8_t>& bytes, Handler h = Handler::strict) {
  const wire::Response& r = verified(bytes);
  for (bool state : {false, true}) {
    std::string direct = "prefix";
    ASSERT_TRUE(append_result_json(direct, r, state, h));
    EXPECT_EQ(direct, "prefix" + via_dom(r, state, h)) << "state_is_error " << state;
  }
}

TEST(AppendResultJson, TextResultsMatchTheDomPathByteForByte) {
  std::string big;
  for (int i = 0; i < 20000; ++i) big += "line " + std::to_string(i) + " \"quoted\" \\ tab\t é 中\n";
  expect_result_same(response_bytes({{wire::ContentKind::Text, "hello\nworld", "", ""}}, false, false));
  expect_result_same(response_bytes({{wire::ContentKind::Text, big, "", ""}}, false, false));
  expect_result_same(response_bytes({{wire::ContentKind::Text, "", "", ""}}, false, false));
  expect_result_same(response_bytes({{wire::ContentKind::Text, "", "", "", true}}, false, false));
  expect_result_same(response_bytes({}, false, false));
  expect_result_same(response_bytes({}, false, false, /*no_content=*/true));
  expect_result_same(response_bytes({{wire::ContentKind::Text, "a", "", ""}, {wire::ContentKind::Text, "b\"", "", ""}},
                                    false, false));
  expect_result_same(response_bytes({{wire::ContentKind::Text, "Error: no such file \"x\"", "", ""}}, true, false));
  // A kind this build does not know is written as a text block, as response_to_result does.
  expect_result_same(response_bytes({{static_cast<wire::ContentKind>(9), "future", "", ""}}, false, false));
}

TEST(AppendResultJson, MediaResultsMatchTheDomPathByteForByte) {
  expect_result_same(response_bytes({{wire::ContentKind::Image, "iVBORw0KGgo=", "image/png", ""}}, false, true));
  expect_result_same(response_bytes({{wire::ContentKind::Audio, "UklGRg==", "audio/wav", ""}}, false, true));
  expect_result_same(
      response_bytes({{wire::ContentKind::Resource, "AAEC", "application/octet-stream", "file:///w/x.bin"}}, false, true));
  // An image first: structuredContent's text is empty without media, as in response_to_result.
  expect_result_same(response_bytes({{wire::ContentKind::Image, "AA==", "image/gif", ""}, {wire::ContentKind::Text, "t", "", ""}},
                                    false, false));
}

TEST(AppendResultJson, InvalidUtf8FollowsTheHandler) {
  const std::string bad = "name \xff\xfe end";
  expect_result_same(response_bytes({{wire::ContentKind::Text, bad, "", ""}}, false, false), Handler::replace);
  expect_result_same(response_bytes({{wire::ContentKind::Text, bad, "", ""}}, true, false), Handler::replace);
  const auto bytes = response_bytes({{wire::ContentKind::Text, bad, "", ""}}, false, false);
  std::string out = "kept";
  EXPECT_THROW((void)append_result_json(out, verified(bytes)), json::type_error);
  EXPECT_EQ(out, "kept") << "a failed append must leave the output as it was";
}

TEST(AppendResultJson, ATransportStatusIsAnErrorAndWritesNothing) {
  const auto bytes = response_bytes({{wire::ContentKind::Text, "x", "", ""}}, false, false, false, wire::Status::Timeout);
  std::string out = "kept";
  auto s = append_result_json(out, verified(bytes));
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, Errc::timeout);
  EXPECT_EQ(s.error().message, "why");
  EXPECT_EQ(out, "kept");
}

}  // namespace
}  // namespace shmcp
