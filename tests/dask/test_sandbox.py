"""``eagernb sandbox start --engine dask`` and ``eagernb server --engine dask``, as users run
them."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

import eagernb
from eagernb import Remote, eager, task

from .conftest import wait_exit

pytestmark = pytest.mark.dask


def _eagernb(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "eagernb", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, cwd=cwd)


@task
def square(x: int) -> int:
    return x * x


@task(resources={"cpu": 1, "memory": "1GiB"})
def modest(x: int) -> int:
    return x + 1


@eager
async def squares(n: int) -> int:
    return sum(await asyncio.gather(*(square(x=i) for i in range(n)))) + await modest(x=0)


def test_the_sandbox_starts_and_stops_a_local_dask_cluster(tmp_path: Path) -> None:
    data = tmp_path / "sandbox"
    try:
        started = _eagernb("sandbox", "start", "--engine", "dask", "--data-dir", str(data))
        assert started.returncode == 0, started.stderr
        info = json.loads((data / "sandbox.json").read_text())
        scheduler = info["dask"]["address"]
        assert scheduler.startswith("tcp://127.0.0.1:")
        assert f"Dask cluster at {scheduler}" in started.stderr
        status = _eagernb("sandbox", "status", "--data-dir", str(data)).stdout
        assert f"tasks on Dask at {scheduler}" in status
        again = _eagernb("sandbox", "start", "--data-dir", str(data))  # whichever is running
        assert again.returncode == 0, again.stderr
        assert again.stdout == started.stdout
        other = _eagernb("sandbox", "start", "--engine", "embedded", "--data-dir", str(data))
        assert other.returncode == 1
        assert "A sandbox with the dask engine is already running at " in other.stderr
        remote = Remote(started.stdout.strip())
        eagernb.config.remote = remote
        try:
            with eagernb.mode("hybrid"):
                # the sandbox's workers offer this machine's cpu and memory
                assert asyncio.run(squares(n=4)) == 15
        finally:
            eagernb.config.remote = None
            remote.close()
    finally:
        stopped = _eagernb("sandbox", "stop", "--data-dir", str(data))
    assert stopped.stdout.startswith("stopped (pid ")
    for pid in [info["pid"], *info["dask"]["pids"]]:
        assert wait_exit(pid, timeout=30), f"process {pid} is still running"
    assert not (data / "dask.json").exists()


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--engine", "dask"], "--engine dask needs the scheduler's address"),
        (["--scheduler", "tcp://127.0.0.1:1"], "--scheduler is for --engine dask"),
    ],
)
def test_server_engine_options_are_checked(args: list[str], says: str, tmp_path: Path) -> None:
    command = [sys.executable, "-m", "eagernb", "server", "--port", "0"]
    env = {k: v for k, v in os.environ.items() if k != "DASK_SCHEDULER_ADDRESS"}
    done = subprocess.run(
        [*command, "--data-dir", str(tmp_path), *args],
        capture_output=True, text=True, timeout=60, env=env,
    )  # fmt: skip
    assert done.returncode == 2
    assert says in done.stderr


def test_a_dask_sandbox_needs_a_worker(tmp_path: Path) -> None:
    refused = _eagernb("sandbox", "start", "--engine", "dask", "--workers", "0",
                       "--data-dir", str(tmp_path))  # fmt: skip
    assert refused.returncode == 2
    assert "--workers 0: the sandbox needs 1 or more workers." in refused.stderr
    assert not (tmp_path / "sandbox.json").exists()


def test_a_server_that_cannot_reach_its_scheduler_says_so_and_announces_nothing(
    tmp_path: Path,
) -> None:
    with socket.socket() as probe:  # a free port: no scheduler listens there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {**os.environ, "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "2s"}
    done = subprocess.run(
        [sys.executable, "-m", "eagernb", "server", "--port", "0", "--data-dir", str(tmp_path),
         "--engine", "dask", "--scheduler", f"tcp://127.0.0.1:{port}"],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stdout == ""  # no "listening on" line for a server that never listened
    assert done.stderr.startswith(
        f"eagernb: Cannot reach the Dask scheduler at tcp://127.0.0.1:{port}"
    )
    assert "Traceback" not in done.stderr
    assert not (tmp_path / "server.json").exists()
