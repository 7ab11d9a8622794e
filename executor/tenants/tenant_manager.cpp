#include "executor/tenants/tenant_manager.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include <cerrno>
#include <future>
#include <set>
#include <sstream>

#include <nlohmann/json.hpp>

#include "channel/base/log.hpp"
#include "sandbox/open_how.hpp"
#include "sandbox/workspace.hpp"

namespace shmcp::executor {

namespace {

// Two roots nest if one equals the other or continues it on a component boundary: nested
// tenants would see each other's files.
bool nested(const std::string& a, const std::string& b) {
  const std::string& s = a.size() <= b.size() ? a : b;
  const std::string& l = a.size() <= b.size() ? b : a;
  return l.compare(0, s.size(), s) == 0 && (l.size() == s.size() || l[s.size()] == '/');
}

// rm -rf of `name` inside `parent_fd`, never following a symlink (a symlink is removed as
// itself), bounded in depth. Returns the first failure.
Status remove_tree_at(int parent_fd, const std::string& name, int depth) {
  if (depth > 256) return make_error(Errc::too_large, "directory tree too deep to purge");
  if (unlinkat(parent_fd, name.c_str(), 0) == 0) return {};
  if (errno == ENOENT) return {};
  if (errno != EISDIR && errno != EPERM) return sys_error(Errc::io, "unlink " + name, errno);
  const int fd = sandbox::openat2_sealed(parent_fd, name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC, 0,
                                         sandbox::kResolveBeneathNoSymlinks);
  if (fd < 0) return sys_error(Errc::io, "open " + name, -fd);
  DIR* d = fdopendir(fd);
  if (d == nullptr) {
    close(fd);
    return sys_error(Errc::io, "fdopendir " + name, errno);
  }
  std::vector<std::string> names;
  while (dirent* e = readdir(d)) {
    const std::string n = e->d_name;
    if (n != "." && n != "..") names.push_back(n);
  }
  Status st;
  for (const auto& n : names)
    if (auto s = remove_tree_at(dirfd(d), n, depth + 1); !s && st) st = s;
  closedir(d);
  if (!st) return st;
  if (unlinkat(parent_fd, name.c_str(), AT_REMOVEDIR) != 0) return sys_error(Errc::io, "rmdir " + name, errno);
  return {};
}

std::string escape_label(const std::string& v) {
  std::string out;
  for (char c : v) {
    if (c == '\\' || c == '"') out += '\\';
    if (c == '\n') {
      out += "\\n";
      continue;
    }
    out += c;
  }
  return out;
}

}  // namespace

Result<VolumeUsage> volume_usage(const std::string& path) {
  struct statvfs v {};
  if (statvfs(path.c_str(), &v) != 0) return sys_error(Errc::io, "statvfs " + path, errno);
  VolumeUsage u;
  u.bytes_total = static_cast<std::uint64_t>(v.f_blocks) * v.f_frsize;
  u.bytes_free = static_cast<std::uint64_t>(v.f_bavail) * v.f_frsize;
  u.inodes_total = v.f_files;
  u.inodes_free = v.f_favail;
  return u;
}

std::string merge_labelled_metrics(const std::vector<std::pair<std::string, std::string>>& texts, const std::string& label) {
  // family -> (HELP/TYPE lines, samples), in first-seen order.
  std::vector<std::string> order;
  std::map<std::string, std::pair<std::string, std::string>> fam;
  for (const auto& [value, text] : texts) {
    const std::string lab = label + "=\"" + escape_label(value) + "\"";
    std::istringstream in(text);
    std::string line, current;
    while (std::getline(in, line)) {
      if (line.empty()) continue;
      if (line.rfind("# ", 0) == 0) {
        std::istringstream ls(line.substr(2));
        std::string kind, name;
        ls >> kind >> name;
        if (kind != "HELP" && kind != "TYPE") continue;
        current = name;
        auto [it, fresh] = fam.try_emplace(name);
        if (fresh) order.push_back(name);
        if (it->second.first.find("# " + kind + " ") == std::string::npos) it->second.first += line + "\n";
        continue;
      }
      // name{a="b"} v  |  name v
      const std::size_t brace = line.find('{');
      const std::size_t space = line.find(' ');
      std::string sample;
      if (brace != std::string::npos && brace < space) sample = line.substr(0, brace + 1) + lab + "," + line.substr(brace + 1);
      else if (space != std::string::npos) sample = line.substr(0, space) + "{" + lab + "}" + line.substr(space);
      else continue;
      std::string f = current;
      if (f.empty()) f = line.substr(0, std::min(brace, space));
      auto [it, fresh] = fam.try_emplace(f);
      if (fresh) order.push_back(f);
      it->second.second += sample + "\n";
    }
  }
  std::string out;
  for (const auto& f : order) out += fam[f].first + fam[f].second;
  return out;
}

Result<std::unique_ptr<TenantManager>> TenantManager::start(TenantManagerOptions opts, const std::vector<TenantSpec>& specs) {
  auto log = component_logger("executor");
  std::unique_ptr<TenantManager> m(new TenantManager());
  auto ws = sandbox::Workspace::open(opts.base.workspace);
  if (!ws) return make_error(ws.error().code, "workspace " + opts.base.workspace + ": " + ws.error().message);
  opts.base.workspace = ws->root();
  m->opt_ = std::move(opts);
  m->budget_ = std::make_shared<WorkerBudget>(m->opt_.max_workers);
  {
    // The sandbox probe: a one-worker eager pool over the workspace, read-only.
    ExecutorOptions probe = m->opt_.base;
    probe.channel = m->opt_.base.channel + ".probe-" + std::to_string(getpid());
    probe.workers = 1;
    probe.read_only = probe.tools.read_only = true;
    probe.lazy_workers = false;
    auto sup = Supervisor::start(probe);
    if (!sup) return sup.error();
    (*sup)->stop();
  }
  for (const auto& s : specs) {
    if (auto r = m->start_tenant(s); !r) return r.error();
    m->declared_.insert(s.name);
  }
  if (auto s = m->load_state(); !s) return s.error();
  log->info("serving {} tenant(s) beneath {} (at most {} workers in all)", specs.size(), m->opt_.base.workspace, m->opt_.max_workers);
  return m;
}

TenantManager::~TenantManager() { stop(); }

void TenantManager::stop() {
  std::map<std::string, std::shared_ptr<Tenant>> all;
  {
    std::lock_guard lock(mu_);
    all.swap(tenants_);
  }
  for (auto& [n, t] : all) t->drain();  // refuse new calls everywhere first
  std::vector<std::future<void>> stops;
  for (auto& [n, t] : all) stops.push_back(std::async(std::launch::async, [t] { t->stop(); }));
  for (auto& f : stops) f.wait();
}

std::shared_ptr<Tenant> TenantManager::find(const std::string& name) const {
  std::lock_guard lock(mu_);
  auto it = tenants_.find(name);
  return it == tenants_.end() ? nullptr : it->second;
}

std::shared_ptr<Tenant> TenantManager::find_by_token(std::string_view bearer) const {
  if (bearer.empty()) return nullptr;
  std::lock_guard lock(mu_);
  std::shared_ptr<Tenant> found;
  for (const auto& [n, t] : tenants_)
    if (t->has_token(bearer)) found = t;
  return found;
}

std::size_t TenantManager::size() const {
  std::lock_guard lock(mu_);
  return tenants_.size();
}

Result<nlohmann::json> TenantManager::create(const TenantSpec& spec) {
  auto r = start_tenant(spec);
  if (r) (void)save_state();
  return r;
}

namespace {

nlohmann::json spec_json(const TenantSpec& s) {
  nlohmann::json j = {{"name", s.name}, {"tokens", s.tokens}, {"quota", quota_json(s.quota)}};
  if (!s.root.empty()) j["root"] = s.root;
  if (s.group) j["group"] = *s.group;
  if (s.workers != 0) j["workers"] = s.workers;
  return j;
}

}  // namespace

Status TenantManager::load_state() {
  if (opt_.state_file.empty()) return {};
  auto log = component_logger("executor");
  const std::string& path = opt_.state_file;
  auto parsed = read_json_file(path, "tenants state");
  if (!parsed && parsed.error().code == Errc::not_found) return {};  // first start: nothing kept yet
  if (!parsed) return parsed.error();
  const nlohmann::json& j = *parsed;
  if (!j.is_object()) return make_error(Errc::invalid_argument, "tenants state " + path + ": not a JSON object (fix or remove it)");
  if (j.contains("tenants")) {
    if (!j["tenants"].is_array()) return make_error(Errc::invalid_argument, "tenants state " + path + ": \"tenants\" must be an array");
    for (const auto& tj : j["tenants"]) {
      auto spec = parse_tenant(tj, "");
      if (!spec) return make_error(spec.error().code, "tenants state " + path + ": " + spec.error().message);
      if (declared_.count(spec->name)) {
        log->warn("tenants state {}: tenant {} is declared in the tenants file now; the file's wins", path, spec->name);
        continue;
      }
      if (auto r = start_tenant(*spec); !r) return make_error(r.error().code, "tenants state " + path + ": " + r.error().message);
    }
  }
  if (j.contains("quotas") && j["quotas"].is_object()) {
    for (const auto& [name, qj] : j["quotas"].items()) {
      auto t = find(name);
      if (!t || !declared_.count(name)) continue;  // no longer declared: its change goes with it
      TenantQuota q = t->spec().quota;
      if (auto s = parse_quota(qj, q); !s) return make_error(s.error().code, "tenants state " + path + ": " + name + ": " + s.error().message);
      t->set_quota(q);
      std::lock_guard lock(mu_);
      overrides_[name] = q;
    }
  }
  log->info("tenants state {}: restored", path);
  return {};
}

Status TenantManager::save_state() const {
  if (opt_.state_file.empty()) return {};
  std::lock_guard save(save_mu_);
  nlohmann::json tenants = nlohmann::json::array();
  nlohmann::json quotas = nlohmann::json::object();
  {
    std::lock_guard lock(mu_);
    for (const auto& [n, t] : tenants_)
      if (!declared_.count(n)) tenants.push_back(spec_json(t->spec()));
    for (const auto& [n, q] : overrides_)
      if (tenants_.count(n)) quotas[n] = quota_json(q);
  }
  const std::string text = nlohmann::json{{"tenants", tenants}, {"quotas", quotas}}.dump(2) + "\n";
  // Written beside the file and renamed over it: a crash leaves the old state or the new one.
  const std::string tmp = opt_.state_file + ".tmp";
  Status st;
  const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) {
    st = sys_error(Errc::io, "tenants state: open " + tmp, errno);
  } else {
    std::size_t off = 0;
    while (st && off < text.size()) {
      const ssize_t n = write(fd, text.data() + off, text.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) st = sys_error(Errc::io, "tenants state: write " + tmp, errno);
      else off += static_cast<std::size_t>(n);
    }
    if (st && fsync(fd) != 0) st = sys_error(Errc::io, "tenants state: fsync " + tmp, errno);
    close(fd);
    if (st && rename(tmp.c_str(), opt_.state_file.c_str()) != 0) st = sys_error(Errc::io, "tenants state: rename to " + opt_.state_file, errno);
  }
  if (!st) component_logger("executor")->error("{} (the change is served but will not survive a restart)", st.error().describe());
  return st;
}

