#include "channel/segment.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <random>

#include "channel/base/log.hpp"

namespace shmcp::channel {

namespace {
// The header's fixed fields (everything before `state`) as 64-bit words, for repair_header.
constexpr std::size_t kFixedHeaderWords = offsetof(SegmentHeader, state) / sizeof(std::uint64_t);
static_assert(offsetof(SegmentHeader, state) % sizeof(std::uint64_t) == 0);
static_assert(alignof(SegmentHeader) >= alignof(std::uint64_t));
}  // namespace

// The segment file's descriptor and its MAP_SHARED mapping. The file is opened like shm_open
// does (O_NOFOLLOW | O_CLOEXEC), but in any directory: /dev/shm by default, or one both sides
// mount (a Memory emptyDir, a compose or ECS task volume). Same bytes, same locks either way.
struct Segment::Mapping {
  int fd = -1;
  void* addr = MAP_FAILED;
  std::size_t len = 0;
  Mapping() = default;
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping() {
    if (addr != MAP_FAILED) munmap(addr, len);
    if (fd >= 0) close(fd);
  }
};

namespace {

constexpr std::uint64_t align_up(std::uint64_t v, std::uint64_t a) { return (v + a - 1) / a * a; }

struct Geometry {
  std::uint64_t lanes_off, lane_stride, total;
};

Geometry geometry(std::uint32_t lanes, std::uint32_t slots, std::uint32_t slot_size) {
  Geometry g{};
  g.lanes_off = align_up(sizeof(SegmentHeader), 4096);
  g.lane_stride = align_up(sizeof(LaneControl) + 2ull * slots * slot_size, kCacheLine);
  g.total = g.lanes_off + g.lane_stride * lanes;
  return g;
}

Status validate_geometry(std::uint32_t lanes, std::uint32_t slots, std::uint32_t slot_size,
                         std::uint32_t max_message, std::uint32_t workers) {
  if (lanes < 1 || lanes > kMaxLanes) return make_error(Errc::invalid_argument, "lanes must be 1.." + std::to_string(kMaxLanes));
  if (slots < 2 || slots > 65536) return make_error(Errc::invalid_argument, "slots per ring must be 2..65536");
  if (slot_size < 128 || slot_size > (1u << 24) || slot_size % kCacheLine != 0)
    return make_error(Errc::invalid_argument, "slot size must be a multiple of 64 in 128..16777216");
  if (max_message < 1 || max_message > (1u << 30)) return make_error(Errc::invalid_argument, "max message must be 1..1073741824");
  if (workers < 1 || workers > kMaxWorkers) return make_error(Errc::invalid_argument, "workers must be 1.." + std::to_string(kMaxWorkers));
  if (geometry(lanes, slots, slot_size).total > (64ull << 30)) return make_error(Errc::invalid_argument, "segment would exceed 64 GiB");
  return {};
}

std::string shm_name(std::string_view name) { return "shmcp." + std::string(name); }

// An open file description of the segment file, closed with its last owner (lane leases and the
// executor's lease hold one each).
struct FileHolder {
  int fd = -1;
  explicit FileHolder(int f) : fd(f) {}
  FileHolder(const FileHolder&) = delete;
  FileHolder& operator=(const FileHolder&) = delete;
  ~FileHolder() {
    if (fd >= 0) close(fd);
  }
};

// Opens an existing segment file read-write. Never follows a symlink in the last component and
// refuses anything but a regular file: the directory may be writable by the other side. Returns
// -1 with errno set (ELOOP for a symlink, EINVAL for a non-regular file).
int open_existing(const std::string& path) {
  const int fd = open(path.c_str(), O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return -1;
  struct stat st {};
  const int err = fstat(fd, &st) != 0 ? errno : S_ISREG(st.st_mode) ? 0 : EINVAL;
  if (err != 0) {
    close(fd);
    errno = err;
    return -1;
  }
  return fd;
}

// OFD locks: owned by the open file description, not the pid (see channel.hpp).
struct flock one_byte(short type, off_t byte) {
  struct flock fl {};
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  fl.l_start = byte;
  fl.l_len = 1;
  return fl;
}

bool ofd_try_lock(int fd, off_t byte) {
  struct flock fl = one_byte(F_WRLCK, byte);
  return fcntl(fd, F_OFD_SETLK, &fl) == 0;
}

void ofd_unlock(int fd, off_t byte) {
  struct flock fl = one_byte(F_UNLCK, byte);
  fcntl(fd, F_OFD_SETLK, &fl);
}

// True if some other open file description holds a lock on `byte`. On fcntl failure we answer
// "locked" (alive): a spurious "dead" would make us reclaim a live peer's lane.
bool ofd_locked(int fd, off_t byte) {
  struct flock fl = one_byte(F_WRLCK, byte);
  if (fcntl(fd, F_OFD_GETLK, &fl) != 0) return true;
  return fl.l_type != F_UNLCK;
}

constexpr off_t kExecutorLockByte = 0;
constexpr off_t lane_lock_byte(std::uint32_t lane) { return 1 + static_cast<off_t>(lane); }

std::uint64_t random_u64() {
  std::random_device rd;
  return (static_cast<std::uint64_t>(rd()) << 32) ^ rd();
}

}  // namespace

// ---- truncation guard ---------------------------------------------------------------------------
// A fixed table the SIGBUS handler reads without locks: a slot is published by storing `base` last
// (release) and retired by clearing `base` first.
namespace {
struct GuardSlot {
  std::atomic<std::uintptr_t> base{0};
  std::atomic<std::uint64_t> len{0};
  std::atomic<int> fd{-1};  // the owner's read-write fd (it may put the size back); -1 otherwise
};
constexpr int kGuardSlots = 32;
GuardSlot g_guard[kGuardSlots];
std::atomic<std::uint64_t> g_fault_burst_start{0}, g_fault_last{0};
// Set when the handler put an owner's size back: restore_size must still re-epoch (the pages past
// the cut came back zeroed) although it finds the size right.
std::atomic<bool> g_regrown_by_guard{false};
// Faults this process's guard waited out or repaired: an access that faulted read (or wrote) a
// page the truncation had zeroed, so whatever it copied may be zeros (see truncation_faults()).
std::atomic<std::uint64_t> g_guard_faults{0};
constexpr std::uint64_t kFaultGiveUpNs = 2'000'000'000ull;

std::uint64_t mono_now() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);  // async-signal-safe
  return static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<std::uint64_t>(ts.tv_nsec);
}

// Async-signal-safe only: fstat, ftruncate, fallocate, mmap, clock_gettime, nanosleep, sigaction.
void on_sigbus(int, siginfo_t* si, void*) {
  const auto addr = reinterpret_cast<std::uintptr_t>(si->si_addr);
  for (auto& g : g_guard) {
    const std::uintptr_t base = g.base.load(std::memory_order_acquire);
    if (base <= 1 || addr < base || addr - base >= g.len.load(std::memory_order_relaxed)) continue;
    const int fd = g.fd.load(std::memory_order_relaxed);
    if (fd >= 0) {
      // The owner: put the size back and retry the access. If the size was right, the fault
      // is tmpfs failing to back a page a regrow left sparse: reserve again; if even that fails,
      // back the page privately so this process survives (restore_size re-reserves later).
      const auto len = static_cast<off_t>(g.len.load(std::memory_order_relaxed));
      g_guard_faults.fetch_add(1, std::memory_order_relaxed);
      struct stat st {};
      if (fstat(fd, &st) == 0 && st.st_size != len) {
        // Before the size comes back, the epoch moves (where the header survived the cut): a
        // party that reads a zeroed page after the regrow then also sees a new epoch and drops
        // what it read. restore_size picks the real new epoch at its next pass.
        if (st.st_size >= static_cast<off_t>(sizeof(SegmentHeader))) {
          auto* word = reinterpret_cast<std::uint64_t*>(base + offsetof(SegmentHeader, epoch));
          __atomic_store_n(word, __atomic_load_n(word, __ATOMIC_RELAXED) ^ 0x9E3779B97F4A7C15ull, __ATOMIC_SEQ_CST);
        }
        if (ftruncate(fd, len) == 0) {
          g_regrown_by_guard.store(true, std::memory_order_relaxed);
          return;
        }
      }
      if (syscall(SYS_fallocate, fd, 0, static_cast<off_t>(0), len) == 0) return;
      const std::uintptr_t page = addr & ~static_cast<std::uintptr_t>(4095);
      if (mmap(reinterpret_cast<void*>(page), 4096, PROT_READ | PROT_WRITE, MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) !=
          MAP_FAILED)
        return;
      break;
    }
    // Not the owner: wait for it to put the size back, within a bound.
    g_guard_faults.fetch_add(1, std::memory_order_relaxed);
    const std::uint64_t now = mono_now();
    if (now - g_fault_last.load(std::memory_order_relaxed) > 100'000'000ull) g_fault_burst_start.store(now, std::memory_order_relaxed);
    g_fault_last.store(now, std::memory_order_relaxed);
    if (now - g_fault_burst_start.load(std::memory_order_relaxed) > kFaultGiveUpNs) break;
    timespec ms{0, 1'000'000};
    nanosleep(&ms, nullptr);
    return;
  }
  // Not ours, or given up: the default action on the retried access.
  struct sigaction dfl {};
  dfl.sa_handler = SIG_DFL;
  sigaction(SIGBUS, &dfl, nullptr);
}
}  // namespace

