"""The local engine's hand-off to threads, and the hot path's records and events.

The hot path builds records and events with fast constructors and publishes events only
when someone listens; sync bodies go to worker threads without ``run_in_executor``.
These tests pin what must not change: real frozen records, the same events, thread
limits, queued children that never start, and nothing left behind per child.
"""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time

import pytest

import eagernb
from eagernb import EagerException, ExecutionRecord, LocalEngine, Status, eager, task
from eagernb._core.engine import Call, new_call
from eagernb._core.events import (
    ExecutionFinished,
    ExecutionOutput,
    ExecutionQueued,
    ExecutionStarted,
    new_finished,
    new_output,
    new_queued,
    new_started,
)
from eagernb._core.records import Kind, new_record
from tests.core.support import children, latest_run_of


@task
def add_one(x: int) -> int:
    return x + 1


@task
async def add_one_async(x: int) -> int:
    return x + 1


def test_fast_constructors_build_genuine_frozen_instances_equal_to_the_normal_ones() -> None:
    args = ("r.1", "r", None, "add_one", Kind.TASK, Status.QUEUED, {"x": 1}, 1.0)
    record = new_record(*args, attempts=2)
    assert type(record) is ExecutionRecord
    assert record == ExecutionRecord(*args, attempts=2)
    assert repr(record) == repr(ExecutionRecord(*args, attempts=2))
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.status = Status.RUNNING  # type: ignore[misc]
    assert dataclasses.replace(record, status=Status.RUNNING).status is Status.RUNNING
    assert new_queued(record) == ExecutionQueued(record)
    assert new_started("r", "r.1", 1, 2.0) == ExecutionStarted("r", "r.1", 1, 2.0)
    assert new_finished("r", "r.1", Status.SUCCEEDED, 3.0, output=2) == ExecutionFinished(
        "r", "r.1", Status.SUCCEEDED, 3.0, output=2
    )
    assert new_output("r", "r.1", "stdout", "hi") == ExecutionOutput("r", "r.1", "stdout", "hi")
    call = new_call(add_one, {"x": 1}, None, "r.1", 1)
    assert type(call) is Call and call.started() is None


def test_records_are_the_same_whether_or_not_anyone_listens() -> None:
    @eager
    async def wf(n: int) -> int:
        return sum(await asyncio.gather(*(add_one(x=i) for i in range(n))))

    def shape(run: eagernb.Run) -> list[tuple[object, ...]]:
        return [
            (r.name, r.kind, r.status, r.inputs, r.output, r.attempts, r.error)
            for r in children(run)
        ]

    assert asyncio.run(wf(n=5)) == 15
    quiet = shape(latest_run_of(wf))
    seen: list[object] = []
    unsubscribe = eagernb.events.subscribe(seen.append)
    try:
        assert asyncio.run(wf(n=5)) == 15
    finally:
        unsubscribe()
    assert shape(latest_run_of(wf)) == quiet
    per_child = [e for e in seen if isinstance(e, ExecutionFinished) and e.output is not None]
    assert sorted(e.output for e in per_child) == [1, 2, 3, 4, 5, 15]
    for record in children(latest_run_of(wf)):
        assert record.queued_at <= record.started_at <= record.ended_at  # type: ignore[operator]


def test_tasks_called_inside_an_async_task_body_run_directly_not_as_children() -> None:
    @task
    async def outer(x: int) -> int:
        gathered = await asyncio.gather(add_one_async(x=x))
        return add_one(x=x) + await add_one_async(x=x) + gathered[0]

    @eager
    async def wf(x: int) -> int:
        return await outer(x=x)

    assert asyncio.run(wf(x=1)) == 6
    assert [r.name for r in children(latest_run_of(wf))] == ["outer"]


def test_no_more_sync_bodies_run_at_once_than_the_engine_has_threads() -> None:
    lock = threading.Lock()
    state = {"now": 0, "peak": 0}
    names: set[str] = set()

    @task
    def busy(i: int) -> int:
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
            names.add(threading.current_thread().name)
        time.sleep(0.01)
        with lock:
            state["now"] -= 1
        return i

    @eager(engine=LocalEngine(threads=3))
    async def wf(n: int) -> int:
        return sum(await asyncio.gather(*(busy(i=i) for i in range(n))))

    assert asyncio.run(wf(n=30)) == sum(range(30))
    assert state["peak"] == 3
    assert len(names) <= 3 and all(name.startswith("eagernb-task") for name in names)


