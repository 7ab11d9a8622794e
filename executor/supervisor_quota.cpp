// The supervisor's side of the workspace's storage quota (executor/tools/quota.hpp): creating the
// shared block, counting what the workspace holds, reporting usage. The workers enforce it.
#include <fcntl.h>

#include <cerrno>

#include "channel/base/log.hpp"
#include "executor/supervisor.hpp"

namespace shmcp::executor {

namespace {
// Fds below this are dup2 targets in a starting worker (kWorker*Fd in supervisor.cpp).
constexpr int kAboveWorkerFds = 10;

// The usage a scan found plus the reservations of writes in flight (not yet on disk, already
// counted).
QuotaUsage counted(const QuotaBlock& b, const ScanResult& r) {
  QuotaUsage u{r.bytes, r.files, 0, 0};
  for (const auto& s : b.slots) {
    u.used_bytes += s.bytes.load(std::memory_order_acquire);
    u.used_files += s.files.load(std::memory_order_acquire);
  }
  return u;
}

void log_scan(const ScanResult& r, const QuotaUsage& u, const ExecutorOptions& opt) {
  auto log = component_logger("executor");
  log->info("quota: workspace holds {} bytes in {} entries (limits: {} bytes, {} files; 0 = unlimited)", u.used_bytes,
            u.used_files, opt.quota_bytes, opt.quota_files);
  if (r.truncated)
    log->warn("quota: the workspace scan stopped short (too deep, too many entries or unreadable directories): "
              "usage is undercounted");
  if ((opt.quota_bytes != 0 && u.used_bytes > opt.quota_bytes) || (opt.quota_files != 0 && u.used_files > opt.quota_files))
    log->warn("quota: the workspace is already over its quota; writes that add to it are refused");
}
}  // namespace

Status Supervisor::start_quota() {
  auto q = create_quota_block(opt_.quota_bytes, opt_.quota_files);
  if (!q) return make_error(q.error().code, "quota: " + q.error().describe());
  quota_fd_ = UniqueFd(fcntl(q->fd(), F_DUPFD_CLOEXEC, kAboveWorkerFds));
  if (!quota_fd_) return sys_error(Errc::io, "dup quota fd", errno);
  quota_ = std::move(*q);
  const ScanResult r = scan_workspace_usage(ws_fd_.get());
  const QuotaUsage u = counted(quota_.block(), r);
  quota_.block().used_bytes.store(u.used_bytes);
  quota_.block().used_files.store(u.used_files);
  log_scan(r, u, opt_);
  return {};
}

std::optional<QuotaUsage> Supervisor::quota_usage() const {
  if (!quota_) return std::nullopt;
  QuotaUsage u = executor::quota_usage(quota_.block());
  // The limits as configured: the block is writable by the workers.
  u.limit_bytes = limit_bytes_.load();
  u.limit_files = limit_files_.load();
  return u;
}

Status Supervisor::set_quota_limits(std::uint64_t bytes, std::uint64_t files) {
  if (!quota_) return make_error(Errc::invalid_argument, "no quota block: the workspace's usage is not counted");
  limit_bytes_ = bytes;
  limit_files_ = files;
  quota_.block().limit_bytes.store(bytes);
  quota_.block().limit_files.store(files);
  component_logger("executor")->info("quota of {}: {} bytes, {} files (0 = unlimited)", opt_.workspace, bytes, files);
  return {};
}

Result<QuotaUsage> Supervisor::rescan_quota() {
  if (!quota_) return make_error(Errc::invalid_argument, "no quota is set (--quota-bytes / --quota-files)");
  const ScanResult r = scan_workspace_usage(ws_fd_.get());
  const QuotaUsage u = counted(quota_.block(), r);
  quota_.block().used_bytes.store(u.used_bytes);
  quota_.block().used_files.store(u.used_files);
  log_scan(r, u, opt_);
  return *quota_usage();
}

}  // namespace shmcp::executor
