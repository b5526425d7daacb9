"""What tasks, workflows and eager workflows share: a name, a kind and an interface."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .interface import Interface
from .records import Kind

if TYPE_CHECKING:
    from .engine import Call, Engine

__all__ = ["Entity"]

_OWNER = {Kind.TASK: "Task", Kind.WORKFLOW: "Workflow", Kind.EAGER: "Eager workflow"}


class Entity:
    """Base of Task, Workflow and Eager: a typed, named unit that can be launched."""

    kind: Kind
    fn: Callable[..., Any]
    name: str
    interface: Interface
    retries: int = 0
    timeout: float | None = None

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn
        self.name = getattr(fn, "__name__", type(fn).__name__)
        self.__doc__ = fn.__doc__
        self.__wrapped__ = fn
        self.__module__ = getattr(fn, "__module__", __name__)
        self.__qualname__ = getattr(fn, "__qualname__", self.name)
        self.interface = Interface.of(fn, f"{_OWNER[self.kind]} {self.name!r}")

    async def run_local(self, call: Call, engine: Engine) -> Any:
        """Run the body in this process (used by the local engine for bodies with children)."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<eagernb {self.kind} {self.name}{self.interface.signature}>"
