"""Inputs are checked against annotations before launch, outputs after."""

from __future__ import annotations

import asyncio
from typing import Literal, Optional

import pytest

from eagernb import (
    EagerException,
    EagerNBError,
    InputTypeError,
    OutputTypeError,
    Status,
    eager,
    task,
)
from tests.core.support import assert_sentence, children, latest_run_of


@task
def add_one(x: int) -> int:
    return x + 1


@task
def add(x: int, y: int = 0) -> int:
    return x + y


@task
def returns_text(x: int) -> int:
    return "not a number"  # type: ignore[return-value]


@task
async def returns_text_async(x: int) -> int:
    return "not a number"  # type: ignore[return-value]


def test_wrong_input_type_is_an_input_type_error_naming_task_parameter_and_types():
    with pytest.raises(InputTypeError) as caught:
        add_one(x="5")
    assert isinstance(caught.value, TypeError)
    assert isinstance(caught.value, EagerNBError)
    assert_sentence(str(caught.value), "Task 'add_one'", "'x: int'", "str", "'5'")


def test_bool_is_not_accepted_for_int():
    with pytest.raises(InputTypeError, match="'x: int' but got bool"):
        add_one(x=True)


def test_int_is_accepted_for_float():
    @task
    def half(x: float) -> float:
        return x / 2

    assert half(x=3) == 1.5


def test_wrong_input_inside_eager_raises_at_the_call_and_launches_no_child():
    @eager
    async def wf(x: int) -> str:
        try:
            add_one(x=str(x))
        except InputTypeError as exc:
            return type(exc).__name__ + ": " + str(exc)
        return "no error"

    message = asyncio.run(wf(x=3))
    assert message.startswith("InputTypeError: Task 'add_one' expected 'x: int' but got str")
    assert children(latest_run_of(wf)) == []


def test_bad_return_value_outside_a_workflow_is_an_output_type_error():
    with pytest.raises(OutputTypeError) as caught:
        returns_text(x=1)
    assert isinstance(caught.value, TypeError)
    assert_sentence(str(caught.value), "Task 'returns_text'", "return int", "str", "'not a number'")


def test_bad_return_value_of_an_async_task_outside_a_workflow_is_an_output_type_error():
    with pytest.raises(OutputTypeError, match="Task 'returns_text_async'"):
        asyncio.run(returns_text_async(x=1))


@pytest.mark.parametrize("bad_task", [returns_text, returns_text_async], ids=["sync", "async"])
def test_bad_return_value_inside_eager_fails_the_child_as_eager_exception(bad_task):
    @eager
    async def wf(x: int) -> str:
        try:
            await bad_task(x=x)
        except EagerException as exc:
            assert isinstance(exc, OutputTypeError)
            return str(exc)
        return "no error"

    message = asyncio.run(wf(x=1))
    assert_sentence(message, f"Task {bad_task.name!r}", "annotated to return int", "returned str")
    (record,) = children(latest_run_of(wf))
    assert record.status is Status.FAILED
    assert record.error is not None and record.error.type_name.endswith("OutputTypeError")


def test_positional_calls_bind_to_parameter_names():
    assert add_one(5) == 6
    assert add(1, 2) == 3
    assert add(1, y=4) == 5


@pytest.mark.parametrize(
    ("call", "needle"),
    [
        (lambda: add(x=1, z=2), "unexpected keyword argument 'z'"),
        (lambda: add(y=2), "missing a required argument: 'x'"),
        (lambda: add(1, 2, 3), "too many positional arguments"),
        (lambda: add(1, x=1), "multiple values for argument 'x'"),
    ],
    ids=["unknown-kwarg", "missing-arg", "too-many", "twice"],
)
def test_bad_call_says_how_to_call_by_keyword(call, needle):
    with pytest.raises(InputTypeError) as caught:
        call()
    assert_sentence(str(caught.value), "Task 'add'", needle, "Call it by keyword", "x=..., y=...")


@task
def generic(
    numbers: list[int],
    weights: dict[str, float],
    maybe: int | None,
    optional: Optional[str],  # noqa: UP045 - the typing spelling is what is under test
    mode: Literal["fast", "slow"],
    pair: tuple[int, str],
) -> tuple[int, str]:
    return pair


GOOD = {
    "numbers": [1, 2],
    "weights": {"a": 1.0, "b": 2},
    "maybe": None,
    "optional": None,
    "mode": "fast",
    "pair": (1, "one"),
}


def test_generic_annotations_accept_matching_values():
    assert generic(**GOOD) == (1, "one")
    assert generic(**{**GOOD, "maybe": 3, "optional": "text", "mode": "slow"}) == (1, "one")


@pytest.mark.parametrize(
    ("name", "value", "expected"),
    [
        ("numbers", [1, "2"], "list[int]"),
        ("numbers", (1, 2), "list[int]"),
        ("weights", {"a": "heavy"}, "dict[str, float]"),
        ("weights", {1: 1.0}, "dict[str, float]"),
        ("maybe", "3", "int | None"),
        ("optional", 3, "Optional[str]"),
        ("mode", "medium", "Literal['fast', 'slow']"),
        ("pair", (1, 2), "tuple[int, str]"),
        ("pair", (1, "one", 2), "tuple[int, str]"),
    ],
)
def test_generic_annotations_reject_mismatched_values(name, value, expected):
    with pytest.raises(InputTypeError) as caught:
        generic(**{**GOOD, name: value})
    assert_sentence(str(caught.value), "Task 'generic'", f"'{name}: {expected}'")


def test_generic_return_annotation_is_checked():
    @task
    def numbers(n: int) -> list[int]:
        return [*range(n), "end"]  # type: ignore[list-item]

    with pytest.raises(OutputTypeError, match=r"return list\[int\]"):
        numbers(n=2)


def test_one_unresolvable_annotation_does_not_switch_off_the_other_checks():
    # This module uses `from __future__ import annotations`, so `Local` is the string
    # "Local", which cannot be resolved outside this function.
    class Local:
        pass

    @task
    def uses_local(x: int, thing: Local) -> int:
        return x

    assert uses_local(x=1, thing=Local()) == 1
    with pytest.raises(InputTypeError, match="'x: int' but got str"):
        uses_local(x="1", thing=Local())
