// `shmcp tenant ...`: the executor's admin API (serve --tenants --admin-token-file) from the
// command line. The subcommand parses its own arguments (argv[1] == "tenant").
#pragma once

namespace shmcp::cli_tenant {

inline constexpr const char* kHelp = R"(Usage: shmcp tenant COMMAND [NAME] --connect http://HOST:PORT --admin-token-file F [options]

Manages the tenants of an executor started with `serve --tenants FILE --admin-token-file F`.
  create NAME   create a tenant (root DIR/NAME unless --root); prints it as JSON, with its
                made-up bearer token unless --token-file gives one
  list          every tenant with its usage, the worker budget and the volume's usage
  show NAME     one tenant
  update NAME   change quotas (the flags given; 0 = unlimited)
  drain NAME    refuse new calls; calls in flight finish
  delete NAME   drain, stop its workers, remove its segment; files are kept unless --purge

Options:
  --connect URL           the executor's HTTP address                              [required]
  --admin-token-file F    the executor's --admin-token-file                        [required]
  --root DIR              create: root beneath the workspace              [default: NAME]
  --token-file F          create: the tenant's bearer token(s), one per line
  --group GID|NAME        create: segment 0660 with this group
  --workers N             create: the size of its worker pool  [default: the executor's --workers]
  --quota-bytes N         create/update: bytes the tenant's files may use
  --quota-files N         create/update: files and directories it may have
  --calls-in-flight N     create/update: its concurrent calls (HTTP, /mcp; shm: lanes)
  --purge                 delete: remove the tenant's files too
  --timeout-ms N          request deadline (delete waits for calls to drain) [default: 30000]
Exit status: 0 ok, 1 the executor refused (reason on stderr), 2 transport or usage error
(the admin token refused, HTTP 401/403, included).
)";

int main(int argc, char** argv);

}  // namespace shmcp::cli_tenant
