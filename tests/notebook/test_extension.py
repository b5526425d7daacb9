"""The notebook layer in a real kernel: loading, asyncio.run, widgets, interrupts, Cancel."""

from __future__ import annotations

import re
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest

from . import explorer_state
from .kernel_session import SEED_DIR, KernelSession

pytestmark = pytest.mark.kernel


@pytest.fixture
def kernel() -> Iterator[KernelSession]:
    session = KernelSession()
    try:
        yield session
    finally:
        session.close()


def run_ok(kernel: KernelSession, code: str, **kwargs: Any) -> Any:
    result = kernel.run(textwrap.dedent(code), **kwargs)
    assert result.status == "ok", result.error
    return result


def test_loading_twice_then_unloading_leaves_the_kernel_as_it_was(kernel: KernelSession) -> None:
    run_ok(
        kernel,
        """
        import asyncio, signal
        import eagernb._core.events as events
        def snapshot():
            return (
                asyncio.run, asyncio.Task, asyncio.Future, type(asyncio.get_event_loop_policy()),
                signal.getsignal(signal.SIGINT), events.bus._subscribers,
                events.bus._run_subscribers,
                list(get_ipython().events.callbacks["pre_run_cell"]),
                list(get_ipython().events.callbacks["post_run_cell"]),
                "eagernb" in get_ipython().magics_manager.magics["line"],
            )
        before = snapshot()
        """,
    )
    run_ok(kernel, "%load_ext eagernb")
    run_ok(kernel, "%load_ext eagernb")
    loaded = run_ok(
        kernel,
        "print(len(events.bus._subscribers), len(events.bus._run_subscribers), snapshot()[-1],"
        " asyncio.Task is before[1])",
    )
    # Loaded twice, subscribed once; and only to runs starting and ending, so the
    # launcher builds no event object per child for it.
    assert loaded.stdout.split() == ["0", "1", "True", "True"]

    seed = run_ok(
        kernel,
        """
        from eager_workflows import *
        if __name__ == "__main__":
            result = asyncio.run(simple_eager_workflow(x=5))
            print(f"Result: {result}")
        """,
    )
    assert "Result: 12" in seed.stdout

    run_ok(kernel, "%unload_ext eagernb")
    after = run_ok(kernel, "print(snapshot() == before)")
    assert after.stdout.strip() == "True"
    refused = kernel.run("asyncio.run(simple_eager_workflow(x=5))")
    assert refused.error is not None
    assert "cannot be called from a running event loop" in refused.error[1]
    assert run_ok(kernel, "await simple_eager_workflow(x=5)").result == "12"


def test_top_level_await_later_cells_and_httpx_keep_working(kernel: KernelSession) -> None:
    run_ok(kernel, "%load_ext eagernb")
    run_ok(kernel, "from eager_workflows import *")
    assert run_ok(kernel, "await simple_eager_workflow(x=5)").result == "12"
    assert run_ok(kernel, "await nested_eager_workflow(x=5)").result == "12"
    run_ok(
        kernel,
        """
        import http.server, threading, httpx
        from eagernb import eager, task

        class Hello(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                body = b"hello from " + self.path.encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
            def log_message(self, *args):
                pass

        server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hello)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}"

        @task
        async def fetch(path: str) -> str:
            async with httpx.AsyncClient() as client:
                return (await client.get(url + path)).text

        @eager
        async def fetch_all(n: int) -> list[str]:
            return list(await asyncio.gather(*(fetch(path=f"/{i}") for i in range(n))))
        """,
    )
    direct = run_ok(
        kernel,
        """
        async with httpx.AsyncClient() as client:
            print((await client.get(url + "/direct")).text)
        """,
    )
    assert direct.stdout.strip() == "hello from /direct"
    fetched = run_ok(kernel, "await fetch_all(n=3)")
    assert fetched.result == "['hello from /0', 'hello from /1', 'hello from /2']"
    assert run_ok(kernel, "server.shutdown(); 1 + 1").result == "2"


