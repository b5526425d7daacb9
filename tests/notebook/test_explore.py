"""``eagernb.explore`` and ``%eagernb runs`` in a real kernel; prints go under their rows."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from typing import Any

import pytest

from . import explorer_state
from .kernel_session import KernelSession

pytestmark = pytest.mark.kernel

DEFINE = """
import asyncio
import eagernb
from eagernb import eager, task

@task
def shout(i: int) -> int:
    print(f"child {i} says hello")
    return i

@eager
async def loud(n: int) -> int:
    print("the body speaks")
    return sum(await asyncio.gather(*(shout(i=i) for i in range(n))))
"""


@pytest.fixture
def kernel() -> Iterator[KernelSession]:
    session = KernelSession()
    try:
        ok(session, "%load_ext eagernb")
        ok(session, DEFINE)
        yield session
    finally:
        session.close()


def ok(kernel: KernelSession, code: str, **kwargs: Any) -> Any:
    result = kernel.run(textwrap.dedent(code), **kwargs)
    assert result.status == "ok", result.error
    return result


def test_what_children_print_goes_under_their_rows_not_into_the_cell(
    kernel: KernelSession,
) -> None:
    cell = ok(kernel, "await loud(n=3)")
    assert cell.result == "3"
    assert cell.stdout == "", "nothing printed inside the run lands in the cell"
    rows = explorer_state.row_html(kernel.comms)
    for i in range(3):
        assert f"child {i} says hello" in rows
    assert "the body speaks" in rows
    printed = ok(
        kernel,
        "run = eagernb.last_run()\nprint([run.output_of(r.id) for _, r in run.walk()])",
    )
    assert "'child 0 says hello\\n'" in printed.stdout
    # With the widget off nothing would show it: then it reaches the cell too.
    ok(kernel, "%eagernb widget=off")
    quiet = ok(kernel, "await loud(n=1)")
    assert "child 0 says hello" in quiet.stdout


def test_explore_shows_any_earlier_run_of_the_session(kernel: KernelSession) -> None:
    ok(kernel, "first = await loud(n=2)\nsecond = await loud(n=4)")
    runs = ok(kernel, "%eagernb runs")
    lines = runs.stdout.splitlines()
    assert lines[0].split()[:3] == ["run", "id", "workflow"]
    ids = [line.split()[0] for line in lines[1:3]]
    assert all(line.split()[1] == "loud" for line in lines[1:3])
    assert "eagernb.explore" in runs.stdout
    older = ids[1]  # newest first
    before = len(explorer_state.grids(kernel.comms))
    shown = ok(kernel, f"eagernb.explore({older!r})")
    assert shown.result is None
    assert len(explorer_state.grids(kernel.comms)) == before + 1
    header = explorer_state.headers(kernel.comms)[-1]
    assert f'data-eagernb-run="{older}"' in header and "2 child executions" in header
    assert [s for _, s in explorer_state.rows(kernel.comms)] == ["succeeded"] * 3
    # Selecting a row shows its details, with its printed output.
    select = explorer_state.select_buttons(kernel.comms)
    kernel.click(select[1])
    ok(kernel, "pass")  # the click is handled before the next cell runs
    details = explorer_state.details(kernel.comms)
    assert "child 0 says hello" in details and "code version" in details
    ok(kernel, "%eagernb explore")
    assert explorer_state.headers(kernel.comms)[-1].count(ids[0]) >= 1
    missing = kernel.run("%eagernb explore nosuchrun")
    assert missing.error is None, "a usage error: one sentence, no traceback"
    stderr = "".join(m["content"]["text"] for m in missing.of_type("stream"))
    assert "No run of this session has id 'nosuchrun'" in stderr and "Traceback" not in stderr


def test_every_run_leaves_a_self_contained_report(kernel: KernelSession) -> None:
    ok(kernel, "await loud(n=3)")
    shown = ok(
        kernel,
        """
        import threading
        from eagernb._notebook.reports import report_dir
        for t in threading.enumerate():  # written beside the next cell: wait for it here
            if t.name.startswith("eagernb report"):
                t.join()
        run = eagernb.last_run()
        path = report_dir() / f"{run.id}.html"
        print(path.is_file())
        page = path.read_text()
        print(page.count('data-eagernb-id='), "child 2 says hello" in page, "src=\\"http" in page)
        """,
    )
    # 4 executions, each a tree row and a timeline bar; no resource fetched from a network.
    assert shown.stdout.split() == ["True", "8", "True", "False"], shown.stdout
