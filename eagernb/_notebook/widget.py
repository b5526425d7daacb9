"""The live run widget: a view over one run's events.

Events only mark the view dirty and update counters; a ticker task renders at most
``rate`` times a second, so thousands of children neither flood the frontend nor slow the
run. The ticker also wakes the loop regularly, which is what lets a kernel interrupt land
during ``await`` (see ipykernel's behaviour: an interrupt is seen only when the loop wakes).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from typing import Any

from .._core.events import (
    Event,
    ExecutionFinished,
    ExecutionQueued,
    ExecutionStarted,
    RunFinished,
)
from .._core.records import Status
from .._core.run import Run
from . import render
from .options import options

__all__ = ["RunView"]

WIDGET_MIME = "application/vnd.jupyter.widget-view+json"


class RunView:
    """Shows one run in the cell that started it and keeps it current until it ends."""

    def __init__(
        self,
        run: Run,
        *,
        widget: bool,
        summary_at_end: bool = False,
        on_finish: Callable[[RunView], None] | None = None,
    ) -> None:
        self.run = run
        self._summary_at_end = summary_at_end
        self._on_finish = on_finish
        self.counts: dict[Status, int] = dict.fromkeys(Status, 0)
        self._dirty = True
        self._finished = False
        self._loop = asyncio.get_running_loop()
        self._box: Any = None
        self._display: Any = None
        if widget:
            self._build_widget()
        self._unsubscribe = run.events.subscribe(self._on_event)
        self._ticker = self._loop.create_task(self._tick(), name=f"eagernb view {run.id}")

    # -- events (called on the run's loop; must stay cheap) ------------------------------

    def _on_event(self, event: Event) -> None:
        counts = self.counts
        if isinstance(event, ExecutionQueued):
            if event.record.parent_id is not None:
                counts[Status.QUEUED] += 1
        elif isinstance(event, ExecutionStarted):
            if event.attempt == 1 and event.id != self.run.root_id:
                counts[Status.QUEUED] -= 1
                counts[Status.RUNNING] += 1
        elif isinstance(event, ExecutionFinished):
            if event.id != self.run.root_id:
                record = self.run.records[event.id]
                counts[Status.RUNNING if record.attempts else Status.QUEUED] -= 1
                counts[event.status] += 1
        elif isinstance(event, RunFinished):
            self._loop.call_soon(self._finish)
        self._dirty = True

    # -- rendering ------------------------------------------------------------------------

    def _build_widget(self) -> None:
        import ipywidgets
        from IPython.display import display

        self._header = ipywidgets.HTML()
        self._rows = ipywidgets.HTML()
        self._cancel = ipywidgets.Button(
            description="Cancel",
            icon="stop",
            button_style="danger",
            tooltip="Cancel this run and all of its children",
            layout=ipywidgets.Layout(width="auto"),
        )
        self._cancel.on_click(self._on_cancel)
        self._box = ipywidgets.VBox(
            [ipywidgets.HBox([self._header, self._cancel]), self._rows],
        )
        self._box.add_class("eagernb-run")
        self._render()
        self._display = display(self._bundle(), raw=True, display_id=True)  # type: ignore[no-untyped-call]

    def _bundle(self) -> dict[str, Any]:
        max_rows = options.max_rows
        bundle: dict[str, Any] = {
            "text/plain": render.text_summary(self.run, self.counts, max_rows),
            "text/html": render.html_summary(self.run, self.counts, max_rows),
        }
        if self._box is not None:
            bundle[WIDGET_MIME] = {
                "version_major": 2,
                "version_minor": 0,
                "model_id": self._box.model_id,
            }
        return bundle

    def _on_cancel(self, _button: Any) -> None:
        # Clicks may be handled on another thread (comm subshells): Run.cancel is thread-safe.
        self.run.cancel("from the widget's Cancel button")

    def _render(self) -> None:
        self._dirty = False
        if self._box is None:
            return
        header = render.html_header(self.run, self.counts)
        rows = render.html_rows(self.run, options.max_rows)
        if header != self._header.value:
            self._header.value = header
        if rows != self._rows.value:
            self._rows.value = rows

    async def _tick(self) -> None:
        try:
            while not self._finished:
                await asyncio.sleep(1.0 / options.rate)
                if self._box is not None and not self._finished:
                    self._render()
        except asyncio.CancelledError:
            pass

    def _finish(self) -> None:
        if self._finished:
            return
        self._finished = True
        self._unsubscribe()
        self._ticker.cancel()
        if self._box is None:
            if self._summary_at_end:
                from IPython.display import display

                display(self._bundle(), raw=True)  # type: ignore[no-untyped-call]
            return
        self._render()
        self._cancel.disabled = True
        self._cancel.description = self.run.status.value.capitalize()
        self._cancel.icon = ""
        self._cancel.button_style = ""
        self.send_final_state()
        if self._on_finish is not None:
            self._on_finish(self)

    def send_final_state(self) -> None:
        """Send every widget's state and the text/HTML fallback again, from the current cell.

        A saved notebook keeps the final state only if it is sent while some cell runs: the
        end of a background run is re-sent from a later cell by the extension.
        """
        if self._box is None:
            return
        for widget in (self._header, self._rows, self._cancel, self._box):
            with contextlib.suppress(Exception):
                widget.send_state()
        if self._display is not None:
            with contextlib.suppress(Exception):
                self._display.update(self._bundle(), raw=True)
