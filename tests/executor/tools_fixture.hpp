// Test fixture for the executor tools: a fresh workspace and an "outside" canary directory next
// to it (tests/support/sandbox_dirs.hpp), and helpers to build trees and call tools. Header-only,
// shared by the tools_*_test.cpp binaries.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <ctime>
#include <fstream>
#include <optional>
#include <sstream>
#include <string>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "executor/tools/tools.hpp"
#include "sandbox/workspace.hpp"
#include "tests/support/sandbox_dirs.hpp"

namespace shmcp::executor::testing {

inline std::string slurp(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

class ToolsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::setenv("TZ", "UTC", 1);
    ::tzset();
    dirs_.emplace("tools");
    ASSERT_TRUE(dirs_->ok()) << dirs_->base();
    base_ = dirs_->base();
    root_ = dirs_->ws();
    outside_ = dirs_->outside();
    put(outside_ + "/secret.txt", "top secret\n");
    auto ws = sandbox::Workspace::open(root_);
    ASSERT_TRUE(ws.ok()) << ws.error().message;
    ws_.emplace(std::move(ws).value());
    root_ = ws_->root();  // canonical
    make_tools({});
  }

  void TearDown() override {
    tools_.reset();
    ws_.reset();
    dirs_.reset();
  }

  void make_tools(ToolOptions opts) { tools_.emplace(*ws_, opts); }

  std::string p(const std::string& rel) const { return root_ + "/" + rel; }

  static void put(const std::string& path, const std::string& data, mode_t mode = 0644) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    ASSERT_GE(fd, 0) << path;
    ASSERT_EQ(::write(fd, data.data(), data.size()), static_cast<ssize_t>(data.size()));
    ::fchmod(fd, mode);
    ::close(fd);
  }
  void file(const std::string& rel, const std::string& data, mode_t mode = 0644) { put(p(rel), data, mode); }
  void dir(const std::string& rel) { ASSERT_EQ(::mkdir(p(rel).c_str(), 0755), 0) << rel; }
  void link(const std::string& target, const std::string& rel) {
    ASSERT_EQ(::symlink(target.c_str(), p(rel).c_str()), 0) << rel;
  }

  CallResult call(const std::string& tool, const nlohmann::json& args) {
    auto r = tools_->call(tool, args);
    EXPECT_TRUE(r.has_value()) << tool;
    return r ? *r : CallResult::error("unknown tool");
  }
  // The text of a successful call (fails the test on isError).
  std::string ok(const std::string& tool, const nlohmann::json& args) {
    auto r = call(tool, args);
    EXPECT_FALSE(r.is_error) << tool << ": " << (r.content.empty() ? "" : r.content[0].text);
    return r.content.empty() ? "" : r.content[0].text;
  }
  // The message of a failed call (fails the test on success).
  std::string err(const std::string& tool, const nlohmann::json& args) {
    auto r = call(tool, args);
    EXPECT_TRUE(r.is_error) << tool << " unexpectedly succeeded: " << (r.content.empty() ? "" : r.content[0].text);
    return r.content.empty() ? "" : r.content[0].text;
  }
  // Replaces "@ROOT@" with the canonical workspace root.
  std::string R(std::string s) const {
    for (auto pos = s.find("@ROOT@"); pos != std::string::npos; pos = s.find("@ROOT@", pos)) {
      s.replace(pos, 6, root_);
    }
    return s;
  }
  void expect_canary_intact() const {
    EXPECT_EQ(slurp(outside_ + "/secret.txt"), "top secret\n");
    struct stat st {};
    EXPECT_EQ(::stat((outside_ + "/new.txt").c_str(), &st), -1) << "something was created outside";
  }

  std::optional<shmcp::testing::SandboxDirs> dirs_;
  std::string base_, root_, outside_;
  std::optional<sandbox::Workspace> ws_;
  std::optional<Tools> tools_;
};

}  // namespace shmcp::executor::testing
