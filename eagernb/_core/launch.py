"""Launching one execution: records, retries, timeouts, type checks and cancellation.

This is the hot path of every child, so it stays flat: no per-call allocations beyond
the record and its events.
"""

from __future__ import annotations

import asyncio
from time import time
from typing import TYPE_CHECKING, Any

from .engine import Call
from .errors import ErrorInfo, ScopeClosedError, TaskTimeoutError, as_eager_exception
from .events import ExecutionFinished, ExecutionQueued, ExecutionRetrying, ExecutionStarted
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
    inflight = scope.inflight if scope is not None else None
    if inflight is not None:
        task = asyncio.current_task()
        if task is not None:
            inflight[rid] = task
    try:
        semaphore = scope.semaphore if scope is not None else None
        if semaphore is None:
            return await _attempts(run, entity, inputs, rid, scope is not None)
        async with semaphore:
            return await _attempts(run, entity, inputs, rid, True)
    except asyncio.CancelledError:
        run.emit(ExecutionFinished(run.id, rid, _CANCELLED, time()))
        raise
    finally:
        if inflight is not None:
            inflight.pop(rid, None)


async def _attempts(run: Run, entity: Entity, inputs: dict[str, Any], rid: str, wrap: bool) -> Any:
    engine = run.engine
    attempt = 0
    while True:
        attempt += 1
        run.emit(ExecutionStarted(run.id, rid, attempt, time()))
        try:
            if entity.timeout is None:
                value = await engine.execute(Call(entity, inputs, run, rid, attempt))
            else:
                value = await _with_timeout(
                    engine.execute(Call(entity, inputs, run, rid, attempt)), entity
                )
            entity.interface.check_output(value)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if attempt <= entity.retries:
                run.emit(
                    ExecutionRetrying(run.id, rid, attempt, ErrorInfo.from_exception(exc), time())
                )
                continue
            run.emit(
                ExecutionFinished(run.id, rid, _FAILED, time(), error=ErrorInfo.from_exception(exc))
            )
            if not wrap:
                raise
            wrapped = as_eager_exception(exc, entity.name, rid)
            raise wrapped from wrapped.__cause__
        run.emit(ExecutionFinished(run.id, rid, _SUCCEEDED, time(), output=value))
        return value


async def _with_timeout(awaitable: Any, entity: Entity) -> Any:
    raised_by_body = False

    async def body() -> Any:
        nonlocal raised_by_body
        try:
            return await awaitable
        except asyncio.TimeoutError:
            raised_by_body = True
            raise

    try:
        return await asyncio.wait_for(body(), entity.timeout)
    except asyncio.TimeoutError:
        if raised_by_body:  # the task's own TimeoutError (a socket, a lock), not ours
            raise
        raise TaskTimeoutError(
            f"{entity.interface.owner} ran longer than its timeout of {entity.timeout:g} s "
            "and was cancelled. Give it a larger timeout=..., or make it faster."
        ) from None
