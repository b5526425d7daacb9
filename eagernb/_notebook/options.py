"""Notebook display options, shown and set with the ``%eagernb`` line magic."""

from __future__ import annotations

from dataclasses import dataclass, fields

__all__ = ["NotebookOptions", "options"]


@dataclass
class NotebookOptions:
    """``widget``: show the live run widget. ``rate``: widget updates per second at most.
    ``page_size``: rows on one page of the explorer. ``max_rows``: executions listed in
    the text and HTML summary kept for viewers without widgets (the rest are counted).
    ``reports``: write an HTML report of each run when it ends (see ``config.reports``)."""

    widget: bool = True
    rate: float = 4.0
    page_size: int = 20
    max_rows: int = 200
    reports: bool = True

    def set(self, name: str, text: str) -> None:
        """Set option ``name`` from its text form, or raise ValueError saying what is allowed."""
        known = {f.name: f for f in fields(self)}
        if name not in known:
            names = ", ".join(["mode", *known])  # mode is the session's (eagernb.config)
            raise ValueError(f"Unknown eagernb option {name!r}. Known options: {names}.")
        current = getattr(self, name)
        value: object
        if isinstance(current, bool):
            lowered = text.lower()
            if lowered not in ("on", "off", "true", "false", "1", "0", "yes", "no"):
                raise ValueError(f"Option {name!r} is on or off, not {text!r}.")
            value = lowered in ("on", "true", "1", "yes")
        elif isinstance(current, int):
            try:
                value = int(text)
            except ValueError:
                raise ValueError(f"Option {name!r} is a whole number, not {text!r}.") from None
            if value < 1:
                raise ValueError(f"Option {name!r} must be 1 or more, not {text!r}.")
        else:
            try:
                value = float(text)
            except ValueError:
                raise ValueError(f"Option {name!r} is a number, not {text!r}.") from None
            if not 0.1 <= value <= 50:
                raise ValueError(f"Option {name!r} must be between 0.1 and 50, not {text!r}.")
        setattr(self, name, value)

    def describe(self) -> str:
        return "  ".join(f"{f.name}={_show(getattr(self, f.name))}" for f in fields(self))


def _show(value: object) -> str:
    if isinstance(value, bool):
        return "on" if value else "off"
    return str(value)


options = NotebookOptions()
