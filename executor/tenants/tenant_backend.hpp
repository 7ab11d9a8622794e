// The HTTP frontend's backend in tenant mode (serve --tenants): a tool call goes to the tenant
// its bearer token belongs to (a request without one, or with an unknown one, gets 401; there is
// no shared workspace over HTTP then), /metrics and the admin API need the admin token.
//
// Admin API (JSON; the `shmcp tenant` commands speak it):
//   GET    /admin/tenants                 list, with usage, the worker budget and the volume
//   POST   /admin/tenants                 create: a tenant object (tenant_config.hpp) with
//                                         "tokens" (not "token_file"); a missing token is made
//                                         up and returned once, in the reply's "token"
//   GET    /admin/tenants/NAME            one tenant
//   PATCH  /admin/tenants/NAME            {"quota": {...}}: fields given replace the current ones
//   POST   /admin/tenants/NAME/drain      refuse new calls; calls in flight finish
//   DELETE /admin/tenants/NAME[?purge=1]  drain, stop, remove the segment; purge also removes the
//                                         tenant's files, else they are kept
#pragma once

#include <memory>
#include <string>

#include "executor/http.hpp"
#include "executor/tenants/tenant_manager.hpp"

namespace shmcp::executor {

// admin_token empty: the admin API and /metrics are closed.
std::shared_ptr<HttpBackend> make_tenant_backend(std::shared_ptr<TenantManager> tenants, std::string admin_token,
                                                 std::size_t max_body_bytes);

}  // namespace shmcp::executor
