"""A remote run seen from everywhere: a new kernel's explorer, the web page, the CLI report."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.notebook import explorer_state
from tests.notebook.kernel_session import KernelSession
from tests.server.conftest import Server

pytestmark = pytest.mark.kernel

ROW = re.compile(r'data-eagernb-id="([^"]+)" data-status="(\w+)"')


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    started = Server(Path(tmp_path_factory.mktemp("explore")) / "data", workers=2)
    try:
        yield started
    finally:
        started.stop()


def ok(kernel: KernelSession, code: str, **kwargs: Any) -> Any:
    result = kernel.run(textwrap.dedent(code), **kwargs)
    assert result.status == "ok", result.error
    return result


def session(server: Server) -> KernelSession:
    kernel = KernelSession()
    ok(kernel, "%load_ext eagernb")
    ok(kernel, f"import eagernb\neagernb.config.remote = eagernb.Remote({server.url!r})")
    ok(kernel, "from eager_workflows import *")
    return kernel


@pytest.fixture(scope="module")
def remote_run(server: Server) -> Iterator[tuple[str, list[tuple[str, str]]]]:
    """A nested remote run made by a kernel that is gone: (root execution id, its rows)."""
    kernel = session(server)
    try:
        ok(kernel, "%eagernb mode=remote")
        assert ok(kernel, "await eager_workflow_with_exception(x=0)").result == "-1"
        printed = ok(kernel, "run = eagernb.last_run()\nprint(run.links[run.root_id].execution_id)")
        rows = explorer_state.rows(kernel.comms)
    finally:
        kernel.close()
    yield printed.stdout.strip(), rows


def test_a_new_kernel_explores_a_remote_run_by_id(
    server: Server, remote_run: tuple[str, list[tuple[str, str]]]
) -> None:
    execution_id, rows_then = remote_run
    kernel = session(server)
    try:
        ok(kernel, f"eagernb.explore({execution_id!r})")
        rows = explorer_state.rows(kernel.comms)
        assert [s for _, s in rows] == [s for _, s in rows_then] == ["succeeded", "failed"]
        assert rows[0][0] == execution_id, "the records are the server's executions"
        kernel.click(explorer_state.select_buttons(kernel.comms)[1])
        ok(kernel, "pass")  # the click is handled before the next cell runs
        ok(  # selecting a remote child loads its values from the control plane
            kernel,
            "import asyncio\nawait asyncio.gather(*[t for t in asyncio.all_tasks() "
            "if t.get_name().startswith('eagernb fetch')])",
        )
        details = explorer_state.details(kernel.comms)
        assert "TypeError" in details and server.url in details
        assert "<code>x</code>" in details, "the inputs were loaded from the control plane"
        # A child's id opens its run with that child selected.
        child = rows[1][0]
        ok(kernel, f"eagernb.explore({child!r})")
        assert f'data-eagernb-details="{child}"' in explorer_state.details(kernel.comms)
    finally:
        kernel.close()


def test_the_web_page_and_the_cli_report_show_the_same_run(
    server: Server, remote_run: tuple[str, list[tuple[str, str]]], tmp_path: Path
) -> None:
    execution_id, rows_then = remote_run
    with httpx.Client(base_url=server.url, timeout=30) as web:
        listing = web.get("/ui")
        assert listing.status_code == 200 and f'data-eagernb-run="{execution_id}"' in listing.text
        page = web.get(f"/ui/executions/{execution_id}")
        assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
        tree_rows = ROW.findall(page.text.split('id="enb-timeline"')[0])
        assert [s for _, s in tree_rows] == [s for _, s in rows_then]
        fragment = web.get(f"/ui/executions/{execution_id}", params={"fragment": 1})
        assert fragment.text.startswith('<main id="enb-main"') and 'data-final="1"' in fragment.text
        missing = web.get("/ui/executions/nope")
        assert (
            missing.status_code == 404 and "No execution has id 'nope'" in missing.json()["error"]
        )
    out = tmp_path / "report.html"
    done = subprocess.run(
        [sys.executable, "-m", "eagernb", "executions", "report", "--endpoint", server.url,
         execution_id, "-o", str(out)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(out)
    report = out.read_text()
    assert [s for _, s in ROW.findall(report.split('id="enb-timeline"')[0])] == [
        s for _, s in rows_then
    ]
    assert (
        "TypeError" in report and "<script>" in report and "http" not in report.split("<body>")[0]
    )
