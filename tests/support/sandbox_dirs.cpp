#include "tests/support/sandbox_dirs.hpp"

#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <system_error>
#include <vector>

namespace shmcp::testing {

SandboxDirs::SandboxDirs(const std::string& tag) {
  std::string tmpl = "/tmp/shmcp-";
  tmpl.append(tag).append("-XXXXXX");
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (::mkdtemp(buf.data()) == nullptr) return;
  base_ = buf.data();
  ok_ = ::mkdir(ws().c_str(), 0755) == 0 && ::mkdir(outside().c_str(), 0755) == 0;
}

SandboxDirs::~SandboxDirs() {
  if (base_.empty()) return;
  std::error_code ec;
  std::filesystem::remove_all(base_, ec);
}

}  // namespace shmcp::testing
