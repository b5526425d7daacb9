"""Each child is attributed to the execution that launched it: concurrent runs, nesting,
``asyncio.to_thread``."""

from __future__ import annotations

import asyncio
import inspect

from eagernb import Kind, Status, eager, task
from tests.core.support import children, runs_of


@task
def add_one(x: int) -> int:
    return x + 1


@task
async def add_one_async(x: int) -> int:
    await asyncio.sleep(0)
    return x + 1


@eager
async def three_children(x: int) -> int:
    a = await add_one(x=x)
    b, c = await asyncio.gather(add_one_async(x=a), add_one(x=a))
    return await asyncio.create_task(add_one(x=b + c))


def test_two_gathered_runs_attribute_children_to_their_own_root_every_time():
    async def cell() -> list[int]:
        return await asyncio.gather(three_children(x=0), three_children(x=100))

    for _ in range(20):
        assert asyncio.run(cell()) == [5, 205]
        low, high = runs_of(three_children)[-2:]
        assert (low.inputs, high.inputs) == ({"x": 0}, {"x": 100})
        for run, base in ((low, 0), (high, 100)):
            kids = children(run)
            assert len(kids) == 4
            assert {r.parent_id for r in kids} == {run.root_id}
            assert {r.run_id for r in kids} == {run.id}
            assert kids[0].inputs == {"x": base}


def test_nested_eager_attributes_grandchildren_to_the_nested_record():
    @eager
    async def outer(x: int) -> list[int]:
        return await asyncio.gather(three_children(x=x), three_children(x=x + 10), add_one(x=x))

    assert asyncio.run(outer(x=0)) == [5, 25, 1]
    run = runs_of(outer)[-1]
    nested = [r for r in run.children_of(run.root_id) if r.kind is Kind.EAGER]
    assert [r.inputs for r in nested] == [{"x": 0}, {"x": 10}]
    for record in nested:
        grandchildren = run.children_of(record.id)
        assert len(grandchildren) == 4
        assert {g.parent_id for g in grandchildren} == {record.id}
        assert grandchildren[0].inputs == {"x": record.inputs["x"]}
    assert len(run.records) == 1 + 3 + 8


def test_task_called_from_to_thread_returns_its_value_and_is_a_child_of_the_eager():
    seen: dict[str, bool] = {}

    def blocking_helper(x: int) -> int:
        value = add_one(x=x)
        seen["awaitable"] = inspect.isawaitable(value)
        return value

    @eager
    async def wf(x: int) -> list[int]:
        return [
            await asyncio.to_thread(blocking_helper, x),
            await asyncio.to_thread(add_one_async, x=x + 1),
        ]

    assert asyncio.run(wf(x=1)) == [2, 3]
    assert seen == {"awaitable": False}
    run = runs_of(wf)[-1]
    assert [(r.name, r.parent_id, r.status) for r in children(run)] == [
        ("add_one", run.root_id, Status.SUCCEEDED),
        ("add_one_async", run.root_id, Status.SUCCEEDED),
    ]


def test_to_thread_inside_a_nested_eager_attributes_to_the_nested_record():
    @eager
    async def inner(x: int) -> int:
        return await asyncio.to_thread(add_one, x=x)

    @eager
    async def outer(x: int) -> int:
        return await inner(x=x)

    assert asyncio.run(outer(x=1)) == 2
    run = runs_of(outer)[-1]
    (inner_record,) = run.children_of(run.root_id)
    (leaf,) = run.children_of(inner_record.id)
    assert (leaf.name, leaf.parent_id) == ("add_one", inner_record.id)


def test_task_called_inside_a_task_body_runs_directly_not_as_a_child():
    @task
    def outer_task(x: int) -> int:
        return add_one(x=x) * 10

    @eager
    async def wf(x: int) -> int:
        return await outer_task(x=x)

    assert asyncio.run(wf(x=1)) == 20
    assert [r.name for r in children(runs_of(wf)[-1])] == ["outer_task"]
