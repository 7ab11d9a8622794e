// shmcp::Result — errors as values across the channel and tool boundaries.
//
// Nothing in shmcp lets an exception cross shared memory or a process boundary: every fallible
// operation at those edges returns Result<T>. Errc says what kind of failure it was so callers can
// tell a transport failure (peer_dead, closed), a timeout and a tool error apart; `message` is for
// humans and logs, `sys_errno` keeps the errno of a failed syscall (0 when none).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace shmcp {

enum class Errc : std::uint16_t {
  ok = 0,
  invalid_argument,  // bad input from the caller (recoverable)
  not_found,         // no such channel / file / tool
  access_denied,     // path outside the workspace, permissions, auth
  timeout,           // deadline passed
  peer_dead,         // the other side of the channel died
  ring_full,         // no space and the caller asked not to wait
  too_large,         // message or file over the configured maximum
  corrupt,           // hostile or damaged data read from shared memory / the network
  version_mismatch,  // segment header magic/version/layout differ
  busy,              // no free lane, channel already served, ...
  closed,            // orderly shutdown
  io,                // a syscall failed; see sys_errno
  tool_error,        // the tool ran and reported an error result
  internal,
};

std::string_view errc_name(Errc e) noexcept;

struct Error {
  Errc code = Errc::internal;
  std::string message;
  int sys_errno = 0;

  // "timeout: call 7 exceeded its deadline" — the form used in logs and CLI errors.
  std::string describe() const;
};

// Builds an Error for a failed syscall: message gets ": <ERRNO_NAME> (<strerror>)" appended.
Error sys_error(Errc code, std::string what, int err);
// The symbolic name of an errno value ("ENOENT"); "E?<n>" when unknown.
std::string_view errno_name(int err) noexcept;

template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}                // NOLINT: implicit by design
  Result(Error error) : v_(std::move(error)) {}            // NOLINT
  bool ok() const noexcept { return v_.index() == 0; }
  explicit operator bool() const noexcept { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T* operator->() { return &std::get<0>(v_); }
  const T* operator->() const { return &std::get<0>(v_); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  const Error& error() const& { return std::get<1>(v_); }
  Error&& error() && { return std::get<1>(std::move(v_)); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : err_(std::move(error)), failed_(true) {}  // NOLINT
  bool ok() const noexcept { return !failed_; }
  explicit operator bool() const noexcept { return ok(); }
  const Error& error() const& { return err_; }
  Error&& error() && { return std::move(err_); }

 private:
  Error err_;
  bool failed_ = false;
};

using Status = Result<void>;

inline Error make_error(Errc code, std::string message, int sys_errno = 0) {
  return Error{code, std::move(message), sys_errno};
}

}  // namespace shmcp
