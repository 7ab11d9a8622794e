#include "executor/tenants/tenant.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <nlohmann/json.hpp>

#include "channel/base/log.hpp"
#include "executor/http_guard.hpp"
#include "executor/mcp.hpp"
#include "sandbox/open_how.hpp"
#include "sandbox/workspace.hpp"

namespace shmcp::executor {

namespace {

// mkdir -p of `rel` beneath the workspace fd, in the kernel: every component is created with
// mkdirat on its parent's handle and opened with RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS, so a
// symlink anywhere in the way (an orchestrator's, or a tenant's own in a parent tenant's tree)
// fails the start instead of placing the root elsewhere.
Status make_root_beneath(int ws_fd, const std::string& rel) {
  sandbox::UniqueFd dir(fcntl(ws_fd, F_DUPFD_CLOEXEC, 0));
  if (!dir) return sys_error(Errc::io, "dup workspace fd", errno);
  std::size_t pos = 0;
  while (pos < rel.size()) {
    const std::size_t slash = rel.find('/', pos);
    const std::string comp = rel.substr(pos, slash == std::string::npos ? std::string::npos : slash - pos);
    pos = slash == std::string::npos ? rel.size() : slash + 1;
    if (mkdirat(dir.get(), comp.c_str(), 0777) != 0 && errno != EEXIST)
      return sys_error(Errc::io, "mkdir " + rel, errno);
    const int fd = sandbox::openat2_sealed(dir.get(), comp.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC, 0,
                                           sandbox::kResolveBeneathNoSymlinks);
    if (fd < 0) return sys_error(Errc::access_denied, "tenant root " + rel + " (symlinks are not allowed in it)", -fd);
    dir = sandbox::UniqueFd(fd);
  }
  return {};
}

}  // namespace

Result<std::string> tenant_relative_root(const std::string& workspace, const TenantSpec& spec) {
  std::string rel = spec.root.empty() ? spec.name : spec.root;
  if (!rel.empty() && rel.front() == '/') {
    if (rel.size() <= workspace.size() + 1 || rel.compare(0, workspace.size(), workspace) != 0 || rel[workspace.size()] != '/')
      return make_error(Errc::invalid_argument, "tenant " + spec.name + ": root " + rel + " is not beneath the workspace " + workspace);
    rel = rel.substr(workspace.size() + 1);
  }
  while (!rel.empty() && rel.back() == '/') rel.pop_back();
  if (rel.empty() || rel.size() > 1024) return make_error(Errc::invalid_argument, "tenant " + spec.name + ": bad root");
  std::size_t pos = 0;
  while (pos <= rel.size()) {
    const std::size_t slash = rel.find('/', pos);
    const std::string_view comp = std::string_view(rel).substr(pos, slash == std::string::npos ? std::string::npos : slash - pos);
    if (comp.empty() || comp == "." || comp == ".." || comp.find('\0') != std::string_view::npos)
      return make_error(Errc::invalid_argument, "tenant " + spec.name + ": root '" + rel + "' has an empty, '.' or '..' component");
    if (slash == std::string::npos) break;
    pos = slash + 1;
  }
  return rel;
}

Result<std::shared_ptr<Tenant>> Tenant::start(const ExecutorOptions& base, const TenantSpec& spec,
                                              std::shared_ptr<WorkerBudget> budget) {
  std::shared_ptr<Tenant> t(new Tenant());
  t->name_ = spec.name;
  t->spec_ = spec;
  t->shm_dir_ = base.channel_config.dir;
  auto rel = tenant_relative_root(base.workspace, spec);
  if (!rel) return rel.error();
  auto ws = sandbox::Workspace::open(base.workspace);
  if (!ws) return make_error(ws.error().code, "workspace " + base.workspace + ": " + ws.error().message);
  if (auto s = make_root_beneath(ws->fd(), *rel); !s) return make_error(s.error().code, "tenant " + spec.name + ": " + s.error().message);
  t->root_ = ws->root() + "/" + *rel;

  ExecutorOptions o = base;
  o.workspace = t->root_;
  o.channel = base.channel + "." + spec.name;
  o.lazy_workers = true;
  if (spec.workers != 0) o.workers = spec.workers;  // still within the executor's --max-workers
  if (spec.group) {
    o.channel_config.group = *spec.group;
    o.channel_config.mode = 0660;
  }
  // A tenant's lanes are its concurrent shm calls: calls_in_flight, else kDefaultTenantLanes (an
  // idle tenant's segment is mostly its lanes' rings: 2 MiB with 8 lanes of 16 x 8 KiB slots).
  o.channel_config.lanes = std::min(o.channel_config.lanes, spec.quota.calls_in_flight != 0 ? spec.quota.calls_in_flight : kDefaultTenantLanes);
  o.quota_bytes = spec.quota.bytes;
  o.quota_files = spec.quota.files;
  o.count_usage = true;  // usage is reported, and quotas can be set later (admin API)
  t->channel_ = o.channel;
  if (!base.tenant_cgroup.empty()) {
    auto g = CpuGroup::create(base.tenant_cgroup, "shmcp." + o.channel);
    if (!g) return make_error(g.error().code, "tenant " + spec.name + ": " + g.error().message);
    t->cpu_group_ = std::move(*g);
    o.worker_cgroup_procs = t->cpu_group_.procs_file();
  }
  auto sup = Supervisor::start(o, std::move(budget));
  if (!sup) return make_error(sup.error().code, "tenant " + spec.name + ": " + sup.error().message);
  t->sup_ = std::move(*sup);
  // Workspace::open canonicalises: a root that is not where it was made (swapped for a symlink
  // between the two opens) is refused.
  if (t->sup_->options().workspace != t->root_)
    return make_error(Errc::access_denied, "tenant " + spec.name + ": root moved while starting (" + t->sup_->options().workspace + ")");

  ClientOptions co;
  co.timeout = std::chrono::milliseconds(base.call_timeout_ms);
  co.wait = base.wait;
  co.spin_ns = base.spin_ns;
  auto c = Client::connect(t->shm_url(), co);
  if (!c) return make_error(c.error().code, "tenant " + spec.name + ": frontend cannot reach its channel: " + c.error().message);
  t->client_ = std::move(*c);
  // MCP roots narrow the tenant's root, never widen it (as for the workspace without tenants).
  McpHttpOptions mo;
  mo.roots = make_roots_support(t->client_, t->root_);
  t->mcp_ = std::make_shared<McpHttp>(make_tool_text_caller(t->client_), std::string(kMcpServerName), kVersion, mo);
  t->max_in_flight_ = spec.quota.calls_in_flight;
  component_logger("executor")->info("tenant {}: root {}, channel {}", spec.name, t->root_, t->shm_url());
  return t;
}

Tenant::~Tenant() { stop(); }

std::string Tenant::shm_url() const { return shmcp::shm_url(channel_, shm_dir_); }

std::shared_ptr<Client> Tenant::client() const {
  std::lock_guard lock(mu_);
  return client_;
}

std::shared_ptr<McpHttp> Tenant::mcp() const {
  std::lock_guard lock(mu_);
  return mcp_;
}

TenantSpec Tenant::spec() const {
  std::lock_guard lock(mu_);
  return spec_;
}

bool Tenant::has_token(std::string_view bearer) const {
  std::lock_guard lock(mu_);
  bool match = false;
  for (const auto& t : spec_.tokens) match |= token_equal(bearer, t);
  return match;
}

void Tenant::set_quota(const TenantQuota& q) {
  std::lock_guard lock(mu_);
  spec_.quota = q;
  max_in_flight_ = q.calls_in_flight;
  (void)sup_->set_quota_limits(q.bytes, q.files);  // tenants always count usage (start())
}

Status Tenant::enter() {
  if (draining_.load()) return make_error(Errc::closed, "tenant " + name_ + " is draining");
  const std::uint32_t n = in_flight_.fetch_add(1) + 1;
  const std::uint32_t max = max_in_flight_.load();
  if (max != 0 && n > max) {
    in_flight_.fetch_sub(1);
    return make_error(Errc::busy, "tenant " + name_ + " has " + std::to_string(max) + " calls in flight (its quota)");
  }
  return {};
}

void Tenant::leave() noexcept { in_flight_.fetch_sub(1); }

void Tenant::drain() {
  draining_ = true;
  if (sup_) sup_->segment().mark_closing();
}

void Tenant::stop() {
  std::call_once(stopped_, [this] {
    drain();
    std::shared_ptr<McpHttp> mcp;
    {
      std::lock_guard lock(mu_);
      mcp = std::move(mcp_);
      client_.reset();
    }
    if (mcp) mcp->close();  // parked GET long polls (roots) end now
    if (sup_) sup_->stop();
    cpu_group_.remove();  // its workers have been reaped
  });
}

nlohmann::json Tenant::describe() const {
  const TenantSpec s = spec();
  nlohmann::json usage = {{"calls_in_flight", in_flight()}, {"workers", sup_ ? sup_->workers_alive() : 0u}};
  if (sup_)
    if (auto q = sup_->quota_usage()) {
      usage["bytes"] = q->used_bytes;
      usage["files"] = q->used_files;
    }
  return {{"name", name_},
          {"root", root_},
          {"channel", channel_},
          {"url", shm_url()},
          {"state", draining() ? "draining" : "active"},
          {"tokens", s.tokens.size()},
          {"workers", sup_ ? sup_->options().workers : s.workers},
          {"quota", quota_json(s.quota)},
          {"usage", usage}};
}

}  // namespace shmcp::executor
