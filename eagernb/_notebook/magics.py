"""The ``%eagernb`` line magic.

::

    %eagernb                     show the options
    %eagernb widget=off rate=2   set options (mode=local|hybrid|remote picks where runs go)
    %eagernb runs                list this session's runs
    %eagernb explore [ID]        the explorer for a run (default: the latest), remote ids too
"""

from __future__ import annotations

import time
from typing import Any

from .._core.config import MODES, config
from .._core.run import runs
from .options import options

__all__ = ["eagernb_magic", "register_magics", "unregister_magics"]

_USAGE = (
    "Usage: `%eagernb` shows the options, `%eagernb NAME=VALUE ...` sets them "
    "(e.g. `%eagernb mode=hybrid widget=off rate=2 max_rows=500`), `%eagernb runs` lists runs, "
    "`%eagernb explore [ID]` opens the explorer."
)


def eagernb_magic(line: str) -> None:
    try:
        _magic(line)
    except ValueError as exc:
        # IPython shows a UsageError as its message alone, without a traceback.
        from IPython.core.error import UsageError

        raise UsageError(f"{exc} {_USAGE}" if _USAGE not in str(exc) else str(exc)) from None


def _magic(line: str) -> None:
    words = line.split()
    if not words:
        print(_describe())
        return
    if words[0] == "runs":
        print(_runs_table())
        return
    if words[0] == "explore":
        from .explore import explore

        if len(words) > 2:
            raise ValueError("`%eagernb explore` takes one run or execution id at most.")
        try:
            explore(words[1] if len(words) == 2 else None)
        except LookupError as exc:
            raise ValueError(str(exc)) from None
        return
    pending: list[tuple[str, str]] = []
    for word in words:
        name, sep, value = word.partition("=")
        if not sep or not value:
            raise ValueError(f"{word!r} is not an option setting. {_USAGE}")
        pending.append((name, value))
    for name, value in pending:
        if name == "mode":
            if value not in MODES:
                raise ValueError(f"eagernb mode {value!r} is not one of {', '.join(MODES)}.")
            config.mode = value
        else:
            options.set(name, value)
    print(_describe())


def _describe() -> str:
    return f"eagernb options: mode={config.mode}  {options.describe()}"


def _runs_table() -> str:
    rows = runs()
    if not rows:
        return "No runs yet in this session."
    head = f"{'run id':<16} {'workflow':<32} {'status':<10} {'children':>8}  {'started':<8}  mode"
    lines = [head]
    for run in reversed(rows):
        started = (
            time.strftime("%H:%M:%S", time.localtime(run.started_at)) if run.started_at else ""
        )
        lines.append(
            f"{run.id:<16} {run.name[:32]:<32} {run.status.value:<10} "
            f"{max(len(run.records) - 1, 0):>8}  {started:<8}  {_mode(run)}"
        )
    lines.append("Open one with eagernb.explore(RUN_ID) or %eagernb explore RUN_ID.")
    return "\n".join(lines)


def _mode(run: Any) -> str:
    engine = getattr(run, "engine", None)
    if getattr(engine, "whole_run", False):
        return "remote"
    return "hybrid" if hasattr(engine, "remote") else "local"


def register_magics(ipython: Any) -> None:
    ipython.register_magic_function(eagernb_magic, magic_kind="line", magic_name="eagernb")


def unregister_magics(ipython: Any) -> None:
    ipython.magics_manager.magics["line"].pop("eagernb", None)
