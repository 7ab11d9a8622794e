// shmcp: the orchestrator-side command line.
//   shmcp call   --connect URL TOOL [JSON]    print the CallToolResult
//   shmcp tools  --connect URL                the tools and their input schemas
//   shmcp ping   --connect URL [--count N]    empty round trips with percentiles
//   shmcp health --connect URL                the executor's status
//   shmcp demo   --shm URL --http URL         shm vs HTTP workload comparison
//   shmcp tenant COMMAND ...                  the executor's tenants (admin API; cli_tenant.cpp)
// Exit codes: 0 success, 1 the tool reported isError (or the demo failed), 2 transport or usage error.
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <iostream>
#include <sstream>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "channel/base/cli.hpp"
#include "channel/ring.hpp"  // parse_wait_mode
#include "orchestrator/bounded_json.hpp"
#include "orchestrator/cli_tenant.hpp"
#include "orchestrator/client.hpp"

using namespace shmcp;

namespace {

constexpr const char* kProg = "shmcp";

constexpr const char* kTopHelp = R"(Usage: shmcp COMMAND [options]

Calls the tools of a shmcp executor over shared memory (shm://NAME, or shm:///DIR/NAME for an
executor started with --shm-dir DIR) or HTTP (http://HOST:PORT).

Commands:
  call      run one tool and print its CallToolResult JSON
  tools     list the tools and their input schemas
  ping      measure empty round trips
  health    print the executor's status
  demo      run a workload over shm and HTTP and compare them
  tenant    create, list, update, drain and delete an executor's tenants

Run `shmcp COMMAND --help` for details. Exit status: 0 ok, 1 tool error, 2 transport/usage error.
)";

constexpr const char* kCallHelp = R"(Usage: shmcp call --connect URL TOOL [JSON] [--timeout-ms N] [--token-file F]

Runs TOOL with the JSON object JSON (default {}) and prints the MCP CallToolResult on stdout.
Exit status: 0 success, 1 the result has isError, 2 transport or usage error (reason on stderr).
  --connect URL       shm://NAME (the executor's --channel), shm:///DIR/NAME (its
                      --shm-dir DIR and --channel NAME) or http://HOST:PORT     [required]
  --timeout-ms N      call deadline                                          [default: 30000]
  --wait-ms N         wait up to N ms for the executor to appear                  [default: 0]
  --token-file F      bearer token for HTTP
Example: shmcp call --connect shm://default read_text_file '{"path": "notes.txt"}'
)";

constexpr const char* kToolsHelp = R"(Usage: shmcp tools --connect URL [--names]

Prints the executor's tools/list result (names, descriptions, input schemas) as JSON.
  --names             print only the tool names, one per line
)";

constexpr const char* kPingHelp = R"(Usage: shmcp ping --connect URL [--count N] [--wait spin|adaptive|block]

Sends N empty calls (a round trip through a sandboxed worker, no filesystem work) and prints
min, p50, p90, p99, p99.9 and max latency and calls per second. Stops at the first failed call
(exit 2, the reason on stderr).
  --count N           number of calls                                          [default: 1000]
  --wait MODE         how the client waits on shm                          [default: adaptive]
)";

constexpr const char* kHealthHelp = R"(Usage: shmcp health --connect URL

Prints the executor's status JSON (workers alive, channel, uptime). Exit 0 if healthy ("ok"),
1 if degraded, 2 if unreachable. Suitable as a container healthcheck.
)";

constexpr const char* kDemoHelp = R"(Usage: shmcp demo --shm shm://NAME|shm:///DIR/NAME --http http://HOST:PORT [--calls N] [--wait SECONDS]

The sidecar demo: waits for the executor, then runs the same workload of tool calls (write_file,
read_text_file, list_directory, search_files, edit_file, get_file_info, an empty call) over
shared memory and over HTTP, prints results and a latency comparison. Exit 0 if every call
succeeded on both transports.
  --calls N           calls per operation per transport                         [default: 200]
  --wait SECONDS      how long to wait for the executor                          [default: 30]
  --dir NAME          workspace subdirectory the demo writes into             [default: demo]
  --token-file F      bearer token for HTTP
)";

[[noreturn]] void usage(const std::string& msg, const char* help) {
  std::fprintf(stderr, "shmcp: %s\n\n%s", msg.c_str(), help);
  std::exit(2);
}

