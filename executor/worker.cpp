// A worker: one single-threaded, sandboxed process that serves tool calls straight from the
// channel's lanes. It attaches to the segment and adopts the workspace handle (fd 3) first, then
// locks itself down once (lock_down), and only then serves: every call it ever runs is sandboxed.
#include "executor/worker.hpp"

#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <csignal>
#include <cstring>
#include <ctime>
#include <optional>
#include <string>
#include <unordered_map>

#include <nlohmann/json.hpp>

#include "channel/base/log.hpp"
#include "channel/base/sched_slice.hpp"
#include "channel/messages.hpp"
#include "channel/server_endpoint.hpp"
#include "executor/executor.hpp"
#include "executor/stats.hpp"
#include "executor/status.hpp"
#include "executor/tools/tools.hpp"
#include "executor/worker_log.hpp"
#include "executor/worker_options.hpp"
#include "orchestrator/bounded_json.hpp"
#include "sandbox/lockdown.hpp"

namespace shmcp::executor {

namespace {

wire::ContentKind kind_of(ContentBlock::Kind k) {
  switch (k) {
    case ContentBlock::Kind::text: return wire::ContentKind::Text;
    case ContentBlock::Kind::image: return wire::ContentKind::Image;
    case ContentBlock::Kind::audio: return wire::ContentKind::Audio;
    case ContentBlock::Kind::resource: return wire::ContentKind::Resource;
  }
  return wire::ContentKind::Text;
}

void build_result(flatbuffers::FlatBufferBuilder& fbb, std::uint64_t id, const CallResult& r) {
  fbb.Clear();
  std::vector<flatbuffers::Offset<wire::Content>> blocks;
  blocks.reserve(r.content.size());
  for (const auto& b : r.content) {
    auto text = fbb.CreateString(b.text);
    auto mime = b.mime_type.empty() ? flatbuffers::Offset<flatbuffers::String>() : fbb.CreateString(b.mime_type);
    auto uri = b.uri.empty() ? flatbuffers::Offset<flatbuffers::String>() : fbb.CreateString(b.uri);
    blocks.push_back(wire::CreateContent(fbb, kind_of(b.kind), text, mime, uri));
  }
  auto vec = fbb.CreateVector(blocks);
  wire::ResponseBuilder rb(fbb);
  rb.add_id(id);
  rb.add_status(wire::Status::Ok);
  rb.add_is_error(r.is_error);
  rb.add_media(r.media);
  rb.add_content(vec);
  fbb.Finish(rb.Finish(), channel::kResponseIdentifier);
}

void build_json_payload(flatbuffers::FlatBufferBuilder& fbb, std::uint64_t id, const std::string& json) {
  fbb.Clear();
  auto j = fbb.CreateString(json);
  wire::ResponseBuilder rb(fbb);
  rb.add_id(id);
  rb.add_json(j);
  fbb.Finish(rb.Finish(), channel::kResponseIdentifier);
}

// What the serve loop and dispatch work with. Everything it refers to lives in worker_main's frame.
struct Serving {
  const WorkerOptions& args;
  channel::Segment& seg;
  channel::WorkerSlot& slot;
  channel::StatsBlock& stats;
  channel::ServerEndpoint& ep;
  const sandbox::Workspace& ws;
  Tools& tools;
  Tools* abort_tools;  // TEST-ONLY (kTestHookAbortMidWrite): only with test hooks on
  const ToolIndex& index;
  JsonLimits arg_limits;
  std::string root;
  flatbuffers::FlatBufferBuilder& fbb;
  std::uint64_t default_timeout, max_timeout;
  spdlog::logger& log;
};

// How dispatch went, for the call's metrics.
struct Dispatched {
  int tix = -1;  // the tool's index, -1 when no tool ran
  bool ok = true, tool_error = false;
};

// Before the sandbox: takes over the control region (the log goes there from then on), ties the
// worker's life to the supervisor's, attaches to the channel and drops write access to it. Logs
// and returns null on failure.
std::shared_ptr<channel::Segment> set_up(const WorkerOptions& args, spdlog::logger& log) {
  // The control region first: from here on every line reaches the supervisor's log through it
  // (this process's stderr is /dev/null).
  auto control = channel::ControlRegion::adopt(args.control_fd);
  if (!control) {
    log.error("worker {}: cannot map the control region: {}", args.index, control.error().describe());
    return nullptr;
  }
  log.sinks().clear();
  log.sinks().push_back(std::make_shared<ChannelLogSink>((*control)->block().logs[args.index]));
  // Die with the supervisor: a worker must never outlive the process that enforces its deadlines.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  // Shutdown is the supervisor's job: it drains in-flight calls, then SIGKILLs us. A Ctrl-C (SIGINT
  // to the whole process group) or a group-wide SIGTERM must not fail the in-flight calls.
  signal(SIGINT, SIG_IGN);
  signal(SIGTERM, SIG_IGN);
  // Resolve the time zone now: after Landlock, /etc/localtime is out of reach.
  tzset();
  // Before seccomp, which denies sched_setattr. Best effort: an older kernel costs latency, not safety.
  if (args.slice_us != 0)
    if (const int err = set_thread_slice(args.slice_us * 1000); err != 0)
      log.warn("sched_setattr (slice {} us): {}; the kernel's default slice stays", args.slice_us, errno_name(err));

  auto seg = channel::Segment::attach(args.channel, 2'000'000'000ull, args.shm_dir);
  if (!seg) {
    log.error("worker {}: cannot attach to channel: {}", args.index, seg.error().describe());
    return nullptr;
  }
  (*seg)->adopt_control(*control);
  // No descriptor that can resize the segment stays open here (a compromised worker must not be
  // able to truncate it under everyone); lease queries go through a read-only one.
  if (auto s = (*seg)->drop_write_access(); !s) {
    log.error("worker {}: {}", args.index, s.error().describe());
    return nullptr;
  }
  // A client's ftruncate makes our accesses fault until the supervisor puts the size back.
  channel::install_truncation_guard();
  return std::move(*seg);
}

// Request.roots: how many a call may carry (an MCP client lists a handful; the bound keeps a
// hostile request from making a call open thousands of directories).
constexpr flatbuffers::uoffset_t kMaxCallRoots = 256;

// The call's primary path: the one that chooses the root the call runs beneath.
std::string_view primary_path(const nlohmann::json& args) {
  for (const char* key : {"path", "source"}) {
    auto it = args.find(key);
    if (it != args.end() && it->is_string()) return it->get_ref<const std::string&>();
  }
  auto it = args.find("paths");
  if (it != args.end() && it->is_array() && !it->empty() && (*it)[0].is_string())
    return (*it)[0].get_ref<const std::string&>();
  return {};
}

// A call narrowed to Request.roots. Each root is a workspace-relative directory; it is checked
// lexically and then opened beneath the workspace with openat2(RESOLVE_BENEATH) like any tool path,
// so a root can never name anything outside the workspace (one that does, or does not open, allows
// nothing). The call then runs against a Workspace rooted at the chosen root's handle: every path
// of the call resolves beneath that handle in the kernel, so "..", symlinks and absolute names
// cannot leave the root, and the walking tools stay beneath it.
class RootedCall {
 public:
  // `quota`: the workspace's storage quota (null: none); a rooted call's writes count against it
  // like any other.
  RootedCall(const sandbox::Workspace& ws, const flatbuffers::Vector<flatbuffers::Offset<flatbuffers::String>>& roots,
             WorkspaceQuota* quota)
      : ws_(ws), quota_(quota) {
    for (const auto* r : roots) {
      if (r == nullptr) continue;
      const std::string_view rel = r->string_view();
      if (rel.empty() || rel.front() == '/') continue;  // workspace-relative only
      auto n = ws.name(rel);
      if (!n) continue;
      names_.push_back(std::move(n).value());
    }
  }

  // "Allowed directories:" and the effective roots, one a line (the reference's form).
  CallResult list_allowed() const {
    std::string text = "Allowed directories:";
    for (const auto& n : names_) {
      text += '\n';
      text += n.display;
    }
    return CallResult::text(std::move(text));
  }

  // Runs `run(tools)` with Tools bound to the root that lexically holds `path` (the first root for
  // a relative or empty path, and for a path in no root, whose resolution beneath that root then
  // refuses it with the usual "outside allowed directories" error).
  template <class Run>
  CallResult run(std::string_view path, bool multi_path, const ToolOptions& opts, Run&& run_tools) const {
    if (names_.empty())
      return CallResult::error("Access denied - path outside allowed directories: " + std::string(path) +
                               " (the session's roots leave no allowed directory)");
    std::size_t pick = 0;
    if (!path.empty() && path.front() == '/') {
      for (std::size_t i = 0; i < names_.size(); ++i) {
        const auto lexical = sandbox::Workspace::adopt(sandbox::UniqueFd(), names_[i].display);
        if (lexical.name(path)) {
          pick = i;
          break;
        }
      }
    }
    auto fd = ws_.open(names_[pick], O_PATH | O_DIRECTORY);
    if (!fd) return CallResult::error(fd.error().message);
    const auto rooted = sandbox::Workspace::adopt(std::move(fd).value(), names_[pick].display);
    Tools tools(rooted, opts);
    tools.set_quota(quota_);
    // The tools with several paths resolve each beneath its own root: those need all of them
    // open (a root that does not open is left out, so its paths fall back to the primary root,
    // which refuses them).
    std::vector<sandbox::Workspace> others;
    std::vector<const sandbox::Workspace*> all;
    if (multi_path && names_.size() > 1) {
      others.reserve(names_.size());
      for (std::size_t i = 0; i < names_.size(); ++i) {
        if (i == pick) {
          all.push_back(&rooted);
          continue;
        }
        auto other = ws_.open(names_[i], O_PATH | O_DIRECTORY);
        if (!other) continue;
        others.push_back(sandbox::Workspace::adopt(std::move(other).value(), names_[i].display));
        all.push_back(&others.back());
      }
      tools.set_roots(&all);
    }
    return run_tools(tools);
  }

 private:
  const sandbox::Workspace& ws_;
  WorkspaceQuota* quota_;
  std::vector<sandbox::ResolvedName> names_;
};

// Runs one verified request (anything but a ping) and builds its response into s.fbb. `result`
// lives until after the reply, like the deferred close: freeing it is not the caller's wait.
Dispatched dispatch(Serving& s, const wire::Request& r, std::uint64_t id, const CallDeadline& tool_deadline,
                    std::optional<CallResult>& result) {
  Dispatched d;
  // Every path below builds its own response into fbb; clearing it first means none can ever
  // send the previous call's bytes (another client's data) by leaving fbb untouched.
  s.fbb.Clear();
  switch (r.kind()) {
    case wire::CallKind::Ping:  // answered by serve() before dispatch
      break;
    case wire::CallKind::Health:
      build_json_payload(s.fbb, id, status_json(s.seg, s.root, s.args.read_only).dump());
      break;
    case wire::CallKind::ListTools:
      build_json_payload(s.fbb, id, nlohmann::json{{"tools", Tools::list()}}.dump());
      break;
    case wire::CallKind::Tool: {
      if (r.tool() == nullptr || r.tool()->size() == 0) {
        channel::build_status_response(s.fbb, id, wire::Status::InvalidRequest, "request names no tool");
        d.ok = false;
        break;
      }
      if (r.args_type() > wire::Args::MAX) {
        // The verifier accepts union types it does not know (forward compatibility) without
        // checking their table: such arguments are never read.
        channel::build_status_response(s.fbb, id, wire::Status::InvalidRequest,
                                       "unknown argument type " + std::to_string(static_cast<unsigned>(r.args_type())));
        d.ok = false;
        break;
      }
      const std::string_view tool = r.tool()->string_view();
      if (s.args.test_hooks && tool == kTestHookForbiddenSyscall) {
        // TEST-ONLY (serve --enable-test-hooks): a syscall the seccomp filter kills the worker for.
        // unshare(0) changes nothing if it were ever allowed; then the call says so.
        const long rc = ::syscall(SYS_unshare, 0);
        channel::build_status_response(s.fbb, id, wire::Status::Internal,
                                       "test hook: forbidden syscall returned " + std::to_string(rc) + " (not blocked)");
        d.ok = false;
        break;
      }
      d.tix = s.index.find(tool);
      if (s.abort_tools && tool == kTestHookAbortMidWrite && r.args_type() == wire::Args::JsonArgs) {
        nlohmann::json a;
        (void)parse_json_bounded(r.args_as_JsonArgs()->json()->string_view(), a, s.arg_limits);
        if (a.is_object() && a.value("path", nlohmann::json()).is_string() && a.value("content", nlohmann::json()).is_string())
          result = s.abort_tools->write_file(a["path"].get<std::string>(), a["content"].get<std::string>());
        else
          result = CallResult::error("test hook: needs path and content strings");
      } else if (r.roots() != nullptr && r.roots()->size() > kMaxCallRoots) {
        channel::build_status_response(s.fbb, id, wire::Status::InvalidRequest,
                                       "too many roots (limit " + std::to_string(kMaxCallRoots) + ")");
        d.ok = false;
        break;
      } else if (r.roots() != nullptr && d.tix >= 0 && tool == "list_allowed_directories") {
        result = RootedCall(s.ws, *r.roots(), s.tools.quota()).list_allowed();
      } else if (r.args_type() == wire::Args::ReadTextFileArgs || r.args_type() == wire::Args::WriteFileArgs) {
        TypedArgs ta;
        if (const auto* a = r.args_as_ReadTextFileArgs()) {
          const double h = a->head(), t = a->tail();
          ta = {TypedArgs::Shape::read_text, a->path()->string_view(), {},
                h != 0 ? std::optional<double>(h) : std::nullopt, t != 0 ? std::optional<double>(t) : std::nullopt};
        } else if (const auto* w = r.args_as_WriteFileArgs()) {
          ta = {TypedArgs::Shape::write, w->path()->string_view(), w->content()->string_view(), {}, {}};
        }
        if (r.roots() != nullptr && d.tix >= 0) {
          result = RootedCall(s.ws, *r.roots(), s.tools.quota()).run(ta.path, false, s.args.tools, [&](Tools& t) {
            return t.call_typed(tool, ta).value_or(CallResult::error("arguments do not match the tool"));
          });
        } else {
          result = s.tools.call_typed(tool, ta);
        }
        if (!result) {
          channel::build_status_response(s.fbb, id, wire::Status::InvalidRequest, "arguments do not match the tool");
          d.ok = false;
          break;
        }
      } else if (r.args_type() == wire::Args::JsonArgs || r.args_type() == wire::Args::NONE) {
        const std::string_view text = r.args_type() == wire::Args::JsonArgs ? r.args_as_JsonArgs()->json()->string_view()
                                                                            : std::string_view("{}");
        nlohmann::json args_json;
        const JsonFault fault = parse_json_bounded(text, args_json, s.arg_limits);
        if (fault == JsonFault::too_deep || fault == JsonFault::too_large) {
          result = CallResult::error("Invalid arguments for " + std::string(tool) + ": " + std::string(describe(fault)));
        } else if (fault != JsonFault::none || !args_json.is_object()) {
          result = CallResult::error("Invalid arguments for " + std::string(tool) + ": arguments must be a JSON object");
        } else if (r.roots() != nullptr && d.tix >= 0) {
          const bool multi_path = tool == "read_multiple_files" || tool == "move_file";
          result = RootedCall(s.ws, *r.roots(), s.tools.quota()).run(primary_path(args_json), multi_path, s.args.tools, [&](Tools& t) {
            return t.call(tool, args_json, tool_deadline).value_or(CallResult::error("Unknown tool: " + std::string(tool)));
          });
        } else {
          result = s.tools.call(tool, args_json, tool_deadline);
        }
      } else {
        channel::build_status_response(s.fbb, id, wire::Status::InvalidRequest, "arguments do not match the tool");
        d.ok = false;
        break;
      }
      if (!result) {
        channel::build_status_response(s.fbb, id, wire::Status::UnknownTool, "Unknown tool: " + std::string(tool));
        d.ok = false;
        break;
      }
      if (result->timed_out) {
        channel::build_status_response(s.fbb, id, wire::Status::Timeout, result->content[0].text);
        s.stats.timeouts.fetch_add(1, std::memory_order_relaxed);
        d.ok = false;
        break;
      }
      d.tool_error = result->is_error;
      build_result(s.fbb, id, *result);
      if (s.fbb.GetSize() > s.seg.max_message()) {
        channel::build_status_response(s.fbb, id, wire::Status::TooLarge,
                                       "result of " + std::string(tool) + " exceeds the channel's maximum message size");
        d.ok = false;
      }
      break;
    }
    default:
      channel::build_status_response(s.fbb, id, wire::Status::InvalidRequest,
                                     "unknown call kind " + std::to_string(static_cast<unsigned>(r.kind())));
      d.ok = false;
      break;
  }
  if (s.fbb.GetSize() == 0) {  // a path above built nothing: a bug, never a reason to send stale bytes
    channel::build_status_response(s.fbb, id, wire::Status::Internal, "no response was built for this request");
    d.ok = false;
  }
  return d;
}

// Serves calls until the process is killed.
[[noreturn]] void serve(Serving& s) {
  channel::PongBuffer pong;
  for (;;) {
    auto in = s.ep.next(s.args.policy, nullptr);
    if (!in && in.error().code == Errc::timeout) {
      // Idle long enough (a lazily started pool): give the process back; the supervisor starts
      // one again when a request waits. Between calls, so nothing is in flight here.
      s.log.debug("worker {}: idle for {} ms, exiting", s.args.index, s.args.idle_exit_ms);
      s.slot.state.store(static_cast<std::uint32_t>(channel::WorkerState::stopped), std::memory_order_release);
      _exit(0);
    }
    if (!in) {
      if (in.error().code == Errc::corrupt) s.log.warn("worker {}: hostile or corrupt lane dropped: {}", s.args.index, in.error().message);
      continue;
    }
    // Pings are answered at once from a template, without reading the clock: there is no work
    // to bound, and the reply's budget starts only if it has to wait for ring space.
    auto answer_ping = [&] {
      auto r = s.ep.reply(in->lane, in->id, pong.for_id(in->id), channel::Deadline::within(s.default_timeout), s.args.policy);
      if (!r) s.log.debug("worker {}: response to ping {} dropped: {}", s.args.index, in->id, r.error().describe());
    };
    if (channel::is_ping_request(in->bytes)) {  // the known-valid bytes: no verifier needed
      answer_ping();
      continue;
    }
    // Verifying a large request (a big write_file) takes a while too.
    if (in->bytes.size() > 4096) s.ep.hand_off_spinner();
    auto req = channel::verify_request(in->bytes);
    if (!req) {
      s.stats.corrupt_messages.fetch_add(1, std::memory_order_relaxed);
      channel::build_status_response(s.fbb, in->id, wire::Status::InvalidRequest, req.error().message);
      (void)s.ep.reply(in->lane, in->id, channel::bytes_of(s.fbb), channel::Deadline::within(s.default_timeout), s.args.policy);
      continue;
    }
    const wire::Request& r = **req;
    if (r.kind() == wire::CallKind::Ping) {  // one with other field values than ping_request_bytes()
      answer_ping();
      continue;
    }
    s.ep.hand_off_spinner();
    const std::uint64_t t0 = channel::monotonic_ns();
    std::uint64_t deadline = r.deadline_ns();
    if (deadline == 0 || deadline > t0 + s.max_timeout) deadline = t0 + (deadline == 0 ? s.default_timeout : s.max_timeout);
    if (t0 >= deadline) {
      // Expired while queued: running it now would only get this worker killed for nothing. (Its
      // reply is bounded by its own deadline; no deadline is published, so nothing kills us for
      // the one that already passed.)
      channel::build_status_response(s.fbb, in->id, wire::Status::Timeout, "the call's deadline passed before a worker could start it");
      (void)s.ep.reply(in->lane, in->id, channel::bytes_of(s.fbb), t0 + 1'000'000'000ull, s.args.policy);
      s.stats.timeouts.fetch_add(1, std::memory_order_relaxed);
      continue;
    }
    s.slot.deadline_ns.store(deadline, std::memory_order_release);

    // The tools give up a little before the call's deadline, so that a hostile input ends in this
    // worker's own Timeout answer rather than in the supervisor killing it at the deadline: a quarter
    // of the budget, at most 100 ms, is left for answering.
    const CallDeadline tool_deadline(deadline - std::min<std::uint64_t>((deadline - t0) / 4, 100'000'000ull));
    std::optional<CallResult> result;
    const Dispatched d = dispatch(s, r, in->id, tool_deadline, result);
    auto sent = s.ep.reply(in->lane, in->id, channel::bytes_of(s.fbb), deadline + 1'000'000'000ull, s.args.policy);
    s.tools.close_deferred();
    s.slot.deadline_ns.store(0, std::memory_order_release);
    if (!sent) s.log.debug("worker {}: response to call {} dropped: {}", s.args.index, in->id, sent.error().describe());
    if (d.tix >= 0) record_call(s.stats, d.tix, d.ok, d.tool_error, channel::monotonic_ns() - t0);
  }
}

}  // namespace

int worker_main(int argc, char** argv) {
  auto log = component_logger("worker");
  auto args = parse_worker_options(argc, argv);
  if (!args) {
    log->error("{}", args.error().describe());  // stderr is /dev/null under a supervisor: see the exit code
    return 2;
  }
  set_log_level(args->log_level);
  const std::shared_ptr<channel::Segment> seg = set_up(*args, *log);
  if (!seg) return 1;
  channel::WorkerSlot& slot = seg->worker(args->index);
  sandbox::Workspace ws = sandbox::Workspace::adopt(sandbox::UniqueFd(3), args->root);
  // The workspace's storage quota, shared with the supervisor and the other workers: mapped before
  // the sandbox (which allows no new shared mappings of files), its fd not needed after.
  QuotaMapping quota_map;
  std::optional<WorkspaceQuota> quota;
  if (args->quota_fd >= 0) {
    auto m = map_quota_block(args->quota_fd);
    ::close(args->quota_fd);
    if (!m) {
      log->error("worker {}: {}", args->index, m.error().describe());
      return 1;
    }
    quota_map = std::move(*m);
    quota.emplace(quota_map.block(), args->index);
  }
  Tools tools(ws, args->tools);
  tools.defer_close(true);  // closed after each reply (see Tools::defer_close)
  if (quota) tools.set_quota(&*quota);
  std::optional<Tools> abort_tools;  // TEST-ONLY (kTestHookAbortMidWrite): only with test hooks on
  if (args->test_hooks) {
    ToolOptions aborting = args->tools;
    aborting.test_abort_after_fill = true;
    abort_tools.emplace(ws, aborting);
    if (quota) abort_tools->set_quota(&*quota);
  }
  (void)Tools::list();  // build the static tools list before the sandbox limits allocation paths

  sandbox::LockdownOptions lo;
  lo.read_only = args->read_only;
  lo.allow_unsandboxed = args->allow_unsandboxed;
  lo.keep_fds = {2, seg->fd()};
#ifdef SHMCP_SANITIZER
  lo.sanitizer_runtime = true;
#endif
  auto report = sandbox::lock_down(ws, lo);
  if (!report) {
    log->critical("worker {}: refusing to serve: sandbox could not be applied: {}", args->index,
                  report.error().describe());
    return kExitSandboxFailed;
  }
  for (const auto& w : report->warnings) log->warn("worker {}: {}", args->index, w);
  slot.sandboxed.store(report->seccomp && report->landlock_abi > 0 ? 1 : 0, std::memory_order_relaxed);
  slot.state.store(static_cast<std::uint32_t>(channel::WorkerState::serving), std::memory_order_release);

  channel::ServerEndpoint ep(seg, args->index);
  // Pings are answered at once; everything else hands the spinner role to a sleeping worker
  // first (see ServerEndpoint::defer_spinner_handoff), so other lanes are not left waiting.
  ep.defer_spinner_handoff(true);
  ep.set_idle_exit(args->idle_exit_ms * 1'000'000ull);
  flatbuffers::FlatBufferBuilder fbb(64 * 1024);
  // Tool arguments are model-written: the tools validate and walk them recursively.
  Serving s{*args,
            *seg,
            slot,
            seg->stats(),
            ep,
            ws,
            tools,
            abort_tools ? &*abort_tools : nullptr,
            tool_index(),
            JsonLimits{kMaxJsonDepth, seg->max_message()},
            ws.root(),
            fbb,
            args->call_timeout_ms * 1'000'000ull,
            args->max_call_timeout_ms * 1'000'000ull,
            *log};
  serve(s);
}

}  // namespace shmcp::executor
