"""Each run's HTML report, written to ``config.reports`` when the run ends.

One self-contained file per run (``RUN_ID.html``, no network needed to view it) with
the tree, the timeline and every execution's details, and a small ``RUN_ID.json`` that
lists it. While a run goes on under a Jupyter server with eagernb's extension, the file
is also rewritten now and then, so the explorer page there follows the run.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

from .._core.config import config
from .._core.run import RunTree
from .._views import page
from .links import extra_for

__all__ = ["LiveReport", "report_dir", "save_report"]

_REFRESH_MS = 2000


def report_dir() -> Path | None:
    """Where reports go, or None when they are switched off."""
    folder = config.reports
    if not folder:
        return None
    return Path(os.path.expanduser(folder))


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written beside and renamed: a reader never sees half a file.
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def save_report(tree: RunTree, path: str | os.PathLike[str] | None = None) -> Path:
    """Write ``tree``'s report to ``path`` (default: ``config.reports/RUN_ID.html``)."""
    live = None if tree.status.is_final else {"refresh": _REFRESH_MS}
    text = page.document(tree, lambda r: extra_for(tree, r), live=live)
    if path is None:
        folder = report_dir()
        if folder is None:
            raise ValueError(
                "Reports are switched off (eagernb.config.reports is empty): pass a path, or "
                "set eagernb.config.reports to a folder."
            )
        target = folder / f"{tree.id}.html"
        _write(target, text)
        _write(folder / f"{tree.id}.json", json.dumps(page.summary(tree)))
        return target
    target = Path(path)
    _write(target, text)
    return target


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
