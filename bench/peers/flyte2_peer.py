"""Flyte 2 (the ``flyte`` SDK): tasks of a ``TaskEnvironment``, run locally with
``flyte.init()`` and ``flyte.run(parent, ...)``.

The parent is an async task awaiting its children; sync children are awaited through
``task.aio(...)``; "sequential sync" is a sync parent calling sync children.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from importlib.metadata import version
from typing import Any

import flyte
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

LABEL = "Flyte 2 (local run)"
env = flyte.TaskEnvironment(name="bench")


@env.task
def noop(i: int) -> int:
    return i


@env.task
async def anoop(i: int) -> int:
    return i


@env.task
def tsleep(seconds: float) -> None:
    time.sleep(seconds)


@env.task
async def asleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


@env.task
def sequential_sync(n: int) -> int:
    return sum(noop(i=i) for i in range(n))


@env.task
async def sequential_async(n: int) -> int:
    return sum([await anoop(i=i) for i in range(n)])


@env.task
async def gathered_sync(n: int) -> int:
    return sum(await asyncio.gather(*(noop.aio(i=i) for i in range(n))))


@env.task
async def gathered_async(n: int) -> int:
    return sum(await asyncio.gather(*(anoop(i=i) for i in range(n))))


@env.task
async def sleepers_sync(n: int, seconds: float) -> None:
    await asyncio.gather(*(tsleep.aio(seconds=seconds) for _ in range(n)))


@env.task
async def sleepers_async(n: int, seconds: float) -> None:
    await asyncio.gather(*(asleep(seconds=seconds) for _ in range(n)))


@env.task
async def batches(n: int) -> int:
    total = 0
    for batch in batched(n):
        total += sum(await asyncio.gather(*(noop.aio(i=i) for i in batch)))
    return total


def run(parent: Any, **inputs: Any) -> Any:
    return flyte.run(parent, **inputs).outputs()


def children(settings: Settings) -> Iterable[Row]:
    n = settings.children
    for case, parent in (
        ("sequential sync", sequential_sync),
        ("gathered sync", gathered_sync),
        ("sequential async", sequential_async),
        ("gathered async", gathered_async),
    ):
        per_child = median_per_child(lambda p=parent: run(p, n=n), n, settings)
        yield children_row(
            case,
            LABEL,
            per_child,
            n,
            "sync children via task.aio" if case == "gathered sync" else "",
        )


def sleep(settings: Settings) -> Iterable[Row]:
    n, seconds = settings.sleepers, settings.sleep
    for case, parent in (("sync", sleepers_sync), ("async", sleepers_async)):
        per_child = median_per_child(lambda p=parent: run(p, n=n, seconds=seconds), n, settings)
        yield sleep_row(case, LABEL, per_child, n)


def memory(settings: Settings) -> Iterable[Row]:
    note = "one run, sync children via task.aio gathered 1,000 at a time"
    yield memory_row(LABEL, lambda n: run(batches, n=n), settings, note)


def first(settings: Settings) -> Iterable[Row]:
    yield first_row(LABEL, run(sequential_sync, n=1))


if __name__ == "__main__":
    workloads = {"children": children, "sleep": sleep, "memory": memory, "first": first}
    flyte.init()
    main("flyte2", version("flyte"), workloads)
