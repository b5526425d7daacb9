"""HTML fragments of a run: header, tree rows, timeline rows and one execution's details.

The notebook widget, the saved report and the control plane's web page all build their
content from these functions and style it with :data:`STYLESHEET`, so they look the same.
Rows carry ``data-eagernb-id`` and ``data-status`` so tests and scripts can read them.
"""

from __future__ import annotations

import html
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from .._core.interface import preview
from .._core.records import ExecutionRecord, Status
from .._core.run import RunTree
from .outline import Line
from .values import value_html

__all__ = [
    "ICONS",
    "STYLESHEET",
    "Extra",
    "badge",
    "counts_html",
    "details",
    "flat",
    "header",
    "now_of",
    "order",
    "row",
    "rows_head",
    "seconds",
    "timeline_axis",
    "timeline_row",
]

ICONS: Mapping[Status, str] = {
    Status.QUEUED: "○",
    Status.RUNNING: "◐",
    Status.SUCCEEDED: "✓",
    Status.FAILED: "✗",
    Status.CANCELLED: "⊘",
}
_KIND_ICON = {"task": "▪", "workflow": "◇", "eager": "◆"}
_PRINT_LINES = 6  # lines of printed output shown under a row

# Saturated backgrounds with white text, and translucent greys: legible on light and dark.
STYLESHEET = """
.eagernb-nofold { visibility: hidden; }
.enb{font-family:var(--jp-ui-font-family,system-ui,sans-serif);font-size:13px;line-height:1.45;
 color:inherit}
.enb code,.enb pre{font-family:var(--jp-code-font-family,ui-monospace,monospace);font-size:12px}
.enb-head{display:flex;gap:.8em;align-items:center;flex-wrap:wrap}
.enb-head .enb-title{font-weight:600;font-size:14px}
.enb-muted{opacity:.65;font-size:90%}
.enb-badge{display:inline-block;border-radius:3px;padding:0 6px;color:#fff;white-space:nowrap;
 font-size:12px;line-height:18px}
.enb-s-queued{background:#6b7280}.enb-s-running{background:#2563eb}
.enb-s-succeeded{background:#15803d}.enb-s-failed{background:#b91c1c}
.enb-s-cancelled{background:#b45309}
.enb-c-queued{color:#6b7280}.enb-c-running{color:#3b82f6}.enb-c-succeeded{color:#16a34a}
.enb-c-failed{color:#dc2626}.enb-c-cancelled{color:#d97706}
.enb-row{display:grid;grid-template-columns:minmax(11em,2fr) 5.5em 8.5em 3em 5em 5em
 minmax(6em,2fr) minmax(6em,2fr);gap:0 .6em;align-items:center;padding:1px 4px;
 border-top:1px solid rgba(127,127,127,.22);min-height:22px}
.enb-row>span{overflow:hidden;text-overflow:ellipsis;white-space:nowrap}
.enb-row.enb-cols{border-top:none;opacity:.7;font-weight:600}
.enb-row.enb-sel{background:rgba(37,99,235,.16)}
.enb-row.enb-tl{grid-template-columns:minmax(11em,2fr) 8.5em 7fr}
.enb-kind{opacity:.7;font-size:11px}
.enb-fold{display:inline-block;width:1em;text-align:center;cursor:pointer;user-select:none}
.enb-inside{opacity:.65;font-size:90%;margin-left:.4em}
.enb-row.enb-ctx{opacity:.6}
.enb-prints{grid-column:1/-1;margin:1px 0 3px 2em;padding:2px 6px;max-height:8.5em;
 overflow:auto;white-space:pre-wrap;background:rgba(127,127,127,.1);border-radius:3px}
.enb-err,.enb-stderr{color:#dc2626}
.enb-track{position:relative;height:14px;background:rgba(127,127,127,.08);border-radius:2px}
.enb-bar,.enb-wait{position:absolute;top:2px;height:10px;border-radius:2px;min-width:2px}
.enb-wait{background:repeating-linear-gradient(45deg,rgba(127,127,127,.45) 0 3px,
 transparent 3px 6px)}
.enb-axis{display:flex;justify-content:space-between;opacity:.65;font-size:11px}
.enb-details{border:1px solid rgba(127,127,127,.35);border-radius:4px;padding:6px 10px;
 margin-top:6px}
.enb-details h4{margin:.7em 0 .2em;font-size:13px}
.enb-fields{display:grid;grid-template-columns:max-content 1fr;gap:1px 1em;margin:0}
.enb-fields dt{opacity:.7}.enb-fields dd{margin:0;overflow-wrap:anywhere}
.enb-value,.enb-tb{white-space:pre-wrap;margin:0;padding:4px 6px;max-height:24em;overflow:auto;
 background:rgba(127,127,127,.1);border-radius:3px}
.enb-inputs td{vertical-align:top;padding:1px 8px 1px 0}
.enb-img{max-width:100%;max-height:24em}
.enb-rich{max-height:28em;overflow:auto}
.enb a{color:#3b82f6}
"""


