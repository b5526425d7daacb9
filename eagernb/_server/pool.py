"""The embedded engine: a pool of long-lived worker processes started by the server.

Each worker (``python -m eagernb._server.worker``) runs one job at a time; jobs, what they
print and their results travel as frames over its stdin and stdout (see
``eagernb._engines.frames``). A worker that dies mid-job turns into a ``worker_lost``
result; cancelling a job kills its worker by PID. Either way a replacement is started, so
the pool stays at its size. The pool sends a job's code only to a worker that has not
kept it from an earlier job.

An *elastic* pool (for workflow bodies, which mostly wait for their children) starts a
new worker whenever none is idle and keeps at most ``size`` idle ones; the dispatcher's
lane caps how many run at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Coroutine, Mapping
from typing import Any

from .._engines.frames import encode, read_frame
from .engine import Job, JobResult, kill_job_process, text_preview
from .errors import unsatisfiable, worker_lost

__all__ = ["WorkerPool"]

_log = logging.getLogger("eagernb.server")


class _Worker:
    __slots__ = ("codes", "pid", "proc")

    def __init__(self, proc: asyncio.subprocess.Process) -> None:
        self.proc = proc
        self.pid = proc.pid
        self.codes: set[str] = set()  # payload shas this worker keeps loaded


class WorkerPool:
    """``size`` worker processes; ``execute`` waits for an idle one.

    >>> pool = WorkerPool(2)          # doctest: +SKIP
    >>> await pool.start()            # doctest: +SKIP
    >>> result = await pool.execute(job)  # doctest: +SKIP
    """

    def __init__(
        self,
        size: int,
        *,
        elastic: bool = False,
        env: Mapping[str, str] | None = None,
        start_timeout: float = 60.0,
    ) -> None:
        if size < (0 if elastic else 1):
            raise ValueError(f"A worker pool needs at least one worker, not {size}.")
        self.size = size
        self.elastic = elastic
        self._env = {**os.environ, **(env or {})}
        self._start_timeout = start_timeout
        self._idle: asyncio.Queue[_Worker] = asyncio.Queue()
        self._workers: dict[int, _Worker] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._closed = False

    @property
    def pids(self) -> list[int]:
        """The PIDs of the live worker processes."""
        return list(self._workers)

    async def start(self) -> None:
        """Start every worker and wait until each has said it is ready."""
        for worker in await asyncio.gather(*(self._spawn() for _ in range(self.size))):
            self._idle.put_nowait(worker)

    async def execute(self, job: Job) -> JobResult:
        if self._closed:
            raise RuntimeError("This worker pool is closed; start a new one.")
        # One job per process on the server's own machine: cpu and memory need no placing,
        # but nothing here can promise a GPU or a custom label.
        refused = {k: v for k, v in job.resources.items() if k not in ("cpu", "memory")}
        if refused:
            return unsatisfiable(
                job.execution_id,
                refused,
                "the server's embedded worker processes offer no GPUs or custom labels. Run the "
                "server with --engine dask and workers that offer them (dask worker --resources "
                '"GPU=1"), or drop them from @task(resources=...).',
            )
        worker = await self._acquire()
        job.started(0.0)
        stdin, stdout = worker.proc.stdin, worker.proc.stdout
        if stdin is None or stdout is None:  # cannot happen: started with pipes
            raise RuntimeError(f"Worker {worker.pid} has no pipes.")
        tag = [job.execution_id, job.attempt]
        header = {"type": "job", "execution_id": tag[0], "attempt": tag[1], "env": job.env}
        payload = job.payload
        if job.payload_sha is not None:  # a worker keeps the code it loaded under its sha
            header["payload_sha"] = job.payload_sha
            if job.payload_sha in worker.codes:
                payload = b""
        try:
            stdin.write(encode(header, payload, job.inputs))
            await stdin.drain()
            while True:
                reply, parts = await read_frame(stdout)
                if reply.get("type") != "output":
                    break
                if reply.get("job") == tag:  # else: printed by an earlier job's thread
                    job.output(reply.get("chunks") or [])
        except asyncio.CancelledError:
            # The job cannot be interrupted inside the process: end the process itself,
            # and wait so the PID is gone by the time the caller hears it was cancelled.
            kill_job_process(worker.pid)
            await worker.proc.wait()
            raise
        except (asyncio.IncompleteReadError, ConnectionError, OSError):
            code = await worker.proc.wait()
            return JobResult(
                ok=False,
                error=worker_lost(worker.pid, job.execution_id, job.attempt, code),
                worker_lost=True,
            )
        worker.codes = set(reply.get("kept") or ())
        self._release(worker)
        if reply.get("ok"):
            return JobResult(
                ok=True,
                output=parts[0] if parts else b"",
                preview=text_preview(reply.get("preview")),
            )
        return JobResult(
            ok=False, error=reply.get("error"), exception=parts[1] if len(parts) > 1 else None
        )

    async def abandon(self, attempts: list[tuple[str, int]]) -> None:
        """Nothing to do: a worker exits as soon as the server that started it is gone."""

    async def aclose(self) -> None:
        """Stop every worker: close its stdin (it exits at once), then kill stragglers."""
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        workers = list(self._workers.values())
        for worker in workers:
            if worker.proc.stdin is not None:
                worker.proc.stdin.close()
        if workers:
            waits = [asyncio.ensure_future(w.proc.wait()) for w in workers]
            _, pending = await asyncio.wait(waits, timeout=2.0)
            for worker in workers:
                if worker.proc.returncode is None:
                    with contextlib.suppress(ProcessLookupError):
                        worker.proc.kill()
            if pending:
                await asyncio.wait(pending)
        self._workers.clear()

    # -- starting and replacing workers ---------------------------------------------------

    async def _acquire(self) -> _Worker:
        while True:
            if self.elastic and self._idle.empty():
                return await self._spawn()
            worker = await self._idle.get()
            if worker.proc.returncode is None:
                return worker  # else it died while idle; its watcher has dealt with it

    def _release(self, worker: _Worker) -> None:
        if self.elastic and self._idle.qsize() >= self.size and worker.proc.stdin is not None:
            worker.proc.stdin.close()  # one idle worker too many: it exits on end of input
        else:
            self._idle.put_nowait(worker)

    async def _spawn(self) -> _Worker:
        """Start one worker; on failure, try again with a growing delay."""
        delay = 0.5
        while True:
            if self._closed:
                raise RuntimeError("This worker pool is closed; start a new one.")
            try:
                worker = await self._start_one()
            except (OSError, ValueError, asyncio.TimeoutError, asyncio.IncompleteReadError) as exc:
                _log.error(
                    "eagernb: a worker process failed to start (%r); trying again in %.1f s. "
                    "Its error output is in the server's log above.",
                    exc,
                    delay,
                )
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
                continue
            self._workers[worker.pid] = worker
            self._background(self._watch(worker))
            return worker

    async def _start_one(self) -> _Worker:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "eagernb._server.worker",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            env=self._env,
            start_new_session=True,  # a Ctrl-C meant for the server must not hit user code
        )
        try:
            if proc.stdout is None:
                raise ValueError("the worker has no stdout pipe")
            header, _ = await asyncio.wait_for(read_frame(proc.stdout), self._start_timeout)
            if header.get("type") != "ready":
                raise ValueError(f"the worker said {header!r} instead of 'ready'")
        except BaseException:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()
            raise
        return _Worker(proc)

    async def _watch(self, worker: _Worker) -> None:
        await worker.proc.wait()
        self._workers.pop(worker.pid, None)
        if not self._closed and not self.elastic:
            with contextlib.suppress(RuntimeError):  # the pool closed while it started
                self._idle.put_nowait(await self._spawn())

    def _background(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
