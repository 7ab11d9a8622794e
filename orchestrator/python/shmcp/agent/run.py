"""One agent run: model turns and tool calls until a final answer, the step limit, an error or
cancellation. Emits events through a callback; the HTTP layer turns them into SSE."""
from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Optional

from ..client import Client
from ..errors import RequestError, ShmcpError, TransportError
from ..llm import parse_tool_call, result_text
from .chat import ChatClient, ChatError, ChatStream
from .metrics import Metrics
from .state import StateStore

Emit = Callable[[str, Dict[str, Any]], None]

KNOWN_TOOLS = frozenset({
    "read_file", "read_text_file", "read_media_file", "read_multiple_files", "write_file", "edit_file",
    "create_directory", "list_directory", "list_directory_with_sizes", "directory_tree", "move_file",
    "search_files", "get_file_info", "list_allowed_directories",
})


class Cancelled(Exception):
    pass


class RunContext:
    """Cancellation shared by a run's thread and its watcher. cancel() may be called from any thread."""

    def __init__(self) -> None:
        self.cancelled = threading.Event()
        self._mu = threading.Lock()
        self._stream: Optional[ChatStream] = None

    def cancel(self) -> None:
        self.cancelled.set()
        with self._mu:
            s = self._stream
        if s is not None:
            s.abort()

    def attach(self, s: Optional[ChatStream]) -> None:
        with self._mu:
            self._stream = s
        if s is not None and self.cancelled.is_set():
            s.abort()

    def check(self) -> None:
        if self.cancelled.is_set():
            raise Cancelled()


class Tools:
    """The executor connections: shm first, HTTP as fallback. Connects lazily (the executor may
    start after the agent) and is shared by all runs (Client is thread-safe)."""

    def __init__(self, urls: List[str], timeout: float, library: Optional[str] = None) -> None:
        self.urls = urls
        self.timeout = timeout
        self.library = library
        self._mu = threading.Lock()
        self._clients: Dict[str, Client] = {}
        self._defs: Optional[List[Dict[str, Any]]] = None

    def _client(self, url: str) -> Client:
        with self._mu:
            c = self._clients.get(url)
        if c is not None:
            return c
        c = Client(url, self.timeout, library=self.library)
        with self._mu:
            old = self._clients.setdefault(url, c)
        if old is not c:
            c.close()
        return old

    def _each(self, fn: Callable[[Client], Any]) -> Any:
        last: Optional[ShmcpError] = None
        for url in self.urls:
            try:
                return fn(self._client(url))
            except TransportError as e:
                last = e
        assert last is not None
        raise last

    def definitions(self) -> List[Dict[str, Any]]:
        if self._defs is None:
            self._defs = self._each(lambda c: c.tool_definitions("openai"))
        return self._defs

    def health(self) -> Dict[str, Any]:
        return self._each(lambda c: dict(c.health(), url=c.url))

    def call(self, name: str, args: Dict[str, Any]):  # -> ToolResult
        return self._each(lambda c: c.call(name, args))

    def close(self) -> None:
        with self._mu:
            clients, self._clients = list(self._clients.values()), {}
        for c in clients:
            c.close()


@dataclass
class RunOptions:
    model: str
    max_steps: int
    temperature: Optional[float] = None
    max_tokens: Optional[int] = None
    extra: Dict[str, Any] = field(default_factory=dict)


