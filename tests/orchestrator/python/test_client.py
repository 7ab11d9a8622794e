"""shmcp.Client and shmcp.AsyncClient against a real executor, over shm and HTTP."""
from __future__ import annotations

import asyncio
import json
import os
import signal
import threading

import pytest

import shmcp
from conftest import eventually

REFERENCE_TOOLS = ["read_file", "read_text_file", "read_media_file", "read_multiple_files", "write_file", "edit_file",
                   "create_directory", "list_directory", "list_directory_with_sizes", "directory_tree", "move_file",
                   "search_files", "get_file_info", "list_allowed_directories"]


@pytest.fixture(params=["shm", "http"])
def client(request, executor):
    url = executor.shm_url if request.param == "shm" else executor.http_url
    with shmcp.Client(url, timeout=20) as c:
        yield c


def test_every_tool_method_mirrors_its_schema(client, executor):
    ws = executor.workspace
    assert client.write_file(path="a.txt", content="one\ntwo\nthree\n").text == "Successfully wrote to a.txt"
    assert open(executor.path("a.txt")).read() == "one\ntwo\nthree\n"
    assert client.read_text_file(path="a.txt").text == "one\ntwo\nthree\n"
    assert client.read_text_file(path="a.txt", head=1).text == "one"
    r = client.read_file(path="a.txt", tail=2)
    assert r.text == "three\n" and r.structured_content == {"content": r.text}
    assert client.create_directory(path="d/e").text == "Successfully created directory d/e"
    assert os.path.isdir(executor.path("d/e"))
    with open(executor.path("d/p.png"), "wb") as f:
        f.write(b"\x89PNG")
    media = client.read_media_file(path="d/p.png")
    assert media.content[0]["type"] == "image" and media.content[0]["mimeType"] == "image/png"
    assert media.text == ""
    multi = client.read_multiple_files(paths=["a.txt", "missing.txt"]).text
    assert multi.startswith("a.txt:\none\ntwo\nthree\n") and "missing.txt: Error" in multi
    diff = client.edit_file(path="a.txt", edits=[{"oldText": "two", "newText": "TWO"}], dryRun=True).text
    assert "-two\n+TWO" in diff
    assert open(executor.path("a.txt")).read() == "one\ntwo\nthree\n"  # dry run wrote nothing
    client.edit_file(path="a.txt", edits=[{"oldText": "two", "newText": "TWO"}])
    assert open(executor.path("a.txt")).read() == "one\nTWO\nthree\n"
    assert client.list_directory(path=".").text == "[FILE] a.txt\n[DIR] d"
    sizes = client.list_directory_with_sizes(path=".", sortBy="size").text
    assert "[FILE] a.txt" in sizes and "Total: 1 files, 1 directories" in sizes
    tree = json.loads(client.directory_tree(path="d", excludePatterns=["*.png"]).text)
    assert tree == [{"name": "e", "type": "directory", "children": []}]
    assert client.move_file(source="a.txt", destination="b.txt").text == "Successfully moved a.txt to b.txt"
    assert os.path.exists(executor.path("b.txt")) and not os.path.exists(executor.path("a.txt"))
    assert client.search_files(path=".", pattern="**/*.png").text == os.path.join(ws, "d/p.png")
    assert client.search_files(path=".", pattern="**/*.png", excludePatterns=["d/**"]).text == "No matches found"
    info = client.get_file_info(path="b.txt").text
    assert "size: 14" in info and "isFile: true" in info
    assert client.list_allowed_directories().text == "Allowed directories:\n" + ws


def test_call_takes_a_mapping_and_keywords(client, executor):
    r = client.call("write_file", {"path": "k.txt"}, content="kw")
    assert not r.is_error and r.tool == "write_file"
    assert open(executor.path("k.txt")).read() == "kw"
    r = client.call("read_text_file", path="k.txt", timeout=5)
    assert r.json == {"content": [{"type": "text", "text": "kw"}], "structuredContent": {"content": "kw"}}
    assert str(r) == "kw"


def test_tool_error_is_a_result_from_call_and_toolerror_from_methods(client):
    r = client.call("read_text_file", path="missing.txt")
    assert r.is_error and "ENOENT" in r.text and r.json["isError"] is True
    with pytest.raises(shmcp.ToolError) as e:
        client.read_text_file(path="missing.txt")
    assert e.value.result.is_error and e.value.tool == "read_text_file" and "ENOENT" in str(e.value)
    assert not isinstance(e.value, shmcp.TransportError)
    with pytest.raises(shmcp.ToolError):
        client.read_text_file(path="../outside.txt")
    with pytest.raises(shmcp.ToolError):
        r.raise_for_error()


