"""The fast path clients use: batched submissions with inline inputs, one notification
channel per client, and what a task prints coming back under its execution."""

from __future__ import annotations

import json
import pickle
import secrets
from typing import Any

from eagernb._engines.frames import FrameBuffer, encode
from eagernb._engines.payload import dump_value

from .conftest import Server
from .tasks import add_one, talk, talk_then_fail


def _text(chunks: list[list[str]], stream: str) -> str:
    return "".join(text for s, text in chunks if s == stream)


def test_what_a_task_prints_is_stored_in_order_under_its_execution(server: Server) -> None:
    done = server.run(talk, lines=300)
    assert server.output(done) == 300
    printed = server.ok(server.http.get(f"/executions/{done['id']}/outputs"))
    chunks = [chunk for item in printed for chunk in item["chunks"]]
    assert {item["execution_id"] for item in printed} == {done["id"]}
    assert _text(chunks, "stdout") == "".join(f"line {i}\n" for i in range(300))
    assert _text(chunks, "stderr") == "done talking\n"
    # Gathered into a few events, not one per line, and all of them before it finished.
    events = server.events(done["id"])
    kinds = [e["type"] for e in events]
    assert kinds[0] == "queued" and kinds[-1] == "finished"
    assert 1 <= kinds.count("output") < 50, kinds
    assert kinds.index("finished") > max(i for i, k in enumerate(kinds) if k == "output")


def test_a_failing_task_keeps_what_it_printed(server: Server) -> None:
    done = server.run(talk_then_fail, x=3)
    assert done["status"] == "failed"
    assert done["error"]["type_name"] == "KeyError"
    printed = server.ok(server.http.get(f"/executions/{done['id']}/outputs"))
    assert [c for item in printed for c in item["chunks"]] == [["stdout", "about to fail\n"]]


def _frames(server: Server, channel: str, until: int) -> list[tuple[dict[str, Any], list[Any]]]:
    """Read the channel until ``until`` final frames arrived."""
    buffer, frames = FrameBuffer(), []
    with server.http.stream("GET", f"/channels/{channel}") as response:
        assert response.status_code == 200
        for chunk in response.iter_raw():
            frames.extend(buffer.feed(chunk))
            if sum(1 for h, _ in frames if h["type"] == "final") >= until:
                return frames
    raise AssertionError(f"The channel ended early: {frames}")


def test_a_batch_submits_each_item_on_its_own_and_the_channel_reports_them(
    server: Server,
) -> None:
    registered = server.register(add_one)
    talker = server.register(talk)
    channel = secrets.token_hex(16)
    base = {"project": registered["project"], "domain": registered["domain"]}
    items = [
        {**base, "name": "add_one", "version": registered["version"], "inputs": 0,
         "notify": channel},
        {**base, "name": "add_one", "version": "no-such-version", "inputs": 1,
         "notify": channel},
        {**base, "name": "talk", "version": talker["version"], "inputs": 2, "notify": channel},
        {**base, "name": "add_one", "version": registered["version"], "inputs": 9},
    ]  # fmt: skip
    parts = [dump_value({"x": 41}), dump_value({"x": 1}), dump_value({"lines": 2})]
    response = server.http.post(
        "/submit",
        content=encode({"executions": items}, *parts),
        headers={"content-type": "application/octet-stream"},
    )
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert results[0]["execution"]["status"] in ("queued", "running")
    assert results[1]["status"] == 404
    assert "Version 'no-such-version' of" in results[1]["error"]
    assert results[3]["status"] == 400
    assert "Field 'inputs' must index a part" in results[3]["error"]
    first, third = results[0]["execution"]["id"], results[2]["execution"]["id"]
    # The inputs sent inline are stored like uploaded ones.
    assert pickle.loads(server.blob(results[0]["execution"]["inputs_sha"])) == {"x": 41}

    frames = _frames(server, channel, until=2)  # opened after the submission: buffered
    finals = {h["execution"]["id"]: (h, parts) for h, parts in frames if h["type"] == "final"}
    header, inline = finals[first]
    assert header["execution"]["status"] == "succeeded"
    assert pickle.loads(inline[0]) == 42  # the output travels with the record
    assert pickle.loads(finals[third][1][0]) == 2
    said = [c for h, _ in frames if h["type"] == "output" and h["id"] == third for c in h["chunks"]]
    assert _text(said, "stdout") == "line 0\nline 1\n"
    order = [(h["type"], h.get("id") or h["execution"]["id"]) for h, _ in frames[1:]]
    assert order.index(("final", third)) > max(
        i for i, item in enumerate(order) if item == ("output", third)
    )


def test_bad_batches_and_channel_names_are_refused(server: Server) -> None:
    bad = server.http.post("/submit", content=b"not frames")
    assert bad.status_code == 400
    assert "is not a batch of executions" in json.loads(bad.text)["error"]
    wrong = server.http.get("/channels/xyz")
    assert wrong.status_code == 400
    assert "16 to 64 hex digits" in wrong.json()["error"]


def _item(server: Server, **extra: Any) -> dict[str, Any]:
    registered = server.register(add_one)
    return {
        "project": registered["project"], "domain": registered["domain"], "name": "add_one",
        "version": registered["version"], "inputs": 0, **extra,
    }  # fmt: skip


def test_a_submission_sent_again_with_its_key_starts_once(server: Server) -> None:
    item = _item(server, key="resent-" + secrets.token_hex(4))
    listed = {"name": "add_one", "limit": 1000}
    before = len(server.ok(server.http.get("/executions", params=listed)))
    ids = []
    for _ in range(2):
        response = server.http.post(
            "/submit", content=encode({"executions": [item]}, dump_value({"x": 1}))
        )
        ids.append(response.json()["results"][0]["execution"]["id"])
    assert ids[0] == ids[1]
    assert server.output(server.wait(ids[0])) == 2
    assert len(server.ok(server.http.get("/executions", params=listed))) == before + 1


def test_submissions_streamed_up_the_uplink_are_answered_on_the_channel(server: Server) -> None:
    import queue
    import threading

    channel = secrets.token_hex(16)
    frames: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()

    def body() -> Any:
        while (frame := frames.get()) is not None:
            yield frame

    replies: list[int] = []
    upload = threading.Thread(
        target=lambda: replies.append(
            server.http.post(f"/uplink/{channel}", content=body(), timeout=60).status_code
        )
    )
    upload.start()
    try:
        for tag, x in ((1, 10), (2, 20)):
            item = _item(server, notify=channel)
            frames.put(encode({"tag": tag, "executions": [item]}, dump_value({"x": x})))
        got = _frames(server, channel, until=2)
    finally:
        frames.put(None)
        upload.join(60)
    assert replies == [204]
    submitted = {
        h["tag"]: h["results"][0]["execution"]["id"] for h, _ in got if h["type"] == "submitted"
    }
    assert sorted(submitted) == [1, 2]
    outputs = {h["execution"]["id"]: pickle.loads(p[0]) for h, p in got if h["type"] == "final"}
    assert outputs == {submitted[1]: 11, submitted[2]: 21}
