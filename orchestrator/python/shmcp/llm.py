"""Plugging the executor's tools into a model's tool calling.

    defs = client.tool_definitions("openai")           # or "anthropic", "mcp"
    ... send defs with the chat request; for each tool call the model makes:
    text = client.run_tool_call(call)                  # OpenAI or Anthropic shape, dict or SDK object
    messages.append(tool_result_message(call, text))   # the reply message in the same API's shape

Formats:
  openai     {"type": "function", "function": {"name", "description", "parameters"}}
  anthropic  {"name", "description", "input_schema"}
  mcp        the tools/list entries unchanged ({"name", "description", "inputSchema", ...})
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Dict, List, Mapping, Optional, Sequence

from .errors import InvalidArgumentError, TooLargeError

if TYPE_CHECKING:
    from .client import Client, ToolResult

FORMATS = ("openai", "anthropic", "mcp")


def _schema(tool: Mapping[str, Any]) -> Dict[str, Any]:
    # "$schema" is JSON-Schema metadata some model APIs reject in tool parameters.
    s = {k: v for k, v in dict(tool.get("inputSchema") or {}).items() if k != "$schema"}
    s.setdefault("type", "object")
    s.setdefault("properties", {})
    return s


def tool_definitions(tools: Sequence[Mapping[str, Any]], format: str = "openai") -> List[Dict[str, Any]]:  # noqa: A002
    """Converts tools/list entries (Client.tools()) to a model API's tool format."""
    if format == "mcp":
        return [dict(t) for t in tools]
    if format == "openai":
        return [{"type": "function",
                 "function": {"name": t["name"], "description": t.get("description", ""), "parameters": _schema(t)}}
                for t in tools]
    if format == "anthropic":
        return [{"name": t["name"], "description": t.get("description", ""), "input_schema": _schema(t)} for t in tools]
    raise ValueError(f"unknown format {format!r}: one of {', '.join(FORMATS)}")


@dataclass
class ToolCall:
    """One model tool call, normalised. `error` is set when the call is malformed (arguments that
    are not a JSON object, no name); `arguments` is then {}."""

    id: str
    name: str
    arguments: Dict[str, Any]
    format: str  # "openai" or "anthropic"
    error: Optional[str] = None


def _as_dict(call: Any) -> Dict[str, Any]:
    if isinstance(call, Mapping):
        return dict(call)
    for attr in ("model_dump", "dict", "to_dict"):  # pydantic v2 / v1 SDK objects
        f = getattr(call, attr, None)
        if callable(f):
            d = f()
            if isinstance(d, Mapping):
                return dict(d)
    raise TypeError(f"not a tool call: {type(call).__name__}")


def parse_tool_call(call: Any) -> ToolCall:
    """Normalises an OpenAI tool call ({"id", "type": "function", "function": {"name",
    "arguments": "<JSON text>"}}) or an Anthropic tool_use block ({"type": "tool_use", "id",
    "name", "input": {...}}). Never raises for malformed content (sets .error instead)."""
    d = _as_dict(call)
    cid = str(d.get("id") or "")
    if "function" in d:
        fn = d.get("function")
        fn = _as_dict(fn) if fn is not None else {}
        name = fn.get("name")
        raw = fn.get("arguments")
        fmt = "openai"
    else:
        name = d.get("name")
        raw = d.get("input", {})
        fmt = "anthropic"
    if not isinstance(name, str) or not name:
        return ToolCall(cid, "", {}, fmt, "the tool call has no tool name")
    if raw is None or raw == "":
        raw = {}
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except ValueError as e:
            return ToolCall(cid, name, {}, fmt, f"the arguments are not valid JSON ({e})")
    if not isinstance(raw, Mapping):
        return ToolCall(cid, name, {}, fmt, "the arguments must be a JSON object")
    return ToolCall(cid, name, dict(raw), fmt)


def result_text(result: "ToolResult") -> str:
    """What a model is shown for a result: the text blocks, with media summarised (a model API
    expects text in a tool message, and megabytes of base64 would only fill its context)."""
    parts = []
    for b in result.content:
        if not isinstance(b, dict):
            continue
        t = b.get("type")
        if t == "text":
            parts.append(str(b.get("text", "")))
        elif t in ("image", "audio"):
            parts.append(f"[{t} {b.get('mimeType', '')}, {len(str(b.get('data', '')))} base64 characters]")
        elif t == "resource":
            r = b.get("resource") or {}
            parts.append(f"[resource {r.get('uri', '')} {r.get('mimeType', '')}]")
    return "\n".join(parts)


def run_tool_call(client: "Client", call: Any, *, timeout: Optional[float] = None) -> str:
    """Executes one model tool call and returns the text to send back to the model.

    Everything the model can fix is returned as text starting with "Error:" so the model sees it:
    a malformed call, an unknown tool, arguments the tool rejects, a request over the size limit,
    and the tool's own error result. Transport errors (PeerDeadError, ClosedError, TimeoutError,
    ...) and AccessDeniedError raise: they are the deployment's problem, not the model's.
    """
    tc = parse_tool_call(call)
    if tc.error:
        return f"Error: invalid call of tool {tc.name or '?'}: {tc.error}"
    try:
        result = client.call(tc.name, tc.arguments, timeout=timeout)
    except (InvalidArgumentError, TooLargeError) as e:  # unknown tool, arguments refused, too big
        return f"Error: {e.message}"
    text = result_text(result)
    if result.is_error and not text.startswith("Error"):
        text = "Error: " + text
    return text


def tool_result_message(call: Any, text: str, *, is_error: Optional[bool] = None) -> Dict[str, Any]:
    """The message (OpenAI) or content block (Anthropic) that returns `text` for `call`."""
    tc = parse_tool_call(call)
    if tc.format == "openai":
        return {"role": "tool", "tool_call_id": tc.id, "content": text}
    block: Dict[str, Any] = {"type": "tool_result", "tool_use_id": tc.id, "content": text}
    if is_error if is_error is not None else text.startswith("Error:"):
        block["is_error"] = True
    return block
