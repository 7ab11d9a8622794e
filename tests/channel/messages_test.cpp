// Wire message encoding and verification: the receiver's only defence against a corrupt or
// hostile peer. Every rejected buffer must be an error value, never a crash or an OOB read (the
// ASan build runs these same tests).
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "channel/messages.hpp"

namespace shmcp::channel {
namespace {

std::vector<std::byte> copy_of(const flatbuffers::FlatBufferBuilder& fbb) {
  auto s = bytes_of(fbb);
  return {s.begin(), s.end()};
}

// Reads every field of a verified message, so a verifier that let something bad through shows up
// as an ASan report or a crash here.
std::size_t touch_request(const wire::Request* r) {
  std::size_t n = r->id() + r->deadline_ns() + static_cast<std::size_t>(r->kind());
  if (r->tool()) n += r->tool()->size() + (r->tool()->size() ? static_cast<unsigned char>(r->tool()->Get(r->tool()->size() - 1)) : 0);
  if (auto* j = r->args_as_JsonArgs()) n += j->json()->size();
  if (auto* t = r->args_as_ReadTextFileArgs()) n += t->path()->size() + static_cast<std::size_t>(t->head() + t->tail());
  if (auto* w = r->args_as_WriteFileArgs()) n += w->path()->size() + w->content()->size();
  return n;
}

std::size_t touch_response(const wire::Response* r) {
  std::size_t n = r->id() + static_cast<std::size_t>(r->status()) + r->is_error() + r->media();
  if (r->error()) n += r->error()->size();
  if (r->json()) n += r->json()->size();
  if (r->content())
    for (const auto* c : *r->content()) {
      n += static_cast<std::size_t>(c->kind());
      if (c->text()) n += c->text()->size();
      if (c->mime_type()) n += c->mime_type()->size();
      if (c->uri()) n += c->uri()->size();
    }
  return n;
}

void build_content_response(flatbuffers::FlatBufferBuilder& fbb, std::uint64_t id, std::string_view text) {
  fbb.Clear();
  auto t = fbb.CreateString(text.data(), text.size());
  auto m = fbb.CreateString("text/plain");
  std::vector<flatbuffers::Offset<wire::Content>> blocks{wire::CreateContent(fbb, wire::ContentKind::Text, t, m)};
  auto v = fbb.CreateVector(blocks);
  fbb.Finish(wire::CreateResponse(fbb, id, wire::Status::Ok, 0, false, false, v), kResponseIdentifier);
}

// ---- valid round trips -------------------------------------------------------------------------

TEST(Messages, PingRequestRoundTrips) {
  flatbuffers::FlatBufferBuilder fbb;
  build_ping_request(fbb, 11, 22);
  auto bytes = copy_of(fbb);
  auto r = verify_request(bytes);
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ((*r)->id(), 11u);
  EXPECT_EQ((*r)->deadline_ns(), 22u);
  EXPECT_EQ((*r)->kind(), wire::CallKind::Ping);
  EXPECT_EQ((*r)->tool(), nullptr);
}

TEST(Messages, KindRequestRoundTripsEveryKind) {
  for (auto kind : {wire::CallKind::Tool, wire::CallKind::Ping, wire::CallKind::Health, wire::CallKind::ListTools}) {
    flatbuffers::FlatBufferBuilder fbb;
    build_kind_request(fbb, 3, 4, kind);
    auto bytes = copy_of(fbb);
    auto r = verify_request(bytes);
    ASSERT_TRUE(r.ok()) << r.error().describe();
    EXPECT_EQ((*r)->kind(), kind);
    EXPECT_EQ((*r)->id(), 3u);
  }
}

TEST(Messages, JsonRequestRoundTrips) {
  flatbuffers::FlatBufferBuilder fbb;
  build_json_request(fbb, 5, 6, "list_directory", R"({"path":"/w"})");
  auto bytes = copy_of(fbb);
  auto r = verify_request(bytes);
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ((*r)->kind(), wire::CallKind::Tool);
  EXPECT_EQ((*r)->tool()->str(), "list_directory");
  ASSERT_NE((*r)->args_as_JsonArgs(), nullptr);
  EXPECT_EQ((*r)->args_as_JsonArgs()->json()->str(), R"({"path":"/w"})");
}

TEST(Messages, JsonRequestCarriesRootsOnlyWhenGiven) {
  flatbuffers::FlatBufferBuilder fbb;
  // Without roots the field is absent (old senders' bytes; "the whole workspace").
  build_json_request(fbb, 5, 6, "list_directory", R"({"path":"/w"})");
  auto plain = copy_of(fbb);
  auto p = verify_request(plain);
  ASSERT_TRUE(p.ok()) << p.error().describe();
  EXPECT_EQ((*p)->roots(), nullptr);

  const std::vector<std::string> roots{"a", "b/c"};
  build_json_request(fbb, 5, 6, "list_directory", R"({"path":"/w"})", roots);
  auto bytes = copy_of(fbb);
  auto r = verify_request(bytes);
  ASSERT_TRUE(r.ok()) << r.error().describe();
  ASSERT_NE((*r)->roots(), nullptr);
  ASSERT_EQ((*r)->roots()->size(), 2u);
  EXPECT_EQ((*r)->roots()->Get(0)->str(), "a");
  EXPECT_EQ((*r)->roots()->Get(1)->str(), "b/c");
  EXPECT_EQ((*r)->args_as_JsonArgs()->json()->str(), R"({"path":"/w"})");

  // Present and empty ("nothing allowed") is distinguishable from absent.
  build_json_request(fbb, 5, 6, "list_directory", "{}", std::vector<std::string>{});
  auto empty = copy_of(fbb);
  auto e = verify_request(empty);
  ASSERT_TRUE(e.ok()) << e.error().describe();
  ASSERT_NE((*e)->roots(), nullptr);
  EXPECT_EQ((*e)->roots()->size(), 0u);
}

TEST(Messages, ReadTextFileRequestRoundTrips) {
  flatbuffers::FlatBufferBuilder fbb;
  build_read_text_file_request(fbb, 7, 8, "a/b.txt", 10, 0);
  auto bytes = copy_of(fbb);
  auto r = verify_request(bytes);
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ((*r)->tool()->str(), "read_text_file");
  auto* a = (*r)->args_as_ReadTextFileArgs();
  ASSERT_NE(a, nullptr);
  EXPECT_EQ(a->path()->str(), "a/b.txt");
  EXPECT_EQ(a->head(), 10);
  EXPECT_EQ(a->tail(), 0);
}

TEST(Messages, WriteFileRequestRoundTripsBinaryContent) {
  std::string content(100'000, '\0');
  for (std::size_t i = 0; i < content.size(); ++i) content[i] = static_cast<char>(i * 31);
  flatbuffers::FlatBufferBuilder fbb;
  build_write_file_request(fbb, 9, 10, "out.bin", content);
  auto bytes = copy_of(fbb);
  auto r = verify_request(bytes);
  ASSERT_TRUE(r.ok()) << r.error().describe();
  auto* w = (*r)->args_as_WriteFileArgs();
  ASSERT_NE(w, nullptr);
  EXPECT_EQ(w->path()->str(), "out.bin");
  EXPECT_EQ(w->content()->str(), content);
}

TEST(Messages, StatusResponseRoundTripsWithAndWithoutError) {
  flatbuffers::FlatBufferBuilder fbb;
  build_status_response(fbb, 12, wire::Status::WorkerDied, "worker 0 killed by SIGSYS");
  auto bytes = copy_of(fbb);
  auto r = verify_response(bytes);
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ((*r)->id(), 12u);
  EXPECT_EQ((*r)->status(), wire::Status::WorkerDied);
  EXPECT_EQ((*r)->error()->str(), "worker 0 killed by SIGSYS");

  build_status_response(fbb, 13, wire::Status::Ok, "");
  auto ok_bytes = copy_of(fbb);
  auto ok = verify_response(ok_bytes);
  ASSERT_TRUE(ok.ok()) << ok.error().describe();
  EXPECT_EQ((*ok)->status(), wire::Status::Ok);
  EXPECT_EQ((*ok)->error(), nullptr);
}

// ---- identifiers: magic + version -----------------------------------------------------------------

TEST(Messages, RequestVerifiedAsResponseIsVersionMismatch) {
  flatbuffers::FlatBufferBuilder fbb;
  build_ping_request(fbb, 1, 0);
  auto bytes = copy_of(fbb);
  auto r = verify_response(bytes);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::version_mismatch);
  EXPECT_NE(r.error().message.find("identifier"), std::string::npos) << r.error().message;
}

TEST(Messages, NewerIdentifierVersionIsVersionMismatch) {
  flatbuffers::FlatBufferBuilder fbb;
  build_json_request(fbb, 1, 0, "t", "{}");
  auto bytes = copy_of(fbb);
  bytes[7] = std::byte{'2'};  // "SHQ1" -> "SHQ2": the identifier sits at bytes 4..7
  auto r = verify_request(bytes);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::version_mismatch);