struct Args {
  std::string connect, token_file, shm_url, http_url, dir = "demo";
  std::vector<std::string> positional;
  std::uint64_t count = 1000, calls = 200, timeout_ms = 30'000, wait_ms = 0, wait_s = 30;
  WaitMode wait = WaitMode::adaptive;
  bool names = false;
};

// The options of the connecting commands (call, tools, ping, health).
void add_connection_options(CLI::App& app, Args& a) {
  app.add_option("--connect", a.connect);
  app.add_option("--token-file", a.token_file);
  cli::number(app, "--timeout-ms", a.timeout_ms);
  cli::number(app, "--wait-ms", a.wait_ms);
  app.add_option_function<std::string>("--wait", [&a](const std::string& v) {
    auto m = channel::parse_wait_mode(v);
    if (!m) throw cli::UsageError("--wait expects spin, adaptive or block");
    a.wait = *m;
  });
}

std::string read_token(const std::string& file) {
  if (file.empty()) return {};
  FILE* f = std::fopen(file.c_str(), "r");
  if (!f) {
    std::fprintf(stderr, "shmcp: cannot read --token-file %s\n", file.c_str());
    std::exit(2);
  }
  char buf[4096] = {};
  const bool ok = std::fgets(buf, sizeof buf, f) != nullptr;
  std::fclose(f);
  std::string t = ok ? buf : "";
  while (!t.empty() && (t.back() == '\n' || t.back() == '\r')) t.pop_back();
  return t;
}

std::unique_ptr<Client> connect_or_exit(const std::string& url, const Args& a, const char* help) {
  if (url.empty()) usage("--connect URL is required", help);
  ClientOptions o;
  o.wait = a.wait;
  o.timeout = std::chrono::milliseconds(a.timeout_ms);
  o.connect_wait = std::chrono::milliseconds(a.wait_ms);
  o.token = read_token(a.token_file);
  auto c = Client::connect(url, o);
  if (!c) {
    std::fprintf(stderr, "shmcp: cannot connect to %s: %s\n", url.c_str(), c.error().describe().c_str());
    std::exit(2);
  }
  return std::move(*c);
}

int cmd_call(const Args& a) {
  if (a.positional.empty()) usage("TOOL is required", kCallHelp);
  if (a.positional.size() > 2) usage("too many arguments (quote the JSON)", kCallHelp);
  nlohmann::json args = nlohmann::json::object();
  if (a.positional.size() == 2) {
    if (parse_json_bounded(a.positional[1], args) != JsonFault::none || !args.is_object()) usage("JSON arguments must be an object, got: " + a.positional[1], kCallHelp);
  }
  auto c = connect_or_exit(a.connect, a, kCallHelp);
  auto r = c->call(a.positional[0], args);
  if (!r) {
    std::fprintf(stderr, "shmcp: %s\n", r.error().describe().c_str());
    return 2;
  }
  std::cout << r->json.dump(2) << "\n";
  return r->is_error ? 1 : 0;
}

int cmd_tools(const Args& a) {
  auto c = connect_or_exit(a.connect, a, kToolsHelp);
  auto r = c->tools();
  if (!r) {
    std::fprintf(stderr, "shmcp: %s\n", r.error().describe().c_str());
    return 2;
  }
  if (a.names) {
    for (const auto& t : (*r)["tools"]) std::cout << t["name"].get<std::string>() << "\n";
  } else {
    std::cout << r->dump(2) << "\n";
  }
  return 0;
}

int cmd_health(const Args& a) {
  auto c = connect_or_exit(a.connect, a, kHealthHelp);
  auto r = c->health();
  if (!r) {
    std::fprintf(stderr, "shmcp: %s\n", r.error().describe().c_str());
    return 2;
  }
  std::cout << r->dump(2) << "\n";
  return r->value("status", "") == "ok" ? 0 : 1;
}

struct Summary {
  std::vector<double> us;
  double pct(double p) const {
    if (us.empty()) return 0;
    const auto i = static_cast<std::size_t>(p / 100.0 * static_cast<double>(us.size() - 1) + 0.5);
    return us[std::min(i, us.size() - 1)];
  }
};

