"""On a worker too, a task's own sys.exit(), KeyboardInterrupt or CancelledError is that
task's failure (``TaskAbortedError``), in the API and in ``eagernb run``."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import eagernb
from eagernb import EagerException, Remote, Status, TaskAbortedError, eager, task
from tests.server.conftest import ROOT, Server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    started = Server(Path(tmp_path_factory.mktemp("aborting")) / "data", workers=2)
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def remote(server: Server) -> Iterator[Remote]:
    client = Remote(server.url, default_project="aborting", default_domain="development")
    eagernb.config.remote = client
    try:
        yield client
    finally:
        eagernb.config.remote = None
        client.close()


@task
def exits(code: int) -> int:
    sys.exit(code)


@task
def interrupts(x: int) -> int:
    raise KeyboardInterrupt("from task")


@task
async def cancels(x: int) -> int:
    raise asyncio.CancelledError


TASKS = {t.name: t for t in (exits, interrupts, cancels)}


@eager
async def catches_each() -> list[str]:
    caught = []
    for name, child in TASKS.items():
        try:
            await child(2)
        except Exception as exc:
            assert isinstance(exc, EagerException) and isinstance(exc, TaskAbortedError)
            assert exc.execution_name == name
            caught.append(f"{exc.raised_type} {exc.exit_code}: {exc}")
    return caught


@eager
async def uncaught_exit(code: int) -> int:
    await exits(code=code)
    return 0


@pytest.mark.parametrize("mode", ["hybrid", "remote"])
def test_the_body_catches_each_as_a_failed_child(remote: Remote, mode: str) -> None:
    with eagernb.mode(mode):
        caught = asyncio.run(catches_each())
    assert [line.split(", ")[0] for line in caught] == [
        "SystemExit 2: Task 'exits' called sys.exit(2)",
        "KeyboardInterrupt None: Task 'interrupts' raised KeyboardInterrupt('from task') itself; "
        "nobody interrupted the run",
        "asyncio.exceptions.CancelledError None: Task 'cancels' raised asyncio.CancelledError on "
        "its own; nobody asked to cancel it",
    ]
    run = eagernb.last_run()
    assert run is not None and run.status is Status.SUCCEEDED
    rows = [(r.name, r.status, r.error and r.error.type_name) for _, r in run.walk()][1:]
    assert rows == [(name, Status.FAILED, "eagernb.TaskAbortedError") for name in TASKS]
    on_server = remote.list_executions(limit=3)
    assert sorted(e.data["name"] for e in on_server) == sorted(TASKS)
    assert {e.status for e in on_server} == {"failed"}


@pytest.mark.parametrize("mode", ["hybrid", "remote"])
def test_uncaught_it_fails_the_run_and_leaves_no_row_running(remote: Remote, mode: str) -> None:
    with eagernb.mode(mode), pytest.raises(TaskAbortedError, match=r"^Task 'exits' called"):
        asyncio.run(uncaught_exit(code=2))
    run = eagernb.last_run()
    assert run is not None and run.status is Status.FAILED
    assert [(r.name, r.status) for _, r in run.walk()] == [
        ("uncaught_exit", Status.FAILED),
        ("exits", Status.FAILED),
    ]


FLOWS = """
import sys
from eagernb import eager, task

@task
def exits(code: int) -> int:
    sys.exit(code)

@task
def interrupts(x: int) -> int:
    raise KeyboardInterrupt("from task")

@eager
async def uncaught_exit(code: int = 2) -> int:
    await exits(code=code)
    return 0

@eager
async def uncaught_kb() -> int:
    await interrupts(x=1)
    return 0
"""


@pytest.mark.parametrize("mode", ["local", "hybrid", "remote"])
def test_eagernb_run_reports_an_ordinary_failure(server: Server, tmp_path: Path, mode: str) -> None:
    flows = tmp_path / "flows.py"
    flows.write_text(textwrap.dedent(FLOWS))
    env = {k: v for k, v in os.environ.items() if not k.startswith("EAGERNB_")}
    env.update(
        PYTHONPATH=os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        EAGERNB_SANDBOX_FILE=os.devnull,  # never find a sandbox of this machine
        EAGERNB_ENDPOINT=server.url,
    )
    where = [] if mode == "local" else [f"--{mode}"]
    for name, failed, message in [
        ("uncaught_exit", "exits", "Task 'exits' called sys.exit(2), which would end the whole"),
        ("uncaught_kb", "interrupts", "Task 'interrupts' raised KeyboardInterrupt('from task')"),
    ]:
        done = subprocess.run(
            [sys.executable, "-m", "eagernb", "run", *where, "--project", "aborting",
             "--no-report", str(flows), name],
            capture_output=True, text=True, env=env, timeout=120,
        )  # fmt: skip
        assert done.returncode == 1, done.stderr
        assert done.stdout == ""
        assert f"  ✗ {failed} (task) failed in " in done.stderr
        assert f"✗ {name} failed in " in done.stderr and "children: 1 failed\n" in done.stderr
        assert f"eagernb: {name} failed: eagernb.TaskAbortedError: {message}" in done.stderr
        assert f"(raised in task '{failed}'" in done.stderr
        assert " running" not in done.stderr
        assert "eagernb: interrupted" not in done.stderr
