"""Runs, records and events: what every view reads."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict

import pytest

import eagernb
from eagernb import ExecutionRecord, Kind, Run, Status, eager, task
from eagernb._core.events import (
    ExecutionFinished,
    ExecutionQueued,
    ExecutionRetrying,
    ExecutionStarted,
    RunFinished,
    RunStarted,
)
from tests.core.support import children, latest_run_of


@task
def add_one(x: int) -> int:
    return x + 1


@task
def boom(x: int) -> int:
    raise ValueError(f"boom {x}")


@eager
async def inner(x: int) -> int:
    return await add_one(x=x)


@eager
async def tree(x: int) -> int:
    first = await add_one(x=x)
    with contextlib.suppress(ValueError):
        await boom(x=first)
    return await inner(x=first) + 100


def test_last_run_and_runs_return_the_run_just_made():
    assert asyncio.run(tree(x=1)) == 103
    run = eagernb.last_run()
    assert isinstance(run, Run)
    assert run.entity is tree
    assert run.name == "tree"
    assert run.inputs == {"x": 1}
    assert run.status is Status.SUCCEEDED
    assert eagernb.runs()[-1] is run
    assert run.started_at is not None and run.ended_at is not None
    assert run.started_at <= run.ended_at


def test_runs_are_listed_oldest_first():
    asyncio.run(inner(x=1))
    asyncio.run(tree(x=1))
    recent = eagernb.runs()[-2:]
    assert [r.name for r in recent] == ["inner", "tree"]


def test_walk_gives_every_record_depth_first_with_its_depth():
    asyncio.run(tree(x=1))
    run = latest_run_of(tree)
    assert [(depth, r.name, r.kind, r.status) for depth, r in run.walk()] == [
        (0, "tree", Kind.EAGER, Status.SUCCEEDED),
        (1, "add_one", Kind.TASK, Status.SUCCEEDED),
        (1, "boom", Kind.TASK, Status.FAILED),
        (1, "inner", Kind.EAGER, Status.SUCCEEDED),
        (2, "add_one", Kind.TASK, Status.SUCCEEDED),
    ]


def test_children_of_and_counts():
    asyncio.run(tree(x=1))
    run = latest_run_of(tree)
    (root,) = run.children_of(None)
    assert root is run.root
    assert [r.name for r in run.children_of(root.id)] == ["add_one", "boom", "inner"]
    inner_record = run.children_of(root.id)[2]
    assert [r.name for r in run.children_of(inner_record.id)] == ["add_one"]
    assert run.children_of("no-such-id") == []
    assert run.counts() == {
        Status.QUEUED: 0,
        Status.RUNNING: 0,
        Status.SUCCEEDED: 3,
        Status.FAILED: 1,
        Status.CANCELLED: 0,
    }


def test_each_record_carries_identity_inputs_result_attempts_and_times():
    asyncio.run(tree(x=1))
    run = latest_run_of(tree)
    root = run.root
    assert isinstance(root, ExecutionRecord)
    assert (root.id, root.run_id, root.parent_id) == (run.root_id, run.id, None)
    assert (root.inputs, root.output, root.error, root.attempts) == ({"x": 1}, 103, None, 1)

    ok, failed, _ = run.children_of(root.id)
    assert (ok.parent_id, ok.name, ok.kind, ok.status) == (
        root.id,
        "add_one",
        Kind.TASK,
        Status.SUCCEEDED,
    )
    assert (ok.inputs, ok.output, ok.error, ok.attempts) == ({"x": 1}, 2, None, 1)
    assert (failed.inputs, failed.output, failed.attempts) == ({"x": 2}, None, 1)
    assert failed.error is not None
    assert (failed.error.type_name, failed.error.message) == ("ValueError", "boom 2")
    assert 'raise ValueError(f"boom {x}")' in failed.error.traceback

    ids = [r.id for r in run.records.values()]
    assert len(set(ids)) == len(ids)
    assert all(i.startswith(run.id) for i in ids)
    for record in run.records.values():
        assert record.started_at is not None and record.ended_at is not None
        assert record.queued_at <= record.started_at <= record.ended_at
        assert record.duration == record.ended_at - record.started_at
        assert record.status.is_final


# -- events -------------------------------------------------------------------------------


def _events_of(run_id: str, events: list[object]) -> list[object]:
    return [e for e in events if getattr(e, "run_id", None) == run_id]


def test_subscribers_receive_every_event_in_a_valid_order():
    received: list[object] = []
    calls: list[int] = []

    @task(retries=1)
    def flaky(x: int) -> int:
        calls.append(x)
        if len(calls) == 1:
            raise ConnectionError("first try fails")
        return x

    @eager
    async def wf(x: int) -> list[int]:
        return await asyncio.gather(add_one(x=x), flaky(x=x), inner(x=x))

    unsubscribe = eagernb.events.subscribe(received.append)
    try:
        assert asyncio.run(wf(x=1)) == [2, 1, 2]
    finally:
        unsubscribe()
    run = latest_run_of(wf)
    events = _events_of(run.id, received)

    assert isinstance(events[0], RunStarted) and events[0].name == "wf"
    assert isinstance(events[-1], RunFinished) and events[-1].status is Status.SUCCEEDED

    per_execution: dict[str, list[str]] = defaultdict(list)
    for event in events[1:-1]:
        if isinstance(event, ExecutionQueued):
            per_execution[event.record.id].append("queued")
        elif isinstance(event, ExecutionStarted):
            per_execution[event.id].append(f"started {event.attempt}")
        elif isinstance(event, ExecutionRetrying):
            per_execution[event.id].append(f"retrying {event.attempt}")
        elif isinstance(event, ExecutionFinished):
            per_execution[event.id].append(f"finished {event.status}")
        else:
            raise AssertionError(f"unexpected event {event!r}")

    assert set(per_execution) == set(run.records)
    flaky_id = next(r.id for r in run.records.values() if r.name == "flaky")
    assert per_execution.pop(flaky_id) == [
        "queued",
        "started 1",
        "retrying 1",
        "started 2",
        "finished succeeded",
    ]
    for sequence in per_execution.values():
        assert sequence == ["queued", "started 1", "finished succeeded"]


def test_events_stop_after_unsubscribe():
    received: list[object] = []
    unsubscribe = eagernb.events.subscribe(received.append)
    asyncio.run(inner(x=1))
    unsubscribe()
    count = len(received)
    asyncio.run(inner(x=2))
    assert count > 0
    assert len(received) == count


def test_a_subscriber_that_raises_does_not_break_the_run(caplog):
    received: list[object] = []

    def broken_view(event: object) -> None:
        raise RuntimeError("the view broke")

    eagernb.events.subscribe(broken_view)
    unsubscribe = eagernb.events.subscribe(received.append)
    try:
        with caplog.at_level(logging.ERROR, logger="eagernb"):
            assert asyncio.run(tree(x=1)) == 103
    finally:
        unsubscribe()
        eagernb.events.unsubscribe(broken_view)
    run = latest_run_of(tree)
    assert run.status is Status.SUCCEEDED
    assert isinstance(_events_of(run.id, received)[-1], RunFinished)
    assert any("raised and was removed" in r.getMessage() for r in caplog.records)


def test_run_level_subscriber_added_right_after_start_sees_the_whole_run():
    async def cell() -> tuple[int, list[object]]:
        received: list[object] = []
        handle = tree.start(x=1)
        handle.on_event(received.append)
        return await handle, received

    value, received = asyncio.run(cell())
    assert value == 103
    queued = [e.record.name for e in received if isinstance(e, ExecutionQueued)]
    assert queued == ["tree", "add_one", "boom", "inner", "add_one"]  # the root included
    finished = [e for e in received if isinstance(e, ExecutionFinished)]
    assert len(finished) == 5
    assert isinstance(received[-1], RunFinished)


def test_background_handle_can_be_awaited_later_for_the_value():
    async def cell() -> tuple[int, Run]:
        handle = tree.start(x=5)
        await asyncio.sleep(0)  # other work in the cell; the run goes on by itself
        return await handle, handle

    value, handle = asyncio.run(cell())
    assert value == 107
    assert handle.result() == 107
    assert handle.status is Status.SUCCEEDED
    assert eagernb.last_run() is handle
    assert len(children(handle)) == 4


def test_started_run_failure_is_raised_when_awaited():
    @eager
    async def careless(x: int) -> int:
        return await boom(x=x)

    async def cell() -> Run:
        handle = careless.start(x=1)
        with pytest.raises(ValueError, match="boom 1"):
            await handle
        return handle

    handle = asyncio.run(cell())
    assert handle.status is Status.FAILED
    with pytest.raises(ValueError, match="boom 1"):
        handle.result()
