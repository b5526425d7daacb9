"""Live progress of a run in the terminal: a subscriber to the run's events.

One line when a child is launched and one when it finishes, indented by depth::

      → add_one (task) x=10
      ✓ add_one (task) succeeded in 12 ms
      → double (task) x=11
      ✓ double (task) succeeded in 9 ms
    ✓ simple_eager_workflow succeeded in 0.3 s; children: 2 succeeded

Plain lines, whether or not the output is a terminal, so logs and pipes read the same.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TextIO

from .._core.events import (
    Event,
    ExecutionFinished,
    ExecutionQueued,
    ExecutionRetrying,
    RunFinished,
)
from .._core.interface import preview
from .._core.records import Status
from .._core.run import Run

__all__ = ["Progress", "seconds"]

_ICONS: Mapping[Status | str, str] = {
    Status.QUEUED: "○", Status.RUNNING: "◐", Status.SUCCEEDED: "✓", Status.FAILED: "✗",
    Status.CANCELLED: "⊘", "launched": "→", "retrying": "↻",
}  # fmt: skip
_ASCII: Mapping[Status | str, str] = {
    Status.QUEUED: ".", Status.RUNNING: "~", Status.SUCCEEDED: "+", Status.FAILED: "x",
    Status.CANCELLED: "-", "launched": ">", "retrying": "r",
}  # fmt: skip


def seconds(value: float) -> str:
    """``12 ms``, ``3.4 s``, ``2.5 min``."""
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 120:
        return f"{value:.1f} s"
    return f"{value / 60:.1f} min"


def icons_for(out: TextIO) -> Mapping[Status | str, str]:
    """Symbols ``out`` can encode (ASCII ones for a pipe in a legacy code page)."""
    try:
        "".join(_ICONS.values()).encode(out.encoding or "ascii")
    except (LookupError, UnicodeEncodeError):
        return _ASCII
    return _ICONS


class Progress:
    """Print the launches and ends of ``run``'s children to ``out`` as they happen."""

    def __init__(self, run: Run, out: TextIO) -> None:
        self.run = run
        self.out = out
        self.icons = icons_for(out)
        self.closed = False
        self._depth: dict[str, int] = {}

    def __call__(self, event: Event) -> None:
        if isinstance(event, ExecutionQueued):
            record = event.record
            depth = 0 if record.parent_id is None else self._depth.get(record.parent_id, 0) + 1
            self._depth[record.id] = depth
            if depth:
                inputs = ", ".join(f"{k}={preview(v, 30)}" for k, v in record.inputs.items())
                kind = record.kind.value
                self._line(depth, f"{self.icons['launched']} {record.name} ({kind}) {inputs}")
        elif isinstance(event, ExecutionRetrying):
            record = self.run.records[event.id]
            self._line(
                self._depth.get(event.id, 1),
                f"{self.icons['retrying']} {record.name} attempt {event.attempt} failed "
                f"({_one_line(str(event.error))}); retrying",
            )
        elif isinstance(event, ExecutionFinished):
            depth = self._depth.get(event.id, 1)
            if depth == 0:
                return  # the root: the run's own line says it
            record = self.run.records[event.id]
            text = f"{self.icons[event.status]} {record.name} ({record.kind.value}) {event.status}"
            if record.duration is not None:
                text += f" in {seconds(max(0.0, record.duration))}"
            if record.error is not None:
                text += f": {_one_line(str(record.error))}"
            elif event.status is Status.SUCCEEDED and record.output is not None:
                text += f" → {preview(record.output, 30)}"
            self._line(depth, text)
        elif isinstance(event, RunFinished):
            run = self.run
            elapsed = (run.ended_at or time.time()) - (run.started_at or time.time())
            counts = ", ".join(f"{n} {s.value}" for s, n in run.counts().items() if n)
            self._line(
                0,
                f"{self.icons[event.status]} {run.name} {event.status} in "
                f"{seconds(max(0.0, elapsed))}; children: {counts or 'none'}",
            )

    def _line(self, depth: int, text: str) -> None:
        line = f"{'  ' * depth}{text.rstrip()}\n"
        if self.icons is not _ICONS:  # an output that cannot show every character
            encoding = self.out.encoding or "ascii"
            line = line.encode(encoding, "replace").decode(encoding)
        if self.closed:
            return
        try:
            self.out.write(line)
            self.out.flush()
        except (BrokenPipeError, ValueError):  # its reader went away (`... 2>&1 | head`)
            self.closed = True  # the run goes on; only the progress lines stop


def _one_line(text: str, limit: int = 120) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
