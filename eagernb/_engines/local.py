"""The local engine: everything runs in this process.

Synchronous task bodies run on a thread pool (never on the event loop, so gathered
children are truly concurrent and the loop stays free for widgets and interrupts);
``async def`` task bodies run on the caller's loop; eager and static workflow bodies run
here and launch their own children through the same engine. A child waiting for a free
thread stays ``queued``; it turns ``running`` (and its timeout starts) when a thread takes it.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import os
import threading
import weakref
from collections.abc import Callable
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
        self._slots: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Semaphore] = (
            weakref.WeakKeyDictionary()
        )
        self._lock = threading.Lock()
        self._closed = False
        # A forked child inherits the pool object but not its threads: start afresh there.
        ref = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: _forget_threads(ref))

    @property
    def threads(self) -> int:
        count = self._threads or config.threads
        if not isinstance(count, int) or count < 1:
            raise ValueError(
                f"eagernb.config.threads must be a whole number of at least 1, not {count!r}."
            )
        return count

    def _executor(self) -> concurrent.futures.ThreadPoolExecutor:
        pool = self._pool
        if pool is None:
            with self._lock:
                if self._closed:
                    raise RuntimeError("This LocalEngine was closed; create a new one.")
                if self._pool is None:
                    self._pool = concurrent.futures.ThreadPoolExecutor(
                        self.threads, thread_name_prefix="eagernb-task"
                    )
                pool = self._pool
        return pool

    def _slots_for(self, loop: asyncio.AbstractEventLoop) -> asyncio.Semaphore:
        slots = self._slots.get(loop)
        if slots is None:
            slots = self._slots[loop] = asyncio.Semaphore(self.threads)
        return slots

    async def execute(self, call: Call) -> Any:
        __tracebackhide__ = True
        entity = call.entity
        if entity.kind is not _TASK:
            call.started()
            return await entity.run_local(call, self)
        # A task body is plain code: tasks it calls run directly, not as children.
        if getattr(entity, "is_async", False):
            call.started()
            token = SCOPE.set(None)
            try:
                return await entity.fn(**call.inputs)
            finally:
                SCOPE.reset(token)
        loop = asyncio.get_running_loop()
        context = contextvars.copy_context()
        context.run(SCOPE.set, None)
        async with self._slots_for(loop):
            call.started()
            return await loop.run_in_executor(
                self._executor(), context.run, _call_sync, entity.fn, call.inputs
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


def _call_sync(fn: Callable[..., Any], inputs: dict[str, Any]) -> Any:
    __tracebackhide__ = True
    try:
        return fn(**inputs)
    except StopIteration as exc:
        # A StopIteration cannot travel through an asyncio future (it would hang the run).
        raise RuntimeError(
            f"Task body {getattr(fn, '__name__', fn)!r} raised StopIteration (often next() on "
            "an empty iterator). Catch it in the task, or pass a default to next()."
        ) from exc


def _forget_threads(ref: weakref.ref[LocalEngine]) -> None:
    engine = ref()
    if engine is not None:
        engine._pool = None
        engine._slots = weakref.WeakKeyDictionary()
        engine._lock = threading.Lock()
