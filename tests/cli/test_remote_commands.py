"""``eagernb register``, ``run`` and ``executions`` in subprocesses against a real server.

Workflows live in a ``.py`` file and an ``.ipynb`` notebook written to a temporary folder,
so the worker processes can only get their code from the registered payloads.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

from eagernb import Remote, RunCancelledError
from tests.server.conftest import ROOT, Server, read_pid
from tests.server.tasks import announce

WORKFLOWS = '''
"""Workflows for the command-line tests."""

import os
import time

from eagernb import eager, task


@task
def add_one(x: int) -> int:
    return x + 1


@task
def double(x: int) -> int:
    return x * 2


@eager
async def simple_eager_workflow(x: int) -> int:
    """Add one, then double."""
    out = await add_one(x=x)
    return await double(x=out)


@task
def risky(x: int) -> int:
    if x <= 0:
        raise ValueError(f"x must be positive, got {x}")
    return x


@eager
async def fails(x: int) -> int:
    return await add_one(x=await risky(x=x))


@task
def announce(fifo: str) -> int:
    with open(fifo, "w") as pipe:
        pipe.write(str(os.getpid()))
    time.sleep(120)
    return 0


@eager
async def waits(fifo: str) -> int:
    return await announce(fifo=fifo)


if __name__ == "__main__":
    raise SystemExit("the file must be imported, not run as __main__")
'''

NOTEBOOK_CELLS = [
    "%load_ext eagernb",
    "from eagernb import eager, task\n!echo shell lines are skipped",
    "@task\ndef add_one(x: int) -> int:\n    return x + 1\n\n\n"
    "@task\ndef double(x: int) -> int:\n    return x * 2",
    "@eager\nasync def simple_eager_workflow(x: int) -> int:\n"
    "    out = await add_one(x=x)\n    return await double(x=out)",
    "await simple_eager_workflow(x=5)  # top-level await: skipped",
]

EXECUTION = re.compile(r"execution ([0-9a-f]{20}) on the server")


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    started = Server(Path(tmp_path_factory.mktemp("cli")) / "data", workers=2)
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = Path(tmp_path_factory.mktemp("files"))
    (folder / "flows.py").write_text(WORKFLOWS)
    cells = [new_markdown_cell("# Flows"), *(new_code_cell(c) for c in NOTEBOOK_CELLS)]
    nbformat.write(new_notebook(cells=cells), folder / "flows.ipynb")
    return folder


def eagernb(
    *args: str, endpoint: str | None = None, reports: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """``python -m eagernb ARGS`` with EAGERNB_ENDPOINT set to ``endpoint`` (or unset), and
    reports written to ``reports`` (default: the suite's temporary reports folder)."""
    env = _env(endpoint)
    if reports is not None:
        env["EAGERNB_REPORTS_DIR"] = str(reports)
    return subprocess.run(
        [sys.executable, "-m", "eagernb", *args],
        capture_output=True, text=True, env=env, timeout=120,
    )  # fmt: skip


def _env(endpoint: str | None) -> dict[str, str]:
    # EAGERNB_REPORTS_DIR stays: the suite points it at a temporary folder (conftest.py).
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("EAGERNB_") or k == "EAGERNB_REPORTS_DIR"
    }
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])
    env["EAGERNB_SANDBOX_FILE"] = os.devnull  # never find a sandbox of this machine
    if endpoint is not None:
        env["EAGERNB_ENDPOINT"] = endpoint
    return env


def execution_id(stderr: str) -> str:
    found = EXECUTION.findall(stderr)
    assert found, stderr
    return str(found[-1])


# -- register ---------------------------------------------------------------------------------