Summary time_calls(std::uint64_t n, const std::function<bool()>& fn, std::uint64_t* failures) {
  Summary s;
  s.us.reserve(n);
  for (std::uint64_t i = 0; i < n; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    if (!fn()) ++*failures;
    s.us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(s.us.begin(), s.us.end());
  return s;
}

int cmd_ping(const Args& a) {
  auto c = connect_or_exit(a.connect, a, kPingHelp);
  // A transport error means the executor is gone or unusable: the remaining pings would only
  // time the failure, so stop at the first one (a warm-up failure is reported as the first ping's).
  auto failed = [&](std::uint64_t i, const Error& e) {
    std::fprintf(stderr, "shmcp: ping %llu of %llu to %s failed: %s\n", static_cast<unsigned long long>(i + 1),
                 static_cast<unsigned long long>(a.count), c->url().c_str(), e.describe().c_str());
    return 2;
  };
  for (int i = 0; i < 100; ++i)  // warm-up, untimed
    if (auto r = c->ping(); !r) return failed(0, r.error());
  Summary s;
  s.us.reserve(static_cast<std::size_t>(std::min<std::uint64_t>(a.count, 1u << 20)));
  const auto t0 = std::chrono::steady_clock::now();
  for (std::uint64_t i = 0; i < a.count; ++i) {
    const auto t = std::chrono::steady_clock::now();
    auto r = c->ping();
    if (!r) return failed(i, r.error());
    s.us.push_back(std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t).count());
  }
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::sort(s.us.begin(), s.us.end());
  std::printf("%llu pings to %s: min %.2f us  p50 %.2f us  p90 %.2f us  p99 %.2f us  p99.9 %.2f us  max %.2f us  (%.0f calls/s)\n",
              static_cast<unsigned long long>(a.count), c->url().c_str(), s.us.front(), s.pct(50), s.pct(90), s.pct(99),
              s.pct(99.9), s.us.back(), static_cast<double>(a.count) / secs);
  return 0;
}

