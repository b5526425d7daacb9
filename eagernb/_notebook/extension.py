"""``%load_ext eagernb`` and ``%unload_ext eagernb``.

Loading installs the ``%eagernb`` magic, shows a live widget for each run started in a
cell, and lets ``asyncio.run`` work in cells (see ``bridge``). Loading twice changes
nothing; unloading undoes all of it.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from typing import Any

from .._core import output
from .._core.events import Event, RunStarted, bus
from .._core.run import RunTree, runs
from . import bridge
from .cells import cells
from .links import JUPYTER_BASE_ENV
from .magics import register_magics, unregister_magics
from .options import options
from .reports import LiveReport, report_dir, save_report
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
    # What a child prints goes under its row, not into whichever cell runs; with the
    # widget off nothing would show it, so it is also written to the cell then.
    output.capture(echo=lambda: not options.widget)
    cells.install(ipython)
    _unsubscribe = bus.subscribe(on_event, runs_only=True)


def _show(run_id: str, in_kernel: bool) -> None:
    run = next((r for r in reversed(runs()) if r.id == run_id), None)
    if run is None:
        return
    # The view stays alive as long as the run: the run's event bus holds it.
    live = LiveReport(run) if os.environ.get(JUPYTER_BASE_ENV) else None
    try:
        RunView(
            run,
            widget=in_kernel and options.widget,
            summary_at_end=not in_kernel and options.widget,
            on_finish=_finished,
            on_render=_live_report(live),
        )
    except Exception:
        _log.exception("eagernb: could not show the run widget; the run goes on without it.")
        return


def _live_report(live: LiveReport | None) -> Callable[[RunView], None] | None:
    if live is None:
        return None

    def on_render(view: RunView) -> None:
        if options.reports:
            try:
                live.maybe_write()
            except Exception:
                _log.exception("eagernb: could not write the live report; the run goes on.")

    return on_render


def _finished(view: RunView) -> None:
    if options.reports and report_dir() is not None:
        # Written beside the next cell, not before this one returns: a big run's report
        # takes a while to render (about 0.1 ms per child), and the run is over.
        threading.Thread(
            target=_save, args=(view.run,), name=f"eagernb report {view.run.id}"
        ).start()


def _save(run: RunTree) -> None:
    try:
        save_report(run, background=True)
    except Exception:
        _log.exception("eagernb: could not write the report of run %s.", run.id)


def unload(ipython: Any) -> None:
    global _unsubscribe
    if _unsubscribe is None:
        return
    _unsubscribe()
    _unsubscribe = None
    bridge.uninstall()
    output.release()
    cells.uninstall()
    unregister_magics(ipython)


def loaded() -> bool:
    return _unsubscribe is not None
