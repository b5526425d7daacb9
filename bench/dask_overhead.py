"""Per-child overhead of eagernb on Dask, next to raw ``client.submit`` on the same cluster.

    .venv/bin/python bench/dask_overhead.py [--children 400] [--repeats 3] [--workers 2]

Starts a Dask scheduler and ``--workers`` one-thread workers on loopback, and an
``eagernb server --engine dask`` that uses them; then, in the same run, times N trivial
children gathered four ways: raw ``client.submit`` + ``client.gather``; the server's Dask
engine alone (``DaskEngine.execute`` of N jobs gathered, no HTTP or SQLite: what the engine
contract adds on top of Dask); and an eager workflow in hybrid and in remote mode whose
children go through the whole control plane. Reports µs per child (medians of the
repeats) and the ratio to raw Dask.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable

import eagernb
from eagernb import Remote, eager, task
from eagernb._engines.payload import dump_entity, dump_value
from eagernb._server.dask_engine import DaskEngine
from eagernb._server.engine import Job


@task
def noop(i: int) -> int:
    return i


@eager
async def gathered(n: int) -> int:
    return sum(await asyncio.gather(*(noop(i=i) for i in range(n))))


def plain_noop(i: int) -> int:
    return i


def _spawn(args: list[str], log: int | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", *args],
        stdout=subprocess.DEVNULL if log is None else log,
        stderr=subprocess.PIPE if log is None else log,
        text=True,
    )


def _engine_only(address: str, n: int, repeats: int) -> float:
    payload = dump_entity(noop).data
    inputs = [dump_value({"i": i}) for i in range(n)]

    async def main() -> float:
        engine = DaskEngine(address)
        await engine.start()
        rounds = iter(range(repeats + 1))

        async def batch() -> None:
            r = next(rounds)
            jobs = [Job(f"bench-{r}-{i}", 1, payload, inputs[i]) for i in range(n)]
            results = await asyncio.gather(*(engine.execute(job) for job in jobs))
            assert all(result.ok for result in results), results[0]

        try:
            await batch()  # warm up: the workers start their job processes
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                await batch()
                times.append((time.perf_counter() - start) / n)
            return statistics.median(times) * 1e6
        finally:
            await engine.aclose()

    return asyncio.run(main())


def _median_per_child(run: Callable[[], object], n: int, repeats: int) -> float:
    run()  # warm up: connections, registration, worker processes
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) / n)
    return statistics.median(times) * 1e6


def main() -> None:
    from distributed import Client

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--children", type=int, default=400)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    n = args.children
    procs: list[subprocess.Popen[str]] = []
    with tempfile.TemporaryDirectory() as data:
        log = os.open(os.path.join(data, "dask.log"), os.O_WRONLY | os.O_CREAT)
        try:
            scheduler = _spawn(
                ["distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", "0",
                 "--no-dashboard"]
            )  # fmt: skip
            procs.append(scheduler)
            assert scheduler.stderr is not None
            address = next(
                line.split("Scheduler at:")[1].strip()
                for line in scheduler.stderr
                if "Scheduler at:" in line
            )
            worker = ["distributed.cli.dask_worker", address, "--host", "127.0.0.1"]
            for _ in range(args.workers):
                procs.append(_spawn([*worker, "--nthreads", "1", "--no-dashboard"], log))
            server = subprocess.Popen(
                [sys.executable, "-m", "eagernb", "server", "--port", "0", "--data-dir",
                 os.path.join(data, "server"), "--engine", "dask", "--scheduler", address],
                stdout=subprocess.PIPE, stderr=log, text=True,
            )  # fmt: skip
            procs.append(server)
            assert server.stdout is not None
            url = server.stdout.readline().split(" listening on ")[1].split()[0]
            client = Client(address, set_as_default=False)
            client.wait_for_workers(args.workers, timeout=120)

            def raw() -> object:
                return client.gather([client.submit(plain_noop, i, pure=False) for i in range(n)])

            eagernb.config.remote = Remote(url)
            rows = [("raw Dask: client.submit + gather", _median_per_child(raw, n, args.repeats))]
            engine_us = _engine_only(address, n, args.repeats)
            rows.append(("eagernb DaskEngine.execute alone", engine_us))
            for mode in ("hybrid", "remote"):
                with eagernb.mode(mode):
                    per_child = _median_per_child(
                        lambda: asyncio.run(gathered(n=n)), n, args.repeats
                    )
                rows.append((f"eagernb {mode}: eager gather of tasks", per_child))
            client.close()
        finally:
            for proc in reversed(procs):
                if proc.poll() is None:
                    os.kill(proc.pid, signal.SIGTERM)
            for proc in reversed(procs):
                proc.wait(timeout=60)
            os.close(log)
    base = rows[0][1]
    print(f"{n} trivial children gathered, {args.workers} one-thread Dask workers on loopback")
    print(f"{'workload':<42} {'µs/child':>10} {'x raw Dask':>11}")
    for name, us in rows:
        print(f"{name:<42} {us:>10.0f} {us / base:>11.1f}")


if __name__ == "__main__":
    main()