@dataclass(frozen=True)
class Extra:
    """What a view knows about an execution beyond its record (all optional)."""

    version: str | None = None
    link: str | None = None  # where the execution's web view is
    link_text: str = "open in the web view"
    inputs_note: str | None = None  # shown instead of the inputs when they are not here
    output_note: str | None = None
    inputs: Mapping[str, object] | None = None  # the inputs, when the record has none here
    output: object = None
    has_output: bool = False  # ``output`` holds the output (fetched from elsewhere)


def seconds(value: float) -> str:
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 120:
        return f"{value:.1f} s"
    return f"{value / 60:.1f} min"


def now_of(tree: RunTree) -> float:
    """The time a view of ``tree`` is drawn at: its end, or now while it runs."""
    return tree.ended_at if tree.ended_at is not None else time.time()


def _duration(record: ExecutionRecord, now: float) -> str:
    if record.started_at is None:
        return ""
    end = record.ended_at if record.ended_at is not None else now
    return seconds(max(0.0, end - record.started_at))


def _origin(tree: RunTree) -> float | None:
    root = tree.root
    if tree.started_at is not None:
        return tree.started_at
    return root.queued_at if root is not None else None


def badge(status: Status) -> str:
    return f'<span class="enb-badge enb-s-{status.value}">{ICONS[status]} {status.value}</span>'


def counts_html(counts: Mapping[Status, int]) -> str:
    return " ".join(
        f'<span class="enb-c-{s.value}">{ICONS[s]} {n} {s.value}</span>'
        for s, n in counts.items()
        if n
    )


def header(tree: RunTree, counts: Mapping[Status, int], link: str | None = None) -> str:
    """The run in one line: name, status, elapsed time, children per status, run id, and a
    link to the run's page (``link``) when there is one."""
    total = sum(counts.values())
    start = tree.started_at
    elapsed = seconds((now_of(tree) - start) if start is not None else 0.0)
    return (
        f'<div class="enb enb-head" data-eagernb-run="{html.escape(tree.id)}" '
        f'data-status="{tree.status.value}">'
        f'<span class="enb-title">{html.escape(tree.name)}</span>{badge(tree.status)}'
        f"<span>{elapsed}</span>"
        f"<span>{total} child execution{'s' if total != 1 else ''}</span>"
        f"{counts_html(counts)}"
        f'<span class="enb-muted">{html.escape(tree.id)}</span>'
        + (
            f'<a href="{html.escape(link)}" target="_blank" rel="noopener">open the run\'s page</a>'
            if link
            else ""
        )
        + "</div>"
    )


def order(tree: RunTree) -> list[tuple[int, str]]:
    """(depth, record id) depth-first, the root first: what ``walk`` gives, several times
    faster (a view redraws it whenever children were added)."""
    children = tree.children
    out: list[tuple[int, str]] = []
    append = out.append
    stack = [iter(children.get(None, ()))]
    while stack:
        for rid in stack[-1]:
            append((len(stack) - 1, rid))
            below = children.get(rid)
            if below:
                stack.append(iter(below))
                break
        else:
            stack.pop()
    return out


def flat(
    tree: RunTree, statuses: Iterable[Status] | None = None
) -> list[tuple[int, ExecutionRecord]]:
    """The tree depth-first as (depth, record), only ``statuses`` if given."""
    records = tree.records
    entries = [(d, records[rid]) for d, rid in order(tree)]
    if statuses is None:
        return entries
    wanted = frozenset(statuses)
    return [(d, r) for d, r in entries if r.status in wanted]


def _inputs_preview(record: ExecutionRecord, limit: int) -> str:
    text = ", ".join(f"{k}={preview(v, limit)}" for k, v in record.inputs.items())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _result_preview(record: ExecutionRecord, limit: int, elsewhere: bool = False) -> str:
    if record.error is not None:
        text = str(record.error)
        return text if len(text) <= limit else text[: limit - 1] + "…"
    if record.status is Status.SUCCEEDED and not elsewhere:
        return preview(record.output, limit)
    return ""


def rows_head() -> str:
    return (
        '<div class="enb-row enb-cols"><span>execution</span><span>kind</span>'
        "<span>status</span><span>tries</span><span>start</span><span>duration</span>"
        "<span>inputs</span><span>output / error</span></div>"
    )


def _line_of(tree: RunTree, record: ExecutionRecord, depth: int, line: Line | None) -> Line:
    if line is not None:
        return line
    return Line(depth, record.id, parent=bool(tree.children.get(record.id)))