void install_truncation_guard() {
  static std::once_flag once;
  std::call_once(once, [] {
    struct sigaction sa {};
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO | SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGBUS, &sa, nullptr) != 0)
      component_logger("channel")->error("sigaction(SIGBUS) failed: {}", errno_name(errno));
  });
}

std::uint64_t truncation_faults() noexcept { return g_guard_faults.load(std::memory_order_acquire); }

void Segment::register_guard() noexcept {
  for (int i = 0; i < kGuardSlots; ++i) {
    std::uintptr_t none = 0;
    // Claim with a placeholder (1 never matches: len is set after), then fill, then publish.
    if (!g_guard[i].base.compare_exchange_strong(none, 1, std::memory_order_acq_rel)) continue;
    g_guard[i].len.store(size_, std::memory_order_relaxed);
    g_guard[i].fd.store(owner_ ? fd_ : -1, std::memory_order_relaxed);
    g_guard[i].base.store(reinterpret_cast<std::uintptr_t>(base_), std::memory_order_release);
    guard_slot_ = i;
    return;
  }
  // More live mappings than slots: this one is unguarded (faults keep their default action).
}

void Segment::unregister_guard() noexcept {
  if (guard_slot_ < 0) return;
  g_guard[guard_slot_].base.store(1, std::memory_order_release);
  g_guard[guard_slot_].fd.store(-1, std::memory_order_relaxed);
  g_guard[guard_slot_].base.store(0, std::memory_order_release);
  guard_slot_ = -1;
}

