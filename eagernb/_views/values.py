"""Values as HTML: the rich representation a value offers, else its escaped ``repr``.

A DataFrame shows as its table (``_repr_html_``), an image as an image (``_repr_png_``,
``_repr_jpeg_``, ``_repr_svg_``), anything else as its ``pprint`` text. Every form is cut
to a size limit so one huge value cannot bloat a widget message or a report.
"""

from __future__ import annotations

import base64
import html
import pprint
from typing import Any

__all__ = ["Preview", "value_html", "value_text"]


class Preview:
    """Stands in for a value that stays elsewhere (on the control plane, pickled): shows
    the short text made of it where it was (see ``eagernb._engines.preview``)."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __repr__(self) -> str:
        return self.text

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Preview) and other.text == self.text

    def __hash__(self) -> int:
        return hash(self.text)


def value_text(value: Any, limit: int) -> str:
    """``pprint`` text of ``value``, cut to ``limit`` characters (never raises)."""
    try:
        text = pprint.pformat(value, width=100, compact=True)
    except Exception as exc:  # a broken __repr__ must not break a view
        text = f"<{type(value).__name__} (repr failed: {exc})>"
    if len(text) > limit:
        text = text[:limit] + f"\n… ({len(text) - limit} more characters)"
    return text


def _call(value: Any, method: str) -> Any:
    fn = getattr(type(value), method, None)
    if fn is None:
        return None
    try:
        return fn(value)
    except Exception:
        return None


def value_html(value: Any, limit: int = 20_000) -> str:
    """The richest HTML form of ``value`` that fits in ``limit`` characters."""
    if not isinstance(value, (str, bytes, int, float, bool, type(None), list, tuple, dict, set)):
        for method, mime in (("_repr_png_", "image/png"), ("_repr_jpeg_", "image/jpeg")):
            data = _call(value, method)
            if isinstance(data, tuple):  # (data, metadata)
                data = data[0]
            if isinstance(data, str):
                data = base64.b64decode(data)
            if isinstance(data, bytes) and data and len(data) * 4 // 3 < limit * 20:
                encoded = base64.b64encode(data).decode()
                return f'<img class="enb-img" alt="image" src="data:{mime};base64,{encoded}">'
        svg = _call(value, "_repr_svg_")
        if isinstance(svg, str) and len(svg) <= limit * 5:
            return f'<div class="enb-rich">{svg}</div>'
        rich = _call(value, "_repr_html_")
        if isinstance(rich, str) and len(rich) <= limit * 5:
            return f'<div class="enb-rich">{rich}</div>'
    return f'<pre class="enb-value">{html.escape(value_text(value, limit))}</pre>'