def _name_cell(record: ExecutionRecord, line: Line, toggle: bool) -> str:
    """The indented name; ``toggle`` puts the ▸/▾ of a parent before it (the HTML pages'
    script handles its clicks; the widget has a button instead)."""
    kind = record.kind.value
    fold = ""
    if toggle:
        glyph = ("▾" if line.open else "▸") if line.parent else ""
        act = ' data-act="fold" title="Collapse or expand this subtree"' if line.parent else ""
        fold = f'<span class="enb-fold"{act}>{glyph}</span>'
    inside = ""
    if line.parent:
        text = f"({line.hidden} inside)" if not line.open else ""
        inside = f'<span class="enb-inside">{text}</span>'
    return (
        f'<span class="enb-name" style="padding-left:{line.depth * 1.1:.1f}em" '
        f'title="{html.escape(record.name)} ({kind}, {html.escape(record.id)})">{fold}'
        f'<span class="enb-kind">{_KIND_ICON.get(kind, "")}</span> '
        f"{html.escape(record.name)}{inside}</span>"
    )


def _row_attrs(record: ExecutionRecord, line: Line, selected: bool, extra_class: str) -> str:
    classes = (
        f"enb-row{extra_class}{' enb-sel' if selected else ''}{' enb-ctx' if line.context else ''}"
    )
    fold = f' data-fold="{"open" if line.open else "closed"}"' if line.parent else ""
    return (
        f'class="{classes}" data-eagernb-id="{html.escape(record.id)}" '
        f'data-status="{record.status.value}" data-depth="{line.depth}"{fold}'
    )


def _prints(tree: RunTree, record_id: str, lines: int) -> str:
    pieces = tree.outputs.get(record_id)
    if not pieces:
        return ""
    kept: list[str] = []
    count = 0
    for stream, text in reversed(pieces):
        parts = text.splitlines(keepends=True)
        take = parts[-(lines - count) :] if lines else parts
        cls = ' class="enb-stderr"' if stream == "stderr" else ""
        kept.append(f"<span{cls}>{html.escape(''.join(take))}</span>")
        count += len(take)
        if lines and count >= lines:
            break
    return f'<pre class="enb-prints">{"".join(reversed(kept))}</pre>'


def row(
    tree: RunTree,
    record: ExecutionRecord,
    depth: int,
    *,
    selected: bool = False,
    now: float | None = None,
    print_lines: int = _PRINT_LINES,
    line: Line | None = None,
    toggle: bool = True,
) -> str:
    """One execution as a row of the tree, with the last lines it printed under it.

    ``line`` says whether its subtree is collapsed and what that hides (default: open);
    ``toggle``: draw the ▸/▾ of a parent row (the HTML pages; the widget has a button).
    """
    now = now_of(tree) if now is None else now
    shape = _line_of(tree, record, depth, line)
    origin = _origin(tree)
    start = ""
    if record.started_at is not None and origin is not None:
        start = f"+{seconds(max(0.0, record.started_at - origin))}"
    tip = ""
    if record.error is not None:
        tip = f' title="{html.escape(record.error.traceback[-2000:] or str(record.error))}"'
    result_class = ' class="enb-err"' if record.error is not None else ""
    # A record mirrored from the control plane has no values here (they stay there).
    elsewhere = record.id in tree.links and not record.inputs and record.output is None
    return (
        f"<div {_row_attrs(record, shape, selected, '')}>{_name_cell(record, shape, toggle)}"
        f"<span>{record.kind.value}</span><span>{badge(record.status)}</span>"
        f"<span>{record.attempts}</span><span>{start}</span>"
        f"<span>{_duration(record, now)}</span>"
        f"<span><code>{html.escape(_inputs_preview(record, 60))}</code></span>"
        f"<span{tip}><code{result_class}>{html.escape(_result_preview(record, 80, elsewhere))}"
        "</code></span>"
        f"{_prints(tree, record.id, print_lines)}</div>"
    )


def timeline_axis(tree: RunTree, now: float | None = None) -> str:
    now = now_of(tree) if now is None else now
    origin = _origin(tree) or now
    span = max(now - origin, 1e-3)
    marks = "".join(f"<span>{seconds(span * i / 4)}</span>" for i in range(5))
    return (
        '<div class="enb-row enb-tl enb-cols"><span>execution</span><span>status</span>'
        f'<span class="enb-axis">{marks}</span></div>'
    )


