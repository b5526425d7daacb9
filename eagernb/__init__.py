"""eagernb: typed tasks, static workflows and eager async workflows, made for notebooks.

>>> from eagernb import task, eager
>>> @task
... def add_one(x: int) -> int:
...     return x + 1
>>> @eager
... async def wf(x: int) -> int:
...     return await add_one(x=x)

In a notebook: ``%load_ext eagernb`` then ``await wf(x=5)``.
"""

from typing import Any as _Any

from ._core import config as _config_module
from ._core.config import Config, config, mode
from ._core.eager import Eager, eager
from ._core.engine import Call, Engine
from ._core.errors import (
    DefinitionError,
    EagerException,
    EagerNBError,
    ErrorInfo,
    ExecutionCancelledError,
    InputTypeError,
    OutputTypeError,
    ResourcesUnavailableError,
    RunCancelledError,
    ScopeClosedError,
    ServerRestartedError,
    ServerStoppedError,
    TaskAbortedError,
    TaskTimeoutError,
    WorkerLostError,
    WorkflowCompileError,
)
from ._core.events import bus as events
from ._core.records import ExecutionRecord, Kind, Status
from ._core.run import Run, last_run, runs
from ._core.task import Task, task
from ._core.workflow import Promise, Workflow, workflow
from ._engines.local import LocalEngine

__version__ = "0.1.0"

_config_module.set_default_engine_factory(LocalEngine)


def _remote_of(entity: _Any) -> _Any:
    from ._client.remote import Remote

    return getattr(entity, "remote", None) or config.remote or Remote.auto()


def _hybrid_engine(entity: _Any) -> Engine:
    from ._client.engine import RemoteEngine

    return RemoteEngine(_remote_of(entity))


def _remote_engine(entity: _Any) -> Engine:
    from ._client.engine import RemoteEngine

    return RemoteEngine(_remote_of(entity), whole_run=True)


_config_module.register_mode("hybrid", _hybrid_engine)
_config_module.register_mode("remote", _remote_engine)


def __getattr__(name: str) -> _Any:
    # The remote client imports httpx; load it only when asked for.
    if name in ("Remote", "Execution"):
        from ._client import remote

        return getattr(remote, name)
    if name in ("ClientSecretError", "RemoteExecutionError", "RemoteRequestError"):
        from ._client import errors

        return getattr(errors, name)
    if name == "PayloadError":
        from ._engines.payload import PayloadError

        return PayloadError
    raise AttributeError(f"module 'eagernb' has no attribute {name!r}")


# Public classes read as ``eagernb.Name`` in reprs and tracebacks, not by private module.
for _name in (
    "Config", "DefinitionError", "Eager", "EagerException", "EagerNBError", "ErrorInfo",
    "ExecutionCancelledError", "ExecutionRecord", "InputTypeError", "Kind", "LocalEngine",
    "OutputTypeError", "Promise", "ResourcesUnavailableError", "Run", "RunCancelledError",
    "ScopeClosedError", "ServerRestartedError", "ServerStoppedError", "Status", "Task",
    "TaskAbortedError", "TaskTimeoutError", "WorkerLostError", "Workflow", "WorkflowCompileError",
):  # fmt: skip
    globals()[_name].__module__ = __name__
del _name


def explore(run_or_id: _Any = None, *, remote: _Any = None) -> None:
    """Show the run explorer in the notebook: tree, timeline, details, status filter, Cancel.

    ``run_or_id``: a :class:`Run`, the id of a run of this session, or the id of any
    execution on the control plane (``remote``, default ``config.remote`` or
    ``Remote.auto()``), which works in any kernel, also after a restart. None: the
    latest run of this session. A run still going is followed live.
    """
    from ._notebook.explore import explore as _explore

    _explore(run_or_id, remote=remote)


def save_report(run: _Any = None, path: _Any = None) -> _Any:
    """Write ``run``'s report (one self-contained HTML file) and return its path.

    ``run``: a :class:`Run` or a run id of this session (None: the latest). ``path``:
    default ``config.reports/RUN_ID.html``. The notebook extension writes one for every
    run when it ends; remote runs keep theirs on the control plane
    (``eagernb executions report ID``).
    """
    from ._notebook.explore import find_tree
    from ._notebook.reports import save_report as _save

    tree, _, _ = find_tree(run)
    return _save(tree, path)


def load_ipython_extension(ipython: object) -> None:
    """``%load_ext eagernb``: magics, the live widget, and ``asyncio.run`` in cells."""
    from ._notebook.extension import load

    load(ipython)


def unload_ipython_extension(ipython: object) -> None:
    """``%unload_ext eagernb``: undo everything ``%load_ext eagernb`` did."""
    from ._notebook.extension import unload

    unload(ipython)


__all__ = [
    "Call",
    "ClientSecretError",
    "Config",
    "DefinitionError",
    "Eager",
    "EagerException",
    "EagerNBError",
    "Engine",
    "ErrorInfo",
    "Execution",
    "ExecutionCancelledError",
    "ExecutionRecord",
    "InputTypeError",
    "Kind",
    "LocalEngine",
    "OutputTypeError",
    "PayloadError",
    "Promise",
    "Remote",
    "RemoteExecutionError",
    "RemoteRequestError",
    "ResourcesUnavailableError",
    "Run",
    "RunCancelledError",
    "ScopeClosedError",
    "ServerRestartedError",
    "ServerStoppedError",
    "Status",
    "Task",
    "TaskAbortedError",
    "TaskTimeoutError",
    "WorkerLostError",
    "Workflow",
    "WorkflowCompileError",
    "config",
    "eager",
    "events",
    "explore",
    "last_run",
    "mode",
    "runs",
    "save_report",
    "task",
    "workflow",
]