int cmd_demo(const Args& a) {
  if (a.shm_url.empty() || a.http_url.empty()) usage("--shm and --http are required", kDemoHelp);
  ClientOptions o;
  o.token = read_token(a.token_file);
  o.timeout = std::chrono::milliseconds(30'000);
  // Wait for the executor on both transports.
  std::unique_ptr<Client> shm, http;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(a.wait_s);
  std::string last_error;
  std::fprintf(stderr, "demo: waiting up to %llus for the executor at %s and %s\n", static_cast<unsigned long long>(a.wait_s),
               a.shm_url.c_str(), a.http_url.c_str());
  while (std::chrono::steady_clock::now() < give_up && !(shm && http)) {
    if (!shm) {
      auto c = Client::connect(a.shm_url, o);
      if (c && (*c)->ping()) shm = std::move(*c);
      else if (!c) last_error = c.error().describe();
    }
    if (!http) {
      auto c = Client::connect(a.http_url, o);
      if (c && (*c)->ping()) http = std::move(*c);
      else if (!c) last_error = c.error().describe();
      else last_error = "HTTP executor not answering yet";
    }
    if (!(shm && http)) std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  if (!shm || !http) {
    std::fprintf(stderr, "demo: the executor did not become reachable: %s\n", last_error.c_str());
    return 2;
  }
  auto h = shm->health();
  if (h) std::printf("executor: %s, workspace %s, %d worker(s) sandboxed\n", h->value("status", "?").c_str(),
                     h->value("workspace", "?").c_str(), (*h)["workers"].value("sandboxed", 0));

  const std::string dir = a.dir + "-" + std::to_string(getpid());
  const std::string body(4096, 'x');
  bool ok = true;
  auto must = [&](const char* what, Result<ToolResult> r) {
    if (!r) {
      std::printf("  %-16s FAILED: %s\n", what, r.error().describe().c_str());
      ok = false;
    } else if (r->is_error) {
      std::printf("  %-16s FAILED: %s\n", what, r->text().c_str());
      ok = false;
    } else {
      std::string t = r->text();
      if (t.size() > 60) t = t.substr(0, 57) + "...";
      for (auto& ch : t) if (ch == '\n') ch = ' ';
      std::printf("  %-16s ok: %s\n", what, t.c_str());
    }
  };
  std::printf("\nSample calls over %s:\n", a.shm_url.c_str());
  must("create_directory", shm->call("create_directory", {{"path", dir}}));
  must("write_file", shm->call("write_file", {{"path", dir + "/hello.txt"}, {"content", "hello from the orchestrator\n"}}));
  must("read_text_file", shm->call("read_text_file", {{"path", dir + "/hello.txt"}}));
  must("edit_file", shm->call("edit_file", {{"path", dir + "/hello.txt"}, {"edits", {{{"oldText", "hello"}, {"newText", "hi"}}}}}));
  must("list_directory", shm->call("list_directory", {{"path", dir}}));
  must("search_files", shm->call("search_files", {{"path", dir}, {"pattern", "**/*.txt"}}));
  must("get_file_info", shm->call("get_file_info", {{"path", dir + "/hello.txt"}}));
  auto denied = shm->call("read_text_file", {{"path", "/etc/passwd"}});
  const bool denied_ok = denied && denied->is_error;
  std::printf("  %-16s %s: %s\n", "escape attempt", denied_ok ? "denied (as it must be)" : "NOT DENIED", denied ? denied->text().c_str() : denied.error().describe().c_str());
  ok = ok && denied_ok;

  struct Op {
    const char* name;
    std::function<bool(Client&)> fn;
  };
  std::vector<Op> ops = {
      {"empty call", [](Client& c) { return c.ping().ok(); }},
      {"read_text_file 4K", [&](Client& c) { auto r = c.call("read_text_file", {{"path", dir + "/4k.txt"}}); return r && !r->is_error; }},
      {"write_file 4K", [&](Client& c) { auto r = c.call("write_file", {{"path", dir + "/4k.txt"}, {"content", body}}); return r && !r->is_error; }},
      {"list_directory", [&](Client& c) { auto r = c.call("list_directory", {{"path", dir}}); return r && !r->is_error; }},
  };
  must("write_file 4K", shm->call("write_file", {{"path", dir + "/4k.txt"}, {"content", body}}));
  std::printf("\n%-20s %12s %12s %12s %12s %8s\n", "operation (us)", "shm p50", "shm p99", "http p50", "http p99", "speedup");
  std::uint64_t failures = 0;
  for (auto& op : ops) {
    for (int i = 0; i < 20; ++i) { (void)op.fn(*shm); (void)op.fn(*http); }
    Summary s = time_calls(a.calls, [&] { return op.fn(*shm); }, &failures);
    Summary t = time_calls(a.calls, [&] { return op.fn(*http); }, &failures);
    std::printf("%-20s %12.1f %12.1f %12.1f %12.1f %7.1fx\n", op.name, s.pct(50), s.pct(99), t.pct(50), t.pct(99),
                s.pct(50) > 0 ? t.pct(50) / s.pct(50) : 0.0);
  }
  if (failures) {
    std::printf("\n%llu timed calls failed\n", static_cast<unsigned long long>(failures));
    ok = false;
  }
  std::printf("\ndemo %s\n", ok ? "succeeded" : "FAILED");
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fputs(kTopHelp, stderr);
    return 2;
  }
  if (std::string_view(argv[1]) == "help") {
    std::fputs(kTopHelp, stdout);
    return 0;
  }
  if (std::string_view(argv[1]) == "tenant") return cli_tenant::main(argc, argv);
  CLI::App app("shmcp", kProg);
  cli::configure(app, kTopHelp);
  Args a;  // one command runs: each binds the fields it uses

  CLI::App* call = app.add_subcommand("call");
  cli::configure(*call, kCallHelp);
  add_connection_options(*call, a);

  CLI::App* tools = app.add_subcommand("tools");
  cli::configure(*tools, kToolsHelp);
  add_connection_options(*tools, a);
  tools->add_flag("--names", a.names);

  CLI::App* ping = app.add_subcommand("ping");
  cli::configure(*ping, kPingHelp);
  add_connection_options(*ping, a);
  ping->add_option_function<std::string>("--count", [&a](const std::string& v) { a.count = std::max<std::uint64_t>(1, cli::parse_u64("--count", v)); });

  CLI::App* health = app.add_subcommand("health");
  cli::configure(*health, kHealthHelp);
  add_connection_options(*health, a);

  CLI::App* demo = app.add_subcommand("demo");
  cli::configure(*demo, kDemoHelp);
  demo->add_option("--shm", a.shm_url);
  demo->add_option("--http", a.http_url);
  demo->add_option("--dir", a.dir);
  demo->add_option("--token-file", a.token_file);
  demo->add_option_function<std::string>("--calls", [&a](const std::string& v) { a.calls = std::max<std::uint64_t>(1, cli::parse_u64("--calls", v)); });
  cli::number(*demo, "--wait", a.wait_s);

  const CLI::App& cmd = cli::parse_or_exit(kProg, app, argc, argv, call, &a.positional);  // TOOL [JSON]
  if (&cmd == call) return cmd_call(a);
  if (&cmd == tools) return cmd_tools(a);
  if (&cmd == ping) return cmd_ping(a);
  if (&cmd == health) return cmd_health(a);
  if (&cmd == demo) return cmd_demo(a);
  std::fputs(kTopHelp, stderr);
  return 2;
}
