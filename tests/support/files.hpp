// Filesystem helpers for tests: whole-file reads and writes, existence checks, and TempDir.
#pragma once

#include <string>

namespace shmcp::testing {

bool path_exists(const std::string& p);  // lstat: a dangling symlink exists
std::string read_file(const std::string& path);  // "" if it cannot be read
bool write_file(const std::string& path, const std::string& content);

// A fresh directory under /tmp, removed recursively when destroyed.
//
//   TempDir ws;                     // mkdtemp; path() is "" if that failed
//   write_file(ws / "a.txt", "x");
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& rel) const { return path_ + "/" + rel; }

 private:
  std::string path_;
};

}  // namespace shmcp::testing