def test_request_errors_are_not_transport_errors(client):
    with pytest.raises(shmcp.InvalidArgumentError) as e:
        client.call("no_such_tool")
    assert "no_such_tool" in str(e.value) and isinstance(e.value, shmcp.RequestError)
    assert not isinstance(e.value, shmcp.TransportError)
    with pytest.raises(shmcp.InvalidArgumentError):
        client.call("write_file", path="x", content=object())  # not JSON-serialisable
    with pytest.raises(ValueError):
        client.call("list_allowed_directories", timeout=0)


def test_connect_errors(executor):
    with pytest.raises(shmcp.ChannelNotFoundError) as e:
        shmcp.Client(executor.shm_url + "-absent")
    assert isinstance(e.value, shmcp.TransportError) and e.value.code == -2
    with pytest.raises(shmcp.InvalidArgumentError):
        shmcp.Client("gopher://x")


def test_executor_killed_means_peer_dead_then_closed_client(executor):
    c = shmcp.Client(executor.shm_url, timeout=10)
    c.ping()
    executor.kill9()
    with pytest.raises(shmcp.PeerDeadError) as e:
        c.call("list_allowed_directories")
    assert isinstance(e.value, shmcp.TransportError) and e.value.code == -5
    c.close()
    c.close()  # idempotent
    assert c.closed
    with pytest.raises(shmcp.ClosedError):
        c.ping()


def test_timeout_is_a_transport_error_and_a_builtin_timeout(executor):
    with shmcp.Client(executor.shm_url) as c:
        c.ping()
        pids = eventually(executor.worker_pids, what="worker pids")
        for p in pids:
            os.kill(p, signal.SIGSTOP)
        try:
            with pytest.raises(shmcp.TimeoutError) as e:
                c.call("list_allowed_directories", timeout=0.2)
            assert isinstance(e.value, TimeoutError) and isinstance(e.value, shmcp.TransportError)
            with pytest.raises(TimeoutError):
                c.ping(timeout=0.2)
        finally:
            for p in pids:
                os.kill(p, signal.SIGCONT)


def test_one_client_from_many_threads(executor):
    errors = []
    with shmcp.Client(executor.shm_url, timeout=30) as c:
        def worker(n: int) -> None:
            try:
                for i in range(25):
                    name = f"t{n}-{i}.txt"
                    c.write_file(path=name, content=f"{n}:{i}")
                    assert c.read_text_file(path=name).text == f"{n}:{i}"
                    c.ping()
            except Exception as e:  # noqa: BLE001 - collected and asserted below
                errors.append(e)

        threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert errors == []
    assert len(os.listdir(executor.workspace)) == 8 * 25


def test_close_while_other_threads_call(executor):
    c = shmcp.Client(executor.shm_url, timeout=30)
    started = threading.Barrier(5)
    outcomes = []

    def worker() -> None:
        started.wait()
        try:
            while True:
                c.ping()
        except shmcp.ClosedError:
            outcomes.append("closed")
        except Exception as e:  # noqa: BLE001
            outcomes.append(repr(e))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    started.wait()
    c.close()
    for t in threads:
        t.join()
    assert outcomes == ["closed"] * 4


def test_async_client_runs_calls_without_blocking_the_loop(executor):
    async def main() -> None:
        async with await shmcp.AsyncClient.connect(executor.shm_url, timeout=30, max_concurrency=4) as c:
            await c.write_file(path="async.txt", content="a")
            results = await asyncio.gather(*(c.read_text_file(path="async.txt") for _ in range(20)))
            assert [r.text for r in results] == ["a"] * 20
            r = await c.call("read_text_file", path="nope")
            assert r.is_error
            with pytest.raises(shmcp.ToolError):
                await c.read_text_file(path="nope")
            assert len(await c.tools()) == 14
            assert len(await c.tool_definitions("anthropic")) == 14
            assert (await c.health())["status"] == "ok"
            await c.ping()
            # A call stuck in a stopped worker: the loop keeps running other tasks meanwhile.
            pids = eventually(executor.worker_pids, what="worker pids")
            for p in pids:
                os.kill(p, signal.SIGSTOP)
            ticks = 0
            stuck = asyncio.ensure_future(c.call("list_allowed_directories", timeout=1.0))
            try:
                while not stuck.done():
                    await asyncio.sleep(0.01)
                    ticks += 1
                with pytest.raises(shmcp.TimeoutError):
                    await stuck
            finally:
                for p in pids:
                    os.kill(p, signal.SIGCONT)
            assert ticks >= 10  # one tick per 10 ms for a 1 s wait: many, unless the loop was blocked
            with pytest.raises(AttributeError):
                c.no_such_tool  # noqa: B018

    asyncio.run(main())


