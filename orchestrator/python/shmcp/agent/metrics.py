"""Prometheus counters, a gauge and a histogram, in the text exposition format (no dependency)."""
from __future__ import annotations

import threading
from typing import Dict, Iterable, List, Tuple

LLM_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)

Labels = Tuple[Tuple[str, str], ...]


def _fmt_labels(labels: Labels) -> str:
    if not labels:
        return ""
    esc = lambda v: v.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')  # noqa: E731
    return "{" + ",".join(f'{k}="{esc(v)}"' for k, v in labels) + "}"


class Metrics:
    """All of the service's metrics. Every method may be called from any thread."""

    def __init__(self) -> None:
        self._mu = threading.Lock()
        self._counters: Dict[str, Dict[Labels, float]] = {}
        self._gauges: Dict[str, float] = {}
        self._hist_counts: Dict[Labels, List[int]] = {}
        self._hist_sum: Dict[Labels, float] = {}
        self._help = {
            "shmcp_agent_runs_total": ("counter", "Agent runs by how they ended (stop, max_steps, error, cancelled)."),
            "shmcp_agent_steps_total": ("counter", "Model turns (one chat-completions request each)."),
            "shmcp_agent_tool_calls_total": ("counter", "Tool calls by tool and outcome (ok, tool_error, invalid, transport_error)."),
            "shmcp_agent_llm_errors_total": ("counter", "Failed chat-completions requests by kind (status, timeout, connection, protocol)."),
            "shmcp_agent_tokens_total": ("counter", "Tokens reported by the model's usage, by kind (prompt, completion)."),
            "shmcp_agent_runs_active": ("gauge", "Runs in progress."),
        }

    def inc(self, name: str, value: float = 1.0, **labels: str) -> None:
        key: Labels = tuple(sorted(labels.items()))
        with self._mu:
            series = self._counters.setdefault(name, {})
            series[key] = series.get(key, 0.0) + value

    def add_gauge(self, name: str, delta: float) -> None:
        with self._mu:
            self._gauges[name] = self._gauges.get(name, 0.0) + delta

    def gauge(self, name: str) -> float:
        with self._mu:
            return self._gauges.get(name, 0.0)

    def observe_llm(self, seconds: float, outcome: str) -> None:
        key: Labels = (("outcome", outcome),)
        with self._mu:
            counts = self._hist_counts.setdefault(key, [0] * (len(LLM_BUCKETS) + 1))
            for i, b in enumerate(LLM_BUCKETS):
                if seconds <= b:
                    counts[i] += 1
            counts[-1] += 1
            self._hist_sum[key] = self._hist_sum.get(key, 0.0) + seconds

    def render(self) -> str:
        out: List[str] = []
        with self._mu:
            for name, (kind, text) in self._help.items():
                out.append(f"# HELP {name} {text}")
                out.append(f"# TYPE {name} {kind}")
                if kind == "gauge":
                    out.append(f"{name} {self._gauges.get(name, 0.0):g}")
                    continue
                for labels, v in sorted(self._counters.get(name, {}).items()):
                    out.append(f"{name}{_fmt_labels(labels)} {v:g}")
            h = "shmcp_agent_llm_request_seconds"
            out.append(f"# HELP {h} Chat-completions request latency, request to last chunk, by outcome.")
            out.append(f"# TYPE {h} histogram")
            for labels, counts in sorted(self._hist_counts.items()):
                for b, c in zip([*(f"{b:g}" for b in LLM_BUCKETS), "+Inf"], counts):
                    out.append(f"{h}_bucket{_fmt_labels(labels + (('le', b),))} {c}")
                out.append(f"{h}_sum{_fmt_labels(labels)} {self._hist_sum[labels]:.6f}")
                out.append(f"{h}_count{_fmt_labels(labels)} {counts[-1]}")
        return "\n".join(out) + "\n"


def counter_value(text: str, name: str, labels: Iterable[Tuple[str, str]] = ()) -> float:
    """Reads one sample back from render()'s output (for tests and tooling); 0 if absent."""
    want = name + _fmt_labels(tuple(sorted(labels)))
    for line in text.splitlines():
        if line.startswith(want + " "):
            return float(line.split()[-1])
    return 0.0
