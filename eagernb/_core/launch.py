"""Launching one execution: records, retries, timeouts, type checks and cancellation.

This is the hot path of every child, so it stays flat: no per-call allocations beyond
the record and its events.
"""

from __future__ import annotations

import asyncio
from time import time
from typing import TYPE_CHECKING, Any

from .engine import Call
from .errors import (
    ErrorInfo,
    ExecutionCancelledError,
    ScopeClosedError,
    TaskTimeoutError,
    as_eager_exception,
)
from .events import ExecutionFinished, ExecutionQueued, ExecutionRetrying, ExecutionStarted
from .output import WRITER
from .records import ExecutionRecord, Status

if TYPE_CHECKING:
    from .context import Scope
    from .entity import Entity
    from .run import Run

__all__ = ["launch"]

_QUEUED, _SUCCEEDED, _FAILED, _CANCELLED = (
    Status.QUEUED,
    Status.SUCCEEDED,
    Status.FAILED,
    Status.CANCELLED,
)


async def launch(
    run: Run,
    scope: Scope | None,
    entity: Entity,
    inputs: dict[str, Any],
    record_id: str | None = None,
) -> Any:
    """Run ``entity`` as a child of ``scope`` (or as the run's root when scope is None).

    A child's failure is raised as an :class:`EagerException`; the root's as itself.
    """
    __tracebackhide__ = True
    if scope is not None and scope.closed:
        owner = run.records[scope.parent_id]
        raise ScopeClosedError(
            f"{owner.kind.value.capitalize()} {owner.name!r} ({owner.id}) has already "
            f"returned, so {entity.kind.value} {entity.name!r} cannot start as its child. "
            "Await every child inside the body before it returns."
        )
    rid = record_id or run.new_id()
    parent = scope.parent_id if scope is not None else None
    run.emit(
        ExecutionQueued(
            ExecutionRecord(rid, run.id, parent, entity.name, entity.kind, _QUEUED, inputs, time())
        )
    )
    if entity.name not in run.entities:
        run.entities[entity.name] = entity
    inflight = scope.inflight if scope is not None else None
    task = asyncio.current_task()
    if task is not None and scope is not None:
        run._live[rid] = task  # what cancel_execution cancels
        if inflight is not None:
            inflight[rid] = task
    # What this execution prints is recorded as its output (see ``output``).
    writer = WRITER.set((run, rid))
    try:
        semaphore = scope.semaphore if scope is not None else None
        if semaphore is None:
            return await _attempts(run, entity, inputs, rid, scope is not None)
        async with semaphore:
            return await _attempts(run, entity, inputs, rid, True)
    except asyncio.CancelledError:
        if rid not in run._cancel_requested:
            run.emit(ExecutionFinished(run.id, rid, _CANCELLED, time()))
            raise
        # Only this child was cancelled (from a view): its parent goes on and sees an error.
        if task is not None and hasattr(task, "uncancel"):
            task.uncancel()
        exc = ExecutionCancelledError(
            f"{entity.kind.value.capitalize()} {entity.name!r} ({rid}) was cancelled on request "
            "while it ran; the workflow that awaited it goes on and may catch this error."
        )
        info = ErrorInfo(type(exc).__qualname__, str(exc), "")
        run.emit(ExecutionFinished(run.id, rid, _CANCELLED, time(), error=info))
        raise as_eager_exception(exc, entity.name, rid) from None
    finally:
        WRITER.reset(writer)
        if scope is not None:
            run._live.pop(rid, None)
            run._cancel_requested.discard(rid)
        if inflight is not None:
            inflight.pop(rid, None)


async def _attempts(run: Run, entity: Entity, inputs: dict[str, Any], rid: str, wrap: bool) -> Any:
    __tracebackhide__ = True  # IPython hides this frame in tracebacks
    engine = run.engine
    attempt = 0
    while True:
        attempt += 1
        clock = _Attempt(run, rid, attempt, entity.timeout)
        try:
            try:
                value = await engine.execute(Call(entity, inputs, run, rid, attempt, clock.started))
            finally:
                clock.stop()
            entity.interface.check_output(value)
        except asyncio.CancelledError:
            if not clock.expired:
                raise
            exc: Exception = clock.timeout_error(entity)
        except Exception as raised:
            exc = raised
        else:
            run.emit(ExecutionFinished(run.id, rid, _SUCCEEDED, time(), output=value))
            return value
        if attempt <= entity.retries:
            run.emit(ExecutionRetrying(run.id, rid, attempt, ErrorInfo.from_exception(exc), time()))
            continue
        run.emit(
            ExecutionFinished(run.id, rid, _FAILED, time(), error=ErrorInfo.from_exception(exc))
        )
        if not wrap:
            raise exc
        wrapped = as_eager_exception(exc, entity.name, rid)
        raise wrapped from exc


class _Attempt:
    """Marks an attempt running when its body starts, and enforces the timeout from then."""

    __slots__ = ("_handle", "_task", "attempt", "expired", "rid", "run", "timeout")

    def __init__(self, run: Run, rid: str, attempt: int, timeout: float | None) -> None:
        self.run = run
        self.rid = rid
        self.attempt = attempt
        self.timeout = timeout
        self.expired = False
        self._handle: asyncio.TimerHandle | None = None
        self._task: asyncio.Task[Any] | None = None

    def started(self) -> None:
        if self._task is not None:
            return  # started twice: the first one counts
        run = self.run
        run.emit(ExecutionStarted(run.id, self.rid, self.attempt, time()))
        self._task = asyncio.current_task()
        if self.timeout is not None and self._task is not None:
            self._handle = asyncio.get_running_loop().call_later(self.timeout, self._expire)

    def _expire(self) -> None:
        if self._task is not None and not self._task.done():
            self.expired = True
            self._task.cancel()

    def stop(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None

    def timeout_error(self, entity: Entity) -> TaskTimeoutError:
        task = self._task
        if task is not None and hasattr(task, "uncancel"):
            task.uncancel()  # this cancellation was ours, not the caller's
        return TaskTimeoutError(
            f"{entity.interface.owner} ran longer than its timeout of {entity.timeout:g} s and "
            "was stopped (a synchronous body already running on a thread cannot be interrupted; "
            "it finishes in the background and its result is discarded). Give it a larger "
            "timeout=..., or make it faster."
        )
