"""``@eager``: an ``async def`` whose awaited tasks and workflows are child executions."""

from __future__ import annotations

import asyncio
import inspect
import re
from collections.abc import Callable, Coroutine
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar, overload

from .config import engine_for
from .context import SCOPE, Scope, current_scope
from .entity import Entity
from .errors import DefinitionError, check_attempts
from .records import Kind
from .run import Run, run_root
from .workflow import COMPILING

if TYPE_CHECKING:
    from .engine import Call, Engine

__all__ = ["Eager", "eager"]

P = ParamSpec("P")
R = TypeVar("R")
_SECRET_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")  # a file name under the secrets dir


class Eager(Entity, Generic[P, R]):
    """An eager workflow: ``await wf(x=5)`` (or ``asyncio.run(wf(x=5))``) returns its value.

    Inside its body, calling a task, a static workflow or another eager workflow returns
    an awaitable that launches a child execution when awaited, so ``if``, ``for``,
    ``try/except``, ``asyncio.gather``, ``create_task``, ``wait_for`` and ``TaskGroup``
    work on real values.
    """

    kind = Kind.EAGER

    def __init__(
        self,
        fn: Callable[P, Coroutine[Any, Any, R]],
        *,
        max_concurrency: int | None = None,
        retries: int = 0,
        timeout: float | None = None,
        engine: Engine | None = None,
        remote: Any = None,
        client_secret_group: str | None = None,
        client_secret_key: str | None = None,
    ) -> None:
        if not inspect.iscoroutinefunction(fn):
            raise DefinitionError(
                f"@eager needs an `async def` function, but {getattr(fn, '__name__', fn)!r} is "
                "not one. Write `async def` and `await` the tasks it calls."
            )
        check_attempts("@eager", retries, timeout)
        if max_concurrency is not None and max_concurrency < 1:
            raise DefinitionError(f"@eager(max_concurrency={max_concurrency}) must be 1 or more.")
        _check_secret_name(client_secret_group, client_secret_key)
        super().__init__(fn)
        self.max_concurrency = max_concurrency
        self.retries = retries
        self.timeout = timeout
        self.engine = engine
        self.remote = remote
        """The control plane for hybrid and remote runs (``eagernb.Remote``); None: the default."""
        self.client_secret_group = client_secret_group
        self.client_secret_key = client_secret_key
        """Where a remote run's body finds its client credentials on the worker (see ``eager``)."""

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Coroutine[Any, Any, R]:
        compiler = COMPILING.get()
        if compiler is not None:
            return compiler.add_node(self, args, kwargs)  # type: ignore[return-value]
        inputs = self.interface.bind(args, kwargs)
        scope = current_scope()
        if scope is not None:
            return scope.child(self, inputs)  # type: ignore[no-any-return]
        return run_root(self, inputs, self.engine)

    def start(self, *args: P.args, **kwargs: P.kwargs) -> Run:
        """Start a run in the background on the running loop and return its handle at once.

        The run keeps going between notebook cells; ``await handle`` for its value,
        ``handle.cancel()`` to stop it. eagernb keeps a reference until it ends.
        """
        inputs = self.interface.bind(args, kwargs)
        return Run(self, inputs, self.engine or engine_for(self)).start()

    async def run_local(self, call: Call, engine: Engine) -> Any:
        __tracebackhide__ = True
        scope = Scope(
            call.run, call.record_id, engine, asyncio.get_running_loop(), self.max_concurrency
        )
        token = SCOPE.set(scope)
        try:
            return await self.fn(**call.inputs)
        finally:
            SCOPE.reset(token)
            await scope.cancel_abandoned()
            scope.closed = True


def _check_secret_name(group: str | None, key: str | None) -> None:
    if (group is None) != (key is None):
        raise DefinitionError(
            f"@eager(client_secret_group={group!r}, client_secret_key={key!r}): give both "
            "(the secret's group and its key), or neither."
        )
    for name in (group, key):
        if name is not None and not _SECRET_NAME.fullmatch(name):
            raise DefinitionError(
                f"Secret group or key {name!r} must be letters, digits, '.', '_' or '-' (not "
                "starting with '.' or '-'): it names a file under the secrets directory."
            )


@overload
def eager(fn: Callable[P, Coroutine[Any, Any, R]], /) -> Eager[P, R]: ...


@overload
def eager(
    *,
    max_concurrency: int | None = None,
    retries: int = 0,
    timeout: float | None = None,
    engine: Engine | None = None,
    remote: Any = None,
    client_secret_group: str | None = None,
    client_secret_key: str | None = None,
) -> Callable[[Callable[P, Coroutine[Any, Any, R]]], Eager[P, R]]: ...


def eager(
    fn: Callable[P, Coroutine[Any, Any, R]] | None = None,
    /,
    *,
    max_concurrency: int | None = None,
    retries: int = 0,
    timeout: float | None = None,
    engine: Engine | None = None,
    remote: Any = None,
    client_secret_group: str | None = None,
    client_secret_key: str | None = None,
) -> Eager[P, R] | Callable[[Callable[P, Coroutine[Any, Any, R]]], Eager[P, R]]:
    """Make an ``async def`` an eager workflow.

    ``max_concurrency`` caps how many of its children run at once (the rest wait, shown
    as queued). ``retries`` and ``timeout`` apply when it runs as a child. ``remote``: the
    control plane for hybrid and remote runs (an ``eagernb.Remote``).

    ``client_secret_group`` and ``client_secret_key`` name the credentials its body uses
    when it runs on a worker (remote mode, server with ``--auth``): the worker reads
    ``CLIENT_ID:CLIENT_SECRET`` from the environment variable ``EAGERNB_SECRET_<GROUP>_<KEY>``,
    else from the file ``$EAGERNB_SECRETS_DIR/<group>/<key>`` (default directory
    ``/etc/eagernb/secrets``). Without them the body uses a token the server makes for
    that run's project.
    """

    def wrap(f: Callable[P, Coroutine[Any, Any, R]]) -> Eager[P, R]:
        return Eager(
            f,
            max_concurrency=max_concurrency,
            retries=retries,
            timeout=timeout,
            engine=engine,
            remote=remote,
            client_secret_group=client_secret_group,
            client_secret_key=client_secret_key,
        )

    return wrap if fn is None else wrap(fn)
