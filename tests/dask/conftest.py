"""A real Dask cluster on loopback for the Dask engine's tests, and a server that uses it.

One scheduler and two worker processes (each a nanny with a one-thread worker; ``w-gpu``
offers ``GPU=1,ssd=1``), started with Dask's own command line and stopped by PID at the end.
The workers run in an empty directory without this repository on their path: code reaches
them by value only. One ``eagernb server --engine dask`` is shared by the package's tests.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest

import eagernb
from eagernb import Remote
from tests.server.conftest import Server, wait_exit

__all__ = ["Cluster", "read_fifo", "wait_exit"]

distributed = pytest.importorskip("distributed", reason="the Dask engine needs distributed")


def _drain(stream: IO[str], log: Path) -> None:
    with stream, open(log, "a") as out:
        for line in stream:
            out.write(line)
            out.flush()


def _name_and_pid(dask_worker: object) -> tuple[str, int]:
    return str(getattr(dask_worker, "name", "")), os.getpid()


class Cluster:
    """``dask scheduler`` and two ``dask worker`` processes on 127.0.0.1."""

    def __init__(self, where: Path) -> None:
        self.where = where
        self.log = where / "dask.log"
        self.procs: list[subprocess.Popen[str]] = []
        self._drains: list[threading.Thread] = []
        workdir = where / "workers"
        workdir.mkdir()
        self._env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        self._workdir = workdir
        self.address = self._start("0")
        self.client = distributed.Client(self.address, set_as_default=False, timeout=60)
        self.client.wait_for_workers(2, timeout=120)

    def _start(self, port: str) -> str:
        scheduler = self._spawn(
            ["distributed.cli.dask_scheduler", "--host", "127.0.0.1", "--port", port], follow=False
        )
        address = self._address(scheduler)
        self._follow(scheduler)
        worker = ["distributed.cli.dask_worker", address, "--host", "127.0.0.1"]
        worker += ["--nthreads", "1", "--nworkers", "1"]
        self._spawn([*worker, "--name", "w-gpu", "--resources", "GPU=1,ssd=1"])
        self._spawn([*worker, "--name", "w-plain"])
        return address

    def restart(self) -> None:
        """Stop the scheduler and its workers, then start new ones at the same address
        (clients connected to the old scheduler reconnect to the new one)."""
        self._stop_processes()
        self.procs = []
        assert self._start(self.address.rsplit(":", 1)[1]) == self.address
        self.client.wait_for_workers(2, timeout=120)

    def _spawn(self, args: list[str], follow: bool = True) -> subprocess.Popen[str]:
        proc = subprocess.Popen(
            [sys.executable, "-m", *args, "--no-dashboard"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=self._workdir,
            env=self._env,
            text=True,
        )
        self.procs.append(proc)
        if follow:
            self._follow(proc)
        return proc

    def _address(self, scheduler: subprocess.Popen[str]) -> str:
        """Read the scheduler's log until it says where it listens; copy the rest to a file."""
        assert scheduler.stderr is not None
        seen = []
        for line in scheduler.stderr:
            seen.append(line)
            if "Scheduler at:" in line:
                break
        else:
            raise RuntimeError("the Dask scheduler did not start:\n" + "".join(seen))
        return line.split("Scheduler at:")[1].strip()

    def _follow(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stderr is not None
        drain = threading.Thread(target=_drain, args=(proc.stderr, self.log), daemon=True)
        drain.start()
        self._drains.append(drain)

    def worker_pids(self) -> dict[str, int]:
        """The PID of each live worker process (not its nanny), by worker name."""
        self.client.wait_for_workers(2, timeout=120)  # a killed one is restarted by its nanny
        named: dict[str, tuple[str, int]] = self.client.run(_name_and_pid)
        return dict(named.values())

    def stop(self) -> None:
        self.client.close()
        self._stop_processes()
        for drain in self._drains:  # each ends at the end of its process's output
            drain.join(timeout=30)

    def _stop_processes(self) -> None:
        for proc in reversed(self.procs):  # workers first, the scheduler last
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGTERM)
        for proc in reversed(self.procs):
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)


@pytest.fixture(scope="package")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    started = Cluster(tmp_path_factory.mktemp("dask"))
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="package")
def server(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    args = ["--engine", "dask", "--scheduler", cluster.address]
    started = Server(tmp_path_factory.mktemp("dask-server") / "data", workers=16, args=args)
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def remote(server: Server) -> Iterator[Remote]:
    client = Remote(server.url, default_project="flytesnacks", default_domain="development")
    eagernb.config.remote = client
    try:
        yield client
    finally:
        eagernb.config.remote = None
        client.close()


def read_fifo(fifo: Path) -> str:
    """Block until a task opens ``fifo`` and writes a line (no polling)."""
    with open(fifo) as pipe:
        return pipe.read().strip()


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "report.fifo"
    os.mkfifo(path)
    return path
