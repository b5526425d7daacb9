"""What the Dask engine runs inside a Dask worker (the workers need eagernb installed).

``run_job`` runs in one of the Dask worker's threads. It hands the job's bytes to an eagernb
worker process
(``python -m eagernb._server.worker``, the same code as the embedded engine) and returns
its result frame. Those processes are started by the Dask worker as needed, one per thread
busy with a job, and kept for the next job. What the job prints comes back with its result
(on this engine a child's output shows when it ends, not live).

A job still running after ``START_GRACE`` seconds announces that it started (an event on
topic ``eagernb-started``, so the server shows it ``running``, knows which worker has it,
and counts its timeout). A job done sooner says so with its result instead (``ran_for``),
which spares the scheduler one event per short job.

Why a process and not the Dask thread itself: Dask cannot stop a thread that is running,
so a cancelled or timed-out job would go on; a process can be killed (``stop_job``, which
the server runs on the worker through ``Client.run``). A job's environment variables and a
crash (``os._exit``) stay in its process too. A process whose Dask worker dies exits at
once: its stdin closes.
"""

from __future__ import annotations

import contextlib
import os
import select
import subprocess
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import IO

from .._engines.frames import Frame, encode, read_frame_sync
from .engine import kill_job_process

__all__ = ["START_GRACE", "STARTED_TOPIC", "run_job", "stop_job", "stop_jobs"]

STARTED_TOPIC = "eagernb-started"
START_GRACE = 0.05  # seconds a job may run before it announces its start
_STOPPED_KEPT = 10_000


class _Runner:
    __slots__ = ("proc", "stdin", "stdout")

    def __init__(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "eagernb._server.worker"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            start_new_session=True,  # signals meant for the Dask worker are not the job's
        )
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.stdin: IO[bytes] = self.proc.stdin
        self.stdout: IO[bytes] = self.proc.stdout
        try:
            header, _ = read_frame_sync(self.stdout)
        except EOFError:
            code = self.proc.wait()
            raise RuntimeError(
                f"An eagernb worker process on this Dask worker exited with code {code} as it "
                "started; its error output is in the Dask worker's log."
            ) from None
        if header.get("type") != "ready":
            self.proc.kill()
            raise RuntimeError(f"An eagernb worker process said {header!r} instead of 'ready'.")


_lock = threading.Lock()
_idle: list[_Runner] = []
_running: dict[str, _Runner] = {}
_stopped: OrderedDict[str, None] = OrderedDict()  # keys stopped before their job began


def run_job(
    key: str,
    payload: bytes,
    inputs: bytes,
    env: Mapping[str, str],
    payload_sha: str | None = None,
) -> Frame:
    """Run one job in an eagernb worker process; return its result frame.

    ``payload_sha`` names the code, so a process that ran it before keeps it loaded.

    The frame says whether the start was announced (``announced``) and for how many
    seconds the job ran (``ran_for``). A process that dies before it answers gives
    ``{"ok": False, "lost": True, "pid": ..., "code": ...}``.
    """
    began = time.monotonic()
    announced = False

    def announce_if_due(runner: _Runner) -> None:
        nonlocal announced
        if announced:
            return
        left = START_GRACE - (time.monotonic() - began)
        if left > 0 and select.select([runner.stdout], [], [], left)[0]:
            return  # a frame is coming (the result, or something printed): not yet
        from distributed import get_worker

        worker = get_worker()
        worker.log_event(STARTED_TOPIC, {"key": key, "worker": worker.address, "pid": os.getpid()})
        announced = True

    with _lock:
        runner = _idle.pop() if _idle else None
    if runner is None:
        runner = _Runner()
    with _lock:
        if key in _stopped:
            _idle.append(runner)
            return {"type": "result", "ok": False, "stopped": True}, []
        _running[key] = runner
    header = {"type": "job", "execution_id": key, "attempt": 0, "env": dict(env)}
    if payload_sha is not None:
        header["payload_sha"] = payload_sha
    printed: list[list[str]] = []
    try:
        runner.stdin.write(encode(header, payload, inputs))
        runner.stdin.flush()
        while True:
            announce_if_due(runner)
            reply, parts = read_frame_sync(runner.stdout)
            if reply.get("type") != "output":
                break
            if reply.get("job") == [key, 0]:  # else: printed by an earlier job's thread
                printed.extend(reply.get("chunks") or [])
        reply["output"] = printed
        reply["announced"] = announced
        reply["ran_for"] = time.monotonic() - began
    except (EOFError, OSError):
        code = runner.proc.wait()
        with _lock:
            _running.pop(key, None)
        for pipe in (runner.stdin, runner.stdout):
            with contextlib.suppress(OSError):
                pipe.close()
        lost = {"type": "result", "ok": False, "lost": True, "pid": runner.proc.pid, "code": code}
        return {**lost, "output": printed}, []  # what it printed before it died
    with _lock:
        _running.pop(key, None)
        _idle.append(runner)
    return reply, parts


def stop_job(key: str) -> bool:
    """Kill the process running ``key`` (or make sure it never starts); True if it ran."""
    with _lock:
        runner = _running.pop(key, None)
        if runner is None:
            _stopped[key] = None
            while len(_stopped) > _STOPPED_KEPT:
                _stopped.popitem(last=False)
            return False
    kill_job_process(runner.proc.pid)
    return True


def stop_jobs(keys: list[str]) -> list[str]:
    """``stop_job`` for each key; returns the keys whose processes were running here."""
    return [key for key in keys if stop_job(key)]
