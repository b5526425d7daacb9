"""The shared renderer, the saved report and the control-plane mirror, in process."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import re
from pathlib import Path

import pytest

import eagernb
from eagernb import eager, task
from eagernb._core import output
from eagernb._core.records import Status
from eagernb._notebook.reports import save_report
from eagernb._views import html as views
from eagernb._views import page
from eagernb._views.mirror import tree_of
from eagernb._views.outline import Folds, Line, visible
from eagernb._views.values import value_html
from tests.core.support import latest_run_of

from .flows import outer

ROW = re.compile(r'data-eagernb-id="([^"]+)" data-status="(\w+)"')
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


class Table:
    """Stands in for a DataFrame: it offers an HTML table."""

    def _repr_html_(self) -> str:
        return "<table class='frame'><tr><td>42</td></tr></table>"


class Picture:
    """Stands in for an image: it offers PNG bytes."""

    def _repr_png_(self) -> bytes:
        return PNG


@task
def make_table(n: int) -> Table:
    print(f"making table {n}")
    return Table()


@task
def make_picture(n: int) -> Picture:
    return Picture()


@task
def broken(n: int) -> int:
    raise KeyError(f"no key {n}")


@eager
async def nested(n: int) -> int:
    return n


@eager
async def report_me(n: int) -> int:
    await make_table(n=n)
    await make_picture(n=n)
    with contextlib.suppress(KeyError):
        await broken(n=n)
    return await nested(n=n)


@pytest.fixture(scope="module")
def run():  # type: ignore[no-untyped-def]
    output.capture()
    try:
        asyncio.run(report_me(n=3))
    finally:
        output.release()
    return latest_run_of(report_me)


def test_rows_show_kind_name_status_tries_and_previews_and_prints_under_them(run) -> None:  # type: ignore[no-untyped-def]
    rows = [views.row(run, record, depth) for depth, record in run.walk()]
    assert [ROW.search(r).groups()[1] for r in rows] == [  # type: ignore[union-attr]
        "succeeded", "succeeded", "succeeded", "failed", "succeeded",
    ]  # fmt: skip
    table_row = rows[1]
    assert "make_table" in table_row and "task" in table_row and "n=3" in table_row
    assert 'class="enb-prints"' in table_row and "making table 3" in table_row
    assert "KeyError" in rows[3] and 'class="enb-err"' in rows[3]
    assert 'data-depth="1"' in rows[4] and "nested" in rows[4]
    assert "enb-s-failed" in rows[3], "each status has its colour class"


def test_details_show_rich_values_errors_ids_and_version(run) -> None:  # type: ignore[no-untyped-def]
    ids = [r.id for _, r in run.walk()]
    table = views.details(run, ids[1], views.Extra(version="abc123"))
    assert "<table class='frame'>" in table, "a DataFrame-like output shows as its table"
    assert "abc123" in table and ids[1] in table and "making table 3" in table
    picture = views.details(run, ids[2])
    assert 'src="data:image/png;base64,' in picture, "an image output shows as an image"
    failed = views.details(run, ids[3])
    assert "KeyError" in failed and "Traceback" in failed and "no key 3" in failed


def test_timeline_has_one_bar_per_started_execution(run) -> None:  # type: ignore[no-untyped-def]
    bars = [views.timeline_row(run, r, d) for d, r in run.walk()]
    assert all(b.count('class="enb-bar ') == 1 for b in bars)
    lefts = [float(re.search(r'enb-bar [^"]*".*?left:([\d.]+)%', b).group(1)) for b in bars]  # type: ignore[union-attr]
    assert lefts == sorted(lefts), "children of a sequential body start one after another"
    assert "enb-axis" in views.timeline_axis(run)


def test_the_report_is_one_self_contained_file(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = save_report(run, tmp_path / "report.html")
    text = path.read_text()
    assert text.startswith("<!DOCTYPE html>") and text.endswith("</html>")
    assert len(ROW.findall(text)) == 2 * len(run.records), "tree and timeline rows"
    assert text.count("<template data-for=") == len(run.records), "every row's details"
    # Nothing to fetch: no external scripts, styles, images or fonts.
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", text)
    assert "<link" not in text and "@import" not in text
    assert 'data-final="1"' in text


def test_reports_go_to_the_configured_folder_with_a_summary(
    run, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(eagernb.config, "reports", str(tmp_path / "reports"))
    reports_folder = tmp_path / "reports"
    path = save_report(run)
    assert path == reports_folder / f"{run.id}.html"
    summary = (reports_folder / f"{run.id}.json").read_text()
    assert '"status": "succeeded"' in summary and '"children": 4' in summary


def test_values_without_a_rich_form_are_escaped_text() -> None:
    escaped = value_html("<b>")
    assert escaped.startswith('<pre class="enb-value">') and "&lt;b&gt;" in escaped
    assert "<b>" not in escaped
    assert "more characters" in value_html(list(range(10_000)), limit=100)


def test_a_mirror_builds_the_tree_from_control_plane_json() -> None:
    def row(id_: str, parent: str | None, status: str, t: float, **more: object) -> dict:  # type: ignore[type-arg]
        return {
            "id": id_, "parent_id": parent, "root_id": "root", "name": f"n-{id_}",
            "kind": "task" if parent else "eager", "status": status, "attempts": 1,
            "created_at": t, "started_at": t, "ended_at": t + 1 if status != "running" else None,
            "version": "v1", **more,
        }  # fmt: skip

    root = row("root", None, "running", 0.0)
    listed = [
        row("b", "root", "failed", 2.0, error={"type_name": "ValueError", "message": "m"}),
        row("c", "a", "succeeded", 1.5),
        row("a", "root", "succeeded", 1.0),
    ]
    tree, mirror = tree_of(root, listed, "http://server")
    assert [(d, r.id, r.status) for d, r in tree.walk()] == [
        (0, "root", Status.RUNNING), (1, "a", Status.SUCCEEDED), (2, "c", Status.SUCCEEDED),
        (1, "b", Status.FAILED),
    ]  # fmt: skip
    assert tree.records["b"].error is not None and str(tree.records["b"].error) == "ValueError: m"
    assert tree.links["c"].endpoint == "http://server" and tree.links["c"].version == "v1"
    assert tree.status is Status.RUNNING
    mirror.apply({**root, "status": "succeeded", "ended_at": 3.0}, "finished")
    assert tree.status is Status.SUCCEEDED and tree.ended_at == 3.0
    doc = page.document(tree)
    assert len(ROW.findall(doc)) == 8


def test_order_is_the_walk_of_the_tree(run) -> None:  # type: ignore[no-untyped-def]
    assert views.order(run) == [(d, r.id) for d, r in run.walk()]


# -- collapsible subtrees ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def nested_run():  # type: ignore[no-untyped-def]
    asyncio.run(outer(n=5))
    return latest_run_of(outer)


def named(run, lines) -> list[tuple[int, str, bool]]:  # type: ignore[no-untyped-def]
    """(depth, name, context) of each visible line."""
    return [(line.depth, run.records[line.id].name, line.context) for line in lines]


def shown(run, folds=None, statuses=None) -> list[Line]:  # type: ignore[no-untyped-def]
    return visible(views.order(run), run.records, run.children, folds, statuses)


def id_of(run, name: str) -> str:  # type: ignore[no-untyped-def]
    return next(r.id for r in run.records.values() if r.name == name)


def test_every_subtree_starts_expanded_with_a_toggle_on_parent_rows(nested_run) -> None:  # type: ignore[no-untyped-def]
    lines = shown(nested_run, Folds())
    assert len(lines) == len(nested_run.records) == 1 + 1 + 5 + 1 + 2 + 1
    parents = [(nested_run.records[line.id].name, line.parent) for line in lines[:3]]
    assert parents == [("outer", True), ("fan_out", True), ("leaf", False)]
    text = views.row(nested_run, nested_run.records[lines[1].id], 1, line=lines[1])
    assert 'data-fold="open"' in text and 'data-act="fold"' in text and "▾" in text
    leaf_row = views.row(nested_run, nested_run.records[lines[2].id], 2, line=lines[2])
    assert "data-fold" not in leaf_row and "▾" not in leaf_row and "▸" not in leaf_row


def test_a_collapsed_subtree_hides_its_rows_and_says_how_many(nested_run) -> None:  # type: ignore[no-untyped-def]
    folds = Folds()
    folds.toggle(id_of(nested_run, "fan_out"))
    lines = shown(nested_run, folds)
    assert named(nested_run, lines) == [
        (0, "outer", False), (1, "fan_out", False), (1, "pair", False), (2, "leaf", False),
        (2, "leaf", False), (1, "leaf", False),
    ]  # fmt: skip
    folded = lines[1]
    assert (folded.open, folded.hidden) == (False, 5)
    text = views.row(nested_run, nested_run.records[folded.id], 1, line=folded)
    assert 'data-fold="closed"' in text and "▸" in text and "(5 inside)" in text
    bar = views.timeline_row(nested_run, nested_run.records[folded.id], 1, line=folded)
    assert 'data-fold="closed"' in bar and "(5 inside)" in bar
    folds.toggle(id_of(nested_run, "fan_out"))  # again: open
    assert len(shown(nested_run, folds)) == len(nested_run.records)


def test_collapse_all_keeps_the_top_level_and_expand_all_undoes_it(nested_run) -> None:  # type: ignore[no-untyped-def]
    folds = Folds()
    folds.collapse_all()
    lines = shown(nested_run, folds)
    assert named(nested_run, lines) == [
        (0, "outer", False), (1, "fan_out", False), (1, "pair", False), (1, "leaf", False),
    ]  # fmt: skip
    assert [line.hidden for line in lines] == [0, 5, 2, 0]
    folds.toggle(id_of(nested_run, "pair"))  # open one subtree of the collapsed ones
    assert len(shown(nested_run, folds)) == 6
    folds.expand_all()
    assert len(shown(nested_run, folds)) == len(nested_run.records)


def test_a_filter_keeps_the_path_to_each_match_and_composes_with_folds(nested_run) -> None:  # type: ignore[no-untyped-def]
    failed = shown(nested_run, Folds(), [Status.FAILED])
    # Only the leaf failed (fan_out caught it): its ancestors are shown as its path.
    assert named(nested_run, failed) == [
        (0, "outer", True), (1, "fan_out", True), (2, "leaf", False),
    ]  # fmt: skip
    assert nested_run.records[failed[2].id].status is Status.FAILED
    rows = "".join(views.row(nested_run, nested_run.records[x.id], x.depth, line=x) for x in failed)
    assert rows.count("enb-ctx") == 2, "the path is dimmed: it does not match the filter"
    folds = Folds()
    folds.toggle(id_of(nested_run, "fan_out"))
    collapsed = shown(nested_run, folds, [Status.FAILED])
    assert named(nested_run, collapsed) == [(0, "outer", True), (1, "fan_out", True)]
    assert collapsed[1].hidden == 1, "the collapsed row counts the matches it hides"
    succeeded = shown(nested_run, folds, [Status.SUCCEEDED])
    assert [line.hidden for line in succeeded if line.id == id_of(nested_run, "fan_out")] == [4]
    assert len(succeeded) == 6, "root, fan_out (context), pair, its two leaves, the last leaf"


def test_revealing_a_row_opens_its_collapsed_ancestors(nested_run) -> None:  # type: ignore[no-untyped-def]
    folds = Folds()
    folds.collapse_all()
    target = next(r for r in nested_run.children_of(id_of(nested_run, "fan_out")))
    assert target.id not in [line.id for line in shown(nested_run, folds)]
    folds.reveal(target.id, nested_run.records)
    assert target.id in [line.id for line in shown(nested_run, folds)]


def test_folds_and_filters_over_ten_thousand_rows(nested_run) -> None:  # type: ignore[no-untyped-def]
    # A synthetic tree: 100 subworkflows of 100 children each.
    records = dict(nested_run.records)
    root = nested_run.root_id
    template = nested_run.records[id_of(nested_run, "leaf")]
    children: dict[str | None, list[str]] = {None: [root], root: []}
    for p in range(100):
        children[root].append(f"p{p}")
        records[f"p{p}"] = template
        children[f"p{p}"] = [f"p{p}.{c}" for c in range(100)]
        records.update({f"p{p}.{c}": template for c in range(100)})
    entries = [(0, root)] + [
        pair for p in range(100) for pair in [(1, f"p{p}")] + [(2, f"p{p}.{c}") for c in range(100)]
    ]
    folds = Folds()
    assert len(visible(entries, records, children, folds)) == 10_101
    folds.toggle("p3")
    assert len(visible(entries, records, children, folds)) == 10_001
    folds.collapse_all()
    lines = visible(entries, records, children, folds, [template.status])
    assert len(lines) == 101 and all(line.hidden == 100 for line in lines[1:])


def test_the_report_has_fold_toggles_and_collapse_buttons(nested_run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    text = save_report(nested_run, tmp_path / "nested.html").read_text()
    parents = sum(1 for rid in nested_run.records if nested_run.children.get(rid))
    assert parents == 3  # outer, fan_out, pair
    assert text.count('data-act="fold"') == 2 * parents, "on tree and timeline rows"
    assert text.count('data-fold="open"') == 2 * parents, "every subtree starts expanded"
    assert 'data-act="collapse"' in text and 'data-act="expand"' in text


@task
def chatty(i: int) -> int:
    for k in range(8):
        print(f"child {i} line {k}")
    return i


@eager
async def chats() -> int:
    print("the body says hi")
    return sum(await asyncio.gather(chatty(i=1), chatty(i=2)))


def test_text_and_html_summaries_show_the_last_lines_each_execution_printed() -> None:
    from eagernb._notebook.render import html_summary, text_summary

    output.capture(echo=lambda: False)
    try:
        asyncio.run(chats())
    finally:
        output.release()
    run = latest_run_of(chats)
    text = text_summary(run, run.counts(), 100).splitlines()
    assert text[1] == "  │ the body says hi"
    first = text.index(next(line for line in text if "chatty (task)" in line))
    assert text[first + 1 : first + 3] == [
        "    │ … (3 earlier lines not shown)",
        "    │ child 1 line 3",
    ]
    assert text[first + 6] == "    │ child 1 line 7"
    page_html = html_summary(run, run.counts(), 100)
    assert "the body says hi" in page_html and "child 2 line 7" in page_html
    assert "child 2 line 2" not in page_html