def test_widget_rows_appear_and_update_while_the_cell_runs(kernel: KernelSession) -> None:
    run_ok(kernel, "%load_ext eagernb")
    run_ok(
        kernel,
        """
        import asyncio
        from eagernb import eager, task

        @task
        async def step(i: int) -> int:
            await asyncio.sleep(0.4)
            return i * 10

        @eager
        async def steps(n: int) -> int:
            total = 0
            for i in range(n):
                total += await step(i=i)
            return total
        """,
    )
    seen: list[list[tuple[str, str]]] = []  # the rows shown after each widget message

    def watch(msg: dict[str, Any]) -> None:
        if msg["msg_type"] in ("comm_msg", "comm_open"):
            shown = explorer_state.rows(kernel.comms)
            if shown:
                seen.append(shown)

    cell = run_ok(kernel, "await steps(n=3)", on_message=watch)
    assert cell.result == "30"
    # Rows were sent before the cell ended, and a child was shown running at some point.
    assert any(("running" in [s for _, s in rows[1:]]) for rows in seen)
    # Rows appeared one by one: some update listed fewer than all four executions.
    assert min(len(rows) for rows in seen) < 4
    final = explorer_state.rows(kernel.comms)
    assert [status for _, status in final] == ["succeeded"] * 4
    fallback = [m for m in cell.of_type("display_data")]
    assert "steps succeeded" in fallback[0]["content"]["data"]["text/plain"] or any(
        "steps succeeded" in m["content"]["data"].get("text/plain", "")
        for m in cell.of_type("update_display_data")
    )


def test_interrupt_cancels_running_and_queued_children_and_next_cell_works(
    kernel: KernelSession,
) -> None:
    run_ok(kernel, "%load_ext eagernb")
    run_ok(
        kernel,
        """
        import asyncio, time
        import eagernb
        from eagernb import eager, task

        @task
        async def wait_async(i: int) -> int:
            print(f"started {i}", flush=True)
            await asyncio.sleep(60)
            return i

        @task
        def wait_sync(i: int) -> int:
            print(f"started {i}", flush=True)
            time.sleep(1.5)
            return i

        @eager(max_concurrency=2)
        async def long_run(n: int) -> int:
            parts = [wait_async(i=0), wait_sync(i=1)] + [wait_async(i=i) for i in range(2, n)]
            return sum(await asyncio.gather(*parts))
        """,
    )
    started: set[str] = set()

    def interrupt_when_both_started(msg: dict[str, Any]) -> None:
        # What the children print shows under their rows in the explorer.
        if msg["msg_type"] == "comm_msg" and "interrupted" not in started:
            started.update(re.findall(r"started \d+", explorer_state.row_html(kernel.comms)))
            if started == {"started 0", "started 1"}:
                started.add("interrupted")
                kernel.km.interrupt_kernel()

    cell = kernel.run("await long_run(n=4)", on_message=interrupt_when_both_started)
    assert "interrupted" in started
    assert cell.error is not None and cell.error[0] == "CancelledError"
    statuses = run_ok(
        kernel,
        """
        run = eagernb.last_run()
        print(run.status.value, *[f"{r.name}:{r.status.value}" for _, r in run.walk()])
        """,
    )
    words = statuses.stdout.split()
    assert words[0] == "cancelled"
    assert words[1] == "long_run:cancelled"
    assert sorted(words[2:]) == sorted(
        [
            "wait_async:cancelled",
            "wait_sync:cancelled",
            "wait_async:cancelled",
            "wait_async:cancelled",
        ]
    )
    assert run_ok(kernel, "1 + 1").result == "2"
    assert (
        run_ok(kernel, "from eager_workflows import *\nawait simple_eager_workflow(x=5)").result
        == "12"
    )


def test_cancel_button_cancels_the_run_and_its_children(kernel: KernelSession) -> None:
    run_ok(kernel, "%load_ext eagernb")
    run_ok(
        kernel,
        """
        import asyncio
        import eagernb
        from eagernb import eager, task

        @task
        async def forever(i: int) -> int:
            print(f"started {i}", flush=True)
            await asyncio.sleep(120)
            return i

        @eager
        async def stuck(n: int) -> int:
            return sum(await asyncio.gather(*(forever(i=i) for i in range(n))))
        """,
    )
    clicked: list[str] = []

    def click_cancel_once_started(msg: dict[str, Any]) -> None:
        if (
            msg["msg_type"] == "comm_msg"
            and "started 2" in explorer_state.row_html(kernel.comms)
            and not clicked
        ):
            buttons = explorer_state.buttons(kernel.comms, "Cancel")
            clicked.extend(buttons)
            kernel.click(buttons[-1])

    cell = kernel.run("await stuck(n=3)", on_message=click_cancel_once_started)
    assert clicked
    assert cell.error is not None
    assert cell.error[0] == "RunCancelledError"
    assert "Cancel button" in cell.error[1]
    statuses = run_ok(
        kernel,
        "print(*[r.status.value for _, r in eagernb.last_run().walk()])",
    )
    assert statuses.stdout.split() == ["cancelled"] * 4
    button = kernel.comms[clicked[-1]]
    assert button["disabled"] is True and button["description"] == "Cancelled"