  build_status_response(fbb, 1, wire::Status::Ok, "x");
  auto resp = copy_of(fbb);
  resp[4] = std::byte{'X'};
  auto rr = verify_response(resp);
  ASSERT_FALSE(rr.ok());
  EXPECT_EQ(rr.error().code, Errc::version_mismatch);
}

// ---- truncation, garbage, oversized claims ----------------------------------------------------------

// The first object FlatBuffers writes sits at the end of the buffer; a string there is followed by
// up to 3 bytes of alignment padding that no field covers, so cutting only those is harmless.
constexpr std::size_t kMaxTrailingPadding = 3;

TEST(Messages, EveryTruncationIntoMessageDataIsRejected) {
  flatbuffers::FlatBufferBuilder fbb;
  build_write_file_request(fbb, 1, 2, "some/path.txt", "hello, world");
  const auto req = copy_of(fbb);
  for (std::size_t n = 0; n < req.size(); ++n) {
    std::vector<std::byte> cut(req.begin(), req.begin() + static_cast<std::ptrdiff_t>(n));
    auto r = verify_request(cut);
    if (r.ok() && n + kMaxTrailingPadding >= req.size()) {
      touch_request(*r);  // only padding was cut: every field must still lie inside `cut` (ASan)
      continue;
    }
    ASSERT_FALSE(r.ok()) << "request truncated to " << n << " of " << req.size() << " bytes was accepted";
    EXPECT_EQ(r.error().code, Errc::corrupt) << n;
  }
  build_content_response(fbb, 3, "some content");
  const auto resp = copy_of(fbb);
  for (std::size_t n = 0; n < resp.size(); ++n) {
    std::vector<std::byte> cut(resp.begin(), resp.begin() + static_cast<std::ptrdiff_t>(n));
    auto r = verify_response(cut);
    if (r.ok() && n + kMaxTrailingPadding >= resp.size()) {
      touch_response(*r);
      continue;
    }
    ASSERT_FALSE(r.ok()) << "response truncated to " << n << " of " << resp.size() << " bytes was accepted";
    EXPECT_EQ(r.error().code, Errc::corrupt) << n;
  }
}

TEST(Messages, EmptyBufferIsCorrupt) {
  auto r = verify_request({});
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, Errc::corrupt);
}

