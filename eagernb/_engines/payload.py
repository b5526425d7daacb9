"""Code and value payloads: what crosses from a notebook to a worker, as bytes.

An entity (task, workflow or eager workflow, with the notebook code it uses) is pickled
by value with cloudpickle inside an envelope that records the Python and cloudpickle
versions it was made with; its content hash is its version. The control plane stores
these bytes and never loads them; only workers do.
"""

from __future__ import annotations

import hashlib
import inspect
import os
import pickle
import platform
import sys
import sysconfig
import types
from dataclasses import dataclass
from typing import Any

import cloudpickle

from .._core.entity import Entity

__all__ = [
    "ENVELOPE_FORMAT",
    "MAX_PAYLOAD_BYTES",
    "Payload",
    "PayloadError",
    "PayloadVersionError",
    "checked_entity_payload",
    "checked_value_payload",
    "dump_entity",
    "dump_value",
    "load_entity",
    "load_value",
    "runtime_versions",
]

ENVELOPE_FORMAT = 1


class PayloadVersionError(RuntimeError):
    """A payload was made by a Python or cloudpickle this process cannot load."""


def runtime_versions() -> dict[str, str]:
    """The versions that decide whether a payload made here loads elsewhere."""
    return {"python": platform.python_version(), "cloudpickle": cloudpickle.__version__}


@dataclass(frozen=True, slots=True)
class Payload:
    """Pickled bytes and their sha256 (the content address and, for code, the version)."""

    data: bytes
    sha256: str

    @classmethod
    def of(cls, data: bytes) -> Payload:
        return cls(data, hashlib.sha256(data).hexdigest())


def dump_entity(entity: Entity) -> Payload:
    """Pickle ``entity`` and the code it reaches by value, in a versioned envelope."""
    envelope = {
        "format": ENVELOPE_FORMAT,
        **runtime_versions(),
        "kind": entity.kind.value,
        "name": entity.name,
        "entity": entity,
    }
    # Modules of the user's own project (beside the notebook, not installed) are shipped by
    # value too: workers have the installed packages, not the notebook's folder.
    # (A module rebuilt from a payload is not in sys.modules: cloudpickle ships it by value.)
    # Modules registered already (by the user, or `eagernb run FILE`) stay registered.
    registered = cloudpickle.list_registry_pickle_by_value()
    local = [
        m
        for m in _modules_reached(entity)
        if _is_local(m) and sys.modules.get(m.__name__) is m and m.__name__ not in registered
    ]
    for module in local:
        cloudpickle.register_pickle_by_value(module)
    try:
        return Payload.of(cloudpickle.dumps(envelope, protocol=pickle.DEFAULT_PROTOCOL))
    finally:
        for module in local:
            cloudpickle.unregister_pickle_by_value(module)


