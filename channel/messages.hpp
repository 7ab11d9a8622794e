// Encoding and verification of the FlatBuffers wire messages (channel/messages.fbs).
//
// Receivers call verify_request()/verify_response() on their own copy of the bytes (never on
// shared memory, which the peer can change under the verifier) before reading any field.
// The 4-byte identifiers double as message magic + version: "SHQ1" requests, "SHR1" responses.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>

#include "channel/messages_generated.h"
#include "channel/result.hpp"

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
void build_read_text_file_request(flatbuffers::FlatBufferBuilder& fbb, std::uint64_t id,
                                  std::uint64_t deadline_ns, std::string_view path, double head, double tail);
void build_write_file_request(flatbuffers::FlatBufferBuilder& fbb, std::uint64_t id, std::uint64_t deadline_ns,
                              std::string_view path, std::string_view content);
// A response carrying only a transport status (timeouts, dead workers, pings).
void build_status_response(flatbuffers::FlatBufferBuilder& fbb, std::uint64_t id, wire::Status status,
                           std::string_view error);

}  // namespace shmcp::channel
