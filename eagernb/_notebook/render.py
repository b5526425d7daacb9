"""Text and HTML renderings of a run: the widget's content and its no-widget fallback.

Pure functions over a :class:`~eagernb.Run`; nothing here touches widgets or the kernel.
"""

from __future__ import annotations

import html
import itertools
import time
from collections.abc import Mapping

from .._core.interface import preview
from .._core.records import ExecutionRecord, Status
from .._core.run import RunTree as Run

__all__ = [
    "PRINTED_LINES",
    "STATUS_STYLE",
    "html_header",
    "html_rows",
    "html_summary",
    "printed_tail",
    "text_summary",
]

PRINTED_LINES = 5
"""Printed lines shown per execution in the text and HTML summaries (the last ones)."""

# (icon, colour): saturated colours with white text read on light and dark themes alike.
STATUS_STYLE: Mapping[Status, tuple[str, str]] = {
    Status.QUEUED: ("○", "#6b7280"),
    Status.RUNNING: ("◐", "#2563eb"),
    Status.SUCCEEDED: ("✓", "#15803d"),
    Status.FAILED: ("✗", "#b91c1c"),
    Status.CANCELLED: ("⊘", "#b45309"),
}


def _elapsed(run: Run) -> float:
    if run.started_at is None:
        return 0.0
    return (run.ended_at or time.time()) - run.started_at


def _duration(record: ExecutionRecord) -> str:
    if record.started_at is None:
        return ""
    end = record.ended_at if record.ended_at is not None else time.time()
    return _seconds(end - record.started_at)


def _seconds(value: float) -> str:
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 120:
        return f"{value:.1f} s"
    return f"{value / 60:.1f} min"


def _inputs(record: ExecutionRecord, limit: int) -> str:
    text = ", ".join(f"{k}={preview(v, limit)}" for k, v in record.inputs.items())
    return preview_text(text, limit)


def preview_text(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _result(record: ExecutionRecord, limit: int) -> str:
    if record.error is not None:
        return preview_text(str(record.error), limit)
    if record.status is Status.SUCCEEDED:
        return preview(record.output, limit)
    return ""


def _badge(status: Status) -> str:
    icon, colour = STATUS_STYLE[status]
    return (
        f'<span style="background:{colour};color:#fff;border-radius:3px;padding:0 5px;'
        f'white-space:nowrap">{icon} {status.value}</span>'
    )


def _counts_text(counts: Mapping[Status, int]) -> str:
    return ", ".join(f"{n} {s.value}" for s, n in counts.items() if n)


def html_header(run: Run, counts: Mapping[Status, int]) -> str:
    """One line: workflow name, status, elapsed time and children per status."""
    total = sum(counts.values())
    parts = [
        f'<div data-eagernb-run="{html.escape(run.id)}" data-status="{run.status.value}" '
        'style="display:flex;gap:0.8em;align-items:center;flex-wrap:wrap">',
        f"<b>{html.escape(run.name)}</b>",
        _badge(run.status),
        f"<span>{_seconds(_elapsed(run))}</span>",
        f"<span>{total} child execution{'s' if total != 1 else ''}</span>",
    ]
    for status, n in counts.items():
        if n:
            icon, colour = STATUS_STYLE[status]
            parts.append(f'<span style="color:{colour}">{icon} {n} {status.value}</span>')
    parts.append(f'<span style="opacity:0.6;font-size:85%">{html.escape(run.id)}</span></div>')
    return "".join(parts)


def html_rows(run: Run, max_rows: int) -> str:
    """A table with one row per execution (root first, children nested), up to ``max_rows``."""
    out = [
        '<table class="eagernb-rows" style="border-collapse:collapse;font-size:90%;width:100%">',
        '<tr style="text-align:left;opacity:0.7"><th>execution</th><th>kind</th><th>status</th>'
        "<th>tries</th><th>time</th><th>inputs</th><th>output / error</th></tr>",
    ]
    for depth, record in itertools.islice(run.walk(), max_rows):
        name = html.escape(record.name)
        error = ""
        if record.error is not None:
            error = f' title="{html.escape(record.error.traceback[-2000:])}"'
        out.append(
            f'<tr data-eagernb-id="{html.escape(record.id)}" data-status="{record.status.value}" '
            'style="border-top:1px solid rgba(127,127,127,0.25)">'
            f'<td style="padding-left:{depth * 1.2 + 0.2:.1f}em">{"└ " if depth else ""}{name}</td>'
            f"<td>{record.kind.value}</td><td>{_badge(record.status)}</td>"
            f"<td>{record.attempts}</td><td>{_duration(record)}</td>"
            f"<td><code>{html.escape(_inputs(record, 60))}</code></td>"
            f"<td{error}><code>{html.escape(_result(record, 80))}</code></td></tr>"
        )
        printed = printed_tail(run, record.id)
        if printed:
            out.append(
                f'<tr><td></td><td colspan="6"><pre style="margin:0;opacity:0.8">'
                f"{html.escape(printed)}</pre></td></tr>"
            )
    hidden = len(run.records) - max_rows
    if hidden > 0:
        out.append(
            f'<tr><td colspan="7" style="opacity:0.7">… and {hidden} more executions '
            f"(raise the limit with <code>%eagernb max_rows=N</code>, or read "
            f"<code>eagernb.last_run().records</code>)</td></tr>"
        )
    out.append("</table>")
    return "".join(out)


def printed_tail(run: Run, record_id: str, lines: int = PRINTED_LINES) -> str:
    """The last ``lines`` lines ``record_id`` printed (the explorer and report keep all)."""
    pieces = run.outputs.get(record_id)
    if not pieces:
        return ""
    text = "".join(piece for _, piece in pieces[-lines:])
    kept = text.splitlines()
    if len(kept) > lines:
        kept = [f"… ({len(kept) - lines} earlier lines not shown)", *kept[-lines:]]
    return "\n".join(line[:200] for line in kept)


def html_summary(run: Run, counts: Mapping[Status, int], max_rows: int) -> str:
    """Header and rows together: what a notebook viewer without widgets shows."""
    return f'<div class="eagernb-run">{html_header(run, counts)}{html_rows(run, max_rows)}</div>'


def text_summary(run: Run, counts: Mapping[Status, int], max_rows: int) -> str:
    """A plain-text tree of the run for terminals and text-only viewers."""
    icon = STATUS_STYLE[run.status][0]
    lines = [
        f"{icon} {run.name} {run.status.value} in {_seconds(_elapsed(run))} "
        f"[{run.id}]; children: {_counts_text(counts) or 'none'}"
    ]
    lines.extend(f"  │ {line}" for line in printed_tail(run, run.root_id).splitlines())
    for depth, record in itertools.islice(run.walk(), 1, max_rows):
        result = _result(record, 60)
        arrow = f" -> {result}" if result else ""
        lines.append(
            f"{'  ' * depth}{STATUS_STYLE[record.status][0]} {record.name} "
            f"({record.kind.value}) {record.status.value} {_duration(record)}"
            f"  {_inputs(record, 40)}{arrow}"
        )
        pad = "  " * depth
        lines.extend(f"{pad}  │ {line}" for line in printed_tail(run, record.id).splitlines())
    hidden = len(run.records) - max_rows
    if hidden > 0:
        lines.append(f"  … and {hidden} more executions")
    return "\n".join(lines)
