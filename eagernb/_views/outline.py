"""Which rows of a run's tree a view shows: collapsed subtrees and status filters.

A parent row (one with children) can be collapsed: its descendants are left out and the
row says how many it hides. A status filter keeps the rows in those statuses and, so the
path to each stays visible, their ancestors too, marked ``context``. The two compose: a
collapsed row whose hidden descendants match the filter is shown (as context, unless it
matches itself) with the number of matches it hides.

No subtree starts collapsed: a large fan-out is paged, not folded away, so a failure is
never hidden unseen and rows do not jump while a run goes on. "Collapse all" folds every
subtree but the root's (new parents appearing later start folded too, until "Expand all").

The notebook widget computes the visible rows here; the HTML pages do the same in their
inline script (``page._SCRIPT``), from the rows' ``data-depth`` and ``data-status``.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field

from .._core.records import ExecutionRecord, Status

__all__ = ["Folds", "Line", "visible"]


@dataclass(slots=True)
class Line:
    """One shown row: where it is, whether it has children and is open, what it hides."""

    depth: int
    id: str
    parent: bool = False  # it has children (it gets a ▸/▾ toggle)
    open: bool = True
    hidden: int = 0  # descendants left out by its fold (matching the filter, if any)
    context: bool = False  # shown only because a descendant matches the filter
    shown: bool = field(default=False, repr=False)


@dataclass
class Folds:
    """Which subtrees are collapsed: a default for parents below the root, and exceptions."""

    closed_by_default: bool = False
    flipped: set[str] = field(default_factory=set)
    version: int = 0  # bumped on every change (views cache their rows on it)

    def is_open(self, record_id: str, depth: int) -> bool:
        default_open = depth == 0 or not self.closed_by_default
        return default_open != (record_id in self.flipped)

    def toggle(self, record_id: str) -> None:
        self.flipped.symmetric_difference_update((record_id,))
        self.version += 1

    def reveal(self, record_id: str, records: Mapping[str, ExecutionRecord]) -> None:
        """Open every collapsed ancestor of ``record_id``, so its row shows."""
        chain: list[str] = []
        parent = records[record_id].parent_id if record_id in records else None
        while parent is not None and parent in records:
            chain.append(parent)
            parent = records[parent].parent_id
        for depth, rid in enumerate(reversed(chain)):
            if not self.is_open(rid, depth):
                self.toggle(rid)

    def collapse_all(self) -> None:
        self.closed_by_default, self.flipped = True, set()
        self.version += 1

    def expand_all(self) -> None:
        self.closed_by_default, self.flipped = False, set()
        self.version += 1


def visible(
    entries: Sequence[tuple[int, str]],
    records: Mapping[str, ExecutionRecord],
    children: Mapping[str | None, Sequence[str]],
    folds: Folds | None = None,
    statuses: Collection[Status] | None = None,
) -> list[Line]:
    """The rows to show, in order, of ``entries`` ((depth, id) depth-first: ``html.order``).

    One pass, so a 10,000-row run costs milliseconds.
    """
    wanted = None if statuses is None else frozenset(statuses)
    out: list[Line] = []
    stack: list[Line] = []  # the current row's ancestors, and it
    fold: Line | None = None  # the collapsed row whose descendants are being skipped

    def reveal() -> None:  # show the rows on the stack not shown yet (a match's path)
        for line in stack:
            if not line.shown:
                line.shown = True
                out.append(line)

    for depth, rid in entries:
        hit = wanted is None or records[rid].status in wanted
        if fold is not None:
            if depth > fold.depth:
                if hit:
                    fold.hidden += 1
                    if not fold.shown:
                        reveal()
                continue
            fold = None
        while stack and stack[-1].depth >= depth:
            stack.pop()
        parent = bool(children.get(rid))
        is_open = not parent or folds is None or folds.is_open(rid, depth)
        line = Line(depth, rid, parent, is_open, context=not hit)
        stack.append(line)
        if hit:
            reveal()
        if not is_open:
            fold = line
    return out
