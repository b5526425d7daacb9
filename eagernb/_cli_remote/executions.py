"""``eagernb executions list|show|cancel``: executions on the control plane."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from .._core.interface import preview
from .._core.records import Status
from .connection import command, connect
from .progress import icons_for, seconds

__all__ = ["cancel", "list_", "show"]

_TREE_LIMIT = 10_000  # executions fetched to draw one tree


@command
def list_(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if args.limit < 1:
        parser.error(f"--limit {args.limit}: give 1 or more.")
    remote = connect(args)
    try:
        found = remote.list_executions(
            project=args.project, domain=args.domain, status=args.status, name=args.name,
            limit=args.limit,
        )  # fmt: skip
    finally:
        remote.close()
    if not found:
        what = " ".join(filter(None, (args.status, args.name)))
        print(f"No {what + ' ' if what else ''}executions in {args.project}/{args.domain} on "
              f"{remote.endpoint}.", file=sys.stderr)  # fmt: skip
        return 0
    rows = [("ID", "NAME", "KIND", "STATUS", "CREATED", "DURATION", "PARENT")]
    rows += [
        (
            e.id,
            str(e.data["name"]),
            str(e.data["kind"]),
            e.status,
            _when(e.data.get("created_at")),
            _duration(e.data),
            e.data.get("parent_id") or "-",
        )
        for e in found
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        print("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())
    return 0


@command
def show(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    remote = connect(args)
    try:
        execution = remote.fetch(args.id)
        data = execution.data
        tree = remote.list_executions(
            project=data["project"], root_id=data["root_id"], limit=_TREE_LIMIT
        )
        inputs = _attempt(lambda: execution.inputs)
        output = _attempt(lambda: execution.output) if execution.status == "succeeded" else None
        printed = remote.outputs_of(execution.id)
    finally:
        remote.close()
    fields = [
        ("execution", execution.id),
        ("name", f"{data['name']} ({data['kind']}), version {data['version']}"),
        ("where", f"project {data['project']}, domain {data['domain']}"),
        ("status", execution.status),
        ("attempts", f"{data.get('attempts', 0)} (retries allowed: {data.get('retries', 0)})"),
        ("created", _when(data.get("created_at"))),
        ("started", _when(data.get("started_at"))),
        ("ended", _when(data.get("ended_at"))),
        ("duration", _duration(data)),
        ("parent", data.get("parent_id") or "-"),
        ("root", data["root_id"]),
        ("inputs", _inputs(inputs)),
    ]
    if output is not None:
        ok, value = output
        fields.append(("output", _cut(repr(value), 2000) if ok else value))
    error = data.get("error")
    if error:
        message = error.get("message") or ""
        kind = error.get("type_name") or "an error"
        fields.append(("error", f"{kind}: {message}" if message else str(kind)))
    for key, value in fields:
        print(f"{key:<10} {value}")
    children = [e.data for e in tree]
    lines = list(_tree(children, execution.id))
    print(f"\nchildren ({len(lines)})" + (":" if lines else ""))
    icons = icons_for(sys.stdout)
    for depth, child in lines:
        icon = icons.get(Status(child["status"]), "?")
        print(f"{'  ' * (depth + 1)}{icon} {child['name']} ({child['kind']}) {child['status']} "
              f"{_duration(child)}  [{child['id']}]".rstrip())  # fmt: skip
    if len(tree) >= _TREE_LIMIT:
        print(f"  … only the first {_TREE_LIMIT} executions of the tree were read")
    if printed:
        # Grouped by execution, in the tree's order (each one's text in the order written).
        texts: dict[str, str] = {}
        for item in printed:
            text = "".join(text for _, text in item["chunks"])
            texts[item["execution_id"]] = texts.get(item["execution_id"], "") + text
        names = {child["id"]: child["name"] for child in children} | {execution.id: data["name"]}
        order = [execution.id, *(child["id"] for _, child in lines)]
        print("\nprinted:")
        for who in [*order, *(key for key in texts if key not in order)]:
            for line in texts.get(who, "").splitlines():
                print(f"  [{names.get(who, who)}] {line}")
    if error and error.get("traceback"):
        print("\ntraceback:")
        print(error["traceback"].rstrip())
    return 0


@command
def cancel(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    remote = connect(args)
    try:
        execution = remote.fetch(args.id)
        name = f"{execution.data['name']} ({execution.data['kind']})"
        if execution.done:
            print(f"{execution.id} {name} already {execution.status}; nothing to cancel.")
            return 0
        after = remote.cancel(args.id)
        # A task has no children; a workflow's may all have ended before it was cancelled.
        ended_with_it = execution.data["kind"] != "task" and remote.list_executions(
            project=execution.data["project"], parent_id=after.id, status="cancelled", limit=1
        )
    finally:
        remote.close()
    children = "; its children were cancelled too" if ended_with_it else ""
    print(f"{after.id} {name} {after.status}{children}.")
    return 0


def _attempt(read: Any) -> tuple[bool, Any]:
    """(True, value) or (False, why it could not be read here)."""
    try:
        return True, read()
    except Exception as exc:
        return False, f"<cannot be loaded here: {type(exc).__name__}: {exc}>"


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _inputs(result: tuple[bool, Any]) -> str:
    ok, value = result
    if not ok:
        return str(value)
    return ", ".join(f"{k}={preview(v, 80)}" for k, v in value.items()) or "-"


def _tree(rows: Sequence[Mapping[str, Any]], top: str) -> Iterator[tuple[int, Mapping[str, Any]]]:
    """The descendants of ``top`` depth-first, oldest sibling first, with their depth."""
    children: dict[str, list[Mapping[str, Any]]] = {}
    for row in sorted(rows, key=lambda r: r.get("created_at") or 0.0):
        children.setdefault(row.get("parent_id") or "", []).append(row)
    stack = [(0, row) for row in reversed(children.get(top, []))]
    while stack:
        depth, row = stack.pop()
        yield depth, row
        stack.extend((depth + 1, c) for c in reversed(children.get(row["id"], [])))


def _when(stamp: float | None) -> str:
    if not stamp:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(stamp))


def _duration(data: Mapping[str, Any]) -> str:
    start, end = data.get("started_at"), data.get("ended_at")
    if not start:
        return "-"
    return seconds(max(0.0, (end or time.time()) - start)) + ("" if end else " so far")