def test_widget_can_be_switched_off_and_bad_options_are_explained(kernel: KernelSession) -> None:
    run_ok(kernel, "%load_ext eagernb")
    run_ok(kernel, "from eager_workflows import *")
    options = run_ok(kernel, "%eagernb widget=off rate=2")
    assert "widget=off" in options.stdout and "rate=2.0" in options.stdout
    quiet = run_ok(kernel, "await simple_eager_workflow(x=5)")
    assert quiet.result == "12"
    assert quiet.of_type("display_data") == []
    bad = kernel.run("%eagernb colour=blue")
    stderr = "".join(
        m["content"]["text"] for m in bad.of_type("stream") if m["content"]["name"] == "stderr"
    )
    # A short usage message, not a traceback through eagernb's code.
    assert "UsageError: Unknown eagernb option 'colour'" in stderr
    assert "Traceback" not in stderr and bad.error is None
    runs = run_ok(kernel, "%eagernb runs")
    assert "simple_eager_workflow" in runs.stdout and "succeeded" in runs.stdout


def test_terminal_ipython_prints_a_text_summary(tmp_path: Any) -> None:
    script = tmp_path / "run.ipy"
    script.write_text(
        "%load_ext eagernb\n"
        f"import sys; sys.path.insert(0, {SEED_DIR!r})\n"
        "from eager_workflows import *\n"
        "await eager_workflow_with_exception(x=0)\n"
    )
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "IPython",
            "--no-banner",
            "--quick",
            "--colors=nocolor",
            str(script),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    assert "eager_workflow_with_exception succeeded" in out
    assert "raises_exc (task) failed" in out
    assert "TypeError" in out


def test_interrupting_asyncio_run_in_a_cell_cancels_the_run(kernel: KernelSession) -> None:
    run_ok(kernel, "%load_ext eagernb")
    run_ok(
        kernel,
        """
        import asyncio
        import eagernb
        from eagernb import eager, task

        @task
        async def forever(i: int) -> int:
            print(f"started {i}", flush=True)
            await asyncio.sleep(120)
            return i

        @eager
        async def stuck(n: int) -> int:
            return sum(await asyncio.gather(*(forever(i=i) for i in range(n))))
        """,
    )
    interrupted: list[bool] = []

    def interrupt_once_started(msg: dict[str, Any]) -> None:
        if (
            msg["msg_type"] == "comm_msg"
            and "started 1" in explorer_state.row_html(kernel.comms)
            and not interrupted
        ):
            interrupted.append(True)
            kernel.km.interrupt_kernel()

    cell = kernel.run("asyncio.run(stuck(n=2))", on_message=interrupt_once_started)
    assert interrupted
    assert cell.error is not None and cell.error[0] == "KeyboardInterrupt"
    statuses = run_ok(kernel, "print(*[r.status.value for _, r in eagernb.last_run().walk()])")
    assert statuses.stdout.split() == ["cancelled"] * 3
    assert run_ok(kernel, "await stuck.start(n=0)").result == "0"


def test_thousands_of_children_send_a_bounded_number_of_widget_updates(
    kernel: KernelSession,
) -> None:
    run_ok(kernel, "%load_ext eagernb")
    run_ok(
        kernel,
        """
        import asyncio
        from eagernb import eager, task

        @task
        async def noop(i: int) -> int:
            return i

        @eager
        async def many(n: int) -> int:
            return sum(await asyncio.gather(*(noop(i=i) for i in range(n))))
        """,
    )
    cell = run_ok(kernel, "import time; t0 = time.perf_counter(); await many(n=3000)")
    assert cell.result == str(sum(range(3000)))
    elapsed = float(run_ok(kernel, "print(time.perf_counter() - t0)").stdout)
    updates = [
        m for m in cell.of_type("comm_msg") if m["content"]["data"].get("method") == "update"
    ]
    # At most `rate` renders a second; a render changes at most one page of rows (20) and
    # about a dozen controls; at the end every widget's state is sent once more.
    per_render, final = 20 + 16, 120
    assert len(updates) <= per_render * 4 * (elapsed + 1) + final, (len(updates), elapsed)
    assert len(updates) < 3000 // 4, "updates must not grow with the number of children"
    headers = explorer_state.headers(kernel.comms)
    assert "3000 child executions" in headers[-1]
    assert "3000 succeeded" in headers[-1]
    assert len(explorer_state.rows(kernel.comms)) == 20, "one page of rows, not 3001"
