"""Launching one execution: records, retries, timeouts, type checks and cancellation.

This is the hot path of every child, so it stays flat: one coroutine per child (the
attempts are inline), records made with the fast constructors, events made only when
someone subscribed (``RunTree._queued`` and friends), no ``get_running_loop()`` calls (each
is a ``getpid()`` system call). ``bench/local.py`` measures what a child costs.
"""

from __future__ import annotations

import asyncio
import signal
import threading
from asyncio import current_task
from time import time
from typing import TYPE_CHECKING, Any

from .engine import new_call
from .errors import (
    ErrorInfo,
    ExecutionCancelledError,
    ScopeClosedError,
    TaskTimeoutError,
    aborted_error,
    as_eager_exception,
)
from .events import ExecutionRetrying
from .output import WRITER
from .records import Status, new_record

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
    name = entity.name
    run._queued(
        new_record(
            rid, run.id, scope.parent_id if scope is not None else None, name, entity.kind,
            _QUEUED, inputs, time(),
        )
    )  # fmt: skip
    if name not in run.entities:
        run.entities[name] = entity
    # The task that awaits this child: what a timeout and ``cancel_execution`` cancel.
    task = current_task(run._loop)  # given the loop: no get_running_loop() (a getpid() call)
    inflight = None
    if scope is not None and task is not None:
        run._live[rid] = task
        inflight = scope.inflight
        inflight[rid] = task
    # What this execution prints is recorded as its output (see ``output``).
    writer = WRITER.set((run, rid))
    semaphore = scope.semaphore if scope is not None else None
    acquired = False
    try:
        if semaphore is not None:
            await semaphore.acquire()
            acquired = True
        # The attempts, inline: one coroutine per child, not one per layer.
        engine = run.engine
        timeout = entity.timeout
        retries = entity.retries
        if timeout is not None or retries:
            runs_attempts = getattr(engine, "runs_attempts", None)
            if runs_attempts is not None and runs_attempts(entity, scope is None):
                timeout, retries = None, 0  # the engine's side retries and times them
        attempt = 0
        while True:
            attempt += 1
            clock = _Attempt(run, rid, attempt, timeout, task)
            try:
                try:
                    value = await engine.execute(
                        new_call(entity, inputs, run, rid, attempt, clock.started)
                    )
                finally:
                    if clock.handle is not None:
                        clock.stop()
                entity.interface.check_output(value)
            except asyncio.CancelledError:
                if not clock.expired:
                    raise
                exc: Exception = clock.timeout_error(entity)
            except Exception as raised:
                exc = raised
            except BaseException as raised:
                if not _raised_by_body(raised, task):
                    raise
                # SystemExit, KeyboardInterrupt from the body itself: its failure, not an
                # exit or an interrupt (see TaskAbortedError).
                exc = aborted_error(entity.interface.owner, raised)
                exc.__cause__ = raised
            else:
                run._finished(rid, _SUCCEEDED, time(), value)
                return value
            info = ErrorInfo.from_exception(exc)
            if attempt <= retries:
                run.emit(ExecutionRetrying(run.id, rid, attempt, info, time()))
                continue
            run._finished(rid, _FAILED, time(), error=info)
            if scope is None:
                raise exc  # the root's failure is raised as itself
            raise as_eager_exception(exc, name, _public_id(run, rid)) from exc
    except asyncio.CancelledError:
        if rid not in run._cancel_requested:
            run._finished(rid, _CANCELLED, time())
            raise
        # Only this child was cancelled (from a view): its parent goes on and sees an error.
        if task is not None and hasattr(task, "uncancel"):
            task.uncancel()
        exc = ExecutionCancelledError(
            f"{entity.kind.value.capitalize()} {name!r} ({rid}) was cancelled on request "
            "while it ran; the workflow that awaited it goes on and may catch this error."
        )
        info = ErrorInfo(type(exc).__qualname__, str(exc), "")
        run._finished(rid, _CANCELLED, time(), error=info)
        raise as_eager_exception(exc, name, _public_id(run, rid)) from None
    except BaseException as escaped:
        # A real Ctrl-C landing in this frame, or this coroutine closed: it does not run on,
        # so it is not left shown running. (A failure, an Exception, is recorded above.)
        if not isinstance(escaped, Exception) and not run.records[rid].status.is_final:
            run._finished(rid, _CANCELLED, time())
        raise
    finally:
        if acquired:
            semaphore.release()  # type: ignore[union-attr]
        WRITER.reset(writer)
        if inflight is not None:
            del run._live[rid]
            del inflight[rid]
            if run._cancel_requested:
                run._cancel_requested.discard(rid)


def _raised_by_body(exc: BaseException, task: asyncio.Task[Any] | None) -> bool:
    """Whether ``exc`` (not an Exception, not a CancelledError) is the body's own doing.

    ``GeneratorExit`` is this coroutine being closed. A ``KeyboardInterrupt`` may be a real
    Ctrl-C where one lands in running code: on the main thread while SIGINT has Python's
    default handler (``asyncio.run`` and ipykernel turn it into a cancellation instead), or
    a second Ctrl-C while the run is being cancelled. Anything else came from the body.
    """
    if isinstance(exc, GeneratorExit):
        return False
    if isinstance(exc, KeyboardInterrupt):
        cancelling = getattr(task, "cancelling", None)
        if cancelling is not None and cancelling():
            return False
        if threading.current_thread() is threading.main_thread():
            return signal.getsignal(signal.SIGINT) is not signal.default_int_handler
    return True


class _Attempt:
    """Marks an attempt running when its body starts, and enforces the timeout from then.

    ``started`` may be called from a loop callback (the local engine starts a queued sync
    body when a thread frees up), so the task to cancel is the one that awaits the child.
    """

    __slots__ = ("attempt", "expired", "handle", "rid", "run", "running", "task", "timeout")

    def __init__(
        self,
        run: Run,
        rid: str,
        attempt: int,
        timeout: float | None,
        task: asyncio.Task[Any] | None,
    ) -> None:
        self.run = run
        self.rid = rid
        self.attempt = attempt
        self.timeout = timeout
        self.task = task
        self.expired = False
        self.running = False
        self.handle: asyncio.TimerHandle | None = None

    def started(self) -> None:
        if self.running:
            return  # started twice: the first one counts
        self.running = True
        self.run._started(self.rid, self.attempt, time())
        if self.timeout is not None and self.task is not None:
            self.handle = asyncio.get_running_loop().call_later(self.timeout, self._expire)

    def _expire(self) -> None:
        if self.task is not None and not self.task.done():
            self.expired = True
            self.task.cancel()

    def stop(self) -> None:
        if self.handle is not None:
            self.handle.cancel()
            self.handle = None

    def timeout_error(self, entity: Entity) -> TaskTimeoutError:
        task = self.task
        if task is not None and hasattr(task, "uncancel"):
            task.uncancel()  # this cancellation was ours, not the caller's
        return TaskTimeoutError(
            f"{entity.interface.owner} ran longer than its timeout of {entity.timeout:g} s and "
            "was stopped (a synchronous body already running on a thread cannot be interrupted; "
            "it finishes in the background and its result is discarded). Give it a larger "
            "timeout=..., or make it faster."
        )


def _public_id(run: Run, rid: str) -> str:
    """The id a user can look ``rid`` up by: the engine's own (a control plane's execution
    id, for a body running on a worker, where this process's ids mean nothing), else it."""
    public = getattr(run.engine, "public_id", None)
    return rid if public is None else str(public(rid))
