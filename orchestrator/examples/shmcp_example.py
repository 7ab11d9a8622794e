#!/usr/bin/env python3
"""Calling shmcp tools from Python over shared memory, with ctypes and the standard library only.

    python3 shmcp_example.py shm://default notes.txt [--lib /path/to/libshmcp.so]

Writes PATH with a greeting, reads it back, and prints both CallToolResults. Exit status 0 on
success, 1 if a tool reported isError, 2 on a transport error.
"""
import argparse
import ctypes
import ctypes.util
import json
import sys


class ShmcpError(Exception):
    def __init__(self, code, message):
        super().__init__(f"shmcp error {code}: {message}")
        self.code = code


class Client:
    """A thin wrapper over the C ABI in shmcp.h."""

    def __init__(self, url, lib=None, timeout_ms=30000):
        path = lib or ctypes.util.find_library("shmcp") or "libshmcp.so"
        self._lib = ctypes.CDLL(path)
        L = self._lib
        L.shmcp_connect.restype = ctypes.c_void_p
        L.shmcp_connect.argtypes = [ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_size_t]
        L.shmcp_close.argtypes = [ctypes.c_void_p]
        L.shmcp_call.restype = ctypes.c_int
        L.shmcp_call.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_int,
                                 ctypes.POINTER(ctypes.c_void_p), ctypes.POINTER(ctypes.c_int),
                                 ctypes.c_char_p, ctypes.c_size_t]
        L.shmcp_free.argtypes = [ctypes.c_void_p]
        err = ctypes.create_string_buffer(512)
        self._c = L.shmcp_connect(url.encode(), timeout_ms, err, len(err))
        if not self._c:
            raise ShmcpError(-1, err.value.decode(errors="replace"))

    def call(self, tool, arguments=None, timeout_ms=0):
        """Returns (CallToolResult dict, is_error bool); raises ShmcpError on transport failure."""
        out = ctypes.c_void_p()
        is_error = ctypes.c_int(0)
        err = ctypes.create_string_buffer(512)
        rc = self._lib.shmcp_call(self._c, tool.encode(), json.dumps(arguments or {}).encode(), timeout_ms,
                                  ctypes.byref(out), ctypes.byref(is_error), err, len(err))
        if rc != 0:
            raise ShmcpError(rc, err.value.decode(errors="replace"))
        try:
            return json.loads(ctypes.string_at(out.value).decode()), bool(is_error.value)
        finally:
            self._lib.shmcp_free(out)

    def close(self):
        if self._c:
            self._lib.shmcp_close(self._c)
            self._c = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("url", help="shm://NAME (the executor's --channel)")
    ap.add_argument("path", help="file to write and read back, relative to the workspace")
    ap.add_argument("--lib", help="path to libshmcp.so (default: the library search path)")
    a = ap.parse_args()
    try:
        with Client(a.url, lib=a.lib) as c:
            wrote, err1 = c.call("write_file", {"path": a.path, "content": "hello from python\n"})
            print(json.dumps(wrote))
            read, err2 = c.call("read_text_file", {"path": a.path})
            print(json.dumps(read))
            return 1 if (err1 or err2) else 0
    except ShmcpError as e:
        print(e, file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
