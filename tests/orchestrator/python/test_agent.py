"""shmcp-agent end to end: a real executor, the agent service as a process, a scripted
OpenAI-compatible model server, and the SSE stream read event by event with a real HTTP client."""
from __future__ import annotations

import http.client
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
from typing import Any, Dict, Iterator, List, Optional, Tuple

import pytest

from conftest import eventually
from fake_llm import FakeLLM, hang, status, stream, text_deltas, tool_call_deltas

USAGE = {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}


class Agent:
    def __init__(self, executor, llm: FakeLLM, state_dir: str, extra: Optional[List[str]] = None) -> None:
        cmd = os.environ.get("SHMCP_AGENT_CMD")
        argv = cmd.split() if cmd else [sys.executable, "-m", "shmcp.agent"]
        self.proc = subprocess.Popen(
            argv + ["--listen", "127.0.0.1:0", "--executor", executor.shm_url, "--executor-fallback", executor.http_url,
                    "--llm-url", llm.url, "--model", "scripted", "--state-dir", state_dir, "--llm-timeout", "5",
                    "--log-level", "info", *(extra or [])],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        line = self.proc.stdout.readline()
        m = re.search(r"listening on http://127\.0\.0\.1:(\d+)", line)
        if not m:
            self.proc.kill()
            pytest.fail("agent did not start: " + line + self.proc.stderr.read())
        self.port = int(m.group(1))
        self._err: List[str] = []
        threading.Thread(target=lambda: self._err.extend(self.proc.stderr), daemon=True).start()

    def stderr(self) -> str:
        return "".join(self._err)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait()

    def conn(self) -> http.client.HTTPConnection:
        return http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)

    def get(self, path: str) -> Tuple[int, str]:
        c = self.conn()
        c.request("GET", path)
        r = c.getresponse()
        return r.status, r.read().decode()

    def post(self, body: Any, headers: Optional[Dict[str, str]] = None) -> http.client.HTTPResponse:
        c = self.conn()
        raw = body if isinstance(body, bytes) else json.dumps(body).encode()
        c.request("POST", "/v1/agent/run", body=raw, headers=headers if headers is not None else {"Content-Type": "application/json"})
        return c.getresponse()

    def metric(self, name: str, **labels: str) -> float:
        from shmcp.agent.metrics import counter_value
        return counter_value(self.get("/metrics")[1], name, labels.items())


def events(resp: http.client.HTTPResponse, comments: Optional[List[str]] = None) -> Iterator[Tuple[str, Dict[str, Any]]]:
    """Parses the SSE stream as it arrives, yielding (event, data) one at a time."""
    event, data = None, []
    while True:
        line = resp.fp.readline()
        if not line:
            return
        line = line.decode().rstrip("\n")
        if line == "":
            if event is not None:
                yield event, json.loads("\n".join(data))
            event, data = None, []
        elif line.startswith(":"):
            if comments is not None:
                comments.append(line)
        elif line.startswith("event: "):
            event = line[7:]
        elif line.startswith("data: "):
            data.append(line[6:])


@pytest.fixture
def llm():
    f = FakeLLM()
    yield f
    f.close()


@pytest.fixture
def state_dir():
    d = tempfile.mkdtemp(prefix="shmcp-agent-state-")
    yield d
    import shutil
    shutil.rmtree(d, ignore_errors=True)


@pytest.fixture
def agent(executor, llm, state_dir):
    a = Agent(executor, llm, state_dir, ["--keepalive", "0.05"])
    yield a
    a.stop()


