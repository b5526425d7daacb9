"""``concurrent.futures.ProcessPoolExecutor``: the cross-process limit.

Runs in eagernb's own virtualenv; nothing to install. One pool with the default number of
workers (one per core), started before anything is timed.
"""

from __future__ import annotations

import asyncio
import platform
import time
from collections.abc import Iterable
from concurrent.futures import ProcessPoolExecutor

from common import (
    Row,
    Settings,
    amedian_per_child,
    batched,
    children_row,
    first_row,
    main,
    median_per_child,
    memory_row,
    remote_row,
    sleep_row,
)

LABEL = "ProcessPoolExecutor"
AWAITED = "plain function in the pool, awaited with loop.run_in_executor"
POOL = ProcessPoolExecutor()


def noop(i: int) -> int:
    return i


def sequential(n: int) -> int:
    return sum(POOL.submit(noop, i).result() for i in range(n))


def gathered(n: int) -> int:
    return sum(future.result() for future in [POOL.submit(noop, i) for i in range(n)])


async def sequential_async(n: int) -> int:
    loop = asyncio.get_running_loop()
    return sum([await loop.run_in_executor(POOL, noop, i) for i in range(n)])


async def gathered_async(n: int) -> int:
    loop = asyncio.get_running_loop()
    return sum(await asyncio.gather(*(loop.run_in_executor(POOL, noop, i) for i in range(n))))


def children(settings: Settings) -> Iterable[Row]:
    n = settings.children

    async def awaited() -> list[Row]:
        seq = await amedian_per_child(lambda: sequential_async(n), n, settings)
        gat = await amedian_per_child(lambda: gathered_async(n), n, settings)
        return [
            children_row("sequential async", LABEL, seq, n, AWAITED),
            children_row("gathered async", LABEL, gat, n, AWAITED),
        ]

    yield children_row(
        "sequential sync", LABEL, median_per_child(lambda: sequential(n), n, settings), n
    )
    yield children_row(
        "gathered sync", LABEL, median_per_child(lambda: gathered(n), n, settings), n
    )
    yield from asyncio.run(awaited())


def sleep(settings: Settings) -> Iterable[Row]:
    n = settings.sleepers

    def run() -> None:
        for future in [POOL.submit(time.sleep, settings.sleep) for _ in range(n)]:
            future.result()

    yield sleep_row("sync", LABEL, median_per_child(run, n, settings), n, "one process per core")


def memory(settings: Settings) -> Iterable[Row]:
    def run(n: int) -> int:
        return sum(gathered(len(batch)) for batch in batched(n))

    yield memory_row(LABEL, run, settings)


def remote(settings: Settings) -> Iterable[Row]:
    n = settings.remote
    label = f"{LABEL} (limit)"
    seq = median_per_child(lambda: sequential(n // 4), n // 4, settings)
    gat = median_per_child(lambda: gathered(n), n, settings)
    yield remote_row("sequential round trip", label, seq, n // 4, limit=True)
    yield remote_row("gathered", label, gat, n, limit=True)


def first(settings: Settings) -> Iterable[Row]:
    yield first_row(LABEL, POOL.submit(noop, 1).result())


if __name__ == "__main__":
    workloads = {
        "children": children,
        "sleep": sleep,
        "memory": memory,
        "remote": remote,
        "first": first,
    }
    try:
        main("processpool", platform.python_version(), workloads)
    finally:
        POOL.shutdown()
