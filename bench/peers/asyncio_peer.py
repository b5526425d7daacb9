"""The limits: bare coroutines for async children, ``asyncio.to_thread`` for sync ones.

Runs in eagernb's own virtualenv; nothing to install.
"""

from __future__ import annotations

import asyncio
import platform
import time
from collections.abc import Iterable

from common import (
    Row,
    Settings,
    amedian_per_child,
    batched,
    children_row,
    first_row,
    main,
    memory_row,
    sleep_row,
)

CORO = "asyncio: bare coroutine (limit)"
THREAD = "asyncio.to_thread (limit)"


async def anoop(i: int) -> int:
    return i


def noop(i: int) -> int:
    return i


async def sequential_async(n: int) -> int:
    return sum([await anoop(i) for i in range(n)])


async def gathered_async(n: int) -> int:
    return sum(await asyncio.gather(*(anoop(i) for i in range(n))))


async def sequential_sync(n: int) -> int:
    return sum([await asyncio.to_thread(noop, i) for i in range(n)])


async def gathered_sync(n: int) -> int:
    return sum(await asyncio.gather(*(asyncio.to_thread(noop, i) for i in range(n))))


def children(settings: Settings) -> Iterable[Row]:
    n = settings.children

    async def measure() -> list[Row]:
        cases = [
            ("sequential async", CORO, sequential_async),
            ("gathered async", CORO, gathered_async),
            ("sequential sync", THREAD, sequential_sync),
            ("gathered sync", THREAD, gathered_sync),
        ]
        rows = []
        for case, label, body in cases:
            per_child = await amedian_per_child(lambda body=body: body(n), n, settings)
            rows.append(children_row(case, label, per_child, n, limit=True))
        return rows

    return asyncio.run(measure())


def sleep(settings: Settings) -> Iterable[Row]:
    n, seconds = settings.sleepers, settings.sleep

    async def asleep() -> None:
        await asyncio.gather(*(asyncio.sleep(seconds) for _ in range(n)))

    async def tsleep() -> None:
        await asyncio.gather(*(asyncio.to_thread(time.sleep, seconds) for _ in range(n)))

    async def measure() -> list[Row]:
        coro = await amedian_per_child(asleep, n, settings)
        thread = await amedian_per_child(tsleep, n, settings)
        note = "default executor: min(32, cores + 4) threads"
        return [
            sleep_row("async", CORO, coro, n, limit=True),
            sleep_row("sync", THREAD, thread, n, note, limit=True),
        ]

    return asyncio.run(measure())


def memory(settings: Settings) -> Iterable[Row]:
    async def run(n: int) -> int:
        total = 0
        for batch in batched(n):
            total += sum(await asyncio.gather(*(asyncio.to_thread(noop, i) for i in batch)))
        return total

    yield memory_row(THREAD, lambda n: asyncio.run(run(n)), settings, limit=True)


def first(settings: Settings) -> Iterable[Row]:
    yield first_row("asyncio (limit)", asyncio.run(gathered_async(1)))


if __name__ == "__main__":
    workloads = {"children": children, "sleep": sleep, "memory": memory, "first": first}
    main("asyncio", platform.python_version(), workloads)