Result<nlohmann::json> TenantManager::start_tenant(const TenantSpec& spec) {
  if (auto s = validate_tenant_name(spec.name); !s) return s.error();
  auto rel = tenant_relative_root(opt_.base.workspace, spec);
  if (!rel) return rel.error();
  const std::string root = opt_.base.workspace + "/" + *rel;
  {
    std::lock_guard lock(mu_);
    if (tenants_.count(spec.name) || starting_.count(spec.name))
      return make_error(Errc::busy, "tenant " + spec.name + " exists");
    if (tenants_.size() + starting_.size() >= opt_.max_tenants)
      return make_error(Errc::too_large, "at most " + std::to_string(opt_.max_tenants) + " tenants");
    for (const auto& [n, t] : tenants_) {
      if (nested(t->root(), root))
        return make_error(Errc::invalid_argument, "tenant " + spec.name + ": root " + root + " overlaps tenant " + n + "'s root " + t->root());
      for (const auto& tok : spec.tokens)
        if (t->has_token(tok)) return make_error(Errc::busy, "tenant " + spec.name + ": a token is already another tenant's");
    }
    starting_[spec.name] = true;
  }
  auto t = Tenant::start(opt_.base, spec, budget_);
  std::lock_guard lock(mu_);
  starting_.erase(spec.name);
  if (!t) return t.error();
  tenants_[spec.name] = *t;
  return (*t)->describe();
}

