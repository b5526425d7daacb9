"""The server-side engine contract: hand a job's bytes to a worker, get bytes back.

The dispatcher owns retries, timeouts, records and events; an engine only runs one
attempt somewhere (a local worker process, a Dask cluster, ...). Nothing here assumes the
worker shares a filesystem or a process with the server: a job carries bytes, not paths.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from .._engines.preview import PREVIEW_CHARS

__all__ = ["Job", "JobResult", "WorkerEngine", "kill_job_process", "text_preview"]


@dataclass(frozen=True, slots=True)
class Job:
    """One attempt at one execution: the code payload, the pickled inputs, the environment.

    ``env`` may hold a job token (``EAGERNB_TOKEN``), so it stays out of the repr.
    ``resources``: what the task asked for (see ``eagernb._core.resources``): an engine
    places the job by it, or fails it with a reason when none of its workers can satisfy it.
    ``started``: the engine calls it once, when a worker begins the job (not while the job
    waits for one), so the execution shows ``queued`` until then and its timeout counts
    from there. An engine that learns of the start late passes how many seconds ago it
    was (``started(0.02)``), so the record and the timeout count from the real start; one
    that learns of it only with the result says so in ``JobResult.started_ago`` instead.
    ``payload_sha``: the code's name, so a worker that has loaded it can keep it.
    ``output``: the engine calls it with what the job printed, ``[[stream, text], ...]`` in
    order, while the job runs or at the latest before ``execute`` returns.
    """

    execution_id: str
    attempt: int
    payload: bytes = field(repr=False)
    inputs: bytes = field(repr=False)
    env: dict[str, str] = field(default_factory=dict, repr=False)
    resources: dict[str, int | float] = field(default_factory=dict)
    started: Callable[[float], None] = field(
        default=lambda ago=0.0: None, repr=False, compare=False
    )
    payload_sha: str | None = None
    output: Callable[[list[list[str]]], None] = field(
        default=lambda chunks: None, repr=False, compare=False
    )


@dataclass(frozen=True, slots=True)
class JobResult:
    """What one attempt produced.

    ``output``: the pickled return value when ``ok``. ``error``: ``{"type_name", "message",
    "traceback"}`` otherwise. ``exception``: the pickled exception when it pickles.
    ``worker_lost``: the process running the attempt died before it answered.
    ``preview``: a short text of the return value (see ``_engines.preview``), when ``ok``.
    ``started_ago``: for a job that ended before the engine called ``started``, how many
    seconds before its end it began (the dispatcher records that start with the end).
    """

    ok: bool
    output: bytes | None = field(default=None, repr=False)
    error: dict[str, Any] | None = None
    exception: bytes | None = field(default=None, repr=False)
    worker_lost: bool = False
    preview: str | None = None
    started_ago: float | None = None


@runtime_checkable
class WorkerEngine(Protocol):
    """Runs jobs; cancel one by cancelling its ``execute`` coroutine."""

    async def execute(self, job: Job) -> JobResult:
        """Run ``job`` to completion (cancelling this stops the job and frees its worker)."""
        ...

    async def aclose(self) -> None:
        """Stop every worker; jobs still running are lost."""
        ...

    async def abandon(self, attempts: list[tuple[str, int]]) -> None:
        """Stop these attempts (execution id, attempt) if they still run anywhere: a server
        that stopped without ending them left them, and they are recorded failed now."""
        ...


def text_preview(value: Any) -> str | None:
    """A worker's preview of a return value, as sent in its reply (None when it sent none)."""
    return value[:PREVIEW_CHARS] if isinstance(value, str) else None


def kill_job_process(pid: int) -> None:
    """Kill a job's worker process and every process it started (its session's group:
    worker processes start in a session of their own), so a cancelled or timed-out job
    leaves no ``subprocess`` of its behind."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)
    with contextlib.suppress(ProcessLookupError):  # should it have left its group
        os.kill(pid, signal.SIGKILL)
