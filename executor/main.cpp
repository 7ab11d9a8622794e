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
#include <iostream>
#include <random>
#include <sstream>

#include "channel/base/log.hpp"
#include "executor/executor.hpp"
#include "executor/supervisor.hpp"
#include "executor/worker.hpp"
#include "executor/http.hpp"
#include "executor/mcp.hpp"

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
  --token-file F          require "Authorization: Bearer <token>" on HTTP (all but /health,
                          which then reports only its status without the token); the token
                          is F's first line
  --allowed-host NAME     also accept HTTP requests whose Host header is NAME (any port);
                          repeatable. Accepted anyway: IP literals, localhost and the --http
                          host; any other name is refused with 403 (DNS rebinding)
  --max-body-bytes N      larger HTTP request bodies are refused with 413     [default: 67108864]
  --http-max-connections N
                          HTTP connections served at once (one thread each); more wait until
                          one closes                                             [default: 128]
  --http-io-timeout-ms N  an HTTP read or write that makes no progress this long closes the
                          connection                                            [default: 5000]
  --http-idle-timeout-s N an HTTP connection that sends no (next) request this long is closed
                                                                                   [default: 5]
  --read-only             tools may read but not change the workspace (Landlock read-only too)
  --call-timeout-ms N     deadline for calls that carry none                  [default: 30000]
  --max-read-bytes N      largest file a read tool returns                 [default: 67108864]
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
  --enable-test-hooks     TEST-ONLY, never in production: workers serve the pseudo-tools
                          __shmcp_test_forbidden_syscall (makes a syscall the sandbox kills
                          the worker for) and __shmcp_test_abort_mid_write (write_file that
                          aborts the worker before the temp file is named); fault tests only
  -h, --help              show this help
)";

constexpr const char* kMcpHelp = R"(Usage: shmcp-executor mcp [--workspace] DIR [options]

Speaks MCP (JSON-RPC 2.0, one message per line) on stdin/stdout for the workspace DIR, like the
reference MCP filesystem server, with the same sandboxed workers as `serve`. Logs go to stderr.
Exits at end of input.

Options:
  --workers N, --read-only, --call-timeout-ms N, --max-read-bytes N, --allow-hardlinks,
  --allow-unsandboxed, --wait MODE, --spin-us N, --shm-dir DIR, --log-level LEVEL (default: warn)
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

[[noreturn]] void usage_error(const std::string& msg, const char* help) {
  std::fprintf(stderr, "shmcp-executor: %s\n\n%s", msg.c_str(), help);
  std::exit(2);
}

std::uint64_t parse_u64(const std::string& flag, const std::string& v, std::uint64_t lo, std::uint64_t hi, const char* help) {
  char* end = nullptr;
  errno = 0;
  const unsigned long long x = std::strtoull(v.c_str(), &end, 10);
  if (v.empty() || *end != '\0' || errno != 0 || x < lo || x > hi)
    usage_error(flag + " expects a number in " + std::to_string(lo) + ".." + std::to_string(hi) + ", got '" + v + "'", help);
  return x;
}

std::string self_exe() {
  char buf[PATH_MAX];
  const ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n <= 0) return {};
  return std::string(buf, static_cast<std::size_t>(n));
}

