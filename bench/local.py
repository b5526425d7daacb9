"""What a local child costs, next to the plain-asyncio limit it is held to, as ratios.

    .venv/bin/python bench/local.py            # everything (about a minute on two cores)
    .venv/bin/python bench/local.py --quick    # fewer repeats, no 100,000-child run

Every figure is a median of several repeats, eagernb and its baseline measured in turn
in the same process, so the machine's noise hits both alike:

- gathered sync children (1,000 trivial ``def`` tasks) vs ``asyncio.to_thread`` per call;
- gathered async children vs a bare gathered coroutine, and the same one after another;
- 40 children sleeping 50 ms (``time.sleep`` and ``asyncio.sleep``), gathered: wall time;
- driver memory per finished child (RSS delta / n after gc, run kept), 10,000 and 100,000
  children in one run, each in a fresh process, with the time per child to show it is flat;
- ``import eagernb`` and the first result of a one-child workflow in a fresh process.
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

QUICK = "--quick" in sys.argv
N = 1000
REPEATS = 7 if QUICK else 21


# -- per-child cost --------------------------------------------------------------------


def _body_sync(i: int) -> int:
    return i


async def _body_async(i: int) -> int:
    return i


def _workflows() -> dict[str, Callable[[int], Awaitable[int]]]:
    from eagernb import eager, task

    quiet_sync = task(_body_sync)
    quiet_async = task(_body_async)

    @eager
    async def sync_gathered(n: int) -> int:
        return sum(await asyncio.gather(*(quiet_sync(i=i) for i in range(n))))

    @eager
    async def async_gathered(n: int) -> int:
        return sum(await asyncio.gather(*(quiet_async(i=i) for i in range(n))))

    @eager
    async def async_sequential(n: int) -> int:
        total = 0
        for i in range(n):
            total += await quiet_async(i=i)
        return total

    @eager
    async def sync_sequential(n: int) -> int:
        total = 0
        for i in range(n):
            total += await quiet_sync(i=i)
        return total

    return {
        "sync gathered": lambda n: sync_gathered(n=n),
        "async gathered": lambda n: async_gathered(n=n),
        "async sequential": lambda n: async_sequential(n=n),
        "sync sequential": lambda n: sync_sequential(n=n),
    }


async def _to_thread_gathered(n: int) -> int:
    return sum(await asyncio.gather(*(asyncio.to_thread(_body_sync, i) for i in range(n))))


async def _bare_gathered(n: int) -> int:
    return sum(await asyncio.gather(*(_body_async(i) for i in range(n))))


async def _bare_sequential(n: int) -> int:
    total = 0
    for i in range(n):
        total += await _body_async(i)
    return total


async def _to_thread_sequential(n: int) -> int:
    total = 0
    for i in range(n):
        total += await asyncio.to_thread(_body_sync, i)
    return total


async def _timed(make: Callable[[int], Awaitable[int]], n: int) -> tuple[float, float]:
    """Wall seconds, and CPU seconds of this (the loop's) thread."""
    gc.collect()
    started, cpu = time.perf_counter(), time.thread_time()
    assert await make(n) == n * (n - 1) // 2
    return time.perf_counter() - started, time.thread_time() - cpu


Row = tuple[str, float, float, float, float | None, float | None]


async def per_child() -> list[Row]:
    """(case, eagernb µs/child, baseline µs/child, ratio, CPU ratio, limit), medians.

    Each repeat times eagernb and then its baseline back to back; the ratio is the median
    of those pairs' ratios, so load that comes and goes hits both sides of a pair. The CPU
    ratio (CPU time of the loop's thread) does not see other processes taking the cores;
    it is shown for the async cases, where all the work is on that thread.
    """
    flows = _workflows()
    cases: list[tuple[str, Any, Any, float | None, bool]] = [
        ("sync gathered", flows["sync gathered"], _to_thread_gathered, 1.5, False),
        ("async gathered", flows["async gathered"], _bare_gathered, 3.0, True),
        ("async sequential", flows["async sequential"], _bare_sequential, None, True),
        ("sync sequential", flows["sync sequential"], _to_thread_sequential, None, False),
    ]
    rows: list[Row] = []
    for name, ours, base, limit, cpu in cases:
        await ours(N)  # warm up: threads, caches
        await base(N)
        mine, theirs, ratios, cpu_ratios = [], [], [], []
        for _ in range(REPEATS):
            (a, a_cpu), (b, b_cpu) = await _timed(ours, N), await _timed(base, N)
            mine.append(a)
            theirs.append(b)
            ratios.append(a / b)
            cpu_ratios.append(a_cpu / b_cpu if b_cpu > 0 else float("nan"))
        rows.append((
            name,
            statistics.median(mine) / N * 1e6,
            statistics.median(theirs) / N * 1e6,
            statistics.median(ratios),
            statistics.median(cpu_ratios) if cpu else None,
            limit,
        ))  # fmt: skip
    return rows


async def sleepers() -> list[tuple[str, float]]:
    import eagernb
    from eagernb import eager, task

    @task
    def nap(i: int) -> int:
        time.sleep(0.05)
        return i

    @task
    async def anap(i: int) -> int:
        await asyncio.sleep(0.05)
        return i

    @eager
    async def sleep_sync(n: int) -> int:
        return sum(await asyncio.gather(*(nap(i=i) for i in range(n))))

    @eager
    async def sleep_async(n: int) -> int:
        return sum(await asyncio.gather(*(anap(i=i) for i in range(n))))

    assert eagernb.config.threads == 128, "default settings, please"
    rows = []
    for name, wf in (
        ("40 x time.sleep(0.05)", sleep_sync),
        ("40 x asyncio.sleep(0.05)", sleep_async),
    ):
        await wf(n=40)
        times = [(await _timed(lambda n, wf=wf: wf(n=n), 40))[0] for _ in range(REPEATS)]
        rows.append((name, statistics.median(times)))
    return rows


# -- fresh processes -------------------------------------------------------------------

MEMORY = r"""
import asyncio, gc, json, os, sys, time
sys.path.insert(0, {root!r})
from eagernb import eager, task
import eagernb

def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

@task
async def child(i: int) -> int:
    return i

@task
def child_sync(i: int) -> int:
    return i

@eager
async def wf(n: int, kind: str) -> int:
    body = child if kind == "async" else child_sync
    return sum(await asyncio.gather(*(body(i=i) for i in range(n))))

async def main(n: int, kind: str) -> dict:
    await wf(n=100, kind=kind)  # warm up: threads, caches
    gc.collect()
    before = rss()
    started = time.perf_counter()
    assert await wf(n=n, kind=kind) == n * (n - 1) // 2
    seconds = time.perf_counter() - started
    gc.collect()
    run = eagernb.last_run()
    assert len(run.records) == n + 1
    assert all(r.status.value == "succeeded" for r in run.records.values())
    grown = (rss() - before) / n
    # The same gather without eagernb (to_thread for sync), in the same process after it:
    # how much of any growth in time per child with n is asyncio's and the GC's own.
    async def bare_async(i: int) -> int:
        return i
    if kind == "async":
        make = lambda: asyncio.gather(*(bare_async(i) for i in range(n)))
    else:
        make = lambda: asyncio.gather(*(asyncio.to_thread(int, i) for i in range(n)))
    started = time.perf_counter()
    assert sum(await make()) == n * (n - 1) // 2
    bare = time.perf_counter() - started
    return {{"bytes": grown, "us": seconds / n * 1e6, "bare_us": bare / n * 1e6}}

print(json.dumps(asyncio.run(main(int(sys.argv[1]), sys.argv[2]))))
"""

FIRST = r"""
import time
started = time.perf_counter()
import asyncio, json, sys
sys.path.insert(0, {root!r})
import eagernb
imported = time.perf_counter() - started
from eagernb import eager, task

@task
def add_one(x: int) -> int:
    return x + 1

@eager
async def wf(x: int) -> int:
    return await add_one(x=x)

assert asyncio.run(wf(x=1)) == 2
print(json.dumps({{"import": imported, "first": time.perf_counter() - started}}))
"""


def _python(code: str, *args: str) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return json.loads(done.stdout)  # type: ignore[no-any-return]


def memory(n: int, kind: str) -> dict[str, float]:
    return _python(MEMORY.format(root=str(ROOT)), str(n), kind)


def fresh() -> dict[str, float]:
    runs = [_python(FIRST.format(root=str(ROOT))) for _ in range(3 if QUICK else 7)]
    bare = []
    for _ in range(3 if QUICK else 7):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=True)
        bare.append(time.perf_counter() - started)
    walls = []
    for _ in range(3 if QUICK else 7):
        started = time.perf_counter()
        _python(FIRST.format(root=str(ROOT)))
        walls.append(time.perf_counter() - started)
    return {
        "import": statistics.median(r["import"] for r in runs),
        "first": statistics.median(r["first"] for r in runs),
        "process": statistics.median(walls),
        "python": statistics.median(bare),
    }