TEST(Messages, RandomGarbageIsRejectedWithoutCrashing) {
  std::size_t rejected = 0, total = 0;
  for (std::uint32_t seed = 0; seed < 20'000; ++seed) {
    std::mt19937 rng(seed);
    std::vector<std::byte> buf(rng() % 512);
    for (auto& b : buf) b = static_cast<std::byte>(rng());
    // Half the buffers carry the right identifier so the verifier itself gets exercised.
    const bool as_request = seed % 4 < 2;
    if (seed % 2 == 0 && buf.size() >= 8) std::memcpy(buf.data() + 4, as_request ? kRequestIdentifier : kResponseIdentifier, 4);
    ++total;
    if (as_request) {
      auto r = verify_request(buf);
      if (r.ok()) {
        touch_request(*r);
      } else {
        ++rejected;
        EXPECT_TRUE(r.error().code == Errc::corrupt || r.error().code == Errc::version_mismatch);
      }
    } else {
      auto r = verify_response(buf);
      if (r.ok()) {
        touch_response(*r);
      } else {
        ++rejected;
        EXPECT_TRUE(r.error().code == Errc::corrupt || r.error().code == Errc::version_mismatch);
      }
    }
  }
  // Random bytes essentially never form a valid FlatBuffer; anything accepted was fully read above.
  EXPECT_GT(rejected, total * 99 / 100);
}

