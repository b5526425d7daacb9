"""The example notebooks, run top to bottom in a real Jupyter kernel as a user would."""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[2] / "notebooks"
WIDGET_STATE = "application/vnd.jupyter.widget-state+json"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
FINAL = {"succeeded", "failed", "cancelled"}

# Cells of the quickstart that start a run, each with the rows its run view should end with.
QUICKSTART_RUNS = {
    "await simple_eager_workflow(x=5)": None,
    "await another_eager_workflow(x=5)": None,
    "await eager_workflow_with_conditionals(x=5)": None,
    "await eager_workflow_with_conditionals(x=100)": None,
    "await eager_workflow_with_for_loop(x=5)": 1 + 5 + 1,  # root, 5 add_one, double
    "await eager_workflow_with_static_subworkflow(x=5)": None,
    "await nested_eager_workflow(x=5)": None,
    "await eager_workflow_with_exception(x=0)": 2,  # root, the failed raises_exc
    "await catch_the_type_error(x=0)": 2,
    "asyncio.run(simple_eager_workflow(x=5))": None,
    "handle = nested_eager_workflow.start(x=3)": None,
}
FAILING_CHILD = {"await eager_workflow_with_exception(x=0)", "await catch_the_type_error(x=0)"}


def execute(name: str) -> Any:
    """Run a notebook as ``eagernb notebook`` does; nbclient shuts its kernel down."""
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    NotebookClient(
        nb,
        kernel_name="python3",
        store_widget_state=True,
        timeout=120,
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    ).execute()
    return nb


@pytest.fixture(scope="module")
def quickstart() -> Any:
    return execute("quickstart.ipynb")


@pytest.fixture(scope="module")
def sweep() -> Any:
    return execute("hyperparameter_sweep.ipynb")


def cell(nb: Any, fragment: str) -> Any:
    """The one code cell whose source contains ``fragment``."""
    found = [c for c in nb.cells if c.cell_type == "code" and fragment in c.source]
    assert len(found) == 1, f"{len(found)} code cells contain {fragment!r}"
    return found[0]


def result(c: Any) -> str:
    """The cell's Out[...] value as text."""
    values = [o.data["text/plain"] for o in c.outputs if o.output_type == "execute_result"]
    assert len(values) == 1, c.outputs
    return str(values[0])


def stdout(c: Any) -> str:
    return "".join(o.text for o in c.outputs if o.output_type == "stream" and o.name == "stdout")


def stderr(nb: Any) -> list[str]:
    """Warnings and log lines any cell wrote: a user should see none."""
    return [
        o.text
        for c in nb.cells
        for o in c.get("outputs", [])
        if o.output_type == "stream" and o.name == "stderr"
    ]


def test_committed_notebooks_are_clean_and_run_in_python3() -> None:
    for path in sorted(NOTEBOOKS.glob("*.ipynb")):
        if path.name.endswith(".executed.ipynb"):
            continue
        nb = nbformat.read(path, as_version=4)
        nbformat.validate(nb)
        assert nb.metadata.kernelspec.name == "python3", path.name
        assert "widgets" not in nb.metadata, path.name
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert code[0].source == "%load_ext eagernb", path.name
        assert all(c.outputs == [] and c.execution_count is None for c in code), path.name


@pytest.mark.kernel
def test_quickstart_shows_each_workflows_result(quickstart: Any) -> None:
    assert result(cell(quickstart, "add_one(x=1), double(x=21)")) == "(2, 42)"
    assert result(cell(quickstart, "await simple_eager_workflow(x=5)")) == "12"
    assert result(cell(quickstart, "await another_eager_workflow(x=5)")) == "10"
    assert result(cell(quickstart, "await eager_workflow_with_conditionals(x=5)")) == "12"
    assert result(cell(quickstart, "await eager_workflow_with_conditionals(x=100)")) == "100"
    assert result(cell(quickstart, "await eager_workflow_with_for_loop(x=5)")) == "30"
    assert result(cell(quickstart, "await eager_workflow_with_static_subworkflow(x=5)")) == "12"
    assert result(cell(quickstart, "await nested_eager_workflow(x=5)")) == "12"
    assert result(cell(quickstart, "await eager_workflow_with_exception(x=0)")) == "-1"
    assert result(cell(quickstart, "await catch_the_type_error(x=0)")) == "-1"
    assert stdout(cell(quickstart, "asyncio.run(simple_eager_workflow(x=5))")) == "Result: 12\n"
    assert result(cell(quickstart, "await handle")) == "8"
    assert stderr(quickstart) == []


@pytest.mark.kernel
def test_quickstart_prints_the_records_of_the_last_run(quickstart: Any) -> None:
    lines = stdout(cell(quickstart, "eagernb.last_run()")).splitlines()
    assert lines[0].startswith("<eagernb Run catch_the_type_error")
    assert lines[1].split() == ["catch_the_type_error", "eager", "succeeded", "-1"]
    assert lines[2].split() == ["raises_exc", "task", "failed", "TypeError"]
    assert lines[2].startswith("  "), "a child is indented under its parent"
    assert len(lines) == 3


def run_views(nb: Any) -> Iterator[tuple[str, dict[str, str], list[dict[str, str]]]]:
    """Each run view the notebook saved: (cell source, header attributes, rows' attributes)."""
    state = nb.metadata.widgets[WIDGET_STATE]["state"]
    for c in nb.cells:
        for output in c.get("outputs", []):
            view = output.get("data", {}).get(WIDGET_VIEW)
            if view is None:
                continue
            html = "".join(_html_below(state, view["model_id"]))
            tags = [
                (name, dict(re.findall(r'([\w-]+)="([^"]*)"', attributes)))
                for name, attributes in re.findall(r"<(\w+)\b([^>]*)>", html)
            ]
            headers = [a for _, a in tags if "data-eagernb-run" in a]
            assert len(headers) == 1, f"one header per run view, found {headers} in {c.source!r}"
            rows = [a for _, a in tags if "data-eagernb-id" in a]
            yield c.source, headers[0], rows


