"""Ray: remote functions on a local Ray started with ``ray.init(num_cpus=2)``.

Ray tasks are plain functions; the async cases await their ``ObjectRef``s from asyncio.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable

import ray
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

LABEL = "Ray"
AWAITED = "plain remote function; ObjectRefs awaited from asyncio"


@ray.remote
def noop(i: int) -> int:
    return i


@ray.remote
def snooze(seconds: float) -> None:
    time.sleep(seconds)


def sequential(n: int) -> int:
    return sum(ray.get(noop.remote(i)) for i in range(n))


def gathered(n: int) -> int:
    return sum(ray.get([noop.remote(i) for i in range(n)]))


async def sequential_async(n: int) -> int:
    return sum([await noop.remote(i) for i in range(n)])


async def gathered_async(n: int) -> int:
    return sum(await asyncio.gather(*(noop.remote(i) for i in range(n))))


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
        ray.get([snooze.remote(settings.sleep) for _ in range(n)])

    note = "one CPU per task by default: 2 at once with num_cpus=2"
    yield sleep_row("sync", LABEL, median_per_child(run, n, settings), n, note)


def memory(settings: Settings) -> Iterable[Row]:
    def run(n: int) -> int:
        return sum(gathered(len(batch)) for batch in batched(n))

    yield memory_row(LABEL, run, settings, "driver process only (not raylet, GCS or workers)")


def remote(settings: Settings) -> Iterable[Row]:
    n = settings.remote
    seq = median_per_child(lambda: sequential(n // 4), n // 4, settings)
    gat = median_per_child(lambda: gathered(n), n, settings)
    note = "ray.get(f.remote()) one after another / ray.get of all refs"
    yield remote_row("sequential round trip", LABEL, seq, n // 4, note)
    yield remote_row("gathered", LABEL, gat, n, note)


def first(settings: Settings) -> Iterable[Row]:
    yield first_row(LABEL, ray.get(noop.remote(1)))


if __name__ == "__main__":
    workloads = {
        "children": children,
        "sleep": sleep,
        "memory": memory,
        "remote": remote,
        "first": first,
    }
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level="error")
    try:
        main("ray", ray.__version__, workloads)
    finally:
        ray.shutdown()
