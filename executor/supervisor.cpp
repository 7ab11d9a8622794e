#include "executor/supervisor.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <string_view>

#include "channel/base/log.hpp"
#include "channel/server_endpoint.hpp"
#include "executor/stats.hpp"
#include "executor/worker_log.hpp"
#include "executor/worker_options.hpp"

namespace shmcp::executor {

namespace {
constexpr std::uint64_t kMonitorPeriodNs = 5'000'000;     // deadline enforcement granularity
constexpr std::uint64_t kReclaimPeriodNs = 100'000'000;   // dead-client lane reclaim
constexpr std::uint64_t kStartTimeoutNs = 15'000'000'000; // worker attach + sandbox
constexpr std::uint64_t kDrainTimeoutNs = 10'000'000'000; // in-flight calls at shutdown
constexpr std::uint64_t kIdleDemandWaitNs = 1'000'000'000; // a lazy pool with no worker: its repair passes (a call wakes it at once)

void sleep_ns(std::uint64_t ns) {
  timespec ts{static_cast<time_t>(ns / 1'000'000'000ull), static_cast<long>(ns % 1'000'000'000ull)};
  nanosleep(&ts, nullptr);
}

// The fds a worker starts with: 0-2 /dev/null (opened in the child: the supervisor's stdout may
// be the MCP stdio stream and its stderr a file), 3 the workspace, 4 the control region, 5 the
// quota block (only with a quota).
constexpr int kWorkerWorkspaceFd = 3;
constexpr int kWorkerControlFd = 4;
constexpr int kWorkerQuotaFd = 5;

std::string describe_exit(int st) {
  if (WIFEXITED(st) && WEXITSTATUS(st) == kExitCgroupFailed) return "could not join its cgroup (exit code 79)";
  if (WIFSIGNALED(st)) return std::string("killed by signal ") + sigabbrev_np(WTERMSIG(st));
  if (WIFEXITED(st)) return "exited with code " + std::to_string(WEXITSTATUS(st));
  return "stopped";
}
}  // namespace

Result<std::unique_ptr<Supervisor>> Supervisor::start(const ExecutorOptions& options,
                                                     std::shared_ptr<WorkerBudget> budget) {
  auto log = component_logger("executor");
  std::unique_ptr<Supervisor> s(new Supervisor());
  s->opt_ = options;
  s->budget_ = std::move(budget);
  if (s->opt_.workers < 1 || s->opt_.workers > channel::kMaxWorkers)
    return make_error(Errc::invalid_argument, "--workers must be 1.." + std::to_string(channel::kMaxWorkers));
  if (s->opt_.worker_exe.empty()) return make_error(Errc::invalid_argument, "no worker executable");
  auto ws = sandbox::Workspace::open(s->opt_.workspace);
  if (!ws) return make_error(ws.error().code, "workspace " + s->opt_.workspace + ": " + ws.error().message);
  s->root_ = ws->root();
  s->ws_fd_ = sandbox::UniqueFd(fcntl(ws->fd(), F_DUPFD_CLOEXEC, 10));
  if (!s->ws_fd_) return sys_error(Errc::io, "dup workspace fd", errno);
  s->limit_bytes_ = s->opt_.quota_bytes;
  s->limit_files_ = s->opt_.quota_files;
  if (s->opt_.quota_bytes != 0 || s->opt_.quota_files != 0 || s->opt_.count_usage)
    if (auto st = s->start_quota(); !st) return st.error();

  channel::ChannelConfig cfg = s->opt_.channel_config;
  cfg.workers = s->opt_.workers;
  cfg.wait_mode = s->opt_.wait;
  auto seg = channel::Segment::create(s->opt_.channel, cfg);
  if (!seg) return seg.error();
  s->seg_ = std::move(*seg);
  // A client may ftruncate the segment file: the supervisor's own accesses then fault, and the
  // guard puts the size back instead of letting SIGBUS kill the executor (see restore_size).
  channel::install_truncation_guard();

  s->workers_.resize(s->opt_.workers);
  if (s->opt_.lazy_workers) {
    for (auto& w : s->workers_) w.idle = true;
    log->debug("channel '{}' for {} ready; its workers start with the first call", s->opt_.channel, s->root_);
    s->monitor_ = std::make_unique<std::thread>([p = s.get()] { p->monitor(); });
    return s;
  }
  for (std::uint32_t i = 0; i < s->opt_.workers; ++i)
    if (auto st = s->spawn(i); !st) return st.error();

  // Wait until every worker is sandboxed and serving, or report why one is not.
  const std::uint64_t give_up = channel::monotonic_ns() + kStartTimeoutNs;
  for (std::uint32_t i = 0; i < s->opt_.workers; ++i) {
    for (;;) {
      if (s->seg_->worker(i).state.load(std::memory_order_acquire) == static_cast<std::uint32_t>(channel::WorkerState::serving))
        break;
      int st = 0;
      if (waitpid(s->workers_[i].pid, &st, WNOHANG) == s->workers_[i].pid) {
        s->workers_[i].pid = -1;
        s->stopping_ = true;
        // Its reasons (a sandbox that could not be applied, ...) are in its log ring.
        drain_worker_log(s->seg_->worker_log(i), i, *component_logger("worker"));
        if (WIFEXITED(st) && WEXITSTATUS(st) == kExitSandboxFailed)
          return make_error(Errc::access_denied,
                            "refusing to start: the worker sandbox (Landlock/seccomp) could not be applied (see the log "
                            "above); pass --allow-unsandboxed to run without it");
        return make_error(Errc::internal, "worker " + std::to_string(i) + " failed to start: " + describe_exit(st));
      }
      if (channel::monotonic_ns() > give_up) {
        s->stopping_ = true;
        return make_error(Errc::timeout, "worker " + std::to_string(i) + " did not become ready");
      }
      sleep_ns(1'000'000);
    }
  }
  std::uint32_t sandboxed = 0;
  for (std::uint32_t i = 0; i < s->opt_.workers; ++i) sandboxed += s->seg_->worker(i).sandboxed.load();
  log->info("serving {} on channel '{}' with {} worker(s) ({} sandboxed{}), wait={}", s->root_, s->opt_.channel,
            s->opt_.workers, sandboxed, s->opt_.read_only ? ", read-only" : "", channel::wait_mode_name(s->opt_.wait));
  if (sandboxed != s->opt_.workers) log->warn("running WITHOUT a complete sandbox (--allow-unsandboxed)");
  s->monitor_ = std::make_unique<std::thread>([p = s.get()] { p->monitor(); });
  return s;
}

Status Supervisor::spawn(std::uint32_t index) {
  channel::WorkerSlot& slot = seg_->worker(index);
  slot.lane_plus1.store(0);
  slot.deadline_ns.store(0);
  slot.sandboxed.store(0);
  slot.generation.fetch_add(1);
  slot.started_ns.store(channel::monotonic_ns());
  slot.state.store(static_cast<std::uint32_t>(channel::WorkerState::starting), std::memory_order_release);

  // Everything the child needs is prepared before fork: between fork and exec in a threaded
  // process only async-signal-safe calls are allowed.
  WorkerOptions wo;
  wo.channel = opt_.channel;
  wo.shm_dir = opt_.channel_config.dir;
  wo.root = root_;
  wo.index = index;
  wo.control_fd = kWorkerControlFd;
  wo.quota_fd = quota_fd_ ? kWorkerQuotaFd : -1;
  wo.read_only = opt_.read_only;
  wo.allow_unsandboxed = opt_.allow_unsandboxed;
  wo.policy = {opt_.wait, opt_.spin_ns};
  wo.tools = opt_.tools;
  wo.call_timeout_ms = opt_.call_timeout_ms;
  wo.max_call_timeout_ms = opt_.max_call_timeout_ms;
  wo.log_level = opt_.log_level;
  wo.test_hooks = opt_.test_hooks;  // test-only (see kTestHookForbiddenSyscall)
  wo.idle_exit_ms = opt_.lazy_workers ? opt_.idle_stop_ms : 0;
  wo.slice_us = opt_.worker_slice_us;
  std::vector<std::string> args = to_argv(wo, opt_.worker_exe);
  std::vector<char*> argv;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  // Workers start with an empty environment: an orchestrator's secrets (API keys) in ours must
  // not reach a process that runs model-written arguments. Sanitizer builds pass their runtime's
  // options on, nothing else.
  std::vector<std::string> env;
#ifdef SHMCP_SANITIZER
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    const std::string_view kv(*e);
    const auto eq = kv.find('=');
    if (eq != std::string_view::npos && kv.substr(0, eq).ends_with("SAN_OPTIONS")) env.emplace_back(kv);
  }
#endif
  std::vector<char*> envp;
  for (auto& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);
  const int ws_fd = ws_fd_.get();
  const int control_fd = seg_->control_fd();
  const int quota_fd = quota_fd_.get();
  // The tenant's CPU group, joined by the child itself before exec, so no instruction of the
  // worker runs outside it.
  sandbox::UniqueFd cgroup;
  if (!opt_.worker_cgroup_procs.empty()) {
    cgroup = sandbox::UniqueFd(open(opt_.worker_cgroup_procs.c_str(), O_WRONLY | O_CLOEXEC));
    if (!cgroup) return sys_error(Errc::io, "open " + opt_.worker_cgroup_procs, errno);
  }
  const int cgroup_fd = cgroup.get();