def test_children_cancelled_while_waiting_for_a_thread_never_start() -> None:
    release = threading.Event()
    ran: list[int] = []

    @task
    def hold(i: int) -> int:
        ran.append(i)
        release.wait(10)
        return i

    engine = LocalEngine(threads=1)

    @eager(engine=engine)
    async def wf(n: int) -> str:
        first = asyncio.ensure_future(hold(i=0))
        waiting = [asyncio.ensure_future(hold(i=i)) for i in range(1, n)]
        await asyncio.sleep(0.05)
        for child in waiting:
            child.cancel()
        await asyncio.gather(*waiting, return_exceptions=True)
        release.set()
        return str(await first)

    try:
        assert asyncio.run(wf(n=4)) == "0"
    finally:
        release.set()
    assert ran == [0]
    records = children(latest_run_of(wf))
    assert [r.status for r in records] == [Status.SUCCEEDED] + [Status.CANCELLED] * 3
    assert all(r.started_at is None for r in records[1:])  # never ran, never "running"


def test_a_sync_body_that_outlives_its_loop_ends_quietly_and_its_thread_is_reused() -> None:
    hooks: list[object] = []
    previous = threading.excepthook
    threading.excepthook = hooks.append

    @task(timeout=0.05)
    def slow(i: int) -> int:
        time.sleep(0.2)
        return i

    engine = LocalEngine(threads=1)

    @eager(engine=engine)
    async def wf(i: int) -> str:
        try:
            return str(await slow(i=i))
        except TimeoutError:
            return "timed out"

    @eager(engine=engine)
    async def quick(i: int) -> int:
        return await add_one(x=i)

    try:
        assert asyncio.run(wf(i=1)) == "timed out"  # the loop closes while the body sleeps
        time.sleep(0.3)
        assert asyncio.run(quick(i=1)) == 2
    finally:
        threading.excepthook = previous
    assert hooks == []


def test_a_closed_engine_cancels_what_waits_for_a_thread_and_refuses_new_work() -> None:
    release = threading.Event()
    engine = LocalEngine(threads=1)

    @task
    def hold(i: int) -> int:
        release.wait(10)
        return i

    @eager(engine=engine)
    async def wf(n: int) -> list[str]:
        running = asyncio.ensure_future(hold(i=0))
        queued = asyncio.ensure_future(hold(i=1))
        await asyncio.sleep(0.05)
        await engine.aclose()
        release.set()
        outcomes = []
        for child in (running, queued):
            try:
                outcomes.append(str(await child))
            except asyncio.CancelledError:
                outcomes.append("cancelled")
        try:
            await hold(i=2)
        except EagerException as exc:
            outcomes.append(type(exc.__cause__).__name__)
        return outcomes

    try:
        assert asyncio.run(wf(n=2)) == ["0", "cancelled", "RuntimeError"]
    finally:
        release.set()


def test_thousands_of_children_leave_full_records_and_nothing_else_behind() -> None:
    @eager
    async def wf(n: int) -> int:
        sync = asyncio.gather(*(add_one(x=i) for i in range(n)))
        asyncs = asyncio.gather(*(add_one_async(x=i) for i in range(n)))
        return sum(await sync) + sum(await asyncs)

    n = 3000
    assert asyncio.run(wf(n=n)) == 2 * sum(range(1, n + 1))
    run = latest_run_of(wf)
    records = children(run)
    assert len(records) == 2 * n and len(run.children[run.root_id]) == 2 * n
    assert all(r.status is Status.SUCCEEDED and r.attempts == 1 for r in records)
    assert all(r.output == r.inputs["x"] + 1 for r in records)
    assert all(r.queued_at <= r.started_at <= r.ended_at for r in records)  # type: ignore[operator]
    assert run._live == {} and run._cancel_requested == set()