def test_tools_and_health(client, executor):
    tools = client.tools()
    assert [t["name"] for t in tools] == REFERENCE_TOOLS
    assert all(t["description"] and t["inputSchema"]["type"] == "object" for t in tools)
    h = client.health()
    assert h["status"] == "ok" and h["workspace"] == executor.workspace


def test_tool_definitions_in_each_format(client):
    openai = client.tool_definitions("openai")
    assert [d["function"]["name"] for d in openai] == REFERENCE_TOOLS
    for d in openai:
        assert set(d) == {"type", "function"} and d["type"] == "function"
        assert set(d["function"]) == {"name", "description", "parameters"}
        p = d["function"]["parameters"]
        assert p["type"] == "object" and isinstance(p["properties"], dict) and "$schema" not in p
        json.dumps(d)
    edit = next(d for d in openai if d["function"]["name"] == "edit_file")["function"]["parameters"]
    assert edit["required"] == ["path", "edits"] and edit["properties"]["dryRun"]["type"] == "boolean"
    anthropic = client.tool_definitions("anthropic")
    assert [d["name"] for d in anthropic] == REFERENCE_TOOLS
    for d in anthropic:
        assert set(d) == {"name", "description", "input_schema"}
        assert d["input_schema"]["type"] == "object" and "$schema" not in d["input_schema"]
    mcp = client.tool_definitions("mcp")
    assert mcp == client.tools()
    assert all({"name", "description", "inputSchema"} <= set(d) for d in mcp)
    with pytest.raises(ValueError):
        client.tool_definitions("gemini")


def test_run_tool_call_accepts_openai_and_anthropic_shapes(client, executor):
    openai_call = {"id": "call_1", "type": "function",
                   "function": {"name": "write_file", "arguments": json.dumps({"path": "m.txt", "content": "hi"})}}
    assert client.run_tool_call(openai_call) == "Successfully wrote to m.txt"
    anthropic_call = {"type": "tool_use", "id": "toolu_1", "name": "read_text_file", "input": {"path": "m.txt"}}
    assert client.run_tool_call(anthropic_call) == "hi"

    class SdkObject:  # like openai's ChatCompletionMessageToolCall (pydantic)
        def model_dump(self):
            return {"id": "c2", "type": "function", "function": {"name": "list_directory", "arguments": '{"path": "."}'}}

    assert client.run_tool_call(SdkObject()) == "[FILE] m.txt"
    # What the model can fix comes back as text, never as an exception.
    bad_json = {"id": "c3", "function": {"name": "read_text_file", "arguments": '{"path": '}}
    assert client.run_tool_call(bad_json).startswith("Error: invalid call of tool read_text_file: the arguments are not valid JSON")
    assert client.run_tool_call({"id": "c4", "function": {"name": "read_text_file", "arguments": "[1]"}}).startswith("Error:")
    assert client.run_tool_call({"id": "c5", "function": {"arguments": "{}"}}).startswith("Error:")
    assert "no_such_tool" in client.run_tool_call({"id": "c6", "name": "no_such_tool", "input": {}})
    assert client.run_tool_call(anthropic_call | {"input": {"path": "missing"}}).startswith("Error: ENOENT")
    assert client.run_tool_call({"id": "c7", "function": {"name": "read_media_file", "arguments": '{"path": "m.txt"}'}}) \
        .startswith("[")  # media is summarised, not dumped as base64
    # Reply messages in each API's shape.
    assert shmcp.tool_result_message(openai_call, "ok") == {"role": "tool", "tool_call_id": "call_1", "content": "ok"}
    assert shmcp.tool_result_message(anthropic_call, "Error: x") == {
        "type": "tool_result", "tool_use_id": "toolu_1", "content": "Error: x", "is_error": True}


def test_run_tool_call_raises_transport_errors(executor):
    c = shmcp.Client(executor.shm_url)
    executor.kill9()
    with pytest.raises(shmcp.PeerDeadError):
        c.run_tool_call({"id": "x", "type": "tool_use", "name": "list_allowed_directories", "input": {}})
    c.close()


def test_library_search(monkeypatch, executor):
    from shmcp import _native
    monkeypatch.setenv("SHMCP_LIBRARY", "/nonexistent/libshmcp.so")
    with pytest.raises(OSError) as e:
        shmcp.Client(executor.shm_url)
    assert "/nonexistent/libshmcp.so" in str(e.value)
    assert _native.candidates("/x.so")[0] == "/x.so"


def test_close_releases_the_lane_at_once(executor):
    with shmcp.Client(executor.shm_url) as probe:
        probe.ping()
        base = probe.health()["channel"]["lanes_in_use"]
        c = shmcp.Client(executor.shm_url)
        c.ping()
        assert probe.health()["channel"]["lanes_in_use"] == base + 1
        c.close()
        assert probe.health()["channel"]["lanes_in_use"] == base
