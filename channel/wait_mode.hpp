// How a side of the channel waits for its peer. Its own header, without the channel's other
// types, because the installed client API (orchestrator/client.hpp) uses it too.
#pragma once

#include <cstdint>

namespace shmcp::channel {

// The values are stored in the segment header (SegmentHeader::wait_mode): never renumber.
enum class WaitMode : std::uint32_t { spin = 0, adaptive = 1, block = 2 };

}  // namespace shmcp::channel
