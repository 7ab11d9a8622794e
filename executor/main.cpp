// shmcp-executor: the sandboxed tool-execution sidecar.
//   shmcp-executor serve --workspace DIR --channel NAME [...]   shm + HTTP (+ MCP over HTTP)
//   shmcp-executor mcp [--workspace] DIR [...]                  MCP over stdio
#include <grp.h>
#include <signal.h>
#include <unistd.h>

#include <climits>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <functional>
#include <iostream>
#include <random>
#include <sstream>
#include <string_view>
#include <vector>

#include "channel/base/cli.hpp"
#include "channel/base/log.hpp"
#include "executor/executor.hpp"
#include "executor/http.hpp"
#include "executor/mcp.hpp"
#include "executor/supervisor.hpp"
#include "executor/tenants/cpu_group.hpp"
#include "executor/tenants/tenant_backend.hpp"
#include "executor/tenants/tenant_manager.hpp"
#include "executor/worker.hpp"

using namespace shmcp;
using namespace shmcp::executor;

namespace {

constexpr const char* kServeHelp = R"(Usage: shmcp-executor serve --workspace DIR [options]

Serves the MCP filesystem tools for DIR over the shared-memory channel SHMDIR/shmcp.NAME and over
HTTP, running every call in sandboxed worker processes (seccomp, Landlock, openat2 beneath DIR).
Runs until SIGTERM or SIGINT, then finishes in-flight calls and removes its segment.

Options:
  --workspace DIR         directory to serve (required); paths resolve beneath it
  --channel NAME          channel name: segment SHMDIR/shmcp.NAME            [default: default]
  --shm-dir SHMDIR        absolute directory for the segment, shared with the clients (a
                          volume both containers mount where /dev/shm is not shared, e.g.
                          ECS Fargate); clients connect to shm:///SHMDIR/NAME. A disk-backed
                          directory works; the kernel then writes the segment's dirty pages
                          back periodically (I/O, page faults)             [default: /dev/shm]
  --http HOST:PORT        HTTP address (POST /execute, /mcp; GET /health, /metrics, /tools)
                                                                       [default: 127.0.0.1:8002]
  --no-http               serve only the shared-memory channel
  --workers N             sandboxed worker processes (1-64); N > 1 lets a slow call not hold
                          up other clients                                        [default: 1]
  --wait MODE             spin | adaptive | block: how idle workers (and the HTTP/MCP
                          frontends, for their calls' responses) wait (spin burns a core per
                          worker for the lowest latency; adaptive spins --spin-us then sleeps
                          on a futex)                                        [default: adaptive]
  --spin-us N             adaptive spin budget in microseconds                    [default: 50]
  --worker-slice-us N     the workers' scheduler slice (Linux >= 6.12; 0: the kernel's, a few
                          ms): a worker woken for a call preempts busy ones (another tenant's
                          saturated pool) within N us                            [default: 0]
  --token-file F          require "Authorization: Bearer <token>" on HTTP (all but /health,
                          which then reports only its status without the token); the token
                          is F's first line
  --allowed-host NAME     also accept HTTP requests whose Host header is NAME (any port);
                          repeatable. Accepted anyway: IP literals, localhost and the --http
                          host; any other name is refused with 403 (DNS rebinding)
  --max-body-bytes N      larger HTTP request bodies are refused with 413     [default: 67108864]
  --http-max-connections N
                          HTTP connections served at once (one thread each); as many more
                          wait accepted, and beyond those new connections are not accepted
                          until one closes (the kernel's backlog holds them)     [default: 128]
  --http-io-timeout-ms N  an HTTP read or write that makes no progress this long closes the
                          connection                                            [default: 5000]
  --http-idle-timeout-s N an HTTP connection that sends no (next) request this long is closed
                                                                                   [default: 5]
  --read-only             tools may read but not change the workspace (Landlock read-only too)
  --call-timeout-ms N     deadline for calls that carry none                  [default: 30000]
  --max-read-bytes N      largest file a read tool returns                 [default: 67108864]
  --quota-bytes N         storage quota: the write tools refuse a change that would take the
                          regular files' total size past N bytes (counted at start; changes
                          made outside the tools are not seen)          [default: 0, unlimited]
  --quota-files N         the same for the number of entries (files, directories, links)
                          below the workspace                           [default: 0, unlimited]
  --allow-hardlinks       allow reading/writing regular files with more than one hard link
  --fsync                 fsync every write before renaming it into place (survives a host
                          crash; a killed executor or container never loses acknowledged writes
                          either way, the page cache keeps them)
  --lanes N               client lanes (concurrent client threads)                [default: 64]
  --slots N               slots per ring                                          [default: 16]
  --slot-size BYTES       bytes per slot                                        [default: 8192]
  --max-message BYTES     largest request/response                        [default: 67108864]
  --shm-group GID|NAME    make the segment 0660 with this group (peers with different uids)
  --allow-unsandboxed     start even if Landlock or seccomp cannot be applied (NOT for
                          production: the executor otherwise refuses to start)
  --log-level LEVEL       trace, debug, info, warn, error, critical, off          [default: info]