def test_register_reports_new_then_unchanged(server: Server, files: Path) -> None:
    first = eagernb("register", "--project", "reg", str(files / "flows.py"), endpoint=server.url)
    assert first.returncode == 0, first.stderr
    rows = [line.split() for line in first.stdout.splitlines()]
    assert [(name, kind, state) for name, kind, _, state in rows] == [
        ("add_one", "task", "new"),
        ("double", "task", "new"),
        ("simple_eager_workflow", "eager", "new"),
        ("risky", "task", "new"),
        ("fails", "eager", "new"),
        ("announce", "task", "new"),
        ("waits", "eager", "new"),
    ]
    assert f"Registering 7 entities in reg/development on {server.url}" in first.stderr

    again = eagernb("register", "--project", "reg", str(files / "flows.py"), endpoint=server.url)
    assert again.returncode == 0, again.stderr
    assert [line.split() for line in again.stdout.splitlines()] == [
        [name, kind, version, "unchanged"] for name, kind, version, _ in rows
    ]
    stored = server.ok(server.http.get("/entities", params={"project": "reg"}))
    assert {(e["name"], e["version"]) for e in stored} == {(r[0], r[2]) for r in rows}


def test_register_under_a_version_refuses_changed_code(
    server: Server, files: Path, tmp_path: Path
) -> None:
    path = str(files / "flows.py")
    named = eagernb("register", "--project", "ver", "--version", "v1", path, endpoint=server.url)
    assert named.returncode == 0, named.stderr
    assert named.stdout.splitlines()[0].split() == ["add_one", "task", "v1", "new"]

    (tmp_path / "flows.py").write_text(WORKFLOWS.replace("x + 1", "x + 2"))
    changed = eagernb(
        "register", "--project", "ver", "--version", "v1", str(tmp_path / "flows.py"),
        endpoint=server.url,
    )  # fmt: skip
    assert changed.returncode == 1
    assert "Entity ver/development/add_one version 'v1' is already registered with different " in (
        changed.stderr
    )
    assert "Traceback" not in changed.stderr


def test_register_a_notebook(server: Server, files: Path) -> None:
    done = eagernb("register", "--project", "nb", str(files / "flows.ipynb"), endpoint=server.url)
    assert done.returncode == 0, done.stderr
    assert [line.split()[0] for line in done.stdout.splitlines()] == [
        "add_one",
        "double",
        "simple_eager_workflow",
    ]
    assert (
        "skipped in flows.ipynb: code cell 1 `%load_ext eagernb`; code cell 2 `!echo shell "
        "lines are skipped`; top-level await in code cell 5"
    ) in done.stderr


def test_an_unreachable_control_plane_is_one_sentence(files: Path) -> None:
    done = eagernb("register", "--endpoint", "http://127.0.0.1:9", str(files / "flows.py"))
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("eagernb: Cannot reach the eagernb control plane at http://127.0.0.1:9")
    assert "`eagernb sandbox start`" in last and "--endpoint" in last


@pytest.mark.parametrize(
    ("flag", "env", "says"),
    [
        (["--endpoint", "localhost:9"], None, "eagernb: --endpoint: The control plane's address"),
        ([], "localhost:9", "eagernb: EAGERNB_ENDPOINT must be a URL"),
    ],
)
def test_an_address_without_a_scheme_is_refused_saying_what_to_add(
    flag: list[str], env: str | None, says: str
) -> None:
    done = eagernb("executions", "list", *flag, endpoint=env)
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(says) and "'localhost:9': add http://" in last


def test_a_remote_run_that_cannot_be_submitted_says_why(files: Path, tmp_path: Path) -> None:
    unreachable = eagernb(
        "run", "--remote", "--endpoint", "http://127.0.0.1:9", str(files / "flows.py"),
        "add_one", "--x", "1",
    )  # fmt: skip
    assert unreachable.returncode == 1
    assert unreachable.stderr.splitlines()[-1].startswith(
        "eagernb: add_one did not run: Cannot reach the eagernb control plane at http://127.0.0.1:9"
    )
    locked = tmp_path / "locked.py"
    locked.write_text(
        textwrap.dedent("""
        import threading
        from eagernb import task
        LOCK = threading.Lock()

        @task
        def guarded(x: int) -> int:
            with LOCK:
                return x
    """)
    )
    refused = eagernb(
        "run", "--remote", "--endpoint", "http://127.0.0.1:9", str(locked), "guarded", "--x", "1"
    )  # fmt: skip
    assert refused.returncode == 1
    assert refused.stderr.splitlines()[-1].startswith(
        "eagernb: guarded did not run: Task 'guarded' cannot be shipped to workers: it uses the "
        "global 'LOCK'"
    )


