// shmcp executor, status: the JSON that GET /health and the channel's Health call report.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "channel/segment.hpp"

namespace shmcp::executor {

// What a status query reports; shared by GET /health and the channel's Health call.
nlohmann::json status_json(const channel::Segment& seg, const std::string& workspace, bool read_only);

}  // namespace shmcp::executor
