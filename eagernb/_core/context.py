"""The current run scope, carried in a contextvar.

A scope exists while an eager or static workflow body runs: calls to tasks and workflows
inside it become child executions of ``parent_id``. Because it is a contextvar, gathered
runs, nested eager workflows and ``asyncio.to_thread`` each see their own parent.

A task body running inside a scope (an async body on the loop, a sync body on a thread
with a copy of the context) is not in it: its execution id, in ``output.WRITER``, is not
the scope's. :func:`current_scope` checks that, so task bodies need not clear ``SCOPE``
(two contextvar changes fewer per child); tasks they call run directly.
"""

from __future__ import annotations

import asyncio
import threading
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from .launch import launch
from .output import WRITER

get_ident = threading.get_ident

if TYPE_CHECKING:
    from .engine import Engine
    from .entity import Entity
    from .run import Run

__all__ = ["SCOPE", "Scope", "current_scope"]


class Scope:
    """The body of one eager or static workflow execution while it runs."""

    __slots__ = (
        "closed", "engine", "inflight", "loop", "parent_id", "run", "semaphore", "thread",
    )  # fmt: skip

    def __init__(
        self,
        run: Run,
        parent_id: str,
        engine: Engine,
        loop: asyncio.AbstractEventLoop,
        max_concurrency: int | None = None,
    ) -> None:
        self.run = run
        self.parent_id = parent_id
        self.engine = engine
        self.loop = loop
        self.thread = threading.get_ident()  # the loop's thread: made by the body, on the loop
        self.semaphore = asyncio.Semaphore(max_concurrency) if max_concurrency else None
        self.inflight: dict[str, asyncio.Future[Any]] = {}
        self.closed = False  # set once the body has returned and its leftovers are cancelled

    def child(self, entity: Entity, inputs: dict[str, Any]) -> Any:
        """Launch ``entity`` as a child: a coroutine on the run's loop, a value elsewhere."""
        # On the loop's thread, the running loop is the run's (cheaper to ask than the loop:
        # asyncio.get_running_loop() makes a getpid() system call each time).
        if get_ident() == self.thread:
            return launch(self.run, self, entity, inputs)
        # Called from a worker thread (asyncio.to_thread in an eager body): the child
        # still belongs to this scope; run it on the run's loop and wait for its value.
        future = asyncio.run_coroutine_threadsafe(launch(self.run, self, entity, inputs), self.loop)
        return future.result()

    async def cancel_abandoned(self) -> None:
        """Cancel children the body started but did not wait for, and wait until they end."""
        # A child wrapped in create_task() registers itself in `inflight` on its first step;
        # yield once so children the body created just before returning are seen too.
        await asyncio.sleep(0)
        me = asyncio.current_task()
        pending = [t for t in self.inflight.values() if t is not me and not t.done()]
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)


SCOPE: ContextVar[Scope | None] = ContextVar("eagernb_scope", default=None)


def current_scope() -> Scope | None:
    """The scope a task, workflow or eager call made here launches its child in, if any."""
    scope = SCOPE.get()
    if scope is not None:
        writer = WRITER.get()
        if writer is None or writer[1] != scope.parent_id:
            return None  # inside a child of the scope's body (a task body): not a child
    return scope
