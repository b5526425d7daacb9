"""The seed examples in hybrid and remote mode against a real server with worker processes."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

import eagernb
from eagernb import EagerException, Remote, eager, task
from tests.seed import eager_workflows as seed
from tests.server.conftest import Server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    started = Server(Path(tmp_path_factory.mktemp("remote")) / "data", workers=2)
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture
def remote(server: Server) -> Iterator[Remote]:
    client = Remote(server.url, default_project="flytesnacks", default_domain="development")
    eagernb.config.remote = client
    try:
        yield client
    finally:
        eagernb.config.remote = None
        client.close()


EXPECTED = [
    (seed.simple_eager_workflow, 5, 12),
    (seed.another_eager_workflow, 5, 10),
    (seed.eager_workflow_with_conditionals, 5, 12),
    (seed.eager_workflow_with_conditionals, 100, 100),
    (seed.eager_workflow_with_for_loop, 5, 30),
    (seed.eager_workflow_with_static_subworkflow, 5, 12),
    (seed.nested_eager_workflow, 5, 12),
    (seed.eager_workflow_with_exception, 0, -1),
    (seed.eager_workflow_with_exception, 5, 5),
]


@pytest.mark.parametrize("mode", ["hybrid", "remote"])
def test_seed_examples_give_the_documented_values(remote: Remote, mode: str) -> None:
    with eagernb.mode(mode):
        for workflow, x, expected in EXPECTED:
            assert asyncio.run(workflow(x=x)) == expected, (workflow.name, x)


def test_hybrid_children_are_remote_executions(remote: Remote) -> None:
    with eagernb.mode("hybrid"):
        assert asyncio.run(seed.eager_workflow_with_for_loop(x=3)) == 12
    run = eagernb.last_run()
    assert run is not None
    assert [(r.name, r.status.value) for _, r in run.walk()] == [
        ("eager_workflow_with_for_loop", "succeeded"),
        ("add_one", "succeeded"),
        ("add_one", "succeeded"),
        ("add_one", "succeeded"),
        ("double", "succeeded"),
    ]
    on_server = remote.list_executions(limit=4)
    assert sorted(e.data["name"] for e in on_server) == ["add_one", "add_one", "add_one", "double"]
    assert all(e.status == "succeeded" for e in on_server)


def test_remote_run_is_followed_live_with_nested_children(remote: Remote) -> None:
    with eagernb.mode("remote"):
        assert asyncio.run(seed.nested_eager_workflow(x=5)) == 12
    run = eagernb.last_run()
    assert run is not None
    rows = [(depth, r.name, r.status.value) for depth, r in run.walk()]
    assert rows == [
        (0, "nested_eager_workflow", "succeeded"),
        (1, "eager_subworkflow", "succeeded"),
        (2, "add_one", "succeeded"),
        (1, "double", "succeeded"),
    ]


class Unlucky(Exception):
    def __init__(self, code: int, detail: str) -> None:
        super().__init__(f"unlucky {code}: {detail}")
        self.code = code


@task
def unlucky(x: int) -> int:
    raise Unlucky(x, "remote")


@eager
async def catches_by_type(x: int) -> str:
    try:
        await unlucky(x=x)
    except Unlucky as exc:
        assert isinstance(exc, EagerException)
        tb = exc.remote_traceback
        return (
            f"{exc.code} {exc.execution_name} {', in unlucky' in tb and 'Unlucky: unlucky 7' in tb}"
        )
    return "not raised"


@pytest.mark.parametrize("mode", ["hybrid", "remote"])
def test_remote_failures_arrive_as_the_original_exception_type(remote: Remote, mode: str) -> None:
    with eagernb.mode(mode):
        assert asyncio.run(catches_by_type(x=7)) == "7 unlucky True"


@task
async def nap(i: int) -> int:
    await asyncio.sleep(120)
    return i


@eager
async def naps(n: int) -> int:
    return sum(await asyncio.gather(*(nap(i=i) for i in range(n))))


@pytest.mark.parametrize("mode", ["hybrid", "remote"])
def test_cancelling_a_run_cancels_its_children_on_the_server(remote: Remote, mode: str) -> None:
    async def main() -> tuple[str, list[str]]:
        both_running = asyncio.Event()
        with eagernb.mode(mode):
            handle = naps.start(n=2)

        def watch(_event: object) -> None:
            running = [
                r
                for r in handle.records.values()
                if r.name == "nap" and r.status.value == "running"
            ]
            if len(running) == 2:
                both_running.set()

        handle.events.subscribe(watch)
        await both_running.wait()
        handle.cancel()
        try:
            await handle
        except eagernb.RunCancelledError as exc:
            outcome = type(exc).__name__
        # Every row the notebook shows has ended too (remote mode mirrors them).
        shown = {r.status.value for r in handle.records.values()}
        assert shown <= {"cancelled", "succeeded", "failed"}, shown
        assert [r.status.value for r in handle.records.values() if r.name == "nap"] == [
            "cancelled",
            "cancelled",
        ]
        ids = [e.id for e in await asyncio.to_thread(remote.list_executions, limit=20)]
        finals = [await remote.await_final(i) for i in ids]
        return outcome, [f"{e.data['name']}:{e.status}" for e in finals]

    outcome, finals = asyncio.run(main())
    assert outcome == "RunCancelledError"
    assert sorted(f for f in finals if f.split(":")[0] == "nap")[-2:] == [
        "nap:cancelled",
        "nap:cancelled",
    ]
    assert not any(f.endswith((":running", ":queued")) for f in finals)


def test_code_from_a_local_module_ships_by_value(
    remote: Remote, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "local_helpers_for_eagernb.py").write_text(
        "class Scaled:\n"
        "    def __init__(self, factor: int) -> None:\n"
        "        self.factor = factor\n"
        "\n"
        "def scale(x: int, by: 'Scaled') -> int:\n"
        "    return x * by.factor\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    import local_helpers_for_eagernb as helpers  # only this process can import it

    @task
    def scaled(x: int) -> int:
        return helpers.scale(x, helpers.Scaled(3))

    @eager
    async def uses_helpers(x: int) -> int:
        return await scaled(x=x)

    with eagernb.mode("hybrid"):
        assert asyncio.run(uses_helpers(x=4)) == 12
    with eagernb.mode("remote"):
        assert asyncio.run(uses_helpers(x=5)) == 15


def test_an_unchanged_entity_is_not_uploaded_again_and_an_edit_gets_a_new_version(
    remote: Remote,
) -> None:
    def make(offset: int) -> eagernb.Task[[int], int]:
        @task
        def shifted(x: int) -> int:
            return x + offset

        return shifted

    first = remote.register(make(1))
    again = remote.register(make(1))
    edited = remote.register(make(2))
    assert first == again
    assert edited != first
    versions = remote._check(remote._sync().get("/entities", params={"name": "shifted"}))
    assert {v["version"] for v in versions} == {first, edited}


@task
def shout(x: int) -> int:
    print(f"shouting {x}")
    print(f"warning {x}", file=__import__("sys").stderr)
    return x


@eager
async def inner_shouts(x: int) -> int:
    print("inner body")
    return await shout(x=x + 1)


@eager
async def shouts(x: int) -> int:
    print("outer body")
    values = await asyncio.gather(shout(x=x), inner_shouts(x=x))
    return sum(values)


@pytest.mark.parametrize("mode", ["hybrid", "remote"])
def test_what_remote_children_print_shows_under_their_rows(remote: Remote, mode: str) -> None:
    with eagernb.mode(mode):
        assert asyncio.run(shouts(x=1)) == 3
    run = eagernb.last_run()
    assert run is not None
    printed = sorted((depth, r.name, run.output_of(r.id)) for depth, r in run.walk())
    bodies = mode == "remote"  # in hybrid mode bodies run here: outside a notebook, prints stay
    assert printed == [
        (0, "shouts", "outer body\n" if bodies else ""),
        (1, "inner_shouts", "inner body\n" if bodies else ""),
        (1, "shout", "shouting 1\nwarning 1\n"),
        (2, "shout", "shouting 2\nwarning 2\n"),
    ]
    shout_row = next(r for _, r in run.walk() if r.name == "shout")
    assert [stream for stream, _ in run.outputs[shout_row.id]] == ["stdout", "stderr"]


def test_explore_by_id_after_the_run_shows_what_children_printed(remote: Remote) -> None:
    from eagernb._notebook.explore import find_tree

    with eagernb.mode("remote"):
        assert asyncio.run(shouts(x=5)) == 11
    root_id = remote.list_executions(name="shouts", limit=1)[0].id
    tree, _, _ = find_tree(root_id, remote)
    texts = sorted(tree.output_of(r.id) for _, r in tree.walk())
    assert texts == sorted(
        ["outer body\n", "shouting 5\nwarning 5\n", "inner body\n", "shouting 6\nwarning 6\n"]
    )


def test_children_still_finish_when_the_notification_channel_breaks(
    remote: Remote, monkeypatch: pytest.MonkeyPatch
) -> None:
    from eagernb._client import link

    async def broken(self: link.Link, channel_id: str) -> None:
        await asyncio.sleep(0)  # let the first submissions name the channel
        self._lose(ConnectionResetError("the stream was cut"))

    monkeypatch.setattr(link.Link, "_read", broken)
    with eagernb.mode("hybrid"):
        assert asyncio.run(seed.eager_workflow_with_for_loop(x=4)) == 20
        assert asyncio.run(catches_by_type(x=7)) == "7 unlucky True"


def test_a_hybrid_child_shows_queued_until_a_worker_takes_it(
    remote: Remote, server: Server, tmp_path: Path
) -> None:
    import threading

    from eagernb._core.events import ExecutionLinked, ExecutionStarted
    from tests.server.conftest import occupy_workers, release_workers

    busy = occupy_workers(server, tmp_path)  # both workers: the child must wait on the server
    linked: list[ExecutionLinked] = []
    started: list[ExecutionStarted] = []
    seen = threading.Event()

    def listen(event: object) -> None:
        if isinstance(event, ExecutionLinked):
            linked.append(event)
            seen.set()
        elif isinstance(event, ExecutionStarted):
            started.append(event)

    unsubscribe = eagernb.events.subscribe(listen)
    results: list[int] = []

    def run() -> None:
        with eagernb.mode("hybrid"):
            results.append(asyncio.run(seed.simple_eager_workflow(x=1)))

    try:
        runner = threading.Thread(target=run)
        runner.start()
        assert seen.wait(60)
        child = linked[0]
        on_server = remote.fetch(child.execution_id)
        assert on_server.status == "queued"
        # The local row says the same: no ExecutionStarted for it yet.
        assert [e.id for e in started if e.id == child.id] == []
        release_workers(server, busy)
        busy = []
        runner.join(60)
    finally:
        unsubscribe()
        if busy:  # the test failed before it freed the workers: free them for the next ones
            release_workers(server, busy)
    assert results == [4]
    child_started = [e for e in started if e.id == child.id]
    assert len(child_started) == 1
    assert child_started[0].time >= remote.fetch(child.execution_id).data["started_at"] - 1.0


@task
def summarize(values: list[int], label: str) -> dict[str, int]:
    return {label: sum(values), "count": len(values)}


@eager
async def summarizes(n: int) -> int:
    summary = await summarize(values=list(range(n)), label="total")
    return summary["total"]


def test_a_remote_run_s_rows_show_previews_of_values_that_stay_on_the_server(
    remote: Remote, server: Server
) -> None:
    with eagernb.mode("remote"):
        assert asyncio.run(summarizes(n=100)) == 4950
    run = eagernb.last_run()
    assert run is not None
    child = next(r for r in run.records.values() if r.name == "summarize")
    # The values stay on the server (pickled); the rows show what was made of them where
    # they were: the inputs by the eager body that submitted the child, the output by
    # the worker that ran it. Long containers are cut after a few items.
    assert {k: repr(v) for k, v in child.inputs.items()} == {
        "values": "[0, 1, 2, 3, 4, 5, 6, 7, ...]",
        "label": "'total'",
    }
    assert repr(child.output) == "{'total': 4950, 'count': 100}"
    root = run.links[run.root_id].execution_id
    page = httpx.get(f"{server.url}/ui/executions/{root}", timeout=30).text
    assert "[0, 1, 2, 3, 4, 5, 6, 7, ...]" in page
    assert "{&#x27;total&#x27;: 4950, &#x27;count&#x27;: 100}" in page


@eager
async def survives_a_cancelled_nap() -> str:
    try:
        await nap(i=60)
    except eagernb.ExecutionCancelledError:
        return "caught the cancelled child"
    return "not cancelled"


@pytest.mark.parametrize("mode", ["hybrid", "remote"])
def test_cancelling_one_child_lets_its_parent_go_on(remote: Remote, mode: str) -> None:
    async def main() -> tuple[str, str, bool]:
        with eagernb.mode(mode):
            handle = survives_a_cancelled_nap.start()
        running = asyncio.Event()

        def watch(_event: object) -> None:
            if any(
                r.name == "nap" and r.status.value == "running" for r in handle.records.values()
            ):
                running.set()

        handle.events.subscribe(watch)
        await running.wait()
        child = next(r.id for r in handle.records.values() if r.name == "nap")
        accepted = handle.cancel_execution(child)
        value = await handle
        return value, handle.records[child].status.value, accepted

    value, status, accepted = asyncio.run(main())
    assert accepted
    assert (value, status) == ("caught the cancelled child", "cancelled")


def test_a_plain_client_handle_is_brought_up_to_date(remote: Remote) -> None:
    handle = remote.execute(seed.add_one, {"x": 1})
    assert handle.status in ("queued", "running", "succeeded")
    assert handle.wait() is handle
    assert (handle.status, handle.output) == ("succeeded", 2)
    by_name = remote.execute("add_one", {"x": 41})
    assert by_name.output == 42  # waits for the end
    assert by_name.status == "succeeded"
    assert by_name.refresh().status == "succeeded"


@pytest.mark.parametrize("whole_run", [False, True], ids=["hybrid", "remote"])
def test_a_task_run_on_its_own_runs_remotely(remote: Remote, whole_run: bool) -> None:
    from eagernb._client.engine import RemoteEngine

    run = eagernb.Run(seed.add_one, {"x": 4}, RemoteEngine(remote, whole_run=whole_run))

    async def main() -> int:
        return int(await run.start())

    assert asyncio.run(main()) == 5
    assert run.root_id in run.links  # a remote execution
    assert [(r.name, r.status.value) for _, r in run.walk()] == [("add_one", "succeeded")]


@pytest.mark.parametrize("mode", ["hybrid", "remote"])
def test_an_unreachable_control_plane_names_its_address_and_the_fix(mode: str) -> None:
    eagernb.config.remote = Remote("http://127.0.0.1:9")
    try:
        with eagernb.mode(mode), pytest.raises(httpx.ConnectError) as raised:
            asyncio.run(seed.simple_eager_workflow(x=1))
    finally:
        eagernb.config.remote = None
    text = str(raised.value)
    assert text.startswith("Cannot reach the eagernb control plane at http://127.0.0.1:9 (")
    assert "`eagernb sandbox start`" in text


def test_an_address_without_a_scheme_is_refused_at_once() -> None:
    with pytest.raises(ValueError, match="add http:// \\(or https://\\) in front"):
        Remote("localhost:9")


@task(retries=2)
def flaky(path: str) -> int:
    count = int(Path(path).read_text() or 0) + 1 if Path(path).exists() else 1
    Path(path).write_text(str(count))
    if count < 3:
        raise ValueError(f"attempt {count} fails")
    return count


@eager
async def calls_flaky(path: str) -> int:
    return await flaky(path=path)


@task(timeout=0.5)
async def too_slow() -> int:
    await asyncio.sleep(60)
    return 0


@eager
async def catches_the_timeout() -> str:
    try:
        await too_slow()
    except eagernb.TaskTimeoutError as exc:
        return f"timed out: {exc}"
    return "finished"


@pytest.mark.parametrize("mode", ["hybrid", "remote"])
def test_retries_and_timeouts_are_attempts_of_one_server_execution(
    remote: Remote, mode: str, tmp_path: Path
) -> None:
    counter = tmp_path / f"count-{mode}"
    with eagernb.mode(mode):
        assert asyncio.run(calls_flaky(path=str(counter))) == 3
    run = eagernb.last_run()
    assert run is not None
    rows = [(r.name, r.status.value, r.attempts) for r in run.records.values()]
    assert rows[1:] == [("flaky", "succeeded", 3)]
    server_id = next(
        link.execution_id for rid, link in run.links.items() if run.records[rid].name == "flaky"
    )
    there = remote.fetch(server_id)
    assert (there.status, there.data["attempts"], there.data["retries"]) == ("succeeded", 3, 2)

    with eagernb.mode(mode):
        said = asyncio.run(catches_the_timeout())
    assert said.startswith("timed out: Task 'too_slow' ran longer than its timeout of 0.5 s")
    run = eagernb.last_run()
    assert run is not None
    child = next(r for r in run.records.values() if r.name == "too_slow")
    assert child.status.value == "failed" and child.error is not None
    assert child.error.type_name.endswith("TaskTimeoutError")
    server_id = run.links[child.id].execution_id
    assert remote.fetch(server_id).status == "failed"


@pytest.mark.parametrize("mode", ["hybrid", "remote"])
def test_a_server_killed_mid_run_ends_every_row_and_says_what_happened(
    tmp_path: Path, mode: str
) -> None:
    doomed = Server(tmp_path / "data", workers=2)
    eagernb.config.remote = Remote(doomed.url)
    try:

        async def main() -> BaseException:
            with eagernb.mode(mode):
                handle = naps.start(n=2)
            both_running = asyncio.Event()

            def watch(_event: object) -> None:
                naps_running = [
                    r for r in handle.records.values()
                    if r.name == "nap" and r.status.value == "running"
                ]  # fmt: skip
                if len(naps_running) == 2:
                    both_running.set()

            handle.events.subscribe(watch)
            await both_running.wait()
            doomed.kill()
            with pytest.raises(eagernb.RemoteRequestError) as raised:
                await handle
            assert {r.status.value for r in handle.records.values()} <= {"failed", "cancelled"}
            return raised.value

        error = asyncio.run(main())
    finally:
        eagernb.config.remote = None
        doomed.kill()
    text = str(error)
    assert text.startswith(f"Lost contact with the control plane at {doomed.url}")
    assert "`eagernb executions show " in text


@eager
async def names_the_failed_child(x: int) -> str:
    try:
        await unlucky(x=x)
    except EagerException as exc:
        return exc.execution_id
    return "not raised"


def test_a_failure_in_a_remote_body_names_the_server_execution(remote: Remote) -> None:
    with eagernb.mode("remote"):
        execution_id = asyncio.run(names_the_failed_child(x=3))
    found = remote.fetch(execution_id)  # an id the control plane knows
    assert (found.data["name"], found.status) == ("unlucky", "failed")


def test_starting_by_name_checks_the_registered_interface(remote: Remote) -> None:
    remote.register(seed.add_one)
    with pytest.raises(eagernb.InputTypeError, match="Input 'x' of 'add_one' must be int, got str"):
        remote.execute("add_one", {"x": "bad"})
    with pytest.raises(eagernb.InputTypeError, match=r"takes x, not y\."):
        remote.execute("add_one", {"y": 1})
    assert remote.execute("add_one", {"x": 2}).output == 3


@task
def hands_back_a_lock(x: int) -> object:
    import threading

    return threading.Lock()


@eager
async def wants_a_lock(x: int) -> object:
    return await hands_back_a_lock(x=x)


@pytest.mark.parametrize("mode", ["hybrid", "remote"])
def test_an_output_that_cannot_be_pickled_names_the_task_and_the_fix(
    remote: Remote, mode: str
) -> None:
    with eagernb.mode(mode), pytest.raises(eagernb.PayloadError) as raised:
        asyncio.run(wants_a_lock(x=1))
    text = str(raised.value)
    assert text.startswith(
        "Task 'hands_back_a_lock' returned a _thread.lock that cannot be pickled"
    )
    assert "Return plain data" in text


SCRIPT = """
import asyncio, sys
import eagernb
from eagernb import eager, task

@task
def loud(i: int) -> int:
    print(f"child {i} speaks")
    return i

@eager
async def speaks() -> int:
    print("body speaks")
    return await loud(i=1)

eagernb.config.mode = sys.argv[1]
print("result", asyncio.run(speaks()))
"""


@pytest.mark.parametrize("mode", ["local", "hybrid", "remote"])
def test_a_script_shows_what_children_print_in_every_mode(
    server: Server, tmp_path: Path, mode: str
) -> None:
    import os
    import subprocess
    import sys

    script = tmp_path / "speaks.py"
    script.write_text(SCRIPT)
    env = {**os.environ, "EAGERNB_ENDPOINT": server.url}
    done = subprocess.run(
        [sys.executable, str(script), mode], capture_output=True, text=True, env=env, timeout=120
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert sorted(lines) == ["body speaks", "child 1 speaks", "result 1"], lines
    assert lines[-1] == "result 1"
