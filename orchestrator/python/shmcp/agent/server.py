"""shmcp-agent: the HTTP service. Endpoints:

  POST /v1/agent/run   JSON {"prompt": str | "messages": [...], "thread_id"?: str, "options"?: {...}}
                       -> text/event-stream: start, text, tool_call, tool_result, error, done
  GET  /health         200 {"status": "ok", ...} when the executor answers, 503 otherwise
  GET  /metrics        Prometheus text format

A run belongs to its HTTP connection: when the client goes away the run is cancelled (the model
request is aborted, no further tool call starts). The request is hostile input: size-limited,
type-checked, and requests from browsers (an Origin header) are refused.
"""
from __future__ import annotations

import argparse
import hmac
import json
import logging
import os
import select
import signal
import socket
import sys
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, List, Optional, Tuple

from .chat import ChatClient
from .metrics import Metrics
from .run import AgentRun, RunContext, RunOptions, Tools
from .state import THREAD_ID, StateStore

log = logging.getLogger("shmcp-agent")

MAX_BODY = 1 << 20
ROLES = ("system", "user", "assistant", "tool")
DEFAULT_SYSTEM = ("You are a helpful assistant working in a sandboxed workspace. Use the filesystem tools to "
                  "read and change files; paths are relative to the workspace root. Answer concisely.")


class BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def parse_run_request(body: Any, max_steps: int) -> Tuple[Optional[str], List[Dict[str, Any]], Dict[str, Any]]:
    if not isinstance(body, dict):
        raise BadRequest(400, "the body must be a JSON object")
    tid = body.get("thread_id")
    if tid is not None and (not isinstance(tid, str) or not THREAD_ID.match(tid)):
        raise BadRequest(400, "thread_id must be 1-128 characters of [A-Za-z0-9_.-], not starting with '.'")
    msgs: List[Dict[str, Any]] = []
    if "messages" in body:
        raw = body["messages"]
        if not isinstance(raw, list) or not raw:
            raise BadRequest(400, "messages must be a non-empty array")
        for m in raw:
            if not isinstance(m, dict) or m.get("role") not in ROLES or not isinstance(m.get("content"), (str, type(None))):
                raise BadRequest(400, 'each message needs "role" (system, user, assistant, tool) and string "content"')
            msgs.append(dict(m))
    if "prompt" in body:
        if not isinstance(body["prompt"], str) or not body["prompt"]:
            raise BadRequest(400, "prompt must be a non-empty string")
        msgs.append({"role": "user", "content": body["prompt"]})
    if not msgs:
        raise BadRequest(400, 'give "prompt" or "messages"')
    opts = body.get("options", {})
    if not isinstance(opts, dict):
        raise BadRequest(400, "options must be an object")
    out: Dict[str, Any] = {}
    if "max_steps" in opts:
        v = opts["max_steps"]
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise BadRequest(400, "options.max_steps must be a positive integer")
        out["max_steps"] = min(v, max_steps)
    if "temperature" in opts:
        v = opts["temperature"]
        if not isinstance(v, (int, float)) or isinstance(v, bool) or not 0 <= v <= 2:
            raise BadRequest(400, "options.temperature must be a number in [0, 2]")
        out["temperature"] = float(v)
    if "max_tokens" in opts:
        v = opts["max_tokens"]
        if not isinstance(v, int) or isinstance(v, bool) or v < 1:
            raise BadRequest(400, "options.max_tokens must be a positive integer")
        out["max_tokens"] = v
    unknown = set(opts) - {"max_steps", "temperature", "max_tokens"}
    if unknown:
        raise BadRequest(400, f"unknown options: {', '.join(sorted(unknown))}")
    return tid, msgs, out


