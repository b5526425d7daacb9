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
from .errors import ErrorInfo, RunCancelledError
from .events import (
    Event,
    EventBus,
    ExecutionFinished,
    ExecutionLinked,
    ExecutionOutput,
    ExecutionQueued,
    ExecutionRetrying,
    ExecutionStarted,
    RunFinished,
    RunStarted,
    bus,
    new_finished,
    new_queued,
    new_started,
)
from .launch import launch
from .records import ExecutionRecord, Status, new_record

if TYPE_CHECKING:
    from .engine import Engine
    from .entity import Entity

__all__ = ["Run", "RunTree", "last_run", "runs"]

_RUNNING = Status.RUNNING
_run_numbers = itertools.count(1)
_history: collections.deque[Run] = collections.deque(maxlen=config.history)
_history_lock = threading.Lock()
_active: set[Run] = set()  # strong references to runs still going, whatever the history keeps


_OUTPUT_LIMIT = 100_000  # characters of printed output kept per execution
_PIECE = 8192  # writes to one stream are joined into pieces of about this many characters


class RunTree:
    """The records of one run and the events that build them: what every view reads.

    A :class:`Run` is a ``RunTree`` that also executes; a tree can also mirror a run that
    executes elsewhere (on the control plane), fed with the same events.
    """

    def __init__(self, run_id: str, name: str, root_id: str) -> None:
        self.id = run_id
        self.name = name
        self.root_id = root_id
        self.status = Status.QUEUED
        self.started_at: float | None = None
        self.ended_at: float | None = None
        self.records: dict[str, ExecutionRecord] = {}
        """Every execution of this run by id, in launch order (the root first)."""
        self.children: dict[str | None, list[str]] = {}
        self.outputs: dict[str, list[tuple[str, str]]] = {}
        """What each execution printed: (stream, text) pieces in order, by execution id."""
        self.links: dict[str, ExecutionLinked] = {}
        """Executions that run on a control plane: where, under which id and version."""
        self.events = EventBus()
        """Events of this run only; views subscribe here."""
        self._output_sizes: dict[str, int] = {}

    # -- events -------------------------------------------------------------------------

    def emit(self, event: Event) -> None:
        """Apply ``event`` to the records, then publish it to this run's and global subscribers."""
        self._apply(event)
        if self.events:
            self.events.publish(event)
        if bus:
            bus.publish(event)

    def _apply(self, event: Event) -> None:
        if isinstance(event, ExecutionQueued):
            self._queued(event.record, False)
        elif isinstance(event, ExecutionStarted):
            self._started(event.id, event.attempt, event.time, False)
        elif isinstance(event, ExecutionFinished):
            self._finished(event.id, event.status, event.time, event.output, event.error, False)
        elif isinstance(event, ExecutionRetrying):
            self.records[event.id] = dataclasses.replace(self.records[event.id], error=event.error)
        elif isinstance(event, ExecutionOutput):
            self._append_output(event.id, event.stream, event.text)
        elif isinstance(event, ExecutionLinked):
            self.links[event.id] = event
        elif isinstance(event, RunStarted):
            self.status = _RUNNING
            self.started_at = event.time
        elif isinstance(event, RunFinished):
            self.status = event.status
            self.ended_at = event.time

    # The launcher's hot path: the same as ``emit(ExecutionQueued(record))`` and so on,
    # but the event object is built only when someone subscribed (``publish``); ``_apply``
    # uses them too, with ``publish=False``.

    def _queued(self, record: ExecutionRecord, publish: bool = True) -> None:
        rid = record.id
        self.records[rid] = record
        siblings = self.children.get(record.parent_id)
        if siblings is None:
            self.children[record.parent_id] = [rid]
        else:
            siblings.append(rid)
        if publish and (self.events._subscribers or bus._subscribers):
            self._publish(new_queued(record))

    def _started(self, rid: str, attempt: int, at: float, publish: bool = True) -> None:
        records = self.records
        old = records[rid]
        records[rid] = new_record(
            rid, old.run_id, old.parent_id, old.name, old.kind, _RUNNING, old.inputs,
            old.queued_at, old.started_at if old.started_at is not None else at,
            None, attempt, None, old.error,
        )  # fmt: skip
        if publish and (self.events._subscribers or bus._subscribers):
            self._publish(new_started(self.id, rid, attempt, at))

    def _finished(
        self,
        rid: str,
        status: Status,
        at: float,
        output: Any = None,
        error: ErrorInfo | None = None,
        publish: bool = True,
    ) -> None:
        records = self.records
        old = records[rid]
        records[rid] = new_record(
            rid, old.run_id, old.parent_id, old.name, old.kind, status, old.inputs,
            old.queued_at, old.started_at, at, old.attempts, output, error,
        )  # fmt: skip
        if publish and (self.events._subscribers or bus._subscribers):
            self._publish(new_finished(self.id, rid, status, at, output, error))

    def _publish(self, event: Event) -> None:
        if self.events._subscribers:
            self.events.publish(event)
        if bus._subscribers:
            bus.publish(event)

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

    def output_of(self, record_id: str) -> str:
        """Everything execution ``record_id`` printed, stdout and stderr interleaved."""
        return "".join(text for _, text in self.outputs.get(record_id, ()))

    def on_event(self, subscriber: Callable[[Event], None]) -> Callable[[], None]:
        return self.events.subscribe(subscriber)

    def cancel_execution(self, record_id: str) -> bool:
        """Cancel one execution of this run (the root: the whole run). False if it cannot."""
        return False

    def end_unfinished(self, reason: str, *, skip: str | None = None) -> int:
        """End every execution not final yet (but ``skip``) as cancelled, with ``reason``
        as its error: for executions whose real end can no longer be heard (a control
        plane gone mid-run), so none is left shown running. Returns how many it ended."""
        now = time()
        unfinished = [
            rid for rid, r in self.records.items() if rid != skip and not r.status.is_final
        ]
        for rid in unfinished:
            error = ErrorInfo("eagernb.ExecutionCancelledError", reason, "")
            self.emit(ExecutionFinished(self.id, rid, Status.CANCELLED, now, error=error))
        return len(unfinished)

    def _append_output(self, record_id: str, stream: str, text: str) -> None:
        used = self._output_sizes.get(record_id, 0)
        if used >= _OUTPUT_LIMIT:
            return
        if used + len(text) > _OUTPUT_LIMIT:
            text = text[: _OUTPUT_LIMIT - used] + f"\n… output cut at {_OUTPUT_LIMIT} characters\n"
        self._output_sizes[record_id] = used + len(text)
        pieces = self.outputs.get(record_id)
        if pieces is None:
            self.outputs[record_id] = [(stream, text)]
        elif pieces[-1][0] == stream and len(pieces[-1][1]) < _PIECE:
            # One piece per run of writes to a stream (print writes the text, then "\n"),
            # up to _PIECE characters: joining onto a longer one would copy it every time.
            pieces[-1] = (stream, pieces[-1][1] + text)
        else:
            pieces.append((stream, text))

    def __repr__(self) -> str:
        kind, count = type(self).__name__, len(self.records)
        return f"<eagernb {kind} {self.name} {self.id} {self.status.value}, {count} executions>"