nlohmann::json TenantManager::list() const {
  std::vector<std::shared_ptr<Tenant>> all;
  {
    std::lock_guard lock(mu_);
    for (const auto& [n, t] : tenants_) all.push_back(t);
  }
  nlohmann::json arr = nlohmann::json::array();
  for (const auto& t : all) arr.push_back(t->describe());
  nlohmann::json out = {{"tenants", arr},
                        {"workers", {{"alive", budget_->in_use()}, {"max", budget_->max()}}}};
  if (auto v = volume_usage(opt_.base.workspace))
    out["volume"] = {{"bytes_total", v->bytes_total}, {"bytes_free", v->bytes_free},
                     {"inodes_total", v->inodes_total}, {"inodes_free", v->inodes_free}};
  return out;
}

Result<nlohmann::json> TenantManager::update_quota(const std::string& name, const TenantQuota& q) {
  auto t = find(name);
  if (!t) return make_error(Errc::not_found, "no tenant " + name);
  t->set_quota(q);
  {
    std::lock_guard lock(mu_);
    if (declared_.count(name)) overrides_[name] = q;
  }
  (void)save_state();
  return t->describe();
}

Status TenantManager::drain(const std::string& name) {
  auto t = find(name);
  if (!t) return make_error(Errc::not_found, "no tenant " + name);
  t->drain();
  return {};
}

