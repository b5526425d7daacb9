"""Edge cases a demanding user hit: odd exceptions, thread limits, forks, pickling, promises."""

from __future__ import annotations

import asyncio
import multiprocessing
import pickle
import threading
import time

import pytest

from eagernb import (
    EagerException,
    LocalEngine,
    Status,
    TaskTimeoutError,
    WorkflowCompileError,
    eager,
    task,
    workflow,
)
from tests.core.support import children, latest_run_of


@task
def first(xs: list[int]) -> int:
    return next(iter(xs))


@eager
async def takes_first(xs: list[int]) -> str:
    try:
        return str(await first(xs=xs))
    except RuntimeError as exc:
        return f"{type(exc).__name__}: {'StopIteration' in str(exc)}"


def test_a_sync_task_raising_stopiteration_fails_instead_of_hanging() -> None:
    assert asyncio.run(takes_first(xs=[])) == "EagerException[RuntimeError]: True"
    assert asyncio.run(takes_first(xs=[4])) == "4"


def test_waiting_for_a_thread_is_queued_time_not_running_time() -> None:
    lock = threading.Lock()
    state = {"now": 0, "peak": 0}

    @task(timeout=5.0)
    def busy(i: int) -> int:
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
        time.sleep(0.3)
        with lock:
            state["now"] -= 1
        return i

    @eager(engine=LocalEngine(threads=2))
    async def many(n: int) -> int:
        return sum(await asyncio.gather(*(busy(i=i) for i in range(n))))

    assert asyncio.run(many(n=6)) == 15
    assert state["peak"] == 2
    records = children(latest_run_of(many))
    assert all(r.status is Status.SUCCEEDED and r.attempts == 1 for r in records)
    # Each record's running time covers its own body, not the wait for a thread.
    assert all(r.duration is not None and r.duration < 2.5 for r in records)


def test_timeout_counts_from_the_start_of_the_body() -> None:
    @task(timeout=0.2)
    def slow(i: int) -> int:
        time.sleep(1.0)
        return i

    @eager
    async def catches(i: int) -> str:
        try:
            return str(await slow(i=i))
        except TaskTimeoutError as exc:
            return f"{isinstance(exc, EagerException)} {'0.2 s' in str(exc)}"

    assert asyncio.run(catches(i=1)) == "True True"
    (record,) = children(latest_run_of(catches))
    assert record.status is Status.FAILED
    assert record.error is not None and record.error.type_name.endswith("TaskTimeoutError")


def _run_in_child(queue: multiprocessing.Queue[int]) -> None:
    queue.put(asyncio.run(takes_first(xs=[9])) == "9")


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # fork with threads, Python 3.12+
def test_a_forked_process_can_run_workflows_after_the_parent_did() -> None:
    assert asyncio.run(takes_first(xs=[1])) == "1"  # the parent now has task threads
    context = multiprocessing.get_context("fork")
    queue: multiprocessing.Queue[int] = context.Queue()
    child = context.Process(target=_run_in_child, args=(queue,))
    child.start()
    child.join(timeout=60)
    assert child.exitcode == 0
    assert queue.get(timeout=5) is True


class Unlucky(Exception):
    def __init__(self, code: int) -> None:
        super().__init__(f"unlucky {code}")
        self.code = code


@task
def unlucky(code: int) -> int:
    raise Unlucky(code)


@eager
async def keeps_error(code: int) -> bytes:
    try:
        await unlucky(code=code)
    except EagerException as exc:
        return pickle.dumps(exc)
    return b""


def test_eager_exceptions_pickle_and_keep_their_type_and_attributes() -> None:
    exc = pickle.loads(asyncio.run(keeps_error(code=13)))
    assert isinstance(exc, EagerException) and isinstance(exc, Unlucky)
    assert exc.code == 13 and str(exc) == "unlucky 13"
    assert exc.execution_name == "unlucky"
    assert "raise Unlucky(code)" in exc.remote_traceback
    assert "eagernb/_core" not in exc.remote_traceback  # only the user's frames


@task
def shout(s: str) -> str:
    return s.upper()


@task
def add_one(x: int) -> int:
    return x + 1


@task
def total(xs: list[int]) -> int:
    return sum(xs)


def test_str_of_a_promise_is_a_compile_error() -> None:
    with pytest.raises(WorkflowCompileError, match="@eager"):

        @workflow
        def stringly(x: int) -> str:
            return shout(s=str(add_one(x=x)))


def test_a_list_of_promises_is_explained() -> None:
    with pytest.raises(WorkflowCompileError, match="list of promises"):

        @workflow
        def listy(x: int) -> int:
            return total(xs=[add_one(x=x), add_one(x=x)])


def test_start_outside_a_loop_says_what_to_do_instead() -> None:
    with pytest.raises(RuntimeError, match=r"asyncio\.run"):
        takes_first.start(xs=[1])
