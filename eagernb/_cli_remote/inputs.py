"""Command-line options from a workflow's typed signature: ``eagernb run FILE NAME --x 10``.

``int``, ``float``, ``str``, paths, enums and literals are read from the text; ``bool``
becomes ``--flag/--no-flag``; lists, sets and ``tuple[X, ...]`` take a JSON list or the
option repeated once per item; anything else is read as JSON. A parameter without a
default is a required option. The values are then checked against the annotations, as
for any call.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import inspect
import json
import pathlib
import types
import typing
from collections.abc import Callable
from typing import Any

from .._core.entity import Entity
from .._core.errors import InputTypeError
from .._core.interface import preview
from .._core.typecheck import describe

__all__ = ["input_parser", "parse_inputs"]

_NULLS = ("null", "None")
_SEQUENCES = (list, set, frozenset, tuple)
_FROM_TEXT = (pathlib.PurePath, enum.Enum)  # classes read from the text, not as JSON


def input_parser(entity: Entity, prog: str) -> argparse.ArgumentParser:
    """A parser with one option per input of ``entity``; ``--help`` lists them with types."""
    iface = entity.interface
    doc = inspect.cleandoc(entity.__doc__ or "").split("\n\n")[0]
    params = ", ".join(
        f"{name}: {describe(annotation)}" + _default_text(iface.signature.parameters[name].default)
        for name, annotation in iface.inputs.items()
    )
    signature = f"{entity.kind.value} {entity.name}({params}) -> {describe(iface.output)}"
    parser = argparse.ArgumentParser(
        prog=prog,
        description=_escape(f"{doc}\n\n{signature}" if doc else signature),
        formatter_class=argparse.RawDescriptionHelpFormatter,
        add_help="help" not in iface.inputs,
    )
    if "help" in iface.inputs:
        parser.add_argument("-h", action="help", help="show this help message and exit")
    group = parser.add_argument_group(
        "inputs", "Options from the signature; values are checked against the annotations."
    )
    for name, annotation in iface.inputs.items():
        default = iface.signature.parameters[name].default
        required = default is inspect.Parameter.empty
        when = "required" if required else f"default: {preview(default)}"
        plain = _strip(annotation)
        common: dict[str, Any] = {"dest": name, "required": required, "default": argparse.SUPPRESS}
        if plain is bool:
            group.add_argument(
                f"--{name}", action=argparse.BooleanOptionalAction,
                help=_escape(f"bool ({when})"), **common,
            )  # fmt: skip
            continue
        item = _item_type(plain)
        if item is not None:
            how = f"a JSON list, or give the option once per item ({when})"
            group.add_argument(
                f"--{name}", action="extend", type=_list_reader(plain, item),
                metavar=describe(annotation), help=_escape(how), **common,
            )  # fmt: skip
            continue
        how = f"JSON ({when})" if _reads_json(plain) else when
        group.add_argument(
            f"--{name}", type=_reader(annotation), metavar=describe(annotation),
            help=_escape(how), **common,
        )  # fmt: skip
    return parser


def parse_inputs(entity: Entity, argv: list[str], prog: str) -> dict[str, Any]:
    """Parse ``argv`` into checked inputs for ``entity`` (exits 2 with a usage error)."""
    parser = input_parser(entity, prog)
    values = vars(parser.parse_args(argv))
    for name, value in values.items():
        values[name] = _coerce(value, entity.interface.inputs[name])
    try:
        return entity.interface.bind((), values)
    except InputTypeError as exc:
        parser.error(str(exc))


# -- reading one value ---------------------------------------------------------------------


def _reader(annotation: Any) -> Callable[[str], Any]:
    def read(text: str) -> Any:
        return _from_text(text, annotation)

    read.__name__ = describe(annotation)  # argparse names it in "invalid ... value"
    return read


def _list_reader(annotation: Any, item: Any) -> Callable[[str], list[Any]]:
    def read(text: str) -> list[Any]:
        if text.lstrip().startswith("["):
            value = _json(text, annotation)
            if not isinstance(value, list):
                raise argparse.ArgumentTypeError(f"expected a JSON list, got {text!r}")
            return [_coerce(v, item) for v in value]
        return [_from_text(text, item)]

    read.__name__ = describe(annotation)
    return read


def _from_text(text: str, annotation: Any) -> Any:
    plain = _strip(annotation)
    optional = _optional(plain)
    if optional is not None:
        return None if text in _NULLS else _from_text(text, optional)
    if plain is str:
        return text
    if plain in (int, float) or (isinstance(plain, type) and issubclass(plain, pathlib.PurePath)):
        try:
            return plain(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {describe(plain)}, got {text!r}") from None
    if isinstance(plain, type) and issubclass(plain, enum.Enum):
        return _enum(text, plain)
    if typing.get_origin(plain) is typing.Literal:
        for choice in typing.get_args(plain):
            if str(choice) == text or (isinstance(choice, enum.Enum) and choice.name == text):
                return choice
        choices = ", ".join(str(c) for c in typing.get_args(plain))
        raise argparse.ArgumentTypeError(f"expected one of {choices}, got {text!r}")
    if plain is Any:
        try:
            return json.loads(text)
        except ValueError:
            return text  # untyped: a plain word is a string
    return _coerce(_json(text, annotation), annotation)


def _json(text: str, annotation: Any) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(
            f"expected JSON for {describe(annotation)}, got {text!r} ({exc})"
        ) from None


def _enum(text: str, cls: type[enum.Enum]) -> enum.Enum:
    if text in cls.__members__:
        return cls[text]
    for member in cls:
        if str(member.value) == text:
            return member
    names = ", ".join(cls.__members__)
    raise argparse.ArgumentTypeError(f"expected one of {names}, got {text!r}")


def _coerce(value: Any, annotation: Any) -> Any:
    """Adapt a JSON value to ``annotation``: lists to tuples or sets, strings to paths..."""
    plain = _strip(annotation)
    optional = _optional(plain)
    if optional is not None:
        return None if value is None else _coerce(value, optional)
    origin, args = typing.get_origin(plain) or plain, typing.get_args(plain)
    if isinstance(value, str) and isinstance(plain, type):
        if issubclass(plain, pathlib.PurePath):
            return plain(value)
        if issubclass(plain, enum.Enum):
            return _enum(value, plain)
    if isinstance(value, int) and not isinstance(value, bool) and plain is float:
        return float(value)
    if isinstance(value, list) and origin in _SEQUENCES:
        if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
            if len(args) == len(value):
                return tuple(_coerce(v, a) for v, a in zip(value, args, strict=True))
            return tuple(value)
        item = args[0] if args else Any
        return origin(_coerce(v, item) for v in value)
    if isinstance(value, dict) and origin is dict and len(args) == 2:
        return {_coerce_key(k, args[0]): _coerce(v, args[1]) for k, v in value.items()}
    if isinstance(value, dict) and dataclasses.is_dataclass(plain) and isinstance(plain, type):
        return plain(**value)
    return value


def _coerce_key(key: str, annotation: Any) -> Any:
    # JSON object keys are always strings.
    try:
        return _from_text(key, annotation) if _strip(annotation) is not str else key
    except argparse.ArgumentTypeError:
        return key


# -- annotations ---------------------------------------------------------------------------


def _strip(annotation: Any) -> Any:
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _optional(annotation: Any) -> Any:
    """``X`` for ``X | None`` (one other type), else None."""
    if typing.get_origin(annotation) not in (typing.Union, types.UnionType):
        return None
    others = [a for a in typing.get_args(annotation) if a is not type(None)]
    return others[0] if len(others) == 1 and len(typing.get_args(annotation)) == 2 else None


def _item_type(annotation: Any) -> Any:
    """The item type of ``list[X]``, ``set[X]``, ``tuple[X, ...]``; None for other types."""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if annotation in (list, set, frozenset):
        return Any
    if origin in (list, set, frozenset) and len(args) == 1:
        return args[0]
    if origin is tuple and len(args) == 2 and args[1] is Ellipsis:
        return args[0]
    return None


def _reads_json(annotation: Any) -> bool:
    inner = _optional(annotation)
    if inner is not None:
        return _reads_json(_strip(inner))
    if annotation in (str, int, float, Any) or typing.get_origin(annotation) is typing.Literal:
        return False
    return not (isinstance(annotation, type) and issubclass(annotation, _FROM_TEXT))


def _default_text(default: Any) -> str:
    return "" if default is inspect.Parameter.empty else f" = {preview(default)}"


def _escape(text: str) -> str:
    return text.replace("%", "%%")  # argparse %-formats help text
