"""Thread checkpoints: each thread's messages in STATE_DIR/threads/<thread_id>.json.

A checkpoint is written (atomically: temporary file, fsync, rename) whenever the conversation is
consistent: after the user's message, after each step's tool results and after the final answer.
So a run interrupted by a crash, a restart or a disconnect leaves the last consistent state and a
later run with the same thread_id continues from it.
"""
from __future__ import annotations

import json
import os
import re
import tempfile
import threading
from typing import Any, Dict, List, Optional

THREAD_ID = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9_.-]{0,127}$")


class StateStore:
    def __init__(self, directory: str) -> None:
        self.dir = os.path.join(directory, "threads")
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        self._mu = threading.Lock()
        self._busy: set = set()

    def _path(self, thread_id: str) -> str:
        if not THREAD_ID.match(thread_id):
            raise ValueError("invalid thread_id")
        return os.path.join(self.dir, thread_id + ".json")

    def acquire(self, thread_id: str) -> bool:
        """Marks the thread as running; False if another run holds it."""
        with self._mu:
            if thread_id in self._busy:
                return False
            self._busy.add(thread_id)
            return True

    def release(self, thread_id: str) -> None:
        with self._mu:
            self._busy.discard(thread_id)

    def load(self, thread_id: str) -> Optional[List[Dict[str, Any]]]:
        try:
            with open(self._path(thread_id), encoding="utf-8") as f:
                data = json.load(f)
        except FileNotFoundError:
            return None
        msgs = data.get("messages") if isinstance(data, dict) else None
        if not isinstance(msgs, list):
            raise ValueError(f"checkpoint of thread {thread_id} is damaged")
        return msgs

    def save(self, thread_id: str, messages: List[Dict[str, Any]]) -> None:
        path = self._path(thread_id)
        fd, tmp = tempfile.mkstemp(dir=self.dir, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump({"thread_id": thread_id, "messages": messages}, f, ensure_ascii=False)
                f.flush()
                os.fsync(f.fileno())
            os.replace(tmp, path)
        except BaseException:
            try:
                os.unlink(tmp)
            except OSError:
                pass
            raise
