#include "channel/base/result.hpp"

#include <cerrno>
#include <cstring>

namespace shmcp {

std::string_view errc_name(Errc e) noexcept {
  switch (e) {
    case Errc::ok: return "ok";
    case Errc::invalid_argument: return "invalid_argument";
    case Errc::not_found: return "not_found";
    case Errc::access_denied: return "access_denied";
    case Errc::timeout: return "timeout";
    case Errc::peer_dead: return "peer_dead";
    case Errc::ring_full: return "ring_full";
    case Errc::too_large: return "too_large";
    case Errc::corrupt: return "corrupt";
    case Errc::version_mismatch: return "version_mismatch";
    case Errc::busy: return "busy";
    case Errc::closed: return "closed";
    case Errc::io: return "io";
    case Errc::tool_error: return "tool_error";
    case Errc::internal: return "internal";
  }
  return "unknown";
}

std::string Error::describe() const {
  std::string s(errc_name(code));
  if (!message.empty()) {
    s += ": ";
    s += message;
  }
  return s;
}

std::string_view errno_name(int err) noexcept {
  // strerrorname_np is glibc >= 2.32 (bookworm has 2.36).
  if (const char* n = strerrorname_np(err)) return n;
  return "E?";
}

Error sys_error(Errc code, std::string what, int err) {
  what += ": ";
  what += errno_name(err);
  what += " (";
  what += std::strerror(err);
  what += ")";
  return Error{code, std::move(what), err};
}

}  // namespace shmcp
