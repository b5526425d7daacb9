"""Worker processes that die: killed mid-task, orphaned by their server, started by hand."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from eagernb._engines.frames import encode, read_frame_sync
from eagernb._engines.payload import dump_entity, dump_value

from ..core.support import assert_sentence
from .conftest import Server, occupy_workers, read_pid, release_workers
from .tasks import add_one, announce, announce_once, eager_plain, fail, nap


def test_a_worker_killed_mid_task_fails_the_execution_and_is_replaced(
    server: Server, fifo: Path, tmp_path: Path
) -> None:
    created = server.start(announce, fifo=str(fifo), seconds=120)
    pid = read_pid(fifo)
    os.kill(pid, signal.SIGKILL)
    done = server.wait(created["id"])
    assert done["status"] == "failed"
    error = done["error"]
    assert error["type_name"] == "eagernb.WorkerLostError"
    assert_sentence(
        error["message"],
        f"The worker process (pid {pid}) running execution {created['id']} died",
        "killed by signal SIGKILL",
    )
    assert error["exception_sha"] is None
    assert pid not in server.health()["worker_pids"]
    busy = occupy_workers(server, tmp_path)  # two tasks run at once again: it was replaced
    assert pid not in {worker for _, worker in busy}
    release_workers(server, busy)


def test_a_lost_worker_counts_as_a_failed_attempt_and_is_retried(
    server: Server, fifo: Path, tmp_path: Path
) -> None:
    created = server.start(
        announce_once, retries=1, fifo=str(fifo), marker=str(tmp_path / "marker")
    )
    os.kill(read_pid(fifo), signal.SIGKILL)
    done = server.wait(created["id"])
    assert done["status"] == "succeeded", done
    assert done["attempts"] == 2
    assert server.output(done) == "retried"


def test_workflow_bodies_do_not_wait_for_task_workers(server: Server, tmp_path: Path) -> None:
    """An eager body runs in a process of its own, so bodies waiting for children can never
    hold every task worker (which would deadlock them)."""
    busy = occupy_workers(server, tmp_path)
    body = server.run(eager_plain, x=1)  # both task workers are busy meanwhile
    assert body["kind"] == "eager"
    assert body["status"] == "succeeded", body
    assert server.output(body) == 101
    for execution_id, _ in busy:
        assert server.ok(server.http.get(f"/executions/{execution_id}"))["status"] == "running"
    release_workers(server, busy)


def test_a_worker_exits_as_soon_as_its_server_goes_away(tmp_path: Path) -> None:
    """Closing a worker's stdin (what the kernel does when the server dies) ends it mid-job."""
    worker = subprocess.Popen(
        [sys.executable, "-m", "eagernb._server.worker"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        assert worker.stdin is not None and worker.stdout is not None
        ready, _ = read_frame_sync(worker.stdout)
        assert ready == {"type": "ready", "pid": worker.pid}
        job = encode({"type": "job", "env": {}}, dump_entity(add_one).data, dump_value({"x": 1}))
        worker.stdin.write(job)
        worker.stdin.flush()
        result, parts = read_frame_sync(worker.stdout)
        assert result == {"type": "result", "ok": True, "preview": "2", "kept": []}
        assert parts[0] == dump_value(2)

        long_job = dump_entity(nap).data, dump_value({"seconds": 120.0})
        worker.stdin.write(encode({"type": "job", "env": {}}, *long_job))
        worker.stdin.close()
        assert worker.wait(timeout=30) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
        if worker.stdout is not None:
            worker.stdout.close()


def test_the_embedded_pool_refuses_gpu_and_label_requests() -> None:
    import asyncio

    from eagernb._server.engine import Job, JobResult
    from eagernb._server.pool import WorkerPool

    async def main() -> list[JobResult]:
        pool = WorkerPool(1)  # not started: a refused job never needs a worker
        return [
            await pool.execute(Job("e1", 1, b"", b"", resources={"cpu": 2, "gpu": 1})),
            await pool.execute(Job("e2", 1, b"", b"", resources={"ssd": 1})),
        ]

    for result in asyncio.run(main()):
        assert not result.ok
        assert result.error is not None
        assert result.error["type_name"] == "eagernb.ResourcesUnavailableError"
        assert "--engine dask" in result.error["message"]


def test_cpu_and_memory_requests_run_on_the_embedded_pool(server: Server) -> None:
    from eagernb import task

    @task(resources={"cpu": 2, "memory": "1GiB"})
    def sized(x: int) -> int:
        return x + 1

    assert server.output(server.run(sized, x=1)) == 2


def test_a_job_s_environment_ends_with_it_whether_it_succeeds_or_fails(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from eagernb._server.worker import run_job

    monkeypatch.delenv("EAGERNB_JOB_ONLY", raising=False)
    monkeypatch.setenv("EAGERNB_JOB_SHADOWED", "before")
    env = {"EAGERNB_JOB_ONLY": "1", "EAGERNB_JOB_SHADOWED": "during"}
    for entity, inputs, ok in [(add_one, {"x": 1}, True), (fail, {"x": -1}, False)]:
        header, _ = run_job(dump_entity(entity).data, dump_value(inputs), env)
        assert header["ok"] is ok
        assert "EAGERNB_JOB_ONLY" not in os.environ
        assert os.environ["EAGERNB_JOB_SHADOWED"] == "before"
