"""Prefect 3: a local flow with tasks, against Prefect's ephemeral in-process API.

``compare.py`` gives it a temporary ``PREFECT_HOME`` and quiet logging; no server runs.
Sync children gathered are ``task.submit`` futures on the default thread-pool runner.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable

import prefect
from common import (
    Row,
    Settings,
    batched,
    children_row,
    first_row,
    main,
    median_per_child,
    memory_row,
    sleep_row,
)
from prefect import flow, task

LABEL = "Prefect 3"


@task
def noop(i: int) -> int:
    return i


@task
async def anoop(i: int) -> int:
    return i


@task
def tsleep(seconds: float) -> None:
    time.sleep(seconds)


@task
async def asleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


@flow
def sequential_sync(n: int) -> int:
    return sum(noop(i) for i in range(n))


@flow
def gathered_sync(n: int) -> int:
    return sum(future.result() for future in [noop.submit(i) for i in range(n)])


@flow
async def sequential_async(n: int) -> int:
    return sum([await anoop(i) for i in range(n)])


@flow
async def gathered_async(n: int) -> int:
    return sum(await asyncio.gather(*(anoop(i) for i in range(n))))


@flow
def sleepers_sync(n: int, seconds: float) -> None:
    for future in [tsleep.submit(seconds) for _ in range(n)]:
        future.result()


@flow
async def sleepers_async(n: int, seconds: float) -> None:
    await asyncio.gather(*(asleep(seconds) for _ in range(n)))


@flow
def batches(n: int) -> int:
    total = 0
    for batch in batched(n):
        total += sum(future.result() for future in [noop.submit(i) for i in batch])
    return total


def children(settings: Settings) -> Iterable[Row]:
    n = settings.children
    note = f"n={n}: about 10 ms or more per child"
    for case, run in (
        ("sequential sync", lambda: sequential_sync(n=n)),
        ("gathered sync", lambda: gathered_sync(n=n)),
        ("sequential async", lambda: asyncio.run(sequential_async(n=n))),
        ("gathered async", lambda: asyncio.run(gathered_async(n=n))),
    ):
        yield children_row(case, LABEL, median_per_child(run, n, settings), n, note)


def sleep(settings: Settings) -> Iterable[Row]:
    n, seconds = settings.sleepers, settings.sleep
    sync = median_per_child(lambda: sleepers_sync(n=n, seconds=seconds), n, settings)
    yield sleep_row("sync", LABEL, sync, n, "task.submit on the default thread-pool runner")
    run = lambda: asyncio.run(sleepers_async(n=n, seconds=seconds))  # noqa: E731
    yield sleep_row("async", LABEL, median_per_child(run, n, settings), n)


def memory(settings: Settings) -> Iterable[Row]:
    note = "one flow, task.submit 1,000 at a time; the ephemeral API runs in this process"
    yield memory_row(LABEL, lambda n: batches(n=n), settings, note, warmup=20)


def first(settings: Settings) -> Iterable[Row]:
    yield first_row(LABEL, sequential_sync(n=1))


if __name__ == "__main__":
    workloads = {"children": children, "sleep": sleep, "memory": memory, "first": first}
    main("prefect", prefect.__version__, workloads)