Status TenantManager::remove(const std::string& name, bool purge) {
  std::shared_ptr<Tenant> t;
  {
    std::lock_guard lock(mu_);
    auto it = tenants_.find(name);
    if (it == tenants_.end()) return make_error(Errc::not_found, "no tenant " + name);
    if (starting_.count(name)) return make_error(Errc::busy, "tenant " + name + " is being created or removed");
    t = it->second;
    starting_[name] = true;  // the name stays taken until the segment is gone
  }
  t->stop();  // calls in flight finish (bounded), the segment is removed
  const std::string root = t->root();
  Status st;
  if (purge) {
    auto ws = sandbox::Workspace::open(opt_.base.workspace);
    if (!ws) {
      st = ws.error();
    } else {
      const std::string rel = root.substr(opt_.base.workspace.size() + 1);
      const auto slash = rel.rfind('/');
      int parent = ws->fd();
      sandbox::UniqueFd pfd;
      if (slash != std::string::npos) {
        const int fd = sandbox::openat2_sealed(ws->fd(), rel.substr(0, slash).c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC, 0,
                                               sandbox::kResolveBeneathNoSymlinks);
        if (fd < 0) st = sys_error(Errc::io, "open parent of " + root, -fd);
        pfd = sandbox::UniqueFd(fd);
        parent = fd;
      }
      if (st) st = remove_tree_at(parent, slash == std::string::npos ? rel : rel.substr(slash + 1), 0);
    }
  }
  {
    std::lock_guard lock(mu_);
    tenants_.erase(name);
    starting_.erase(name);
    overrides_.erase(name);
    declared_.erase(name);  // re-created through the API, it is kept in the state file
  }
  (void)save_state();
  component_logger("executor")->info("tenant {} deleted{}", name, purge ? (st ? " and its files purged" : " (purge failed)") : "; its files are kept");
  return st;
}

