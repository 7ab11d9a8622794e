"""A streaming client for OpenAI-compatible chat completions (Ollama, vLLM, llama.cpp, hosted APIs),
standard library only.

stream() yields the parsed `data:` chunks of a `stream: true` response. A run's watcher thread may
call abort() from another thread to unblock a read in progress (client disconnect, shutdown).
"""
from __future__ import annotations

import http.client
import json
import socket
import ssl
import threading
import urllib.parse
from typing import Any, Dict, Iterator, Optional

MAX_ERROR_BODY = 64 * 1024
MAX_LINE = 4 * 1024 * 1024


class ChatError(Exception):
    """kind: "status" (non-2xx; .status set), "timeout", "connection", "protocol", "cancelled"."""

    def __init__(self, kind: str, message: str, status: int = 0) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status


class ChatClient:
    def __init__(self, base_url: str, api_key: Optional[str] = None, timeout: float = 120.0) -> None:
        u = urllib.parse.urlsplit(base_url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ValueError(f"--llm-url must be http(s)://HOST[:PORT][/PATH], got {base_url!r}")
        self.scheme = u.scheme
        self.host = u.hostname
        self.port = u.port or (443 if u.scheme == "https" else 80)
        self.path = u.path.rstrip("/") + "/chat/completions"
        self.api_key = api_key
        self.timeout = timeout

    def open(self) -> "ChatStream":
        return ChatStream(self)


class ChatStream:
    """One request. abort() may be called from any thread, once or more, before or during stream()."""

    def __init__(self, client: ChatClient) -> None:
        self._c = client
        self._mu = threading.Lock()
        self._conn: Optional[http.client.HTTPConnection] = None
        self._aborted = False

    def abort(self) -> None:
        with self._mu:
            self._aborted = True
            conn = self._conn
        if conn is not None and conn.sock is not None:
            try:
                conn.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _check(self) -> None:
        if self._aborted:
            raise ChatError("cancelled", "run cancelled")

    def stream(self, body: Dict[str, Any]) -> Iterator[Dict[str, Any]]:
        c = self._c
        if c.scheme == "https":
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                c.host, c.port, timeout=c.timeout, context=ssl.create_default_context())
        else:
            conn = http.client.HTTPConnection(c.host, c.port, timeout=c.timeout)
        with self._mu:
            self._check()
            self._conn = conn
        headers = {"Content-Type": "application/json", "Accept": "text/event-stream"}
        if c.api_key:
            headers["Authorization"] = "Bearer " + c.api_key
        try:
            try:
                conn.request("POST", c.path, body=json.dumps(body).encode(), headers=headers)
                resp = conn.getresponse()
            except (socket.timeout, TimeoutError) as e:
                self._check()
                raise ChatError("timeout", f"no response from the model within {c.timeout:g} s") from e
            except OSError as e:
                self._check()
                raise ChatError("connection", f"cannot reach the model at {c.host}:{c.port}: {e}") from e
            if resp.status // 100 != 2:
                detail = resp.read(MAX_ERROR_BODY).decode(errors="replace").strip()
                raise ChatError("status", f"model endpoint answered HTTP {resp.status}: {detail[:2000]}", resp.status)
            ctype = resp.getheader("Content-Type", "")
            if "application/json" in ctype:
                # A server that ignores stream: true: one whole completion, replayed as one chunk.
                yield _as_chunk(json.loads(resp.read()))
                return
            while True:
                try:
                    line = resp.readline(MAX_LINE)
                except (socket.timeout, TimeoutError) as e:
                    self._check()
                    raise ChatError("timeout", f"the model sent nothing for {c.timeout:g} s") from e
                except OSError as e:
                    self._check()
                    raise ChatError("connection", f"model stream broke: {e}") from e
                self._check()
                if not line:
                    return  # EOF without [DONE]: accept what came (some servers omit it)
                line = line.strip()
                if not line.startswith(b"data:"):
                    continue  # comments, event:, id:, blank separators
                data = line[5:].strip()
                if data == b"[DONE]":
                    return
                try:
                    chunk = json.loads(data)
                except ValueError as e:
                    raise ChatError("protocol", f"model sent a malformed chunk: {data[:200]!r}") from e
                if isinstance(chunk, dict) and "error" in chunk:
                    raise ChatError("status", f"model stream error: {json.dumps(chunk['error'])[:2000]}")
                if isinstance(chunk, dict):
                    yield chunk
        finally:
            with self._mu:
                self._conn = None
            conn.close()


def _as_chunk(completion: Dict[str, Any]) -> Dict[str, Any]:
    choices = []
    for ch in completion.get("choices", []):
        msg = ch.get("message", {})
        tcs = [dict(tc, index=i) for i, tc in enumerate(msg.get("tool_calls") or [])]
        choices.append({"index": ch.get("index", 0), "finish_reason": ch.get("finish_reason"),
                        "delta": {"content": msg.get("content"), "tool_calls": tcs}})
    return {"choices": choices, "usage": completion.get("usage")}
