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
    InputTypeError,
    OutputTypeError,
    RunCancelledError,
    ScopeClosedError,
    TaskTimeoutError,
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
    if name in ("RemoteExecutionError", "RemoteRequestError"):
        from ._client import errors

        return getattr(errors, name)
    raise AttributeError(f"module 'eagernb' has no attribute {name!r}")


# Public classes read as ``eagernb.Name`` in reprs and tracebacks, not by private module.
for _name in (
    "Config", "DefinitionError", "Eager", "EagerException", "EagerNBError", "ErrorInfo",
    "ExecutionRecord", "InputTypeError", "Kind", "LocalEngine", "OutputTypeError", "Promise",
    "Run", "RunCancelledError", "ScopeClosedError", "Status", "Task", "TaskTimeoutError",
    "Workflow", "WorkflowCompileError",
):  # fmt: skip
    globals()[_name].__module__ = __name__
del _name


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
    "Config",
    "DefinitionError",
    "Eager",
    "EagerException",
    "EagerNBError",
    "Engine",
    "ErrorInfo",
    "Execution",
    "ExecutionRecord",
    "InputTypeError",
    "Kind",
    "LocalEngine",
    "OutputTypeError",
    "Promise",
    "Remote",
    "RemoteExecutionError",
    "RemoteRequestError",
    "Run",
    "RunCancelledError",
    "ScopeClosedError",
    "Status",
    "Task",
    "TaskTimeoutError",
    "Workflow",
    "WorkflowCompileError",
    "config",
    "eager",
    "events",
    "last_run",
    "mode",
    "runs",
    "task",
    "workflow",
]