def main() -> None:
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} cores, medians of {REPEATS}\n")
    print(
        f"{'per child (1,000 children)':<24}{'eagernb':>10}{'baseline':>10}{'ratio':>8}"
        f"{'limit':>7}{'CPU ratio':>11}"
    )
    for name, ours, base, ratio, cpu_ratio, limit in asyncio.run(per_child()):
        verdict = "" if limit is None else ("ok" if ratio <= limit else "OVER")
        lim = "" if limit is None else f"{limit:.1f}x"
        cpu = "" if cpu_ratio is None else f"{cpu_ratio:.2f}x"
        print(f"{name:<24}{ours:>8.1f}µs{base:>8.1f}µs{ratio:>7.2f}x{lim:>7}{cpu:>11}  {verdict}")
    print()
    for name, seconds in asyncio.run(sleepers()):
        verdict = "ok" if seconds <= 0.15 else "OVER"
        print(f"{name:<28}{seconds:>9.3f} s   limit 0.150 s  {verdict}")
    print()
    sizes = [10_000] if QUICK else [10_000, 100_000]
    for kind in ("async", "sync"):
        for n in sizes:
            m = memory(n, kind)
            verdict = "ok" if m["bytes"] <= 5000 else "OVER"
            print(
                f"memory, {n:>7,} {kind:<5} children: {m['bytes']:>6.0f} B/child (limit 5000) "
                f"{verdict}; {m['us']:.1f} µs/child (plain asyncio: {m['bare_us']:.1f})"
            )
    print()
    f = fresh()
    print(
        f"import eagernb (fresh process)      {f['import']:.3f} s   limit 0.150 s  "
        f"{'ok' if f['import'] <= 0.15 else 'OVER'}"
    )
    print(
        f"first result of a one-child run    {f['first']:.3f} s   limit 0.500 s  "
        f"{'ok' if f['first'] <= 0.5 else 'OVER'}"
    )
    print(f"  (whole process {f['process']:.3f} s; bare `python -c pass` {f['python']:.3f} s)")


if __name__ == "__main__":
    main()
