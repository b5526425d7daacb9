"""What the control plane says when something fails: refused requests, and the failures it
reports on executions itself (timeouts, lost workers, restarts, cancellation).

Failures of user code keep the type name of the exception raised; these use names of
eagernb classes where one exists (``TaskTimeoutError``, ``RunCancelledError``) and
otherwise name what happened (``eagernb.WorkerLostError``, ``eagernb.ServerRestartedError``,
``eagernb.ServerStoppedError``) without a pickled exception.
"""

from __future__ import annotations

import pickle
import signal
from collections.abc import Mapping
from typing import Any

from .._core.errors import TaskTimeoutError
from .._core.errors import owner_of as owner
from .engine import JobResult

__all__ = [
    "NEVER_STARTED",
    "RESTARTED",
    "SHUTDOWN",
    "RequestError",
    "cancelled",
    "failure",
    "owner",
    "timed_out",
    "unsatisfiable",
    "worker_lost",
]

RESTARTED = "The server restarted while this execution was running; it was marked failed."
NEVER_STARTED = (
    "The server restarted before this execution started; it was marked failed, since the "
    "workflow that launched it had stopped."
)
SHUTDOWN = (
    "The server shut down while this execution was running; it was marked failed. "
    "Run it again once the server is back."
)


class RequestError(Exception):
    """Answered as ``{"error": message}`` with ``status``; the message says what to do."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


def failure(type_name: str, message: str) -> dict[str, Any]:
    """An execution's ``error`` for a failure the server itself reports."""
    return {"type_name": type_name, "message": message, "traceback": "", "exception_sha": None}


def cancelled(reason: str) -> dict[str, Any]:
    """The ``error`` of a cancelled execution: why it was cancelled."""
    return failure("eagernb.RunCancelledError", reason)


def timed_out(what: str, timeout: float) -> JobResult:
    message = (
        f"{what} ran longer than its timeout of {timeout:g} s and was cancelled. Give it a "
        "larger timeout=..., or make it faster."
    )
    error = {"type_name": "eagernb.TaskTimeoutError", "message": message, "traceback": ""}
    return JobResult(False, error=error, exception=pickle.dumps(TaskTimeoutError(message)))


def worker_lost(pid: int, execution_id: str, attempt: int, code: int) -> dict[str, str]:
    if code < 0:
        try:
            how = f"killed by signal {signal.Signals(-code).name}"
        except ValueError:
            how = f"killed by signal {-code}"
    else:
        how = f"exit code {code}"
    message = (
        f"The worker process (pid {pid}) running execution {execution_id} died ({how}) "
        f"during attempt {attempt}, before it returned a result. A new worker was started. "
        "Look for code that ends the process (os._exit, a crash in a C extension, running "
        "out of memory), or give the task retries if the failure was transient."
    )
    return {"type_name": "eagernb.WorkerLostError", "message": message, "traceback": ""}


def describe_resources(resources: Mapping[str, float]) -> str:
    """``cpu=2, memory=4 GiB, gpu=1, ssd=1``: a request or an offer, for messages."""
    parts = []
    for key, value in resources.items():
        if key.lower() == "memory":
            parts.append(f"{key}={value / 2**30:g} GiB")
        else:
            parts.append(f"{key}={value:g}")
    return ", ".join(parts) or "nothing"


def unsatisfiable(execution_id: str, requested: Mapping[str, float], why: str) -> JobResult:
    """A job no worker can run: fail it now rather than let it wait forever."""
    message = (
        f"Execution {execution_id} asks for resources {describe_resources(requested)}, but {why}"
    )
    error = {"type_name": "eagernb.ResourcesUnavailableError", "message": message, "traceback": ""}
    return JobResult(False, error=error)
