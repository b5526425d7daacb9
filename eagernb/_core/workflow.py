"""``@workflow``: a static graph compiled from a function body that wires promises.

The body runs once, at decoration time, with :class:`Promise` placeholders for its inputs.
Each task or workflow call inside it adds a node and returns a promise of that node's
output. Anything that needs a promise's *value* (``if``, comparisons, arithmetic, ``len``)
is a compile error pointing to ``@eager``, which is where dynamic logic belongs.
"""

from __future__ import annotations

import asyncio
import inspect
import typing
from collections.abc import Callable
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar

from .context import SCOPE, Scope, current_scope
from .entity import Entity
from .errors import DefinitionError, WorkflowCompileError
from .interface import preview
from .launch import launch
from .records import Kind
from .run import run_blocking
from .typecheck import describe, is_assignable, matches

if TYPE_CHECKING:
    from .engine import Call, Engine

__all__ = ["COMPILING", "Compiler", "Promise", "Workflow", "workflow"]

P = ParamSpec("P")
R = TypeVar("R")


class Node:
    """One call in a static workflow: an entity and where each of its inputs comes from."""

    __slots__ = ("bindings", "entity", "index")

    def __init__(self, entity: Entity, bindings: dict[str, Any], index: int) -> None:
        self.entity = entity
        self.bindings = bindings
        self.index = index


class Promise:
    """A value that exists only when the workflow runs: a workflow input or a node output."""

    __slots__ = ("input_name", "item", "label", "node", "type")

    def __init__(
        self,
        label: str,
        type_: Any,
        node: Node | None = None,
        input_name: str | None = None,
        item: int | None = None,
    ) -> None:
        self.label = label
        self.type = type_
        self.node = node
        self.input_name = input_name
        self.item = item

    def __repr__(self) -> str:
        return f"<Promise of {self.label}: {describe(self.type)}>"

    def __getitem__(self, index: int) -> Promise:
        args = typing.get_args(self.type)
        fixed_tuple = typing.get_origin(self.type) is tuple and args and args[-1] is not Ellipsis
        if fixed_tuple and isinstance(index, int) and -len(args) <= index < len(args):
            return Promise(f"{self.label}[{index}]", args[index], self.node, self.input_name, index)
        raise _needs_value(self, f"indexing it with [{index!r}]")

    def __iter__(self) -> typing.Iterator[Promise]:
        args = typing.get_args(self.type)
        if typing.get_origin(self.type) is tuple and args and args[-1] is not Ellipsis:
            return iter([self[i] for i in range(len(args))])
        raise _needs_value(self, "iterating over it")

    def __bool__(self) -> bool:
        raise _needs_value(self, "using it in `if`, `while`, `and`, `or` or `not`")

    def __len__(self) -> int:
        raise _needs_value(self, "taking its len()")

    def __hash__(self) -> int:
        return id(self)

    def __index__(self) -> int:
        raise _needs_value(self, "using it as an integer")


def _operator(symbol: str) -> Callable[..., Any]:
    def method(self: Promise, *other: Any) -> Any:
        raise _needs_value(self, f"applying `{symbol}` to it")

    return method


for _name, _symbol in {
    "__lt__": "<", "__le__": "<=", "__gt__": ">", "__ge__": ">=", "__eq__": "==", "__ne__": "!=",
    "__add__": "+", "__radd__": "+", "__sub__": "-", "__rsub__": "-", "__mul__": "*",
    "__rmul__": "*", "__truediv__": "/", "__rtruediv__": "/", "__floordiv__": "//",
    "__mod__": "%", "__pow__": "**", "__neg__": "-", "__abs__": "abs()", "__int__": "int()",
    "__float__": "float()", "__contains__": "in", "__format__": "formatting",
    "__str__": "str() or %-formatting",
}.items():  # fmt: skip
    setattr(Promise, _name, _operator(_symbol))


def _holds_promise(value: Any) -> bool:
    if isinstance(value, (list, tuple, set, frozenset)):
        return any(isinstance(v, Promise) for v in value)
    if isinstance(value, dict):
        return any(isinstance(v, Promise) for v in value.values())
    return False


def _needs_value(promise: Promise, what: str) -> WorkflowCompileError:
    compiler = COMPILING.get()
    where = f"Workflow {compiler.name!r}" if compiler else "A static workflow"
    return WorkflowCompileError(
        f"{where} uses the {promise.label} by {what}, but in a @workflow that value does not "
        "exist until the workflow runs: the body only wires tasks together. For Python "
        "logic on real values (if/for/while, arithmetic, try/except), make it an "
        "`@eager` async function and `await` the task there."
    )


