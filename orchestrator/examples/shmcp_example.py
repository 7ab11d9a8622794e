#!/usr/bin/env python3
"""Calling shmcp tools from Python with the `shmcp` package (orchestrator/python).

    pip install --no-build-isolation --no-index ./orchestrator/python   # see the README
    python3 shmcp_example.py shm://default notes.txt [--lib /path/to/libshmcp.so]

Writes PATH with a greeting, reads it back, and prints both CallToolResults as JSON lines. Exit
status 0 on success, 1 if a tool reported an error, 2 on a transport error.
"""
import argparse
import json
import sys

import shmcp


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("url", help="shm://NAME (the executor's --channel) or http://HOST:PORT")
    ap.add_argument("path", help="file to write and read back, relative to the workspace")
    ap.add_argument("--lib", help="path to libshmcp.so (default: $SHMCP_LIBRARY, then the loader's search path)")
    a = ap.parse_args()
    try:
        with shmcp.Client(a.url, library=a.lib) as c:
            print(json.dumps(c.write_file(path=a.path, content="hello from python\n").json))
            print(json.dumps(c.read_text_file(path=a.path).json))
        return 0
    except shmcp.ToolError as e:  # the tool ran and failed (e.result is its CallToolResult)
        print(f"{e.tool}: {e}", file=sys.stderr)
        return 1
    except shmcp.ShmcpError as e:  # transport (peer dead, closed, timeout, ...) or a refused request
        print(f"{type(e).__name__}: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