def test_run_streams_text_tool_calls_and_a_final_answer(agent, llm, executor):
    gate = threading.Event()
    turn1, turn2 = text_deltas("Let me write and check it."), text_deltas("The file says: hi from the model")
    first = stream(turn1 + tool_call_deltas([
                ("call_w", "write_file", json.dumps({"path": "note.txt", "content": "hi from the model"})),
                ("call_r", "read_text_file", json.dumps({"path": "note.txt"}))]), usage=USAGE, gate=gate)
    llm.add(first, stream(turn2, usage=USAGE))
    resp = agent.post({"prompt": "write a note", "thread_id": "t-stream"})
    assert resp.status == 200 and resp.getheader("Content-Type").startswith("text/event-stream")
    ev = events(resp)
    name, data = next(ev)
    assert name == "start" and data["thread_id"] == "t-stream" and data["model"] == "scripted"
    # The first text delta arrives while the model is still holding back the rest of its turn.
    name, data = next(ev)
    assert (name, data) == ("text", {"delta": turn1[0]["content"]})
    gate.set()
    rest = list(ev)
    assert not first["gate_timed_out"]
    kinds = [n for n, _ in rest]
    assert kinds == (["text"] * (len(turn1) - 1) + ["tool_call", "tool_result", "tool_call", "tool_result"] +
                     ["text"] * len(turn2) + ["done"])
    calls = [d for n, d in rest if n == "tool_call"]
    results = [d for n, d in rest if n == "tool_result"]
    assert calls == [{"id": "call_w", "name": "write_file", "arguments": {"path": "note.txt", "content": "hi from the model"}},
                     {"id": "call_r", "name": "read_text_file", "arguments": {"path": "note.txt"}}]
    assert [(r["id"], r["is_error"], r["outcome"], r["text"]) for r in results] == [
        ("call_w", False, "ok", "Successfully wrote to note.txt"), ("call_r", False, "ok", "hi from the model")]
    text = "".join(d["delta"] for n, d in rest if n == "text")
    assert turn1[0]["content"] + text == "Let me write and check it.The file says: hi from the model"
    name, done = rest[-1]
    assert name == "done" and done == {"thread_id": "t-stream", "finish_reason": "stop", "steps": 2,
                                       "usage": {"prompt_tokens": 20, "completion_tokens": 10, "total_tokens": 30}}
    with open(executor.path("note.txt")) as f:
        assert f.read() == "hi from the model"
    # What the model was sent: the 14 tools in OpenAI format, then the tool results by call id.
    first, second = llm.requests
    assert first["model"] == "scripted" and first["stream"] is True
    assert len(first["tools"]) == 14 and all(t["type"] == "function" for t in first["tools"])
    assert [m["role"] for m in first["messages"]] == ["system", "user"]
    assert [m["role"] for m in second["messages"]] == ["system", "user", "assistant", "tool", "tool"]
    assert second["messages"][2]["tool_calls"][0]["function"]["name"] == "write_file"
    assert [(m["tool_call_id"], m["content"]) for m in second["messages"][3:]] == [
        ("call_w", "Successfully wrote to note.txt"), ("call_r", "hi from the model")]
    assert agent.metric("shmcp_agent_runs_total", outcome="stop") == 1
    assert agent.metric("shmcp_agent_steps_total") == 2
    assert agent.metric("shmcp_agent_tool_calls_total", tool="write_file", outcome="ok") == 1
    assert agent.metric("shmcp_agent_llm_request_seconds_count", outcome="ok") == 2


def test_malformed_and_failing_tool_calls_go_back_to_the_model(agent, llm):
    llm.add(stream(tool_call_deltas([("c1", "read_text_file", '{"path": '),      # truncated JSON
                                     ("c2", "format_disk", "{}"),                # no such tool
                                     ("c3", "read_text_file", '{"path": "missing.txt"}')])),  # tool error
            stream(text_deltas("Sorry.")))
    got = list(events(agent.post({"prompt": "go"})))
    results = {d["id"]: d for n, d in got if n == "tool_result"}
    assert results["c1"]["outcome"] == "invalid" and results["c1"]["text"].startswith("Error: invalid call of tool read_text_file")
    assert results["c2"]["outcome"] == "invalid" and "format_disk" in results["c2"]["text"]
    assert results["c3"]["outcome"] == "tool_error" and results["c3"]["text"].startswith("Error") and "ENOENT" in results["c3"]["text"]
    assert all(r["is_error"] for r in results.values())
    assert [d for n, d in got if n == "tool_call"][0]["arguments"] == '{"path": '  # shown as sent
    assert got[-1][0] == "done" and got[-1][1]["finish_reason"] == "stop"
    tool_msgs = [m for m in llm.requests[1]["messages"] if m["role"] == "tool"]
    assert [m["tool_call_id"] for m in tool_msgs] == ["c1", "c2", "c3"] and all(m["content"].startswith("Error") for m in tool_msgs)
    assert agent.metric("shmcp_agent_tool_calls_total", tool="unknown", outcome="invalid") == 1
    assert agent.metric("shmcp_agent_tool_calls_total", tool="read_text_file", outcome="invalid") == 1
    assert agent.metric("shmcp_agent_tool_calls_total", tool="read_text_file", outcome="tool_error") == 1


