"""``@task``: bare and parameterised, sync and async, outside and inside ``@eager``."""

from __future__ import annotations

import asyncio
import inspect
import sys
import threading

import pytest

import eagernb
from eagernb import (
    DefinitionError,
    EagerException,
    Kind,
    Status,
    Task,
    TaskTimeoutError,
    eager,
    task,
)
from tests.core.support import assert_sentence, children, latest_run_of


@task
def add_one(x: int) -> int:
    return x + 1


@task
async def add_one_async(x: int) -> int:
    await asyncio.sleep(0)
    return x + 1


@task(retries=1, timeout=30)
def double(x: int) -> int:
    return x * 2


@task(retries=1, timeout=30)
async def double_async(x: int) -> int:
    return x * 2


# -- outside any workflow ---------------------------------------------------------------


def test_decorators_return_tasks_that_keep_the_function_name_and_doc():
    @task
    def documented(x: int) -> int:
        """Adds nothing."""
        return x

    assert isinstance(documented, Task)
    assert isinstance(double_async, Task)
    assert documented.name == "documented"
    assert documented.__doc__ == "Adds nothing."
    assert (double.retries, double.timeout) == (1, 30)


def test_sync_task_called_outside_a_workflow_returns_its_value_and_starts_no_run():
    before = eagernb.last_run()
    assert add_one(x=5) == 6
    assert double(x=5) == 10
    assert eagernb.last_run() is before


def test_async_task_called_outside_a_workflow_returns_an_awaitable_of_its_value():
    pending = add_one_async(x=5)
    assert inspect.isawaitable(pending)
    assert asyncio.run(pending) == 6
    assert asyncio.run(double_async(x=5)) == 10


def test_sync_task_called_inside_a_running_loop_outside_a_workflow_returns_its_value():
    async def cell():
        return add_one(x=1)

    assert asyncio.run(cell()) == 2


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"retries": -1}, "retries=-1"),
        ({"timeout": 0}, "timeout=0"),
    ],
)
def test_bad_task_options_are_definition_errors(kwargs, needle):
    with pytest.raises(DefinitionError, match=needle):

        @task(**kwargs)
        def f(x: int) -> int:
            return x


def test_task_cannot_wrap_a_generator():
    def numbers(n: int):
        yield from range(n)

    with pytest.raises(DefinitionError, match="generator 'numbers'"):
        task(numbers)


# -- inside @eager ------------------------------------------------------------------------


@eager
async def awaits_each(x: int) -> list[int]:
    return [
        await add_one(x=x),
        await add_one_async(x=x),
        await double(x=x),
        await double_async(x=x),
    ]


def test_awaited_sync_and_async_tasks_are_children_of_the_eager_run():
    assert asyncio.run(awaits_each(x=5)) == [6, 6, 10, 10]
    run = latest_run_of(awaits_each)
    kids = children(run)
    assert [r.name for r in kids] == ["add_one", "add_one_async", "double", "double_async"]
    assert {r.parent_id for r in kids} == {run.root_id}
    assert {r.kind for r in kids} == {Kind.TASK}
    assert [r.output for r in kids] == [6, 6, 10, 10]
    assert {r.status for r in kids} == {Status.SUCCEEDED}


@eager
async def uses_asyncio_apis(x: int) -> dict[str, object]:
    gathered = await asyncio.gather(add_one(x=x), add_one_async(x=x + 1))
    created = await asyncio.create_task(double(x=x))
    waited = await asyncio.wait_for(double_async(x=x + 1), timeout=30)
    return {"gather": gathered, "create_task": created, "wait_for": waited}


def test_tasks_work_with_gather_create_task_and_wait_for():
    result = asyncio.run(uses_asyncio_apis(x=1))
    assert result == {"gather": [2, 3], "create_task": 2, "wait_for": 4}
    run = latest_run_of(uses_asyncio_apis)
    assert len(children(run)) == 4
    assert {r.parent_id for r in children(run)} == {run.root_id}


@pytest.mark.skipif(sys.version_info < (3, 11), reason="asyncio.TaskGroup is new in Python 3.11")
def test_tasks_work_in_a_task_group():
    @eager
    async def grouped(x: int) -> list[int]:
        async with asyncio.TaskGroup() as group:
            first = group.create_task(add_one(x=x))
            second = group.create_task(add_one_async(x=x + 1))
            third = group.create_task(double(x=x))
        return [first.result(), second.result(), third.result()]

    assert asyncio.run(grouped(x=10)) == [11, 12, 20]
    run = latest_run_of(grouped)
    assert [r.name for r in children(run)] == ["add_one", "add_one_async", "double"]
    assert {r.parent_id for r in children(run)} == {run.root_id}


