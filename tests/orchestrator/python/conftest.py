"""Fixtures for the Python package's tests: a real `shmcp-executor serve` process.

The suite (tests/orchestrator/CMakeLists.txt) sets SHMCP_EXECUTOR (the binary) and SHMCP_LIBRARY
(libshmcp.so); PYTHONPATH points at orchestrator/python unless the installed package is under test.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import tempfile
import time
from typing import Callable, List, Optional

import pytest


def eventually(pred: Callable[[], object], timeout: float = 30.0, what: str = "condition") -> object:
    """Polls pred until it returns a truthy value; fails the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)


class Executor:
    """One executor process on a temporary workspace and a unique channel, with HTTP on a free port."""

    _seq = 0

    def __init__(self, tag: str, extra: Optional[List[str]] = None) -> None:
        Executor._seq += 1
        self.binary = os.environ.get("SHMCP_EXECUTOR")
        if not self.binary:
            pytest.skip("SHMCP_EXECUTOR not set (run through ctest)")
        self.channel = f"it-{os.getpid()}-py-{tag}-{Executor._seq}"
        self.segment = "/dev/shm/shmcp." + self.channel
        self.workspace = tempfile.mkdtemp(prefix="shmcp-it-py-ws-")
        self.extra = extra or []
        self.proc: Optional[subprocess.Popen] = None
        self.port = 0
        self._log = tempfile.NamedTemporaryFile(prefix="shmcp-it-py-log-", mode="w+", delete=False)

    @property
    def shm_url(self) -> str:
        return "shm://" + self.channel

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_text(self) -> str:
        with open(self._log.name) as f:
            return f.read()

    def start(self) -> "Executor":
        self.proc = subprocess.Popen(
            [self.binary, "serve", "--workspace", self.workspace, "--channel", self.channel,
             "--http", "127.0.0.1:0", *self.extra], stdout=self._log, stderr=self._log)

        def ready() -> bool:
            if self.proc.poll() is not None:
                pytest.fail("executor exited during startup:\n" + self.log_text())
            m = re.search(r"HTTP on http://127\.0\.0\.1:(\d+)", self.log_text())
            if m:
                self.port = int(m.group(1))
            return bool(m) and os.path.exists(self.segment) and "serving " in self.log_text()

        eventually(ready, 30, "the executor to serve")
        return self

    def worker_pids(self) -> List[int]:
        out = []
        for d in os.listdir("/proc"):
            if not d.isdigit():
                continue
            try:
                with open(f"/proc/{d}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                with open(f"/proc/{d}/cmdline", "rb") as f:
                    cmd = f.read().replace(b"\0", b" ")
            except (OSError, ValueError, IndexError):
                continue
            if self.proc and ppid == self.proc.pid and b" worker " in cmd:
                out.append(int(d))
        return out

    def kill9(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def stop(self) -> int:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                return self.proc.wait()
        return self.proc.returncode if self.proc else 0

    def path(self, rel: str) -> str:
        return os.path.join(self.workspace, rel)

    def cleanup(self) -> None:
        self.kill9()
        if os.path.exists(self.segment):
            os.unlink(self.segment)
        shutil.rmtree(self.workspace, ignore_errors=True)
        self._log.close()
        os.unlink(self._log.name)


@pytest.fixture
def executor(request: pytest.FixtureRequest):
    ex = Executor(re.sub(r"[^A-Za-z0-9]+", "-", request.node.name)[:40]).start()
    yield ex
    ex.cleanup()


@pytest.fixture
def make_executor():
    made: List[Executor] = []

    def make(tag: str = "x", extra: Optional[List[str]] = None) -> Executor:
        ex = Executor(tag, extra)
        made.append(ex)
        return ex

    yield make
    for ex in made:
        ex.cleanup()
