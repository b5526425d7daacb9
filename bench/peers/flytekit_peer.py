"""flytekit 1.x: ``@eager`` workflows run locally (``asyncio.run``), decks off.

Run locally, a sync ``@task`` called in an eager body runs inline and returns its value,
so it cannot be awaited or gathered: "gathered sync" cannot be expressed, and the sync
sleepers run one after another. ``async def`` tasks are awaited and gathered.
``@eager`` always turns its deck on; the benchmark turns it off again on each workflow.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Any

import flytekit
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
from flytekit import eager, task

LABEL = "flytekit @eager (local)"
INLINE = "local eager runs sync tasks inline: no concurrency"


def decks_off(workflow: Any) -> Any:
    workflow._disable_deck = True  # @eager forces enable_deck=True (about 1 s per run)
    return workflow


@task
def noop(i: int) -> int:
    return i


@task
async def anoop(i: int) -> int:
    return i


@task
def tsleep(seconds: float) -> int:  # returns a value: a task returning None fails inline
    time.sleep(seconds)
    return 1


@task
async def asleep(seconds: float) -> int:
    await asyncio.sleep(seconds)
    return 1


@decks_off
@eager
async def sequential_sync(n: int) -> int:
    return sum(noop(i=i) for i in range(n))


@decks_off
@eager
async def sequential_async(n: int) -> int:
    return sum([await anoop(i=i) for i in range(n)])


@decks_off
@eager
async def gathered_async(n: int) -> int:
    return sum(await asyncio.gather(*(anoop(i=i) for i in range(n))))


@decks_off
@eager
async def sleepers_sync(n: int, seconds: float) -> int:
    return sum(tsleep(seconds=seconds) for _ in range(n))


@decks_off
@eager
async def sleepers_async(n: int, seconds: float) -> int:
    return sum(await asyncio.gather(*(asleep(seconds=seconds) for _ in range(n))))


@decks_off
@eager
async def batches(n: int) -> int:
    total = 0
    for batch in batched(n):
        total += sum(await asyncio.gather(*(anoop(i=i) for i in batch)))
    return total


def children(settings: Settings) -> Iterable[Row]:
    n = settings.children
    for case, workflow in (
        ("sequential sync", sequential_sync),
        ("sequential async", sequential_async),
        ("gathered async", gathered_async),
    ):
        per_child = median_per_child(lambda w=workflow: asyncio.run(w(n=n)), n, settings)
        yield children_row(case, LABEL, per_child, n, INLINE if case.endswith(" sync") else "")
    yield Row("children", "gathered sync", LABEL, None, "µs/child", n, 0, INLINE)


def sleep(settings: Settings) -> Iterable[Row]:
    n, seconds = settings.sleepers, settings.sleep
    for case, workflow in (("sync", sleepers_sync), ("async", sleepers_async)):
        run = lambda w=workflow: asyncio.run(w(n=n, seconds=seconds))  # noqa: E731
        yield sleep_row(
            case, LABEL, median_per_child(run, n, settings), n, INLINE if case == "sync" else ""
        )


def memory(settings: Settings) -> Iterable[Row]:
    note = "async tasks gathered 1,000 at a time (sync tasks cannot be gathered)"
    yield memory_row(LABEL, lambda n: asyncio.run(batches(n=n)), settings, note)


def first(settings: Settings) -> Iterable[Row]:
    yield first_row(LABEL, asyncio.run(sequential_sync(n=1)))


if __name__ == "__main__":
    workloads = {"children": children, "sleep": sleep, "memory": memory, "first": first}
    main("flytekit", flytekit.__version__, workloads)
