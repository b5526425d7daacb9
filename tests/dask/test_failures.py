"""Cancellation, timeouts, retries, lost workers and resources on the Dask engine."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

import eagernb
from eagernb import Remote, eager, task
from tests.server.conftest import Server

from .conftest import Cluster, read_fifo, wait_exit


def _report(fifo: str) -> None:
    """Tell the test this job's process and its Dask worker process, through ``fifo``."""
    with open(fifo, "w") as pipe:
        pipe.write(f"{os.getpid()} {os.getppid()} {os.environ.get('EAGERNB_ATTEMPT')}")


pytestmark = pytest.mark.dask


@task
def blocker(fifo: str) -> int:
    _report(fifo)
    time.sleep(300)  # in C: only killing the process stops it
    return 0


@eager
async def blocked(fifo: str) -> int:
    return await blocker(fifo=fifo)


def _processing(cluster: Cluster, execution_id: str) -> list[str]:
    keys = [str(k) for ks in cluster.client.processing().values() for k in ks]
    return [k for k in keys if execution_id in k]


def test_cancelling_a_run_stops_its_dask_job(
    remote: Remote, server: Server, cluster: Cluster, fifo: Path
) -> None:
    async def main() -> tuple[str, int]:
        with eagernb.mode("hybrid"):
            handle = blocked.start(fifo=str(fifo))
        job_pid = int((await asyncio.to_thread(read_fifo, fifo)).split()[0])
        handle.cancel()
        with pytest.raises(eagernb.RunCancelledError):
            await handle
        return next(iter(handle.records.values())).run_id, job_pid

    _, job_pid = asyncio.run(main())
    assert wait_exit(job_pid), f"the job's process {job_pid} still runs after the cancel"
    [execution] = remote.list_executions(name="blocker", limit=1)
    final = server.wait(execution.id)
    assert final["status"] == "cancelled"
    assert _processing(cluster, execution.id) == []
    with eagernb.mode("hybrid"):  # the worker takes new jobs
        assert asyncio.run(one_quick(x=1)) == 2


@task(timeout=2)
def sleeper(fifo: str) -> int:
    _report(fifo)
    time.sleep(300)
    return 0


@eager
async def times_out(fifo: str) -> str:
    try:
        await sleeper(fifo=fifo)
    except eagernb.TaskTimeoutError as exc:
        return type(exc).__name__
    return "no timeout"


def test_a_timeout_fails_the_attempt_and_stops_its_job(remote: Remote, fifo: Path) -> None:
    async def main() -> tuple[str, int]:
        with eagernb.mode("hybrid"):
            handle = times_out.start(fifo=str(fifo))
        job_pid = int((await asyncio.to_thread(read_fifo, fifo)).split()[0])
        return await handle, job_pid

    outcome, job_pid = asyncio.run(main())
    assert "TaskTimeoutError" in outcome
    assert wait_exit(job_pid)


@task
def hold(fifo: str, release: str) -> int:
    _report(fifo)
    with open(release) as pipe:  # blocks until the test opens the fifo for writing
        return len(pipe.read())


@task
def quick(x: int) -> int:
    return x + 1


@eager
async def one_quick(x: int) -> int:
    return await quick(x=x)


def test_a_task_waiting_in_the_dask_queue_is_queued_and_its_timeout_not_started(
    server: Server, cluster: Cluster, tmp_path: Path
) -> None:
    cluster.client.wait_for_workers(2, timeout=120)
    releases, holders = [], []
    for i in range(2):  # one thread per worker: two holders running take both
        fifo, release = tmp_path / f"started-{i}.fifo", tmp_path / f"release-{i}.fifo"
        os.mkfifo(fifo)
        os.mkfifo(release)
        releases.append(release)
        holders.append(server.start(hold, fifo=str(fifo), release=str(release))["id"])
        read_fifo(fifo)
    waiting = server.start(quick, timeout=1.0, x=1)["id"]
    # Longer than its timeout, the quick task waits for a thread, and stays queued.
    seen = server.ok(server.http.get(f"/executions/{waiting}/wait?timeout=2.5"))
    assert seen["status"] == "queued"
    assert seen["attempts"] == 0
    for release in releases:
        with open(release, "w") as pipe:
            pipe.write("go")
    assert server.output(server.wait(waiting)) == 2
    for holder in holders:
        assert server.output(server.wait(holder)) == 2


@task
def flaky(x: int) -> int:
    if os.environ.get("EAGERNB_ATTEMPT") == "1":
        raise ConnectionError("the first attempt fails")
    return x


def test_retries_are_the_dispatchers(server: Server) -> None:
    done = server.run(flaky, retries=1, x=5)
    assert server.output(done) == 5
    assert done["attempts"] == 2


@task
def doomed(fifo: str) -> int:
    if os.environ.get("EAGERNB_ATTEMPT") == "1":
        # Dask starts the task of a lost worker again elsewhere unless eagernb stops it;
        # such a second start of attempt 1 would block here, nobody reads the fifo by then.
        _report(fifo)
        time.sleep(300)  # the test kills this job's Dask worker now
    return os.getppid()


