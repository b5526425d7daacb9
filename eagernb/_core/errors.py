"""Every exception eagernb raises, in one place.

::

    EagerNBError
    ├── DefinitionError        a decorator was applied to something it cannot wrap
    ├── WorkflowCompileError   a static @workflow body cannot become a graph
    ├── InputTypeError         (also TypeError) an input does not match its annotation
    ├── OutputTypeError        (also TypeError) a return value does not match its annotation
    ├── EagerException         a child execution failed; each instance is also an
    │                          instance of the child's original exception type
    ├── TaskTimeoutError       (also TimeoutError) a child ran past its timeout
    ├── TaskAbortedError       (also RuntimeError) a body raised SystemExit, KeyboardInterrupt,
    │                          CancelledError (or another non-Exception) on its own
    ├── ScopeClosedError       (also RuntimeError) a child launched after its parent returned
    ├── ExecutionCancelledError  one child was cancelled from a view; its parent goes on
    └── RunCancelledError      a run was cancelled from a view (Cancel button, handle)
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import os
import traceback
import types
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

__all__ = [
    "DefinitionError",
    "EagerException",
    "EagerNBError",
    "ErrorInfo",
    "ExecutionCancelledError",
    "InputTypeError",
    "OutputTypeError",
    "ResourcesUnavailableError",
    "RunCancelledError",
    "ScopeClosedError",
    "ServerRestartedError",
    "ServerStoppedError",
    "TaskAbortedError",
    "TaskTimeoutError",
    "WorkerLostError",
    "WorkflowCompileError",
    "aborted_error",
    "as_eager_exception",
    "check_attempts",
    "owner_of",
]


_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_MACHINERY = (
    _PACKAGE_DIR + os.sep,
    os.path.dirname(asyncio.__file__) + os.sep,
    os.path.dirname(concurrent.futures.__file__) + os.sep,
)


def user_traceback(exc: BaseException) -> str:
    """The traceback of ``exc`` as text, without eagernb's and asyncio's own frames."""
    summary = traceback.TracebackException.from_exception(exc)
    parts = _chain(summary)
    kept = [[f for f in part.stack if not f.filename.startswith(_MACHINERY)] for part in parts]
    # With no user frame anywhere (an error of eagernb's own), the frames stay, so the text
    # still says where; otherwise a part raised by eagernb (wrapping the user's exception,
    # its cause) shows none.
    if any(kept):
        for part, frames in zip(parts, kept, strict=True):
            part.stack = traceback.StackSummary.from_list(frames)
    return "".join(summary.format())


def _chain(summary: traceback.TracebackException) -> list[traceback.TracebackException]:
    parts, seen = [], set()
    current: traceback.TracebackException | None = summary
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        parts.append(current)
        current = current.__cause__ or current.__context__
    return parts


class EagerNBError(Exception):
    """Base class of every error eagernb raises on its own behalf."""


class DefinitionError(EagerNBError):
    """A decorator was given something it cannot turn into a task or workflow."""


class WorkflowCompileError(EagerNBError):
    """A static workflow body could not be compiled into a typed graph."""


class InputTypeError(EagerNBError, TypeError):
    """An input value does not match the annotation of its parameter."""


class OutputTypeError(EagerNBError, TypeError):
    """A returned value does not match the return annotation."""


class TaskTimeoutError(EagerNBError, TimeoutError):
    """A child execution ran longer than its ``timeout``."""


class TaskAbortedError(EagerNBError, RuntimeError):
    """A body raised ``SystemExit`` (``sys.exit()``), ``KeyboardInterrupt``,
    ``asyncio.CancelledError`` or another ``BaseException`` that is not an ``Exception`` on
    its own: its execution failed with this error instead.

    Those exceptions stop a process or cancel a run, so they are never passed on as they
    are: a ``sys.exit(2)`` in one task must not end the notebook kernel or the command line
    with the run half done. Like ``StopIteration`` in a generator (PEP 479), the body's
    exception becomes a ``RuntimeError`` (``__cause__`` is the original where the body ran in
    this process). ``raised_type`` names the original type and ``exit_code`` is the code
    given to ``sys.exit()`` (None for the other types).
    """

    raised_type: str = ""
    exit_code: Any = None

    def __init__(self, message: str, raised_type: str = "", exit_code: Any = None) -> None:
        super().__init__(message)
        self.raised_type = raised_type
        self.exit_code = exit_code


class ScopeClosedError(EagerNBError, RuntimeError):
    """A child was launched after the eager workflow that would own it had returned."""


class ExecutionCancelledError(EagerNBError):
    """One child execution was cancelled on purpose (from the explorer), not its whole run.

    The eager workflow that awaited it receives it (as an :class:`EagerException`) and
    may catch it like any other failure of a child.
    """


class RunCancelledError(EagerNBError):
    """A run was cancelled on purpose (Cancel button or ``Run.cancel()``)."""


# Failures the control plane reports itself (no user code raised them): a remote child's
# parent catches them by these types.


class WorkerLostError(EagerNBError, RuntimeError):
    """The worker process (or Dask worker) running an attempt died before it answered."""


class ServerRestartedError(EagerNBError, RuntimeError):
    """The control plane restarted while the execution ran or waited to run."""


class ServerStoppedError(EagerNBError, RuntimeError):
    """The control plane shut down while the execution ran."""


class ResourcesUnavailableError(EagerNBError, RuntimeError):
    """No worker offers the resources the task asked for."""


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """A failure as plain data: what views and records keep of an exception."""

    type_name: str
    message: str
    traceback: str

    @classmethod
    def from_json(cls, error: Mapping[str, Any]) -> ErrorInfo:
        """An error as the control plane describes it: ``{"type_name", "message",
        "traceback"}``."""
        return cls(
            str(error.get("type_name", "Exception")),
            str(error.get("message", "")),
            str(error.get("traceback", "")),
        )

    @classmethod
    def from_exception(cls, exc: BaseException) -> ErrorInfo:
        original = exc.original_type if isinstance(exc, EagerException) else type(exc)
        # An exception rebuilt from a remote child carries the traceback where it was raised.
        text = str(getattr(exc, "remote_traceback", "") or "")
        if not text:
            text = user_traceback(exc)
        # A remote failure whose class could not be rebuilt still names the original type.
        name = getattr(exc, "remote_type_name", None) or _qualname(original)
        return cls(name, str(exc), text)

    def __str__(self) -> str:
        return f"{self.type_name}: {self.message}" if self.message else self.type_name


class EagerException(EagerNBError):
    """A child execution of an eager workflow failed.

    The instance raised in the eager body is *also* an instance of the child's original
    exception class, with the original's attributes, so both of these catch it::

        try:
            await risky(x=0)
        except EagerException as e:   # any failed child
            print(e.execution_name, e.execution_id)
        except ValueError:            # only children that raised ValueError
            ...

    Attributes: ``execution_name``, ``execution_id``, ``original_type`` and
    ``remote_traceback`` (the child's traceback as text). ``__cause__`` is the original
    exception when it was raised in this process.
    """

    execution_name: str = ""
    execution_id: str = ""
    original_type: type[BaseException] = Exception
    remote_traceback: str = ""

    def __reduce__(self) -> tuple[Any, ...]:
        # The class is made on the fly, so it cannot be pickled by name: rebuild it.
        state = dict(self.__dict__)
        return (_rebuild, (self.original_type, self.args, state))

    def __str__(self) -> str:
        if self.original_type is not EagerException and isinstance(self, self.original_type):
            return self.original_type.__str__(self)
        return super().__str__()


_SUBCLASSES: dict[type[BaseException], type[EagerException]] = {}


def _qualname(cls: type[BaseException]) -> str:
    module = cls.__module__
    if module in ("builtins", "__main__"):
        return cls.__qualname__
    return f"{module}.{cls.__qualname__}"


def _eager_class_for(original: type[BaseException]) -> type[EagerException]:
    cached = _SUBCLASSES.get(original)
    if cached is not None:
        return cached
    if issubclass(original, EagerException):
        return original
    try:
        cls: type[EagerException] = type(
            f"EagerException[{original.__name__}]",
            (EagerException, original),
            {"__module__": "eagernb", "original_type": original},
        )
    except TypeError:
        # Some built-in exception layouts cannot be combined; the plain class still
        # carries the original type name, message and traceback.
        cls = EagerException
    _SUBCLASSES[original] = cls
    return cls


_DESCRIPTORS = (types.MemberDescriptorType, types.GetSetDescriptorType)


def _copy_slots(source: BaseException, target: BaseException) -> None:
    # Built-in exceptions keep some state outside __dict__ and args (OSError.filename,
    # ImportError.name, StopIteration.value, ...); without this the copy loses it.
    for klass in type(source).__mro__:
        if klass is BaseException or klass is object:
            continue
        for attr, descriptor in vars(klass).items():
            if attr.startswith("__") or not isinstance(descriptor, _DESCRIPTORS):
                continue
            try:
                value = getattr(source, attr)
                if value is not None:  # None is the default; setting it changes OSError's str
                    setattr(target, attr, value)
            except (AttributeError, TypeError, ValueError):
                pass


def _rebuild(original: type[BaseException], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    cls = _eager_class_for(original)
    exc: Any = cls.__new__(cls, *args)
    exc.args = args
    exc.__dict__.update(state)
    return exc


def as_eager_exception(exc: BaseException, name: str, execution_id: str) -> EagerException:
    """Wrap ``exc`` raised by child ``name`` so both EagerException and its type catch it."""
    if isinstance(exc, EagerException):
        original: type[BaseException] = exc.original_type
        text = exc.remote_traceback
        cause = exc.__cause__ or exc
    else:
        original = type(exc)
        text = str(getattr(exc, "remote_traceback", "") or "") or "".join(user_traceback(exc))
        cause = exc
    cls = _eager_class_for(original)
    wrapped: Any = cls.__new__(cls, *exc.args)
    wrapped.args = exc.args
    with contextlib.suppress(AttributeError, TypeError):
        wrapped.__dict__.update(getattr(exc, "__dict__", {}))
    _copy_slots(exc, wrapped)
    wrapped.execution_name = name
    wrapped.execution_id = execution_id
    wrapped.original_type = original
    wrapped.remote_traceback = text
    if cls is EagerException and not exc.args:
        wrapped.args = (f"{_qualname(original)} raised by {name!r}",)
    wrapped.__cause__ = cause
    if hasattr(wrapped, "add_note"):
        wrapped.add_note(f"Raised by {name!r} (execution {execution_id}).")
    return wrapped  # type: ignore[no-any-return]


_OWNERS = {"task": "Task", "workflow": "Workflow", "eager": "Eager workflow"}


def owner_of(execution: Mapping[str, Any]) -> str:
    """How messages name an execution record's entity: "Task 'add_one'"."""
    return f"{_OWNERS.get(str(execution.get('kind')), 'Execution')} {execution.get('name', '?')!r}"


def aborted_error(owner: str, exc: BaseException) -> TaskAbortedError:
    """The failure of a body (``owner``, e.g. "Task 'add_one'") that raised ``exc``, a
    ``BaseException`` that is not an ``Exception``, on its own; raise it ``from exc``."""
    fix = "To fail on purpose, raise an exception (e.g. `raise RuntimeError(...)`)"
    if isinstance(exc, SystemExit):
        code = "" if exc.code is None else repr(exc.code)
        what = (
            f"called sys.exit({code}), which would end the whole process, so eagernb failed "
            f"it instead. {fix}; to end the process, call sys.exit() outside the workflow."
        )
    elif isinstance(exc, KeyboardInterrupt):
        what = (
            f"raised {exc!r} itself; nobody interrupted the run, so eagernb failed it instead "
            f"of stopping the run. {fix}."
        )
    elif isinstance(exc, asyncio.CancelledError):
        what = (
            "raised asyncio.CancelledError on its own; nobody asked to cancel it, so eagernb "
            f"failed it instead. {fix}; to stop a run, cancel it (the Cancel button, "
            "`handle.cancel()` or Ctrl-C)."
        )
    else:
        what = (
            f"raised {_qualname(type(exc))}, a BaseException that is not an Exception (those "
            f"stop a process or an event loop), so eagernb failed it instead. {fix}."
        )
    code_of = exc.code if isinstance(exc, SystemExit) else None
    return TaskAbortedError(f"{owner} {what}", _qualname(type(exc)), code_of)


def check_attempts(decorator: str, retries: Any, timeout: Any) -> None:
    """Refuse ``retries`` that is not a whole number of 0 or more, and ``timeout`` that is
    not a positive number of seconds (or None), naming the decorator."""
    if isinstance(retries, bool) or not isinstance(retries, int) or retries < 0:
        raise DefinitionError(
            f"{decorator}(retries={retries!r}): retries must be a whole number, 0 or more."
        )
    if timeout is not None and (
        isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not timeout > 0
    ):
        raise DefinitionError(
            f"{decorator}(timeout={timeout!r}): timeout must be a positive number of seconds, "
            "or None for no timeout."
        )
