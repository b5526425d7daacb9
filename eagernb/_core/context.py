"""The current run scope, carried in a contextvar.

A scope exists while an eager or static workflow body runs: calls to tasks and workflows
inside it become child executions of ``parent_id``. Because it is a contextvar, gathered
runs, nested eager workflows and ``asyncio.to_thread`` each see their own parent.
"""

from __future__ import annotations

import asyncio
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from .launch import launch

if TYPE_CHECKING:
    from .engine import Engine
    from .entity import Entity
    from .run import Run

__all__ = ["SCOPE", "Scope"]


class Scope:
    """The body of one eager or static workflow execution while it runs."""

    __slots__ = ("closed", "engine", "inflight", "loop", "parent_id", "run", "semaphore")

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
        self.semaphore = asyncio.Semaphore(max_concurrency) if max_concurrency else None
        self.inflight: dict[str, asyncio.Future[Any]] = {}
        self.closed = False  # set once the body has returned and its leftovers are cancelled

    def child(self, entity: Entity, inputs: dict[str, Any]) -> Any:
        """Launch ``entity`` as a child: a coroutine on the run's loop, a value elsewhere."""
        try:
            loop: asyncio.AbstractEventLoop | None = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is self.loop:
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