def _running_jobs(cluster: Cluster) -> list[str]:
    """The Dask keys eagernb job processes run now, on every worker."""
    running: dict[str, list[str]] = cluster.client.run(_running_keys)
    return [key for keys in running.values() for key in keys]


def _running_keys() -> list[str]:
    from eagernb._server import dask_worker

    return list(dask_worker._running)


def _wait_started(server: Server, execution_id: str) -> None:
    with server.http.stream("GET", f"/executions/{execution_id}/events?after=0") as response:
        for line in response.iter_lines():
            event = json.loads(line) if line else {}
            if event.get("type") == "started" and event["execution"]["id"] == execution_id:
                return
    raise AssertionError(f"execution {execution_id} ended without starting")


def _kill_the_worker_running(
    server: Server, fifo: Path, retries: int
) -> tuple[dict[str, Any], int, int]:
    execution = server.start(doomed, retries=retries, fifo=str(fifo))
    job_pid, worker_pid, attempt = read_fifo(fifo).split()
    assert attempt == "1"
    # Kill once the server has heard the start (a worker killed within milliseconds of a
    # start, before its worker sent the news, looks like one lost while it queued: Dask
    # runs the task again elsewhere as the same attempt).
    _wait_started(server, execution["id"])
    os.kill(int(worker_pid), signal.SIGKILL)
    return execution, int(job_pid), int(worker_pid)


def test_a_killed_worker_s_task_is_retried_on_another_worker(
    server: Server, cluster: Cluster, fifo: Path
) -> None:
    cluster.client.wait_for_workers(2, timeout=120)
    execution, job_pid, killed = _kill_the_worker_running(server, fifo, retries=1)
    done = server.wait(execution["id"])
    assert done["status"] == "succeeded", done
    assert done["attempts"] == 2
    assert server.output(done) != killed
    assert wait_exit(job_pid)
    assert not [key for key in _running_jobs(cluster) if execution["id"] in key]
    retrying = [e for e in server.events(execution["id"]) if e["type"] == "retrying"]
    assert "was lost" in retrying[0]["execution"]["error"]["message"]


def test_a_killed_worker_without_retries_fails_the_task_saying_so(
    server: Server, cluster: Cluster, fifo: Path
) -> None:
    cluster.client.wait_for_workers(2, timeout=120)
    execution, job_pid, _ = _kill_the_worker_running(server, fifo, retries=0)
    done = server.wait(execution["id"])
    assert done["status"] == "failed"
    assert done["error"]["type_name"] == "eagernb.WorkerLostError"
    assert "Dask worker" in done["error"]["message"]
    assert "was lost" in done["error"]["message"]
    assert wait_exit(job_pid)
    assert _processing(cluster, execution["id"]) == []
    assert not [key for key in _running_jobs(cluster) if execution["id"] in key]


@task(resources={"gpu": 1})
def on_gpu() -> int:
    return os.getppid()


@task(resources={"ssd": 1, "cpu": 0})
def on_ssd() -> int:
    return os.getppid()


@pytest.mark.parametrize("placed", [on_gpu, on_ssd], ids=["gpu", "label"])
def test_a_request_runs_on_the_worker_that_offers_it(
    server: Server, cluster: Cluster, placed: Any
) -> None:
    gpu_worker = cluster.worker_pids()["w-gpu"]
    for _ in range(3):
        assert server.output(server.run(placed)) == gpu_worker


@eager
async def mixed_requests() -> list[int]:
    return list(await asyncio.gather(on_ssd(), quick(x=1), on_gpu(), quick(x=2), on_ssd()))


def test_children_with_different_requests_launched_together_each_run_where_they_fit(
    remote: Remote, cluster: Cluster
) -> None:
    """The engine sends children launched together as one batch per kind of request."""
    gpu_worker = cluster.worker_pids()["w-gpu"]
    with eagernb.mode("hybrid"):
        assert asyncio.run(mixed_requests()) == [gpu_worker, 2, gpu_worker, 3, gpu_worker]


@task
def brief(seconds: float) -> float:
    time.sleep(seconds)  # the work itself: shorter than the start notice's grace
    return seconds


def test_a_job_shorter_than_the_start_grace_still_records_when_it_started(
    server: Server,
) -> None:
    from eagernb._server.dask_worker import START_GRACE

    seconds = START_GRACE / 2
    done = server.run(brief, seconds=seconds)
    assert server.output(done) == seconds
    assert done["attempts"] == 1
    # Its start came with its result: counted back from the end by how long it ran, and
    # recorded with its end.
    assert done["created_at"] <= done["started_at"] <= done["ended_at"] - seconds
    events = [e for e in server.events(done["id"]) if e["execution"]["id"] == done["id"]]
    assert [e["type"] for e in events] == ["queued", "finished"]
    assert events[-1]["execution"]["started_at"] == done["started_at"]