def test_no_control_plane_found_says_how_to_get_one(files: Path) -> None:
    done = eagernb("run", "--remote", str(files / "flows.py"), "add_one", "--x", "1")
    assert done.returncode == 1
    assert "No eagernb control plane was found: set EAGERNB_ENDPOINT" in done.stderr


# -- run --------------------------------------------------------------------------------------


@pytest.mark.parametrize("file", ["flows.py", "flows.ipynb"])
def test_remote_run_shows_children_live_and_prints_the_result(
    server: Server, files: Path, file: str
) -> None:
    done = eagernb(
        "run", "--remote", "--project", "runs", str(files / file), "simple_eager_workflow",
        "--x", "10", endpoint=server.url,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == "22\n"
    progress = [line for line in done.stderr.splitlines() if line.startswith("  ")]
    assert [re.sub(r" in \d+ ms", "", line) for line in progress] == [
        "  → add_one (task) x=10",
        "  ✓ add_one (task) succeeded → 11",
        "  → double (task) x=11",
        "  ✓ double (task) succeeded → 22",
    ]
    assert "✓ simple_eager_workflow succeeded in " in done.stderr
    root = server.ok(server.http.get(f"/executions/{execution_id(done.stderr)}"))
    assert (root["name"], root["project"], root["status"]) == (
        "simple_eager_workflow",
        "runs",
        "succeeded",
    )


def test_remote_run_with_an_explicit_endpoint(server: Server, files: Path) -> None:
    done = eagernb(
        "run", "--remote", "--endpoint", server.url, str(files / "flows.py"), "add_one",
        "--x", "41",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == "42\n"
    assert f"Running task add_one(x=41) on {server.url} (project default" in done.stderr


def test_hybrid_run_runs_the_body_here_and_tasks_on_the_server(server: Server, files: Path) -> None:
    done = eagernb(
        "run", "--hybrid", "--project", "hybrid", str(files / "flows.py"),
        "simple_eager_workflow", "--x", "1", endpoint=server.url,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == "4\n"
    assert "  → add_one (task) x=1\n" in done.stderr
    on_server = server.ok(server.http.get("/executions", params={"project": "hybrid"}))
    assert sorted(e["name"] for e in on_server) == ["add_one", "double"]


@pytest.mark.parametrize("file", ["flows.py", "flows.ipynb"])
def test_local_run_needs_no_control_plane(files: Path, file: str) -> None:
    done = eagernb("run", str(files / file), "simple_eager_workflow", "--x", "10")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "22\n"
    assert "Running eager simple_eager_workflow(x=10) locally" in done.stderr
    assert "  → add_one (task) x=10\n" in done.stderr
    assert "  → double (task) x=11\n" in done.stderr
    assert re.search(r"\n  ✓ double \(task\) succeeded in \d+ ms → 22\n", done.stderr)
    assert "on the server" not in done.stderr


def test_run_help_lists_the_inputs_with_their_types(files: Path) -> None:
    done = eagernb("run", str(files / "flows.py"), "simple_eager_workflow", "--help")
    assert done.returncode == 0, done.stderr
    assert "usage: eagernb run" in done.stdout
    assert re.search(r"\n  --x int +required\n", done.stdout), done.stdout
    assert "Add one, then double." in done.stdout
    assert "eager simple_eager_workflow(x: int) -> int" in done.stdout


def test_run_without_a_name_lists_what_the_file_defines(files: Path) -> None:
    done = eagernb("run", str(files / "flows.py"))
    assert done.returncode == 2
    assert "give the NAME of a task or workflow after FILE" in done.stderr
    assert "simple_eager_workflow (eager)" in done.stderr

    unknown = eagernb("run", str(files / "flows.py"), "nope", "--x", "1")
    assert unknown.returncode == 2
    assert "defines no task or workflow named 'nope'; it defines: add_one (task)" in unknown.stderr


def test_a_bad_or_missing_input_is_a_usage_error(files: Path) -> None:
    bad = eagernb("run", str(files / "flows.py"), "add_one", "--x", "ten")
    assert bad.returncode == 2
    assert "argument --x: expected int, got 'ten'" in bad.stderr
    missing = eagernb("run", str(files / "flows.py"), "add_one")
    assert missing.returncode == 2
    assert "the following arguments are required: --x" in missing.stderr


@pytest.mark.parametrize("mode", ["remote", "local"])
def test_a_failed_run_exits_1_with_the_error_and_the_failed_child(
    server: Server, files: Path, mode: str
) -> None:
    where = ["--remote"] if mode == "remote" else []
    done = eagernb(
        "run", *where, str(files / "flows.py"), "fails", "--x", "0", endpoint=server.url
    )  # fmt: skip
    assert done.returncode == 1
    assert done.stdout == ""
    assert "  ✗ risky (task) failed in " in done.stderr
    assert ": ValueError: x must be positive, got 0\n" in done.stderr
    last = next(line for line in done.stderr.splitlines() if line.startswith("eagernb: "))
    assert last.startswith(
        "eagernb: fails failed: ValueError: x must be positive, got 0 (raised in task 'risky'"
    )
    assert "Traceback" not in done.stderr
    if mode == "remote":
        assert f"`eagernb executions show {execution_id(done.stderr)}`" in done.stderr


FAILING_MANY = """
import asyncio

from eagernb import eager, task


@task
def fail_with(group: int, i: int) -> int:
    raise ValueError(f"child {group}.{i} failed")


@eager
async def fail_all(group: int, n: int) -> int:
    # Every child fails before this raises, and the error raised is not the first child's.
    errors = await asyncio.gather(*(fail_with(group=group, i=i) for i in range(n)),
                                  return_exceptions=True)
    raise errors[-1]


@eager
async def fail_groups(n: int) -> int:
    errors = await asyncio.gather(fail_all(group=0, n=n), fail_all(group=1, n=n),
                                  return_exceptions=True)
    raise errors[-1]
"""
RAISED_IN = re.compile(r"child (\d+)\.(\d+) failed \(raised in task 'fail_with', execution (\w+)\)")


@pytest.mark.parametrize("mode", ["remote", "hybrid"])
def test_the_failure_line_names_the_child_whose_error_it_shows(
    server: Server, tmp_path: Path, mode: str
) -> None:
    # Several children fail; the run fails with the last one's error. The line must name
    # that child, not the first failed one in launch order.
    flows = tmp_path / "failing.py"
    flows.write_text(FAILING_MANY)
    project = f"many-{mode}"
    done = eagernb(
        "run", f"--{mode}", "--project", project, str(flows), "fail_groups", "--n", "4",
        endpoint=server.url,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    last = next(line for line in done.stderr.splitlines() if line.startswith("eagernb: "))
    assert last.startswith("eagernb: fail_groups failed: ValueError: child 1.3 failed "), last
    found = RAISED_IN.search(last)
    assert found is not None, last
    remote = Remote(server.url, default_project=project)
    try:
        assert remote.fetch(found[3]).inputs == {"group": 1, "i": 3}
        # Every failed child's record on the server carries its own error.
        failed = remote.list_executions(name="fail_with", status="failed", limit=100)
        assert len(failed) == 8
        for child in failed:
            inputs = child.inputs
            assert child.data["error"]["message"] == f"child {inputs['group']}.{inputs['i']} failed"
    finally:
        remote.close()


def test_traceback_option_prints_the_failed_child_traceback(files: Path) -> None:
    done = eagernb("run", "--traceback", str(files / "flows.py"), "fails", "--x", "0")
    assert done.returncode == 1
    assert "Traceback (most recent call last):" in done.stderr
    assert ", in risky\n" in done.stderr


def test_ctrl_c_cancels_the_remote_run_and_exits_130(
    server: Server, files: Path, tmp_path: Path
) -> None:
    fifo = tmp_path / "running.fifo"
    os.mkfifo(fifo)
    command = [sys.executable, "-m", "eagernb", "run", "--remote", "--project", "interrupt",
               str(files / "flows.py"), "waits", "--fifo", str(fifo)]  # fmt: skip
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(server.url)
    )
    try:
        read_pid(fifo)  # the task runs on a worker
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 130, err
    assert out == ""
    assert "eagernb: interrupted; cancelled waits and its children" in err
    assert "Traceback" not in err
    root = server.wait(execution_id(err))
    assert root["status"] == "cancelled"
    children = server.ok(server.http.get(f"/executions/{root['id']}/children"))
    assert [(c["name"], c["status"]) for c in children] == [("announce", "cancelled")]


@pytest.mark.parametrize("mode", ["remote", "hybrid"])
def test_sigterm_cancels_the_run_on_the_server_and_exits_143(
    server: Server, files: Path, tmp_path: Path, mode: str
) -> None:
    # What `timeout`, a CI cancel or a process manager sends: like Ctrl-C, no orphans.
    fifo = tmp_path / "running.fifo"
    os.mkfifo(fifo)
    project = f"terminate-{mode}"
    command = [sys.executable, "-m", "eagernb", "run", f"--{mode}", "--project", project,
               str(files / "flows.py"), "waits", "--fifo", str(fifo)]  # fmt: skip
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(server.url)
    )
    try:
        read_pid(fifo)  # the task runs on a worker
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 143, err
    assert out == ""
    assert "eagernb: stopped by SIGTERM; cancelled waits and its children" in err
    assert "Traceback" not in err
    on_server = server.ok(server.http.get("/executions", params={"project": project}))
    # It exits once the server has ended them: nothing is left running there.
    expected = {"announce": "cancelled"} | ({"waits": "cancelled"} if mode == "remote" else {})
    assert {e["name"]: e["status"] for e in on_server} == expected


def test_a_run_cancelled_on_the_server_exits_1(server: Server, files: Path, tmp_path: Path) -> None:
    fifo = tmp_path / "running.fifo"
    os.mkfifo(fifo)
    command = [sys.executable, "-m", "eagernb", "run", "--remote", "--project", "elsewhere",
               str(files / "flows.py"), "waits", "--fifo", str(fifo)]  # fmt: skip
    proc = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=_env(server.url)
    )
    try:
        read_pid(fifo)
        (root,) = server.ok(
            server.http.get("/executions", params={"project": "elsewhere", "name": "waits"})
        )
        cancelled = eagernb("executions", "cancel", root["id"], endpoint=server.url)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert cancelled.returncode == 0, cancelled.stderr
    assert cancelled.stdout == (
        f"{root['id']} waits (eager) cancelled; its children were cancelled too.\n"
    )
    remote = Remote(server.url, default_project="elsewhere")
    try:
        (child,) = remote.list_executions(parent_id=root["id"])
        with pytest.raises(RunCancelledError) as cancelled_child:
            _ = child.output
        # Said once, with the server's reason (its parent's cancellation, or a request).
        message, reason = str(cancelled_child.value), child.data["error"]["message"]
        assert message.startswith(f"Execution {child.id} was cancelled"), message
        assert message.count(" was cancelled by a request") == 1, message
        assert message.endswith(reason), message
    finally:
        remote.close()
    assert proc.returncode == 1, err
    assert out == ""
    assert "eagernb: waits was cancelled (run r" in err
    assert f"execution {root['id']} on the server)" in err


# -- run: the HTML report ---------------------------------------------------------------------

ROW = re.compile(r'<div class="enb-row[^"]*" data-eagernb-id="[^"]+" data-status="(\w+)"[^>]*>'
                 r'<span class="enb-name"[^>]*>(?:<span class="enb-fold"[^>]*>.?</span>)?'
                 r'<span class="enb-kind">.</span> (\w+)')  # fmt: skip


def report_of(stderr: str) -> Path:
    """The report the run wrote, from its last stderr line ``report: PATH``."""
    last = stderr.splitlines()[-1]
    assert last.startswith("report: "), stderr
    return Path(last.removeprefix("report: "))


def tree_rows(text: str) -> list[tuple[str, str]]:
    """(name, status) of each row of the report's tree (the timeline repeats them)."""
    rows = [(name, status) for status, name in ROW.findall(text)]
    return rows[: len(rows) // 2]


def assert_self_contained(text: str) -> None:
    assert text.startswith("<!DOCTYPE html>") and text.endswith("</html>")
    assert not re.search(r"""<(script|img|iframe)[^>]*\ssrc=["']?(https?:)?//""", text)
    assert "<link" not in text and "@import" not in text, "no stylesheet to fetch"


def test_a_local_run_writes_its_report_and_prints_where(files: Path, tmp_path: Path) -> None:
    done = eagernb("run", str(files / "flows.py"), "simple_eager_workflow", "--x", "10",
                   reports=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout == "22\n", "the report's path goes to stderr, not with the result"
    run_id = re.findall(r"^run (r\w+)$", done.stderr, re.MULTILINE)[-1]
    path = report_of(done.stderr)
    assert path == tmp_path / f"{run_id}.html", "named as the notebook names reports"
    text = path.read_text(encoding="utf-8")
    assert_self_contained(text)
    assert tree_rows(text) == [
        ("simple_eager_workflow", "succeeded"), ("add_one", "succeeded"), ("double", "succeeded"),
    ]  # fmt: skip
    assert "x=10" in text and "<template data-for=" in text, "inputs and each one's details"
    summary = (tmp_path / f"{run_id}.json").read_text()
    assert '"status": "succeeded"' in summary and '"children": 2' in summary


def test_report_option_chooses_the_file_and_a_failed_run_has_one_too(
    files: Path, tmp_path: Path
) -> None:
    target = tmp_path / "out" / "failed-run.html"
    done = eagernb("run", "--report", str(target), str(files / "flows.py"), "fails", "--x", "0")
    assert done.returncode == 1
    lines = done.stderr.splitlines()
    assert lines[-2].startswith("eagernb: fails failed: ValueError: x must be positive")
    assert report_of(done.stderr) == target
    text = target.read_text(encoding="utf-8")
    assert_self_contained(text)
    assert tree_rows(text) == [("fails", "failed"), ("risky", "failed")]
    assert "x must be positive, got 0" in text and "Traceback" in text


def test_no_report_writes_none(files: Path, tmp_path: Path) -> None:
    done = eagernb("run", "--no-report", str(files / "flows.py"), "add_one", "--x", "1",
                   reports=tmp_path)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "report:" not in done.stderr
    assert list(tmp_path.iterdir()) == []
    both = eagernb("run", "--no-report", "--report", str(tmp_path / "r.html"),
                   str(files / "flows.py"), "add_one", "--x", "1")  # fmt: skip
    assert both.returncode == 2 and "not allowed with argument" in both.stderr


def test_a_remote_run_report_links_each_child_to_the_web_view(
    server: Server, files: Path, tmp_path: Path
) -> None:
    target = tmp_path / "remote.html"
    done = eagernb(
        "run", "--remote", "--project", "reported", "--report", str(target),
        str(files / "flows.py"), "simple_eager_workflow", "--x", "1", endpoint=server.url,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert report_of(done.stderr) == target
    text = target.read_text(encoding="utf-8")
    assert_self_contained(text)
    assert tree_rows(text) == [
        ("simple_eager_workflow", "succeeded"), ("add_one", "succeeded"), ("double", "succeeded"),
    ]  # fmt: skip
    assert f'href="{server.url}/ui/executions/{execution_id(done.stderr)}"' in text


# -- executions -------------------------------------------------------------------------------


def test_executions_list_and_show_a_finished_run(server: Server, files: Path) -> None:
    ran = eagernb(
        "run", "--remote", "--project", "shown", str(files / "flows.py"),
        "simple_eager_workflow", "--x", "10", endpoint=server.url,
    )  # fmt: skip
    assert ran.returncode == 0, ran.stderr
    root = execution_id(ran.stderr)

    listed = eagernb("executions", "list", "--project", "shown", endpoint=server.url)
    assert listed.returncode == 0, listed.stderr
    header, *rows = listed.stdout.splitlines()
    assert header.split() == ["ID", "NAME", "KIND", "STATUS", "CREATED", "DURATION", "PARENT"]
    table = {row.split()[0]: row.split() for row in rows}
    assert table[root][1:4] == ["simple_eager_workflow", "eager", "succeeded"]
    assert sorted(r[1] for r in table.values()) == ["add_one", "double", "simple_eager_workflow"]
    assert all(r[-1] == root for r in table.values() if r[0] != root)

    only = eagernb(
        "executions", "list", "--project", "shown", "--name", "double", endpoint=server.url
    )
    assert [row.split()[1] for row in only.stdout.splitlines()[1:]] == ["double"]

    shown = eagernb("executions", "show", root, endpoint=server.url)
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    assert f"execution  {root}" in lines
    assert "status     succeeded" in lines
    assert "inputs     x=10" in lines
    assert "output     22" in lines
    assert "where      project shown, domain development" in lines
    tree = [re.sub(r" \d+ ms  \[[0-9a-f]{20}\]$", "", line) for line in lines if "(task)" in line]
    assert tree == ["  ✓ add_one (task) succeeded", "  ✓ double (task) succeeded"]


def test_executions_show_a_failure_with_its_traceback(server: Server, files: Path) -> None:
    ran = eagernb(
        "run", "--remote", "--project", "failed", str(files / "flows.py"), "fails", "--x", "0",
        endpoint=server.url,
    )  # fmt: skip
    assert ran.returncode == 1
    shown = eagernb("executions", "show", execution_id(ran.stderr), endpoint=server.url)
    assert shown.returncode == 0, shown.stderr
    assert "status     failed\n" in shown.stdout
    assert "error      ValueError: x must be positive, got 0\n" in shown.stdout
    assert "  ✗ risky (task) failed " in shown.stdout
    traceback = shown.stdout.split("\ntraceback:\n")[1]
    assert "ValueError: x must be positive, got 0" in traceback
    assert (
        "failed"
        in eagernb(
            "executions", "list", "--project", "failed", "--status", "failed", endpoint=server.url
        ).stdout
    )


def test_executions_cancel_a_running_execution(server: Server, tmp_path: Path) -> None:
    fifo = tmp_path / "running.fifo"
    os.mkfifo(fifo)
    remote = Remote(server.url, default_project="cancelling")
    try:
        execution = remote.execute(announce, {"fifo": str(fifo), "seconds": 120})
        read_pid(fifo)  # it runs on a worker now

        listed = eagernb("executions", "list", "--project", "cancelling", endpoint=server.url)
        assert listed.stdout.splitlines()[1].split()[:4] == [
            execution.id, "announce", "task", "running"
        ]  # fmt: skip
        assert (
            "status     running"
            in eagernb("executions", "show", execution.id, endpoint=server.url).stdout
        )

        cancelled = eagernb("executions", "cancel", execution.id, endpoint=server.url)
        assert cancelled.returncode == 0, cancelled.stderr
        assert cancelled.stdout == f"{execution.id} announce (task) cancelled.\n", "no children"
        assert remote.wait(execution.id, timeout=60).status == "cancelled"
        with pytest.raises(RunCancelledError) as output:
            _ = execution.output
        assert str(output.value) == (
            f"Execution {execution.id} was cancelled by a request to the server."
        )

        again = eagernb("executions", "cancel", execution.id, endpoint=server.url)
        assert again.returncode == 0
        assert again.stdout == (
            f"{execution.id} announce (task) already cancelled; nothing to cancel.\n"
        )
    finally:
        remote.close()


def test_executions_show_an_unknown_id(server: Server) -> None:
    done = eagernb("executions", "show", "f" * 20, endpoint=server.url)
    assert done.returncode == 1
    assert f"No execution has id '{'f' * 20}' on this server" in done.stderr


def test_the_workflow_file_is_imported_not_run(files: Path, tmp_path: Path) -> None:
    # `if __name__ == "__main__":` blocks stay out, as for `import`.
    done = eagernb("run", str(files / "flows.py"), "add_one", "--x", "1")
    assert done.returncode == 0, done.stderr
    broken = tmp_path / "broken.py"
    broken.write_text(
        textwrap.dedent("""
        from eagernb import task
        raise RuntimeError("broken at import")
    """)
    )
    failed = eagernb("run", str(broken), "anything")
    assert failed.returncode == 1
    assert failed.stderr.strip() == (
        f"eagernb: Importing {broken} raised RuntimeError: broken at import."
    )


def test_executions_show_what_the_run_printed(server: Server, tmp_path: Path) -> None:
    flows = tmp_path / "talkers.py"
    flows.write_text(
        "from eagernb import eager, task\n\n"
        "@task\ndef talk(x: int) -> int:\n    print(f'talking {x}')\n    return x\n\n"
        "@eager\nasync def talks(x: int) -> int:\n"
        "    print('starting')\n    return await talk(x=x) + await talk(x=x + 1)\n"
    )
    ran = eagernb("run", "--remote", str(flows), "talks", "--x", "1", endpoint=server.url)
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "3"
    shown = eagernb("executions", "show", execution_id(ran.stderr), endpoint=server.url)
    assert shown.returncode == 0, shown.stderr
    printed = shown.stdout.split("\nprinted:\n")[1].splitlines()
    assert printed == ["  [talks] starting", "  [talk] talking 1", "  [talk] talking 2"]


def test_a_notebook_s_definitions_load_around_awaits_displays_and_failures(
    tmp_path: Path,
) -> None:
    cells = [
        "from eagernb import eager, task",
        # definitions mixed with a top-level await and a display, as notebooks have them
        "@task\ndef add_one(x: int) -> int:\n    return x + 1\n\n"
        "await add_one(x=1)\n\n"
        "@eager\nasync def plus_two(x: int) -> int:\n"
        "    return await add_one(x=await add_one(x=x))\n"
        "plus_two",
        # a statement that fails while loading ends its cell; later cells still load
        "broken = None.walk()\nnever = 1",
        "@task\ndef triple(x: int) -> int:\n    return 3 * x",
    ]
    notebook = new_notebook(cells=[new_code_cell(c) for c in cells])
    path = tmp_path / "mixed.ipynb"
    nbformat.write(notebook, path)
    done = eagernb("run", str(path), "plus_two", "--x", "5")
    assert done.returncode == 0, done.stderr
    assert done.stdout == "7\n"
    assert (
        "eagernb: skipped in mixed.ipynb: code cell 3 from line 1 (it raised AttributeError: "
        "'NoneType' object has no attribute 'walk'); top-level await in code cell 2; bare "
        "expressions in code cell 2"
    ) in done.stderr
    tripled = eagernb("run", str(path), "triple", "--x", "5")
    assert tripled.stdout == "15\n", tripled.stderr