def _html_below(state: dict[str, Any], model_id: str) -> Iterator[str]:
    """The ``value`` of every HTML widget in the tree of models below ``model_id``."""
    model = state[model_id]
    if model["model_name"] == "HTMLModel":
        yield model["state"]["value"]
    for value in model["state"].values():
        refs = value if isinstance(value, list) else [value]
        for ref in refs:
            if isinstance(ref, str) and ref.startswith("IPY_MODEL_"):
                yield from _html_below(state, ref.removeprefix("IPY_MODEL_"))


@pytest.mark.kernel
def test_quickstart_saves_the_final_state_of_every_run_view(quickstart: Any) -> None:
    assert quickstart.metadata.widgets[WIDGET_STATE]["state"], "no widget state was saved"
    views = list(run_views(quickstart))
    run_ids = {header["data-eagernb-run"] for _, header, _ in views}
    assert len(run_ids) == len(views), "each run has its own view"
    for fragment, expected_rows in QUICKSTART_RUNS.items():
        source = cell(quickstart, fragment).source
        mine = [(header, rows) for src, header, rows in views if src == source]
        assert len(mine) == 1, f"{len(mine)} run views saved for {fragment!r}"
        header, rows = mine[0]
        assert header.get("data-status") == "succeeded", f"{fragment!r}: {header}"
        statuses = [row["data-status"] for row in rows]
        assert set(statuses) <= FINAL, f"{fragment!r} was saved with statuses {statuses}"
        ids = [row["data-eagernb-id"] for row in rows]
        assert len(set(ids)) == len(ids), ids
        if expected_rows is not None:
            assert len(rows) == expected_rows, f"{fragment!r}: {rows}"
        if fragment in FAILING_CHILD:
            assert sorted(statuses) == ["failed", "succeeded"], fragment
        else:
            assert set(statuses) == {"succeeded"}, f"{fragment!r} was saved with {statuses}"


@pytest.mark.kernel
def test_sweep_finds_a_good_setting_and_tests_it(sweep: Any) -> None:
    run_cell = cell(sweep, "await sweep(")
    grid, gammas = (
        ast.literal_eval(re.findall(rf"\b{name}=(\[.*?\])", run_cell.source)[0])
        for name in ("Cs", "gammas")
    )
    best = ast.literal_eval(result(run_cell))
    assert set(best) == {"C", "gamma", "mean", "std", "test_accuracy"}
    assert best["C"] in grid and best["gamma"] in gammas
    for key in ("mean", "test_accuracy"):
        assert isinstance(best[key], float) and 0 < best[key] <= 1, best
    assert best["mean"] > 0.9, "an RBF SVC should recognise most digits"

    assert "Best setting: C=" in stdout(cell(sweep, "Best setting"))
    table = stdout(cell(sweep, "eagernb.last_run()")).splitlines()
    assert table[0].split() == ["C", "gamma", "accuracy", "seconds"]
    assert len(table) - 1 == len(grid) * len(gammas), "one line per cross-validated setting"
    assert float(table[1].split()[2]) == pytest.approx(best["mean"], abs=5e-4)
    assert stderr(sweep) == []


@pytest.mark.kernel
def test_cli_runs_the_quickstart_and_saves_it(tmp_path: Path) -> None:
    out = tmp_path / "quickstart.out.ipynb"
    eagernb = Path(sys.executable).parent / "eagernb"
    done = subprocess.run(
        [str(eagernb), "notebook", str(NOTEBOOKS / "quickstart.ipynb"), "--output", str(out)],
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    printed = _cells_printed(done.stdout)
    assert printed["await simple_eager_workflow(x=5)"][-1] == "12"
    assert printed["async def another_eager_workflow(x: int) -> int: ..."][-1] == "10"
    assert printed["await eager_workflow_with_conditionals(x=100)"][-1] == "100"
    assert printed["async def eager_workflow_with_for_loop(x: int) -> int: ..."][-1] == "30"
    assert printed["def raises_exc(x: int) -> int: ..."][-1] == "-1"
    assert printed['if __name__ == "__main__": ...'][-1] == "Result: 12"
    assert printed["await handle"] == ["8"]
    # The cell that started a run in the background showed it running; once it ended,
    # the command says how.
    started = printed["handle = nested_eager_workflow.start(x=3) ..."]
    assert any("nested_eager_workflow running" in line for line in started), started
    assert any("nested_eager_workflow succeeded" in line for line in printed["updated since"])
    # A run view's text/plain is printed too: a summary line naming the workflow.
    assert any(
        "simple_eager_workflow" in line for line in printed["await simple_eager_workflow(x=5)"]
    )
    assert f"Saved the executed notebook to {out}" in done.stderr
    saved = nbformat.read(out, as_version=4)
    assert result(cell(saved, "await eager_workflow_with_for_loop(x=5)")) == "30"


def _cells_printed(text: str) -> dict[str, list[str]]:
    """``In [n]: first line`` header -> the lines printed under it."""
    printed: dict[str, list[str]] = {}
    lines: list[str] = []
    for line in text.splitlines():
        header = re.fullmatch(r"In \[\d+\](?:: (.*)|, (updated since):)", line)
        if header:
            lines = printed.setdefault(header[1] or header[2], [])
        elif line:
            lines.append(line)
    return printed
