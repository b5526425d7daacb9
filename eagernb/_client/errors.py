"""Errors of the remote path, and rebuilding a remote child's exception in the caller."""

from __future__ import annotations

import asyncio
import pickle
from collections.abc import Mapping
from typing import Any

from .._core.errors import (
    EagerNBError,
    ResourcesUnavailableError,
    RunCancelledError,
    ServerRestartedError,
    ServerStoppedError,
    TaskTimeoutError,
    WorkerLostError,
    aborted_error,
    owner_of,
)

__all__ = ["ClientSecretError", "RemoteExecutionError", "RemoteRequestError", "rebuild_exception"]

# The failures the control plane reports itself, by the type name it records.
_SERVER_ERRORS: dict[str, type[EagerNBError]] = {
    f"eagernb.{cls.__name__}": cls
    for cls in (
        ResourcesUnavailableError, RunCancelledError, ServerRestartedError, ServerStoppedError,
        TaskTimeoutError, WorkerLostError,
    )
}  # fmt: skip


class RemoteRequestError(EagerNBError):
    """The control plane refused a request or could not be reached."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class ClientSecretError(EagerNBError):
    """A worker could not read the client credentials an eager workflow names.

    See ``@eager(client_secret_group=..., client_secret_key=...)``; the message says where
    it looked. It never contains the secret.
    """


class RemoteExecutionError(EagerNBError):
    """A remote child failed with an exception whose class cannot be rebuilt here.

    ``type_name``, ``message`` and ``remote_traceback`` describe the original failure.
    """

    def __init__(self, type_name: str, message: str, remote_traceback: str) -> None:
        super().__init__(f"{type_name}: {message}" if message else type_name)
        self.type_name = type_name
        self.remote_type_name = type_name
        self.remote_message = message
        self.remote_traceback = remote_traceback


def rebuild_exception(execution: Mapping[str, Any], pickled: bytes | None) -> BaseException:
    """The exception a failed remote execution raised, as close to the original as possible."""
    if execution.get("status") == "cancelled":
        return asyncio.CancelledError(f"Remote execution {execution.get('id')} was cancelled.")
    error = execution.get("error") or {}
    text = str(error.get("traceback", ""))
    if pickled is not None:
        try:
            exc = pickle.loads(pickled)
        except Exception:
            exc = None
        if isinstance(exc, BaseException):
            if not isinstance(exc, Exception):
                # The body's own SystemExit, KeyboardInterrupt or CancelledError, sent as it
                # was (a worker of an older eagernb): raised here it would stop or cancel
                # this process, not fail one child.
                exc = _aborted(execution, exc)
            exc.__dict__.setdefault("remote_traceback", text)
            return exc
    type_name = str(error.get("type_name", "Exception"))
    known = _SERVER_ERRORS.get(type_name)
    if known is not None:  # a failure the control plane reported itself
        rebuilt = known(str(error.get("message", "")))
        rebuilt.__dict__["remote_traceback"] = text
        return rebuilt
    return RemoteExecutionError(type_name, str(error.get("message", "")), text)


def _aborted(execution: Mapping[str, Any], exc: BaseException) -> Exception:
    error = aborted_error(owner_of(execution), exc)
    error.__cause__ = exc
    return error


# Shown as ``eagernb.Name`` in tracebacks and reprs (the package exports them lazily).
for _cls in (ClientSecretError, RemoteExecutionError, RemoteRequestError):
    _cls.__module__ = "eagernb"