def timeline_row(
    tree: RunTree,
    record: ExecutionRecord,
    depth: int,
    *,
    selected: bool = False,
    now: float | None = None,
    line: Line | None = None,
    toggle: bool = True,
) -> str:
    """One execution as a bar over the run's time: hatched while queued, solid while running.

    ``line`` and ``toggle`` as for :func:`row`.
    """
    now = now_of(tree) if now is None else now
    shape = _line_of(tree, record, depth, line)
    origin = _origin(tree) or record.queued_at
    span = max(now - origin, 1e-3)

    def at(t: float) -> float:
        return min(100.0, max(0.0, (t - origin) / span * 100))

    queued, started = at(record.queued_at), record.started_at
    end = at(record.ended_at if record.ended_at is not None else now)
    bars = ""
    wait_end = at(started) if started is not None else end
    if wait_end > queued:
        width = wait_end - queued
        bars += f'<span class="enb-wait" style="left:{queued:.2f}%;width:{width:.2f}%"></span>'
    if started is not None:
        left = at(started)
        title = f"{record.name}: {_duration(record, now)}"
        bars += (
            f'<span class="enb-bar enb-s-{record.status.value}" title="{html.escape(title)}" '
            f'style="left:{left:.2f}%;width:{max(end - left, 0.0):.2f}%"></span>'
        )
    return (
        f"<div {_row_attrs(record, shape, selected, ' enb-tl')}>"
        f"{_name_cell(record, shape, toggle)}"
        f'<span>{badge(record.status)}</span><span class="enb-track">{bars}</span></div>'
    )


def _when(t: float | None, origin: float | None) -> str:
    if t is None:
        return ""
    clock = time.strftime("%H:%M:%S", time.localtime(t)) + f".{int(t % 1 * 1000):03d}"
    if origin is None:
        return clock
    return f"{clock} (+{seconds(max(0.0, t - origin))})"


def _fields(items: Sequence[tuple[str, str]]) -> str:
    body = "".join(f"<dt>{html.escape(k)}</dt><dd>{v}</dd>" for k, v in items if v)
    return f'<dl class="enb-fields">{body}</dl>'


def details(
    tree: RunTree,
    record_id: str,
    extra: Extra | None = None,
    *,
    value_limit: int = 20_000,
) -> str:
    """Everything about one execution: fields, full inputs and output, error, printed text."""
    record = tree.records.get(record_id)
    if record is None:
        return '<div class="enb enb-details">No such execution in this run.</div>'
    extra = extra or Extra()
    origin = _origin(tree)
    now = now_of(tree)
    link = ""
    if extra.link:
        link = (
            f'<a href="{html.escape(extra.link)}" target="_blank" rel="noopener">'
            f"{html.escape(extra.link_text)}</a>"
        )
    fields = _fields(
        [
            ("execution id", f"<code>{html.escape(record.id)}</code>"),
            ("run", f"<code>{html.escape(tree.id)}</code>"),
            ("parent", f"<code>{html.escape(record.parent_id or '')}</code>"),
            ("kind", record.kind.value),
            ("status", badge(record.status)),
            ("attempts", str(record.attempts)),
            ("queued", _when(record.queued_at, origin)),
            ("started", _when(record.started_at, origin)),
            ("ended", _when(record.ended_at, origin)),
            ("duration", _duration(record, now)),
            ("code version", f"<code>{html.escape(extra.version)}</code>" if extra.version else ""),
            ("web view", link),
        ]
    )
    parts = [
        f'<div class="enb enb-details" data-eagernb-details="{html.escape(record.id)}">',
        f'<div class="enb-head"><span class="enb-title">{html.escape(record.name)}</span>'
        f"{badge(record.status)}</div>",
        fields,
        "<h4>Inputs</h4>",
    ]
    inputs = extra.inputs if extra.inputs is not None else record.inputs
    if inputs:  # without the values at hand: the previews the record holds, if any
        cells = "".join(
            f"<tr><td><code>{html.escape(k)}</code></td><td>{value_html(v, value_limit)}</td></tr>"
            for k, v in inputs.items()
        )
        parts.append(f'<table class="enb-inputs">{cells}</table>')
    if extra.inputs_note and extra.inputs is None:
        parts.append(f'<div class="enb-muted">{html.escape(extra.inputs_note)}</div>')
    elif not inputs:
        parts.append('<div class="enb-muted">none</div>')
    if record.error is not None:
        parts.append(
            f'<h4>Error</h4><div class="enb-err"><b>{html.escape(record.error.type_name)}</b>: '
            f"{html.escape(record.error.message)}</div>"
        )
        if record.error.traceback:
            parts.append(f'<pre class="enb-tb">{html.escape(record.error.traceback)}</pre>')
    elif record.status is Status.SUCCEEDED:
        parts.append("<h4>Output</h4>")
        if extra.has_output:
            parts.append(value_html(extra.output, value_limit))
        elif extra.output_note:
            if record.output is not None:  # a preview
                parts.append(value_html(record.output, value_limit))
            parts.append(f'<div class="enb-muted">{html.escape(extra.output_note)}</div>')
        else:
            parts.append(value_html(record.output, value_limit))
    printed = _prints(tree, record.id, 0)
    if printed:
        parts.append(f"<h4>Printed</h4>{printed}")
    parts.append("</div>")
    return "".join(parts)
