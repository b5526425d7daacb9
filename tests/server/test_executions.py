"""Executions on real worker processes: outputs, failures, retries, timeouts, concurrency,
the event stream and cancellation."""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from threading import Thread
from typing import Any

import pytest

from eagernb import OutputTypeError, TaskTimeoutError

from ..core.support import assert_sentence
from .conftest import Server, occupy_workers, read_pid, release_workers, wait_exit
from .tasks import (
    CustomError,
    add_one,
    announce,
    async_double,
    chatty,
    fail,
    fail_custom,
    fail_once,
    nap,
    reverse,
    spawn_sleeper,
    wrong_output,
)


def test_a_task_runs_on_a_worker_and_its_output_comes_back(server: Server) -> None:
    created = server.start(add_one, x=41)
    assert created["status"] == "queued"
    assert created["root_id"] == created["id"]
    assert created["parent_id"] is None
    done = server.wait(created["id"])
    assert done["status"] == "succeeded"
    assert done["attempts"] == 1
    assert done["error"] is None
    assert done["created_at"] <= done["started_at"] <= done["ended_at"]
    assert server.output(done) == 42
    assert server.ok(server.http.get(f"/executions/{created['id']}")) == done


def test_large_inputs_and_outputs_cross_the_worker_pipes(server: Server) -> None:
    data = bytes(range(256)) * (16 << 10)  # 4 MiB each way
    assert server.output(server.run(reverse, data=data)) == data[::-1]


def test_async_task_bodies_run_too(server: Server) -> None:
    assert server.output(server.run(async_double, x=21)) == 42


def test_a_failure_keeps_the_type_message_traceback_and_the_exception(server: Server) -> None:
    done = server.run(fail, x=-1)
    assert done["status"] == "failed"
    error = done["error"]
    assert error["type_name"] == "ValueError"
    assert error["message"] == "x must be positive, got -1"
    # Code pickled by value keeps no file name (cloudpickle sets "<dynamic-code>"), so the
    # traceback names the function and line, but shows no source text.
    assert ", in fail\n" in error["traceback"]
    assert error["traceback"].endswith("ValueError: x must be positive, got -1\n")
    assert "worker.py" not in error["traceback"], "the worker's own frames are left out"
    exc = pickle.loads(server.blob(error["exception_sha"]))
    assert type(exc) is ValueError
    assert exc.args == ("x must be positive, got -1",)


def test_an_exception_class_from_a_module_comes_back_as_itself(server: Server) -> None:
    error = server.run(fail_custom, code=7)["error"]
    assert error["type_name"] == "tests.server.tasks.CustomError"
    exc = pickle.loads(server.blob(error["exception_sha"]))
    assert isinstance(exc, CustomError)
    assert exc.code == 7


def test_outputs_are_checked_against_the_annotation_on_the_worker(server: Server) -> None:
    error = server.run(wrong_output)["error"]
    assert error["type_name"] == "eagernb.OutputTypeError"
    assert isinstance(pickle.loads(server.blob(error["exception_sha"])), OutputTypeError)


def test_a_retry_after_a_failure_counts_its_attempts(server: Server, tmp_path: Path) -> None:
    done = server.run(fail_once, retries=1, marker=str(tmp_path / "marker"))
    assert done["status"] == "succeeded", done
    assert done["attempts"] == 2
    assert done["error"] is None
    assert server.output(done) == "second attempt"
    types = [event["type"] for event in server.events(done["id"])]
    assert types == ["queued", "started", "retrying", "started", "finished"]
    retrying = server.events(done["id"])[2]["execution"]
    assert retrying["error"]["message"] == "the first attempt fails on purpose"


def test_retries_run_out(server: Server, tmp_path: Path) -> None:
    done = server.run(fail, retries=2, x=0)
    assert done["status"] == "failed"
    assert done["attempts"] == 3


def test_an_attempt_past_its_timeout_fails_and_says_so(server: Server) -> None:
    done = server.run(nap, timeout=0.5, seconds=60)
    assert done["status"] == "failed"
    error = done["error"]
    assert error["type_name"] == "eagernb.TaskTimeoutError"
    assert_sentence(error["message"], "Task 'nap'", "timeout of 0.5 s")
    assert isinstance(pickle.loads(server.blob(error["exception_sha"])), TaskTimeoutError)
    assert done["ended_at"] - done["started_at"] < 30
    assert server.output(server.run(add_one, x=1)) == 2, "the pool is whole again"


def test_executions_run_as_many_at_once_as_there_are_workers(server: Server) -> None:
    ids = [server.start(nap, seconds=0.5)["id"] for _ in range(4)]
    done = [server.wait(execution_id) for execution_id in ids]
    spans = [(d["started_at"], d["ended_at"]) for d in done]
    most = max(sum(1 for s, e in spans if s <= t < e) for t, _ in spans)
    assert most == 2, spans  # two overlap (concurrency), never three (two workers)