class Service:
    """Everything a request handler needs; shared by all handler threads."""

    def __init__(self, args: argparse.Namespace, api_key: Optional[str]) -> None:
        self.args = args
        self.metrics = Metrics()
        self.store = StateStore(args.state_dir)
        self.chat = ChatClient(args.llm_url, api_key, timeout=args.llm_timeout)
        urls = [args.executor] + ([args.executor_fallback] if args.executor_fallback else [])
        self.tools = Tools(urls, args.tool_timeout, library=args.library)
        self.agent = AgentRun(self.chat, self.tools, self.store, self.metrics,
                              args.system_prompt if args.system_prompt != "" else None, log.warning)
        self.token: Optional[str] = None
        if args.token_file:
            with open(args.token_file, encoding="utf-8") as f:
                self.token = f.read().strip()
        self.runs_sem = threading.BoundedSemaphore(args.max_runs)
        listen_host = args.listen.rpartition(":")[0].strip("[]")
        self.loopback_only = listen_host in ("127.0.0.1", "localhost", "::1") or listen_host.startswith("127.")
        self.stopping = threading.Event()
        self.active: "set[RunContext]" = set()
        self.active_mu = threading.Lock()

    def cancel_all(self) -> None:
        self.stopping.set()
        with self.active_mu:
            runs = list(self.active)
        for r in runs:
            r.cancel()


