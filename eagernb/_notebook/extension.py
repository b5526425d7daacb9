"""``%load_ext eagernb`` and ``%unload_ext eagernb``.

Loading installs the ``%eagernb`` magic, shows a live widget for each run started in a
cell, and lets ``asyncio.run`` work in cells (see ``bridge``). Loading twice changes
nothing; unloading undoes all of it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from .._core.events import Event, RunStarted, bus
from .._core.run import runs
from . import bridge
from .magics import register_magics, unregister_magics
from .options import options
from .widget import RunView

__all__ = ["load", "loaded", "unload"]

_log = logging.getLogger("eagernb")
_unsubscribe: Callable[[], None] | None = None


def _in_kernel(ipython: Any) -> bool:
    return getattr(ipython, "kernel", None) is not None


def load(ipython: Any) -> None:
    global _unsubscribe
    if _unsubscribe is not None:
        return
    in_kernel = _in_kernel(ipython)

    def on_event(event: Event) -> None:
        if isinstance(event, RunStarted):
            _show(event.run_id, in_kernel)

    register_magics(ipython)
    bridge.install()
    _unsubscribe = bus.subscribe(on_event)


def _show(run_id: str, in_kernel: bool) -> None:
    run = next((r for r in reversed(runs()) if r.id == run_id), None)
    if run is None:
        return
    # The view stays alive as long as the run: the run's event bus holds it.
    try:
        RunView(
            run, widget=in_kernel and options.widget, summary_at_end=not in_kernel and options.widget
        )
    except Exception:
        _log.exception("eagernb: could not show the run widget; the run goes on without it.")


def unload(ipython: Any) -> None:
    global _unsubscribe
    if _unsubscribe is None:
        return
    _unsubscribe()
    _unsubscribe = None
    bridge.uninstall()
    unregister_magics(ipython)


def loaded() -> bool:
    return _unsubscribe is not None
