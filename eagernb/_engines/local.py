"""The local engine: everything runs in this process.

Synchronous task bodies run on worker threads (never on the event loop, so gathered
children are truly concurrent and the loop stays free for widgets and interrupts);
``async def`` task bodies run on the caller's loop; eager and static workflow bodies run
here and launch their own children through the same engine. A child waiting for a free
thread stays ``queued``; it turns ``running`` (and its timeout starts) when a thread takes it.

The hand-off to threads is lighter than ``loop.run_in_executor``: one asyncio future per
body and no ``concurrent.futures.Future`` in between; a thread that finishes a body puts
the result on its loop's list and wakes the loop only if that list was empty, so bodies
finishing together cost one wake-up. A body that waits for a thread is started by the
loop when an earlier one ends, without a semaphore round trip through its own task.
"""

from __future__ import annotations

import asyncio
import collections
import contextvars
import os
import queue
import threading
import weakref
from collections.abc import Callable
from typing import Any

from .._core.config import config
from .._core.engine import Call
from .._core.errors import aborted_error
from .._core.records import Kind

__all__ = ["LocalEngine"]

_TASK = Kind.TASK
_copy_context = contextvars.copy_context


class LocalEngine:
    """Run children in this process: sync bodies on threads, async bodies on the loop."""

    def __init__(self, threads: int | None = None) -> None:
        self._threads = threads
        self._pool: _Pool | None = None
        self._dispatchers: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Dispatcher] = (
            weakref.WeakKeyDictionary()
        )
        self._last: _Dispatcher | None = None  # the dispatcher of the loop used last
        self._finalizer: weakref.finalize[Any, Any] | None = None
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

    def _dispatcher(self, loop: asyncio.AbstractEventLoop) -> _Dispatcher:
        last = self._last
        if last is not None and last.loop() is loop:
            return last
        dispatcher = self._dispatchers.get(loop)
        if dispatcher is None:
            with self._lock:  # loops on other threads may share this engine
                if self._closed:
                    raise RuntimeError("This LocalEngine was closed; create a new one.")
                if self._pool is None:
                    self._pool = _Pool(self.threads)
                    # An engine dropped without aclose() lets its idle threads end.
                    self._finalizer = weakref.finalize(self, self._pool.shutdown)
                dispatcher = self._dispatchers.get(loop)
                if dispatcher is None:
                    dispatcher = _Dispatcher(loop, self._pool, self.threads)
                    self._dispatchers[loop] = dispatcher
        self._last = dispatcher
        return dispatcher

    async def execute(self, call: Call) -> Any:
        __tracebackhide__ = True
        entity = call.entity
        if entity.kind is not _TASK:
            call.started()
            return await entity.run_local(call, self)
        # A task body is plain code: tasks it calls run directly, not as children (see
        # ``current_scope``: the body runs as this child, not as the scope's owner).
        if getattr(entity, "is_async", False):
            call.started()
            try:
                return await entity.fn(**call.inputs)
            except asyncio.CancelledError as exc:
                # A cancellation someone asked for (the run, a view, a timeout, a sibling
                # that failed) counts on the task; without one, the body raised it itself.
                task = asyncio.current_task()
                cancelling = getattr(task, "cancelling", None)  # Python 3.11+
                if cancelling is None or cancelling():
                    raise
                raise aborted_error(entity.interface.owner, exc) from exc
        if self._closed:
            raise RuntimeError("This LocalEngine was closed; create a new one.")
        loop = call.run._loop or asyncio.get_running_loop()  # the run's: no getpid() call
        future = loop.create_future()
        # The body sees a copy of this context: what it prints is this child's output.
        dispatcher = self._dispatcher(loop)
        dispatcher.submit(
            _Job(dispatcher, future, _copy_context(), entity.fn, call.inputs, call.started)
        )
        return await future

    async def aclose(self) -> None:
        with self._lock:
            self._closed = True
            pool, self._pool = self._pool, None
            dispatchers = list(self._dispatchers.values())
            self._dispatchers = weakref.WeakKeyDictionary()
            self._last = None
        for dispatcher in dispatchers:
            dispatcher.cancel_waiting()
        if pool is not None:
            pool.shutdown()

    async def __aenter__(self) -> LocalEngine:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


class _Job:
    """One synchronous body: what to call, in which context, and the future for its result."""

    __slots__ = ("context", "dispatcher", "fn", "future", "inputs", "started")

    def __init__(
        self,
        dispatcher: _Dispatcher,
        future: asyncio.Future[Any],
        context: contextvars.Context,
        fn: Callable[..., Any],
        inputs: dict[str, Any],
        started: Callable[[], None],
    ) -> None:
        self.dispatcher = dispatcher
        self.future = future
        self.context = context
        self.fn = fn
        self.inputs = inputs
        self.started = started


