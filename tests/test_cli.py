"""``eagernb`` on the command line: arguments, failures, and staying out of ``import eagernb``."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from eagernb._cli import main


def test_import_eagernb_loads_neither_the_cli_nor_nbclient() -> None:
    code = (
        "import sys, eagernb\n"
        "sys.stdout.write(' '.join(m for m in ('eagernb._cli', 'nbclient', 'nbformat') "
        "if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""


def test_help_lists_the_notebook_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["--help"])
    assert exit_.value.code == 0
    assert "notebook" in capsys.readouterr().out


def test_a_missing_notebook_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["notebook", str(tmp_path / "nope.ipynb")])
    assert exit_.value.code == 2
    assert "nope.ipynb is not a file" in capsys.readouterr().err


def test_a_file_that_is_not_a_notebook_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "notes.ipynb"
    path.write_text("not json")
    with pytest.raises(SystemExit) as exit_:
        main(["notebook", str(path)])
    assert exit_.value.code == 2
    assert "is not a notebook nbformat can read" in capsys.readouterr().err
    assert not (tmp_path / "notes.executed.ipynb").exists()


@pytest.mark.kernel
def test_a_failing_cell_stops_the_run_and_saves_the_notebook_so_far(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "broken.ipynb"
    cells = ['print("before")', "# divide\nratio = 1 / 0", 'print("never")']
    nbformat.write(new_notebook(cells=[new_code_cell(c) for c in cells]), path)

    assert main(["notebook", str(path)]) == 1

    out, err = capsys.readouterr()
    assert 'In [1]: print("before")\nbefore\n' in out
    assert "In [2]: ratio = 1 / 0 ...\nZeroDivisionError: division by zero\n" in out
    assert "never" not in out
    assert "    # divide\n    ratio = 1 / 0\n" in err, "the failing cell is shown"
    saved_path = tmp_path / "broken.executed.ipynb"
    assert err.strip().splitlines()[-1] == (
        f"eagernb: cell In [2] raised ZeroDivisionError: division by zero; "
        f"the notebook up to it was saved to {saved_path}."
    )
    saved = nbformat.read(saved_path, as_version=4)
    assert saved.cells[0].outputs[0].text == "before\n"
    assert saved.cells[1].outputs[0].ename == "ZeroDivisionError"
    assert saved.cells[2].outputs == []


@pytest.mark.kernel
def test_a_cell_that_runs_too_long_stops_the_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "slow.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell("import time\ntime.sleep(60)")]), path)
    out = tmp_path / "out" / "slow.ipynb"
    out.parent.mkdir()

    assert main(["notebook", str(path), "--timeout", "1", "-o", str(out)]) == 1

    assert "cell In [1] did not finish within --timeout 1 s" in capsys.readouterr().err
    assert out.exists()


def test_a_reader_that_stops_early_ends_the_command_quietly(tmp_path: Path) -> None:
    # `eagernb run ... | head -c 100`: the pipe closes long before the output ends.
    flows = tmp_path / "lines.py"
    flows.write_text(
        "from eagernb import eager\n\n"
        "@eager\nasync def lines(n: int) -> str:\n"
        "    return '\\n'.join(f'line {i}' for i in range(n))\n"
    )
    command = f"{sys.executable} -m eagernb run --no-report {flows} lines --n 200000 | head -c 100"
    done = subprocess.run(command, shell=True, capture_output=True, text=True, timeout=120)
    assert done.stdout.startswith("'line 0\\nline 1\\n") and len(done.stdout) == 100
    assert "Traceback" not in done.stderr and "BrokenPipeError" not in done.stderr


def test_a_run_whose_progress_reader_goes_away_still_succeeds_and_writes_its_report(
    tmp_path: Path,
) -> None:
    flows = tmp_path / "few.py"
    flows.write_text(
        "import asyncio\nfrom eagernb import eager, task\n\n"
        "@task\ndef one(i: int) -> int:\n    return i\n\n"
        "@eager\nasync def many(n: int) -> int:\n"
        "    return sum(await asyncio.gather(*(one(i=i) for i in range(n))))\n"
    )
    reports = tmp_path / "reports"
    command = (
        f"EAGERNB_REPORTS_DIR={reports} {sys.executable} -m eagernb run {flows} many --n 300 "
        "2>&1 | head -1; exit ${PIPESTATUS[0]}"
    )
    done = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=120)
    assert done.stdout.startswith("Running eager many(n=300) locally")
    assert done.returncode == 0, done.stderr
    assert len(list(reports.glob("*.html"))) == 1
