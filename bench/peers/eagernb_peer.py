"""eagernb: ``@eager`` workflows whose awaited ``@task`` calls are child executions.

Runs in eagernb's own virtualenv. The remote workload starts ``eagernb server`` on
127.0.0.1 (a free port, a temporary data directory) and stops it by its PID; it reuses the
workflows of ``bench/remote_latency.py`` and runs ``bench/dask_overhead.py`` for the Dask
engine.
"""

from __future__ import annotations

import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable
from importlib.metadata import version
from pathlib import Path

from common import (
    Row,
    Settings,
    amedian_per_child,
    children_row,
    first_row,
    main,
    median_per_child,
    memory_row,
    remote_row,
    sleep_row,
)

import eagernb
from eagernb import eager, task

BENCH = Path(__file__).resolve().parents[1]
LABEL = "eagernb"


@task
async def anoop(i: int) -> int:
    return i


@task
def noop(i: int) -> int:
    return i


@task
async def asleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


@task
def tsleep(seconds: float) -> None:
    time.sleep(seconds)


@eager
async def sequential(n: int, kind: str) -> int:
    body = anoop if kind == "async" else noop
    total = 0
    for i in range(n):
        total += await body(i=i)
    return total


@eager
async def gathered(n: int, kind: str) -> int:
    body = anoop if kind == "async" else noop
    return sum(await asyncio.gather(*(body(i=i) for i in range(n))))


@eager
async def sleepers(n: int, seconds: float, kind: str) -> None:
    body = asleep if kind == "async" else tsleep
    await asyncio.gather(*(body(seconds=seconds) for _ in range(n)))


@eager
async def batches(n: int) -> int:
    total = 0
    for batch in range(0, n, 1000):
        size = min(1000, n - batch)
        total += sum(await asyncio.gather(*(noop(i=i) for i in range(size))))
    return total


def children(settings: Settings) -> Iterable[Row]:
    n = settings.children

    async def measure() -> list[Row]:
        rows = []
        for shape, workflow in (("sequential", sequential), ("gathered", gathered)):
            for kind in ("async", "sync"):
                per_child = await amedian_per_child(
                    lambda workflow=workflow, kind=kind: workflow(n=n, kind=kind), n, settings
                )
                rows.append(children_row(f"{shape} {kind}", LABEL, per_child, n))
        return rows

    return asyncio.run(measure())


def sleep(settings: Settings) -> Iterable[Row]:
    n, seconds = settings.sleepers, settings.sleep

    async def measure() -> list[Row]:
        rows = []
        for kind in ("async", "sync"):
            per_child = await amedian_per_child(
                lambda kind=kind: sleepers(n=n, seconds=seconds, kind=kind), n, settings
            )
            note = "sync bodies on eagernb's threads (128 by default)" if kind == "sync" else ""
            rows.append(sleep_row(kind, LABEL, per_child, n, note))
        return rows

    return asyncio.run(measure())


def memory(settings: Settings) -> Iterable[Row]:
    note = "one run, sync children gathered 1,000 at a time; its records stay in the session"
    yield memory_row(LABEL, lambda n: asyncio.run(batches(n=n)), settings, note)


def first(settings: Settings) -> Iterable[Row]:
    yield first_row(LABEL, asyncio.run(gathered(n=1, kind="sync")))


def sandbox_ready(settings: Settings) -> Row:
    """Seconds from ``eagernb sandbox start`` to the sandbox answering (the command waits
    for its health check, then prints the URL), in a fresh data directory each time."""
    repeats = 1 if settings.quick else 3
    times = []
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as data:
            start = time.perf_counter()
            subprocess.run(
                [sys.executable, "-m", "eagernb", "sandbox", "start", "--data-dir", data],
                check=True, capture_output=True, timeout=120,
            )  # fmt: skip
            times.append(time.perf_counter() - start)
            subprocess.run(
                [sys.executable, "-m", "eagernb", "sandbox", "stop", "--data-dir", data],
                check=True, capture_output=True, timeout=120,
            )  # fmt: skip
    note = "once, not per child: `eagernb sandbox start` until it answers"
    return Row("remote", "sandbox ready", LABEL, statistics.median(times) * 1000, "ms", 1,
               repeats, note)  # fmt: skip


def remote(settings: Settings) -> Iterable[Row]:
    sys.path.insert(0, str(BENCH))
    import remote_latency  # the same workflows as bench/remote_latency.py

    yield sandbox_ready(settings)
    n = settings.remote
    with tempfile.TemporaryDirectory() as data:
        server = subprocess.Popen(
            [sys.executable, "-m", "eagernb", "server", "--host", "127.0.0.1", "--port", "0",
             "--data-dir", data, "--workers", "2"],
            stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
        )  # fmt: skip
        try:
            assert server.stdout is not None
            line = server.stdout.readline()
            if " listening on " not in line:
                raise RuntimeError(f"The eagernb server did not start; it printed {line!r}.")
            eagernb.config.remote = eagernb.Remote(line.split(" listening on ")[1].split()[0])
            for mode in ("hybrid", "remote"):
                with eagernb.mode(mode):
                    for case, workflow, size in (
                        ("sequential round trip", remote_latency.sequential, n // 4),
                        ("gathered", remote_latency.gathered, n),
                    ):
                        asyncio.run(workflow(n=4))  # warm up: registration, connections
                        per_child = median_per_child(
                            lambda workflow=workflow, size=size: asyncio.run(workflow(n=size)),
                            size, settings, warmup=False,
                        )  # fmt: skip
                        note = "server with 2 worker processes on loopback"
                        yield remote_row(case, f"eagernb {mode}", per_child, size, note)
        finally:
            os.kill(server.pid, signal.SIGTERM)
            server.wait(timeout=60)
    yield from dask_engine(settings)


def dask_engine(settings: Settings) -> Iterable[Row]:
    """Gathered children through ``eagernb server --engine dask``: bench/dask_overhead.py."""
    n, repeats = settings.remote, 7
    done = subprocess.run(
        [sys.executable, str(BENCH / "dask_overhead.py"), "--children", str(n),
         "--repeats", str(repeats), "--workers", "2"],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"bench/dask_overhead.py failed: {done.stderr.strip()[-300:]}")
    names = {
        "raw Dask: client.submit + gather": "raw Dask client.submit, same cluster",
        "raw Dask: client.map + gather": "raw Dask client.map, same cluster",
        "eagernb hybrid: eager gather of tasks": "eagernb hybrid, Dask engine",
        "eagernb remote: eager gather of tasks": "eagernb remote, Dask engine",
        "eagernb DaskEngine.execute alone": "eagernb DaskEngine alone (no HTTP, no SQLite)",
    }
    for line in done.stdout.splitlines():
        for name, label in names.items():
            if line.startswith(name):
                us, ratio = (float(x) for x in line[len(name) :].split()[:2])
                note = (
                    f"from bench/dask_overhead.py: 2 one-thread Dask workers; {ratio:.2f}x raw "
                    "client.submit (median of the ratios of interleaved rounds)"
                )
                yield Row(
                    "remote", "gathered", label, us / 1000, "ms/child", n, repeats, note,
                    extra={"x_raw_submit": ratio},
                )  # fmt: skip


if __name__ == "__main__":
    workloads = {
        "children": children,
        "sleep": sleep,
        "memory": memory,
        "first": first,
        "remote": remote,
    }
    main("eagernb", version("eagernb"), workloads)