@pytest.mark.parametrize(
    ("resources", "named", "flag"),
    [
        ({"gpu": 2}, "GPU=2", '"GPU=2"'),
        ({"tpu": 1}, "tpu=1", '"tpu=1"'),
        ({"memory": "1TiB"}, "MEMORY=1024 GiB", '"MEMORY=1099511627776"'),
        ({"memory": "1.5GB"}, "MEMORY=1.39698 GiB", '"MEMORY=1500000000"'),
    ],
)
def test_a_request_no_worker_can_satisfy_fails_at_once(
    server: Server, resources: dict[str, Any], named: str, flag: str
) -> None:
    @task(resources=resources)
    def greedy() -> int:
        return 1

    done = server.run(greedy)
    assert done["status"] == "failed"
    error = done["error"]
    assert error["type_name"] == "eagernb.ResourcesUnavailableError"
    assert named in error["message"]
    assert "GPU=1" in error["message"]  # what the workers offer
    assert f"--resources {flag}" in error["message"]  # the exact amount, to start one with


@task(resources={"tpu": 1})
def on_tpu(fifo: str) -> int:
    _report(fifo)
    time.sleep(300)
    return 0


@task(resources={"tpu": 1})
def next_on_tpu() -> int:
    return 1


@eager
async def two_on_tpu(fifo: str) -> list[str]:
    results = await asyncio.gather(on_tpu(fifo=fifo), next_on_tpu(), return_exceptions=True)
    kinds = (eagernb.WorkerLostError, eagernb.ResourcesUnavailableError)
    return [next((k.__name__ for k in kinds if isinstance(r, k)), repr(r)) for r in results]


def test_a_job_waiting_for_resources_fails_when_the_last_worker_offering_them_leaves(
    remote: Remote, server: Server, cluster: Cluster, fifo: Path
) -> None:
    worker = ["distributed.cli.dask_worker", cluster.address, "--host", "127.0.0.1"]
    tpu = cluster._spawn([*worker, "--nthreads", "1", "--no-nanny", "--resources", "tpu=1"])
    try:
        cluster.client.wait_for_workers(3, timeout=120)

        async def main() -> list[str]:
            with eagernb.mode("hybrid"):
                handle = two_on_tpu.start(fifo=str(fifo))
            await asyncio.to_thread(read_fifo, fifo)  # one runs; the other waits for the tpu
            [running] = remote.list_executions(name="on_tpu", limit=1)
            await asyncio.to_thread(_wait_started, server, running.id)
            os.kill(tpu.pid, signal.SIGTERM)  # the only worker with a tpu leaves for good
            return await asyncio.wait_for(handle, 120)

        assert asyncio.run(main()) == ["WorkerLostError", "ResourcesUnavailableError"]
        [waited] = remote.list_executions(name="next_on_tpu", limit=1)
        error = server.wait(waited.id)["error"]
        assert "no worker of the Dask cluster" in error["message"]
        assert "tpu=1" in error["message"]
    finally:
        if tpu.poll() is None:
            os.kill(tpu.pid, signal.SIGTERM)
        tpu.wait(timeout=60)
        cluster.procs.remove(tpu)


def test_a_restarted_server_stops_the_jobs_its_predecessor_left_on_dask(
    cluster: Cluster, tmp_path: Path, fifo: Path
) -> None:
    args = ["--engine", "dask", "--scheduler", cluster.address]
    data = tmp_path / "data"
    first = Server(data, workers=2, args=args)
    try:
        execution = first.start(blocker, fifo=str(fifo))
        job_pid = int(read_fifo(fifo).split()[0])
        _wait_started(first, execution["id"])
    finally:
        first.kill()  # gone without a word: its job goes on running on the cluster
    assert not wait_exit(job_pid, timeout=0.5), "the job should outlive a killed server"
    second = Server(data, workers=2, args=args)
    try:
        final = second.wait(execution["id"])
        assert final["status"] == "failed"
        assert final["error"]["type_name"] == "eagernb.ServerRestartedError"
        assert wait_exit(job_pid), f"the job's process {job_pid} still runs on the cluster"
        assert _running_jobs(cluster) == []
    finally:
        second.stop()


@task
def spawn_sleeper(fifo: str) -> int:
    child = subprocess.Popen(["sleep", "300"])
    with open(fifo, "w") as pipe:
        pipe.write(str(child.pid))
    return child.wait()


def test_cancelling_a_dask_job_also_ends_the_processes_it_started(
    server: Server, fifo: Path
) -> None:
    created = server.start(spawn_sleeper, fifo=str(fifo))
    sleeper = int(read_fifo(fifo))
    cancelled = server.ok(server.http.post(f"/executions/{created['id']}/cancel"))
    assert cancelled["status"] == "cancelled"
    assert wait_exit(sleeper), f"the task's subprocess {sleeper} outlived its cancelled task"


@task
def dies_after_printing() -> int:
    print("about to exit", flush=True)
    os._exit(3)


def test_what_a_task_printed_before_its_process_died_is_kept(
    remote: Remote, server: Server
) -> None:
    done = server.run(dies_after_printing)
    assert done["status"] == "failed"
    assert done["error"]["type_name"] == "eagernb.WorkerLostError"
    assert "exit code 3" in done["error"]["message"]
    printed = remote.outputs_of(done["id"])
    assert [chunk for each in printed for chunk in each["chunks"]] == [
        ["stdout", "about to exit\n"]
    ]
