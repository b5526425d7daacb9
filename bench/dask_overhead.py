"""Per-child overhead of eagernb on Dask, next to raw ``client.submit`` on the same cluster.

    .venv/bin/python bench/dask_overhead.py [--children 200] [--repeats 7] [--workers 2]

Starts a Dask scheduler and ``--workers`` one-thread workers on loopback, and an
``eagernb server --engine dask`` that uses them; then, in the same run, times N trivial
children gathered five ways: raw ``client.submit`` + ``client.gather``, and with
``client.map`` (one graph, as the engine sends children launched together); the server's Dask
engine alone (``DaskEngine.execute`` of N jobs gathered, no HTTP or SQLite: what the engine
contract adds on top of Dask); and an eager workflow in hybrid and in remote mode whose
children go through the whole control plane. The five are timed in interleaved rounds, so
a change in the machine's load falls on all of them alike. Reports µs per child (the
median of the rounds) and the ratio to raw ``client.submit`` (the median of each round's
ratio).
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


class _EngineOnly:
    """``DaskEngine.execute`` of N jobs gathered, on an event loop kept across rounds."""

    def __init__(self, address: str, n: int) -> None:
        self._payload = dump_entity(noop).data
        self._inputs = [dump_value({"i": i}) for i in range(n)]
        self._loop = asyncio.new_event_loop()
        self._engine = DaskEngine(address)
        self._loop.run_until_complete(self._engine.start())
        self._round = 0

    def __call__(self) -> None:
        self._loop.run_until_complete(self._batch())

    async def _batch(self) -> None:
        self._round += 1
        jobs = [
            Job(f"bench-{self._round}-{i}", 1, self._payload, inputs)
            for i, inputs in enumerate(self._inputs)
        ]
        results = await asyncio.gather(*(self._engine.execute(job) for job in jobs))
        assert all(result.ok for result in results), results[0]

    def close(self) -> None:
        self._loop.run_until_complete(self._engine.aclose())
        self._loop.close()


def _interleaved(
    workloads: dict[str, Callable[[], object]], n: int, repeats: int
) -> dict[str, tuple[float, float]]:
    """Per workload: median µs per child, and the median of its ratio to the first workload
    in the same round. Each round runs every workload once, so a change in the machine's
    load falls on all of them alike, and each ratio compares runs made moments apart."""
    for run in workloads.values():
        run()  # warm up: connections, registration, worker processes
    times: dict[str, list[float]] = {name: [] for name in workloads}
    for _ in range(repeats):
        for name, run in workloads.items():
            start = time.perf_counter()
            run()
            times[name].append((time.perf_counter() - start) / n)
    base = next(iter(times.values()))
    return {
        name: (
            statistics.median(ts) * 1e6,
            statistics.median(t / b for t, b in zip(ts, base, strict=True)),
        )
        for name, ts in times.items()
    }


def main() -> None:
    from distributed import Client

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--children", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=7)
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

            def raw_map() -> object:
                return client.gather(client.map(plain_noop, range(n), pure=False))

            def in_mode(mode: str) -> Callable[[], object]:
                def run() -> object:
                    with eagernb.mode(mode):
                        return asyncio.run(gathered(n=n))

                return run

            eagernb.config.remote = Remote(url)
            engine_only = _EngineOnly(address, n)
            try:
                rows = _interleaved(
                    {
                        "raw Dask: client.submit + gather": raw,
                        "raw Dask: client.map + gather": raw_map,
                        "eagernb DaskEngine.execute alone": engine_only,
                        "eagernb hybrid: eager gather of tasks": in_mode("hybrid"),
                        "eagernb remote: eager gather of tasks": in_mode("remote"),
                    },
                    n,
                    args.repeats,
                )
            finally:
                engine_only.close()
            client.close()
        finally:
            for proc in reversed(procs):
                if proc.poll() is None:
                    os.kill(proc.pid, signal.SIGTERM)
            for proc in reversed(procs):
                proc.wait(timeout=60)
            os.close(log)
    print(
        f"{n} trivial children gathered, {args.workers} one-thread Dask workers on loopback, "
        f"{args.repeats} rounds"
    )
    print(f"{'workload':<42} {'µs/child':>10} {'x raw Dask':>11}")
    for name, (us, ratio) in rows.items():
        print(f"{name:<42} {us:>10.0f} {ratio:>11.2f}")


if __name__ == "__main__":
    main()