Tenants (one executor, many isolated workspaces; see README "Tenants"):
  --tenants FILE          serve the tenants FILE declares (JSON: {"tenants": [{"name", "root",
                          "tokens", "token_file", "group", "workers", "quota": {"bytes",
                          "files", "calls_in_flight"}}]}) instead of one workspace: each gets
                          its own root (default DIR/NAME, created), segment
                          SHMDIR/shmcp.NAME.TENANT (client URL shm://NAME.TENANT), sandboxed
                          workers ("workers", default --workers, started by its first call)
                          and bearer tokens for HTTP and /mcp
  --admin-token-file F    enable the admin API (/admin/tenants: create, list, update quotas,
                          drain, delete; `shmcp tenant ...`) and /metrics for this token
  --tenants-state FILE    keep tenants created through the admin API (tokens included, mode
                          0600) and quota changes in FILE, and serve them again after a
                          restart; without it they last as long as the process
  --max-workers N         worker processes over all tenants; a tenant over the cap waits for
                          others to idle                                          [default: 64]
  --tenant-idle-s N       a tenant's workers stop after N s without a call         [default: 60]
  --tenant-cgroup DIR     put each tenant's workers in a cgroup DIR/shmcp.NAME.TENANT of equal
                          CPU weight, so tenants share the CPUs per tenant, not per busy
                          thread (DIR: a writable cgroup v2 directory, or a cgroup v1 cpu
                          hierarchy directory; checked at start)

  --enable-test-hooks     TEST-ONLY, never in production: workers serve the pseudo-tools
                          __shmcp_test_forbidden_syscall (makes a syscall the sandbox kills
                          the worker for) and __shmcp_test_abort_mid_write (write_file that
                          aborts the worker before the temp file is named); fault tests only
  -h, --help              show this help
)";

constexpr const char* kMcpHelp = R"(Usage: shmcp-executor mcp [--workspace] DIR [options]
       shmcp-executor mcp --connect URL [--token-file F] [--call-timeout-ms N] [--log-level LEVEL]

Speaks MCP (JSON-RPC 2.0, one message per line) on stdin/stdout for the workspace DIR, like the
reference MCP filesystem server, with the same sandboxed workers as `serve`. Logs go to stderr.
Exits at end of input. A client that declares the roots capability is asked for its roots
(roots/list); they narrow the workspace (roots outside it are ignored; none valid: nothing is
allowed). The same holds on `serve`'s /mcp.

With --connect it starts no workers: it is an MCP stdio front for a running executor, whose
channel (shm://CHANNEL, or a tenant's shm://CHANNEL.TENANT) or HTTP URL it calls. Every call is
then served by that executor's (or tenant's) sandboxed workers, beneath its root, which roots
can only narrow; it is how an MCP client that launches stdio servers reaches a tenant.

Options:
  --connect URL           serve through a running executor instead of starting workers
  --token-file F          the bearer token for an http:// URL (a tenant's token)
  --workers N, --read-only, --call-timeout-ms N, --max-read-bytes N, --quota-bytes N,
  --quota-files N, --allow-hardlinks, --allow-unsandboxed, --wait MODE, --spin-us N,
  --shm-dir DIR, --log-level LEVEL (default: warn)
                          as for `serve`; between requests the stdin loop also polls for
                          --spin-us (default 50) before it blocks, unless --wait block
  -h, --help              show this help
)";

constexpr const char* kTopHelp = R"(Usage: shmcp-executor COMMAND [options]

The shmcp executor: MCP filesystem tools in a sandbox, served over shared memory, HTTP and MCP.

