#include "channel/messages.hpp"

#include <cstring>
#include <vector>

namespace shmcp::channel {

namespace {
// Generous for our schemas (depth 3-4) but bounded so a hostile buffer can't make the verifier
// walk forever.
flatbuffers::Verifier::Options verifier_options() {
  flatbuffers::Verifier::Options o;
  o.max_depth = 16;
  o.max_tables = 1'000'000;
  o.check_alignment = true;
  return o;
}

template <class T>
Result<const T*> verify(std::span<const std::byte> bytes, const char* ident, const char* what) {
  if (bytes.size() < 8) return make_error(Errc::corrupt, std::string(what) + " truncated (" + std::to_string(bytes.size()) + " bytes)");
  const auto* p = reinterpret_cast<const std::uint8_t*>(bytes.data());
  if (!flatbuffers::BufferHasIdentifier(p, ident))
    return make_error(Errc::version_mismatch, std::string(what) + " has the wrong identifier (expected " + ident + ")");
  flatbuffers::Verifier v(p, bytes.size(), verifier_options());
  if (!v.VerifyBuffer<T>(ident)) return make_error(Errc::corrupt, std::string(what) + " failed FlatBuffers verification");
  return flatbuffers::GetRoot<T>(p);
}
}  // namespace

Result<const wire::Request*> verify_request(std::span<const std::byte> bytes) {
  return verify<wire::Request>(bytes, kRequestIdentifier, "request");
}

Result<const wire::Response*> verify_response(std::span<const std::byte> bytes) {
  return verify<wire::Response>(bytes, kResponseIdentifier, "response");
}

void build_ping_request(flatbuffers::FlatBufferBuilder& fbb, std::uint64_t id, std::uint64_t deadline_ns) {
  build_kind_request(fbb, id, deadline_ns, wire::CallKind::Ping);
}

void build_kind_request(flatbuffers::FlatBufferBuilder& fbb, std::uint64_t id, std::uint64_t deadline_ns,
                        wire::CallKind kind) {
  fbb.Clear();
  wire::RequestBuilder b(fbb);
  b.add_id(id);
  b.add_deadline_ns(deadline_ns);
  b.add_kind(kind);
  fbb.Finish(b.Finish(), kRequestIdentifier);
}

void build_json_request(flatbuffers::FlatBufferBuilder& fbb, std::uint64_t id, std::uint64_t deadline_ns,
                        std::string_view tool, std::string_view args_json) {
  fbb.Clear();
  auto t = fbb.CreateString(tool.data(), tool.size());
  auto j = fbb.CreateString(args_json.data(), args_json.size());
  auto a = wire::CreateJsonArgs(fbb, j);
  fbb.Finish(wire::CreateRequest(fbb, id, deadline_ns, wire::CallKind::Tool, t, wire::Args::JsonArgs, a.Union()),
             kRequestIdentifier);
}

void build_json_request(flatbuffers::FlatBufferBuilder& fbb, std::uint64_t id, std::uint64_t deadline_ns,
                        std::string_view tool, std::string_view args_json, std::span<const std::string> roots) {
  fbb.Clear();
  auto t = fbb.CreateString(tool.data(), tool.size());
  auto j = fbb.CreateString(args_json.data(), args_json.size());
  auto a = wire::CreateJsonArgs(fbb, j);
  std::vector<flatbuffers::Offset<flatbuffers::String>> rs;
  rs.reserve(roots.size());
  for (const auto& r : roots) rs.push_back(fbb.CreateString(r));
  auto rv = fbb.CreateVector(rs);
  fbb.Finish(wire::CreateRequest(fbb, id, deadline_ns, wire::CallKind::Tool, t, wire::Args::JsonArgs, a.Union(), rv),
             kRequestIdentifier);
}

void build_read_text_file_request(flatbuffers::FlatBufferBuilder& fbb, std::uint64_t id,
                                  std::uint64_t deadline_ns, std::string_view path, double head, double tail) {
  fbb.Clear();
  auto t = fbb.CreateString("read_text_file");
  auto p = fbb.CreateString(path.data(), path.size());
  auto a = wire::CreateReadTextFileArgs(fbb, p, head, tail);
  fbb.Finish(wire::CreateRequest(fbb, id, deadline_ns, wire::CallKind::Tool, t, wire::Args::ReadTextFileArgs,
                                 a.Union()),
             kRequestIdentifier);
}

void build_write_file_request(flatbuffers::FlatBufferBuilder& fbb, std::uint64_t id, std::uint64_t deadline_ns,
                              std::string_view path, std::string_view content) {
  fbb.Clear();
  auto t = fbb.CreateString("write_file");
  auto p = fbb.CreateString(path.data(), path.size());
  auto c = fbb.CreateString(content.data(), content.size());
  auto a = wire::CreateWriteFileArgs(fbb, p, c);
  fbb.Finish(wire::CreateRequest(fbb, id, deadline_ns, wire::CallKind::Tool, t, wire::Args::WriteFileArgs,
                                 a.Union()),
             kRequestIdentifier);
}

void build_status_response(flatbuffers::FlatBufferBuilder& fbb, std::uint64_t id, wire::Status status,
                           std::string_view error) {
  fbb.Clear();
  auto e = error.empty() ? flatbuffers::Offset<flatbuffers::String>() : fbb.CreateString(error.data(), error.size());
  wire::ResponseBuilder b(fbb);
  b.add_id(id);
  b.add_status(status);
  if (!error.empty()) b.add_error(e);
  fbb.Finish(b.Finish(), kResponseIdentifier);
}

namespace {
std::vector<std::byte> make_ping_request() {
  flatbuffers::FlatBufferBuilder fbb(64);
  build_ping_request(fbb, 0, 0);
  const auto b = bytes_of(fbb);
  return {b.begin(), b.end()};
}
}  // namespace

std::span<const std::byte> ping_request_bytes() noexcept {
  static const std::vector<std::byte> bytes = make_ping_request();
  return bytes;
}

bool is_ping_request(std::span<const std::byte> bytes) noexcept {
  const auto ping = ping_request_bytes();
  return bytes.size() == ping.size() && std::memcmp(bytes.data(), ping.data(), ping.size()) == 0;
}

PongBuffer::PongBuffer() {
  flatbuffers::FlatBufferBuilder fbb(64);
  fbb.ForceDefaults(true);  // store the id even though it is 0, so for_id() can overwrite it
  wire::ResponseBuilder b(fbb);
  b.add_id(0);
  b.add_status(wire::Status::Ok);
  fbb.Finish(b.Finish(), kResponseIdentifier);
  buf_.assign(fbb.GetBufferPointer(), fbb.GetBufferPointer() + fbb.GetSize());
}

std::span<const std::byte> PongBuffer::for_id(std::uint64_t id) noexcept {
  // The template was built with the id stored, so mutate_id always succeeds.
  (void)flatbuffers::GetMutableRoot<wire::Response>(buf_.data())->mutate_id(id);
  return {reinterpret_cast<const std::byte*>(buf_.data()), buf_.size()};
}

}  // namespace shmcp::channel
