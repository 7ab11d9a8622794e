// The worker's request dispatch, against a real `shmcp-executor serve --workers 1`: requests that
// pass the FlatBuffers verifier but make no sense (a CallKind out of range, an argument union type
// the schema does not have, no tool, an empty tool name, typed arguments for another tool) are
// answered InvalidRequest, each on the heels of a read of a secret file by the same worker, and
// never with that read's response (stale bytes from the worker's builder).
//
// The requests are built by hand with the FlatBuffers builder and sent on a raw lane, as a hostile
// client would.
#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "channel/channel.hpp"
#include "tests/support/executor_process.hpp"

using namespace shmcp;
using namespace shmcp::testing;

namespace {

constexpr const char* kSecret = "s3cr3t-content-of-another-client";

struct Answer {
  wire::Status status = wire::Status::Internal;
  std::string error;
  std::string text;               // the content blocks' text, concatenated
  std::vector<std::byte> bytes;   // the whole response as received
};

class WorkerDispatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_FALSE(ws_.path().empty());
    ASSERT_TRUE(write_file(ws_ / "secret.txt", kSecret));
    ex_.emplace(ws_.path(), unique_channel("dispatch"), std::vector<std::string>{"--workers", "1"});
    std::string why;
    ASSERT_TRUE(ex_->start(&why)) << why;
    auto seg = channel::Segment::attach(ex_->channel(), 2'000'000'000ull);
    ASSERT_TRUE(seg.ok()) << seg.error().describe();
    seg_ = *seg;
    auto lane = channel::ClientLane::claim(seg_);
    ASSERT_TRUE(lane.ok()) << lane.error().describe();
    lane_.emplace(std::move(*lane));
  }

