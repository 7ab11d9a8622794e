/* shmcp C ABI: the client library for C, Python (ctypes), Node (ffi) and other runtimes.
 *
 * Thread safety: one shmcp_client may be used from many threads at once; on shm each concurrently
 * calling thread gets its own lane. Strings passed in are UTF-8 and NUL-terminated; strings
 * returned through `char**` are malloc'ed by the library and must be released with shmcp_free().
 * No function throws or aborts on bad input: errors are return codes plus a message in `err`.
 */
#ifndef SHMCP_H
#define SHMCP_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct shmcp_client shmcp_client;

/* Return codes (negative values mirror shmcp::Errc). */
enum {
  SHMCP_OK = 0,
  SHMCP_E_INVALID_ARGUMENT = -1,
  SHMCP_E_NOT_FOUND = -2,
  SHMCP_E_ACCESS_DENIED = -3,
  SHMCP_E_TIMEOUT = -4,
  SHMCP_E_PEER_DEAD = -5,
  SHMCP_E_RING_FULL = -6,
  SHMCP_E_TOO_LARGE = -7,
  SHMCP_E_CORRUPT = -8,
  SHMCP_E_VERSION_MISMATCH = -9,
  SHMCP_E_BUSY = -10,
  SHMCP_E_CLOSED = -11,
  SHMCP_E_IO = -12,
  SHMCP_E_TOOL_ERROR = -13,
  SHMCP_E_INTERNAL = -14
};

/* Connects to "shm://NAME", "shm:///DIR/NAME" (an executor started with --shm-dir DIR) or
 * "http://HOST:PORT". timeout_ms is the default call deadline
 * (0 = 30000). Returns NULL on failure with the reason in err (if err != NULL). */
shmcp_client* shmcp_connect(const char* url, int timeout_ms, char* err, size_t err_len);
void shmcp_close(shmcp_client* client);

/* Runs `tool` with the JSON object `args_json` (NULL = {}). On SHMCP_OK, *result_json holds the
 * CallToolResult JSON (free with shmcp_free) and *is_error (if non-NULL) is 1 when the tool
 * reported an error. timeout_ms 0 = the client's default. */
int shmcp_call(shmcp_client* client, const char* tool, const char* args_json, int timeout_ms,
               char** result_json, int* is_error, char* err, size_t err_len);

/* An empty round trip through a worker. */
int shmcp_ping(shmcp_client* client, int timeout_ms, char* err, size_t err_len);

/* The executor's status JSON (free with shmcp_free). */
int shmcp_health(shmcp_client* client, char** status_json, char* err, size_t err_len);

/* tools/list: {"tools": [...]} with each tool's name, description and input schema (free with
 * shmcp_free). timeout_ms 0 = the client's default. */
int shmcp_tools(shmcp_client* client, int timeout_ms, char** tools_json, char* err, size_t err_len);

void shmcp_free(char* p);
const char* shmcp_version(void);

#ifdef __cplusplus
}
#endif

#endif /* SHMCP_H */
