// The 14 MCP filesystem tools, implemented against a sandbox::Workspace.
//
// Output text matches the reference server (@modelcontextprotocol/server-filesystem 2026.8.31)
// byte for byte on benign input; executor/TOOLS.md lists the deliberate differences. These functions run inside sandboxed worker
// processes (seccomp + Landlock), so they use only *at syscalls on handles from the Workspace:
// no std::filesystem, no absolute-name opens, no threads, no exec.
//
// Failures are CallResult{is_error = true}, never exceptions out of call()/typed functions.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "executor/tools/call_deadline.hpp"
#include "executor/tools/quota.hpp"  // part of this library's interface: the storage quota block
#include "sandbox/workspace.hpp"

namespace shmcp::executor {


struct ContentBlock {
  enum class Kind : std::uint8_t { text = 0, image = 1, audio = 2, resource = 3 };
  Kind kind = Kind::text;
  std::string text;       // text: the text; image/audio/resource: base64 data
  std::string mime_type;  // image/audio/resource
  std::string uri;        // resource only
};

// An MCP CallToolResult. structuredContent is derived: {content: <text of block 0>} for text tools,
// {content: [<block 0>]} for read_media_file, absent on errors.
struct CallResult {
  std::vector<ContentBlock> content;
  bool is_error = false;
  bool media = false;  // structuredContent is {content: [block]} rather than {content: text}
  // The call's deadline passed before the tool finished (an error result; the worker answers it
  // with the transport status Timeout rather than as the tool's own failure).
  bool timed_out = false;

  static CallResult text(std::string t);
  static CallResult error(std::string message);
  static CallResult timeout(std::string_view tool);
};

// CallToolResult JSON as the reference returns it.
nlohmann::json to_json(const CallResult& r);

struct ToolOptions {
  bool read_only = false;                       // write tools answer "access denied: read-only"
  bool allow_hardlinks = false;                 // refuse regular files with st_nlink > 1 unless set
  bool fsync_writes = false;                    // fsync before the rename (host-crash durability)
  std::uint64_t max_read_bytes = 64ull << 20;   // per file read
  std::uint64_t max_write_bytes = 64ull << 20;  // per write/edit
  std::uint32_t max_walk_depth = 64;            // directory_tree / search_files
  std::uint64_t max_walk_entries = 100000;
  std::uint32_t max_walk_millis = 10000;
  // TEST-ONLY: write tools abort() once the content is in the temp file, before it is named.
  // Set only by a worker serving kTestHookAbortMidWrite (serve --enable-test-hooks).
  bool test_abort_after_fill = false;
};

// Arguments of a tool call that arrived already typed (the shm fast path skips JSON for these).
// Views into the caller's buffer, valid for the call only.
struct TypedArgs {
  enum class Shape : std::uint8_t { read_text, write };  // read_text: path, head, tail; write: path, content
  Shape shape = Shape::read_text;
  std::string_view path;
  std::string_view content;
  std::optional<double> head, tail;
};

class Tools {
 public:
  Tools(const sandbox::Workspace& ws, ToolOptions opts);

  // Dispatch by name with JSON arguments (validated against the input schema; a failure is an
  // isError result naming the tool and field). Unknown tool: returns std::nullopt. Every loop whose
  // work grows with the input polls `deadline`; once it passes, the result is CallResult::timeout.
  std::optional<CallResult> call(std::string_view tool, const nlohmann::json& args, CallDeadline deadline = {});

  // Dispatch by name with typed arguments. std::nullopt when the tool is unknown or does not take
  // arguments of that shape. Like the typed entry points below, no deadline: neither loops over
  // its input.
  std::optional<CallResult> call_typed(std::string_view tool, const TypedArgs& args);

  // Typed entry points.
  CallResult read_text_file(std::string_view path, std::optional<double> head,
                            std::optional<double> tail);
  CallResult write_file(std::string_view path, std::string_view content);

  // With defer on, read_text_file leaves the file's handle open until close_deferred(): a worker
  // closes it after the response is on its way, which takes the close (a fair share of the
  // 4 KiB read's syscalls) off the caller's wait. Off by default; the worker turns it on.
  void defer_close(bool defer) { defer_close_ = defer; }
  // A call narrowed to several roots (the worker's Request.roots): call() resolves each path of
  // read_multiple_files and move_file beneath the root that holds it; every other path beneath
  // this Tools' workspace (the root of the call's primary path). Null: none. Not owned.
  void set_roots(const std::vector<const sandbox::Workspace*>* roots) { roots_ = roots; }
  void close_deferred() noexcept { closing_.clear(); }

  // The workspace's storage quota the write tools enforce (null: none, the default). Not owned;
  // must outlive this object.
  void set_quota(WorkspaceQuota* quota) noexcept { quota_ = quota; }
  WorkspaceQuota* quota() const noexcept { return quota_; }

  // tools/list entries: name, description (ours), inputSchema (identical to the reference),
  // annotations, outputSchema.
  static const nlohmann::json& list();
  static bool known(std::string_view tool);

 private:
  const sandbox::Workspace& ws_;
  ToolOptions opts_;
  bool defer_close_ = false;
  std::vector<sandbox::UniqueFd> closing_;
  const std::vector<const sandbox::Workspace*>* roots_ = nullptr;
  WorkspaceQuota* quota_ = nullptr;
};

}  // namespace shmcp::executor
