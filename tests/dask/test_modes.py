"""Hybrid and remote runs on a server whose tasks run on a real Dask cluster."""

from __future__ import annotations

import asyncio
import os

import pytest

import eagernb
from eagernb import Remote, eager, task
from tests.remote.test_modes import EXPECTED, catches_by_type
from tests.seed import eager_workflows as seed

from .conftest import Cluster

pytestmark = pytest.mark.dask


@task
def parent_pid() -> int:
    return os.getppid()  # the Dask worker process that started this job's process


@eager
async def where_tasks_run(n: int) -> list[int]:
    return list(await asyncio.gather(*(parent_pid() for _ in range(n))))


def test_seed_examples_give_the_documented_values(remote: Remote) -> None:
    for mode in ("hybrid", "remote"):
        with eagernb.mode(mode):
            for workflow, x, expected in EXPECTED:
                assert asyncio.run(workflow(x=x)) == expected, (mode, workflow.name, x)


def test_tasks_run_in_the_dask_workers(remote: Remote, cluster: Cluster) -> None:
    cluster.client.wait_for_workers(2, timeout=120)
    workers = set(cluster.worker_pids().values())
    with eagernb.mode("hybrid"):
        ran_on = set(asyncio.run(where_tasks_run(n=8)))
    assert ran_on <= workers
    assert os.getpid() not in ran_on


def test_failures_arrive_as_the_original_exception_type(remote: Remote) -> None:
    for mode in ("hybrid", "remote"):
        with eagernb.mode(mode):
            assert asyncio.run(catches_by_type(x=7)) == "7 unlucky True", mode


def test_live_rows_show_nested_children(remote: Remote) -> None:
    with eagernb.mode("remote"):
        assert asyncio.run(seed.nested_eager_workflow(x=5)) == 12
    run = eagernb.last_run()
    assert run is not None
    assert [(depth, r.name, r.status.value) for depth, r in run.walk()] == [
        (0, "nested_eager_workflow", "succeeded"),
        (1, "eager_subworkflow", "succeeded"),
        (2, "add_one", "succeeded"),
        (1, "double", "succeeded"),
    ]
    with eagernb.mode("hybrid"):
        assert asyncio.run(seed.eager_workflow_with_static_subworkflow(x=5)) == 12
    run = eagernb.last_run()
    assert run is not None
    statuses = [r.status.value for _, r in run.walk()]
    assert len(statuses) > 2
    assert set(statuses) == {"succeeded"}


@pytest.mark.parametrize("mode", ["hybrid", "remote"])
def test_rows_of_short_children_have_their_start_and_attempt(remote: Remote, mode: str) -> None:
    """Jobs shorter than the start notice's grace report their start with the result; the
    rows still show when each started, and its attempt."""
    with eagernb.mode(mode):
        assert len(asyncio.run(where_tasks_run(n=6))) == 6
    run = eagernb.last_run()
    assert run is not None
    children = [r for depth, r in run.walk() if depth == 1]
    assert len(children) == 6
    for record in children:
        assert record.status.value == "succeeded"
        assert record.attempts == 1
        assert record.started_at is not None and record.ended_at is not None
        assert record.queued_at <= record.started_at <= record.ended_at


@task
def child(i: int) -> int:
    return i * 2


@eager
async def parent(i: int) -> int:
    return sum(await asyncio.gather(child(i=i), child(i=i + 100)))


@eager
async def many_parents(n: int) -> int:
    return sum(await asyncio.gather(*(parent(i=i) for i in range(n))))


def test_more_waiting_eager_parents_than_worker_threads_do_not_starve(
    remote: Remote, cluster: Cluster
) -> None:
    # Two workers of one thread each; six eager bodies (and the root) wait on children at
    # once. The bodies run beside the server, not in Dask threads, so they hold no slot.
    threads = sum(cluster.client.nthreads().values())
    parents = 6
    assert parents > threads
    expected = sum(2 * i + 2 * (i + 100) for i in range(parents))
    with eagernb.mode("remote"):
        assert asyncio.run(many_parents(n=parents)) == expected
    run = eagernb.last_run()
    assert run is not None
    counts = {status.value: n for status, n in run.counts().items() if n}
    assert counts == {"succeeded": parents * 3}  # the parents and their children


def test_health_names_the_dask_engine_and_prints_come_back(
    remote: Remote, cluster: Cluster
) -> None:
    from tests.remote.test_modes import shouts

    health = remote._sync().get("/health").json()
    assert (health["engine"], health["scheduler"]) == ("dask", cluster.address)
    with eagernb.mode("hybrid"):
        assert asyncio.run(shouts(x=1)) == 3
    run = eagernb.last_run()
    assert run is not None
    printed = sorted((r.name, run.output_of(r.id)) for _, r in run.walk() if r.name == "shout")
    assert printed == [("shout", "shouting 1\nwarning 1\n"), ("shout", "shouting 2\nwarning 2\n")]