class AgentRun:
    def __init__(self, chat: ChatClient, tools: Tools, store: StateStore, metrics: Metrics,
                 system_prompt: Optional[str], log: Callable[[str], None]) -> None:
        self.chat = chat
        self.tools = tools
        self.store = store
        self.metrics = metrics
        self.system_prompt = system_prompt
        self.log = log

    def run(self, thread_id: str, new_messages: List[Dict[str, Any]], opts: RunOptions,
            ctx: RunContext, emit: Emit) -> str:
        """Returns the outcome: "stop", "max_steps", "error" or "cancelled" (also in the done event)."""
        usage = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
        steps = 0
        outcome = "error"
        messages = self.store.load(thread_id) or []
        resumed = len(messages)
        if not messages and self.system_prompt:
            messages.append({"role": "system", "content": self.system_prompt})
        messages.extend(new_messages)
        self.store.save(thread_id, messages)
        emit("start", {"thread_id": thread_id, "model": opts.model, "resumed_messages": resumed})
        try:
            try:
                defs = self.tools.definitions()
            except ShmcpError as e:
                emit("error", {"kind": "executor", "message": f"cannot reach the tool executor: {e}"})
                return outcome
            while True:
                ctx.check()
                if steps >= opts.max_steps:
                    outcome = "max_steps"
                    emit("error", {"kind": "max_steps", "message": f"stopped after {steps} model turns without a final answer"})
                    return outcome
                steps += 1
                self.metrics.inc("shmcp_agent_steps_total")
                content, calls = self._model_turn(messages, defs, opts, ctx, emit, usage)
                msg: Dict[str, Any] = {"role": "assistant", "content": content}
                if calls:
                    msg["tool_calls"] = calls
                messages.append(msg)
                if not calls:
                    self.store.save(thread_id, messages)
                    outcome = "stop"
                    return outcome
                for call in calls:
                    ctx.check()
                    messages.append(self._tool_call(call, emit))
                self.store.save(thread_id, messages)
        except Cancelled:
            outcome = "cancelled"
            return outcome
        except ChatError as e:
            if e.kind == "cancelled":
                outcome = "cancelled"
                return outcome
            self.metrics.inc("shmcp_agent_llm_errors_total", kind=e.kind)
            emit("error", {"kind": "llm", "reason": e.kind, "status": e.status, "message": str(e)})
            return outcome
        except TransportError as e:
            emit("error", {"kind": "executor", "message": str(e)})
            return outcome
        finally:
            self.metrics.inc("shmcp_agent_runs_total", outcome=outcome)
            self.metrics.inc("shmcp_agent_tokens_total", usage["prompt_tokens"], kind="prompt")
            self.metrics.inc("shmcp_agent_tokens_total", usage["completion_tokens"], kind="completion")
            if outcome != "cancelled":
                emit("done", {"thread_id": thread_id, "finish_reason": outcome, "steps": steps, "usage": usage})

    def _model_turn(self, messages: List[Dict[str, Any]], defs: List[Dict[str, Any]], opts: RunOptions,
                    ctx: RunContext, emit: Emit, usage: Dict[str, int]):
        body: Dict[str, Any] = {"model": opts.model, "messages": messages, "tools": defs, "stream": True,
                                "stream_options": {"include_usage": True}}
        if opts.temperature is not None:
            body["temperature"] = opts.temperature
        if opts.max_tokens is not None:
            body["max_tokens"] = opts.max_tokens
        body.update(opts.extra)
        stream = self.chat.open()
        ctx.attach(stream)
        t0 = time.monotonic()
        text: List[str] = []
        partial: Dict[int, Dict[str, Any]] = {}
        llm_outcome = "error"
        try:
            for chunk in stream.stream(body):
                u = chunk.get("usage")
                if isinstance(u, dict):
                    for k in usage:
                        v = u.get(k)
                        if isinstance(v, int) and v >= 0:
                            usage[k] += v
                choices = chunk.get("choices")
                if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
                    continue
                delta = choices[0].get("delta") or {}
                if not isinstance(delta, dict):
                    continue
                piece = delta.get("content")
                if isinstance(piece, str) and piece:
                    text.append(piece)
                    emit("text", {"delta": piece})
                for tc in delta.get("tool_calls") or []:
                    if not isinstance(tc, dict):
                        continue
                    idx = tc.get("index", len(partial))
                    idx = idx if isinstance(idx, int) else len(partial)
                    p = partial.setdefault(idx, {"id": "", "name": "", "arguments": ""})
                    if isinstance(tc.get("id"), str):
                        p["id"] = tc["id"]
                    fn = tc.get("function") or {}
                    if isinstance(fn, dict):
                        if isinstance(fn.get("name"), str):
                            p["name"] += fn["name"]
                        args = fn.get("arguments")
                        if isinstance(args, str):
                            p["arguments"] += args
                        elif isinstance(args, dict):  # some servers send an object, not JSON text
                            p["arguments"] += json.dumps(args)
            llm_outcome = "ok"
        finally:
            ctx.attach(None)
            self.metrics.observe_llm(time.monotonic() - t0, llm_outcome)
        calls = []
        for i in sorted(partial):
            p = partial[i]
            calls.append({"id": p["id"] or f"call_{uuid.uuid4().hex[:12]}", "type": "function",
                          "function": {"name": p["name"], "arguments": p["arguments"] or "{}"}})
        return ("".join(text) or None), calls

    def _tool_call(self, call: Dict[str, Any], emit: Emit) -> Dict[str, Any]:
        tc = parse_tool_call(call)
        emit("tool_call", {"id": tc.id, "name": tc.name,
                           "arguments": tc.arguments if not tc.error else call["function"]["arguments"]})
        label = tc.name if tc.name in KNOWN_TOOLS else "unknown"
        is_error = True
        if tc.error:
            text, outcome = f"Error: invalid call of tool {tc.name or '?'}: {tc.error}", "invalid"
        else:
            try:
                result = self.tools.call(tc.name, tc.arguments)
                text = result_text(result)
                is_error = result.is_error
                if is_error and not text.startswith("Error"):
                    text = "Error: " + text
                outcome = "tool_error" if is_error else "ok"
            except RequestError as e:
                text, outcome = f"Error: {e.message}", "invalid"
            except TransportError as e:
                # Told to the model as well: it can answer without the tool or stop.
                text, outcome = f"Error: the tool executor is unavailable ({e.message})", "transport_error"
                self.log(f"tool {tc.name}: {e.message}")
        self.metrics.inc("shmcp_agent_tool_calls_total", tool=label, outcome=outcome)
        emit("tool_result", {"id": tc.id, "name": tc.name, "is_error": is_error, "outcome": outcome, "text": text})
        return {"role": "tool", "tool_call_id": tc.id, "content": text}
