"""The exception hierarchy.

    ShmcpError                      every error this package raises
    +-- TransportError              the call did not complete; the tool may or may not have run
    |   +-- PeerDeadError           the executor (or the worker serving the call) died
    |   +-- ClosedError             the executor is draining or the client was closed
    |   +-- ChannelNotFoundError    no executor at that URL (yet)
    |   +-- TimeoutError            the call's deadline passed (also a builtin TimeoutError)
    |   +-- BusyError / RingFullError / ProtocolError
    +-- RequestError                the executor refused the request itself
    |   +-- InvalidArgumentError    unknown tool, arguments that are not a JSON object, bad URL
    |   +-- AccessDeniedError       HTTP token rejected
    |   +-- TooLargeError           request or response over the channel's size limit
    +-- ToolError                   the tool ran and reported an error (isError); .result holds it
    +-- InternalError               a bug in the client library

Every ShmcpError has .code (the C ABI's negative return code, 0 for ToolError) and .message.
"""
from __future__ import annotations

import builtins
from typing import TYPE_CHECKING, Dict, Optional, Type

if TYPE_CHECKING:
    from .client import ToolResult


class ShmcpError(Exception):
    """Base class of every error raised by shmcp."""

    code: int = 0

    def __init__(self, message: str, code: Optional[int] = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class TransportError(ShmcpError):
    """The request or its response was lost: retrying (after a reconnect) may succeed."""


class PeerDeadError(TransportError):
    code = -5


class ClosedError(TransportError):
    code = -11


class ChannelNotFoundError(TransportError):
    code = -2


class TimeoutError(TransportError, builtins.TimeoutError):  # noqa: A001 - deliberate shadowing
    """The deadline passed. The tool may still be running in the executor."""

    code = -4


class BusyError(TransportError):
    code = -10


class RingFullError(TransportError):
    code = -6


class ProtocolError(TransportError):
    """Corrupt data or a version mismatch between this library and the executor."""

    code = -8


class IOError(TransportError):  # noqa: A001
    """A socket or system-call failure (HTTP transport)."""

    code = -12


class RequestError(ShmcpError):
    """The executor refused the request: fix the request, do not retry it as is."""


class InvalidArgumentError(RequestError):
    code = -1


class AccessDeniedError(RequestError):
    code = -3


class TooLargeError(RequestError):
    code = -7


class InternalError(ShmcpError):
    code = -14


class ToolError(ShmcpError):
    """The tool ran and failed (its CallToolResult has isError: true).

    Raised by the per-tool methods (Client.read_text_file, ...); Client.call() returns the result
    with is_error set instead.
    """

    def __init__(self, result: "ToolResult", tool: str = "") -> None:
        super().__init__(result.text or "tool error", 0)
        self.result = result
        self.tool = tool


_BY_CODE: Dict[int, Type[ShmcpError]] = {
    -1: InvalidArgumentError,
    -2: ChannelNotFoundError,
    -3: AccessDeniedError,
    -4: TimeoutError,
    -5: PeerDeadError,
    -6: RingFullError,
    -7: TooLargeError,
    -8: ProtocolError,
    -9: ProtocolError,
    -10: BusyError,
    -11: ClosedError,
    -12: IOError,
    -14: InternalError,
}


def error_from_code(code: int, message: str) -> ShmcpError:
    """The exception for a C ABI return code."""
    return _BY_CODE.get(code, InternalError)(message, code)
