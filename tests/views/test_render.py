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
from eagernb._views.values import value_html
from tests.core.support import latest_run_of

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
