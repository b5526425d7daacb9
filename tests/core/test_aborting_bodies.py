"""A body that raises SystemExit, KeyboardInterrupt or CancelledError on its own fails its
execution with ``TaskAbortedError``: it neither stops the process nor cancels the run."""

from __future__ import annotations

import asyncio
import pickle
import sys

import pytest

from eagernb import EagerException, Status, TaskAbortedError, eager, task
from tests.core.support import FINAL, assert_sentence, children, latest_run_of


class Halt(BaseException):
    """A user's own BaseException that is not an Exception."""


@task
def exits(code: int) -> int:
    sys.exit(code)


@task
def interrupts(x: int) -> int:
    raise KeyboardInterrupt("from task")


@task
def cancels(x: int) -> int:
    raise asyncio.CancelledError


@task
def halts(x: int) -> int:
    raise Halt


@task
async def exits_async(code: int) -> int:
    await asyncio.sleep(0)
    sys.exit(code)


@task
async def interrupts_async(x: int) -> int:
    await asyncio.sleep(0)
    raise KeyboardInterrupt


@task
async def cancels_async(x: int) -> int:
    await asyncio.sleep(0)
    raise asyncio.CancelledError


# Before 3.11, asyncio.run leaves Ctrl-C to raise KeyboardInterrupt and tasks cannot say
# whether someone cancelled them: on the loop, both stay an interrupt and a cancellation.
NEW = pytest.mark.skipif(sys.version_info < (3, 11), reason="needs Task.cancelling()")

TASKS = {t.name: t for t in (exits, interrupts, cancels, halts, exits_async, interrupts_async,
                             cancels_async)}  # fmt: skip


@eager
async def catches(name: str) -> BaseException:
    try:
        await TASKS[name](2)
    except Exception as exc:  # what any other failed child is caught with
        return exc
    raise AssertionError("the child did not fail")


@eager
async def uncaught(name: str) -> int:
    await TASKS[name](2)
    return 0


@pytest.mark.parametrize(
    ("name", "raised_type", "exit_code", "opening"),
    [
        ("exits", "SystemExit", 2, "Task 'exits' called sys.exit(2), which would end the whole "),
        ("interrupts", "KeyboardInterrupt", None,
         "Task 'interrupts' raised KeyboardInterrupt('from task') itself; nobody interrupted "),
        ("cancels", "asyncio.exceptions.CancelledError", None,
         "Task 'cancels' raised asyncio.CancelledError on its own; nobody asked to cancel it"),
        ("halts", f"{__name__}.Halt", None,
         f"Task 'halts' raised {__name__}.Halt, a BaseException that is not an Exception"),
        ("exits_async", "SystemExit", 2, "Task 'exits_async' called sys.exit(2), "),
        pytest.param("interrupts_async", "KeyboardInterrupt", None,
                     "Task 'interrupts_async' raised KeyboardInterrupt() itself; ", marks=NEW),
        pytest.param("cancels_async", "asyncio.exceptions.CancelledError", None,
                     "Task 'cancels_async' raised asyncio.CancelledError on its own; ", marks=NEW),
    ],
)  # fmt: skip
def test_the_body_catches_it_as_a_failed_child(
    name: str, raised_type: str, exit_code: int | None, opening: str
) -> None:
    exc = asyncio.run(catches(name=name))
    assert isinstance(exc, EagerException)
    assert isinstance(exc, TaskAbortedError) and isinstance(exc, RuntimeError)
    assert exc.original_type is TaskAbortedError
    assert exc.execution_name == name
    assert (exc.raised_type, exc.exit_code) == (raised_type, exit_code)
    assert str(exc).startswith(opening)
    assert_sentence(str(exc), name, "raise an exception")
    run = latest_run_of(catches)
    assert run.status is Status.SUCCEEDED
    (record,) = children(run)
    assert record.status is Status.FAILED
    assert record.error is not None
    assert record.error.type_name == "eagernb.TaskAbortedError"
    assert record.error.message == str(exc)
    # The user's frame where it was raised, none of eagernb's.
    assert f", in {name}\n" in record.error.traceback
    assert "eagernb/_" not in record.error.traceback


@pytest.mark.parametrize(
    "name",
    ["exits", "interrupts", "cancels", "exits_async", pytest.param("cancels_async", marks=NEW)],
)
def test_uncaught_it_fails_the_run_and_leaves_no_row_running(name: str) -> None:
    with pytest.raises(TaskAbortedError) as raised:
        asyncio.run(uncaught(name=name))
    assert isinstance(raised.value, EagerException)
    run = latest_run_of(uncaught)
    assert run.status is Status.FAILED
    assert [r.status for r in run.records.values()] == [Status.FAILED, Status.FAILED]


def test_it_pickles_with_what_the_body_raised() -> None:
    exc = pickle.loads(pickle.dumps(asyncio.run(catches(name="exits"))))
    assert isinstance(exc, EagerException) and isinstance(exc, TaskAbortedError)
    assert (exc.raised_type, exc.exit_code) == ("SystemExit", 2)
    assert str(exc).startswith("Task 'exits' called sys.exit(2)")


@eager
async def child_exits(code: int) -> int:
    sys.exit(code)


@eager
async def parent_of_exiting(code: int) -> str:
    try:
        await child_exits(code=code)
    except TaskAbortedError as exc:
        return str(exc)
    return "not raised"


def test_an_eager_child_calling_sys_exit_fails_too() -> None:
    text = asyncio.run(parent_of_exiting(code=0))
    assert text.startswith("Eager workflow 'child_exits' called sys.exit(0), ")
    assert [r.status for r in latest_run_of(parent_of_exiting).records.values()] == [
        Status.SUCCEEDED,
        Status.FAILED,
    ]


def test_an_eager_root_calling_sys_exit_fails_its_run() -> None:
    with pytest.raises(TaskAbortedError, match=r"^Eager workflow 'child_exits' called sys\.exit"):
        asyncio.run(child_exits(code=3))
    assert latest_run_of(child_exits).status is Status.FAILED


@task
async def sleeps(x: int) -> int:
    await asyncio.sleep(60)
    return x


@eager
async def cancels_its_child(x: int) -> str:
    child = asyncio.ensure_future(sleeps(x=x))
    await asyncio.sleep(0.05)
    child.cancel()
    try:
        await child
    except asyncio.CancelledError:
        return "cancelled"
    return "not cancelled"


def test_a_cancellation_someone_asked_for_is_still_a_cancellation() -> None:
    assert asyncio.run(cancels_its_child(x=1)) == "cancelled"
    (record,) = children(latest_run_of(cancels_its_child))
    assert record.status is Status.CANCELLED
    assert all(r.status in FINAL for r in latest_run_of(cancels_its_child).records.values())