  const pid_t pid = fork();
  if (pid < 0) return sys_error(Errc::io, "fork worker", errno);
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    if (cgroup_fd >= 0 && write(cgroup_fd, "0", 1) != 1) _exit(kExitCgroupFailed);
    // Async-signal-safe calls only. None of the supervisor's descriptors survives but these
    // (everything else is close-on-exec); stdio becomes /dev/null.
    const int null_fd = open("/dev/null", O_RDWR);
    if (null_fd < 0) _exit(126);
    for (int fd = 0; fd <= 2; ++fd)
      if (null_fd != fd && dup2(null_fd, fd) < 0) _exit(126);
    if (dup2(ws_fd, kWorkerWorkspaceFd) < 0) _exit(126);  // the worker adopts the workspace as fd 3
    if (dup2(control_fd, kWorkerControlFd) < 0) _exit(126);  // and maps the control region from fd 4
    if (quota_fd >= 0 && dup2(quota_fd, kWorkerQuotaFd) < 0) _exit(126);  // and the quota block from fd 5
    if (null_fd > kWorkerQuotaFd) close(null_fd);
    execve(argv[0], argv.data(), envp.data());
    _exit(127);
  }
  std::lock_guard lock(mu_);
  workers_[index].pid = pid;
  workers_[index].killed_for_deadline = false;
  workers_[index].last_spawn_ns = channel::monotonic_ns();
  return {};
}

