"""The local engine: everything runs in this process.

Synchronous task bodies run on a thread pool (never on the event loop, so gathered
children are truly concurrent and the loop stays free for widgets and interrupts);
``async def`` task bodies run on the caller's loop; eager and static workflow bodies run
here and launch their own children through the same engine.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import functools
import threading
from typing import Any

from .._core.config import config
from .._core.context import SCOPE
from .._core.engine import Call
from .._core.records import Kind

__all__ = ["LocalEngine"]

_TASK = Kind.TASK


class LocalEngine:
    """Run children in this process: sync bodies on threads, async bodies on the loop."""

    def __init__(self, threads: int | None = None) -> None:
        self._threads = threads
        self._pool: concurrent.futures.ThreadPoolExecutor | None = None
        self._lock = threading.Lock()
        self._closed = False

    def _executor(self) -> concurrent.futures.ThreadPoolExecutor:
        pool = self._pool
        if pool is None:
            with self._lock:
                if self._closed:
                    raise RuntimeError("This LocalEngine was closed; create a new one.")
                if self._pool is None:
                    self._pool = concurrent.futures.ThreadPoolExecutor(
                        self._threads or config.threads, thread_name_prefix="eagernb-task"
                    )
                pool = self._pool
        return pool

    async def execute(self, call: Call) -> Any:
        entity = call.entity
        if entity.kind is not _TASK:
            return await entity.run_local(call, self)
        # A task body is plain code: tasks it calls run directly, not as children.
        if getattr(entity, "is_async", False):
            token = SCOPE.set(None)
            try:
                return await entity.fn(**call.inputs)
            finally:
                SCOPE.reset(token)
        context = contextvars.copy_context()
        context.run(SCOPE.set, None)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self._executor(), functools.partial(context.run, entity.fn, **call.inputs)
        )

    async def aclose(self) -> None:
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    async def __aenter__(self) -> LocalEngine:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()