  // Sends `fbb`'s finished request (its id field is replaced by the lane's next id in the slot
  // header; the worker answers by that) and returns the verified response.
  Answer call(const flatbuffers::FlatBufferBuilder& fbb) {
    Answer a;
    const std::uint64_t id = lane_->next_id();
    auto got = lane_->call(id, channel::bytes_of(fbb), channel::Deadline::within(20'000'000'000ull), {});
    EXPECT_TRUE(got.ok()) << got.error().describe();
    if (!got) return a;
    a.bytes.assign(got->begin(), got->end());
    auto r = channel::verify_response(a.bytes);
    EXPECT_TRUE(r.ok()) << r.error().describe();
    if (!r) return a;
    a.status = (*r)->status();
    a.error = (*r)->error() ? (*r)->error()->str() : "";
    if ((*r)->content())
      for (const auto* c : *(*r)->content()) a.text += c->text() ? c->text()->str() : "";
    return a;
  }

  // A read of the secret file by the (only) worker: its builder now holds the secret.
  void read_secret() {
    flatbuffers::FlatBufferBuilder fbb;
    channel::build_read_text_file_request(fbb, 0, 0, "secret.txt", 0, 0);
    const Answer a = call(fbb);
    ASSERT_EQ(a.status, wire::Status::Ok) << a.error;
    ASSERT_EQ(a.text, kSecret);
  }

  static bool contains_secret(const Answer& a) {
    const std::string_view secret(kSecret);
    const auto* p = reinterpret_cast<const char*>(a.bytes.data());
    return std::string_view(p, a.bytes.size()).find(secret) != std::string_view::npos;
  }

  void expect_invalid_request_after_secret(const flatbuffers::FlatBufferBuilder& bad, const std::string& reason) {
    read_secret();
    const Answer a = call(bad);
    EXPECT_EQ(a.status, wire::Status::InvalidRequest) << a.error << " / " << a.text;
    EXPECT_NE(a.error.find(reason), std::string::npos) << a.error;
    EXPECT_FALSE(contains_secret(a)) << "the response carries the previous call's content";
    EXPECT_EQ(a.text, "");
  }

  TempDir ws_;
  std::optional<ExecutorProcess> ex_;
  std::shared_ptr<channel::Segment> seg_;
  std::optional<channel::ClientLane> lane_;
};

// A Tool request whose fields the caller sets one by one (absent when not given).
void build_request(flatbuffers::FlatBufferBuilder& fbb, std::uint8_t kind, const char* tool, std::uint8_t args_type,
                   bool json_args, const char* json = R"({"path":"secret.txt"})") {
  fbb.Clear();
  flatbuffers::Offset<flatbuffers::String> t;
  if (tool != nullptr) t = fbb.CreateString(tool);
  flatbuffers::Offset<void> args;
  if (json_args) args = wire::CreateJsonArgs(fbb, fbb.CreateString(json)).Union();
  wire::RequestBuilder b(fbb);
  b.add_kind(static_cast<wire::CallKind>(kind));
  if (tool != nullptr) b.add_tool(t);
  b.add_args_type(static_cast<wire::Args>(args_type));
  if (json_args) b.add_args(args);
  fbb.Finish(b.Finish(), channel::kRequestIdentifier);
}

TEST_F(WorkerDispatchTest, CallKindOutOfRangeIsInvalidRequestNotTheLastResponse) {
  flatbuffers::FlatBufferBuilder fbb;
  for (int kind : {4, 17, 255}) {
    SCOPED_TRACE(kind);
    build_request(fbb, static_cast<std::uint8_t>(kind), "read_text_file", static_cast<std::uint8_t>(wire::Args::JsonArgs), true);
    ASSERT_TRUE(channel::verify_request(channel::bytes_of(fbb)).ok());  // the verifier lets it through
    expect_invalid_request_after_secret(fbb, "unknown call kind " + std::to_string(kind));
  }
}

TEST_F(WorkerDispatchTest, UnknownArgsUnionTypeIsInvalidRequest) {
  flatbuffers::FlatBufferBuilder fbb;
  for (int type : {4, 200}) {
    SCOPED_TRACE(type);
    // A JsonArgs table under a union type the schema does not have.
    build_request(fbb, static_cast<std::uint8_t>(wire::CallKind::Tool), "read_text_file", static_cast<std::uint8_t>(type), true);
    ASSERT_TRUE(channel::verify_request(channel::bytes_of(fbb)).ok());
    expect_invalid_request_after_secret(fbb, "unknown argument type " + std::to_string(type));
  }
}

TEST_F(WorkerDispatchTest, MissingOrEmptyToolIsInvalidRequest) {
  flatbuffers::FlatBufferBuilder fbb;
  build_request(fbb, static_cast<std::uint8_t>(wire::CallKind::Tool), nullptr,
                static_cast<std::uint8_t>(wire::Args::JsonArgs), true);
  expect_invalid_request_after_secret(fbb, "request names no tool");
  build_request(fbb, static_cast<std::uint8_t>(wire::CallKind::Tool), "", static_cast<std::uint8_t>(wire::Args::JsonArgs),
                true);
  expect_invalid_request_after_secret(fbb, "request names no tool");
  build_request(fbb, static_cast<std::uint8_t>(wire::CallKind::Tool), nullptr, 0, false);
  expect_invalid_request_after_secret(fbb, "request names no tool");
}

TEST_F(WorkerDispatchTest, TypedArgumentsForAnotherToolAreInvalidRequest) {
  // read_text_file's typed table under the name "write_file".
  flatbuffers::FlatBufferBuilder fbb;
  auto t = fbb.CreateString("write_file");
  auto p = fbb.CreateString("secret.txt");
  auto a = wire::CreateReadTextFileArgs(fbb, p, 0, 0);
  fbb.Finish(wire::CreateRequest(fbb, 0, 0, wire::CallKind::Tool, t, wire::Args::ReadTextFileArgs, a.Union()),
             channel::kRequestIdentifier);
  expect_invalid_request_after_secret(fbb, "arguments do not match the tool");
}

// Positive control: the same hand-built form with a known kind, tool and argument type runs.
TEST_F(WorkerDispatchTest, AWellFormedHandBuiltRequestRuns) {
  flatbuffers::FlatBufferBuilder fbb;
  build_request(fbb, static_cast<std::uint8_t>(wire::CallKind::Tool), "read_text_file",
                static_cast<std::uint8_t>(wire::Args::JsonArgs), true);
  const Answer a = call(fbb);
  EXPECT_EQ(a.status, wire::Status::Ok) << a.error;
  EXPECT_EQ(a.text, kSecret);
  // And an unknown tool name is still UnknownTool, as before.
  build_request(fbb, static_cast<std::uint8_t>(wire::CallKind::Tool), "rm_rf", static_cast<std::uint8_t>(wire::Args::JsonArgs),
                true);
  read_secret();
  const Answer u = call(fbb);
  EXPECT_EQ(u.status, wire::Status::UnknownTool) << u.error;
  EXPECT_FALSE(contains_secret(u));
}

}  // namespace
