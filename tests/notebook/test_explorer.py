"""The explorer widget in process (no kernel): paging, filters, selection, cost per render."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from eagernb import eager, task
from eagernb._core.records import Status
from eagernb._notebook.widget import RunView
from tests.core.support import latest_run_of

from . import explorer_state


@task
async def item(i: int) -> int:
    if i % 1000 == 7:
        raise ValueError(f"item {i} is bad")
    return i


@eager
async def ten_thousand(n: int) -> int:
    done = await asyncio.gather(*(item(i=i) for i in range(n)), return_exceptions=True)
    return sum(x for x in done if isinstance(x, int))


def comms_of(view: RunView) -> dict[str, dict[str, Any]]:
    """The widget states as ``explorer_state`` reads them from a kernel's messages."""
    states: dict[str, dict[str, Any]] = {}
    for widget in view._widgets():
        states[widget.model_id] = widget.get_state()  # children as "IPY_MODEL_<id>"
    return states


@pytest.fixture(scope="module")
def explored() -> tuple[Any, RunView]:
    async def main() -> tuple[Any, RunView]:
        await ten_thousand(n=10_000)
        run = latest_run_of(ten_thousand)
        view = RunView(run, widget=True)
        await asyncio.sleep(0)  # the view settles a finished run on the next loop turn
        return run, view

    return asyncio.run(main())


def test_a_run_with_ten_thousand_children_shows_one_page(explored: tuple[Any, RunView]) -> None:
    run, view = explored
    assert view.finished
    comms = comms_of(view)
    rows = explorer_state.rows(comms)
    assert len(rows) == 20 and rows[0][0] == run.root_id
    header = explorer_state.headers(comms)[-1]
    assert "10000 child executions" in header and "9990 succeeded" in header
    started = time.perf_counter()
    for _ in range(10):
        view._render()
    per_render = (time.perf_counter() - started) / 10
    assert per_render < 0.25, f"a render of a 10,000-child run took {per_render:.3f} s"


def test_filters_and_pages_walk_through_the_rows(explored: tuple[Any, RunView]) -> None:
    run, view = explored
    failed = next(b for b in view._filters.values() if b.eagernb_status is Status.FAILED)
    view._on_filter(failed)
    view._render()
    rows = explorer_state.rows(comms_of(view))
    assert [s for _, s in rows] == ["failed"] * 10
    assert "page 1 of 1" in view._page_label.value
    view._on_filter(failed)  # again: every status
    view._on_page(view._next)
    view._render()
    assert "page 2 of 501" in view._page_label.value
    second = explorer_state.rows(comms_of(view))
    assert second[0][0] == list(run.records)[20]
    view._on_page(view._prev)
    view._render()


def test_selecting_a_row_shows_its_details(explored: tuple[Any, RunView]) -> None:
    run, view = explored
    failed = next(r for r in run.records.values() if r.status is Status.FAILED)
    view.select(failed.id)
    comms = comms_of(view)
    assert "item 7 is bad" in explorer_state.details(comms)
    assert view._details_box.layout.display == "flex"
    assert view._cancel_one.disabled, "a finished execution cannot be cancelled"
    rows = explorer_state.rows(comms)
    assert failed.id in [rid for rid, _ in rows], "the page that lists it is shown"
    view._on_close(None)
    view._render()
    assert view._details_box.layout.display == "none"


def test_the_timeline_draws_a_bar_per_row(explored: tuple[Any, RunView]) -> None:
    _, view = explored
    view._on_mode(view._timeline_button)
    view._render()
    assert explorer_state.row_html(comms_of(view)).count('class="enb-bar ') == 20
    view._on_mode(view._tree_button)
    view._render()
