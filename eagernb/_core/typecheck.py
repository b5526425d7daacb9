"""Runtime checks of values against annotations, and of annotations against each other.

Deliberately small: classes, ``Any``, ``None``, ``Optional``/``Union`` (and ``X | Y``),
``Literal``, ``list``/``set``/``frozenset``/``tuple``/``dict`` and their ``typing`` aliases,
abstract collections, ``Annotated`` and ``TypeVar`` (accepted as any value). Anything else
is accepted rather than guessed at.
"""

from __future__ import annotations

import collections.abc as cabc
import types
import typing
from typing import Any

__all__ = ["describe", "is_assignable", "matches"]

_NoneType = type(None)
_UNION_TYPES: tuple[Any, ...] = (typing.Union, types.UnionType)


def matches(value: object, annotation: Any) -> bool:
    """True when ``value`` is acceptable for a parameter annotated ``annotation``."""
    if annotation is Any or annotation is object or isinstance(annotation, typing.TypeVar):
        return True
    if annotation is None or annotation is _NoneType:
        return value is None
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is complex:
        return isinstance(value, (int, float, complex)) and not isinstance(value, bool)
    if isinstance(annotation, type) and not typing.get_args(annotation):
        try:
            return isinstance(value, annotation)
        except TypeError:
            return True
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in _UNION_TYPES:
        return any(matches(value, arg) for arg in args)
    if origin is typing.Literal:
        return value in args
    if origin is typing.Annotated:
        return matches(value, args[0])
    if origin is None or not isinstance(origin, type):
        return True
    if not isinstance(value, origin):
        return False
    if not args:
        return True
    if origin is tuple:
        if len(args) == 2 and args[1] is Ellipsis:
            return all(matches(v, args[0]) for v in value)  # type: ignore[attr-defined]
        return len(value) == len(args) and all(  # type: ignore[arg-type]
            matches(v, a)
            for v, a in zip(value, args, strict=True)  # type: ignore[call-overload]
        )
    if issubclass(origin, cabc.Mapping) and len(args) == 2:
        return all(
            matches(k, args[0]) and matches(v, args[1])
            for k, v in value.items()  # type: ignore[attr-defined]
        )
    if issubclass(origin, (cabc.Iterator, cabc.Generator)):
        return True  # checking would consume it
    if issubclass(origin, cabc.Iterable) and len(args) == 1:
        return all(matches(v, args[0]) for v in value)  # type: ignore[attr-defined]
    return True


def is_assignable(source: Any, target: Any) -> bool:
    """True when a value typed ``source`` may be passed where ``target`` is expected."""
    if source is Any or target is Any or target is object:
        return True
    if isinstance(source, typing.TypeVar) or isinstance(target, typing.TypeVar):
        return True
    if source == target:
        return True
    t_origin, t_args = typing.get_origin(target), typing.get_args(target)
    s_origin, s_args = typing.get_origin(source), typing.get_args(source)
    if t_origin is typing.Annotated:
        return is_assignable(source, t_args[0])
    if s_origin is typing.Annotated:
        return is_assignable(s_args[0], target)
    if s_origin in _UNION_TYPES:
        return all(is_assignable(arg, target) for arg in s_args)
    if t_origin in _UNION_TYPES:
        return any(is_assignable(source, arg) for arg in t_args)
    if t_origin is typing.Literal or s_origin is typing.Literal:
        return True
    if source is _NoneType or source is None:
        return target is None or target is _NoneType
    if target is float and source in (int, float):
        return True
    if target is complex and source in (int, float, complex):
        return True
    s_cls = s_origin or source
    t_cls = t_origin or target
    if isinstance(s_cls, type) and isinstance(t_cls, type):
        if not issubclass(s_cls, t_cls):
            return False
        if s_args and t_args and len(s_args) == len(t_args):
            return all(is_assignable(s, t) for s, t in zip(s_args, t_args, strict=True))
        return True
    return True


def describe(annotation: Any) -> str:
    """A short, readable name for an annotation: ``int``, ``list[str]``, ``int | None``."""
    if annotation is _NoneType or annotation is None:
        return "None"
    if isinstance(annotation, type) and not typing.get_args(annotation):
        return annotation.__qualname__
    text = repr(annotation)
    return text.replace("typing.", "")