def test_model_error_status_ends_the_run_with_an_error_event(agent, llm):
    llm.add(status(500, "model exploded"))
    got = list(events(agent.post({"prompt": "hi"})))
    assert [n for n, _ in got] == ["start", "error", "done"]
    err = got[1][1]
    assert err["kind"] == "llm" and err["reason"] == "status" and err["status"] == 500 and "model exploded" in err["message"]
    assert got[2][1]["finish_reason"] == "error"
    assert agent.metric("shmcp_agent_llm_errors_total", kind="status") == 1
    assert agent.metric("shmcp_agent_runs_total", outcome="error") == 1


def test_slow_model_keeps_the_stream_alive_and_a_stalled_one_times_out(agent, llm):
    llm.add(stream(text_deltas("slow but fine", parts=3), delay=0.4))
    comments: List[str] = []
    got = list(events(agent.post({"prompt": "hi"}), comments))
    assert "".join(d["delta"] for n, d in got if n == "text") == "slow but fine"
    assert got[-1][1]["finish_reason"] == "stop"
    assert ": keep-alive" in comments  # sent while waiting between chunks
    # Silent for longer than --llm-timeout (5 s): the run ends with a timeout error.
    llm.add(hang())
    got = list(events(agent.post({"prompt": "hi"})))
    assert [n for n, _ in got] == ["start", "error", "done"]
    assert got[1][1]["reason"] == "timeout"


def test_checkpoint_resumes_a_thread_after_a_restart(executor, llm, state_dir):
    a = Agent(executor, llm, state_dir)
    llm.add(stream(text_deltas("Noted: 42.")))
    got = list(events(a.post({"prompt": "Remember the number 42.", "thread_id": "conv-1"})))
    assert got[-1][1]["finish_reason"] == "stop" and got[0][1]["resumed_messages"] == 0
    assert a.stop() == 0
    assert os.path.exists(os.path.join(state_dir, "threads", "conv-1.json"))
    b = Agent(executor, llm, state_dir)
    try:
        llm.add(stream(text_deltas("It was 42.")))
        got = list(events(b.post({"prompt": "Which number?", "thread_id": "conv-1"})))
        assert got[0][1]["resumed_messages"] == 3
        assert "".join(d["delta"] for n, d in got if n == "text") == "It was 42."
        sent = llm.requests[-1]["messages"]
        assert [(m["role"], m["content"]) for m in sent[1:]] == [
            ("user", "Remember the number 42."), ("assistant", "Noted: 42."), ("user", "Which number?")]
        # Another thread starts fresh.
        llm.add(stream(text_deltas("Hello.")))
        got = list(events(b.post({"prompt": "Hi", "thread_id": "conv-2"})))
        assert got[0][1]["resumed_messages"] == 0 and len(llm.requests[-1]["messages"]) == 2
    finally:
        b.stop()


def test_client_disconnect_cancels_the_run(agent, llm):
    h = hang()
    llm.add(h)
    resp = agent.post({"prompt": "take your time", "thread_id": "gone"})
    ev = events(resp)
    assert next(ev)[0] == "start"
    eventually(lambda: len(llm.requests) == 1, what="the model request")
    resp.close()  # the client goes away mid-run
    assert h["disconnected"].wait(30), "the agent did not abort its model request"
    eventually(lambda: agent.metric("shmcp_agent_runs_total", outcome="cancelled") == 1, what="the cancelled run")
    assert len(llm.requests) == 1  # nothing further was asked of the model
    # The thread is free again and keeps its consistent checkpoint (the user's message).
    llm.add(stream(text_deltas("back")))
    got = list(events(agent.post({"prompt": "again", "thread_id": "gone"})))
    assert got[-1][1]["finish_reason"] == "stop"
    assert [m["role"] for m in llm.requests[-1]["messages"]] == ["system", "user", "user"]


def test_step_limit(agent, llm):
    call = tool_call_deltas([("c", "list_allowed_directories", "{}")])
    llm.add(stream(call), stream(call), stream(call))
    got = list(events(agent.post({"prompt": "loop", "options": {"max_steps": 2}})))
    assert [n for n, _ in got].count("tool_call") == 2
    assert got[-2][0] == "error" and got[-2][1]["kind"] == "max_steps"
    assert got[-1][1]["finish_reason"] == "max_steps" and got[-1][1]["steps"] == 2
    assert len(llm.requests) == 2


