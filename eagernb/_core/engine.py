"""The one contract every execution backend implements.

An engine decides *where* a child runs. Everything else (records, events, retries,
timeouts, type checks, cancellation bookkeeping) is the launcher's job and is the same
for every engine. Cancellation is structured: the launcher cancels the ``execute``
coroutine, and the engine cancels whatever it started (a thread's result is dropped;
a remote execution is cancelled on the server).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from .records import twin

_new = object.__new__

if TYPE_CHECKING:
    from .entity import Entity
    from .run import Run

__all__ = ["Call", "Engine"]


def _nothing() -> None:
    return None


@dataclass(frozen=True, slots=True)
class Call:
    """One attempt at one child execution.

    The engine calls ``started()`` (on the run's loop) when the body really begins, after
    any wait for a free thread, worker or slot: the record turns ``running`` then, and the
    task's ``timeout`` counts from then.
    """

    entity: Entity
    inputs: dict[str, Any]
    run: Run
    record_id: str
    attempt: int
    started: Callable[[], None] = _nothing


_CallTwin = twin(Call)


def new_call(
    entity: Entity,
    inputs: dict[str, Any],
    run: Run,
    record_id: str,
    attempt: int,
    started: Callable[[], None] = _nothing,
) -> Call:
    """``Call(...)``, five times faster (see ``records.twin``): the launcher's, per attempt."""
    c = _new(_CallTwin)
    c.entity = entity
    c.inputs = inputs
    c.run = run
    c.record_id = record_id
    c.attempt = attempt
    c.started = started
    c.__class__ = Call
    call: Call = c
    return call


@runtime_checkable
class Engine(Protocol):
    """Runs calls and hands back their value, or raises what they raised.

    Two optional methods let an engine that runs work elsewhere say more:
    ``runs_attempts(entity, is_root) -> bool``: True when that side runs ``entity``'s
    retries and timeout itself (the launcher then makes one attempt and sets no timer);
    ``cancel_elsewhere(run, record_id)``: cancel a record the engine mirrors but nothing
    here awaits (a remote run's descendants), called on the run's loop.
    """

    async def execute(self, call: Call) -> Any:
        """Run ``call`` to completion and return its output (cancel by cancelling this)."""
        ...

    async def aclose(self) -> None:
        """Release threads, processes or connections; calls after this are errors."""
        ...
