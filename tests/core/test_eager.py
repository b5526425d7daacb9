"""``@eager``: awaited or run with asyncio.run, nested, capped, and checked when defined."""

from __future__ import annotations

import asyncio

import pytest

from eagernb import DefinitionError, Eager, Kind, Status, eager, task
from tests.core.support import children, latest_run_of


@task
def add_one(x: int) -> int:
    return x + 1


@task
def double(x: int) -> int:
    return x * 2


@eager
async def add_then_double(x: int) -> int:
    return await double(x=await add_one(x=x))


def test_asyncio_run_returns_the_value():
    assert asyncio.run(add_then_double(x=5)) == 12


def test_await_inside_a_running_loop_returns_the_value():
    async def cell() -> list[int]:
        return [await add_then_double(x=5), await add_then_double(x=-1)]

    assert asyncio.run(cell()) == [12, 0]


def test_positional_call_works():
    assert asyncio.run(add_then_double(5)) == 12


def test_run_records_the_eager_root_and_its_children_in_order():
    asyncio.run(add_then_double(x=2))
    run = latest_run_of(add_then_double)
    assert run.root is not None
    assert (run.root.name, run.root.kind, run.root.status) == (
        "add_then_double",
        Kind.EAGER,
        Status.SUCCEEDED,
    )
    assert run.root.inputs == {"x": 2}
    assert run.root.output == 6
    assert [(r.name, r.inputs, r.output) for r in children(run)] == [
        ("add_one", {"x": 2}, 3),
        ("double", {"x": 3}, 6),
    ]


def test_nested_eager_runs_as_an_eager_child_with_its_own_children():
    @eager
    async def outer(x: int) -> int:
        return await add_then_double(x=x) + await add_one(x=x)

    assert asyncio.run(outer(x=5)) == 18
    tree = [(depth, r.name, r.kind) for depth, r in latest_run_of(outer).walk()]
    assert tree == [
        (0, "outer", Kind.EAGER),
        (1, "add_then_double", Kind.EAGER),
        (2, "add_one", Kind.TASK),
        (2, "double", Kind.TASK),
        (1, "add_one", Kind.TASK),
    ]


def test_eager_with_no_return_annotation_may_return_none():
    seen: list[int] = []

    @task
    def remember(x: int) -> None:
        seen.append(x)

    @eager
    async def side_effects(x: int):
        await remember(x=x)

    assert asyncio.run(side_effects(x=3)) is None
    assert seen == [3]
    assert latest_run_of(side_effects).status is Status.SUCCEEDED


def test_eager_return_annotation_is_checked():
    @eager
    async def lies(x: int) -> int:
        return str(x)  # type: ignore[return-value]

    with pytest.raises(TypeError, match="Eager workflow 'lies' is annotated to return int"):
        asyncio.run(lies(x=1))
    assert latest_run_of(lies).status is Status.FAILED


def test_parameterised_decorator_makes_an_eager_workflow():
    @eager(max_concurrency=3)
    async def capped(x: int) -> int:
        return await add_one(x=x)

    assert isinstance(capped, Eager)
    assert capped.max_concurrency == 3
    assert asyncio.run(capped(x=1)) == 2


def test_non_async_function_is_a_definition_error():
    def plain(x: int) -> int:
        return x

    with pytest.raises(DefinitionError) as caught:
        eager(plain)
    message = str(caught.value)
    assert "'plain'" in message
    assert "async def" in message


@pytest.mark.parametrize("limit", [0, -1])
def test_max_concurrency_below_one_is_a_definition_error(limit):
    with pytest.raises(DefinitionError, match=f"max_concurrency={limit}"):

        @eager(max_concurrency=limit)
        async def wf(x: int) -> int:
            return x


def test_start_returns_a_handle_that_can_be_awaited_later():
    async def cell() -> tuple[bool, int, int, bool]:
        handle = add_then_double.start(x=5)
        finished_at_once = handle.done()
        value = await handle
        return finished_at_once, value, handle.result(), handle.done()

    assert asyncio.run(cell()) == (False, 12, 12, True)


def test_result_of_an_unfinished_handle_says_to_await_it():
    async def cell() -> str:
        handle = add_then_double.start(x=5)
        try:
            handle.result()
        except RuntimeError as exc:
            return str(exc)
        finally:
            await handle
        return "no error"

    assert "`await` it" in asyncio.run(cell())
