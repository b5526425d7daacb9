"""A server whose Dask scheduler restarts goes on hearing its jobs' starts: timeouts and
durations hold on the new scheduler as on the first one."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

import eagernb
from eagernb import Remote
from tests.server.conftest import Server

from .conftest import Cluster, read_fifo, wait_exit
from .test_failures import one_quick, times_out

pytestmark = pytest.mark.dask


@pytest.fixture(scope="module")
def own_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    started = Cluster(tmp_path_factory.mktemp("dask-restarted"))
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="module")
def own_server(own_cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    args = ["--engine", "dask", "--scheduler", own_cluster.address]
    started = Server(tmp_path_factory.mktemp("dask-restarted-server") / "data", args=args)
    try:
        yield started
    finally:
        started.stop()


def test_after_a_scheduler_restart_timeouts_and_starts_still_hold(
    own_cluster: Cluster, own_server: Server, fifo: Path
) -> None:
    remote = Remote(own_server.url, default_project="flytesnacks", default_domain="development")
    eagernb.config.remote = remote
    try:
        with eagernb.mode("hybrid"):
            assert asyncio.run(one_quick(x=1)) == 2
        own_cluster.restart()

        async def main() -> tuple[str, int]:
            with eagernb.mode("hybrid"):
                handle = times_out.start(fifo=str(fifo))
            job_pid = int((await asyncio.to_thread(read_fifo, fifo)).split()[0])
            # Unheard, the start would leave the timeout unstarted and this wait endless.
            return await asyncio.wait_for(handle, 120), job_pid

        outcome, job_pid = asyncio.run(main())
        assert "TaskTimeoutError" in outcome
        assert wait_exit(job_pid), f"the timed-out job's process {job_pid} still runs"
        [child] = remote.list_executions(name="sleeper", limit=1)
        record = own_server.wait(child.id)
        assert record["status"] == "failed"
        assert record["started_at"] is not None and record["ended_at"] >= record["started_at"] + 2
        with eagernb.mode("hybrid"):
            assert asyncio.run(one_quick(x=2)) == 3
    finally:
        eagernb.config.remote = None
        remote.close()
