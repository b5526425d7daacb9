"""A run: one top-level execution and the tree of records its children build.

A :class:`Run` is also the handle for a run started in the background: ``await`` it for
the value, ``cancel()`` it, or read ``records`` while it goes on.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import contextvars
import dataclasses
import itertools
import os
import threading
from collections.abc import Callable, Generator, Iterator
from time import time
from typing import TYPE_CHECKING, Any

from .config import config, engine_for
from .errors import RunCancelledError
from .events import (
    Event,
    EventBus,
    ExecutionFinished,
    ExecutionQueued,
    ExecutionRetrying,
    ExecutionStarted,
    RunFinished,
    RunStarted,
    bus,
)
from .launch import launch
from .records import ExecutionRecord, Status

if TYPE_CHECKING:
    from .engine import Engine
    from .entity import Entity

__all__ = ["Run", "last_run", "runs"]

_RUNNING = Status.RUNNING
_run_numbers = itertools.count(1)
_history: collections.deque[Run] = collections.deque(maxlen=config.history)
_history_lock = threading.Lock()
_active: set[Run] = set()  # strong references to runs still going, whatever the history keeps


class Run:
    """One run of a workflow: its records, its status and, when done, its value."""

    def __init__(self, entity: Entity, inputs: dict[str, Any], engine: Engine) -> None:
        self.id = f"r{os.getpid() % 1000:03d}{next(_run_numbers):04d}{os.urandom(2).hex()}"
        self.name = entity.name
        self.entity = entity
        self.inputs = inputs
        self.engine = engine
        self.root_id = f"{self.id}.0"
        self.status = Status.QUEUED
        self.started_at: float | None = None
        self.ended_at: float | None = None
        self.records: dict[str, ExecutionRecord] = {}
        """Every execution of this run by id, in launch order (the root first)."""
        self.children: dict[str | None, list[str]] = {}
        self.events = EventBus()
        """Events of this run only; views subscribe here."""
        self._seq = itertools.count(1)
        self._task: asyncio.Task[Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._cancel_reason: str | None = None

    # -- events -------------------------------------------------------------------------

    def new_id(self) -> str:
        return f"{self.id}.{next(self._seq)}"

    def emit(self, event: Event) -> None:
        """Apply ``event`` to the records, then publish it to this run's and global subscribers."""
        self._apply(event)
        if self.events:
            self.events.publish(event)
        if bus:
            bus.publish(event)

    def _apply(self, event: Event) -> None:
        records = self.records
        if isinstance(event, ExecutionQueued):
            record = event.record
            records[record.id] = record
            siblings = self.children.get(record.parent_id)
            if siblings is None:
                self.children[record.parent_id] = [record.id]
            else:
                siblings.append(record.id)
        elif isinstance(event, ExecutionStarted):
            # Built field by field: dataclasses.replace is ten times slower on this hot path.
            old = records[event.id]
            records[event.id] = ExecutionRecord(
                old.id, old.run_id, old.parent_id, old.name, old.kind, _RUNNING, old.inputs,
                old.queued_at, old.started_at if old.started_at is not None else event.time,
                None, event.attempt, None, old.error,
            )  # fmt: skip
        elif isinstance(event, ExecutionFinished):
            old = records[event.id]
            records[event.id] = ExecutionRecord(
                old.id, old.run_id, old.parent_id, old.name, old.kind, event.status, old.inputs,
                old.queued_at, old.started_at, event.time, old.attempts, event.output, event.error,
            )  # fmt: skip
        elif isinstance(event, ExecutionRetrying):
            records[event.id] = dataclasses.replace(records[event.id], error=event.error)
        elif isinstance(event, RunStarted):
            self.status = _RUNNING
            self.started_at = event.time
        elif isinstance(event, RunFinished):
            self.status = event.status
            self.ended_at = event.time

    # -- lifecycle ----------------------------------------------------------------------

    def start(self) -> Run:
        """Start on the running loop and return at once (the run keeps going between cells).

        ``RunStarted`` is published before this returns, so views attach to the caller's
        context (the notebook cell that started the run).
        """
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError(
                f"{self.name}.start() needs a running event loop: call it in a notebook cell or "
                "inside async code. From a plain script, use asyncio.run(wf(...)) instead."
            ) from None
        self._loop = loop
        with _history_lock:
            if _history.maxlen != config.history:
                _resize_history()
            _history.append(self)
        self.emit(RunStarted(self.id, self.name, time()))
        self._task = loop.create_task(self._main(), name=f"eagernb run {self.name} {self.id}")
        _active.add(self)
        return self

    async def _main(self) -> Any:
        __tracebackhide__ = True
        status = Status.FAILED
        try:
            value = await launch(self, None, self.entity, self.inputs, self.root_id)
            status = Status.SUCCEEDED
            return value
        except asyncio.CancelledError:
            status = Status.CANCELLED
            if self._cancel_reason is not None:
                raise RunCancelledError(
                    f"Run {self.name!r} ({self.id}) was cancelled {self._cancel_reason}; "
                    "its children were cancelled too."
                ) from None
            raise
        finally:
            _active.discard(self)
            self.emit(RunFinished(self.id, status, time()))

    def cancel(self, reason: str = "on request") -> bool:
        """Cancel the run and its children; safe to call from any thread. False if done."""
        task, loop = self._task, self._loop
        if task is None or loop is None or task.done():
            return False
        self._cancel_reason = reason
        if loop.is_closed():
            return False
        loop.call_soon_threadsafe(task.cancel)
        return True

    def done(self) -> bool:
        return self._task is not None and self._task.done()

    def result(self) -> Any:
        """The value of a finished run (raises its error); use ``await run`` to wait."""
        if self._task is None or not self._task.done():
            raise RuntimeError(
                f"Run {self.name!r} ({self.id}) has not finished; `await` it to wait for it."
            )
        return self._task.result()

    def __await__(self) -> Generator[Any, None, Any]:
        if self._task is None:
            raise RuntimeError(f"Run {self.name!r} ({self.id}) was never started.")
        return self._task.__await__()

    # -- reading ------------------------------------------------------------------------

    @property
    def root(self) -> ExecutionRecord | None:
        return self.records.get(self.root_id)

    def children_of(self, record_id: str | None) -> list[ExecutionRecord]:
        """Direct children of ``record_id`` (None: the root), in launch order."""
        return [self.records[i] for i in self.children.get(record_id, ())]

    def walk(self) -> Iterator[tuple[int, ExecutionRecord]]:
        """Every record depth-first with its depth, the root at depth 0."""
        stack: list[tuple[int, str]] = [(0, i) for i in reversed(self.children.get(None, []))]
        while stack:
            depth, rid = stack.pop()
            yield depth, self.records[rid]
            stack.extend((depth + 1, c) for c in reversed(self.children.get(rid, [])))

    def counts(self) -> dict[Status, int]:
        """How many executions (root excluded) are in each status."""
        counter = collections.Counter(r.status for r in self.records.values())
        root = self.root
        if root is not None:
            counter[root.status] -= 1
        return {s: counter.get(s, 0) for s in Status}

    def on_event(self, subscriber: Callable[[Event], None]) -> Callable[[], None]:
        return self.events.subscribe(subscriber)

    def __repr__(self) -> str:
        count = len(self.records)
        return f"<eagernb Run {self.name} {self.id} {self.status.value}, {count} executions>"


