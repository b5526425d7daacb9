"""Process-wide settings that code (not the notebook) reads at run time."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .engine import Engine

__all__ = ["Config", "config", "default_engine", "set_default_engine_factory"]


@dataclass
class Config:
    """Settings read when a run starts.

    ``threads``: worker threads for synchronous task bodies run locally (they are created
    only when needed). ``history``: how many finished runs a session keeps for
    ``eagernb.runs()``.
    """

    threads: int = int(os.environ.get("EAGERNB_THREADS", "128"))
    history: int = 100


config = Config()

_factory: Callable[[], Engine] | None = None
_engine: Engine | None = None
_lock = threading.Lock()


def set_default_engine_factory(factory: Callable[[], Engine]) -> None:
    global _factory
    _factory = factory


def default_engine() -> Engine:
    """The shared engine used by runs that do not name one (created on first use)."""
    global _engine
    if _engine is None:
        with _lock:
            if _engine is None:
                if _factory is None:
                    raise RuntimeError("No default engine is set; import eagernb first.")
                _engine = _factory()
    return _engine