def test_user_output_on_stdout_does_not_disturb_the_workers(server: Server) -> None:
    assert server.output(server.run(chatty, x=5)) == 5
    assert server.output(server.run(add_one, x=5)) == 6


def test_the_event_stream_replays_then_follows_then_ends(server: Server) -> None:
    created = server.start(nap, seconds=0.3)
    events = server.events(created["id"])  # opened while it runs: stored events, then live
    assert [e["type"] for e in events] == ["queued", "started", "finished"]
    assert [e["execution"]["status"] for e in events] == ["queued", "running", "succeeded"]
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(seqs) and len(set(seqs)) == 3
    assert all(e["execution"]["id"] == created["id"] for e in events)
    assert server.events(created["id"], after=seqs[1]) == events[2:]
    assert server.events(created["id"], after=seqs[2]) == []


def test_cancelling_a_running_task_kills_its_worker_and_replaces_it(
    server: Server, fifo: Path
) -> None:
    created = server.start(announce, fifo=str(fifo), seconds=120)
    pid = read_pid(fifo)
    assert pid in server.health()["worker_pids"]
    cancelled = server.ok(server.http.post(f"/executions/{created['id']}/cancel"))
    assert cancelled["status"] == "cancelled"
    assert cancelled["error"]["type_name"] == "eagernb.RunCancelledError"
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)
    assert pid not in server.health()["worker_pids"]
    assert server.wait(created["id"])["status"] == "cancelled"
    again = server.ok(server.http.post(f"/executions/{created['id']}/cancel"))
    assert again["status"] == "cancelled", "cancelling a final execution changes nothing"
    busy = occupy_workers(server, fifo.parent)  # two tasks run at once again: it was replaced
    assert pid not in {worker for _, worker in busy}
    release_workers(server, busy)


def test_cancelling_a_task_also_ends_the_processes_it_started(server: Server, fifo: Path) -> None:
    created = server.start(spawn_sleeper, fifo=str(fifo))
    sleeper = read_pid(fifo)
    cancelled = server.ok(server.http.post(f"/executions/{created['id']}/cancel"))
    assert cancelled["status"] == "cancelled"
    assert wait_exit(sleeper), f"the task's subprocess {sleeper} outlived its cancelled task"


def test_a_cancelled_parent_leaves_no_child_running(server: Server, fifo: Path) -> None:
    parent = server.start(announce, fifo=str(fifo), seconds=120)
    read_pid(fifo)
    child = server.start(nap, parent_id=parent["id"], seconds=120)
    assert child["root_id"] == parent["id"]
    grandchild = server.start(add_one, parent_id=child["id"], x=1)
    assert grandchild["root_id"] == parent["id"]
    lines: list[dict[str, Any]] = []
    reader = Thread(target=lambda: lines.extend(server.events(parent["id"])))
    reader.start()

    server.ok(server.http.post(f"/executions/{parent['id']}/cancel"))
    reader.join(timeout=60)

    assert server.wait(parent["id"])["status"] == "cancelled"
    child_done = server.wait(child["id"])
    assert child_done["status"] == "cancelled"
    assert parent["id"] in child_done["error"]["message"]
    assert "was cancelled by a request to the server" in child_done["error"]["message"]
    kids = server.ok(server.http.get(f"/executions/{parent['id']}/children"))
    assert [k["id"] for k in kids] == [child["id"]]
    tree = server.ok(server.http.get("/executions", params={"root_id": parent["id"]}))
    assert {e["id"] for e in tree} == {parent["id"], child["id"], grandchild["id"]}
    assert all(e["status"] in ("succeeded", "cancelled") for e in tree)

    assert not reader.is_alive(), "the stream ends once the parent is final"
    assert lines[-1]["execution"]["id"] == parent["id"]
    assert lines[-1]["type"] == "finished"
    finished = [e["execution"]["id"] for e in lines if e["type"] == "finished"]
    assert set(finished) == {parent["id"], child["id"], grandchild["id"]}

    late = server.http.post(
        "/executions",
        json={
            "project": "tests", "domain": "development", "name": "add_one",
            "inputs_sha": grandchild["inputs_sha"], "parent_id": parent["id"],
        },
    )  # fmt: skip
    assert late.status_code == 409
    assert_sentence(late.json()["error"], parent["id"], "already cancelled")


def test_listing_filters_and_orders_newest_first(server: Server) -> None:
    ids = [server.run(add_one, x=i)["id"] for i in range(3)]
    listed = server.ok(
        server.http.get(
            "/executions", params={"project": "tests", "status": "succeeded", "limit": 3}
        )
    )
    assert [e["id"] for e in listed] == ids[::-1]