def _resize_history() -> None:
    global _history
    _history = collections.deque(_history, maxlen=config.history)


def runs() -> list[Run]:
    """Runs of this session, oldest first (at most ``config.history`` of them)."""
    with _history_lock:
        return list(_history)


def last_run() -> Run | None:
    """The most recently started run of this session, or None."""
    with _history_lock:
        return _history[-1] if _history else None


async def run_root(entity: Entity, inputs: dict[str, Any], engine: Engine | None = None) -> Any:
    """Run ``entity`` as a new top-level run on the running loop and return its value."""
    __tracebackhide__ = True
    return await Run(entity, inputs, engine or engine_for(entity)).start()


def run_blocking(entity: Entity, inputs: dict[str, Any], engine: Engine | None = None) -> Any:
    """Run ``entity`` to completion from synchronous code and return its value.

    With no loop running this is ``asyncio.run``. Inside a running loop (a notebook cell)
    the run gets its own loop on a helper thread while the caller waits, so it never
    re-enters the caller's loop.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(run_root(entity, inputs, engine))
    return run_in_helper_thread(run_root(entity, inputs, engine))


def run_in_helper_thread(coro: Any) -> Any:
    """Run ``coro`` with ``asyncio.run`` on a new thread that sees this context; wait for it.

    A ``KeyboardInterrupt`` while waiting cancels the coroutine and re-raises.
    """
    box: dict[str, Any] = {}
    started = threading.Event()

    async def main() -> Any:
        box["loop"] = asyncio.get_running_loop()
        box["task"] = asyncio.current_task()
        started.set()
        return await coro

    context = contextvars.copy_context()
    with concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="eagernb-run") as pool:
        future = pool.submit(context.run, asyncio.run, main())
        try:
            return future.result()
        except KeyboardInterrupt:
            if started.wait(timeout=5):
                box["loop"].call_soon_threadsafe(box["task"].cancel)
            with contextlib.suppress(BaseException):
                future.result()
            raise
