"""What an execution prints becomes its output, recorded by events.

While capture is on (the notebook extension turns it on), ``sys.stdout`` and
``sys.stderr`` are wrapped: a write made inside an execution (the ``WRITER`` contextvar,
set by the launcher, and copied into the threads that run synchronous task bodies) becomes
an :class:`ExecutionOutput` event of its run instead of text in whichever cell happens to
run. Writes from anywhere else go to the original stream unchanged.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import threading
from collections.abc import Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, TextIO

from .events import new_output

if TYPE_CHECKING:
    from .run import Run

__all__ = ["WRITER", "capture", "capturing", "echo_elsewhere", "keep_elsewhere_quiet", "release"]

WRITER: ContextVar[tuple[Run, str] | None] = ContextVar("eagernb_writer", default=None)
"""The run and execution id that writes to stdout/stderr in this context belong to."""

_lock = threading.Lock()
_users = 0
_echo: Callable[[], bool] = lambda: False  # noqa: E731


class CapturedStream:
    """A text stream that records writes made inside an execution and passes on the rest."""

    def __init__(self, stream: TextIO, name: str) -> None:
        self._stream = stream
        self._name = name

    @property
    def wrapped(self) -> TextIO:
        return self._stream

    def write(self, text: str) -> int:
        target = WRITER.get()
        if target is None or not text:
            return self._stream.write(text)
        run, record_id = target
        event = new_output(run.id, record_id, self._name, text)
        loop = getattr(run, "_loop", None)
        if loop is None or asyncio._get_running_loop() is loop:
            run.emit(event)
        elif loop.is_closed():
            return self._stream.write(text)
        else:
            # A task body on a worker thread: records change on the run's loop only. Its
            # ExecutionFinished is applied on the loop after the body returns, so the
            # output still comes first.
            run._emit_from_thread(event)
        if _echo():
            self._stream.write(text)
        return len(text)

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        self._stream.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def capture(echo: Callable[[], bool] | None = None) -> None:
    """Start recording what executions print (counted: each call needs a ``release``).

    ``echo()``: whether recorded text is also written to the original stream.
    """
    global _users, _echo
    with _lock:
        _users += 1
        if echo is not None:
            _echo = echo
        for name in ("stdout", "stderr"):
            current = getattr(sys, name)
            if not isinstance(current, CapturedStream):
                setattr(sys, name, CapturedStream(current, name))


def release() -> None:
    """Undo one ``capture``; the last one puts the original streams back."""
    global _users, _echo
    with _lock:
        _users = max(0, _users - 1)
        if _users:
            return
        _echo = lambda: False  # noqa: E731
        for name in ("stdout", "stderr"):
            current = getattr(sys, name)
            if isinstance(current, CapturedStream):
                setattr(sys, name, current.wrapped)


def capturing() -> bool:
    return isinstance(sys.stdout, CapturedStream)


_elsewhere_echoed = True


def keep_elsewhere_quiet() -> None:
    """Stop ``echo_elsewhere`` in this process: a worker, whose own prints are its job's
    output, must not repeat what the children it awaits printed."""
    global _elsewhere_echoed
    _elsewhere_echoed = False


def echo_elsewhere(stream: str, text: str) -> None:
    """Text an execution printed in another process (a worker): written to this process's
    ``stream`` ("stdout" or "stderr") too, as a local child's print would be, unless
    prints are being recorded here without echo (the notebook's rows show them)."""
    if not _elsewhere_echoed or (capturing() and not _echo()):
        return
    target = getattr(sys, stream if stream in ("stdout", "stderr") else "stdout")
    if isinstance(target, CapturedStream):
        target = target.wrapped
    with contextlib.suppress(OSError, ValueError):  # a closed stream must not break the run
        target.write(text)