class Run(RunTree):
    """One run of a workflow: its records, its status and, when done, its value."""

    def __init__(self, entity: Entity, inputs: dict[str, Any], engine: Engine) -> None:
        run_id = f"r{os.getpid() % 1000:03d}{next(_run_numbers):04d}{os.urandom(2).hex()}"
        super().__init__(run_id, entity.name, f"{run_id}.0")
        self.entity = entity
        self.inputs = inputs
        self.engine = engine
        self.entities: dict[str, Entity] = {}
        """The entity each execution name ran (the first one launched under that name)."""
        self._seq = itertools.count(1)
        self._task: asyncio.Task[Any] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._cancel_reason: str | None = None
        self._live: dict[str, asyncio.Task[Any]] = {}  # children in flight: the task awaiting each
        self._cancel_requested: set[str] = set()
        self._from_threads: collections.deque[Event] = collections.deque()
        self._flush_scheduled = False

    def new_id(self) -> str:
        return f"{self.id}.{next(self._seq)}"

    def _emit_from_thread(self, event: Event) -> None:
        """Emit ``event`` on the run's loop, from another thread: in order, and with one
        wake-up of the loop for all the events that arrive before it runs (a body printing
        line after line does not wake the loop for each write)."""
        self._from_threads.append(event)
        if self._flush_scheduled:
            return  # the flush on its way sees this one too
        self._flush_scheduled = True
        loop = self._loop
        try:
            if loop is None:
                raise RuntimeError("no loop")
            loop.call_soon_threadsafe(self._flush_from_threads)
        except RuntimeError:  # the loop closed meanwhile: nobody applies them any more
            self._from_threads.clear()

    def _flush_from_threads(self) -> None:
        self._flush_scheduled = False  # before reading: a later event schedules another flush
        pending = self._from_threads
        while pending:
            self.emit(pending.popleft())

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

    def cancel_execution(self, record_id: str) -> bool:
        """Cancel one execution and its children; the root cancels the run. Any thread.

        The parent of a cancelled child sees an :class:`EagerException` that is also an
        :class:`ExecutionCancelledError`, which it may catch like any failure. False if
        the execution is not running or queued.
        """
        if record_id == self.root_id:
            return self.cancel("from the explorer")
        loop = self._loop
        if loop is None or loop.is_closed():
            return False
        if record_id not in self._live:
            # Not awaited here: one the engine mirrors (a remote run's descendants).
            record = self.records.get(record_id)
            cancel_elsewhere = getattr(self.engine, "cancel_elsewhere", None)
            if record is None or record.status.is_final or cancel_elsewhere is None:
                return False
            loop.call_soon_threadsafe(cancel_elsewhere, self, record_id)
            return True
        loop.call_soon_threadsafe(self._cancel_child, record_id)
        return True

    def cancelled_elsewhere(self, record_id: str) -> None:
        """Child ``record_id`` was cancelled where it ran (an engine heard it): treat it as
        a child cancelled on request, so its parent sees an error it may catch."""
        self._cancel_requested.add(record_id)

    def _cancel_child(self, record_id: str) -> None:
        task = self._live.get(record_id)
        if task is None or task.done() or record_id in self._cancel_requested:
            return
        self._cancel_requested.add(record_id)
        task.cancel()

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