def test_requests_are_validated(agent):
    r = agent.post({"prompt": "x"}, headers={})  # no Content-Type
    assert r.status == 415
    assert agent.post(b"{not json").status == 400
    assert agent.post({"prompt": "x", "thread_id": "../etc"}).status == 400
    assert agent.post({"prompt": ""}).status == 400
    assert agent.post({"messages": [{"role": "wizard", "content": "x"}]}).status == 400
    assert agent.post({"prompt": "x", "options": {"max_steps": 0}}).status == 400
    assert agent.post({"prompt": "x", "options": {"shell": True}}).status == 400
    assert agent.post({"prompt": "x"}, headers={"Content-Type": "application/json", "Origin": "http://evil.example"}).status == 403
    assert agent.post({"prompt": "x"}, headers={"Content-Type": "application/json", "Host": "evil.example:8080"}).status == 403
    assert agent.post(b"[" * 100000 + b"]" * 100000).status == 400
    c = agent.conn()
    c.request("POST", "/v1/agent/run", body=b"x" * 10, headers={"Content-Type": "application/json", "Content-Length": str(2 << 20)})
    assert c.getresponse().status == 413
    assert agent.get("/nope")[0] == 404


def test_token_file_requires_the_bearer_token(executor, llm, state_dir, tmp_path):
    tok = tmp_path / "token"
    tok.write_text("s3cret\n")
    a = Agent(executor, llm, state_dir, ["--token-file", str(tok)])
    try:
        assert a.post({"prompt": "x"}).status == 401
        assert a.post({"prompt": "x"}, headers={"Content-Type": "application/json", "Authorization": "Bearer nope"}).status == 401
        llm.add(stream(text_deltas("ok")))
        r = a.post({"prompt": "x"}, headers={"Content-Type": "application/json", "Authorization": "Bearer s3cret"})
        assert r.status == 200 and list(events(r))[-1][1]["finish_reason"] == "stop"
    finally:
        a.stop()


def test_health_and_metrics(agent, executor):
    code, body = agent.get("/health")
    assert code == 200
    h = json.loads(body)
    assert h["status"] == "ok" and h["executor"]["url"] == executor.shm_url and h["executor"]["status"] == "ok"
    code, text = agent.get("/metrics")
    assert code == 200
    for series in ("shmcp_agent_runs_total", "shmcp_agent_steps_total", "shmcp_agent_tool_calls_total",
                   "shmcp_agent_llm_request_seconds", "shmcp_agent_runs_active"):
        assert f"# TYPE {series} " in text
    executor.kill9()
    code, body = agent.get("/health")
    assert code == 503 and json.loads(body)["status"] == "executor_unreachable"


def test_http_fallback_when_shm_is_unavailable(make_executor, llm, state_dir):
    ex = make_executor("fb").start()

    class OnlyHttp:  # an shm URL that does not exist, with the real executor's HTTP as fallback
        shm_url = "shm://" + ex.channel + "-absent"
        http_url = ex.http_url

    a = Agent(OnlyHttp, llm, state_dir)
    try:
        llm.add(stream(tool_call_deltas([("c", "write_file", json.dumps({"path": "f.txt", "content": "via http"}))])),
                stream(text_deltas("ok")))
        got = list(events(a.post({"prompt": "x"})))
        assert [d["outcome"] for n, d in got if n == "tool_result"] == ["ok"]
        with open(ex.path("f.txt")) as f:
            assert f.read() == "via http"
    finally:
        a.stop()


def test_help_and_api_key(executor, llm, state_dir, tmp_path):
    cmd = os.environ.get("SHMCP_AGENT_CMD")
    argv = cmd.split() if cmd else [sys.executable, "-m", "shmcp.agent"]
    out = subprocess.run(argv + ["--help"], capture_output=True, text=True, check=True).stdout
    for flag in ("--llm-url", "--model", "--api-key-file", "--state-dir", "--max-steps", "--executor-fallback"):
        assert flag in out
    key = tmp_path / "key"
    key.write_text("sk-test-123\n")
    a = Agent(executor, llm, state_dir, ["--api-key-file", str(key)])
    try:
        llm.add(stream(text_deltas("ok")))
        list(events(a.post({"prompt": "x"})))
        assert llm.headers[-1]["Authorization"] == "Bearer sk-test-123"
    finally:
        a.stop()
