"""The typed interface of a wrapped function: how it is called and what it returns."""

from __future__ import annotations

import inspect
import reprlib
import types
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from .errors import DefinitionError, InputTypeError, OutputTypeError
from .typecheck import describe, matches

__all__ = ["Interface", "preview"]

_EMPTY = inspect.Parameter.empty
_MISSING: Any = object()


_SHORT = reprlib.Repr()
_SHORT.maxlist = _SHORT.maxtuple = _SHORT.maxset = _SHORT.maxdict = 8
_SHORT.maxstring = _SHORT.maxother = 120
_SHORT.maxlevel = 3


def preview(value: object, limit: int = 60) -> str:
    """A one-line ``repr`` of ``value``, cut to ``limit`` characters.

    Built with ``reprlib`` so a huge list or dict costs a few items, not its whole repr.
    """
    try:
        text = _SHORT.repr(value)
    except Exception as exc:  # a broken __repr__ must not break a run or a view
        text = f"<{type(value).__name__} (repr failed: {exc})>"
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _hints_one_by_one(fn: Callable[..., Any]) -> dict[str, Any]:
    # One annotation that cannot be resolved (a class local to a function, or defined
    # later, under `from __future__ import annotations`) must not switch off the checks
    # of the others: resolve each alone, and accept anything where that fails.
    globalns = getattr(inspect.unwrap(fn), "__globals__", {})
    hints: dict[str, Any] = {}
    for name, annotation in getattr(fn, "__annotations__", {}).items():
        holder = types.SimpleNamespace(__annotations__={name: annotation}, __globals__=globalns)
        try:
            hints[name] = typing.get_type_hints(holder, include_extras=True)[name]
        except Exception:
            hints[name] = Any
    return hints


@dataclass(frozen=True, slots=True)
class Interface:
    """Parameter annotations, defaults and the return annotation of one function."""

    owner: str
    signature: inspect.Signature
    inputs: Mapping[str, Any]
    output: Any
    has_output_annotation: bool

    @classmethod
    def of(cls, fn: Callable[..., Any], owner: str) -> Interface:
        try:
            signature = inspect.signature(fn)
        except (TypeError, ValueError) as exc:
            raise DefinitionError(
                f"{owner} needs a Python function with a signature to read its inputs from, "
                f"not {fn!r} ({exc}). Wrap it: `def f(x: int) -> int: return g(x)`."
            ) from None
        try:
            hints = typing.get_type_hints(fn, include_extras=True)
        except Exception:
            hints = _hints_one_by_one(fn)
        inputs: dict[str, Any] = {}
        for param in signature.parameters.values():
            if param.kind in (param.VAR_POSITIONAL, param.VAR_KEYWORD):
                raise DefinitionError(
                    f"{owner} takes *{param.name}; eagernb needs named, typed parameters so "
                    "inputs can be checked and recorded. List the parameters explicitly."
                )
            inputs[param.name] = hints.get(param.name, Any)
        has_output = "return" in hints or signature.return_annotation is not _EMPTY
        output = hints.get("return", Any) if has_output else Any
        return cls(owner, signature, inputs, output, has_output)

    def bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """Map a call's arguments to parameter names, filling defaults, and check types."""
        inputs = self.inputs
        if not args and len(kwargs) == len(inputs):
            # Every parameter by keyword, the common case: check names and types in one go
            # and keep the caller's dict (the record stores it).
            for name, expected in inputs.items():
                value = kwargs.get(name, _MISSING)
                if value is _MISSING:
                    break  # a misspelt name: the full bind below says which
                if expected is Any or type(value) is expected:
                    continue
                if not matches(value, expected):
                    if all(n in kwargs for n in inputs):
                        raise self._input_error(name, expected, value)
                    break  # a misspelt name too: the full bind below says that first
            else:
                return kwargs
        try:
            bound = self.signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise InputTypeError(f"{self.owner} {self._call_hint(exc)}") from None
        bound.apply_defaults()
        values = dict(bound.arguments)
        self.check_inputs(values)
        return values

    def check_inputs(self, values: Mapping[str, Any]) -> None:
        inputs = self.inputs
        for name, value in values.items():
            expected = inputs.get(name, Any)
            # The exact class is the common case and always matches: skip the full check.
            if expected is Any or type(value) is expected:
                continue
            if not matches(value, expected):
                raise self._input_error(name, expected, value)

    def _input_error(self, name: str, expected: Any, value: object) -> InputTypeError:
        return InputTypeError(
            f"{self.owner} expected '{name}: {describe(expected)}' but got "
            f"{type(value).__name__} ({preview(value)}). Pass a value of type "
            f"{describe(expected)}, or change the annotation."
        )

    def check_output(self, value: object) -> None:
        if (
            self.has_output_annotation
            and type(value) is not self.output
            and not matches(value, self.output)
        ):
            raise OutputTypeError(
                f"{self.owner} is annotated to return {describe(self.output)} but returned "
                f"{type(value).__name__} ({preview(value)}). Return a value of type "
                f"{describe(self.output)}, or change the return annotation."
            )

    def _call_hint(self, exc: TypeError) -> str:
        names = ", ".join(f"{n}=..." for n in self.signature.parameters)
        return f"could not bind its arguments ({exc}). Call it by keyword, e.g. ({names})."
