"""Short text previews of values, made where the values are (the submitting client, the
worker that ran a task) and stored beside their pickled bytes.

The control plane never unpickles values, so without these its web page and a kernel
following a remote run would show blank input and output columns. A preview is bounded
in size and in cost: containers are cut after a few items (``reprlib``), so previewing a
million-row list does not walk it.
"""

from __future__ import annotations

import reprlib
from collections.abc import Mapping
from typing import Any

__all__ = ["PREVIEW_CHARS", "preview", "previews"]

PREVIEW_CHARS = 120
"""The longest preview of one value, in characters (a longer one ends with ``…``)."""


class _Repr(reprlib.Repr):
    def repr_dict(self, x: dict[Any, Any], level: int) -> str:  # keep the dict's own order
        if not x:
            return "{}"
        if level <= 0:
            return "{...}"
        items = []
        for key in list(x)[: self.maxdict]:
            items.append(f"{self.repr1(key, level - 1)}: {self.repr1(x[key], level - 1)}")
        if len(x) > self.maxdict:
            items.append("...")
        return "{" + ", ".join(items) + "}"


_repr = _Repr()
_repr.maxlevel = 3
_repr.maxstring = 80
_repr.maxother = PREVIEW_CHARS
_repr.maxlong = 60
for _name in ("maxlist", "maxtuple", "maxset", "maxfrozenset", "maxdeque", "maxarray"):
    setattr(_repr, _name, 8)
_repr.maxdict = 6


def preview(value: Any) -> str:
    """``value``'s repr, cut to at most :data:`PREVIEW_CHARS` characters on one line."""
    try:
        text = _repr.repr(value)
    except Exception as exc:  # a broken __repr__ must not fail the task that returned it
        text = f"<{type(value).__name__} (repr failed: {type(exc).__name__})>"
    text = " ".join(text.split())
    if len(text) > PREVIEW_CHARS:
        text = text[: PREVIEW_CHARS - 1] + "…"
    return text


def previews(values: Mapping[str, Any]) -> dict[str, str]:
    """A preview of each value, by name."""
    return {str(name): preview(value) for name, value in values.items()}
