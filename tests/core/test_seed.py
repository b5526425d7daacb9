"""The seed document's examples give the document's values."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest

from eagernb import Kind, Status
from tests.core.support import children, latest_run_of
from tests.seed import eager_workflows as seed

ROOT = Path(__file__).resolve().parents[2]

EXAMPLES = [
    (seed.simple_eager_workflow, 5, 12),
    (seed.another_eager_workflow, 5, 10),  # (5 + 1 - 1) * 2
    (seed.eager_workflow_with_conditionals, 5, 12),
    (seed.eager_workflow_with_conditionals, 100, 100),
    (seed.eager_workflow_with_for_loop, 5, 30),
    (seed.eager_workflow_with_static_subworkflow, 5, 12),
    (seed.nested_eager_workflow, 5, 12),
    (seed.eager_workflow_with_exception, 0, -1),
    (seed.eager_workflow_with_exception, 5, 5),
]
IDS = [f"{wf.name}(x={x})" for wf, x, _ in EXAMPLES]


@pytest.mark.parametrize(("wf", "x", "expected"), EXAMPLES, ids=IDS)
def test_example_with_asyncio_run(wf, x, expected):
    assert asyncio.run(wf(x=x)) == expected
    assert latest_run_of(wf).status is Status.SUCCEEDED


@pytest.mark.parametrize(("wf", "x", "expected"), EXAMPLES, ids=IDS)
def test_example_awaited_inside_a_running_loop(wf, x, expected):
    async def cell():
        return await wf(x=x)

    assert asyncio.run(cell()) == expected


def test_for_loop_example_runs_one_child_per_iteration_then_double():
    asyncio.run(seed.eager_workflow_with_for_loop(x=5))
    run = latest_run_of(seed.eager_workflow_with_for_loop)
    names = [record.name for record in children(run)]
    assert names == ["add_one"] * 5 + ["double"]
    assert [r.inputs for r in children(run)][:5] == [{"x": i} for i in range(5)]
    assert children(run)[-1].inputs == {"x": 15}


def test_exception_example_records_the_failed_child():
    asyncio.run(seed.eager_workflow_with_exception(x=0))
    run = latest_run_of(seed.eager_workflow_with_exception)
    (child,) = children(run)
    assert child.name == "raises_exc"
    assert child.status is Status.FAILED
    assert child.error is not None and child.error.type_name == "TypeError"
    assert run.root is not None and run.root.status is Status.SUCCEEDED
    assert run.root.output == -1


def test_static_subworkflow_example_is_a_workflow_child_with_its_own_children():
    asyncio.run(seed.eager_workflow_with_static_subworkflow(x=5))
    run = latest_run_of(seed.eager_workflow_with_static_subworkflow)
    tree = [(depth, record.name, record.kind) for depth, record in run.walk()]
    assert tree == [
        (0, "eager_workflow_with_static_subworkflow", Kind.EAGER),
        (1, "subworkflow", Kind.WORKFLOW),
        (2, "add_one", Kind.TASK),
        (2, "double", Kind.TASK),
    ]


def test_seed_file_run_as_a_script_prints_the_documented_result():
    done = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "seed" / "eager_workflows.py")],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "Result: 12\n"
    assert done.stderr == ""