TEST(Messages, BitFlippedValidMessagesAreRejectedOrSafeToRead) {
  flatbuffers::FlatBufferBuilder fbb;
  build_json_request(fbb, 77, 88, "search_files", R"({"pattern":"*.cpp","path":"."})");
  const auto req = copy_of(fbb);
  build_content_response(fbb, 77, "result text");
  const auto resp = copy_of(fbb);
  std::size_t rejected = 0;
  for (std::uint32_t seed = 0; seed < 20'000; ++seed) {
    std::mt19937 rng(seed);
    auto buf = (seed & 1) ? resp : req;
    for (int k = 0, flips = 1 + static_cast<int>(rng() % 4); k < flips; ++k)
      buf[rng() % buf.size()] ^= static_cast<std::byte>(1u << (rng() % 8));
    if (seed & 1) {
      auto r = verify_response(buf);
      if (r.ok()) touch_response(*r); else ++rejected;
    } else {
      auto r = verify_request(buf);
      if (r.ok()) touch_request(*r); else ++rejected;
    }
  }
  // Flips inside string bytes are harmless and accepted; flips in offsets must be caught.
  EXPECT_GT(rejected, 0u);
}

// Overwrites the 32-bit length prefix of a string or vector that lives inside `buf`.
void claim_length(std::vector<std::byte>& buf, const void* length_prefix, std::uint32_t claimed) {
  const auto off = static_cast<std::size_t>(static_cast<const std::byte*>(length_prefix) - buf.data());
  ASSERT_LE(off + 4, buf.size());
  std::memcpy(buf.data() + off, &claimed, 4);
}

TEST(Messages, OversizedStringLengthClaimIsCorrupt) {
  flatbuffers::FlatBufferBuilder fbb;
  build_write_file_request(fbb, 1, 2, "p", "content");
  for (std::uint32_t claim : {64u, 0x10000u, 0x7FFFFFFFu, 0xFFFFFFFFu}) {
    auto buf = copy_of(fbb);
    auto ok = verify_request(buf);
    ASSERT_TRUE(ok.ok());
    claim_length(buf, (*ok)->args_as_WriteFileArgs()->content(), claim);
    auto r = verify_request(buf);
    ASSERT_FALSE(r.ok()) << "content claims " << claim << " bytes";
    EXPECT_EQ(r.error().code, Errc::corrupt);

    buf = copy_of(fbb);
    ok = verify_request(buf);
    claim_length(buf, (*ok)->tool(), claim);
    r = verify_request(buf);
    ASSERT_FALSE(r.ok()) << "tool name claims " << claim << " bytes";
    EXPECT_EQ(r.error().code, Errc::corrupt);
  }
}

TEST(Messages, OversizedVectorLengthClaimIsCorrupt) {
  flatbuffers::FlatBufferBuilder fbb;
  build_content_response(fbb, 5, "abc");
  for (std::uint32_t claim : {2u, 1000u, 0x3FFFFFFFu, 0xFFFFFFFFu}) {
    auto buf = copy_of(fbb);
    auto ok = verify_response(buf);
    ASSERT_TRUE(ok.ok());
    claim_length(buf, (*ok)->content(), claim);
    auto r = verify_response(buf);
    ASSERT_FALSE(r.ok()) << "content vector claims " << claim << " elements";
    EXPECT_EQ(r.error().code, Errc::corrupt);
  }
}

TEST(Messages, RootOffsetPointingOutsideTheBufferIsCorrupt) {
  flatbuffers::FlatBufferBuilder fbb;
  build_ping_request(fbb, 1, 2);
  for (std::uint32_t root : {0u, 3u, 0x100000u, 0xFFFFFFF0u}) {
    auto buf = copy_of(fbb);
    std::memcpy(buf.data(), &root, 4);
    auto r = verify_request(buf);
    ASSERT_FALSE(r.ok()) << "root offset " << root;
    EXPECT_EQ(r.error().code, Errc::corrupt);
  }
}

