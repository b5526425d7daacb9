"""Reading the explorer widget from the widget state a kernel sent (see ``KernelSession``)."""

from __future__ import annotations

import re
from typing import Any

ROW = re.compile(r'data-eagernb-id="([^"]+)" data-status="(\w+)"')


def _model(comms: dict[str, dict[str, Any]], ref: str) -> dict[str, Any]:
    return comms.get(ref.removeprefix("IPY_MODEL_"), {})


def grids(comms: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The row grid of every explorer, oldest first."""
    return [
        s
        for s in comms.values()
        if s.get("_model_name") == "GridBoxModel" and "eagernb-rows" in s.get("_dom_classes", ())
    ]


def row_html(comms: dict[str, dict[str, Any]], grid: dict[str, Any] | None = None) -> str:
    """The HTML of the rows the latest explorer (or ``grid``) shows now."""
    found = grids(comms)
    if grid is None:
        if not found:
            return ""
        grid = found[-1]
    return "".join(
        str(_model(comms, ref).get("value", ""))
        for ref in grid.get("children", ())
        if _model(comms, ref).get("_model_name") == "HTMLModel"
    )


def rows(comms: dict[str, dict[str, Any]]) -> list[tuple[str, str]]:
    """(execution id, status) of each row the latest explorer shows now."""
    return ROW.findall(row_html(comms))


def headers(comms: dict[str, dict[str, Any]]) -> list[str]:
    """Every explorer header sent so far, oldest first."""
    return [
        str(s["value"])
        for s in comms.values()
        if s.get("_model_name") == "HTMLModel" and "data-eagernb-run" in str(s.get("value", ""))
    ]


def buttons(comms: dict[str, dict[str, Any]], description: str) -> list[str]:
    """Comm ids of the buttons with this description, oldest first."""
    return [
        i
        for i, s in comms.items()
        if s.get("_model_name") == "ButtonModel" and s.get("description") == description
    ]


def select_buttons(comms: dict[str, dict[str, Any]]) -> list[str]:
    """Comm ids of the latest explorer's row buttons, in row order."""
    found = grids(comms)
    if not found:
        return []
    return [
        ref.removeprefix("IPY_MODEL_")
        for ref in found[-1].get("children", ())
        if "eagernb-select" in _model(comms, ref).get("_dom_classes", ())
    ]


def fold_buttons(comms: dict[str, dict[str, Any]]) -> list[str]:
    """Comm ids of the latest explorer's ▸/▾ buttons, in row order (hidden ones included)."""
    found = grids(comms)
    if not found:
        return []
    return [
        ref.removeprefix("IPY_MODEL_")
        for ref in found[-1].get("children", ())
        if "eagernb-fold" in _model(comms, ref).get("_dom_classes", ())
    ]


def details(comms: dict[str, dict[str, Any]]) -> str:
    """The latest details pane's HTML."""
    found = [
        str(s["value"])
        for s in comms.values()
        if s.get("_model_name") == "HTMLModel" and "data-eagernb-details" in str(s.get("value"))
    ]
    return found[-1] if found else ""
