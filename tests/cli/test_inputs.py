"""Options from typed signatures, and loading notebooks, in-process (fast)."""

from __future__ import annotations

import enum
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any, Literal

import cloudpickle
import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from eagernb import eager, task
from eagernb._cli_remote.inputs import input_parser, parse_inputs
from eagernb._cli_remote.loader import LoadError, load
from eagernb._engines.payload import checked_entity_payload


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@task
def typed(
    n: int,
    ratio: float,
    name: str,
    flag: bool,
    xs: list[int],
    pair: tuple[int, str] = (1, "a"),
    path: Path = Path("."),
    colour: Colour = Colour.RED,
    mode: Literal["fast", "slow"] = "fast",
    limit: int | None = None,
    table: dict[str, float] | None = None,
    tags: frozenset[str] = frozenset(),
    anything: Any = None,
) -> int:
    return n


REQUIRED = ["--n", "3", "--ratio", "1.5", "--name", "x", "--flag", "--xs", "1"]


def parse(*argv: str) -> dict[str, Any]:
    return parse_inputs(typed, list(argv), prog="eagernb run f.py typed")


def test_text_options_become_typed_values_and_defaults_fill_in() -> None:
    values = parse(*REQUIRED)
    assert values == {
        "n": 3, "ratio": 1.5, "name": "x", "flag": True, "xs": [1], "pair": (1, "a"),
        "path": Path("."), "colour": Colour.RED, "mode": "fast", "limit": None, "table": None,
        "tags": frozenset(), "anything": None,
    }  # fmt: skip


