"""Execution records: the plain data every view shows.

A run is a tree of :class:`ExecutionRecord`. Records are frozen; they change only when an
event (see ``events``) is applied to the run that owns them.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from .errors import ErrorInfo

__all__ = ["ExecutionRecord", "Kind", "Status"]


class Status(str, enum.Enum):
    """Where an execution is in its life. The last three are final."""

    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self in _FINAL

    def __str__(self) -> str:
        return self.value


_FINAL = frozenset({Status.SUCCEEDED, Status.FAILED, Status.CANCELLED})


class Kind(str, enum.Enum):
    """What kind of entity an execution runs."""

    TASK = "task"
    WORKFLOW = "workflow"
    EAGER = "eager"

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True, slots=True)
class ExecutionRecord:
    """One execution: a task, a static workflow or an eager workflow, root or child."""

    id: str
    run_id: str
    parent_id: str | None
    name: str
    kind: Kind
    status: Status
    inputs: dict[str, Any] = field(repr=False)
    queued_at: float
    started_at: float | None = None
    ended_at: float | None = None
    attempts: int = 0
    output: Any = field(default=None, repr=False)
    error: ErrorInfo | None = None

    @property
    def duration(self) -> float | None:
        """Seconds from start to end (or None while it has not started or ended)."""
        if self.started_at is None or self.ended_at is None:
            return None
        return self.ended_at - self.started_at
