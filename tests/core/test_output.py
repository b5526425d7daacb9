"""What children print becomes their recorded output; one child can be cancelled alone."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import io
import sys
from collections.abc import Iterator
from typing import Any

from eagernb import EagerException, Status, eager, task
from eagernb._core import output
from eagernb._core.errors import ExecutionCancelledError
from eagernb._core.events import ExecutionOutput
from tests.core.support import latest_run_of


@contextlib.contextmanager
def capturing() -> Iterator[io.StringIO]:
    """Capture on, with stdout swapped for a buffer that shows what reached 'the cell'.

    Used inside each test body: pytest puts its own stdout back between test phases.
    """
    cell = io.StringIO()
    with contextlib.redirect_stdout(cell):
        output.capture()
        try:
            yield cell
        finally:
            output.release()
    assert not output.capturing()


def test_prints_of_sync_async_and_nested_children_are_recorded_in_order() -> None:
    @task
    def sync_child(x: int) -> int:
        for i in range(3):
            print(f"sync {x} line {i}")
        print("to stderr", file=sys.stderr)
        return x

    @task
    async def async_child(x: int) -> int:
        print(f"async {x}")
        await asyncio.sleep(0)
        print(f"async {x} again")
        return x

    @eager
    async def inner(x: int) -> int:
        print("inner body")
        return await sync_child(x=x)

    @eager
    async def wf(n: int) -> int:
        print("root body")
        values = await asyncio.gather(
            *(sync_child(x=i) for i in range(n)), *(async_child(x=i) for i in range(n))
        )
        return sum(values) + await inner(x=100)

    with capturing() as cell:
        print("before the run")
        assert asyncio.run(wf(n=3)) == 106
    run = latest_run_of(wf)
    by_name: dict[str, list[str]] = {}
    for _, record in run.walk():
        by_name.setdefault(record.name, []).append(run.output_of(record.id))
    assert by_name["wf"] == ["root body\n"]
    assert by_name["inner"] == ["inner body\n"]
    assert sorted(by_name["async_child"]) == [f"async {i}\nasync {i} again\n" for i in range(3)]
    for i, text in enumerate(by_name["sync_child"][:3]):
        assert text == "".join(f"sync {i} line {j}\n" for j in range(3)) + "to stderr\n"
    streams = [stream for stream, _ in run.outputs[run.children[run.root_id][0]]]
    assert streams == ["stdout", "stderr"]
    # Nothing printed inside the run reached the cell; what the cell printed did.
    assert cell.getvalue() == "before the run\n"


def test_printed_output_is_an_event_and_is_kept_within_a_limit() -> None:
    seen: list[ExecutionOutput] = []

    @task
    def chatty(n: int) -> int:
        for i in range(n):
            print("x" * 1000, i)
        return n

    @eager
    async def wf(n: int) -> int:
        return await chatty(n=n)

    async def main() -> None:
        run = wf.start(n=300)
        run.events.subscribe(lambda e: seen.append(e) if isinstance(e, ExecutionOutput) else None)
        await run

    with capturing():
        asyncio.run(main())
    run = latest_run_of(wf)
    child = run.children[run.root_id][0]
    assert seen and all(e.id == child and e.stream == "stdout" for e in seen)
    text = run.output_of(child)
    assert 100_000 <= len(text) < 100_200 and text.endswith("characters\n")


def test_many_small_writes_are_kept_whole_in_bounded_pieces() -> None:
    # Writes to one stream are joined into pieces of bounded size, so a child printing
    # thousands of short lines costs linear time, not a copy of everything per write.
    @task
    def lines(n: int) -> int:
        for i in range(n):
            print(i)
        return n

    @eager
    async def wf(n: int) -> int:
        return await lines(n=n)

    with capturing():
        assert asyncio.run(wf(n=15_000)) == 15_000
    run = latest_run_of(wf)
    child = run.children[run.root_id][0]
    assert run.output_of(child) == "".join(f"{i}\n" for i in range(15_000))
    pieces = run.outputs[child]
    assert 1 < len(pieces) < 30 and {stream for stream, _ in pieces} == {"stdout"}
    assert all(len(text) < 8200 for _, text in pieces)


def test_with_echo_recorded_text_also_reaches_the_stream() -> None:
    @task
    def hello(x: int) -> int:
        print("hello", x)
        return x

    @eager
    async def wf(x: int) -> int:
        return await hello(x=x)

    with capturing() as cell:
        output.capture(echo=lambda: True)
        try:
            asyncio.run(wf(x=1))
        finally:
            output.release()
    assert cell.getvalue() == "hello 1\n"
    run = latest_run_of(wf)
    assert run.output_of(run.children[run.root_id][0]) == "hello 1\n"


def test_cancelling_one_child_fails_only_that_child_and_the_parent_goes_on() -> None:
    async def main() -> tuple[list[object], Any]:
        started: dict[int, asyncio.Event] = collections.defaultdict(asyncio.Event)
        gates = {"gathered": asyncio.Event(), "direct": asyncio.Event()}

        @task
        async def wait(i: int) -> int:
            started[i].set()
            await gates["direct" if i == 99 else "gathered"].wait()
            return i

        @eager
        async def wf(n: int) -> list[object]:
            outcomes: list[object] = list(
                await asyncio.gather(*(wait(i=i) for i in range(n)), return_exceptions=True)
            )
            try:
                outcomes.append(await wait(i=99))  # awaited by the body itself
            except ExecutionCancelledError as exc:
                outcomes.append(exc)
            return outcomes

        run = wf.start(n=3)
        await asyncio.gather(*(started[i].wait() for i in range(3)))
        assert run.cancel_execution(run.children[run.root_id][0])
        gates["gathered"].set()  # the cancel was asked first: that child never returns
        await started[99].wait()
        assert run.cancel_execution(run.children[run.root_id][3])
        return await run, run

    outcomes, run = asyncio.run(main())
    assert isinstance(outcomes[0], EagerException)
    assert isinstance(outcomes[0], ExecutionCancelledError)
    assert outcomes[1:3] == [1, 2]
    assert isinstance(outcomes[3], ExecutionCancelledError)
    statuses = [r.status for _, r in run.walk()]
    assert statuses == [
        Status.SUCCEEDED, Status.CANCELLED, Status.SUCCEEDED, Status.SUCCEEDED, Status.CANCELLED
    ]  # fmt: skip
    cancelled = run.records[run.children[run.root_id][0]]
    assert cancelled.error is not None and "cancelled on request" in cancelled.error.message


def test_cancel_execution_refuses_what_is_not_running() -> None:
    @task
    def quick(x: int) -> int:
        return x

    @eager
    async def wf(x: int) -> int:
        return await quick(x=x)

    asyncio.run(wf(x=1))
    run = latest_run_of(wf)
    assert run.cancel_execution(run.children[run.root_id][0]) is False
    assert run.cancel_execution("no such id") is False
    assert run.cancel_execution(run.root_id) is False