class Handler(BaseHTTPRequestHandler):
    server_version = "shmcp-agent/0.1"
    sys_version = ""
    svc: Service  # set on the subclass made by make_server

    def log_message(self, fmt: str, *a: Any) -> None:
        log.info("%s %s", self.address_string(), fmt % a)

    def _json(self, status: int, obj: Any, extra: Optional[Dict[str, str]] = None) -> None:
        body = (json.dumps(obj) + "\n").encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _refuse(self) -> bool:
        """Common checks; answers and returns True if the request is refused."""
        if self.svc.loopback_only:
            # DNS rebinding: a page on evil.example resolved to 127.0.0.1 still sends its own Host.
            host = (self.headers.get("Host") or "").strip().lower()
            name = host.rsplit(":", 1)[0] if not host.startswith("[") else host.split("]")[0] + "]"
            if name not in ("localhost", "127.0.0.1", "[::1]"):
                self._json(403, {"error": "Host must be localhost when serving on loopback"})
                return True
        if self.headers.get("Origin") is not None:
            # Browsers send Origin on cross-site requests: a web page must not drive the agent.
            self._json(403, {"error": "requests with an Origin header (browsers) are not accepted"})
            return True
        if self.svc.token is not None:
            got = self.headers.get("Authorization", "").encode()
            if not hmac.compare_digest(got, ("Bearer " + self.svc.token).encode()):
                self._json(401, {"error": "missing or wrong bearer token"}, {"WWW-Authenticate": "Bearer"})
                return True
        return False

    def do_GET(self) -> None:  # noqa: N802
        if self._refuse():
            return
        path = self.path.split("?", 1)[0]
        if path == "/health":
            status: Dict[str, Any] = {"status": "ok", "model": self.svc.args.model, "llm_url": self.svc.args.llm_url,
                                      "runs_active": int(self.svc.metrics.gauge("shmcp_agent_runs_active"))}
            try:
                status["executor"] = self.svc.tools.health()
                code = 200
            except Exception as e:  # noqa: BLE001 - any failure means "not ready"
                status["status"] = "executor_unreachable"
                status["executor"] = {"error": str(e)}
                code = 503
            self._json(code, status)
        elif path == "/metrics":
            body = self.svc.metrics.render().encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        else:
            self._json(404, {"error": "not found"})

    def do_POST(self) -> None:  # noqa: N802
        if self._refuse():
            return
        if self.path.split("?", 1)[0] != "/v1/agent/run":
            self._json(404, {"error": "not found"})
            return
        if self.headers.get("Content-Type", "").split(";")[0].strip().lower() != "application/json":
            self._json(415, {"error": "Content-Type must be application/json"})
            return
        try:
            length = int(self.headers.get("Content-Length", ""))
        except ValueError:
            self._json(411, {"error": "Content-Length required"})
            return
        if length < 0 or length > MAX_BODY:
            self._json(413, {"error": f"body over {MAX_BODY} bytes"})
            self.close_connection = True
            return
        try:
            body = json.loads(self.rfile.read(length))
            tid, msgs, o = parse_run_request(body, self.svc.args.max_steps)
        except ValueError:
            self._json(400, {"error": "the body is not valid JSON"})
            return
        except RecursionError:
            self._json(400, {"error": "the body is nested too deeply"})
            return
        except BadRequest as e:
            self._json(e.status, {"error": str(e)})
            return
        if self.svc.stopping.is_set():
            self._json(503, {"error": "shutting down"})
            return
        if not self.svc.runs_sem.acquire(blocking=False):
            self._json(429, {"error": "too many runs in progress"}, {"Retry-After": "1"})
            return
        try:
            thread_id = tid or uuid.uuid4().hex
            if not self.svc.store.acquire(thread_id):
                self._json(409, {"error": f"thread {thread_id} has a run in progress"})
                return
            try:
                self._stream_run(thread_id, msgs, o)
            finally:
                self.svc.store.release(thread_id)
        finally:
            self.svc.runs_sem.release()

    def _stream_run(self, thread_id: str, msgs: List[Dict[str, Any]], o: Dict[str, Any]) -> None:
        svc = self.svc
        self.close_connection = True
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream; charset=utf-8")
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Accel-Buffering", "no")
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.flush()
        ctx = RunContext()
        wmu = threading.Lock()

        def write(raw: bytes) -> None:
            with wmu:
                if ctx.cancelled.is_set():
                    return
                try:
                    self.wfile.write(raw)
                    self.wfile.flush()
                except OSError:
                    ctx.cancel()  # the client is gone: stop the run

        def emit(event: str, data: Dict[str, Any]) -> None:
            write(f"event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n".encode())

        done = threading.Event()
        watcher = threading.Thread(target=self._watch, args=(ctx, done, write), daemon=True)
        with svc.active_mu:
            svc.active.add(ctx)
        svc.metrics.add_gauge("shmcp_agent_runs_active", 1)
        watcher.start()
        try:
            opts = RunOptions(model=svc.args.model, max_steps=o.get("max_steps", svc.args.max_steps),
                              temperature=o.get("temperature"), max_tokens=o.get("max_tokens"))
            outcome = svc.agent.run(thread_id, msgs, opts, ctx, emit)
            log.info("run on thread %s ended: %s", thread_id, outcome)
        except Exception as e:  # noqa: BLE001 - report, never kill the server thread silently
            log.exception("run on thread %s failed", thread_id)
            emit("error", {"kind": "internal", "message": str(e)})
        finally:
            done.set()
            watcher.join()
            svc.metrics.add_gauge("shmcp_agent_runs_active", -1)
            with svc.active_mu:
                svc.active.discard(ctx)

    def _watch(self, ctx: RunContext, done: threading.Event, write: Any) -> None:
        """Detects a client that went away while the run waits (on the model or a tool), and keeps
        idle proxies from timing the stream out with SSE comments."""
        sock: socket.socket = self.connection
        last = time.monotonic()
        while not done.is_set() and not ctx.cancelled.is_set():
            try:
                r, _, _ = select.select([sock], [], [], 0.2)
                # The connection carries nothing more from the client after the body (the response
                # is close-delimited), so bytes that arrive are discarded: only EOF matters.
                if r and sock.recv(4096, socket.MSG_DONTWAIT) == b"":
                    log.info("client disconnected: cancelling the run")
                    ctx.cancel()
                    return
            except BlockingIOError:
                pass
            except OSError:
                ctx.cancel()
                return
            if time.monotonic() - last >= self.svc.args.keepalive:
                write(b": keep-alive\n\n")
                last = time.monotonic()


def make_server(args: argparse.Namespace, api_key: Optional[str]) -> Tuple[ThreadingHTTPServer, Service]:
    svc = Service(args, api_key)
    handler = type("BoundHandler", (Handler,), {"svc": svc})
    host, _, port = args.listen.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    server_cls = type("Server", (ThreadingHTTPServer,), {
        "address_family": socket.AF_INET6 if ":" in host else socket.AF_INET, "daemon_threads": True})
    srv = server_cls((host, int(port)), handler)
    return srv, svc


def read_api_key(args: argparse.Namespace) -> Optional[str]:
    if args.api_key_file:
        with open(args.api_key_file, encoding="utf-8") as f:
            return f.read().strip() or None
    return os.environ.get("SHMCP_LLM_API_KEY") or os.environ.get("OPENAI_API_KEY") or None


