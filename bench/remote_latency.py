"""Per-child latency of hybrid and remote runs through a real control plane on loopback.

    .venv/bin/python bench/remote_latency.py [--children 200] [--repeats 3]

Starts ``eagernb server`` on a free port with a temporary data directory, then times
trivial children awaited one after another (round trip) and gathered (throughput), as
medians of several repeats. Speed belongs here, not in timed tests.
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

import eagernb
from eagernb import Remote, eager, task


@task
def noop(i: int) -> int:
    return i


@eager
async def sequential(n: int) -> int:
    total = 0
    for i in range(n):
        total += await noop(i=i)
    return total


@eager
async def gathered(n: int) -> int:
    return sum(await asyncio.gather(*(noop(i=i) for i in range(n))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--children", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data:
        server = subprocess.Popen(
            [sys.executable, "-m", "eagernb", "server", "--port", "0", "--data-dir", data,
             "--workers", str(args.workers)],
            stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            assert server.stdout is not None
            url = server.stdout.readline().split(" listening on ")[1].split()[0]
            eagernb.config.remote = Remote(url)
            rows = []
            for mode in ("hybrid", "remote"):
                for workflow, n in ((sequential, args.children // 4), (gathered, args.children)):
                    times = []
                    with eagernb.mode(mode):
                        asyncio.run(workflow(n=4))  # warm up: registration, connections
                        for _ in range(args.repeats):
                            start = time.perf_counter()
                            asyncio.run(workflow(n=n))
                            times.append((time.perf_counter() - start) / n)
                    rows.append((mode, workflow.name, n, statistics.median(times) * 1000))
            print(f"{'mode':<8} {'workload':<12} {'children':>8} {'ms/child':>9}")
            for mode, name, n, ms in rows:
                print(f"{mode:<8} {name:<12} {n:>8} {ms:>9.2f}")
        finally:
            os.kill(server.pid, signal.SIGTERM)
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
