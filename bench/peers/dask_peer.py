"""Dask distributed: ``client.submit`` on a LocalCluster of 2 one-thread worker processes.

The trivial-children workload also runs on a threads-only LocalCluster (in this process).
Dask tasks are plain functions; the async cases use an asynchronous Client on the same
cluster.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable

import distributed
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
from distributed import Client, LocalCluster

LABEL = "Dask LocalCluster, 2 processes"
THREADS = "Dask LocalCluster, threads"
AWAITED = "plain function; futures awaited with an asynchronous Client"


def noop(i: int) -> int:
    return i


def sequential(client: Client, n: int) -> int:
    return sum(client.submit(noop, i, pure=False).result() for i in range(n))


def gathered(client: Client, n: int) -> int:
    return sum(client.gather([client.submit(noop, i, pure=False) for i in range(n)]))


def cluster(processes: bool) -> LocalCluster:
    """Two one-thread worker processes on 127.0.0.1, or one two-thread worker in-process."""
    if processes:
        return LocalCluster(
            n_workers=2, threads_per_worker=1, host="127.0.0.1", dashboard_address=None
        )
    return LocalCluster(processes=False, n_workers=1, threads_per_worker=2, dashboard_address=None)


def sync_rows(client: Client, label: str, settings: Settings) -> list[Row]:
    n = settings.children
    seq = median_per_child(lambda: sequential(client, n), n, settings)
    gat = median_per_child(lambda: gathered(client, n), n, settings)
    return [
        children_row("sequential sync", label, seq, n),
        children_row("gathered sync", label, gat, n),
    ]


def async_rows(address: str, settings: Settings) -> list[Row]:
    n = settings.children

    async def measure() -> list[Row]:
        async with Client(address, asynchronous=True) as client:

            async def seq() -> int:
                return sum([await client.submit(noop, i, pure=False) for i in range(n)])

            async def gat() -> int:
                futures = [client.submit(noop, i, pure=False) for i in range(n)]
                return sum(await client.gather(futures))

            return [
                children_row(
                    "sequential async", LABEL, await amedian_per_child(seq, n, settings), n, AWAITED
                ),
                children_row(
                    "gathered async", LABEL, await amedian_per_child(gat, n, settings), n, AWAITED
                ),
            ]

    return asyncio.run(measure())


def children(settings: Settings) -> Iterable[Row]:
    with cluster(processes=True) as processes, Client(processes) as client:
        yield from sync_rows(client, LABEL, settings)
        yield from async_rows(processes.scheduler_address, settings)
    with cluster(processes=False) as threads, Client(threads) as client:
        for row in sync_rows(client, THREADS, settings):
            row.note = "1 worker with 2 threads in this process"
            yield row


def sleep(settings: Settings) -> Iterable[Row]:
    n = settings.sleepers
    with cluster(processes=True) as processes, Client(processes) as client:

        def run() -> None:
            client.gather([client.submit(time.sleep, settings.sleep, pure=False) for _ in range(n)])

        yield sleep_row(
            "sync", LABEL, median_per_child(run, n, settings), n, "2 worker threads in all"
        )


def memory(settings: Settings) -> Iterable[Row]:
    with cluster(processes=True) as processes, Client(processes) as client:

        def run(n: int) -> int:
            return sum(gathered(client, len(batch)) for batch in batched(n))

        note = "driver process with the scheduler (LocalCluster runs it here)"
        yield memory_row(LABEL, run, settings, note)


def remote(settings: Settings) -> Iterable[Row]:
    n = settings.remote
    with cluster(processes=True) as processes, Client(processes) as client:
        seq = median_per_child(lambda: sequential(client, n // 4), n // 4, settings)
        gat = median_per_child(lambda: gathered(client, n), n, settings)
    note = "client.submit(...).result() one after another / client.gather"
    yield remote_row("sequential round trip", LABEL, seq, n // 4, note)
    yield remote_row("gathered", LABEL, gat, n, note)


def first(settings: Settings) -> Iterable[Row]:
    with cluster(processes=True) as processes, Client(processes) as client:
        yield first_row(LABEL, client.submit(noop, 1).result())


if __name__ == "__main__":
    workloads = {
        "children": children,
        "sleep": sleep,
        "memory": memory,
        "remote": remote,
        "first": first,
    }
    main("dask", distributed.__version__, workloads)