def test_lists_take_json_or_repeated_options_and_others_take_json() -> None:
    values = parse(
        "--n", "3", "--ratio", "2", "--name", "x", "--no-flag", "--xs", "[1, 2]", "--xs", "3",
        "--pair", '[2, "b"]', "--path", "/tmp", "--colour", "BLUE", "--mode", "slow",
        "--limit", "7", "--table", '{"a": 1}', "--tags", "u", "--tags", "v",
        "--anything", "plain words",
    )  # fmt: skip
    assert values["xs"] == [1, 2, 3]
    assert values["flag"] is False
    assert values["ratio"] == 2.0 and isinstance(values["ratio"], float)
    assert values["pair"] == (2, "b")
    assert values["path"] == Path("/tmp")
    assert values["colour"] is Colour.BLUE
    assert values["mode"] == "slow"
    assert values["limit"] == 7
    assert values["table"] == {"a": 1.0}
    assert values["tags"] == frozenset({"u", "v"})
    assert values["anything"] == "plain words"
    assert parse(*REQUIRED, "--limit", "null", "--colour", "blue")["colour"] is Colour.BLUE


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--n", "three"], "argument --n: expected int, got 'three'"),
        (["--xs", "[1, 2"], "argument --xs: expected JSON for list[int], got '[1, 2'"),
        (["--xs", "one"], "argument --xs: expected int, got 'one'"),
        (["--mode", "medium"], "argument --mode: expected one of fast, slow, got 'medium'"),
        (["--colour", "green"], "argument --colour: expected one of RED, BLUE, got 'green'"),
        (["--table", '{"a": "b"}'], "Task 'typed' expected 'table: dict[str, float] | None'"),
    ],
)
def test_bad_values_are_usage_errors_naming_the_option(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        parse(*REQUIRED, *argv)
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err


def test_missing_required_inputs_are_named(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        parse("--n", "1")
    assert exit_.value.code == 2
    assert "the following arguments are required: --ratio, --name, --flag/--no-flag, --xs" in (
        capsys.readouterr().err
    )


def test_help_lists_every_input_with_its_type_and_default() -> None:
    text = input_parser(typed, prog="eagernb run f.py typed").format_help()
    for expected in (
        "--n int", "--ratio float", "--flag, --no-flag", "--xs list[int]",
        "--pair tuple[int, str]", "--colour Colour", "--limit int | None", "default: 'fast'",
        "JSON (default: (1, 'a'))", "a JSON list, or give the option once per item (required)",
    ):  # fmt: skip
        assert expected in " ".join(text.split()), (expected, text)


@eager
async def takes_help(help: str) -> str:
    return help


def test_an_input_named_help_keeps_dash_h() -> None:
    assert parse_inputs(takes_help, ["--help", "me"], prog="p") == {"help": "me"}
    assert "-h " in input_parser(takes_help, prog="p").format_help()


# -- loading files ----------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def keep_sys_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """Loading a file puts its folder on sys.path, as ``python FILE`` does: undo that."""
    monkeypatch.setattr(sys, "path", list(sys.path))


def test_a_notebook_skips_magics_shell_lines_and_top_level_await(tmp_path: Path) -> None:
    cells = [
        "%load_ext eagernb",
        "from eagernb import task\nimport os\n!ls\n  %time x = 1",
        "%%bash\necho hi",
        "@task\ndef shout(text: str) -> str:\n    return text.upper()",
        "await shout_async()",
        "x = !ls",
        "alias = shout",
    ]
    path = tmp_path / "book.ipynb"
    nbformat.write(new_notebook(cells=[new_code_cell(c) for c in cells]), path)

    loaded = load(path)

    assert list(loaded.entities) == ["shout", "alias"]
    assert [e.name for e in loaded.unique()] == ["shout"]
    assert loaded.find("shout") is loaded.find("alias")
    assert loaded.skipped[:4] == [
        "code cell 1 `%load_ext eagernb`",
        "code cell 2 `!ls`",
        "code cell 2 `%time x = 1`",
        "code cell 3 (a %% cell magic)",
    ]
    assert loaded.skipped[4].startswith("code cell 6 (not plain Python: invalid syntax")
    assert loaded.skipped[5:] == ["top-level await in code cell 5"]
    assert loaded.module.shout.fn("a") == "A"


def test_a_statement_that_raises_ends_its_cell_and_is_named(tmp_path: Path) -> None:
    path = tmp_path / "broken.ipynb"
    cells = ["x = 1", "# the second cell\ny = 1 / 0\nnever = 2", "z = x + 2"]
    nbformat.write(new_notebook(cells=[new_code_cell(c) for c in cells]), path)
    loaded = load(path)
    assert loaded.skipped == [
        "code cell 2 from line 2 (it raised ZeroDivisionError: division by zero)"
    ]
    assert (loaded.module.z, hasattr(loaded.module, "never")) == (3, False)


def test_loaded_code_is_shipped_by_value(tmp_path: Path) -> None:
    # A process that has never seen the file (nor its folder) loads the pickled task.
    path = tmp_path / "shipped.py"
    path.write_text(
        "from eagernb import task\n\nFACTOR = 3\n\n"
        "@task\ndef triple(x: int) -> int:\n    return x * FACTOR\n"
    )
    loaded = load(path)
    data = cloudpickle.dumps(loaded.entities["triple"])
    code = "import pickle, sys; print(pickle.loads(sys.stdin.buffer.read()).fn(5))"
    done = subprocess.run(
        [sys.executable, "-c", code], input=data, capture_output=True, timeout=60, cwd="/"
    )
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode().strip() == "15"
    assert pickle.loads(data).fn(2) == 6


def test_files_of_other_kinds_are_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("")
    with pytest.raises(LoadError, match=r"neither a \.py module nor an \.ipynb notebook"):
        load(tmp_path / "notes.txt")
    with pytest.raises(LoadError, match="is not a file"):
        load(tmp_path / "missing.py")


def test_loaded_modules_stay_registered_by_value_after_a_dump(tmp_path: Path) -> None:
    path = tmp_path / "kept.py"
    path.write_text("from eagernb import task\n\n@task\ndef one() -> int:\n    return 1\n")
    loaded = load(path)
    checked_entity_payload(loaded.entities["one"])
    assert loaded.module.__name__ in cloudpickle.list_registry_pickle_by_value()
