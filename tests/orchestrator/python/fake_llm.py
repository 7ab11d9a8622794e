"""A scripted OpenAI-compatible chat-completions server for the agent service's tests.

Each POST /v1/chat/completions takes the next entry of the script and records the request body.
Entries (build them with the helpers below):
  stream([...delta dicts...], usage=..., delay=s, gate=Event)  a `stream: true` answer; with a
        gate, the server sends the first chunk, then waits for gate.set() before the rest
  status(500, "body")                                           an error status
  hang()                                                        sends headers and one comment,
        then waits until the client (the agent) closes the connection; sets .disconnected
"""
from __future__ import annotations

import json
import select
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional


def text_deltas(text: str, parts: int = 3) -> List[Dict[str, Any]]:
    n = max(1, len(text) // parts)
    return [{"content": text[i:i + n]} for i in range(0, len(text), n)]


def tool_call_deltas(calls: List[tuple]) -> List[Dict[str, Any]]:
    """calls: (id, name, arguments-text). Each call is streamed in three fragments, as real servers do."""
    out = []
    for i, (cid, name, args) in enumerate(calls):
        half = len(args) // 2
        out.append({"tool_calls": [{"index": i, "id": cid, "type": "function", "function": {"name": name, "arguments": ""}}]})
        out.append({"tool_calls": [{"index": i, "function": {"arguments": args[:half]}}]})
        out.append({"tool_calls": [{"index": i, "function": {"arguments": args[half:]}}]})
    return out


def stream(deltas, usage=None, delay: float = 0.0, gate: Optional[threading.Event] = None) -> Dict[str, Any]:
    return {"kind": "stream", "deltas": deltas, "usage": usage, "delay": delay, "gate": gate, "gate_timed_out": False}


def status(code: int, body: str = "") -> Dict[str, Any]:
    return {"kind": "status", "code": code, "body": body}


def hang() -> Dict[str, Any]:
    return {"kind": "hang", "disconnected": threading.Event()}


class FakeLLM:
    def __init__(self) -> None:
        self.script: List[Dict[str, Any]] = []
        self.requests: List[Dict[str, Any]] = []
        self.headers: List[Dict[str, str]] = []
        self._mu = threading.Lock()
        fake = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a: Any) -> None:
                pass

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                with fake._mu:
                    fake.requests.append(body)
                    fake.headers.append(dict(self.headers))
                    entry = fake.script.pop(0) if fake.script else status(500, "script exhausted")
                if self.path != "/v1/chat/completions":
                    entry = status(404, "wrong path " + self.path)
                getattr(self, "_" + entry["kind"])(entry)

            def _status(self, e: Dict[str, Any]) -> None:
                b = json.dumps({"error": {"message": e["body"]}}).encode()
                self.send_response(e["code"])
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(b)))
                self.end_headers()
                self.wfile.write(b)

            def _sse_headers(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                self.close_connection = True

            def _send(self, obj: Any) -> None:
                self.wfile.write(b"data: " + (obj if isinstance(obj, bytes) else json.dumps(obj).encode()) + b"\n\n")
                self.wfile.flush()

            def _stream(self, e: Dict[str, Any]) -> None:
                self._sse_headers()
                for i, d in enumerate(e["deltas"]):
                    if i and e["delay"]:
                        time.sleep(e["delay"])
                    self._send({"id": "x", "object": "chat.completion.chunk", "choices": [{"index": 0, "delta": d}]})
                    if i == 0 and e["gate"] is not None and not e["gate"].wait(30):
                        e["gate_timed_out"] = True  # the test never saw the first chunk in time
                        return
                self._send({"id": "x", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
                if e["usage"]:
                    self._send({"id": "x", "choices": [], "usage": e["usage"]})
                self._send(b"[DONE]")

            def _hang(self, e: Dict[str, Any]) -> None:
                self._sse_headers()
                self.wfile.write(b": thinking\n\n")
                self.wfile.flush()
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    r, _, _ = select.select([self.connection], [], [], 0.05)
                    if r and self.connection.recv(1) == b"":
                        e["disconnected"].set()
                        return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), H)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/v1"
        self._t = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._t.start()

    def add(self, *entries: Dict[str, Any]) -> None:
        with self._mu:
            self.script.extend(entries)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