def build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="shmcp-agent",
        description="The shmcp reference agent: POST /v1/agent/run streams a tool-calling run as Server-Sent "
                    "Events. The model is any OpenAI-compatible chat-completions endpoint (Ollama, vLLM, "
                    "llama.cpp, hosted APIs); every tool call runs in the shmcp executor.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
        epilog="The API key is read from --api-key-file, else $SHMCP_LLM_API_KEY, else $OPENAI_API_KEY "
               "(none is sent if all are empty). Endpoints: POST /v1/agent/run, GET /health, GET /metrics.")
    ap.add_argument("--listen", default="127.0.0.1:8080", help="HOST:PORT to serve on (port 0 = any free port)")
    ap.add_argument("--executor", default="shm://shmcp", help="the executor, shm://CHANNEL or http://HOST:PORT")
    ap.add_argument("--executor-fallback", default=None, metavar="URL",
                    help="used when --executor is unreachable (e.g. http://127.0.0.1:8002)")
    ap.add_argument("--llm-url", default=os.environ.get("SHMCP_LLM_URL", "http://127.0.0.1:11434/v1"),
                    help="OpenAI-compatible base URL; requests go to URL/chat/completions (env SHMCP_LLM_URL; the "
                         "default is a local Ollama)")
    ap.add_argument("--model", default=os.environ.get("SHMCP_MODEL", "qwen2.5:7b-instruct"),
                    help="model name sent to the endpoint (env SHMCP_MODEL)")
    ap.add_argument("--api-key-file", default=None, metavar="FILE", help="file holding the model API key")
    ap.add_argument("--max-steps", type=int, default=10, help="model turns per run (clients may ask for fewer)")
    ap.add_argument("--state-dir", default=os.environ.get("SHMCP_AGENT_STATE_DIR", "./shmcp-agent-state"),
                    help="thread checkpoints go to DIR/threads/ (env SHMCP_AGENT_STATE_DIR)")
    ap.add_argument("--system-prompt", default=DEFAULT_SYSTEM, help="first message of a new thread ('' = none)")
    ap.add_argument("--llm-timeout", type=float, default=120.0,
                    help="seconds to wait for the model's response and between its streamed chunks")
    ap.add_argument("--tool-timeout", type=float, default=30.0, help="deadline of one tool call, seconds")
    ap.add_argument("--max-runs", type=int, default=32, help="runs in parallel; more get 429")
    ap.add_argument("--keepalive", type=float, default=15.0, help="seconds between SSE keep-alive comments")
    ap.add_argument("--token-file", default=None, metavar="FILE",
                    help="require 'Authorization: Bearer <contents>' on every request")
    ap.add_argument("--library", default=None, metavar="PATH", help="libshmcp.so to load (default: $SHMCP_LIBRARY, ...)")
    ap.add_argument("--log-level", default="info", choices=["debug", "info", "warning", "error"])
    return ap


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    if args.max_steps < 1 or args.max_runs < 1 or args.llm_timeout <= 0 or args.tool_timeout <= 0:
        print("shmcp-agent: --max-steps, --max-runs and the timeouts must be positive", file=sys.stderr)
        return 2
    try:
        srv, svc = make_server(args, read_api_key(args))
    except (OSError, ValueError) as e:
        print(f"shmcp-agent: {e}", file=sys.stderr)
        return 1

    def stop(signum: int, _frame: Any) -> None:
        log.info("signal %d: cancelling runs and stopping", signum)
        svc.cancel_all()
        threading.Thread(target=srv.shutdown, daemon=True).start()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    host, port = srv.server_address[:2]
    log.info("serving on http://%s:%d (model %s at %s, executor %s)", host, port, args.model, args.llm_url,
             args.executor + (f", fallback {args.executor_fallback}" if args.executor_fallback else ""))
    print(f"shmcp-agent listening on http://{host}:{port}", flush=True)
    try:
        srv.serve_forever()
    finally:
        srv.server_close()
        svc.tools.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