Commands:
  serve     serve a workspace over the shared-memory channel and HTTP
  mcp       serve a workspace over MCP stdio
  version   print the version

Run `shmcp-executor COMMAND --help` for a command's options.
)";

constexpr const char* kProg = "shmcp-executor";

std::string self_exe() {
  char buf[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return {};
  return std::string(buf, static_cast<std::size_t>(n));
}

// A flag's value checked by check (which throws cli::UsageError) and stored by it.
CLI::Option* value(CLI::App& app, const std::string& name, std::function<void(const std::string&)> check) {
  return app.add_option_function<std::string>(name, std::move(check));
}

struct TenantFlags {
  std::string file;
  std::string admin_token;
  std::string state_file;
  std::uint32_t max_workers = 64;
  std::uint64_t idle_s = 60;
  std::string cgroup;
};

std::string read_token_file(const std::string& flag, const std::string& f) {
  std::ifstream in(f);
  if (!in) throw cli::UsageError("cannot read " + flag + " " + f);
  std::string token;
  std::getline(in, token);
  if (!token.empty() && token.back() == '\r') token.pop_back();
  if (token.empty()) throw cli::UsageError(flag + " " + f + " is empty");
  return token;
}

// The options shared by serve and mcp.
void add_common_options(CLI::App& app, ExecutorOptions& o) {
  app.add_option("--workspace", o.workspace);
  cli::number(app, "--workers", o.workers, 1, channel::kMaxWorkers);
  app.add_flag_callback("--read-only", [&o] { o.read_only = o.tools.read_only = true; });
  cli::number(app, "--call-timeout-ms", o.call_timeout_ms, 1, 86'400'000);
  cli::number(app, "--max-read-bytes", o.tools.max_read_bytes, 1, 1ull << 32);
  cli::number(app, "--quota-bytes", o.quota_bytes);
  cli::number(app, "--quota-files", o.quota_files);
  app.add_flag("--allow-hardlinks", o.tools.allow_hardlinks);
  app.add_flag("--fsync", o.tools.fsync_writes);
  app.add_flag("--allow-unsandboxed", o.allow_unsandboxed);
  value(app, "--shm-dir", [&o](const std::string& v) {
    o.channel_config.dir = v;
    if (auto s = channel::validate_shm_dir(v); !s) throw cli::UsageError("--shm-dir: " + s.error().message);
  });
  value(app, "--wait", [&o](const std::string& v) {
    auto m = channel::parse_wait_mode(v);
    if (!m) throw cli::UsageError(m.error().message);
    o.wait = *m;
  });
  value(app, "--spin-us", [&o](const std::string& v) { o.spin_ns = cli::parse_u64("--spin-us", v, 0, 10'000'000) * 1000; });
  cli::number(app, "--worker-slice-us", o.worker_slice_us, 0, 100'000);
  value(app, "--log-level", [&o](const std::string& v) {
    o.log_level = v;
    if (!set_log_level(v)) throw cli::UsageError("unknown log level '" + v + "'");
  });
}

// serve's own options (HTTP, channel geometry, authentication).
void add_serve_options(CLI::App& app, ExecutorOptions& o, HttpOptions& ho, std::vector<std::string>& allowed_hosts,
                       TenantFlags& tf) {
  app.add_option("--tenants", tf.file);
  app.add_option("--tenants-state", tf.state_file);
  value(app, "--admin-token-file", [&tf](const std::string& f) { tf.admin_token = read_token_file("--admin-token-file", f); });
  cli::number(app, "--max-workers", tf.max_workers, 1, 4096);
  cli::number(app, "--tenant-idle-s", tf.idle_s, 1, 86400);
  app.add_option("--tenant-cgroup", tf.cgroup);
  app.add_option("--channel", o.channel);
  value(app, "--http", [&o](const std::string& v) {
    const auto colon = v.rfind(':');
    if (colon == std::string::npos || colon == 0) throw cli::UsageError("--http expects HOST:PORT, got '" + v + "'");
    o.http_host = v.substr(0, colon);
    o.http_port = static_cast<int>(cli::parse_u64("--http port", v.substr(colon + 1), 0, 65535));
  });
  app.add_flag_callback("--no-http", [&o] { o.http = false; });
  cli::repeatable(app, "--allowed-host", allowed_hosts);
  cli::number(app, "--max-body-bytes", ho.max_body_bytes, 1, 1ull << 32);
  cli::number(app, "--http-max-connections", ho.max_connections, 1, 4096);
  cli::number(app, "--http-io-timeout-ms", ho.io_timeout_ms, 1, 3'600'000);
  cli::number(app, "--http-idle-timeout-s", ho.idle_timeout_s, 1, 3600);
  app.add_flag("--enable-test-hooks", o.test_hooks);  // test-only (see --help)
  value(app, "--token-file", [&o](const std::string& f) { o.token = read_token_file("--token-file", f); });
  cli::number(app, "--lanes", o.channel_config.lanes, 1, channel::kMaxLanes);
  cli::number(app, "--slots", o.channel_config.slots_per_ring, 2, 65536);
  cli::number(app, "--slot-size", o.channel_config.slot_size, 128, 1u << 24);
  cli::number(app, "--max-message", o.channel_config.max_message, 1, 1u << 30);
  value(app, "--shm-group", [&o](const std::string& g) {
    char* end = nullptr;
    const unsigned long gid = std::strtoul(g.c_str(), &end, 10);
    if (!g.empty() && *end == '\0') {
      o.channel_config.group = static_cast<gid_t>(gid);
    } else {
      const group* gr = getgrnam(g.c_str());
      if (!gr) throw cli::UsageError("unknown group '" + g + "'");
      o.channel_config.group = gr->gr_gid;
    }
    o.channel_config.mode = 0660;
  });
}

// Blocks the shutdown signals in every thread so the main thread can sigwait() for them.
sigset_t block_shutdown_signals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
  return set;
}

// The client the HTTP and MCP frontends call the workers through. Their requests carry no
// deadline of their own, so --call-timeout-ms is theirs (not the client library's default of
// 30 s); they wait for responses the way the workers wait for requests (--wait,
// --spin-us), so `--wait block` really means no spinning anywhere.
ClientOptions frontend_client_options(const ExecutorOptions& o) {
  ClientOptions co;
  co.timeout = std::chrono::milliseconds(o.call_timeout_ms);
  co.wait = o.wait;
  co.spin_ns = o.spin_ns;
  return co;
}

// The HTTP frontend on --http for `backend`; null (the reason logged) if it cannot start.
std::unique_ptr<HttpFrontend> start_http(const ExecutorOptions& o, HttpOptions ho, std::shared_ptr<HttpBackend> backend) {
  ho.host = o.http_host;
  ho.port = o.http_port;
  auto h = HttpFrontend::start(std::move(backend), ho);
  if (!h) {
    component_logger("executor")->critical("{}", h.error().describe());
    return nullptr;
  }
  return std::move(*h);
}

// Blocks until SIGTERM or SIGINT (blocked in every thread by block_shutdown_signals).
void await_shutdown_signal(sigset_t& sigs) {
  int sig = 0;
  sigwait(&sigs, &sig);
  component_logger("executor")->info("received {}: finishing in-flight calls", sigabbrev_np(sig));
}

// serve --tenants: no shared workspace channel; every tenant has its own (TenantManager).
int serve_tenants(ExecutorOptions o, HttpOptions ho, const TenantFlags& tf) {
  o.worker_exe = self_exe();
  sigset_t sigs = block_shutdown_signals();
  auto log = component_logger("executor");
  auto specs = load_tenants_file(tf.file);
  if (!specs) {
    log->critical("{}", specs.error().describe());
    return 2;
  }
  if (!tf.cgroup.empty()) {
    if (auto st = CpuGroup::check_parent(tf.cgroup); !st) {
      log->critical("{}", st.error().describe());
      return 2;
    }
    o.tenant_cgroup = tf.cgroup;
  }
  TenantManagerOptions to;
  to.base = o;
  to.base.idle_stop_ms = tf.idle_s * 1000;
  to.max_workers = tf.max_workers;
  to.state_file = tf.state_file;
  auto mgr = TenantManager::start(to, *specs);
  if (!mgr) {
    log->critical("{}", mgr.error().describe());
    return 1;
  }
  std::shared_ptr<TenantManager> tenants = std::move(*mgr);
  std::unique_ptr<HttpFrontend> http;
  if (o.http) {
    http = start_http(o, ho, make_tenant_backend(tenants, tf.admin_token, ho.max_body_bytes));
    if (!http) return 1;
  }
  await_shutdown_signal(sigs);
  if (http) http->stop();
  tenants->stop();
  return 0;
}

int serve(ExecutorOptions o, HttpOptions ho) {
  o.worker_exe = self_exe();
  sigset_t sigs = block_shutdown_signals();
  auto log = component_logger("executor");

  auto sup = Supervisor::start(o);
  if (!sup) {
    log->critical("{}", sup.error().describe());
    return 1;
  }
  o.workspace = (*sup)->options().workspace;
  std::unique_ptr<HttpFrontend> http;
  std::shared_ptr<Client> client;
  std::unique_ptr<McpHttp> mcp_http;
  if (o.http) {
    auto c = Client::connect(shm_url(o.channel, o.channel_config.dir), frontend_client_options(o));
    if (!c) {
      log->critical("HTTP frontend cannot reach its own channel: {}", c.error().describe());
      return 1;
    }
    client = std::move(*c);
    McpHttpOptions mo;
    mo.roots = make_roots_support(client, o.workspace);
    mcp_http = std::make_unique<McpHttp>(make_tool_text_caller(client), std::string(kMcpServerName), kVersion,
                                         std::move(mo));
    McpHttpHandler handler = [m = mcp_http.get()](const std::string& method,
                                                  const std::map<std::string, std::string>& headers,
                                                  const std::string& body) { return m->handle(method, headers, body); };
    http = start_http(o, ho, make_workspace_backend(**sup, client, handler, o.token));
    if (!http) return 1;
  }
  await_shutdown_signal(sigs);
  if (mcp_http) mcp_http->close();  // parked GET long polls end now, not after get_park
  if (http) http->stop();
  (*sup)->stop();
  return 0;
}

// The root a running executor's channel serves (its list_allowed_directories), for roots narrowing.
Result<std::string> served_root(Client& c) {
  auto r = c.call("list_allowed_directories", nlohmann::json::object());
  if (!r) return r.error();
  const std::string text = r->text();
  constexpr std::string_view kHead = "Allowed directories:\n";
  if (r->is_error || text.rfind(kHead, 0) != 0 || text.find('\n', kHead.size()) != std::string::npos)
    return make_error(Errc::internal, "unexpected list_allowed_directories answer: " + text.substr(0, 200));
  return text.substr(kHead.size());
}

// mcp --connect: an MCP stdio front for a running executor (a tenant's channel, say).
int mcp_connect_command(const ExecutorOptions& o, const std::string& url, const std::string& token) {
  signal(SIGPIPE, SIG_IGN);
  auto log = component_logger("executor");
  ClientOptions co = frontend_client_options(o);
  co.token = token;
  auto c = Client::connect(url, co);
  if (!c) {
    log->critical("cannot connect to {}: {}", url, c.error().describe());
    return 1;
  }
  std::shared_ptr<Client> client = std::move(*c);
  auto root = served_root(*client);
  if (!root) {
    log->critical("{}: {}", url, root.error().describe());
    return 1;
  }
  McpSession session(make_tool_text_caller(client));
  return run_stdio_fd(session, STDIN_FILENO, STDOUT_FILENO, o.wait == channel::WaitMode::block ? 0 : o.spin_ns,
                      make_roots_support(client, *root));
}

int mcp_command(ExecutorOptions o) {  // not "mcp": that would clash with namespace executor::mcp
  std::random_device rd;
  o.channel = "mcp-" + std::to_string(getpid()) + "-" + std::to_string(rd());
  o.worker_exe = self_exe();
  signal(SIGPIPE, SIG_IGN);
  auto log = component_logger("executor");
  auto sup = Supervisor::start(o);
  if (!sup) {
    log->critical("{}", sup.error().describe());
    return 1;
  }
  auto c = Client::connect(shm_url(o.channel, o.channel_config.dir), frontend_client_options(o));
  if (!c) {
    log->critical("cannot reach own channel: {}", c.error().describe());
    return 1;
  }
  std::shared_ptr<Client> client = std::move(*c);
  McpSession session(make_tool_text_caller(client));
  const int rc = run_stdio_fd(session, STDIN_FILENO, STDOUT_FILENO, o.wait == channel::WaitMode::block ? 0 : o.spin_ns,
                              make_roots_support(client, (*sup)->options().workspace));
  (*sup)->stop();
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fputs(kTopHelp, stderr);
    return 2;
  }
  // The hidden worker command parses its own options (executor/worker_options.cpp): the
  // supervisor wrote them.
  if (std::string_view(argv[1]) == "worker") return worker_main(argc, argv);
  if (std::string_view(argv[1]) == "help") {
    std::fputs(kTopHelp, stdout);
    return 0;
  }
  CLI::App app("The shmcp executor", kProg);
  cli::configure(app, kTopHelp);
  bool version = false;
  app.add_flag("--version", version);

  ExecutorOptions serve_o;
  serve_o.channel = "default";
  HttpOptions ho;
  std::vector<std::string> allowed_hosts;
  CLI::App* serve_cmd = app.add_subcommand("serve");
  cli::configure(*serve_cmd, kServeHelp);
  add_common_options(*serve_cmd, serve_o);
  TenantFlags tenant_flags;
  add_serve_options(*serve_cmd, serve_o, ho, allowed_hosts, tenant_flags);

  ExecutorOptions mcp_o;
  mcp_o.http = false;
  mcp_o.log_level = "warn";
  std::vector<std::string> mcp_dirs;  // `mcp DIR`, like the reference server
  CLI::App* mcp_cmd = app.add_subcommand("mcp");
  cli::configure(*mcp_cmd, kMcpHelp);
  add_common_options(*mcp_cmd, mcp_o);
  std::string mcp_connect, mcp_token;
  mcp_cmd->add_option("--connect", mcp_connect);
  value(*mcp_cmd, "--token-file", [&mcp_token](const std::string& f) { mcp_token = read_token_file("--token-file", f); });

  CLI::App* version_cmd = app.add_subcommand("version");
  cli::configure(*version_cmd, kTopHelp);

  if (std::string_view(argv[1]) == "mcp") set_log_level(mcp_o.log_level);  // before any --log-level
  const CLI::App& cmd = cli::parse_or_exit(kProg, app, argc, argv, mcp_cmd, &mcp_dirs);
  if (&cmd == serve_cmd) {
    for (const auto& h : allowed_hosts) {
      if (h.empty() || h.find_first_of(":/ ") != std::string::npos)
        cli::usage_error(kProg, cmd, "--allowed-host expects a host name, got '" + h + "'");
      ho.allowed_hosts.push_back(h);
    }
    if (serve_o.workspace.empty()) cli::usage_error(kProg, cmd, "--workspace is required");
    if (!tenant_flags.file.empty()) {
      if (!serve_o.token.empty()) cli::usage_error(kProg, cmd, "--token-file is for one workspace; tenants have their own tokens");
      return serve_tenants(std::move(serve_o), std::move(ho), tenant_flags);
    }
    if (!tenant_flags.admin_token.empty()) cli::usage_error(kProg, cmd, "--admin-token-file needs --tenants");
    if (!tenant_flags.state_file.empty()) cli::usage_error(kProg, cmd, "--tenants-state needs --tenants");
    if (!tenant_flags.cgroup.empty()) cli::usage_error(kProg, cmd, "--tenant-cgroup needs --tenants");
    return serve(std::move(serve_o), std::move(ho));
  }
  if (&cmd == mcp_cmd) {
    std::size_t next = 0;
    if (!mcp_connect.empty()) {
      if (!mcp_o.workspace.empty() || !mcp_dirs.empty())
        cli::usage_error(kProg, cmd, "--connect serves a running executor's root: give no workspace");
      return mcp_connect_command(mcp_o, mcp_connect, mcp_token);
    }
    if (!mcp_token.empty()) cli::usage_error(kProg, cmd, "--token-file needs --connect");
    if (mcp_o.workspace.empty() && next < mcp_dirs.size()) mcp_o.workspace = mcp_dirs[next++];
    if (next < mcp_dirs.size()) cli::usage_error(kProg, cmd, "unknown option '" + mcp_dirs[next] + "'");
    if (mcp_o.workspace.empty()) cli::usage_error(kProg, cmd, "a workspace directory is required");
    return mcp_command(std::move(mcp_o));
  }
  if (&cmd == version_cmd || version) {
    std::printf("shmcp-executor %s\n", kVersion);
    return 0;
  }
  std::fputs(kTopHelp, stderr);
  return 2;
}
