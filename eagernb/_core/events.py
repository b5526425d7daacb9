"""Events: the only way execution records change, and what every view subscribes to.

Producers (the launcher) publish through a :class:`Run`; the run applies each event to its
records, then hands it to the run's own subscribers and to the process-wide
:data:`bus`. Subscribers are plain callables; they must be cheap, since a run may publish
hundreds of thousands of events. A subscriber that raises is reported and dropped
(a broken view must never break a run).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .errors import ErrorInfo
from .records import ExecutionRecord, Status, twin

__all__ = [
    "Event",
    "EventBus",
    "ExecutionFinished",
    "ExecutionLinked",
    "ExecutionOutput",
    "ExecutionQueued",
    "ExecutionRetrying",
    "ExecutionStarted",
    "RunFinished",
    "RunStarted",
    "bus",
]

_log = logging.getLogger("eagernb")


@dataclass(frozen=True, slots=True)
class RunStarted:
    """A run began (``time``: seconds since the epoch, as every event's)."""

    run_id: str
    name: str
    time: float


@dataclass(frozen=True, slots=True)
class RunFinished:
    """A run ended with ``status`` (succeeded, failed or cancelled)."""

    run_id: str
    status: Status
    time: float


@dataclass(frozen=True, slots=True)
class ExecutionQueued:
    """An execution was launched; ``record`` is its record, still queued."""

    record: ExecutionRecord

    @property
    def run_id(self) -> str:
        return self.record.run_id


@dataclass(frozen=True, slots=True)
class ExecutionStarted:
    """Attempt ``attempt`` of an execution began running."""

    run_id: str
    id: str
    attempt: int
    time: float


@dataclass(frozen=True, slots=True)
class ExecutionRetrying:
    """Attempt ``attempt`` failed with ``error``; another one follows."""

    run_id: str
    id: str
    attempt: int
    error: ErrorInfo
    time: float


@dataclass(frozen=True, slots=True)
class ExecutionFinished:
    """An execution ended with ``status``, and its ``output`` or ``error``."""

    run_id: str
    id: str
    status: Status
    time: float
    output: Any = None
    error: ErrorInfo | None = None


@dataclass(frozen=True, slots=True)
class ExecutionOutput:
    """Text an execution wrote to ``stream`` ("stdout" or "stderr") while it ran."""

    run_id: str
    id: str
    stream: str
    text: str


@dataclass(frozen=True, slots=True)
class ExecutionLinked:
    """An execution runs as ``execution_id`` on the control plane at ``endpoint``.

    ``version`` is the registered code version it runs.
    """

    run_id: str
    id: str
    endpoint: str
    execution_id: str
    version: str


Event = (
    RunStarted | RunFinished | ExecutionQueued | ExecutionStarted | ExecutionRetrying
    | ExecutionFinished | ExecutionOutput | ExecutionLinked
)  # fmt: skip
Subscriber = Callable[[Event], None]

# The same events made about five times faster (see ``records.twin``): the hot path's.

_new = object.__new__
_QueuedTwin = twin(ExecutionQueued)
_StartedTwin = twin(ExecutionStarted)
_FinishedTwin = twin(ExecutionFinished)
_OutputTwin = twin(ExecutionOutput)


def new_queued(record: ExecutionRecord) -> ExecutionQueued:
    e = _new(_QueuedTwin)
    e.record = record
    e.__class__ = ExecutionQueued
    event: ExecutionQueued = e
    return event


def new_started(run_id: str, id: str, attempt: int, time: float) -> ExecutionStarted:
    e = _new(_StartedTwin)
    e.run_id = run_id
    e.id = id
    e.attempt = attempt
    e.time = time
    e.__class__ = ExecutionStarted
    event: ExecutionStarted = e
    return event


def new_finished(
    run_id: str,
    id: str,
    status: Status,
    time: float,
    output: Any = None,
    error: ErrorInfo | None = None,
) -> ExecutionFinished:
    e = _new(_FinishedTwin)
    e.run_id = run_id
    e.id = id
    e.status = status
    e.time = time
    e.output = output
    e.error = error
    e.__class__ = ExecutionFinished
    event: ExecutionFinished = e
    return event


def new_output(run_id: str, id: str, stream: str, text: str) -> ExecutionOutput:
    e = _new(_OutputTwin)
    e.run_id = run_id
    e.id = id
    e.stream = stream
    e.text = text
    e.__class__ = ExecutionOutput
    event: ExecutionOutput = e
    return event


class EventBus:
    """A list of subscribers called in order for each event; safe to change from any thread.

    A subscriber that only wants to know when runs start and end subscribes with
    ``runs_only=True``: events of single executions are then not even built for it (the
    launcher builds them only while someone wants them), which keeps a view that redraws
    from the records on a timer from costing anything per child.
    """

    __slots__ = ("_lock", "_run_subscribers", "_subscribers")

    def __init__(self) -> None:
        self._subscribers: tuple[Subscriber, ...] = ()
        self._run_subscribers: tuple[Subscriber, ...] = ()
        self._lock = threading.Lock()

    def subscribe(self, subscriber: Subscriber, *, runs_only: bool = False) -> Callable[[], None]:
        """Call ``subscriber(event)`` for every event (``runs_only``: for ``RunStarted`` and
        ``RunFinished`` only); returns a function that unsubscribes."""
        with self._lock:
            if runs_only:
                self._run_subscribers = (*self._run_subscribers, subscriber)
            else:
                self._subscribers = (*self._subscribers, subscriber)

        def unsubscribe() -> None:
            self.unsubscribe(subscriber)

        return unsubscribe

    def unsubscribe(self, subscriber: Subscriber) -> None:
        with self._lock:
            self._subscribers = tuple(s for s in self._subscribers if s is not subscriber)
            self._run_subscribers = tuple(s for s in self._run_subscribers if s is not subscriber)

    def __bool__(self) -> bool:
        return bool(self._subscribers or self._run_subscribers)

    def publish(self, event: Event) -> None:
        subscribers = self._subscribers
        if self._run_subscribers and isinstance(event, (RunStarted, RunFinished)):
            subscribers = (*subscribers, *self._run_subscribers)
        for subscriber in subscribers:
            try:
                subscriber(event)
            except Exception:
                _log.exception(
                    "eagernb: event subscriber %r raised and was removed; the run goes on.",
                    subscriber,
                )
                self.unsubscribe(subscriber)


bus = EventBus()
"""Every event of every run in this process."""
