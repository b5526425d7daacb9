"""The run explorer widget: a live view over one run's events.

Events only mark the view dirty; a ticker task renders at most ``rate`` times a second,
and a render touches only what changed, within one page of rows, so thousands of
children neither flood the frontend nor slow the run. The ticker also wakes the loop
regularly, which is what lets a kernel interrupt land during ``await`` (ipykernel sees an
interrupt only when the loop wakes).

Every control is a Button: ipykernel 7.4 stops syncing state-sync controls (checkboxes,
text fields) changed while an ``await`` cell runs, while button clicks keep working.
Layout::

    [header: name, status, elapsed, counts, run id]                   [Cancel]
    [all N] [queued N] ... [Collapse all] [Expand all] [Tree] [Timeline] [◀] page 1 of 3 [▶]
    [▾] [>] row 1 (tree columns, or a timeline bar; printed lines under it)
        [>] row 2 ...
    [details of the selected row]             [Cancel execution] [Close]

The first column folds and unfolds a parent row's subtree (hidden for rows without
children); paging counts only the rows left visible (see ``_views.outline``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

from .._core.events import Event, RunFinished
from .._core.records import ExecutionRecord, Status
from .._core.run import RunTree
from .._views import html as views
from .._views.outline import Folds, Line, visible
from . import render
from .cells import cells
from .links import extra_for, fetch_values, is_mirrored, page_url, remote_for_link
from .options import options

__all__ = ["RunView"]

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"
_log = logging.getLogger("eagernb")
_TREE, _TIMELINE = "tree", "timeline"


class RunView:
    """Shows one run (local, or mirrored from the control plane) and keeps it current."""

    def __init__(
        self,
        run: RunTree,
        *,
        widget: bool,
        summary_at_end: bool = False,
        on_finish: Callable[[RunView], None] | None = None,
        on_render: Callable[[RunView], None] | None = None,
    ) -> None:
        self.run = run
        self._on_render = on_render
        self._kept: asyncio.Task[Any] | None = None
        self._summary_at_end = summary_at_end
        self._on_finish = on_finish
        self._finished = False
        self._loop = asyncio.get_running_loop()
        self._box: Any = None
        self._display: Any = None
        # What the reader chose (changed by buttons, on any thread; read by renders).
        self.filter: Status | None = None
        self.mode = _TREE
        self.page = 0
        self.selected: str | None = None
        self._order: list[tuple[int, str]] = []
        self._order_size = -1
        self.folds = Folds()
        self._lines: list[Line] = []
        self._lines_key: tuple[int, int] | None = None
        self._slot_lines: list[Line] = []
        self._page_size = options.page_size
        self._shown_details: tuple[Any, ...] | None = None
        if widget:
            self._build_widget()
        if run.status.is_final and run.ended_at is not None:
            self._loop.call_soon(self._finish)
            self._ticker: asyncio.Task[None] | None = None
            self._unsubscribe: Callable[[], None] = lambda: None
        else:
            # Rows are redrawn from the records on each tick: only the run's end is heard.
            self._unsubscribe = run.events.subscribe(self._on_event, runs_only=True)
            self._ticker = self._loop.create_task(self._tick(), name=f"eagernb view {run.id}")

    # -- events (called on the run's loop; must stay cheap) ------------------------------

    def _on_event(self, event: Event) -> None:
        if isinstance(event, RunFinished):
            self._loop.call_soon(self._finish)

    # -- building -------------------------------------------------------------------------

    def _build_widget(self) -> None:
        import ipywidgets as w
        from IPython.display import display

        self._w = w
        self._looks: dict[str, Any] = {}
        html_style = self._shared("html", _html_style)
        self._style = w.HTML(
            f"<style>{views.STYLESHEET}</style>", layout=w.Layout(display="none"), style=html_style
        )
        self._header = w.HTML(layout=w.Layout(flex="1 1 auto"), style=html_style)
        self._cancel = self._button(
            "Cancel", self._on_cancel, icon="stop", button_style="danger",
            tooltip="Cancel this run and all of its children", _dom_classes=("eagernb-cancel-run",),
        )  # fmt: skip
        self._filters: dict[Status | None, Any] = {}
        for status in (None, *Status):
            button = self._button(
                "", self._on_filter, tooltip="Show only this status",
                _dom_classes=("eagernb-filter",),
            )  # fmt: skip
            button.eagernb_status = status
            self._filters[status] = button
        self._filters[None].tooltip = "Show every execution"
        self._tree_button = self._button("Tree", self._on_mode, tooltip="Rows as a tree")
        self._timeline_button = self._button(
            "Timeline", self._on_mode, tooltip="One bar per execution over time"
        )
        self._collapse_all = self._button(
            "Collapse all", self._on_fold_all, icon="compress",
            tooltip="Fold every subtree below the top level",
        )  # fmt: skip
        self._expand_all = self._button(
            "Expand all", self._on_fold_all, icon="expand", tooltip="Unfold every subtree"
        )
        self._prev = self._button("◀", self._on_page, tooltip="Previous page")
        self._next = self._button("▶", self._on_page, tooltip="Next page")
        self._page_label = w.HTML(layout=self._shared("auto", _auto_layout), style=html_style)
        controls = w.HBox(
            [
                *self._filters.values(),
                w.HTML(layout=w.Layout(flex="1 1 auto", width="auto"), style=html_style),
                self._collapse_all,
                self._expand_all,
                self._tree_button,
                self._timeline_button,
                self._prev,
                self._page_label,
                self._next,
            ],
            layout=w.Layout(flex_flow="row wrap", align_items="center"),
        )
        cell_layout = self._shared("cell", lambda: w.Layout(width="auto", margin="0"))
        self._columns = w.HTML(layout=cell_layout, style=html_style)
        self._corner_fold = w.HTML(layout=w.Layout(width="22px", margin="0"), style=html_style)
        self._corner = w.HTML(layout=w.Layout(width="28px", margin="0"), style=html_style)
        self._slots: list[tuple[Any, Any, Any]] = []
        # Every row widget is made now, in the cell that starts the run: a widget created
        # later by a background run would be missing from the notebook's saved state.
        self._slot(self._page_size - 1)
        self._grid = w.GridBox(
            [],
            layout=w.Layout(
                grid_template_columns="22px 30px minmax(0, 1fr)",
                grid_gap="0px 2px",
                width="100%",
            ),
            _dom_classes=("eagernb-rows",),
        )
        self._details = w.HTML(layout=self._shared("auto", _auto_layout), style=html_style)
        self._cancel_one = self._button(
            "Cancel execution", self._on_cancel_one, icon="stop", button_style="warning",
            tooltip="Cancel the selected execution and its children; its parent goes on",
            _dom_classes=("eagernb-cancel-one",),
        )  # fmt: skip
        self._close = self._button("Close", self._on_close, tooltip="Hide the details")
        self._details_box = w.VBox(
            [self._details, w.HBox([self._cancel_one, self._close])],
            layout=w.Layout(display="none", width="100%"),
        )
        self._box = w.VBox(
            [
                self._style,
                w.HBox([self._header, self._cancel], layout=w.Layout(align_items="center")),
                controls,
                self._grid,
                self._details_box,
            ],
            layout=w.Layout(width="100%"),
            _dom_classes=("eagernb-run",),
        )
        cells.view_created(self)
        self._render()
        self._display = display(self._bundle(), raw=True, display_id=True)  # type: ignore[no-untyped-call]

    def _shared(self, name: str, make: Callable[[], Any]) -> Any:
        """One Layout or style widget shared by every widget that looks alike: each widget
        made is a comm opened with the kernel, so a row costs 3 of them instead of 9."""
        found = self._looks.get(name)
        if found is None:
            found = self._looks[name] = make()
        return found

    def _button(self, description: str, handler: Callable[[Any], None], **kwargs: Any) -> Any:
        w = self._w
        button = w.Button(
            description=description,
            layout=self._shared("auto", _auto_layout),
            style=self._shared("button", w.ButtonStyle),
            **kwargs,
        )
        button.on_click(lambda b: self._clicked(handler, b))
        return button

    def _slot(self, index: int) -> tuple[Any, Any, Any]:
        w = self._w
        while len(self._slots) <= index:
            fold = w.Button(
                icon="caret-down",
                tooltip="Collapse this subtree",
                layout=self._shared(
                    "fold",
                    lambda: w.Layout(width="22px", height="22px", padding="0", margin="1px 0"),
                ),
                style=self._shared("button", w.ButtonStyle),
                # eagernb-nofold hides it; rows with children drop that class
                _dom_classes=("eagernb-fold", "eagernb-nofold"),
            )
            fold.eagernb_slot = len(self._slots)
            fold.on_click(lambda b: self._clicked(self._on_fold, b))
            button = w.Button(
                icon="chevron-right",
                tooltip="Show this execution's details",
                layout=self._shared(
                    "select",
                    lambda: w.Layout(width="28px", height="22px", padding="0", margin="1px 0"),
                ),
                style=self._shared("button", w.ButtonStyle),
                _dom_classes=("eagernb-select",),
            )
            button.eagernb_slot = len(self._slots)
            button.on_click(lambda b: self._clicked(self._on_select, b))
            cell = w.HTML(
                layout=self._shared("cell", lambda: w.Layout(width="auto", margin="0")),
                style=self._shared("html", _html_style),
            )
            self._slots.append((fold, button, cell))
        return self._slots[index]

    def _bundle(self) -> dict[str, Any]:
        max_rows = options.max_rows
        counts = self.run.counts()
        bundle: dict[str, Any] = {
            "text/plain": render.text_summary(self.run, counts, max_rows),
            "text/html": render.html_summary(self.run, counts, max_rows),
        }
        if self._box is not None:
            bundle[WIDGET_MIME] = {
                "version_major": 2,
                "version_minor": 0,
                "model_id": self._box.model_id,
            }
        return bundle

    # -- clicks (may arrive on another thread: hand them to the loop) ----------------------

    def _clicked(self, handler: Callable[[Any], None], button: Any) -> None:
        def run() -> None:
            try:
                handler(button)
                if self._box is not None:
                    self._render()
            except Exception:
                _log.exception("eagernb: the explorer could not handle a click.")

        if self._loop.is_closed():
            return
        self._loop.call_soon_threadsafe(run)

    def _on_cancel(self, _button: Any) -> None:
        cancel = getattr(self.run, "cancel", None)
        if cancel is not None and cancel("from the widget's Cancel button"):
            return
        if not self.run.cancel_execution(self.run.root_id):
            self._cancel_remote(self.run.root_id)

    def _on_cancel_one(self, _button: Any) -> None:
        rid = self.selected
        if rid is None:
            return
        if not self.run.cancel_execution(rid):
            self._cancel_remote(rid)

    def _cancel_remote(self, rid: str) -> None:
        link = self.run.links.get(rid)
        if link is None:
            return
        remote = remote_for_link(link)

        async def cancel() -> None:
            try:
                await remote.acancel(link.execution_id)
            except Exception:
                _log.exception("eagernb: could not cancel execution %s", link.execution_id)

        self._loop.create_task(cancel())

    def _on_filter(self, button: Any) -> None:
        status = button.eagernb_status
        self.filter = None if status == self.filter else status
        self.page = 0

    def _on_mode(self, button: Any) -> None:
        self.mode = _TIMELINE if button is self._timeline_button else _TREE

    def _on_page(self, button: Any) -> None:
        self.page += 1 if button is self._next else -1

    def _on_fold(self, button: Any) -> None:
        index = button.eagernb_slot
        if index < len(self._slot_lines) and self._slot_lines[index].parent:
            self.folds.toggle(self._slot_lines[index].id)

    def _on_fold_all(self, button: Any) -> None:
        if button is self._collapse_all:
            self.folds.collapse_all()
        else:
            self.folds.expand_all()
        self.page = 0

    def _on_select(self, button: Any) -> None:
        index = button.eagernb_slot
        if index < len(self._slot_lines):
            rid = self._slot_lines[index].id
            self.selected = None if rid == self.selected else rid
            record = self.run.records.get(rid)
            if self.selected is not None and record and is_mirrored(self.run, record):
                self._loop.create_task(self._fetch(rid), name=f"eagernb fetch {rid}")

    async def _fetch(self, rid: str) -> None:
        link = self.run.links[rid]
        try:
            await fetch_values(link)
        except Exception:
            _log.exception("eagernb: could not load execution %s", link.execution_id)
            return
        self._shown_details = None
        if self.selected == rid:
            self._render_details()

    def _on_close(self, _button: Any) -> None:
        self.selected = None

    # -- rendering ------------------------------------------------------------------------

    def _entries(self) -> list[Line]:
        """The rows left visible by the folds and the filter (see ``_views.outline``)."""
        run = self.run
        if self._order_size != len(run.records):
            self._order = views.order(run)
            self._order_size = len(run.records)
        if self.filter is not None:  # statuses change between renders: no cache
            return visible(self._order, run.records, run.children, self.folds, (self.filter,))
        key = (self._order_size, self.folds.version)
        if key != self._lines_key:
            self._lines = visible(self._order, run.records, run.children, self.folds)
            self._lines_key = key
        return self._lines

    def _render(self) -> None:
        if self._box is None:
            return
        run = self.run
        counts = run.counts()
        _set(self._header, "value", views.header(run, counts, page_url(run)))
        total = sum(counts.values())
        for status, button in self._filters.items():
            if status is None:
                text = f"all {total}"
            else:
                text = f"{views.ICONS[status]} {status.value} {counts[status]}"
            _set(button, "description", text)
            _set(button, "button_style", "info" if status == self.filter else "")
        _set(self._tree_button, "button_style", "info" if self.mode == _TREE else "")
        _set(self._timeline_button, "button_style", "info" if self.mode == _TIMELINE else "")
        entries = self._entries()
        size = self._page_size
        pages = max(1, -(-len(entries) // size))
        self.page = min(max(self.page, 0), pages - 1)
        shown = entries[self.page * size : (self.page + 1) * size]
        _set(self._page_label, "value", f"&nbsp;page {self.page + 1} of {pages}&nbsp;")
        _set(self._prev, "disabled", self.page == 0)
        _set(self._next, "disabled", self.page >= pages - 1)
        self._render_rows(shown)
        self._render_details()

    def _render_rows(self, shown: list[Line]) -> None:
        run, records = self.run, self.run.records
        timeline = self.mode == _TIMELINE
        now = views.now_of(run)
        columns = views.timeline_axis(run, now) if timeline else views.rows_head()
        _set(self._columns, "value", f'<div class="enb">{columns}</div>')
        for index, line in enumerate(shown):
            fold, button, cell = self._slot(index)
            record = records[line.id]
            selected = line.id == self.selected
            kwargs: dict[str, Any] = {"selected": selected, "now": now, "line": line}
            if timeline:
                html = views.timeline_row(run, record, line.depth, toggle=False, **kwargs)
            else:
                html = views.row(run, record, line.depth, toggle=False, **kwargs)
            _set(cell, "value", f'<div class="enb">{html}</div>')
            _set(button, "button_style", "info" if selected else "")
            _set(button, "icon", "chevron-down" if selected else "chevron-right")
            if line.parent == ("eagernb-nofold" in fold._dom_classes):
                (fold.remove_class if line.parent else fold.add_class)("eagernb-nofold")
            if line.parent:
                _set(fold, "icon", "caret-down" if line.open else "caret-right")
                tip = (
                    "Collapse this subtree"
                    if line.open
                    else f"Expand this subtree ({line.hidden} inside)"
                )
                _set(fold, "tooltip", tip)
        self._slot_lines = list(shown)
        children = [self._corner_fold, self._corner, self._columns]
        for index in range(len(shown)):
            children.extend(self._slots[index])
        current = self._grid.children
        if len(children) != len(current) or any(
            a is not b for a, b in zip(children, current, strict=True)
        ):
            self._grid.children = children

    def _render_details(self) -> None:
        rid = self.selected
        record: ExecutionRecord | None = None if rid is None else self.run.records.get(rid)
        if rid is None or record is None:
            _set(self._details_box.layout, "display", "none")
            self._shown_details = None
            return
        key = (rid, record, len(self.run.outputs.get(rid, ())), _output_size(self.run, rid))
        if key != self._shown_details:
            self._shown_details = key
            extra = extra_for(self.run, record)
            _set(self._details, "value", views.details(self.run, record.id, extra))
        _set(self._cancel_one, "disabled", record.status.is_final)
        _set(self._details_box.layout, "display", "flex")

    async def _tick(self) -> None:
        try:
            while not self._finished:
                await asyncio.sleep(1.0 / options.rate)
                if self._box is not None and not self._finished:
                    self._render()
                    if self._on_render is not None:
                        self._on_render(self)
        except asyncio.CancelledError:
            pass

    def _finish(self) -> None:
        if self._finished:
            return
        self._finished = True
        self._unsubscribe()
        if self._ticker is not None:
            self._ticker.cancel()
        if self._box is None:
            if self._summary_at_end:
                from IPython.display import display

                display(self._bundle(), raw=True)  # type: ignore[no-untyped-call]
            if self._on_finish is not None:
                self._on_finish(self)
            return
        self._render()
        with self._cancel.hold_sync():  # one message for the four changes
            self._cancel.disabled = True
            self._cancel.description = self.run.status.value.capitalize()
            self._cancel.icon = ""
            self._cancel.button_style = ""
        # Every change above went out as it was made; a run that ends after its cell has
        # its whole state sent again from the next cell (see ``extension._Cells``).
        self._update_display()
        cells.view_finished(self)
        if self._on_finish is not None:
            self._on_finish(self)

    def select(self, record_id: str) -> None:
        """Show ``record_id``'s details and turn to the page that lists it."""
        self.selected = record_id
        self.filter = None
        self.folds.reveal(record_id, self.run.records)
        ids = [line.id for line in self._entries()]
        if record_id in ids:
            self.page = ids.index(record_id) // self._page_size
        self._render()

    def keep(self, task: asyncio.Task[Any]) -> None:
        """Hold a reference to the task that feeds this view (a remote run being followed)."""
        self._kept = task

    @property
    def finished(self) -> bool:
        return self._finished

    def send_final_state(self) -> None:
        """Send every widget's state and the text/HTML fallback again, from the current cell.

        A saved notebook keeps the final state only if it is sent while some cell runs: the
        end of a background run is re-sent from a later cell by the extension.
        """
        if self._box is None:
            return
        for widget in self._widgets():
            with contextlib.suppress(Exception):
                widget.send_state()
        self._update_display()

    def _update_display(self) -> None:
        """Refresh the text and HTML shown where widgets cannot be (a saved notebook)."""
        if self._display is not None:
            with contextlib.suppress(Exception):
                self._display.update(self._bundle(), raw=True)

    def _widgets(self) -> list[Any]:
        found: list[Any] = []
        stack = [self._box, self._details_box]
        seen: set[int] = set()
        while stack:
            widget = stack.pop()
            if id(widget) in seen:
                continue
            seen.add(id(widget))
            found.append(widget)
            stack.extend(getattr(widget, "children", ()))
        found.extend(part for slot in self._slots for part in slot if id(part) not in seen)
        return found[::-1]


def _set(widget: Any, name: str, value: Any) -> None:
    """Change a trait only when its value differs: every change is a message to the browser."""
    if getattr(widget, name) != value:
        setattr(widget, name, value)


def _output_size(run: RunTree, rid: str) -> int:
    pieces = run.outputs.get(rid)
    return len(pieces[-1][1]) if pieces else 0


def _auto_layout() -> Any:
    from ipywidgets import Layout

    return Layout(width="auto")


def _html_style() -> Any:
    from ipywidgets.widgets.widget_string import HTMLStyle  # not exported by ipywidgets

    return HTMLStyle()
