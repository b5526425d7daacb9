"""Code and value payloads: what crosses from a notebook to a worker, as bytes.

An entity (task, workflow or eager workflow, with the notebook code it uses) is pickled
by value with cloudpickle inside an envelope that records the Python and cloudpickle
versions it was made with; its content hash is its version. The control plane stores
these bytes and never loads them; only workers do.
"""

from __future__ import annotations

import hashlib
import pickle
import platform
from dataclasses import dataclass
from typing import Any

import cloudpickle

from .._core.entity import Entity

__all__ = [
    "ENVELOPE_FORMAT",
    "Payload",
    "PayloadVersionError",
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
    return Payload.of(cloudpickle.dumps(envelope, protocol=pickle.DEFAULT_PROTOCOL))


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