// The ping round trip is the channel's fixed cost: each message the receiver must pull across
// cores beyond the slot header's cache line (SlotHeader 32 B + payload) is one more miss. The
// client leaves id and deadline out of the ping (the slot header carries the id); the worker's OK
// response carries the id and still fits, because status Ok is the default and is not stored.
TEST(Messages, PingRequestAndOkResponseFitInTheSlotHeadersCacheLine) {
  flatbuffers::FlatBufferBuilder fbb;
  build_ping_request(fbb, 0, 0);
  EXPECT_LE(fbb.GetSize(), 64u - 32u);
  build_status_response(fbb, 0x0123456789abcdefull, wire::Status::Ok, {});
  EXPECT_LE(fbb.GetSize(), 64u - 32u);
  // Positive control: a ping that carried its id and deadline would not fit.
  build_ping_request(fbb, 0x0123456789abcdefull, 0x0123456789abcdefull);
  EXPECT_GT(fbb.GetSize(), 64u - 32u);
}

TEST(Messages, PingRequestBytesAreTheCanonicalPingAndVerify) {
  flatbuffers::FlatBufferBuilder fbb;
  build_ping_request(fbb, 0, 0);
  const auto canonical = copy_of(fbb);
  const auto bytes = ping_request_bytes();
  ASSERT_EQ(std::vector<std::byte>(bytes.begin(), bytes.end()), canonical);
  auto r = verify_request(bytes);
  ASSERT_TRUE(r.ok()) << r.error().describe();
  EXPECT_EQ((*r)->kind(), wire::CallKind::Ping);
  EXPECT_EQ((*r)->id(), 0u);
  EXPECT_EQ((*r)->deadline_ns(), 0u);
}

// A receiver skips the verifier for bytes is_ping_request() accepts, so it must accept those
// exact bytes and nothing else: not another valid ping, not a prefix, not a one-byte change.
TEST(Messages, IsPingRequestAcceptsOnlyTheExactPingBytes) {
  const auto ping = ping_request_bytes();
  EXPECT_TRUE(is_ping_request(ping));  // positive control
  std::vector<std::byte> copy(ping.begin(), ping.end());
  EXPECT_TRUE(is_ping_request(copy));

  flatbuffers::FlatBufferBuilder fbb;
  build_ping_request(fbb, 7, 0);
  EXPECT_FALSE(is_ping_request(bytes_of(fbb))) << "a ping carrying an id";
  build_kind_request(fbb, 0, 0, wire::CallKind::Health);
  EXPECT_FALSE(is_ping_request(bytes_of(fbb)));
  EXPECT_FALSE(is_ping_request(std::span<const std::byte>(copy).first(copy.size() - 1)));
  copy.push_back(std::byte{0});
  EXPECT_FALSE(is_ping_request(copy)) << "trailing byte";
  copy.pop_back();
  for (std::size_t i = 0; i < copy.size(); ++i) {
    auto changed = copy;
    changed[i] ^= std::byte{0x01};
    EXPECT_FALSE(is_ping_request(changed)) << "byte " << i << " changed";
  }
  EXPECT_FALSE(is_ping_request({}));
}

TEST(Messages, PongBufferGivesAVerifiedOkResponseCarryingEachId) {
  PongBuffer pong;
  for (std::uint64_t id : {0ull, 1ull, 0x0123456789abcdefull, ~0ull, 42ull}) {
    const auto bytes = pong.for_id(id);
    auto r = verify_response(bytes);
    ASSERT_TRUE(r.ok()) << r.error().describe();
    EXPECT_EQ((*r)->id(), id);
    EXPECT_EQ((*r)->status(), wire::Status::Ok);
    EXPECT_EQ((*r)->error(), nullptr);
    EXPECT_FALSE((*r)->is_error());
    EXPECT_EQ((*r)->content(), nullptr);
    // Like build_status_response's, it fits the slot header's cache line.
    EXPECT_LE(bytes.size(), 64u - 32u);
  }
}

}  // namespace
}  // namespace shmcp::channel
