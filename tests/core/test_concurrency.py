"""Sync task bodies run off the event loop, and gathered children really run at once."""

from __future__ import annotations

import asyncio
import threading
import time

from eagernb import Status, eager, task, workflow
from tests.core.support import latest_run_of


@task
def thread_of_body(x: int) -> int:
    return threading.get_ident()


@task
async def thread_of_async_body(x: int) -> int:
    return threading.get_ident()


def test_sync_task_bodies_never_run_on_the_event_loop_thread():
    @eager
    async def wf(n: int) -> tuple[int, list[int], int]:
        loop_thread = threading.get_ident()
        sync_threads = await asyncio.gather(*[thread_of_body(x=i) for i in range(n)])
        async_thread = await thread_of_async_body(x=0)
        return loop_thread, sync_threads, async_thread

    loop_thread, sync_threads, async_thread = asyncio.run(wf(n=5))
    assert loop_thread not in sync_threads
    assert async_thread == loop_thread  # async bodies run on the caller's loop, as documented


def test_ten_gathered_children_sleeping_0_2_s_finish_in_under_0_5_s():
    @task
    def nap(x: int) -> int:
        time.sleep(0.2)
        return x

    @eager
    async def wf(n: int) -> list[int]:
        return await asyncio.gather(*[nap(x=i) for i in range(n)])

    started = time.perf_counter()
    assert asyncio.run(wf(n=10)) == list(range(10))
    assert time.perf_counter() - started < 0.5


def test_ten_gathered_sync_children_all_run_at_the_same_time():
    barrier = threading.Barrier(10, timeout=10)

    @task
    def meet(x: int) -> int:
        barrier.wait()  # passes only once all ten bodies are running at once
        return x * x

    @eager
    async def wf(n: int) -> list[int]:
        return await asyncio.gather(*[meet(x=i) for i in range(n)])

    assert asyncio.run(wf(n=10)) == [i * i for i in range(10)]
    assert not barrier.broken


def test_event_loop_stays_free_while_sync_children_block():
    release = threading.Event()

    @eager
    async def wf(n: int) -> list[bool]:
        loop = asyncio.get_running_loop()
        all_blocked = asyncio.Event()
        entered: list[int] = []
        lock = threading.Lock()

        @task
        def wait_for_release(x: int) -> bool:
            with lock:
                entered.append(x)
                if len(entered) == n:
                    loop.call_soon_threadsafe(all_blocked.set)
            return release.wait(10)

        children = asyncio.gather(*[wait_for_release(x=i) for i in range(n)])
        await all_blocked.wait()  # the loop runs this while every child is blocked
        release.set()
        return await children

    try:
        assert asyncio.run(wf(n=3)) == [True, True, True]
    finally:
        release.set()


def test_max_concurrency_caps_running_children_and_queues_the_rest():
    lock = threading.Lock()
    running = 0
    peak = 0
    release = threading.Event()
    seen_at_cap: dict[str, int] = {}

    @eager(max_concurrency=2)
    async def wf(n: int) -> int:
        loop = asyncio.get_running_loop()
        two_running = asyncio.Event()

        @task
        def capped(x: int) -> int:
            nonlocal running, peak
            with lock:
                running += 1
                peak = max(peak, running)
                if running == 2:
                    loop.call_soon_threadsafe(two_running.set)
            release.wait(10)
            with lock:
                running -= 1
            return x

        children = asyncio.gather(*[capped(x=i) for i in range(n)])
        await two_running.wait()
        counts = latest_run_of(wf).counts()
        seen_at_cap.update({str(status): count for status, count in counts.items() if count})
        release.set()
        return sum(await children)

    try:
        assert asyncio.run(wf(n=8)) == sum(range(8))
    finally:
        release.set()
    assert peak == 2
    assert seen_at_cap == {"running": 2, "queued": 6}
    assert latest_run_of(wf).counts()[Status.SUCCEEDED] == 8


def test_independent_nodes_of_a_static_workflow_run_at_the_same_time():
    barrier = threading.Barrier(2, timeout=10)

    @task
    def left(x: int) -> int:
        barrier.wait()
        return x + 1

    @task
    def right(x: int) -> int:
        barrier.wait()
        return x * 2

    @task
    def combine(a: int, b: int) -> tuple[int, int]:
        return a, b

    @workflow
    def wf(x: int) -> tuple[int, int]:
        return combine(a=left(x=x), b=right(x=x))

    assert wf(x=5) == (6, 10)
    assert not barrier.broken