class _Dispatcher:
    """One loop's side of the thread pool: at most ``slots`` bodies of this loop at once.

    ``submit``, ``drain`` and ``cancel_waiting`` run on the loop; ``deliver`` on a worker
    thread. Holds the loop weakly (the engine keys dispatchers by loop, weakly).
    """

    __slots__ = ("done", "free", "loop", "pool", "scheduled", "waiting")

    def __init__(self, loop: asyncio.AbstractEventLoop, pool: _Pool, slots: int) -> None:
        self.loop = weakref.ref(loop)
        self.pool = pool
        self.free = slots
        self.waiting: collections.deque[_Job] = collections.deque()
        self.done: collections.deque[tuple[_Job, bool, Any]] = collections.deque()
        self.scheduled = False

    def submit(self, job: _Job) -> None:
        if self.free > 0 and not self.waiting:
            self.free -= 1
            self._start(job)
        else:
            self.waiting.append(job)  # queued: started when a body of this loop ends

    def _start(self, job: _Job) -> None:
        try:
            job.started()  # the record turns running and the timeout starts now
            self.pool.submit(job)
        except Exception as exc:  # the body cannot run: its child fails with this error
            self.free += 1
            if not job.future.done():
                job.future.set_exception(exc)

    def deliver(self, job: _Job, ok: bool, value: Any) -> None:
        """A worker finished ``job``: hand the result to the loop (any thread)."""
        self.done.append((job, ok, value))
        if self.scheduled:
            return  # a drain is already on its way and will see this one
        self.scheduled = True
        loop = self.loop()
        if loop is None or loop.is_closed():
            self.done.clear()  # nobody waits any more
            self.waiting.clear()
            return
        try:
            loop.call_soon_threadsafe(self.drain)
        except RuntimeError:  # the loop closed meanwhile
            self.done.clear()
            self.waiting.clear()

    def drain(self) -> None:
        self.scheduled = False  # before reading: a result appended after this wakes us again
        done = self.done
        while done:
            job, ok, value = done.popleft()
            self.free += 1
            future = job.future
            if not future.done():  # not cancelled meanwhile (its result is dropped)
                if ok:
                    future.set_result(value)
                elif value is _DROPPED:
                    future.cancel()
                else:
                    future.set_exception(value)
        waiting = self.waiting
        while waiting and self.free > 0:
            job = waiting.popleft()
            if not job.future.done():  # skip children cancelled while queued
                self.free -= 1
                self._start(job)

    def cancel_waiting(self) -> None:
        waiting, self.waiting = self.waiting, collections.deque()
        for job in waiting:
            job.future.cancel()


class _Pool:
    """Worker threads shared by every loop of one engine, started as needed up to ``size``."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self.threads: list[threading.Thread] = []
        self.busy = 0  # jobs submitted and not yet finished
        self.lock = threading.Lock()
        self.closed = False
        _watch_exit(self)

    def submit(self, job: _Job) -> None:
        thread = None
        with self.lock:
            if self.closed:
                raise RuntimeError("This LocalEngine was closed; create a new one.")
            self.busy += 1
            if self.busy > len(self.threads) and len(self.threads) < self.size:
                thread = threading.Thread(
                    target=_work,
                    args=(self,),
                    name=f"eagernb-task_{len(self.threads)}",
                    daemon=True,
                )
                self.threads.append(thread)
        if thread is not None:
            try:
                thread.start()
            except BaseException:  # e.g. "can't start new thread": this body does not run
                with self.lock:
                    self.busy -= 1
                    self.threads.remove(thread)
                raise
        self.jobs.put(job)

    def shutdown(self) -> None:
        """Drop queued bodies and let every thread end after its current one."""
        with self.lock:
            self.closed = True
            threads = list(self.threads)
        while True:
            try:
                job = self.jobs.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                job.dispatcher.deliver(job, False, _DROPPED)
        for _ in threads:
            self.jobs.put(None)

    def join(self) -> None:
        self.shutdown()
        for thread in list(self.threads):
            if thread.is_alive() and thread is not threading.current_thread():
                thread.join()


def _work(pool: _Pool) -> None:
    jobs = pool.jobs
    lock = pool.lock
    while True:
        job = jobs.get()
        if job is None:
            return
        try:
            value = job.context.run(_call_sync, job.fn, job.inputs)
            ok = True
        except BaseException as exc:
            value, ok = exc, False
        with lock:
            pool.busy -= 1
        job.dispatcher.deliver(job, ok, value)
        del job, value  # drop references before waiting for the next one


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
    except Exception:
        raise
    except BaseException as exc:
        # On a worker thread, SystemExit, KeyboardInterrupt (a Ctrl-C reaches only the main
        # thread) and CancelledError can only be the body's own: they fail this task, and
        # must not reach the loop, which would stop (SystemExit) or cancel (CancelledError).
        raise aborted_error(f"Task {getattr(fn, '__name__', fn)!r}", exc) from exc


_DROPPED = object()  # the result of a body that was queued when the engine closed
_pools: weakref.WeakSet[_Pool] = weakref.WeakSet()
_exit_hook = False


def _join_pools() -> None:
    # At interpreter exit, bodies already running finish first (as with a thread pool).
    for pool in list(_pools):
        pool.join()


def _watch_exit(pool: _Pool) -> None:
    global _exit_hook
    _pools.add(pool)
    if not _exit_hook:
        # threading's exit hooks run before the interpreter joins its threads; the
        # standard thread pools use the same one. Registered when the first pool starts.
        register = getattr(threading, "_register_atexit", None)
        if register is not None:
            try:
                register(_join_pools)
            except RuntimeError:  # already shutting down
                return
        _exit_hook = True


def _forget_threads(ref: weakref.ref[LocalEngine]) -> None:
    engine = ref()
    if engine is not None:
        if engine._pool is not None:
            _pools.discard(engine._pool)  # its threads and lock belong to the parent
        if engine._finalizer is not None:
            engine._finalizer.detach()
            engine._finalizer = None
        engine._pool = None
        engine._dispatchers = weakref.WeakKeyDictionary()
        engine._last = None
        engine._lock = threading.Lock()
