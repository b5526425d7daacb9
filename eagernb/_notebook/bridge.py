"""``asyncio.run`` inside a notebook cell, without patching the kernel's event loop.

A cell already runs inside the kernel's loop, where ``asyncio.run`` refuses to start. While
the extension is loaded, ``asyncio.run`` called from a thread whose loop is running hands
the coroutine to a fresh loop on a helper thread (which sees the cell's context, so output
and widgets go to the right cell) and waits for it. Unlike ``nest_asyncio``, nothing about
the kernel's loop or ``asyncio.Task`` changes, and unloading restores ``asyncio.run``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from .._core.run import run_in_helper_thread

__all__ = ["install", "installed", "uninstall"]

T = TypeVar("T")
_original: Callable[..., Any] | None = None


def _run(main: Coroutine[Any, Any, T], *, debug: bool | None = None, **kwargs: Any) -> T:
    assert _original is not None
    if asyncio._get_running_loop() is None:
        return _original(main, debug=debug, **kwargs)  # type: ignore[no-any-return]
    return run_in_helper_thread(main)  # type: ignore[no-any-return]


def install() -> None:
    global _original
    if _original is None:
        _original = asyncio.run
        asyncio.run = _run


def uninstall() -> None:
    global _original
    if _original is not None:
        asyncio.run = _original
        _original = None


def installed() -> bool:
    return _original is not None
