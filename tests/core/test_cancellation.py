"""Cancelling a run, or failing or finishing its body, leaves no child queued or running."""

from __future__ import annotations

import asyncio
import threading

import pytest

from eagernb import RunCancelledError, Status, eager, task
from tests.core.support import children, latest_run_of, statuses


def _wait_for_cancel() -> tuple[object, asyncio.Event, list[int]]:
    """An async task that waits forever; ``started`` is set once the first body runs."""
    started = asyncio.Event()
    cancelled: list[int] = []

    @task
    async def forever(x: int) -> int:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(x)
            raise
        return x

    return forever, started, cancelled


def test_cancelling_the_awaiting_task_cancels_running_and_queued_children():
    async def cell() -> tuple[object, list[int], dict[str, int]]:
        forever, started, cancelled = _wait_for_cancel()

        @eager(max_concurrency=2)
        async def wf(n: int) -> list[int]:
            return await asyncio.gather(*[forever(x=i) for i in range(n)])

        waiting = asyncio.create_task(wf(n=5))
        await started.wait()
        before = statuses(latest_run_of(wf))
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        return wf, sorted(cancelled), before

    wf, cancelled, before = asyncio.run(cell())
    assert before == {"running": 3, "queued": 3}  # the root and two children run
    assert cancelled == [0, 1]  # the two running bodies saw the cancellation
    run = latest_run_of(wf)
    assert run.status is Status.CANCELLED
    assert statuses(run) == {"cancelled": 6}
    assert all(r.ended_at is not None for r in run.records.values())


def test_cancelling_cancels_children_blocked_in_sync_bodies():
    release = threading.Event()

    async def cell() -> object:
        loop = asyncio.get_running_loop()
        started = asyncio.Event()

        @task
        def blocked(x: int) -> int:
            loop.call_soon_threadsafe(started.set)
            release.wait(10)
            return x

        @eager(max_concurrency=2)
        async def wf(n: int) -> list[int]:
            return await asyncio.gather(*[blocked(x=i) for i in range(n)])

        waiting = asyncio.create_task(wf(n=4))
        await started.wait()
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        return wf

    try:
        wf = asyncio.run(cell())
    finally:
        release.set()
    assert statuses(latest_run_of(wf)) == {"cancelled": 5}


def test_failed_child_cancels_its_running_siblings_when_the_body_fails():
    async def cell() -> object:
        forever, started, cancelled = _wait_for_cancel()

        @task
        async def broken(x: int) -> int:
            await started.wait()
            raise ValueError("broken")

        @eager
        async def wf(n: int) -> list[int]:
            return await asyncio.gather(broken(x=0), *[forever(x=i) for i in range(n)])

        with pytest.raises(ValueError, match="broken"):
            await wf(n=3)
        assert sorted(cancelled) == [0, 1, 2]
        return wf

    run = latest_run_of(asyncio.run(cell()))
    assert run.status is Status.FAILED
    assert statuses(run) == {"failed": 2, "cancelled": 3}


def test_failed_child_leaves_no_queued_or_running_sibling():
    async def cell() -> object:
        forever, _, _ = _wait_for_cancel()

        @task
        def broken(x: int) -> int:
            raise ValueError("broken")

        @eager(max_concurrency=1)
        async def wf(n: int) -> list[int]:
            return await asyncio.gather(broken(x=0), *[forever(x=i) for i in range(n)])

        with pytest.raises(ValueError, match="broken"):
            await wf(n=3)
        return wf

    run = latest_run_of(asyncio.run(cell()))
    assert statuses(run) == {"failed": 2, "cancelled": 3}
    assert all(r.status.is_final for r in run.records.values())


def test_children_abandoned_by_a_returning_body_are_cancelled():
    async def cell() -> object:
        forever, started, cancelled = _wait_for_cancel()

        @eager
        async def wf(n: int) -> str:
            for i in range(n):
                asyncio.create_task(forever(x=i))  # noqa: RUF006 - abandoned on purpose
            await started.wait()
            return "done"

        assert await wf(n=3) == "done"
        assert sorted(cancelled) == [0, 1, 2]
        return wf

    run = latest_run_of(asyncio.run(cell()))
    assert run.status is Status.SUCCEEDED
    assert [r.status for r in children(run)] == [Status.CANCELLED] * 3