class Compiler:
    """Collects nodes while a @workflow body runs with promises."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.nodes: list[Node] = []

    def add_node(self, entity: Entity, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Promise:
        interface = entity.interface
        try:
            bound = interface.signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise WorkflowCompileError(
                f"Workflow {self.name!r} calls {entity.kind} {entity.name!r} with inputs that do "
                f"not fit its signature {interface.signature} ({exc}). Bind every input by keyword."
            ) from None
        bound.apply_defaults()
        for name, value in bound.arguments.items():
            expected = interface.inputs.get(name, Any)
            if isinstance(value, Promise):
                if not is_assignable(value.type, expected):
                    raise WorkflowCompileError(
                        f"Workflow {self.name!r} passes the {value.label} ({describe(value.type)}) "
                        f"to '{name}: {describe(expected)}' of {entity.kind} {entity.name!r}. "
                        "Pass a matching value, or change one of the annotations."
                    )
            elif _holds_promise(value):
                raise WorkflowCompileError(
                    f"Workflow {self.name!r} passes a {type(value).__name__} of promises to "
                    f"'{name}' of {entity.kind} {entity.name!r}. A static workflow cannot build "
                    "containers from node outputs; gather the values in an `@eager` workflow "
                    "instead, or give the task one parameter per value."
                )
            elif not matches(value, expected):
                raise WorkflowCompileError(
                    f"Workflow {self.name!r} passes {preview(value)} ({type(value).__name__}) to "
                    f"'{name}: {describe(expected)}' of {entity.kind} {entity.name!r}. Pass a "
                    f"value of type {describe(expected)}, or change the annotation."
                )
        node = Node(entity, dict(bound.arguments), len(self.nodes))
        self.nodes.append(node)
        label = f"output of {entity.kind} {entity.name!r} (node {node.index})"
        return Promise(label, interface.output, node)


COMPILING: ContextVar[Compiler | None] = ContextVar("eagernb_compiling", default=None)


class Workflow(Entity, Generic[P, R]):
    """A static, typed graph of tasks and workflows, checked when it is defined.

    Run on its own it executes independent nodes concurrently and returns the value;
    inside ``@eager`` it is an awaitable child; inside another ``@workflow`` a node.
    """

    kind = Kind.WORKFLOW

    def __init__(self, fn: Callable[P, R]) -> None:
        if inspect.iscoroutinefunction(fn):
            raise DefinitionError(
                f"@workflow {fn.__name__!r} is an async function. Static workflows are plain "
                "`def` bodies that wire tasks; use @eager for async code."
            )
        super().__init__(fn)
        self.nodes: list[Node] = []
        self.output: Any = None
        self._compile()

    def _compile(self) -> None:
        compiler = Compiler(self.name)
        promises = {
            name: Promise(f"input {name!r}", type_, input_name=name)
            for name, type_ in self.interface.inputs.items()
        }
        token = COMPILING.set(compiler)
        try:
            output = self.fn(**promises)
        finally:
            COMPILING.reset(token)
        self._check_output(output)
        self.nodes = compiler.nodes
        self.output = output

    def _check_output(self, output: Any) -> None:
        iface = self.interface
        if not iface.has_output_annotation:
            return
        outputs = output if isinstance(output, tuple) else (output,)
        expected = typing.get_args(iface.output) if isinstance(output, tuple) else (iface.output,)
        if isinstance(output, tuple) and len(expected) != len(outputs):
            expected = (Any,) * len(outputs)
        for value, want in zip(outputs, expected, strict=True):
            ok = (
                is_assignable(value.type, want)
                if isinstance(value, Promise)
                else matches(value, want)
            )
            if not ok:
                got = value.label if isinstance(value, Promise) else preview(value)
                raise WorkflowCompileError(
                    f"Workflow {self.name!r} is annotated to return {describe(want)} but returns "
                    f"the {got}. Return a matching value, or change the return annotation."
                )

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> Any:
        compiler = COMPILING.get()
        if compiler is not None:
            return compiler.add_node(self, args, kwargs)
        inputs = self.interface.bind(args, kwargs)
        scope = current_scope()
        if scope is not None:
            return scope.child(self, inputs)
        return run_blocking(self, inputs)

    async def run_local(self, call: Call, engine: Engine) -> Any:
        __tracebackhide__ = True
        loop = asyncio.get_running_loop()
        scope = Scope(call.run, call.record_id, engine, loop)
        tasks: dict[Node, asyncio.Task[Any]] = {}

        async def resolve(value: Any) -> Any:
            if not isinstance(value, Promise):
                return value
            if value.node is None:
                result = call.inputs[value.input_name or ""]
            else:
                result = await tasks[value.node]
            return result if value.item is None else result[value.item]

        async def run_node(node: Node) -> Any:
            inputs = {name: await resolve(v) for name, v in node.bindings.items()}
            return await launch(call.run, scope, node.entity, inputs)

        token = SCOPE.set(None)
        try:
            for node in self.nodes:
                tasks[node] = loop.create_task(run_node(node))
        finally:
            SCOPE.reset(token)
        try:
            await asyncio.gather(*tasks.values())
        except BaseException:
            for pending in tasks.values():
                pending.cancel()
            await asyncio.gather(*tasks.values(), return_exceptions=True)
            raise
        if isinstance(self.output, tuple):
            return tuple([await resolve(v) for v in self.output])
        return await resolve(self.output)


def workflow(fn: Callable[P, R]) -> Workflow[P, R]:
    """Compile a static workflow from a body that wires tasks and workflows by keyword.

    >>> @workflow
    ... def subworkflow(x: int) -> int:
    ...     return double(x=add_one(x=x))
    """
    return Workflow(fn)