Status validate_name(std::string_view name) {
  if (name.empty() || name.size() > 200) return make_error(Errc::invalid_argument, "channel name must be 1-200 characters");
  if (name.front() == '.') return make_error(Errc::invalid_argument, "channel name must not start with '.'");
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok) return make_error(Errc::invalid_argument, "channel name may contain only letters, digits, '.', '_' and '-'");
  }
  return {};
}

Status validate_shm_dir(std::string_view dir) {
  if (dir.empty() || dir.front() != '/')
    return make_error(Errc::invalid_argument, "shm directory must be an absolute path, got '" + std::string(dir) + "'");
  if (dir.find('\0') != std::string_view::npos) return make_error(Errc::invalid_argument, "shm directory contains a NUL byte");
  if (dir.size() > 3000) return make_error(Errc::invalid_argument, "shm directory path is too long");
  return {};
}

std::string segment_path(std::string_view name, std::string_view dir) {
  std::string p(dir);
  while (p.size() > 1 && p.back() == '/') p.pop_back();
  if (p.back() != '/') p += '/';
  return p + shm_name(name);
}

std::uint64_t segment_size(const ChannelConfig& cfg) {
  return geometry(cfg.lanes, cfg.slots_per_ring, cfg.slot_size).total;
}

Result<std::shared_ptr<Segment>> Segment::create(const std::string& name, const ChannelConfig& cfg) {
  auto log = component_logger("channel");
  if (auto s = validate_name(name); !s) return s.error();
  if (auto s = validate_shm_dir(cfg.dir); !s) return s.error();
  if (auto s = validate_geometry(cfg.lanes, cfg.slots_per_ring, cfg.slot_size, cfg.max_message, cfg.workers); !s)
    return s.error();
  const std::string path = segment_path(name, cfg.dir);
  const Geometry g = geometry(cfg.lanes, cfg.slots_per_ring, cfg.slot_size);

  // A segment left by a dead executor has a free lease: remove it. A held lease means a live
  // executor already serves this channel. Anything else by that name (a symlink, a FIFO: the
  // directory may be writable by clients) is removed too; unlink never follows it.
  if (const int old = open_existing(path); old >= 0) {
    const bool live = ofd_locked(old, kExecutorLockByte);
    close(old);
    if (live) return make_error(Errc::busy, "channel '" + name + "' is already served by a live executor (" + path + ")");
    if (unlink(path.c_str()) != 0 && errno != ENOENT) return sys_error(Errc::io, "cannot remove stale " + path, errno);
    log->warn("removed stale segment {} left by a dead executor", path);
  } else if (errno == ELOOP || errno == EINVAL) {
    if (unlink(path.c_str()) != 0 && errno != ENOENT) return sys_error(Errc::io, "cannot remove " + path, errno);
    log->warn("removed {}: not a regular file (a symlink or special file planted by name)", path);
  } else if (const int err = errno; err != ENOENT) {
    return sys_error(err == EACCES || err == EPERM ? Errc::access_denied : Errc::io, "cannot inspect existing " + path, err);
  }

  auto seg = std::shared_ptr<Segment>(new Segment());
  seg->name_ = name;
  auto control = ControlRegion::create();
  if (!control) return control.error();
  seg->control_ = std::move(*control);
  seg->path_ = path;
  seg->map_ = std::make_unique<Mapping>();
  Mapping& m = *seg->map_;
  m.fd = open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, cfg.mode);
  if (m.fd < 0) {
    const int err = errno;
    if (err == EEXIST) return make_error(Errc::busy, "channel '" + name + "' was created concurrently by another executor");
    if (err == ENOENT) return sys_error(Errc::not_found, "cannot create " + path + " (does " + cfg.dir + " exist?)", err);
    if (err == EACCES || err == EPERM || err == EROFS)
      return sys_error(Errc::access_denied, "cannot create " + path + " (is " + cfg.dir + " writable by this uid?)", err);
    return sys_error(Errc::io, "cannot create " + path, err);
  }
  // Past this point every failure unlinks the file it created (`m` closes and unmaps): one
  // cleanup for every error path, dismissed once the segment is ready.
  struct UnlinkOnError {
    const std::string& path;
    bool dismissed = false;
    ~UnlinkOnError() {
      if (!dismissed) unlink(path.c_str());
    }
  } cleanup{path};
  // open() applies the umask; the requested mode is the contract.
  if (fchmod(m.fd, cfg.mode) != 0) return sys_error(Errc::io, "fchmod " + path, errno);
  if (cfg.group && fchown(m.fd, static_cast<uid_t>(-1), *cfg.group) != 0)
    return sys_error(Errc::access_denied, "fchown " + path + " to group " + std::to_string(*cfg.group), errno);
  // Reserve every block now: on a full tmpfs or volume a later first touch would be SIGBUS.
  if (int err = posix_fallocate(m.fd, 0, static_cast<off_t>(g.total)); err != 0) {
    if (err == ENOSPC || err == EFBIG)
      return make_error(Errc::too_large,
                             cfg.dir + " is too small for channel '" + name + "': the segment " + path + " needs " +
                                 std::to_string(g.total) +
                                 " bytes (raise shm_size / the emptyDir sizeLimit / the volume's size, or lower "
                                 "--lanes/--slots/--slot-size)",
                             err);
    return sys_error(Errc::io, "posix_fallocate " + path, err);
  }
  m.len = static_cast<std::size_t>(g.total);
  m.addr = mmap(nullptr, m.len, PROT_READ | PROT_WRITE, MAP_SHARED, m.fd, 0);
  if (m.addr == MAP_FAILED) return sys_error(Errc::io, "mmap " + path, errno);
  seg->fd_ = m.fd;
  seg->base_ = static_cast<std::byte*>(m.addr);
  seg->size_ = g.total;
  seg->owner_ = true;

  // The lease lives on its own open file description so that worker processes, which keep the
  // mapping fd for client liveness checks, never extend the executor's lease.
  const int lease_fd = open_existing(path);
  if (lease_fd < 0) return sys_error(Errc::io, "cannot open the lease on " + path, errno);
  auto lease = std::make_shared<FileHolder>(lease_fd);
  if (!ofd_try_lock(lease_fd, kExecutorLockByte))
    return sys_error(Errc::busy, "cannot take the executor lease on " + path, errno);
  seg->lease_ = lease;

  do seg->epoch_ = random_u64();
  while (seg->epoch_ == 0);  // 0 is what a zeroed header reads (see restore_size)
  seg->lanes_ = cfg.lanes;
  seg->slots_ = cfg.slots_per_ring;
  seg->slot_size_ = cfg.slot_size;
  seg->max_message_ = cfg.max_message;
  seg->workers_ = cfg.workers;
  seg->lanes_off_ = g.lanes_off;
  seg->lane_stride_ = g.lane_stride;
  seg->wait_mode_ = cfg.wait_mode;

  // posix_fallocate zero-filled the pages: every atomic starts at 0, which is each field's idle state.
  SegmentHeader& h = seg->header();
  h.magic = kMagic;
  h.abi_version = kAbiVersion;
  h.header_size = sizeof(SegmentHeader);
  h.layout_hash = layout_hash();
  h.epoch = seg->epoch_;
  h.total_size = g.total;
  h.lane_count = cfg.lanes;
  h.slots_per_ring = cfg.slots_per_ring;
  h.slot_size = cfg.slot_size;
  h.max_message = cfg.max_message;
  h.worker_count = cfg.workers;
  h.wait_mode = static_cast<std::uint32_t>(cfg.wait_mode);
  h.reserved0 = 0;
  h.reserved1 = 0;
  h.lanes_offset = g.lanes_off;
  h.lane_stride = g.lane_stride;
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  h.created_realtime_ns = static_cast<std::uint64_t>(ts.tv_sec) * 1'000'000'000ull + static_cast<std::uint64_t>(ts.tv_nsec);
  seg->heartbeat();
  seg->created_realtime_ns_ = h.created_realtime_ns;
  const auto* fixed = reinterpret_cast<const std::uint64_t*>(&h);
  seg->header_copy_.assign(fixed, fixed + kFixedHeaderWords);
  h.state.store(static_cast<std::uint32_t>(SegmentState::ready), std::memory_order_release);
  seg->register_guard();
  cleanup.dismissed = true;
  log->info("created channel '{}' at {} ({} lanes, {} x {} B slots per ring, max message {} B, {} bytes, mode {:o})",
            name, path, cfg.lanes, cfg.slots_per_ring, cfg.slot_size, cfg.max_message, g.total,
            static_cast<unsigned>(cfg.mode));
  return seg;
}

