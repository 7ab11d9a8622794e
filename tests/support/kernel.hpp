// The running kernel's version, for tests whose exact expected outcome depends on it.
#pragma once

namespace shmcp::testing {

// True if the running kernel is at least major.minor (false if uname can't tell).
bool kernel_at_least(int major, int minor);

}  // namespace shmcp::testing
