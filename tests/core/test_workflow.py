"""``@workflow``: compiled and checked when defined, run concurrently, nestable, anywhere."""

from __future__ import annotations

import asyncio
import threading

import pytest

from eagernb import (
    DefinitionError,
    EagerException,
    Kind,
    Status,
    Workflow,
    WorkflowCompileError,
    eager,
    task,
    workflow,
)
from tests.core.support import assert_sentence, children, latest_run_of


@task
def add_one(x: int) -> int:
    return x + 1


@task
def double(x: int) -> int:
    return x * 2


@task
def to_text(x: int) -> str:
    return str(x)


@task
def add(a: int, b: int) -> int:
    return a + b


@task
def split(x: int) -> tuple[int, str]:
    return x, str(x)


@task
async def loop_thread(x: int) -> int:
    return threading.get_ident()


@workflow
def add_then_double(x: int) -> int:
    return double(x=add_one(x=x))


# -- compile errors -----------------------------------------------------------------------


def test_missing_task_input_is_a_compile_error_at_decoration_time():
    with pytest.raises(WorkflowCompileError) as caught:

        @workflow
        def wf(x: int) -> int:
            return add(a=x)

    assert_sentence(str(caught.value), "Workflow 'wf'", "task 'add'", "missing a required argument")
    assert "'b'" in str(caught.value)


def test_promise_type_mismatch_is_a_compile_error_naming_both_ends():
    with pytest.raises(WorkflowCompileError) as caught:

        @workflow
        def wf(x: int) -> int:
            return add_one(x=to_text(x=x))

    assert_sentence(str(caught.value), "Workflow 'wf'", "task 'to_text'", "(str)", "'x: int'")
    assert "task 'add_one'" in str(caught.value)


def test_constant_of_the_wrong_type_is_a_compile_error():
    with pytest.raises(WorkflowCompileError) as caught:

        @workflow
        def wf(x: int) -> int:
            return add(a=x, b="one")

    assert_sentence(str(caught.value), "Workflow 'wf'", "'one'", "'b: int'", "task 'add'")


def test_if_on_a_promise_is_a_compile_error_pointing_to_eager():
    with pytest.raises(WorkflowCompileError) as caught:

        @workflow
        def wf(x: int) -> int:
            out = add_one(x=x)
            if out < 0:
                return x
            return out

    assert_sentence(str(caught.value), "Workflow 'wf'", "task 'add_one'", "`<`", "@eager")


def test_truth_test_of_a_promise_is_a_compile_error_pointing_to_eager():
    with pytest.raises(WorkflowCompileError, match="`if`") as caught:

        @workflow
        def wf(x: int) -> int:
            out = add_one(x=x)
            return out if out else x

    assert "@eager" in str(caught.value)


def test_arithmetic_on_a_promise_is_a_compile_error_pointing_to_eager():
    with pytest.raises(WorkflowCompileError) as caught:

        @workflow
        def wf(x: int) -> int:
            return double(x=add_one(x=x) - 1)

    assert_sentence(str(caught.value), "Workflow 'wf'", "`-`", "@eager")


def test_return_type_mismatch_is_a_compile_error():
    with pytest.raises(WorkflowCompileError) as caught:

        @workflow
        def wf(x: int) -> str:
            return add_one(x=x)

    assert_sentence(str(caught.value), "Workflow 'wf'", "return str", "task 'add_one'")


def test_async_function_cannot_be_a_static_workflow():
    async def body(x: int) -> int:
        return x

    with pytest.raises(DefinitionError, match="use @eager"):
        workflow(body)


def test_compiled_workflow_runs_nothing_until_called():
    calls: list[int] = []

    @task
    def record(x: int) -> int:
        calls.append(x)
        return x

    @workflow
    def wf(x: int) -> int:
        return record(x=x)

    assert isinstance(wf, Workflow)
    assert calls == []
    assert wf(x=3) == 3
    assert calls == [3]


# -- running ------------------------------------------------------------------------------


def test_called_from_sync_code_returns_the_value_and_records_the_graph():
    assert add_then_double(x=5) == 12
    run = latest_run_of(add_then_double)
    assert run.status is Status.SUCCEEDED
    assert [(r.name, r.parent_id) for r in children(run)] == [
        ("add_one", run.root_id),
        ("double", run.root_id),
    ]
    assert [r.inputs for r in children(run)] == [{"x": 5}, {"x": 6}]


def test_positional_call_works():
    assert add_then_double(5) == 12


def test_called_inside_a_running_loop_it_runs_on_a_helper_thread_and_returns_the_value():
    @workflow
    def wf(x: int) -> tuple[int, int]:
        return add_then_double(x=x), loop_thread(x=x)

    async def cell() -> tuple[int, tuple[int, int]]:
        return threading.get_ident(), wf(x=1)

    caller_thread, (value, run_thread) = asyncio.run(cell())
    assert value == 4
    assert run_thread != caller_thread


def test_nested_workflow_is_a_workflow_child_with_its_own_children():
    @workflow
    def outer(x: int) -> int:
        return add_one(x=add_then_double(x=x))

    assert outer(x=5) == 13
    tree = [(depth, r.name, r.kind) for depth, r in latest_run_of(outer).walk()]
    assert tree == [
        (0, "outer", Kind.WORKFLOW),
        (1, "add_then_double", Kind.WORKFLOW),
        (2, "add_one", Kind.TASK),
        (2, "double", Kind.TASK),
        (1, "add_one", Kind.TASK),
    ]


def test_tuple_outputs_can_be_unpacked_inside_and_outside_a_workflow():
    @workflow
    def swap(x: int) -> tuple[str, int]:
        number, text = split(x=x)
        return text, double(x=number)

    text, number = swap(x=4)
    assert (text, number) == ("4", 8)


def test_unpacking_a_non_tuple_promise_is_a_compile_error():
    with pytest.raises(WorkflowCompileError, match="iterating over it"):

        @workflow
        def wf(x: int) -> int:
            a, _ = add_one(x=x)
            return a


def test_workflow_inside_eager_is_an_awaitable_child():
    @eager
    async def wf(x: int) -> int:
        return await add_then_double(x=x) + 1

    assert asyncio.run(wf(x=5)) == 13
    run = latest_run_of(wf)
    (sub,) = run.children_of(run.root_id)
    assert (sub.name, sub.kind, sub.status, sub.output) == (
        "add_then_double",
        Kind.WORKFLOW,
        Status.SUCCEEDED,
        12,
    )
    assert [r.name for r in run.children_of(sub.id)] == ["add_one", "double"]


def test_eager_workflow_can_be_a_node_of_a_static_workflow():
    @eager
    async def times_ten(x: int) -> int:
        return await add_one(x=x) * 10

    @workflow
    def wf(x: int) -> int:
        return add_one(x=times_ten(x=x))

    assert wf(x=1) == 21


def test_failing_node_fails_the_workflow_with_the_original_type():
    @task
    def broken(x: int) -> int:
        raise ValueError(f"cannot handle {x}")

    @workflow
    def wf(x: int) -> int:
        return add_one(x=broken(x=x))

    with pytest.raises(ValueError, match="cannot handle 3") as caught:
        wf(x=3)
    assert isinstance(caught.value, EagerException)
    run = latest_run_of(wf)
    assert run.status is Status.FAILED
    # the node that needed the failed output is never launched
    assert [(r.name, r.status) for r in children(run)] == [("broken", Status.FAILED)]
