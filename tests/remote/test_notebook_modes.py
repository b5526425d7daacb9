"""A notebook (real kernel) running hybrid and remote against a real server process."""

from __future__ import annotations

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


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    started = Server(Path(tmp_path_factory.mktemp("nbremote")) / "data", workers=2)
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def kernel(server: Server) -> Iterator[KernelSession]:
    session = KernelSession()
    try:
        ok(session, "%load_ext eagernb")
        ok(session, f"import eagernb\neagernb.config.remote = eagernb.Remote({server.url!r})")
        ok(session, "from eager_workflows import *")
        yield session
    finally:
        session.close()


def ok(kernel: KernelSession, code: str, **kwargs: Any) -> Any:
    result = kernel.run(textwrap.dedent(code), **kwargs)
    assert result.status == "ok", result.error
    return result


def final_rows(kernel: KernelSession) -> list[tuple[str, str]]:
    return explorer_state.rows(kernel.comms)


@pytest.mark.parametrize(
    ("mode", "code", "result", "rows"),
    [
        ("hybrid", "await eager_workflow_with_for_loop(x=5)", "30", 7),
        ("remote", "await eager_workflow_with_for_loop(x=5)", "30", 7),
        ("remote", "await nested_eager_workflow(x=5)", "12", 4),
        ("hybrid", "await eager_workflow_with_exception(x=0)", "-1", 2),
    ],
)
def test_the_widget_lists_remote_children(
    kernel: KernelSession, mode: str, code: str, result: str, rows: int
) -> None:
    ok(kernel, f"%eagernb mode={mode}")
    cell = ok(kernel, code)
    assert cell.result == result
    shown = final_rows(kernel)
    assert len(shown) == rows
    statuses = [status for _, status in shown]
    assert "running" not in statuses and "queued" not in statuses
    if "exception" in code:
        assert statuses == ["succeeded", "failed"]
    else:
        assert set(statuses) == {"succeeded"}


def test_interrupting_a_hybrid_run_cancels_its_children_on_the_server(
    kernel: KernelSession, server: Server
) -> None:
    ok(
        kernel,
        """
        import asyncio
        from eagernb import eager, task

        @task
        async def nap(i: int) -> int:
            await asyncio.sleep(120)
            return i

        @eager
        async def naps(n: int) -> int:
            return sum(await asyncio.gather(*(nap(i=i) for i in range(n))))
        """,
    )
    ok(kernel, "%eagernb mode=hybrid")
    fired: list[bool] = []

    def interrupt_when_both_run(msg: dict[str, Any]) -> None:
        shown = explorer_state.rows(kernel.comms)
        if not fired and [s for _, s in shown].count("running") >= 3:  # root + both naps
            fired.append(True)
            kernel.km.interrupt_kernel()

    cell = kernel.run("await naps(n=2)", on_message=interrupt_when_both_run, timeout=120)
    assert fired and cell.error is not None and cell.error[0] == "CancelledError"
    with httpx.Client(base_url=server.url + "/api/v1", timeout=30) as http:
        naps = [
            e for e in http.get("/executions", params={"limit": 50}).json() if e["name"] == "nap"
        ]
        assert len(naps) == 2
        final = [
            http.get(f"/executions/{e['id']}/wait", params={"timeout": 30}).json() for e in naps
        ]
    assert [e["status"] for e in final] == ["cancelled", "cancelled"]


@pytest.mark.parametrize("mode", ["hybrid", "remote"])
def test_what_remote_children_print_shows_in_their_rows_not_the_cell(
    kernel: KernelSession, mode: str
) -> None:
    ok(
        kernel,
        """
        import asyncio
        from eagernb import eager, task

        @task
        def speak(i: int) -> int:
            print(f"worker child {i} speaks")
            return i

        @eager
        async def chorus(n: int) -> int:
            print("the body hums")
            return sum(await asyncio.gather(*(speak(i=i) for i in range(n))))
        """,
    )
    ok(kernel, f"%eagernb mode={mode}")
    cell = ok(kernel, "await chorus(n=3)")
    assert cell.result == "3"
    assert "speaks" not in cell.stdout, "a child's print lands under its row, not in the cell"
    rows = explorer_state.row_html(kernel.comms)
    for i in range(3):
        assert f"worker child {i} speaks" in rows
    assert "the body hums" in rows  # the kernel's body in hybrid mode, a worker's in remote
