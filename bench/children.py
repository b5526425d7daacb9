"""The cost of a child: a 1,000-child gather, async and sync task bodies, with and without
what the notebook adds (printed output recorded per child).

    .venv/bin/python bench/children.py
"""

from __future__ import annotations

import asyncio
import time

from eagernb import eager, task
from eagernb._core import output


@task
async def quiet(i: int) -> int:
    return i


@task
def quiet_sync(i: int) -> int:
    return i


@task
async def chatty(i: int) -> int:
    print("child", i)
    return i


@eager
async def gather(n: int, kind: str) -> int:
    body = {"async": quiet, "sync": quiet_sync, "print": chatty}[kind]
    return sum(await asyncio.gather(*(body(i=i) for i in range(n))))


async def best_of(runs: int, kind: str) -> float:
    await gather(n=1000, kind=kind)  # warm up: threads, caches
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        await gather(n=1000, kind=kind)
        times.append(time.perf_counter() - started)
    return min(times)


async def main() -> None:
    for kind in ("async", "sync"):
        print(f"1000 {kind} children: {await best_of(15, kind) * 1000:.1f} ms (best of 15)")
    output.capture()
    try:
        seconds = await best_of(15, "print")
    finally:
        output.release()
    print(f"1000 async children printing a line each, captured: {seconds * 1000:.1f} ms")


if __name__ == "__main__":
    asyncio.run(main())