_INSTALLED = tuple(
    os.path.realpath(p) + os.sep
    for p in {sysconfig.get_path(k) for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    if p
)


def _is_local(module: types.ModuleType) -> bool:
    """A module loaded from a file that is neither the standard library nor installed."""
    path = getattr(module, "__file__", None)
    if (
        not path
        or module.__name__ in ("__main__", "eagernb")
        or module.__name__.startswith("eagernb.")
    ):
        return False
    return not os.path.realpath(path).startswith(_INSTALLED)


def _modules_reached(entity: Entity) -> list[types.ModuleType]:
    """Modules whose functions, classes or selves the entity's code reaches."""
    found: dict[str, types.ModuleType] = {}

    def note(name: str | None) -> None:
        module = sys.modules.get(name or "")
        if module is not None:
            found[module.__name__] = module

    note(getattr(entity.fn, "__module__", None))
    for _path, _name, value in _reachable_globals(entity, include_callables=True):
        if inspect.ismodule(value):
            found[value.__name__] = value
        else:
            note(getattr(value, "__module__", None) or getattr(type(value), "__module__", None))
    return list(found.values())


def load_entity(data: bytes) -> Entity:
    """Load an entity payload, or say which versions clash."""
    try:
        envelope = pickle.loads(data)
    except Exception as exc:
        raise PayloadVersionError(
            f"This worker (Python {platform.python_version()}, cloudpickle "
            f"{cloudpickle.__version__}) could not load the code payload: {exc!r}. Run the "
            "client and the workers on the same Python minor version and cloudpickle version."
        ) from exc
    here = runtime_versions()
    made = {k: envelope.get(k) for k in here}
    if _minor(made["python"]) != _minor(here["python"]):
        raise PayloadVersionError(
            f"The payload for {envelope.get('name')!r} was made with Python {made['python']} "
            f"and cloudpickle {made['cloudpickle']}, but this worker runs Python "
            f"{here['python']} and cloudpickle {here['cloudpickle']}. Use the same Python "
            "minor version on both sides."
        )
    entity = envelope["entity"]
    if not isinstance(entity, Entity):
        raise PayloadVersionError(f"The payload holds {type(entity).__name__}, not an entity.")
    return entity


def dump_value(value: Any) -> bytes:
    return cloudpickle.dumps(value, protocol=pickle.DEFAULT_PROTOCOL)  # type: ignore[no-any-return]


def load_value(data: bytes) -> Any:
    return pickle.loads(data)


def _minor(version: str | None) -> str:
    return ".".join((version or "").split(".")[:2])


# -- checks before anything is submitted ---------------------------------------------------

MAX_PAYLOAD_BYTES = 64 * 1024 * 1024


class PayloadError(ValueError):
    """Code or inputs cannot be shipped to workers: unpicklable or too big."""


def checked_entity_payload(entity: Entity, limit: int = MAX_PAYLOAD_BYTES) -> Payload:
    """``dump_entity``, but failures name the global at fault and the path that reaches it."""
    try:
        payload = dump_entity(entity)
    except Exception as exc:
        raise _explain_unpicklable(entity, exc) from exc
    if len(payload.data) > limit:
        biggest = ", ".join(f"{path} ({_size(size)})" for path, size in _captured_sizes(entity)[:3])
        raise PayloadError(
            f"The code payload of {entity.kind.value} {entity.name!r} is "
            f"{_size(len(payload.data))}, over the {_size(limit)} limit. The biggest objects "
            f"it captures: {biggest or 'none found'}. "
            "Load large data inside the task (from a file or URL) or pass it as an input instead "
            "of capturing it from a global."
        )
    return payload


def checked_value_payload(
    owner: str, values: dict[str, Any], limit: int = MAX_PAYLOAD_BYTES
) -> Payload:
    """Pickle the inputs of a call, naming the input at fault when that fails or is too big."""
    try:
        payload = Payload.of(dump_value(values))
    except Exception as exc:
        for name, value in values.items():
            culprit = _culprit(value, name)
            if culprit is not None:
                where, part, inner = culprit
                within = "" if part is value else f": its {where} ({_type_name(part)})"
                raise PayloadError(
                    f"Input {name!r} of {owner} ({type(value).__name__}) cannot be sent to a "
                    f"worker{within}: {type(inner).__name__}: {inner}. Pass plain data "
                    "(numbers, strings, lists, dicts, arrays, dataframes) instead."
                ) from inner
        raise PayloadError(f"The inputs of {owner} cannot be sent to a worker: {exc}") from exc
    if len(payload.data) > limit:
        sizes = sorted(((n, len(dump_value(v))) for n, v in values.items()), key=lambda p: -p[1])
        named = ", ".join(f"{n!r} ({_size(s)})" for n, s in sizes[:3])
        raise PayloadError(
            f"The inputs of {owner} are {_size(len(payload.data))}, over the {_size(limit)} "
            f"limit (biggest: {named}). Store large data where workers can read it and pass "
            "its location instead."
        )
    return payload


def _size(n: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if n < 1024 or unit == "GiB":
            return f"{n} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return f"{n} bytes"


def _reachable_globals(
    entity: Entity, include_callables: bool = False
) -> list[tuple[str, str, Any]]:
    """(path, name, value) for every global a function reachable from ``entity`` reads.

    Functions and entities are followed; with ``include_callables`` they, modules and
    classes are listed too.
    """
    seen: set[int] = set()
    found: list[tuple[str, str, Any]] = []
    stack: list[tuple[str, Any]] = [(f"{entity.kind.value} {entity.name!r}", entity.fn)]
    while stack:
        path, fn = stack.pop()
        code = getattr(fn, "__code__", None)
        if code is None or id(fn) in seen:
            continue
        seen.add(id(fn))
        names = set(code.co_names)
        for const in code.co_consts:  # nested functions and comprehensions
            names.update(getattr(const, "co_names", ()))
        env = dict(getattr(fn, "__globals__", {}))
        for cell_name, cell in zip(code.co_freevars, fn.__closure__ or (), strict=False):
            try:
                env[cell_name] = cell.cell_contents
                names.add(cell_name)
            except ValueError:
                pass
        for name in sorted(names):
            if name not in env:
                continue
            value = env[name]
            if isinstance(value, Entity):
                stack.append((f"{path} → {value.kind.value} {value.name!r}", value.fn))
                if include_callables:
                    found.append((path, name, value.fn))
            elif inspect.isfunction(value):
                stack.append((f"{path} → function {name!r}", value))
                if include_callables:
                    found.append((path, name, value))
            elif include_callables or not (inspect.ismodule(value) or isinstance(value, type)):
                found.append((path, name, value))
    return found


def _culprit(value: Any, where: str, depth: int = 6) -> tuple[str, Any, Exception] | None:
    """The innermost part of ``value`` that cannot be pickled, found through dict values,
    list, tuple and set items and instance attributes: (``where`` + its path, it, the
    error), or None if ``value`` pickles."""
    try:
        dump_value(value)
    except Exception as exc:
        found: tuple[str, Any, Exception] = (where, value, exc)
    else:
        return None
    if depth == 0:
        return found
    parts: list[tuple[str, Any]] = []
    if isinstance(value, dict):
        parts = [(f"{where}[{k!r}]", v) for k, v in list(value.items())[:1000]]
    elif isinstance(value, (list, tuple)):
        parts = [(f"{where}[{i}]", v) for i, v in enumerate(value[:1000])]
    elif isinstance(value, (set, frozenset)):
        parts = [(f"an item of {where}", v) for v in list(value)[:1000]]
    elif isinstance(getattr(value, "__dict__", None), dict):
        parts = [(f"{where}.{k}", v) for k, v in list(vars(value).items())[:1000]]
    for path, part in parts:
        inner = _culprit(part, path, depth - 1)
        if inner is not None:
            return inner
    return found


def _explain_unpicklable(entity: Entity, exc: Exception) -> PayloadError:
    for path, name, value in _reachable_globals(entity):
        culprit = _culprit(value, name)
        if culprit is not None:
            where, part, inner = culprit
            within = "" if part is value else f", whose {where} ({_type_name(part)})"
            return PayloadError(
                f"{entity.kind.value.capitalize()} {entity.name!r} cannot be shipped to workers: "
                f"it uses the global {name!r} ({_type_name(value)}), reached via {path}"
                f"{within}, which cannot be pickled ({type(inner).__name__}: {inner}). "
                f"Create the {type(part).__name__} inside the task that needs it, or pass what it "
                "needs as an input."
            )
    return PayloadError(
        f"{entity.kind.value.capitalize()} {entity.name!r} cannot be shipped to workers: "
        f"{type(exc).__name__}: {exc}."
    )


def _type_name(value: object) -> str:
    cls = type(value)
    return (
        cls.__qualname__ if cls.__module__ == "builtins" else f"{cls.__module__}.{cls.__qualname__}"
    )


def _captured_sizes(entity: Entity) -> list[tuple[str, int]]:
    sizes = []
    for path, name, value in _reachable_globals(entity):
        try:
            sizes.append((f"global {name!r} in {path}", len(dump_value(value))))
        except Exception:
            continue
    return sorted(sizes, key=lambda pair: -pair[1])


PayloadError.__module__ = "eagernb"  # exported by the package as eagernb.PayloadError
