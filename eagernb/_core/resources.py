"""What a task asks of the machine that runs it: ``@task(resources={...})``.

Keys: ``cpu`` (cores), ``memory`` (bytes, or text such as ``"4GiB"`` or ``"512MB"``),
``gpu`` (devices); any other key is a custom label a worker must offer, with an amount
(``True`` means 1). Run locally, requests are not enforced; on a server the engine decides:
Dask workers must offer them (``dask worker --resources "GPU=1,ssd=1"``).

>>> normalize({"cpu": 2, "memory": "1GiB", "ssd": True}, "Task 'fit'")
{'cpu': 2, 'memory': 1073741824, 'ssd': 1}
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

from .errors import DefinitionError

__all__ = ["KNOWN", "normalize"]

KNOWN = ("cpu", "memory", "gpu")
_UNITS = {
    "": 1, "b": 1,
    "k": 10**3, "kb": 10**3, "m": 10**6, "mb": 10**6, "g": 10**9, "gb": 10**9, "t": 10**12,
    "tb": 10**12, "ki": 2**10, "kib": 2**10, "mi": 2**20, "mib": 2**20, "gi": 2**30,
    "gib": 2**30, "ti": 2**40, "tib": 2**40,
}  # fmt: skip
_SIZE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:e[0-9]+)?)\s*([a-z]*)\s*$", re.IGNORECASE)


def normalize(resources: Mapping[str, Any] | None, owner: str) -> dict[str, int | float]:
    """Check a resource request and return it with memory in bytes and labels as amounts."""
    if resources is None:
        return {}
    if not isinstance(resources, Mapping):
        raise DefinitionError(
            f"{owner}: resources= must be a dict such as {{'cpu': 2, 'memory': '4GiB', "
            f"'gpu': 1}}, not {type(resources).__name__} ({resources!r})."
        )
    out: dict[str, int | float] = {}
    for key, value in resources.items():
        if not isinstance(key, str) or not key:
            raise DefinitionError(f"{owner}: resource names must be non-empty text, not {key!r}.")
        amount = _memory(value, owner) if key == "memory" else _amount(key, value, owner)
        if amount:
            out[key] = amount
    return out


def _amount(key: str, value: Any, owner: str) -> int | float:
    if value is True:
        return 1
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DefinitionError(
            f"{owner}: resource {key!r} must be a number (or True for 1), not {value!r}."
        )
    if value < 0 or not math.isfinite(value):
        raise DefinitionError(f"{owner}: resource {key!r} must be 0 or more, not {value!r}.")
    return value


def _memory(value: Any, owner: str) -> int:
    if isinstance(value, str):
        match = _SIZE.match(value)
        unit = match and _UNITS.get(match.group(2).lower())
        if not match or unit is None:
            raise DefinitionError(
                f"{owner}: memory={value!r} is not a size; write bytes as a number or text such "
                "as '512MB', '4GiB' or '2G'."
            )
        return math.ceil(float(match.group(1)) * unit)
    return math.ceil(_amount("memory", value, owner))