Result<std::shared_ptr<Segment>> Segment::attach(const std::string& name, std::uint64_t wait_ready_ns,
                                                 const std::string& dir) {
  if (auto s = validate_name(name); !s) return s.error();
  if (auto s = validate_shm_dir(dir); !s) return s.error();
  const std::string path = segment_path(name, dir);
  const std::uint64_t give_up = monotonic_ns() + wait_ready_ns;
  for (;;) {
    auto seg = std::shared_ptr<Segment>(new Segment());
    seg->name_ = name;
    seg->path_ = path;
    seg->map_ = std::make_unique<Mapping>();
    Mapping& m = *seg->map_;
    m.fd = open_existing(path);
    if (m.fd < 0) {
      const int err = errno;
      if (err == ENOENT) {
        if (monotonic_ns() < give_up) { usleep(5000); continue; }
        return make_error(Errc::not_found,
                          "no channel '" + name + "': " + path + " does not exist (is the executor running, and do both sides " +
                              (dir == kDefaultShmDir ? std::string("share /dev/shm?)") : "mount " + dir + "?)"),
                          err);
      }
      if (err == EACCES || err == EPERM)
        return make_error(Errc::access_denied, "permission denied opening " + path +
                                                   " (run both sides as the same uid, or give the executor --shm-group)",
                          err);
      if (err == ELOOP || err == EINVAL)
        return make_error(Errc::corrupt, path + " is not a shmcp channel (a symlink or not a regular file)", err);
      return sys_error(Errc::io, "cannot open " + path, err);
    }
    struct stat st {};
    if (fstat(m.fd, &st) != 0) return sys_error(Errc::io, "cannot stat " + path, errno);
    const auto size = static_cast<std::uint64_t>(st.st_size);
    if (size < sizeof(SegmentHeader)) {
      if (monotonic_ns() < give_up) { usleep(5000); continue; }
      return make_error(Errc::corrupt, path + " is too small to be a shmcp channel");
    }
    m.len = static_cast<std::size_t>(size);
    m.addr = mmap(nullptr, m.len, PROT_READ | PROT_WRITE, MAP_SHARED, m.fd, 0);
    if (m.addr == MAP_FAILED) return sys_error(Errc::io, "mmap " + path, errno);
    seg->fd_ = m.fd;
    seg->base_ = static_cast<std::byte*>(m.addr);
    seg->size_ = size;
    const SegmentHeader& h = seg->header();
    const auto state = static_cast<SegmentState>(h.state.load(std::memory_order_acquire));
    if (state == SegmentState::initializing) {
      if (monotonic_ns() < give_up) { usleep(2000); continue; }
      return make_error(Errc::not_found, "channel '" + name + "' is still being initialised");
    }
    // Copy the geometry out before checking it, then check the copy: the executor could change the
    // header under us.
    const std::uint64_t magic = h.magic, lhash = h.layout_hash, total = h.total_size;
    const std::uint32_t abi = h.abi_version, hsize = h.header_size, lanes = h.lane_count,
                        slots = h.slots_per_ring, slot_size = h.slot_size, max_msg = h.max_message,
                        workers = h.worker_count, wmode = h.wait_mode;
    const std::uint64_t loff = h.lanes_offset, stride = h.lane_stride;
    if (magic != kMagic) return make_error(Errc::version_mismatch, path + " is not a shmcp channel (bad magic)");
    if (abi != kAbiVersion)
      return make_error(Errc::version_mismatch, "channel '" + name + "' speaks ABI version " + std::to_string(abi) +
                                                    ", this build speaks " + std::to_string(kAbiVersion) +
                                                    " (upgrade the older side)");
    if (lhash != layout_hash() || hsize != sizeof(SegmentHeader))
      return make_error(Errc::version_mismatch, "channel '" + name + "' has a different memory layout (layout hash mismatch)");
    if (auto s = validate_geometry(lanes, slots, slot_size, max_msg, workers); !s)
      return make_error(Errc::corrupt, "channel header has invalid geometry: " + s.error().message);
    const Geometry g = geometry(lanes, slots, slot_size);
    if (g.total != total || total != seg->size_ || loff != g.lanes_off || stride != g.lane_stride)
      return make_error(Errc::corrupt, "channel header sizes do not match the segment");
    if (wmode > 2) return make_error(Errc::corrupt, "channel header has an invalid wait mode");
    if (state == SegmentState::closing) return make_error(Errc::closed, "channel '" + name + "' is shutting down");
    if (state != SegmentState::ready) return make_error(Errc::corrupt, "channel header has an invalid state");
    seg->epoch_ = h.epoch;
    seg->created_realtime_ns_ = h.created_realtime_ns;
    seg->lanes_ = lanes;
    seg->slots_ = slots;
    seg->slot_size_ = slot_size;
    seg->max_message_ = max_msg;
    seg->workers_ = workers;
    seg->lanes_off_ = loff;
    seg->lane_stride_ = stride;
    seg->wait_mode_ = static_cast<WaitMode>(wmode);
    if (!seg->executor_alive()) {
      if (monotonic_ns() < give_up) { usleep(5000); continue; }
      return make_error(Errc::peer_dead, "channel '" + name + "' has no live executor (stale segment " + path + ")");
    }
    seg->register_guard();
    return seg;
  }
}

