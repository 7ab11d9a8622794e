// The directory layout the workspace tests share: a fresh BASE (mkdtemp under /tmp) holding
// BASE/ws, the workspace, and BASE/outside, a canary directory next to it that the code under test
// must never reach. Everything is removed recursively when the object is destroyed.
//
//   SandboxDirs dirs("paths");           // /tmp/shmcp-paths-XXXXXX/{ws,outside}
//   ASSERT_TRUE(dirs.ok());
//   Workspace::open(dirs.ws()); ... write_file(dirs.outside() + "/secret.txt", "SECRET");
//
// What counts as "outside changed" is each test's own check (a snapshot, a canary file).
#pragma once

#include <string>

namespace shmcp::testing {

class SandboxDirs {
 public:
  explicit SandboxDirs(const std::string& tag);  // BASE is /tmp/shmcp-<tag>-XXXXXX
  ~SandboxDirs();
  SandboxDirs(const SandboxDirs&) = delete;
  SandboxDirs& operator=(const SandboxDirs&) = delete;

  bool ok() const { return ok_; }  // BASE, ws and outside were all created
  const std::string& base() const { return base_; }
  std::string ws() const { return base_ + "/ws"; }
  std::string outside() const { return base_ + "/outside"; }

 private:
  std::string base_;
  bool ok_ = false;
};

}  // namespace shmcp::testing
