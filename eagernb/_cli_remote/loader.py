"""Load a ``.py`` file or an ``.ipynb`` notebook as a module and find its entities.

The module gets a name derived from the file's stem (``eagernb_file_<stem>``), so loading
the same file twice gives the same code payloads, and so the same versions. It is
registered with cloudpickle to be pickled by value: workers load its functions from the
payload and never need the file.
"""

from __future__ import annotations

import ast
import importlib.util
import linecache
import re
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path

from .._core.entity import Entity

__all__ = ["LoadError", "Loaded", "load"]

NOTEBOOK_RULES = (
    "In a notebook, what defines things runs, cell by cell top to bottom in one fresh "
    "module: imports, functions, classes, assignments. Statements that only compute a "
    "value to show (bare expressions such as print(...) or asyncio.run(...)), statements "
    "with top-level await, lines that start with % or ! and %% cell magics are skipped; a "
    "statement that raises ends its cell there, and later cells still run."
)


class LoadError(Exception):
    """The file could not be read or its code raised; the message says which and where."""


@dataclass
class Loaded:
    """A loaded file: its module, its entities by attribute name, and the notebook cells
    and lines that were skipped (``code cell 1 `%load_ext eagernb```)."""

    path: Path
    module: types.ModuleType
    entities: dict[str, Entity]
    skipped: list[str] = field(default_factory=list)

    def find(self, name: str) -> Entity | None:
        """The entity bound to attribute ``name``, else the one whose ``name`` it is."""
        found = self.entities.get(name)
        if found is not None:
            return found
        return next((e for e in self.entities.values() if e.name == name), None)

    def unique(self) -> list[Entity]:
        """Each entity once (a module may bind one entity to several names)."""
        return list({id(e): e for e in self.entities.values()}.values())


def load(path: Path) -> Loaded:
    """Load ``path`` (``.py`` or ``.ipynb``) and collect the tasks and workflows it defines."""
    if not path.is_file():
        raise LoadError(f"{path} is not a file; give the path of a .py module or .ipynb notebook.")
    if path.suffix not in (".py", ".ipynb"):
        raise LoadError(f"{path} is neither a .py module nor an .ipynb notebook.")
    name = _module_name(path)
    folder = str(path.resolve().parent)
    if folder not in sys.path:  # as for `python FILE`: its sibling modules are importable
        sys.path.insert(0, folder)
    skipped: list[str] = []
    if path.suffix == ".py":
        module = _load_module(path, name)
    else:
        module, skipped = _load_notebook(path, name)
    entities = {k: v for k, v in vars(module).items() if isinstance(v, Entity)}
    return Loaded(path, module, entities, skipped)


def _module_name(path: Path) -> str:
    stem = re.sub(r"\W", "_", path.stem)
    name = f"eagernb_file_{stem}"
    number = 1
    while name in sys.modules:  # another file of the same stem was loaded in this process
        number += 1
        name = f"eagernb_file_{stem}_{number}"
    return name


def _load_module(path: Path, name: str) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise LoadError(f"Python cannot import {path} as a module.")
    module = importlib.util.module_from_spec(spec)
    _ship_by_value(module)
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        raise LoadError(f"Importing {path} raised {_describe(exc)}.") from exc
    return module


def _load_notebook(path: Path, name: str) -> tuple[types.ModuleType, list[str]]:
    try:
        import nbformat
    except ImportError as exc:
        raise LoadError(
            f"{exc.name} is missing; install it with: pip install 'eagernb[notebook]'"
        ) from None
    try:
        notebook = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
    except Exception as exc:
        raise LoadError(f"{path} is not a notebook nbformat can read ({exc}).") from None
    module = types.ModuleType(name)
    module.__file__ = str(path)
    _ship_by_value(module)
    skipped: list[str] = []
    awaited: list[int] = []
    shown: list[int] = []
    number = 0
    for cell in notebook.cells:
        if cell.cell_type != "code":
            continue
        number += 1
        where = f"code cell {number}"
        source, dropped = _plain_python(cell.source)
        if source is None:
            skipped.append(f"{where} (a %% cell magic)")
            continue
        skipped.extend(f"{where} `{line.strip()}`" for line in dropped)
        filename = f"<{path.name} cell {number}>"
        try:
            tree = ast.parse(source, filename)
        except SyntaxError as exc:
            skipped.append(f"{where} (not plain Python: {exc})")
            continue
        # Keep the source for tracebacks, as IPython does for its cells.
        lines = source.splitlines(keepends=True)
        linecache.cache[filename] = (len(source), None, lines, filename)
        awaits, shows, raised = _run_cell(tree, filename, module)
        if raised is not None:
            skipped.append(f"{where} from line {raised}")
        awaited.extend([number] if awaits else [])
        shown.extend([number] if shows else [])
    if awaited:
        skipped.append(f"top-level await in {_cells(awaited)}")
    if shown:
        skipped.append(f"bare expressions in {_cells(shown)}")
    return module, skipped


def _cells(numbers: list[int]) -> str:
    if len(numbers) == 1:
        return f"code cell {numbers[0]}"
    return f"code cells {', '.join(map(str, numbers))}"


def _run_cell(
    tree: ast.Module, filename: str, module: types.ModuleType
) -> tuple[bool, bool, str | None]:
    """Run the statements of one cell that define things. Returns whether it skipped
    some with top-level await, some bare expressions, and where and why it stopped."""
    awaits = shows = False
    for statement in tree.body:
        if _awaits(statement):
            awaits = True
            continue
        if isinstance(statement, ast.Expr):
            shows = True
            continue
        code = compile(ast.Module([statement], []), filename, "exec", dont_inherit=True)
        try:
            exec(code, module.__dict__)
        except Exception as exc:
            return awaits, shows, f"{statement.lineno} (it raised {_describe(exc)})"
    return awaits, shows, None


def _awaits(statement: ast.stmt) -> bool:
    """Whether ``statement`` awaits at the top level (not inside a function it defines)."""
    if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return False
    stack: list[ast.AST] = [statement]
    while stack:
        node = stack.pop()
        if isinstance(node, (ast.Await, ast.AsyncFor, ast.AsyncWith)):
            return True
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            continue
        stack.extend(ast.iter_child_nodes(node))
    return False


def _ship_by_value(module: types.ModuleType) -> None:
    import cloudpickle

    sys.modules[module.__name__] = module  # cloudpickle only registers imported modules
    cloudpickle.register_pickle_by_value(module)


def _plain_python(source: str) -> tuple[str | None, list[str]]:
    """The cell without magic and shell lines (None for a %% cell), and the lines dropped."""
    if source.lstrip().startswith("%%"):
        return None, []
    kept, dropped = [], []
    for line in source.splitlines():
        if line.lstrip().startswith(("%", "!")):
            dropped.append(line)
            kept.append("")  # keep line numbers right for tracebacks
        else:
            kept.append(line)
    return "\n".join(kept) + "\n", dropped


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
