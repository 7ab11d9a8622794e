#include "executor/worker_options.hpp"

#include "channel/base/cli.hpp"

namespace shmcp::executor {

std::vector<std::string> to_argv(const WorkerOptions& o, const std::string& exe) {
  std::vector<std::string> a = {exe, "worker", "--channel", o.channel, "--shm-dir", o.shm_dir, "--root", o.root,
                                "--index", std::to_string(o.index), "--control-fd", std::to_string(o.control_fd),
                                "--wait", std::string(channel::wait_mode_name(o.policy.mode)),
                                "--spin-ns", std::to_string(o.policy.spin_ns),
                                "--max-read", std::to_string(o.tools.max_read_bytes),
                                "--max-write", std::to_string(o.tools.max_write_bytes),
                                "--max-walk-depth", std::to_string(o.tools.max_walk_depth),
                                "--max-walk-entries", std::to_string(o.tools.max_walk_entries),
                                "--max-walk-ms", std::to_string(o.tools.max_walk_millis),
                                "--call-timeout-ms", std::to_string(o.call_timeout_ms),
                                "--max-call-timeout-ms", std::to_string(o.max_call_timeout_ms),
                                "--log-level", o.log_level, "--idle-exit-ms", std::to_string(o.idle_exit_ms),
                                "--slice-us", std::to_string(o.slice_us)};
  if (o.quota_fd >= 0) {
    a.emplace_back("--quota-fd");
    a.emplace_back(std::to_string(o.quota_fd));
  }
  if (o.read_only) a.emplace_back("--read-only");
  if (o.allow_unsandboxed) a.emplace_back("--allow-unsandboxed");
  if (o.tools.allow_hardlinks) a.emplace_back("--allow-hardlinks");
  if (o.tools.fsync_writes) a.emplace_back("--fsync");
  if (o.test_hooks) a.emplace_back("--enable-test-hooks");
  return a;
}

Result<WorkerOptions> parse_worker_options(int argc, const char* const* argv) {
  if (argc < 2) return make_error(Errc::invalid_argument, "worker: no arguments");
  WorkerOptions o;
  std::string wait = std::string(channel::wait_mode_name(o.policy.mode));
  // Parsed as an app of its own named "worker": argv[1] plays the program name.
  CLI::App app("shmcp-executor worker (started by the supervisor, not by hand)", "worker");
  cli::configure(app, "");
  app.set_help_flag();  // not for people: --help is an unknown argument like any other
  app.add_option("--channel", o.channel)->required();
  app.add_option("--shm-dir", o.shm_dir);
  app.add_option("--root", o.root)->required();
  cli::number(app, "--index", o.index, 0, channel::kMaxWorkers - 1);
  cli::number(app, "--control-fd", o.control_fd, 0, 1u << 20)->required();
  cli::number(app, "--quota-fd", o.quota_fd, 0, 1u << 20);
  app.add_flag("--read-only", o.read_only);
  app.add_flag("--allow-unsandboxed", o.allow_unsandboxed);
  app.add_flag("--allow-hardlinks", o.tools.allow_hardlinks);
  app.add_flag("--fsync", o.tools.fsync_writes);
  app.add_option("--wait", wait);
  cli::number(app, "--spin-ns", o.policy.spin_ns);
  cli::number(app, "--max-read", o.tools.max_read_bytes);
  cli::number(app, "--max-write", o.tools.max_write_bytes);
  cli::number(app, "--max-walk-depth", o.tools.max_walk_depth, 0, UINT32_MAX);
  cli::number(app, "--max-walk-entries", o.tools.max_walk_entries);
  cli::number(app, "--max-walk-ms", o.tools.max_walk_millis, 0, UINT32_MAX);
  cli::number(app, "--call-timeout-ms", o.call_timeout_ms);
  cli::number(app, "--max-call-timeout-ms", o.max_call_timeout_ms);
  app.add_option("--log-level", o.log_level);
  cli::number(app, "--idle-exit-ms", o.idle_exit_ms);
  cli::number(app, "--slice-us", o.slice_us, 0, 100'000);
  app.add_flag("--enable-test-hooks", o.test_hooks);
  try {
    app.parse(argc - 1, argv + 1);
  } catch (const CLI::ParseError& e) {
    return make_error(Errc::invalid_argument, "worker: " + cli::describe(e));
  }
  if (const auto rest = app.remaining(); !rest.empty())
    return make_error(Errc::invalid_argument, "worker: unknown argument " + rest.front());
  if (o.channel.empty() || o.root.empty())
    return make_error(Errc::invalid_argument, "worker: --channel, --root and --control-fd are required");
  auto mode = channel::parse_wait_mode(wait);
  if (!mode) return mode.error();
  o.policy.mode = *mode;
  o.tools.read_only = o.read_only;
  return o;
}

}  // namespace shmcp::executor
