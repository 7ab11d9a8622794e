"""shmcp: call the shmcp executor's sandboxed filesystem tools from Python.

    import shmcp
    with shmcp.Client("shm://shmcp") as c:                       # or "http://127.0.0.1:8002"
        c.write_file(path="notes.txt", content="hello\\n")
        print(c.read_text_file(path="notes.txt").text)

Client (threads), AsyncClient (asyncio), the exception hierarchy (shmcp.errors) and the helpers
for a model's tool calling (tool_definitions, run_tool_call: shmcp.llm).
"""
from .aio import AsyncClient
from .client import Client, ToolResult
from .errors import (AccessDeniedError, BusyError, ChannelNotFoundError, ClosedError, InternalError,
                     InvalidArgumentError, IOError, PeerDeadError, ProtocolError, RequestError, RingFullError,
                     ShmcpError, TimeoutError, ToolError, TooLargeError, TransportError)
from .llm import ToolCall, parse_tool_call, result_text, run_tool_call, tool_definitions, tool_result_message

__version__ = "0.1.0"

__all__ = [
    "Client", "AsyncClient", "ToolResult", "ToolCall",
    "tool_definitions", "run_tool_call", "parse_tool_call", "tool_result_message", "result_text",
    "ShmcpError", "TransportError", "PeerDeadError", "ClosedError", "ChannelNotFoundError", "TimeoutError",
    "BusyError", "RingFullError", "ProtocolError", "IOError", "RequestError", "InvalidArgumentError",
    "AccessDeniedError", "TooLargeError", "ToolError", "InternalError",
]