Segment::~Segment() {
  unregister_guard();
  if (ro_fd_ >= 0) close(ro_fd_);
  if (owner_ && base_ != nullptr) {
    mark_closing();
    // Unlink only the segment we created: a restarted executor may already own a new one by this
    // name, which we must not remove. Our lease is held until `lease_` is released below, so no
    // other executor can have replaced it yet.
    unlink(path_.c_str());
  }
  lease_.reset();
}

LaneControl& Segment::lane(std::uint32_t i) const noexcept {
  return *reinterpret_cast<LaneControl*>(base_ + lanes_off_ + lane_stride_ * i);
}

ControlBlock& Segment::control() const noexcept {
  // Owner and adopted regions are set before any thread asks (create, adopt_control); otherwise
  // the first caller makes the private block.
  std::call_once(local_control_, [this] {
    if (!control_) control_ = ControlRegion::local();
  });
  return control_->block();
}

WorkerSlot& Segment::worker(std::uint32_t i) const noexcept { return control().workers[i]; }

StatsBlock& Segment::stats() const noexcept { return control().stats; }

WorkerLog& Segment::worker_log(std::uint32_t i) const noexcept { return control().logs[i]; }

Ring Segment::request_ring(std::uint32_t i) const noexcept {
  std::byte* lane_base = base_ + lanes_off_ + lane_stride_ * i;
  return Ring(&lane(i).request, lane_base + sizeof(LaneControl), slots_, slot_size_, max_message_);
}