// Parses the options shared by serve and mcp; returns false for an unknown flag.
bool common_option(ExecutorOptions& o, const std::string& k, int& i, int argc, char** argv, const char* help) {
  auto val = [&]() -> std::string {
    if (i + 1 >= argc) usage_error(k + " needs a value", help);
    return argv[++i];
  };
  if (k == "--workspace") o.workspace = val();
  else if (k == "--workers") o.workers = static_cast<std::uint32_t>(parse_u64(k, val(), 1, channel::kMaxWorkers, help));
  else if (k == "--read-only") o.read_only = o.tools.read_only = true;
  else if (k == "--call-timeout-ms") o.call_timeout_ms = parse_u64(k, val(), 1, 86'400'000, help);
  else if (k == "--max-read-bytes") o.tools.max_read_bytes = parse_u64(k, val(), 1, 1ull << 32, help);
  else if (k == "--allow-hardlinks") o.tools.allow_hardlinks = true;
  else if (k == "--fsync") o.tools.fsync_writes = true;
  else if (k == "--allow-unsandboxed") o.allow_unsandboxed = true;
  else if (k == "--shm-dir") {
    o.channel_config.dir = val();
    if (auto s = channel::validate_shm_dir(o.channel_config.dir); !s) usage_error("--shm-dir: " + s.error().message, help);
  } else if (k == "--wait") {
    auto m = channel::parse_wait_mode(val());
    if (!m) usage_error(m.error().message, help);
    o.wait = *m;
  } else if (k == "--spin-us") o.spin_ns = parse_u64(k, val(), 0, 10'000'000, help) * 1000;
  else if (k == "--log-level") {
    o.log_level = val();
    if (!set_log_level(o.log_level)) usage_error("unknown log level '" + o.log_level + "'", help);
  } else return false;
  return true;
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
// deadline of their own, so --call-timeout-ms is theirs (the client's default of 30 s used to
// apply instead); they wait for responses the way the workers wait for requests (--wait,
// --spin-us), so `--wait block` really means no spinning anywhere.
ClientOptions frontend_client_options(const ExecutorOptions& o) {
  ClientOptions co;
  co.timeout = std::chrono::milliseconds(o.call_timeout_ms);
  co.wait = o.wait == channel::WaitMode::spin    ? WaitStrategy::spin
            : o.wait == channel::WaitMode::block ? WaitStrategy::block
                                                 : WaitStrategy::adaptive;
  co.spin_ns = o.spin_ns;
  return co;
}

int serve(int argc, char** argv) {
  ExecutorOptions o;
  o.channel = "default";
  bool http_set = false;
  HttpOptions ho;
  for (int i = 2; i < argc; ++i) {
    const std::string k = argv[i];
    auto val = [&]() -> std::string {
      if (i + 1 >= argc) usage_error(k + " needs a value", kServeHelp);
      return argv[++i];
    };
    if (k == "-h" || k == "--help") {
      std::fputs(kServeHelp, stdout);
      return 0;
    }
    if (common_option(o, k, i, argc, argv, kServeHelp)) continue;
    if (k == "--channel") o.channel = val();
    else if (k == "--http") {
      const std::string v = val();
      const auto colon = v.rfind(':');
      if (colon == std::string::npos || colon == 0) usage_error("--http expects HOST:PORT, got '" + v + "'", kServeHelp);
      o.http_host = v.substr(0, colon);
      o.http_port = static_cast<int>(parse_u64("--http port", v.substr(colon + 1), 0, 65535, kServeHelp));
      http_set = true;
    } else if (k == "--no-http") o.http = false;
    else if (k == "--allowed-host") {
      const std::string h = val();
      if (h.empty() || h.find_first_of(":/ ") != std::string::npos) usage_error("--allowed-host expects a host name, got '" + h + "'", kServeHelp);
      ho.allowed_hosts.push_back(h);
    } else if (k == "--max-body-bytes") ho.max_body_bytes = parse_u64(k, val(), 1, 1ull << 32, kServeHelp);
    else if (k == "--http-max-connections") ho.max_connections = parse_u64(k, val(), 1, 4096, kServeHelp);
    else if (k == "--http-io-timeout-ms") ho.io_timeout_ms = static_cast<int>(parse_u64(k, val(), 1, 3'600'000, kServeHelp));
    else if (k == "--http-idle-timeout-s") ho.idle_timeout_s = static_cast<int>(parse_u64(k, val(), 1, 3600, kServeHelp));
    else if (k == "--enable-test-hooks") o.test_hooks = true;  // test-only (see --help)
    else if (k == "--token-file") {
      const std::string f = val();
      std::ifstream in(f);
      if (!in) usage_error("cannot read --token-file " + f, kServeHelp);
      std::getline(in, o.token);
      if (!o.token.empty() && o.token.back() == '\r') o.token.pop_back();
      if (o.token.empty()) usage_error("--token-file " + f + " is empty", kServeHelp);
    } else if (k == "--lanes") o.channel_config.lanes = static_cast<std::uint32_t>(parse_u64(k, val(), 1, channel::kMaxLanes, kServeHelp));
    else if (k == "--slots") o.channel_config.slots_per_ring = static_cast<std::uint32_t>(parse_u64(k, val(), 2, 65536, kServeHelp));
    else if (k == "--slot-size") o.channel_config.slot_size = static_cast<std::uint32_t>(parse_u64(k, val(), 128, 1u << 24, kServeHelp));
    else if (k == "--max-message") o.channel_config.max_message = static_cast<std::uint32_t>(parse_u64(k, val(), 1, 1u << 30, kServeHelp));
    else if (k == "--shm-group") {
      const std::string g = val();
      char* end = nullptr;
      const unsigned long gid = std::strtoul(g.c_str(), &end, 10);
      if (!g.empty() && *end == '\0') {
        o.channel_config.group = static_cast<gid_t>(gid);
      } else {
        const group* gr = getgrnam(g.c_str());
        if (!gr) usage_error("unknown group '" + g + "'", kServeHelp);
        o.channel_config.group = gr->gr_gid;
      }
      o.channel_config.mode = 0660;
    } else usage_error("unknown option '" + k + "'", kServeHelp);
  }
  (void)http_set;
  if (o.workspace.empty()) usage_error("--workspace is required", kServeHelp);
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
    mcp_http = std::make_unique<McpHttp>(make_tool_text_caller(client));
    McpHttpHandler handler = [m = mcp_http.get()](const std::string& method,
                                                  const std::map<std::string, std::string>& headers,
                                                  const std::string& body) { return m->handle(method, headers, body); };
    ho.host = o.http_host;
    ho.port = o.http_port;
    ho.token = o.token;
    auto h = HttpFrontend::start(**sup, client, ho, handler);
    if (!h) {
      log->critical("{}", h.error().describe());
      return 1;
    }
    http = std::move(*h);
  }
  int sig = 0;
  sigwait(&sigs, &sig);
  log->info("received {}: finishing in-flight calls", sigabbrev_np(sig));
  if (http) http->stop();
  (*sup)->stop();
  return 0;
}

