// shmcp executor, worker: one sandboxed, single-threaded process serving calls from the lanes.
#pragma once

namespace shmcp::executor {

// The hidden `worker` subcommand: attach, sandbox, serve until killed. Returns the exit code.
int worker_main(int argc, char** argv);

}  // namespace shmcp::executor