Ring Segment::response_ring(std::uint32_t i) const noexcept {
  std::byte* lane_base = base_ + lanes_off_ + lane_stride_ * i;
  return Ring(&lane(i).response, lane_base + sizeof(LaneControl) + static_cast<std::uint64_t>(slots_) * slot_size_,
              slots_, slot_size_, max_message_);
}

bool Segment::executor_alive() const noexcept {
  if (owner_) return true;
  return ofd_locked(fd_, kExecutorLockByte);
}

bool Segment::client_alive(std::uint32_t lane) const noexcept { return ofd_locked(fd_, lane_lock_byte(lane)); }

void Segment::mark_closing() noexcept {
  std::lock_guard lock(state_mu_);
  closing_ = true;
  header().state.store(static_cast<std::uint32_t>(SegmentState::closing), std::memory_order_release);
}

std::uint32_t Segment::repair_header() noexcept {
  if (!owner_ || header_copy_.empty()) return 0;
  SegmentHeader& h = header();
  std::uint32_t repaired = 0;
  // Word by word through atomic_ref: other threads of this process may read these fields (an
  // attach by the frontends' client) while a repair writes them.
  auto* fixed = reinterpret_cast<std::uint64_t*>(&h);
  bool changed = false;
  for (std::size_t i = 0; i < kFixedHeaderWords; ++i) {
    std::atomic_ref<std::uint64_t> word(fixed[i]);
    if (word.load(std::memory_order_relaxed) != header_copy_[i]) {
      word.store(header_copy_[i], std::memory_order_relaxed);
      changed = true;
    }
  }
  if (changed) ++repaired;
  {
    std::lock_guard lock(state_mu_);
    const auto want = static_cast<std::uint32_t>(closing_ ? SegmentState::closing : SegmentState::ready);
    if (h.state.load(std::memory_order_acquire) != want) {
      h.state.store(want, std::memory_order_release);
      ++repaired;
    }
  }
  // Clients only ever raise the high-water mark (claim_lane): lower than a lane in use, or than
  // a value seen before, means overwritten. Put it back unless a client raised it meanwhile.
  std::uint32_t hw = h.lanes_high_water.load(std::memory_order_acquire);
  if (hw <= lanes_) high_water_ = std::max(high_water_, hw);
  for (std::uint32_t i = lanes_; i > high_water_; --i) {
    if (lane(i - 1).claimed.load(std::memory_order_relaxed) != 0) {
      high_water_ = i;
      break;
    }
  }
  if (hw < high_water_ || hw > lanes_) {
    if (h.lanes_high_water.compare_exchange_strong(hw, high_water_, std::memory_order_acq_rel)) ++repaired;
  }
  // The spinner token holds a worker's index + 1, or 0. Anything else was written by a client;
  // 0 makes clients wake a sleeping worker again, and the workers compete for the token anew.
  std::uint32_t spinner = h.spinner.load(std::memory_order_acquire);
  if (spinner > workers_ && h.spinner.compare_exchange_strong(spinner, 0, std::memory_order_acq_rel)) ++repaired;
  return repaired;
}

