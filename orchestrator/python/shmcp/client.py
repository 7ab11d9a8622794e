"""shmcp.Client: the executor's tools from Python, over shared memory or HTTP."""
from __future__ import annotations

import ctypes
import json
import threading
from dataclasses import dataclass
from typing import Any, Dict, List, Mapping, Optional, Sequence

from . import _native
from .errors import ClosedError, InternalError, InvalidArgumentError, ToolError, error_from_code

_ERR_LEN = 512

_CONNECT_ERRC = {
    "invalid_argument": -1, "not_found": -2, "access_denied": -3, "timeout": -4, "peer_dead": -5,
    "ring_full": -6, "too_large": -7, "corrupt": -8, "version_mismatch": -9, "busy": -10,
    "closed": -11, "io": -12, "internal": -14,
}


def _ms(timeout: Optional[float]) -> int:
    """Seconds -> the C ABI's milliseconds (0 = the client's default)."""
    if timeout is None:
        return 0
    if timeout <= 0:
        raise ValueError("timeout must be positive (seconds)")
    return max(1, min(int(timeout * 1000), 2**31 - 1))


@dataclass(frozen=True)
class ToolResult:
    """An MCP CallToolResult, exactly as the reference filesystem server returns it.

    json: the whole result ({"content": [...], "isError"?: true, "structuredContent"?: {...}}).
    is_error: the tool ran and reported a failure (a wrong path, a failed edit, ...).
    """

    json: Dict[str, Any]
    is_error: bool = False
    tool: str = ""

    @property
    def content(self) -> List[Dict[str, Any]]:
        """The content blocks (text, image, audio, resource)."""
        c = self.json.get("content")
        return c if isinstance(c, list) else []

    @property
    def structured_content(self) -> Optional[Dict[str, Any]]:
        s = self.json.get("structuredContent")
        return s if isinstance(s, dict) else None

    @property
    def text(self) -> str:
        """The text blocks, concatenated (empty for media results)."""
        return "".join(b.get("text", "") for b in self.content if isinstance(b, dict) and b.get("type") == "text")

    def raise_for_error(self) -> "ToolResult":
        """Raises ToolError if the tool reported an error; returns self otherwise."""
        if self.is_error:
            raise ToolError(self, self.tool)
        return self

    def __str__(self) -> str:
        return self.text


class _Handle:
    """Owns one shmcp_client*; shmcp_close() runs when the last reference goes (see Client.close)."""

    __slots__ = ("_lib", "ptr")

    def __init__(self, lib: ctypes.CDLL, ptr: int) -> None:
        self._lib = lib
        self.ptr = ctypes.c_void_p(ptr)

    def __del__(self) -> None:
        try:
            self._lib.shmcp_close(self.ptr)
        except Exception:  # interpreter shutdown: the library may be gone already
            pass


