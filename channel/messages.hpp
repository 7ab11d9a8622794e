// Encoding and verification of the FlatBuffers wire messages (channel/messages.fbs).
//
// Receivers call verify_request()/verify_response() on their own copy of the bytes (never on
// shared memory, which the peer can change under the verifier) before reading any field.
// The 4-byte identifiers double as message magic + version: "SHQ1" requests, "SHR1" responses.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "channel/base/result.hpp"
#include "channel/messages_generated.h"

namespace shmcp::channel {

inline constexpr const char* kRequestIdentifier = "SHQ1";
inline constexpr const char* kResponseIdentifier = "SHR1";

Result<const wire::Request*> verify_request(std::span<const std::byte> bytes);
Result<const wire::Response*> verify_response(std::span<const std::byte> bytes);

inline std::span<const std::byte> bytes_of(const flatbuffers::FlatBufferBuilder& fbb) {
  return {reinterpret_cast<const std::byte*>(fbb.GetBufferPointer()), fbb.GetSize()};
}

// Builders (clear fbb first). They Finish() with the right identifier.
void build_ping_request(flatbuffers::FlatBufferBuilder& fbb, std::uint64_t id, std::uint64_t deadline_ns);
void build_kind_request(flatbuffers::FlatBufferBuilder& fbb, std::uint64_t id, std::uint64_t deadline_ns,
                        wire::CallKind kind);
void build_json_request(flatbuffers::FlatBufferBuilder& fbb, std::uint64_t id, std::uint64_t deadline_ns,
                        std::string_view tool, std::string_view args_json);
// The same narrowed to `roots` (Request.roots: workspace-relative directories; empty = nothing).
void build_json_request(flatbuffers::FlatBufferBuilder& fbb, std::uint64_t id, std::uint64_t deadline_ns,
                        std::string_view tool, std::string_view args_json, std::span<const std::string> roots);
void build_read_text_file_request(flatbuffers::FlatBufferBuilder& fbb, std::uint64_t id,
                                  std::uint64_t deadline_ns, std::string_view path, double head, double tail);
void build_write_file_request(flatbuffers::FlatBufferBuilder& fbb, std::uint64_t id, std::uint64_t deadline_ns,
                              std::string_view path, std::string_view content);
// A response carrying only a transport status (timeouts, dead workers, pings).
void build_status_response(flatbuffers::FlatBufferBuilder& fbb, std::uint64_t id, wire::Status status,
                           std::string_view error);

// The empty call's two messages, without a builder: a build is a sizeable fraction of an empty
// round trip. A ping request is always the same bytes (build_ping_request(fbb, 0, 0): the
// id travels in the slot header), and a pong differs from its template only in the id.
std::span<const std::byte> ping_request_bytes() noexcept;
// True if `bytes` are exactly ping_request_bytes(): such a request is known valid, so a receiver
// may answer it without running the verifier (anything else is verified as usual).
bool is_ping_request(std::span<const std::byte> bytes) noexcept;

// build_status_response(fbb, id, Status::Ok, {}) from a template, writing only the id. One per
// thread: the returned bytes are valid until the next for_id() on the same object.
class PongBuffer {
 public:
  PongBuffer();
  std::span<const std::byte> for_id(std::uint64_t id) noexcept;

 private:
  std::vector<std::uint8_t> buf_;  // a finished Response with its id field present (ForceDefaults)
};

}  // namespace shmcp::channel
