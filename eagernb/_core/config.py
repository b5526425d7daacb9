"""Process-wide settings that code (not the notebook) reads at run time, and the run mode.

The mode decides which engine a top-level run uses: ``local`` (everything in this
process), ``hybrid`` (workflow bodies here, every task on the control plane) or ``remote``
(the whole run on the control plane, followed from here). Pick it per block with
``with eagernb.mode("hybrid"): ...``, per session with ``eagernb.config.mode = "hybrid"``
(``%eagernb mode=hybrid`` in a notebook), or with the ``EAGERNB_MODE`` environment variable.
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .engine import Engine
    from .entity import Entity

__all__ = [
    "MODES",
    "Config",
    "config",
    "current_mode",
    "default_engine",
    "engine_for",
    "mode",
    "register_mode",
    "set_default_engine_factory",
]

MODES = ("local", "hybrid", "remote")


@dataclass
class Config:
    """Settings read when a run starts.

    ``threads``: worker threads for synchronous task bodies run locally (they are created
    only when needed). ``history``: how many finished runs a session keeps for
    ``eagernb.runs()``. ``mode``: local, hybrid or remote. ``remote``: the control plane
    used by hybrid and remote runs of workflows that do not name one (default:
    ``Remote.auto()``, which reads ``EAGERNB_ENDPOINT`` or finds the sandbox).
    ``reports``: the folder where the notebook extension writes each run's HTML report
    (``EAGERNB_REPORTS_DIR``, default ``~/.eagernb/reports``); None or "" writes none.
    """

    threads: int = int(os.environ.get("EAGERNB_THREADS", "128"))
    history: int = 100
    mode: str = field(default_factory=lambda: os.environ.get("EAGERNB_MODE", "local"))
    remote: Any = None
    reports: str | None = field(
        default_factory=lambda: os.environ.get("EAGERNB_REPORTS_DIR", "~/.eagernb/reports")
    )

    def __setattr__(self, name: str, value: Any) -> None:
        # A mode set in code is checked at once; one from EAGERNB_MODE when a run starts.
        if name == "mode" and value not in MODES and value != os.environ.get("EAGERNB_MODE"):
            raise ValueError(
                f"eagernb mode {value!r} is not one of {', '.join(MODES)}: set "
                "eagernb.config.mode to one of them (in a notebook: %eagernb mode=hybrid)."
            )
        super().__setattr__(name, value)


config = Config()

_MODE: ContextVar[str | None] = ContextVar("eagernb_mode", default=None)
_factory: Callable[[], Engine] | None = None
_engine: Engine | None = None
_modes: dict[str, Callable[[Entity], Engine]] = {}
_lock = threading.Lock()


def set_default_engine_factory(factory: Callable[[], Engine]) -> None:
    global _factory
    _factory = factory


def register_mode(name: str, factory: Callable[[Entity], Engine]) -> None:
    """Make ``name`` a run mode whose engine ``factory(entity)`` builds."""
    _modes[name] = factory


def default_engine() -> Engine:
    """The shared local engine (created on first use)."""
    global _engine
    if _engine is None:
        with _lock:
            if _engine is None:
                if _factory is None:
                    raise RuntimeError("No default engine is set; import eagernb first.")
                _engine = _factory()
    return _engine


def current_mode() -> str:
    chosen = _MODE.get() or config.mode
    if chosen not in MODES:
        raise ValueError(
            f"eagernb mode {chosen!r} is not one of {', '.join(MODES)}. Set "
            "eagernb.config.mode (or EAGERNB_MODE) to local, hybrid or remote."
        )
    return chosen


def engine_for(entity: Entity) -> Engine:
    """The engine a top-level run of ``entity`` uses in the current mode."""
    chosen = current_mode()
    if chosen == "local":
        return default_engine()
    return _modes[chosen](entity)


@contextlib.contextmanager
def mode(name: str) -> Iterator[None]:
    """Run workflows started in this block in mode ``name`` (local, hybrid or remote)."""
    if name not in MODES:
        raise ValueError(f"eagernb mode {name!r} is not one of {', '.join(MODES)}.")
    token = _MODE.set(name)
    try:
        yield
    finally:
        _MODE.reset(token)
