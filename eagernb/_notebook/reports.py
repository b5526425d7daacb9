"""Each run's HTML report, written to ``config.reports`` when the run ends.

The file itself (``RUN_ID.html`` and ``RUN_ID.json``, see ``_views.report``) is what
``eagernb run`` writes too; here its details get the notebook's extras (values loaded from
the control plane, the Jupyter server's explorer page). While a run goes on under a
Jupyter server with eagernb's extension, the file is also rewritten now and then, so the
explorer page there follows the run.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

from .._core.run import RunTree
from .._views.report import report_dir, write_report
from .cells import cells
from .links import extra_for

__all__ = ["LiveReport", "report_dir", "save_report"]

_REFRESH_MS = 2000
_YIELD_EVERY = 4  # executions rendered between hand-overs while the kernel is idle
_PAUSE = 0.001  # seconds paused before each execution while a cell runs


def save_report(
    tree: RunTree, path: str | os.PathLike[str] | None = None, *, background: bool = False
) -> Path:
    """Write ``tree``'s report to ``path`` (default: ``config.reports/RUN_ID.html``).

    ``background``: written on a thread of its own while the kernel goes on. While a cell
    runs it pauses a millisecond before each execution it renders, so the cell runs at
    nearly full speed and the report is written mostly while the kernel is idle.
    """
    live = None if tree.status.is_final else {"refresh": _REFRESH_MS}
    done = 0

    def pace() -> None:
        # Sleeping releases the GIL: a waiting thread takes it. While a cell runs the
        # report yields before each execution and pauses (it gets a few percent of the
        # interpreter); while the kernel is idle it only hands over now and then.
        nonlocal done
        done += 1
        if cells.running:
            time.sleep(_PAUSE)
        elif done % _YIELD_EVERY == 0:
            time.sleep(0)

    return write_report(
        tree, path, lambda r: extra_for(tree, r), live=live, pace=pace if background else None
    )


class LiveReport:
    """Rewrites a running run's report, taking at most 5% of the time between writes."""

    def __init__(self, tree: RunTree) -> None:
        self.tree = tree
        self._next = 0.0

    def maybe_write(self) -> None:
        now = time.monotonic()
        if now < self._next or report_dir() is None:
            return
        started = time.monotonic()
        save_report(self.tree)
        took = time.monotonic() - started
        self._next = time.monotonic() + max(_REFRESH_MS / 1000, 20 * took)