void Supervisor::on_worker_exit(std::uint32_t index, int st) {
  auto log = component_logger("executor");
  channel::StatsBlock& stats = seg_->stats();
  Worker& w = workers_[index];
  seg_->worker(index).state.store(static_cast<std::uint32_t>(channel::WorkerState::dead), std::memory_order_release);
  drain_worker_log(seg_->worker_log(index), index, *component_logger("worker"));  // its last words
  const std::uint32_t busy_lane = seg_->worker(index).lane_plus1.load();
  wire::Status status = wire::Status::WorkerDied;
  std::string why;
  if (w.killed_for_deadline) {
    status = wire::Status::Timeout;
    why = "the call exceeded its deadline; its worker was killed";
  } else if (WIFSIGNALED(st) && WTERMSIG(st) == SIGSYS) {
    stats.sandbox_violations.fetch_add(1, std::memory_order_relaxed);
    why = "the worker was killed by the sandbox (seccomp) while running this call";
    log->error("worker {} (pid {}) killed by seccomp (SIGSYS): sandbox violation", index, w.pid);
  } else {
    why = "the worker running this call died (" + describe_exit(st) + ")";
    log->error("worker {} (pid {}) {}", index, w.pid, describe_exit(st));
  }
  if (busy_lane != 0) log->warn("worker {} died with a call in flight on lane {}: answering '{}'", index, busy_lane - 1, why);
  channel::answer_for_dead_worker(*seg_, index, status, why);
  // The write it died in never happened (or left only an unnamed file): its reservation goes back.
  if (quota_) reclaim_slot(quota_.block(), index);
  w.pid = -1;
}