def test_positional_arguments_work_inside_eager():
    @eager
    async def positional(x: int) -> int:
        return await double(await add_one(x))

    assert asyncio.run(positional(4)) == 10


# -- retries ------------------------------------------------------------------------------


def test_task_failing_twice_then_succeeding_with_retries_2_succeeds_on_attempt_3():
    calls: list[int] = []

    @task(retries=2)
    def flaky(x: int) -> int:
        calls.append(x)
        if len(calls) < 3:
            raise ConnectionError(f"attempt {len(calls)} failed")
        return x * 10

    @eager
    async def wf(x: int) -> int:
        return await flaky(x=x)

    assert asyncio.run(wf(x=4)) == 40
    assert calls == [4, 4, 4]
    (record,) = children(latest_run_of(wf))
    assert record.status is Status.SUCCEEDED
    assert record.attempts == 3
    assert record.output == 40
    assert record.error is None


def test_task_that_keeps_failing_fails_after_its_last_retry():
    calls: list[int] = []

    @task(retries=1)
    def broken(x: int) -> int:
        calls.append(x)
        raise ConnectionError("still down")

    @eager
    async def wf(x: int) -> str:
        try:
            await broken(x=x)
        except EagerException as exc:
            return str(exc)
        return "no error"

    assert asyncio.run(wf(x=1)) == "still down"
    assert len(calls) == 2
    (record,) = children(latest_run_of(wf))
    assert record.status is Status.FAILED
    assert record.attempts == 2
    assert record.error is not None and record.error.type_name == "ConnectionError"


# -- timeouts -----------------------------------------------------------------------------


def test_sync_task_past_its_timeout_fails_with_task_timeout_error_in_the_eager_body():
    release = threading.Event()

    @task(timeout=0.05)
    def stuck(x: int) -> int:
        release.wait(10)
        return x

    @eager
    async def wf(x: int) -> str:
        try:
            await stuck(x=x)
        except EagerException as exc:
            assert isinstance(exc, TaskTimeoutError)
            assert isinstance(exc, TimeoutError)
            return str(exc)
        return "no error"

    try:
        message = asyncio.run(wf(x=1))
    finally:
        release.set()
    assert_sentence(message, "Task 'stuck'", "timeout of 0.05 s")
    (record,) = children(latest_run_of(wf))
    assert record.status is Status.FAILED
    assert record.error is not None and record.error.type_name.endswith("TaskTimeoutError")


def test_async_task_past_its_timeout_is_cancelled_and_fails_with_task_timeout_error():
    cancelled = []

    @task(timeout=0.05)
    async def stuck(x: int) -> int:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(x)
            raise
        return x

    @eager
    async def wf(x: int) -> bool:
        try:
            await stuck(x=x)
        except TimeoutError as exc:
            return isinstance(exc, EagerException) and isinstance(exc, TaskTimeoutError)
        return False

    assert asyncio.run(wf(x=7)) is True
    assert cancelled == [7]


def test_timeout_error_raised_by_the_task_itself_is_not_reported_as_a_timeout():
    @task(timeout=30)
    def reads_socket(x: int) -> int:
        raise TimeoutError("the socket read timed out")

    @eager
    async def wf(x: int) -> str:
        try:
            await reads_socket(x=x)
        except EagerException as exc:
            assert not isinstance(exc, TaskTimeoutError)
            assert isinstance(exc, TimeoutError)
            return str(exc)
        return "no error"

    assert asyncio.run(wf(x=1)) == "the socket read timed out"


def test_timed_out_attempt_is_retried():
    attempts: list[int] = []
    release = threading.Event()

    @task(timeout=0.2, retries=1)
    def slow_first_time(x: int) -> int:
        attempts.append(x)
        if len(attempts) == 1:
            release.wait(10)
        return x + 100

    @eager
    async def wf(x: int) -> int:
        return await slow_first_time(x=x)

    try:
        assert asyncio.run(wf(x=1)) == 101
    finally:
        release.set()
    (record,) = children(latest_run_of(wf))
    assert record.attempts == 2
    assert record.status is Status.SUCCEEDED