def test_children_created_just_before_the_body_returns_are_cancelled_too():
    async def cell() -> object:
        forever, _, _ = _wait_for_cancel()

        @eager
        async def wf(n: int) -> str:
            for i in range(n):
                asyncio.create_task(forever(x=i))  # noqa: RUF006 - abandoned on purpose
            return "done"

        assert await wf(n=3) == "done"
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        assert others == []
        return wf

    run = latest_run_of(asyncio.run(cell()))
    assert [r.status for r in children(run)] == [Status.CANCELLED] * 3


def test_wait_for_timeout_on_a_child_records_it_cancelled():
    async def cell() -> object:
        forever, _, cancelled = _wait_for_cancel()

        @eager
        async def wf(x: int) -> str:
            try:
                await asyncio.wait_for(forever(x=x), timeout=0.01)
            except asyncio.TimeoutError:  # the builtin TimeoutError only from Python 3.11
                return "timed out"
            return "finished"

        assert await wf(x=4) == "timed out"
        assert cancelled == [4]
        return wf

    run = latest_run_of(asyncio.run(cell()))
    assert run.status is Status.SUCCEEDED
    assert [r.status for r in children(run)] == [Status.CANCELLED]


def test_run_cancel_on_a_started_handle_raises_run_cancelled_error_on_await():
    async def cell() -> tuple[object, bool, str, bool]:
        forever, started, cancelled = _wait_for_cancel()

        @eager(max_concurrency=1)
        async def wf(n: int) -> list[int]:
            return await asyncio.gather(*[forever(x=i) for i in range(n)])

        handle = wf.start(n=2)
        await started.wait()
        accepted = handle.cancel()
        with pytest.raises(RunCancelledError) as caught:
            await handle
        assert cancelled == [0]
        return handle, accepted, str(caught.value), handle.cancel()

    handle, accepted, message, again = asyncio.run(cell())
    assert accepted is True
    assert again is False  # a finished run cannot be cancelled again
    assert f"Run 'wf' ({handle.id}) was cancelled on request" in message
    assert handle.status is Status.CANCELLED
    assert statuses(handle) == {"cancelled": 3}


def test_cancelling_a_nested_eager_cancels_its_children():
    async def cell() -> object:
        forever, started, cancelled = _wait_for_cancel()

        @eager
        async def inner(n: int) -> list[int]:
            return await asyncio.gather(*[forever(x=i) for i in range(n)])

        @eager
        async def outer(n: int) -> list[int]:
            return await inner(n=n)

        waiting = asyncio.create_task(outer(n=2))
        await started.wait()
        waiting.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiting
        assert sorted(cancelled) == [0, 1]
        return outer

    assert statuses(latest_run_of(asyncio.run(cell()))) == {"cancelled": 4}


def test_run_cancel_from_another_thread_stops_an_awaited_run():
    async def cell() -> tuple[object, bool, str]:
        forever, started, cancelled = _wait_for_cancel()

        @eager
        async def wf(n: int) -> list[int]:
            return await asyncio.gather(*[forever(x=i) for i in range(n)])

        waiting = asyncio.create_task(wf(n=2))
        await started.wait()
        run = latest_run_of(wf)
        accepted = await asyncio.to_thread(run.cancel, "from the Cancel button")
        with pytest.raises(RunCancelledError) as caught:
            await waiting
        assert sorted(cancelled) == [0, 1]
        return wf, accepted, str(caught.value)

    wf, accepted, message = asyncio.run(cell())
    assert accepted is True
    assert "was cancelled from the Cancel button" in message
    assert statuses(latest_run_of(wf)) == {"cancelled": 3}


def test_a_child_launched_after_its_eager_parent_returned_is_refused() -> None:
    import eagernb
    from eagernb import ScopeClosedError

    gate = asyncio.Event()
    outcome: list[BaseException] = []

    @task
    def leaf(x: int) -> int:
        return x

    async def late_helper() -> None:
        await gate.wait()
        try:
            await leaf(x=1)
        except ScopeClosedError as exc:
            outcome.append(exc)

    @eager
    async def parent(x: int) -> int:
        helper = asyncio.ensure_future(late_helper())
        holder.append(helper)
        return x

    holder: list[asyncio.Future[None]] = []

    async def main() -> int:
        value = await parent(x=3)
        gate.set()
        await holder[0]
        return value

    assert asyncio.run(main()) == 3
    assert len(outcome) == 1
    assert "'parent'" in str(outcome[0]) and "has already returned" in str(outcome[0])
    run = eagernb.last_run()
    assert run is not None
    assert [r.name for _, r in run.walk()] == ["parent"]