std::string TenantManager::metrics_text() const {
  std::vector<std::shared_ptr<Tenant>> all;
  {
    std::lock_guard lock(mu_);
    for (const auto& [n, t] : tenants_) all.push_back(t);
  }
  std::vector<std::pair<std::string, std::string>> per;
  std::string usage =
      "# HELP shmcp_tenant_calls_in_flight HTTP and /mcp calls running for the tenant.\n"
      "# TYPE shmcp_tenant_calls_in_flight gauge\n";
  std::string bytes = "# HELP shmcp_tenant_used_bytes Bytes in the tenant's root (tenants with a quota).\n# TYPE shmcp_tenant_used_bytes gauge\n";
  std::string files = "# HELP shmcp_tenant_used_files Files and directories in the tenant's root (tenants with a quota).\n# TYPE shmcp_tenant_used_files gauge\n";
  std::string workers = "# HELP shmcp_tenant_workers Worker processes running for the tenant.\n# TYPE shmcp_tenant_workers gauge\n";
  for (const auto& t : all) {
    per.emplace_back(t->name(), t->supervisor().metrics_text());
    const std::string lab = "{tenant=\"" + escape_label(t->name()) + "\"} ";
    usage += "shmcp_tenant_calls_in_flight" + lab + std::to_string(t->in_flight()) + "\n";
    workers += "shmcp_tenant_workers" + lab + std::to_string(t->supervisor().workers_alive()) + "\n";
    if (auto q = t->supervisor().quota_usage()) {
      bytes += "shmcp_tenant_used_bytes" + lab + std::to_string(q->used_bytes) + "\n";
      files += "shmcp_tenant_used_files" + lab + std::to_string(q->used_files) + "\n";
    }
  }
  std::string out = merge_labelled_metrics(per, "tenant") + usage + bytes + files + workers;
  out += "# HELP shmcp_tenants Tenants configured.\n# TYPE shmcp_tenants gauge\nshmcp_tenants " + std::to_string(all.size()) + "\n";
  out += "# HELP shmcp_workers_max The executor's cap on worker processes over all tenants.\n# TYPE shmcp_workers_max gauge\nshmcp_workers_max " +
         std::to_string(budget_->max()) + "\n";
  out += "# HELP shmcp_workers_running Worker processes running over all tenants.\n# TYPE shmcp_workers_running gauge\nshmcp_workers_running " +
         std::to_string(budget_->in_use()) + "\n";
  if (auto v = volume_usage(opt_.base.workspace)) {
    auto gauge = [&out](const char* name, const char* help, std::uint64_t value) {
      out += std::string("# HELP ") + name + " " + help + "\n# TYPE " + name + " gauge\n" + name + " " + std::to_string(value) + "\n";
    };
    gauge("shmcp_volume_bytes_total", "Size of the workspace's filesystem (statfs).", v->bytes_total);
    gauge("shmcp_volume_bytes_free", "Bytes available to unprivileged users on the workspace's filesystem.", v->bytes_free);
    gauge("shmcp_volume_bytes_used", "Bytes used on the workspace's filesystem.", v->bytes_total - std::min(v->bytes_total, v->bytes_free));
    gauge("shmcp_volume_inodes_total", "Inodes of the workspace's filesystem.", v->inodes_total);
    gauge("shmcp_volume_inodes_free", "Inodes available on the workspace's filesystem.", v->inodes_free);
    gauge("shmcp_volume_inodes_used", "Inodes used on the workspace's filesystem.", v->inodes_total - std::min(v->inodes_total, v->inodes_free));
  }
  return out;
}

}  // namespace shmcp::executor