Status Segment::drop_write_access() {
  if (owner_) return make_error(Errc::invalid_argument, "the segment's owner keeps write access");
  if (ro_fd_ >= 0) return {};
  const int ro = open(path_.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (ro < 0) return sys_error(Errc::io, "reopen " + path_ + " read-only", errno);
  // The name could have been replaced since the mapping was made: lease queries must see the file
  // that is mapped.
  struct stat a {}, b {};
  if (fstat(ro, &a) != 0 || fstat(fd_, &b) != 0 || a.st_ino != b.st_ino || a.st_dev != b.st_dev) {
    close(ro);
    return make_error(Errc::peer_dead, "channel '" + name_ + "' was replaced while attaching");
  }
  close(map_->fd);  // the read-write fd; the mapping stays
  map_->fd = -1;
  ro_fd_ = fd_ = ro;
  return {};
}

bool Segment::restore_size() noexcept {
  if (!owner_) return false;
  struct stat st {};
  if (fstat(fd_, &st) != 0) return false;
  const bool regrown = g_regrown_by_guard.exchange(false, std::memory_order_relaxed);
  if (static_cast<std::uint64_t>(st.st_size) == size_ && !regrown) return false;
  const bool shrunk = regrown || static_cast<std::uint64_t>(st.st_size) < size_;
  // Lanes past the cut come back zeroed under their clients and workers: a new epoch makes every
  // client reconnect (check_executor) and every worker drop what it holds (follow_epoch), and
  // whoever copied a message out of a zeroed page drops it (it sees the new epoch, or its guard
  // counted the fault). So the epoch moves before the size comes back wherever the header
  // survived; where it did not, it reads 0 until then, which no epoch ever is.
  auto new_epoch = [&] {
    std::lock_guard lock(state_mu_);
    std::uint64_t e = 0;
    while (e == 0 || e == epoch_) e = random_u64();
    epoch_ = e;
    const std::size_t word = offsetof(SegmentHeader, epoch) / sizeof(std::uint64_t);
    header_copy_[word] = e;
    std::atomic_ref<std::uint64_t>(reinterpret_cast<std::uint64_t*>(&header())[word]).store(e, std::memory_order_seq_cst);
  };
  const bool header_intact = static_cast<std::uint64_t>(st.st_size) >= sizeof(SegmentHeader);
  if (shrunk && header_intact) new_epoch();
  if (static_cast<std::uint64_t>(st.st_size) != size_ && ftruncate(fd_, static_cast<off_t>(size_)) != 0) {
    component_logger("channel")->error("ftruncate {} back to {} bytes: {}", path_, size_, errno_name(errno));
    return false;
  }
  if (shrunk && !header_intact) new_epoch();
  if (int err = posix_fallocate(fd_, 0, static_cast<off_t>(size_)); err != 0)
    component_logger("channel")->error("posix_fallocate {}: {}", path_, errno_name(err));
  return true;
}

std::uint64_t Segment::current_epoch() const noexcept {
  auto* words = reinterpret_cast<std::uint64_t*>(&header());
  return std::atomic_ref<std::uint64_t>(words[offsetof(SegmentHeader, epoch) / sizeof(std::uint64_t)]).load(std::memory_order_acquire);
}

void Segment::heartbeat() noexcept { header().heartbeat_ns.store(monotonic_ns(), std::memory_order_relaxed); }

Result<Segment::LaneLease> Segment::claim_lane() {
  // A fresh open file description per lane: OFD locks taken through the same description never
  // conflict, so two threads of one process sharing fd_ could otherwise both "own" a lane.
  const int fd = open_existing(path_);
  if (fd < 0) return sys_error(Errc::peer_dead, "channel '" + name_ + "' is gone: cannot open " + path_, errno);
  auto shm = std::make_shared<FileHolder>(fd);
  for (std::uint32_t i = 0; i < lanes_; ++i) {
    if (!ofd_try_lock(fd, lane_lock_byte(i))) continue;
    LaneControl& lc = lane(i);
    lc.claimed.store(1, std::memory_order_release);
    // Workers only scan lanes below the high-water mark.
    std::uint32_t hw = header().lanes_high_water.load(std::memory_order_relaxed);
    while (hw < i + 1 && !header().lanes_high_water.compare_exchange_weak(hw, i + 1)) {
    }
    return LaneLease{shm, fd, i};
  }
  return make_error(Errc::busy, "all " + std::to_string(lanes_) + " lanes of channel '" + name_ +
                                    "' are in use (start the executor with more --lanes)");
}

void Segment::release_lane(LaneLease& lease) noexcept {
  if (!lease.holder) return;
  lane(lease.index).claimed.store(0, std::memory_order_release);
  ofd_unlock(lease.fd, lane_lock_byte(lease.index));
  lease.holder.reset();
  lease.fd = -1;
}

}  // namespace shmcp::channel
