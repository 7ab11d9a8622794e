#!/usr/bin/env python3
"""ctest driver for orchestrator/examples/shmcp_example.py (the shmcp package; ctest puts
orchestrator/python on PYTHONPATH).

Starts a real `shmcp-executor serve --no-http` on a temporary workspace and a unique channel, runs
the example against shm://NAME with --lib pointing at the built libshmcp.so, and checks its exit
status, both printed CallToolResults and the file it wrote. Also checks the example's transport
error path (exit 2) against a channel that does not exist. Always stops the executor and removes
its segment.
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--executor", required=True)
    ap.add_argument("--lib", required=True)
    ap.add_argument("--example", required=True)
    a = ap.parse_args()

    channel = "it-%d-python-example" % os.getpid()
    segment = "/dev/shm/shmcp." + channel
    ws = tempfile.mkdtemp(prefix="shmcp-it-py-")
    log = open(os.path.join(tempfile.gettempdir(), "shmcp-it-py-%d.log" % os.getpid()), "w+")
    ex = subprocess.Popen([a.executor, "serve", "--workspace", ws, "--channel", channel, "--no-http"],
                          stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 20
        while True:
            if ex.poll() is not None:
                log.seek(0)
                fail("executor exited during startup:\n" + log.read())
            log.seek(0)
            if os.path.exists(segment) and "serving " in log.read():
                break
            if time.monotonic() > deadline:
                fail("executor did not become ready")
            time.sleep(0.01)

        r = subprocess.run([sys.executable, a.example, "shm://" + channel, "file.txt", "--lib", a.lib],
                           capture_output=True, text=True, timeout=60)
        print(r.stdout, end="")
        print(r.stderr, end="", file=sys.stderr)
        if r.returncode != 0:
            fail("example exited %d" % r.returncode)
        lines = r.stdout.splitlines()
        if len(lines) != 2:
            fail("expected two JSON lines, got %r" % r.stdout)
        wrote, read = json.loads(lines[0]), json.loads(lines[1])
        want_wrote = {"content": [{"type": "text", "text": "Successfully wrote to file.txt"}],
                      "structuredContent": {"content": "Successfully wrote to file.txt"}}
        want_read = {"content": [{"type": "text", "text": "hello from python\n"}],
                     "structuredContent": {"content": "hello from python\n"}}
        if wrote != want_wrote:
            fail("write result %r != %r" % (wrote, want_wrote))
        if read != want_read:
            fail("read result %r != %r" % (read, want_read))
        with open(os.path.join(ws, "file.txt")) as f:
            if f.read() != "hello from python\n":
                fail("file.txt has the wrong content")

        # Transport error: exit 2 with a reason on stderr.
        r = subprocess.run([sys.executable, a.example, "shm://" + channel + "-absent", "file.txt", "--lib", a.lib],
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 2 or "not_found" not in r.stderr:
            fail("absent channel: exit %d, stderr %r" % (r.returncode, r.stderr))
        # A tool error: exit 1 (the path is a directory, so the write fails).
        os.mkdir(os.path.join(ws, "adir"))
        r = subprocess.run([sys.executable, a.example, "shm://" + channel, "adir", "--lib", a.lib],
                           capture_output=True, text=True, timeout=60)
        if r.returncode != 1:
            fail("tool error: exit %d, stdout %r, stderr %r" % (r.returncode, r.stdout, r.stderr))

        ex.send_signal(signal.SIGTERM)
        if ex.wait(timeout=20) != 0:
            fail("executor exited %d after SIGTERM" % ex.returncode)
        if os.path.exists(segment):
            fail("segment left behind after SIGTERM")
        print("OK")
    finally:
        if ex.poll() is None:
            ex.kill()
            ex.wait()
        if os.path.exists(segment):
            os.unlink(segment)
        shutil.rmtree(ws, ignore_errors=True)
        log.close()
        os.unlink(log.name)


if __name__ == "__main__":
    main()