int mcp_command(int argc, char** argv) {  // not "mcp": that would clash with namespace executor::mcp
  ExecutorOptions o;
  o.http = false;
  o.log_level = "warn";
  set_log_level(o.log_level);
  for (int i = 2; i < argc; ++i) {
    const std::string k = argv[i];
    if (k == "-h" || k == "--help") {
      std::fputs(kMcpHelp, stdout);
      return 0;
    }
    if (common_option(o, k, i, argc, argv, kMcpHelp)) continue;
    if (!k.empty() && k[0] != '-' && o.workspace.empty()) o.workspace = k;  // positional DIR, like the reference
    else usage_error("unknown option '" + k + "'", kMcpHelp);
  }
  if (o.workspace.empty()) usage_error("a workspace directory is required", kMcpHelp);
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
  const int rc = run_stdio_fd(session, STDIN_FILENO, STDOUT_FILENO, o.wait == channel::WaitMode::block ? 0 : o.spin_ns);
  (*sup)->stop();
  return rc;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fputs(kTopHelp, stderr);
    return 2;
  }
  const std::string cmd = argv[1];
  if (cmd == "worker") return worker_main(argc, argv);
  if (cmd == "serve") return serve(argc, argv);
  if (cmd == "mcp") return mcp_command(argc, argv);
  if (cmd == "version" || cmd == "--version") {
    std::printf("shmcp-executor %s\n", kVersion);
    return 0;
  }
  if (cmd == "-h" || cmd == "--help" || cmd == "help") {
    std::fputs(kTopHelp, stdout);
    return 0;
  }
  std::fprintf(stderr, "shmcp-executor: unknown command '%s'\n\n%s", cmd.c_str(), kTopHelp);
  return 2;
}
