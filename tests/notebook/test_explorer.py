"""The explorer widget in process (no kernel): paging, filters, folds, selection, render cost."""

from __future__ import annotations

import asyncio
import re
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
    # The failed children, after the root: shown dimmed, as their path.
    assert rows[0] == (run.root_id, "succeeded") and [s for _, s in rows[1:]] == ["failed"] * 10
    assert "enb-ctx" in explorer_state.row_html(comms_of(view)).split("data-depth")[0]
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


# -- collapsible subtrees ---------------------------------------------------------------------


@eager
async def batch(start: int, size: int) -> int:
    done = await asyncio.gather(
        *(item(i=i) for i in range(start, start + size)), return_exceptions=True
    )
    return sum(x for x in done if isinstance(x, int))


@eager
async def batches(groups: int, size: int) -> int:
    return sum(await asyncio.gather(*(batch(start=g * size, size=size) for g in range(groups))))


@pytest.fixture(scope="module")
def nested() -> tuple[Any, RunView]:
    async def main() -> tuple[Any, RunView]:
        await batches(groups=50, size=200)  # 10,050 children: 50 batches of 200
        run = latest_run_of(batches)
        view = RunView(run, widget=True)
        await asyncio.sleep(0)
        return run, view

    return asyncio.run(main())


def shown(view: RunView) -> list[tuple[int, str, str]]:
    """(depth, name, fold state) of each row the widget shows now."""
    html = explorer_state.row_html(comms_of(view))
    rows = re.findall(r'data-eagernb-id="([^"]+)" data-status="\w+" data-depth="(\d+)"'
                      r'(?: data-fold="(\w+)")?', html)  # fmt: skip
    return [(int(d), view.run.records[rid].name, fold) for rid, d, fold in rows]


def fold_button(view: RunView, name: str) -> Any:
    """The ▸/▾ button of the first row of ``name`` on the page shown."""
    for (fold, _, _), line in zip(view._slots, view._slot_lines, strict=False):
        if view.run.records[line.id].name == name:
            return fold
    raise AssertionError(f"no row of {name} on this page")


def test_parent_rows_have_a_fold_button_and_start_expanded(nested: tuple[Any, RunView]) -> None:
    _, view = nested
    view.folds.expand_all()
    view._render()
    rows = shown(view)
    assert rows[:3] == [(0, "batches", "open"), (1, "batch", "open"), (2, "item", "")]
    assert "page 1 of 503" in view._page_label.value, "10,051 rows, 20 a page"
    hidden = ["eagernb-nofold" in fold._dom_classes for fold, _, _ in view._slots[:3]]
    assert hidden == [False, False, True], "only parents can fold"
    assert len(explorer_state.fold_buttons(comms_of(view))) == 20
    assert len(explorer_state.select_buttons(comms_of(view))) == 20


def test_folding_a_subtree_hides_its_rows_from_the_page_and_the_count(
    nested: tuple[Any, RunView],
) -> None:
    _, view = nested
    view.folds.expand_all()
    view._render()
    first = fold_button(view, "batch")
    view._on_fold(first)
    view._render()
    rows = shown(view)
    assert rows[:3] == [(0, "batches", "open"), (1, "batch", "closed"), (1, "batch", "open")]
    assert "(200 inside)" in explorer_state.row_html(comms_of(view))
    assert first.icon == "caret-right" and "200 inside" in first.tooltip
    assert "page 1 of 493" in view._page_label.value, "200 rows fewer: 9,851 rows"
    view._on_fold(first)  # again: open
    view._render()
    assert shown(view)[1] == (1, "batch", "open") and "page 1 of 503" in view._page_label.value


def test_collapse_all_then_expand_all(nested: tuple[Any, RunView]) -> None:
    _, view = nested
    view._on_fold_all(view._collapse_all)
    view._render()
    assert "page 1 of 3" in view._page_label.value, "the root and its 50 batches"
    rows = shown(view)
    assert rows[0] == (0, "batches", "open")
    assert rows[1:] == [(1, "batch", "closed")] * 19
    view._on_page(view._next)
    view._on_page(view._next)
    view._render()
    assert len(shown(view)) == 11 and "page 3 of 3" in view._page_label.value
    view._on_fold_all(view._expand_all)
    view._render()
    assert "page 1 of 503" in view._page_label.value


def test_a_filter_under_collapsed_subtrees_shows_their_paths(nested: tuple[Any, RunView]) -> None:
    run, view = nested
    view._on_fold_all(view._collapse_all)
    view._on_filter(next(b for b in view._filters.values() if b.eagernb_status is Status.FAILED))
    view._render()
    # Ten items failed (i % 1000 == 7), in batches 0, 5, 10, ...: those batches show, closed.
    rows = shown(view)
    assert rows == [(0, "batches", "open")] + [(1, "batch", "closed")] * 10
    assert explorer_state.row_html(comms_of(view)).count("(1 inside)") == 10
    batch_five = view._slot_lines[2]
    assert run.records[batch_five.id].inputs == {"start": 1000, "size": 200}
    view._on_fold(view._slots[2][0])  # unfold batch 5: its failed item shows
    view._render()
    rows = shown(view)
    assert rows[2:4] == [(1, "batch", "open"), (2, "item", "")]
    assert explorer_state.rows(comms_of(view))[3][1] == "failed"
    view._on_filter(view._filters[Status.FAILED])  # again: every status
    view._on_fold_all(view._expand_all)
    view._render()


def test_selecting_a_hidden_row_unfolds_its_parent(nested: tuple[Any, RunView]) -> None:
    run, view = nested
    view._on_fold_all(view._collapse_all)
    target = run.children_of(run.children_of(run.root_id)[3].id)[150]
    view.select(target.id)
    assert target.id in [rid for rid, _ in explorer_state.rows(comms_of(view))]
    # 251 rows (the root, 50 batches, batch 3's 200 items); the target is the 156th.
    assert "page 8 of 13" in view._page_label.value
    started = time.perf_counter()
    for _ in range(10):
        view._render()
    per_render = (time.perf_counter() - started) / 10
    assert per_render < 0.25, f"a render of a 10,050-child run took {per_render:.3f} s"
    view._on_close(None)
    view._on_fold_all(view._expand_all)
    view._render()
