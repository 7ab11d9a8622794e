// libFuzzer target: wire message decoding + verification. The bytes are what a hostile peer could
// put in a ring: verify_request()/verify_response() must reject anything malformed, and every field
// of a message they accept must then be readable without going out of bounds (ASan/UBSan watch).
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "channel/messages.hpp"

using namespace shmcp;

namespace {
volatile std::size_t g_sink;  // keeps the reads from being optimised away

void touch(const flatbuffers::String* s) {
  if (s == nullptr) return;
  std::string copy = s->str();
  g_sink = g_sink + copy.size() + (copy.empty() ? 0 : static_cast<unsigned char>(copy.back()));
}

void read_request(const wire::Request& r) {
  g_sink = g_sink + r.id() + r.deadline_ns() + static_cast<std::size_t>(r.kind()) + static_cast<std::size_t>(r.args_type());
  touch(r.tool());
  switch (r.args_type()) {
    case wire::Args::JsonArgs:
      if (const auto* a = r.args_as_JsonArgs()) touch(a->json());
      break;
    case wire::Args::ReadTextFileArgs:
      if (const auto* a = r.args_as_ReadTextFileArgs()) {
        touch(a->path());
        g_sink = g_sink + static_cast<std::size_t>(a->head() != 0) + static_cast<std::size_t>(a->tail() != 0);
      }
      break;
    case wire::Args::WriteFileArgs:
      if (const auto* a = r.args_as_WriteFileArgs()) {
        touch(a->path());
        touch(a->content());
      }
      break;
    default:
      break;
  }
}

void read_response(const wire::Response& r) {
  g_sink = g_sink + r.id() + static_cast<std::size_t>(r.status()) + r.is_error() + r.media();
  touch(r.error());
  touch(r.json());
  if (const auto* content = r.content()) {
    for (flatbuffers::uoffset_t i = 0; i < content->size(); ++i) {
      const wire::Content* c = content->Get(i);
      if (c == nullptr) continue;
      g_sink = g_sink + static_cast<std::size_t>(c->kind());
      touch(c->text());
      touch(c->mime_type());
      touch(c->uri());
    }
  }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // The receivers verify their own aligned copy (never shared memory); do the same.
  std::string copy(reinterpret_cast<const char*>(data), size);
  const std::span<const std::byte> bytes(reinterpret_cast<const std::byte*>(copy.data()), copy.size());
  if (auto req = channel::verify_request(bytes)) read_request(**req);
  if (auto resp = channel::verify_response(bytes)) read_response(**resp);
  return 0;
}
