"""shmcp.AsyncClient: the Client for asyncio, never blocking the event loop."""
from __future__ import annotations

import asyncio
import functools
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Dict, List, Mapping, Optional, TypeVar

from .client import Client, ToolResult

T = TypeVar("T")


class AsyncClient:
    """Every call runs on a private thread pool (each pool thread is one shm lane), so awaiting a
    call never blocks the event loop and up to `max_concurrency` calls run in parallel.

        async with shmcp.AsyncClient("shm://shmcp") as c:
            r = await c.read_text_file(path="notes.txt")

    Cancelling an awaiting task abandons the wait; the call itself finishes (or hits its timeout)
    in its thread. Per-tool methods are the Client's, made awaitable (same arguments, same errors).
    Construct it anywhere; `await AsyncClient.connect(...)` connects without blocking the loop.
    """

    def __init__(self, url: str, timeout: float = 30.0, *, library: Optional[str] = None,
                 max_concurrency: int = 8, client: Optional[Client] = None) -> None:
        self._client = client if client is not None else Client(url, timeout, library=library)
        self._pool = ThreadPoolExecutor(max_workers=max_concurrency, thread_name_prefix="shmcp")

    @classmethod
    async def connect(cls, url: str, timeout: float = 30.0, **kw: Any) -> "AsyncClient":
        loop = asyncio.get_running_loop()
        client = await loop.run_in_executor(None, functools.partial(Client, url, timeout, library=kw.pop("library", None)))
        return cls(url, timeout, client=client, **kw)

    @property
    def client(self) -> Client:
        """The underlying synchronous Client (thread-safe)."""
        return self._client

    async def _run(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(fn, *args, **kwargs))

    async def call(self, tool: str, arguments: Optional[Mapping[str, Any]] = None, /, *,
                   timeout: Optional[float] = None, **kwargs: Any) -> ToolResult:
        return await self._run(self._client.call, tool, arguments, timeout=timeout, **kwargs)

    async def ping(self, timeout: Optional[float] = None) -> None:
        await self._run(self._client.ping, timeout)

    async def health(self) -> Dict[str, Any]:
        return await self._run(self._client.health)

    async def tools(self, timeout: Optional[float] = None) -> List[Dict[str, Any]]:
        return await self._run(self._client.tools, timeout)

    async def tool_definitions(self, format: str = "openai") -> List[Dict[str, Any]]:  # noqa: A002
        return await self._run(self._client.tool_definitions, format)

    async def run_tool_call(self, call: Any, *, timeout: Optional[float] = None) -> str:
        return await self._run(self._client.run_tool_call, call, timeout=timeout)

    def __getattr__(self, name: str) -> Callable[..., Any]:
        # The per-tool methods (read_text_file, write_file, ...), awaitable.
        if name.startswith("_") or name not in _TOOL_METHODS:
            raise AttributeError(name)
        fn = getattr(self._client, name)

        async def method(*args: Any, **kwargs: Any) -> ToolResult:
            return await self._run(fn, *args, **kwargs)

        method.__name__ = name
        method.__doc__ = fn.__doc__
        return method

    async def aclose(self) -> None:
        """Waits for calls in flight (without blocking the loop), then closes."""
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self._pool.shutdown)
        self._client.close()

    async def __aenter__(self) -> "AsyncClient":
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


_TOOL_METHODS = frozenset({
    "read_file", "read_text_file", "read_media_file", "read_multiple_files", "write_file", "edit_file",
    "create_directory", "list_directory", "list_directory_with_sizes", "directory_tree", "move_file",
    "search_files", "get_file_info", "list_allowed_directories",
})
