"""``@task``: a typed function that runs as one child execution."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any, Generic, ParamSpec, TypeVar, overload

from .context import current_scope
from .entity import Entity
from .errors import DefinitionError, check_attempts
from .records import Kind
from .resources import normalize
from .workflow import COMPILING

__all__ = ["Task", "task"]

P = ParamSpec("P")
R = TypeVar("R")


class Task(Entity, Generic[P, R]):
    """A unit of work. Call it like the function it wraps:

    - outside any workflow it runs at once and returns the value (an ``async def`` task
      returns an awaitable);
    - inside ``@eager`` it returns an awaitable that launches a child execution;
    - inside ``@workflow`` it returns a promise, a node of the static graph.
    """

    kind = Kind.TASK

    def __init__(
        self,
        fn: Callable[P, R],
        *,
        retries: int = 0,
        timeout: float | None = None,
        resources: Mapping[str, Any] | None = None,
    ) -> None:
        if not callable(fn):
            raise DefinitionError(f"@task needs a function, got {type(fn).__name__} ({fn!r}).")
        if inspect.isasyncgenfunction(fn) or inspect.isgeneratorfunction(fn):
            name = getattr(fn, "__name__", fn)
            raise DefinitionError(f"@task cannot wrap generator {name!r}; return a list instead.")
        check_attempts("@task", retries, timeout)
        super().__init__(fn)
        self.retries = retries
        self.timeout = timeout
        self.is_async = inspect.iscoroutinefunction(fn)
        self.resources = normalize(resources, f"Task {self.name!r}")

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Any:
        compiler = COMPILING.get()
        if compiler is not None:
            return compiler.add_node(self, args, kwargs)
        inputs = self.interface.bind(args, kwargs)
        scope = current_scope()
        if scope is not None:
            return scope.child(self, inputs)
        if self.is_async:
            return self._call_async(inputs)
        value = self.fn(**inputs)
        self.interface.check_output(value)
        return value

    async def _call_async(self, inputs: dict[str, Any]) -> Any:
        value = await self.fn(**inputs)
        self.interface.check_output(value)
        return value


@overload
def task(fn: Callable[P, R], /) -> Task[P, R]: ...


@overload
def task(
    *,
    retries: int = 0,
    timeout: float | None = None,
    resources: Mapping[str, Any] | None = None,
) -> Callable[[Callable[P, R]], Task[P, R]]: ...


def task(
    fn: Callable[P, R] | None = None,
    /,
    *,
    retries: int = 0,
    timeout: float | None = None,
    resources: Mapping[str, Any] | None = None,
) -> Task[P, R] | Callable[[Callable[P, R]], Task[P, R]]:
    """Turn a typed function (sync or ``async def``) into a task.

    ``retries``: how many more attempts after a failure. ``timeout``: seconds one attempt
    may take before it fails with ``TaskTimeoutError``. ``resources``: what one attempt needs
    on a server's workers, e.g. ``{"cpu": 2, "memory": "4GiB", "gpu": 1, "ssd": 1}`` (any key
    but cpu, memory and gpu is a custom label); not enforced when the task runs locally.

    >>> @task
    ... def add_one(x: int) -> int:
    ...     return x + 1
    >>> add_one(x=1)
    2
    """
    if fn is None:
        return lambda f: Task(f, retries=retries, timeout=timeout, resources=resources)
    return Task(fn, retries=retries, timeout=timeout, resources=resources)