class Client:
    """A connection to one shmcp executor.

        with shmcp.Client("shm://shmcp") as c:            # or "http://127.0.0.1:8002"
            print(c.read_text_file(path="notes.txt").text)

    url: "shm://NAME" (the executor's --channel; same host, shared /dev/shm) or "http://HOST:PORT".
    timeout: the default deadline of every call, in seconds; each method takes its own `timeout=`.
    library: path of libshmcp.so (default: see shmcp._native: $SHMCP_LIBRARY, the package
    directory, the loader's search path).

    Thread safety: one Client may be used from any number of threads at once. On shm each calling
    thread gets its own lane (a private pair of rings), and the GIL is released while a call waits,
    so threads really run calls in parallel. close() waits for no one: calls still in flight finish,
    the connection is released after the last of them, and new calls raise ClosedError.

    Errors: transport failures raise TransportError subclasses (PeerDeadError, ClosedError,
    TimeoutError, ...); a request the executor refuses raises RequestError subclasses. A tool's own
    failure is a ToolResult with is_error=True from call(), and a ToolError from the per-tool
    methods (read_text_file, write_file, ...). After an executor restart the next call reconnects.
    """

    def __init__(self, url: str, timeout: float = 30.0, *, library: Optional[str] = None) -> None:
        self._lib = _native.load(library)
        self._url = url
        self._tls = threading.local()
        self._tool_cache: Optional[List[Dict[str, Any]]] = None
        self._handle: Optional[_Handle] = None
        err = ctypes.create_string_buffer(_ERR_LEN)
        h = self._lib.shmcp_connect(url.encode(), _ms(timeout), err, _ERR_LEN)
        if not h:
            msg = err.value.decode(errors="replace")
            raise error_from_code(_CONNECT_ERRC.get(msg.split(":", 1)[0], -14), msg)
        self._handle = _Handle(self._lib, h)
        self._ping = self._lib.shmcp_ping

    # ------------------------------------------------------------------ lifecycle
    @property
    def url(self) -> str:
        return self._url

    @property
    def closed(self) -> bool:
        return self._handle is None

    def close(self) -> None:
        """Releases the connection once calls in flight have returned. Idempotent.

        Each call holds its own reference to the native handle for its duration, so dropping the
        client's reference here frees it at once when idle, or when the last call in flight returns
        (CPython's reference counting) -- without a lock on the call path.
        """
        self._handle = None

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _enter(self) -> "_Handle":
        h = self._handle
        if h is None:
            raise ClosedError("client is closed", -11)
        return h

    def _err(self) -> ctypes.Array:  # type: ignore[type-arg]
        try:
            return self._tls.err
        except AttributeError:
            b = self._tls.err = ctypes.create_string_buffer(_ERR_LEN)
            return b

    @staticmethod
    def _raise(rc: int, err: ctypes.Array) -> None:  # type: ignore[type-arg]
        raise error_from_code(rc, err.value.decode(errors="replace"))

    def _take_string(self, p: ctypes.c_void_p) -> str:
        try:
            return ctypes.string_at(p.value).decode("utf-8", errors="replace")
        finally:
            self._lib.shmcp_free(p)

    # ------------------------------------------------------------------ generic calls
    def ping(self, timeout: Optional[float] = None) -> None:
        """An empty round trip through a worker (no filesystem access). Raises on failure."""
        # The hot path of latency measurements: no lock, no allocation (see close()).
        h = self._handle
        if h is None:
            raise ClosedError("client is closed", -11)
        err = self._err()
        rc = self._ping(h.ptr, 0 if timeout is None else _ms(timeout), err, _ERR_LEN)
        if rc:
            self._raise(rc, err)

    def call(self, tool: str, arguments: Optional[Mapping[str, Any]] = None, /, *,
             timeout: Optional[float] = None, **kwargs: Any) -> ToolResult:
        """Runs `tool` with `arguments` (a mapping) and/or keyword arguments; returns its result.

        A tool's own failure is a result with is_error=True (never raised here); transport and
        request errors raise.
        """
        args: Dict[str, Any] = dict(arguments) if arguments else {}
        args.update(kwargs)
        try:
            body = json.dumps(args, ensure_ascii=False, allow_nan=False).encode()
        except (TypeError, ValueError) as e:
            raise InvalidArgumentError(f"arguments of {tool} are not JSON-serialisable: {e}", -1) from e
        out = ctypes.c_void_p()
        is_error = ctypes.c_int(0)
        h = self._enter()
        err = self._err()
        rc = self._lib.shmcp_call(h.ptr, tool.encode(), body, _ms(timeout), ctypes.byref(out),
                                  ctypes.byref(is_error), err, _ERR_LEN)
        if rc:
            self._raise(rc, err)
        result = json.loads(self._take_string(out))
        return ToolResult(result if isinstance(result, dict) else {"content": []}, bool(is_error.value), tool)

    def health(self) -> Dict[str, Any]:
        """The executor's status (workers alive, channel, uptime, ...), within the client's timeout."""
        out = ctypes.c_void_p()
        h = self._enter()
        err = self._err()
        rc = self._lib.shmcp_health(h.ptr, ctypes.byref(out), err, _ERR_LEN)
        if rc:
            self._raise(rc, err)
        return json.loads(self._take_string(out))

    def tools(self, timeout: Optional[float] = None) -> List[Dict[str, Any]]:
        """tools/list from the executor: each tool's name, description and JSON schemas."""
        if not hasattr(self._lib, "shmcp_tools"):
            raise InternalError("this libshmcp has no shmcp_tools(): install the matching library", -14)
        out = ctypes.c_void_p()
        h = self._enter()
        err = self._err()
        rc = self._lib.shmcp_tools(h.ptr, _ms(timeout), ctypes.byref(out), err, _ERR_LEN)
        if rc:
            self._raise(rc, err)
        tools = json.loads(self._take_string(out)).get("tools", [])
        self._tool_cache = tools
        return tools

    # ------------------------------------------------------------------ LLM tool calling
    def tool_definitions(self, format: str = "openai") -> List[Dict[str, Any]]:  # noqa: A002
        """The tools in a model API's format: "openai", "anthropic" or "mcp" (see shmcp.llm)."""
        from .llm import tool_definitions
        tools = self._tool_cache if self._tool_cache is not None else self.tools()
        return tool_definitions(tools, format)

    def run_tool_call(self, call: Any, *, timeout: Optional[float] = None) -> str:
        """Executes one model tool call (OpenAI or Anthropic shape) and returns the text to send
        back to the model. Tool errors and malformed calls come back as text; transport errors
        raise (see shmcp.llm.run_tool_call)."""
        from .llm import run_tool_call
        return run_tool_call(self, call, timeout=timeout)

    # ------------------------------------------------------------------ one method per tool
    def _tool(self, tool: str, timeout: Optional[float], **args: Any) -> ToolResult:
        return self.call(tool, {k: v for k, v in args.items() if v is not None}, timeout=timeout).raise_for_error()

    def read_file(self, path: str, *, head: Optional[int] = None, tail: Optional[int] = None,
                  timeout: Optional[float] = None) -> ToolResult:
        """Deprecated alias of read_text_file."""
        return self._tool("read_file", timeout, path=path, head=head, tail=tail)

    def read_text_file(self, path: str, *, head: Optional[int] = None, tail: Optional[int] = None,
                       timeout: Optional[float] = None) -> ToolResult:
        """A UTF-8 text file; `head`/`tail` keep only the first/last N lines (not both)."""
        return self._tool("read_text_file", timeout, path=path, head=head, tail=tail)

    def read_media_file(self, path: str, *, timeout: Optional[float] = None) -> ToolResult:
        """An image or audio file, base64-encoded with its MIME type (result.content[0])."""
        return self._tool("read_media_file", timeout, path=path)

    def read_multiple_files(self, paths: Sequence[str], *, timeout: Optional[float] = None) -> ToolResult:
        """Several text files; one that cannot be read yields an error line, not a ToolError."""
        return self._tool("read_multiple_files", timeout, paths=list(paths))

    def write_file(self, path: str, content: str, *, timeout: Optional[float] = None) -> ToolResult:
        """Creates or replaces a file atomically. The parent directory must exist."""
        return self._tool("write_file", timeout, path=path, content=content)

    def edit_file(self, path: str, edits: Sequence[Mapping[str, str]], *, dryRun: Optional[bool] = None,  # noqa: N803
                  timeout: Optional[float] = None) -> ToolResult:
        """Applies [{"oldText": ..., "newText": ...}, ...]; the result is a unified diff."""
        return self._tool("edit_file", timeout, path=path, edits=[dict(e) for e in edits], dryRun=dryRun)

    def create_directory(self, path: str, *, timeout: Optional[float] = None) -> ToolResult:
        """Creates a directory and missing parents; succeeds if it exists."""
        return self._tool("create_directory", timeout, path=path)

    def list_directory(self, path: str, *, timeout: Optional[float] = None) -> ToolResult:
        """One line per entry: "[DIR] name" or "[FILE] name"."""
        return self._tool("list_directory", timeout, path=path)

    def list_directory_with_sizes(self, path: str, *, sortBy: Optional[str] = None,  # noqa: N803
                                  timeout: Optional[float] = None) -> ToolResult:
        """Entries with sizes, sorted by "name" (default) or "size", then totals."""
        return self._tool("list_directory_with_sizes", timeout, path=path, sortBy=sortBy)

    def directory_tree(self, path: str, *, excludePatterns: Optional[Sequence[str]] = None,  # noqa: N803
                       timeout: Optional[float] = None) -> ToolResult:
        """The recursive structure as JSON text ({name, type, children})."""
        return self._tool("directory_tree", timeout, path=path,
                          excludePatterns=list(excludePatterns) if excludePatterns is not None else None)

    def move_file(self, source: str, destination: str, *, timeout: Optional[float] = None) -> ToolResult:
        """Moves or renames; fails if the destination exists."""
        return self._tool("move_file", timeout, source=source, destination=destination)

    def search_files(self, path: str, pattern: str, *, excludePatterns: Optional[Sequence[str]] = None,  # noqa: N803
                     timeout: Optional[float] = None) -> ToolResult:
        """Entries below `path` whose relative path matches the glob `pattern`."""
        return self._tool("search_files", timeout, path=path, pattern=pattern,
                          excludePatterns=list(excludePatterns) if excludePatterns is not None else None)

    def get_file_info(self, path: str, *, timeout: Optional[float] = None) -> ToolResult:
        """Size, times, type and permissions of a file or directory."""
        return self._tool("get_file_info", timeout, path=path)

    def list_allowed_directories(self, *, timeout: Optional[float] = None) -> ToolResult:
        """The workspace root."""
        return self._tool("list_allowed_directories", timeout)


__all__ = ["Client", "ToolResult"]