void Supervisor::monitor() {
  auto log = component_logger("executor");
  auto worker_log = component_logger("worker");
  std::uint64_t next_reclaim = 0, next_header_warning = 0, next_owner_warning = 0;
  std::vector<std::uint64_t> respawn_at(workers_.size(), 0);
  while (!stopping_.load()) {
    if (opt_.lazy_workers && workers_alive() == 0 && !draining_.load()) wait_for_demand(kIdleDemandWaitNs);
    else sleep_ns(kMonitorPeriodNs);
    const std::uint64_t now = channel::monotonic_ns();
    seg_->heartbeat();
    if (seg_->restore_size()) {
      seg_->stats().segment_resizes.fetch_add(1, std::memory_order_relaxed);
      log->warn("channel segment {} was resized (by a client?): put its size back; clients reconnect",
                channel::segment_path(opt_.channel));
    }
    if (const std::uint32_t n = seg_->repair_header(); n > 0) {
      seg_->stats().header_repairs.fetch_add(n, std::memory_order_relaxed);
      if (now >= next_header_warning) {  // at most once a second: a client may keep at it
        log->warn("channel header overwritten (by a client?): put it back (shmcp_header_repairs_total counts)");
        next_header_warning = now + 1'000'000'000ull;
      }
    }
    for (std::uint32_t i = 0; i < workers_.size(); ++i) drain_worker_log(seg_->worker_log(i), i, *worker_log);
    for (std::uint32_t i = 0; i < workers_.size(); ++i) {
      Worker& w = workers_[i];
      if (w.pid > 0) {
        int st = 0;
        if (waitpid(w.pid, &st, WNOHANG) == w.pid) {
          std::lock_guard lock(mu_);
          if (w.budgeted) budget_->release();
          w.budgeted = false;
          if (WIFEXITED(st) && WEXITSTATUS(st) == 0 &&
              seg_->worker(i).state.load(std::memory_order_acquire) == static_cast<std::uint32_t>(channel::WorkerState::stopped)) {
            // Exited on its own between calls after its idle period: nothing was in flight.
            if (quota_) reclaim_slot(quota_.block(), i);
            log->debug("worker {} (pid {}) of channel '{}' stopped after {} ms idle", i, w.pid, opt_.channel, opt_.idle_stop_ms);
            w.pid = -1;
            w.idle = true;
            continue;
          }
          on_worker_exit(i, st);
          // Crash loops back off (10 ms doubling to 2 s); a worker that lived a while respawns at once.
          w.quick_deaths = now - w.last_spawn_ns < 1'000'000'000ull ? w.quick_deaths + 1 : 0;
          const std::uint64_t delay = w.quick_deaths == 0 ? 0 : std::min<std::uint64_t>(10'000'000ull << std::min(w.quick_deaths, 8u), 2'000'000'000ull);
          respawn_at[i] = now + delay;
          continue;
        }
        const std::uint64_t dl = seg_->worker(i).deadline_ns.load(std::memory_order_acquire);
        if (dl != 0 && now > dl && !w.killed_for_deadline) {
          log->warn("worker {} (pid {}) passed its call's deadline by {} ms: killing it", i, w.pid, (now - dl) / 1'000'000);
          w.killed_for_deadline = true;
          seg_->stats().timeouts.fetch_add(1, std::memory_order_relaxed);
          kill(w.pid, SIGKILL);
        }
      } else if (w.idle) {
        if (stopping_.load() || draining_.load() || !request_waiting()) continue;
        if (budget_ && !budget_->try_acquire()) continue;  // the executor's worker cap: the call waits
        w.budgeted = budget_ != nullptr;
        w.idle = false;
        if (auto s = spawn(i); !s) {
          log->error("cannot start worker {} of channel '{}': {}", i, opt_.channel, s.error().describe());
          if (w.budgeted) budget_->release();
          w.budgeted = false;
          w.idle = true;
        } else {
          log->debug("started worker {} (pid {}) of channel '{}' for a waiting call", i, workers_[i].pid, opt_.channel);
        }
      } else if (!stopping_.load() && !draining_.load() && now >= respawn_at[i]) {
        if (budget_ && !w.budgeted) {
          if (!budget_->try_acquire()) continue;
          w.budgeted = true;
        }
        restarts_.fetch_add(1);
        seg_->stats().worker_restarts.fetch_add(1, std::memory_order_relaxed);
        if (auto s = spawn(i); !s) log->error("cannot respawn worker {}: {}", i, s.error().describe());
        else log->info("respawned worker {} (pid {})", i, workers_[i].pid);
      }
    }
    // Server-owner words no live worker's claim matches (written by a client) would keep every
    // worker away from those lanes for good. Reaped workers' lanes were freed at reap time. The
    // lanes below the high-water mark (the ones clients use; repair_header just put a lowered
    // mark back) are looked at every pass, so a client whose lane was overwritten is served again
    // within milliseconds; all of them with the reclaim below.
    const bool full_pass = now >= next_reclaim;
    const std::uint32_t owners_below = full_pass ? seg_->lane_count() : seg_->header().lanes_high_water.load(std::memory_order_acquire);
    if (auto n = channel::repair_lane_owners(*seg_, owners_below); n > 0) {
      seg_->stats().lane_owner_repairs.fetch_add(n, std::memory_order_relaxed);
      if (now >= next_owner_warning) {
        log->warn("freed {} lane(s) whose server owner no worker held (overwritten by a client?)", n);
        next_owner_warning = now + 1'000'000'000ull;
      }
    }
    if (full_pass) {
      next_reclaim = now + kReclaimPeriodNs;
      if (auto n = channel::reclaim_dead_clients(*seg_); n > 0) log->info("reclaimed {} lane(s) from dead clients", n);
    }
  }
}

bool Supervisor::request_waiting() const {
  // lanes_high_water is client-written: a client lowering it hides only its own trust domain's
  // requests (one segment, one tenant), which then wait for their deadline.
  const std::uint32_t hw = std::min(seg_->header().lanes_high_water.load(std::memory_order_acquire), seg_->lane_count());
  for (std::uint32_t l = 0; l < hw; ++l)
    if (seg_->lane(l).server_owner.load(std::memory_order_relaxed) == 0 && seg_->request_ring(l).readable()) return true;
  return false;
}

void Supervisor::wait_for_demand(std::uint64_t ns) {
  channel::SegmentHeader& h = seg_->header();
  // The worker's sleeping protocol (ServerEndpoint::wait_for_lane): announce, then look, then
  // sleep on the doorbell value seen before looking, so a client that publishes after the look
  // sees a sleeper and rings.
  h.sleepers.fetch_add(1, std::memory_order_seq_cst);
  const std::uint32_t seen = h.doorbell.load(std::memory_order_seq_cst);
  if (!request_waiting() && !stopping_.load()) channel::futex_wait(&h.doorbell, seen, ns);
  h.sleepers.fetch_sub(1, std::memory_order_seq_cst);
}

std::uint32_t Supervisor::workers_alive() const {
  std::lock_guard lock(mu_);
  std::uint32_t n = 0;
  for (const auto& w : workers_) n += w.pid > 0;
  return n;
}

std::vector<pid_t> Supervisor::worker_pids() const {
  std::lock_guard lock(mu_);
  std::vector<pid_t> out;
  for (const auto& w : workers_) out.push_back(w.pid);
  return out;
}

std::string Supervisor::metrics_text() const {
  std::uint32_t alive = 0, in_use = 0;
  constexpr auto kServing = static_cast<std::uint32_t>(channel::WorkerState::serving);
  for (std::uint32_t i = 0; i < seg_->worker_count(); ++i) alive += seg_->worker(i).state.load() == kServing;
  const std::uint32_t hw = std::min(seg_->header().lanes_high_water.load(), seg_->lane_count());
  for (std::uint32_t i = 0; i < hw; ++i) in_use += seg_->lane(i).claimed.load() != 0;
  std::string text = prometheus_text(seg_->stats(), restarts_.load(), alive, in_use);
  if (const auto q = quota_usage()) text += quota_prometheus_text(*q);
  return text;
}

void Supervisor::stop() {
  auto log = component_logger("executor");
  // The monitor keeps running while calls drain: it still enforces deadlines and reaps (and
  // answers for) workers that die, and, above all, a worker it respawned has PR_SET_PDEATHSIG tied
  // to the monitor *thread*, so joining the monitor first killed every respawned worker mid-call
  // (its client got no answer and the drain waited its full 10 s). It only stops respawning.
  draining_.store(true);
  if (seg_) {
    // Let calls already queued or running finish; new calls are refused with "shutting down".
    seg_->mark_closing();
    const std::uint64_t give_up = channel::monotonic_ns() + kDrainTimeoutNs;
    for (;;) {
      bool busy = false, alive = false;
      {
        std::lock_guard lock(mu_);  // the monitor updates pids concurrently
        for (std::uint32_t i = 0; i < workers_.size(); ++i) {
          alive = alive || workers_[i].pid > 0;
          if (workers_[i].pid > 0 && seg_->worker(i).lane_plus1.load() != 0) busy = true;
        }
      }
      // Queued requests are worth waiting for only if a worker will take them (a lazy pool
      // starts none while draining: they end with the segment, their clients see it close).
      const std::uint32_t hw = std::min(seg_->header().lanes_high_water.load(), seg_->lane_count());
      for (std::uint32_t l = 0; l < hw && !busy && alive; ++l) busy = seg_->request_ring(l).readable();
      if (!busy || channel::monotonic_ns() > give_up) break;
      sleep_ns(2'000'000);
    }
  }
  stopping_.store(true);
  if (seg_) {  // a lazy pool's monitor may be asleep on the doorbell (wait_for_demand)
    seg_->header().doorbell.fetch_add(1, std::memory_order_seq_cst);
    channel::futex_wake(&seg_->header().doorbell, INT32_MAX);
  }
  if (monitor_ && monitor_->joinable()) monitor_->join();
  monitor_.reset();
  if (!seg_) return;
  for (auto& w : workers_)
    if (w.pid > 0) kill(w.pid, SIGKILL);
  for (auto& w : workers_) {
    if (w.pid > 0) {
      int st = 0;
      waitpid(w.pid, &st, 0);
      w.pid = -1;
    }
    if (w.budgeted) budget_->release();
    w.budgeted = false;
  }
  log->info("stopped; removing {}", seg_->path());
  seg_.reset();
}

Supervisor::~Supervisor() { stop(); }

}  // namespace shmcp::executor
