"""Executions of the control plane as records: its JSON turned into the same core events.

The kernel following a remote run, ``eagernb.explore`` of a remote id and the control
plane's own web page all feed a :class:`~eagernb._core.run.RunTree` this way, so every
view reads local and remote runs alike.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from .._core.errors import ErrorInfo
from .._core.events import (
    ExecutionFinished,
    ExecutionLinked,
    ExecutionOutput,
    ExecutionQueued,
    ExecutionRetrying,
    ExecutionStarted,
    RunFinished,
    RunStarted,
)
from .._core.records import ExecutionRecord, Kind, Status
from .._core.run import RunTree
from .values import Preview

__all__ = ["Mirror", "tree_of"]

_FINAL = frozenset({"succeeded", "failed", "cancelled"})


def _error(data: Mapping[str, Any]) -> ErrorInfo | None:
    error = data.get("error")
    if not error:
        return None
    return ErrorInfo.from_json(error)


class Mirror:
    """Keeps ``tree`` in step with executions described by the control plane.

    ``root_execution_id`` is the server execution shown as the tree's root record
    ``root_record_id``; its descendants get record ids ``prefix + server id``.
    ``endpoint``: the control plane's URL, recorded with each execution (for links).
    ``whole_run``: the root's own transitions also start and finish the tree's run.
    """

    def __init__(
        self,
        tree: RunTree,
        root_execution_id: str,
        root_record_id: str,
        *,
        prefix: str = "",
        endpoint: str | None = None,
        whole_run: bool = False,
    ) -> None:
        self.tree = tree
        self.root_execution_id = root_execution_id
        self.prefix = prefix
        self.endpoint = endpoint
        self.whole_run = whole_run
        self.record_ids: dict[str, str] = {root_execution_id: root_record_id}
        """The record id of each server execution seen so far."""

    def apply(self, data: Mapping[str, Any], type_: str | None = None) -> str:
        """Bring the record of execution ``data`` up to date; returns its record id."""
        tree = self.tree
        server_id = str(data["id"])
        rid = self.record_ids.get(server_id)
        if rid is None:
            rid = self.record_ids[server_id] = f"{self.prefix}{server_id}"
        record = tree.records.get(rid)
        if record is None:
            parent_server = data.get("parent_id")
            parent = None
            if server_id != self.root_execution_id:
                parent = self.record_ids.get(str(parent_server), tree.root_id)
            previews = data.get("inputs_preview") or {}
            inputs = {str(k): Preview(str(v)) for k, v in previews.items()}
            record = ExecutionRecord(
                rid, tree.id, parent, str(data["name"]), Kind(data["kind"]), Status.QUEUED,
                inputs, float(data.get("created_at") or 0.0),
            )  # fmt: skip
            tree.emit(ExecutionQueued(record))
            if self.endpoint is not None:
                tree.emit(
                    ExecutionLinked(
                        tree.id, rid, self.endpoint, server_id, str(data.get("version", ""))
                    )
                )
        status = str(data["status"])
        attempts = int(data.get("attempts") or 0)
        is_root = self.whole_run and server_id == self.root_execution_id
        if is_root and tree.started_at is None and data.get("started_at") is not None:
            tree.emit(RunStarted(tree.id, tree.name, float(data["started_at"])))
        if type_ == "retrying" and status != "queued":
            error = _error(data)
            if error is not None:
                tree.emit(ExecutionRetrying(tree.id, rid, attempts, error, _time(data)))
        record = tree.records[rid]
        moved = record.status is Status.QUEUED or attempts > record.attempts
        if status != "queued" and not record.status.is_final and moved:
            started = float(data.get("started_at") or data.get("created_at") or 0.0)
            tree.emit(ExecutionStarted(tree.id, rid, max(1, attempts), started))
        if status in _FINAL and not tree.records[rid].status.is_final:
            ended = float(data.get("ended_at") or 0.0)
            shown = data.get("output_preview")
            output = Preview(str(shown)) if status == "succeeded" and shown is not None else None
            tree.emit(
                ExecutionFinished(
                    tree.id, rid, Status(status), ended, output=output, error=_error(data)
                )
            )
            if is_root and tree.ended_at is None:
                tree.emit(RunFinished(tree.id, Status(status), ended))
        return rid

    def apply_event(self, event: Mapping[str, Any]) -> str | None:
        """Apply one event of the control plane's stream; returns the record id it touched
        (None for what it printed before its record was seen)."""
        data = event["execution"]
        if event.get("type") == "output":
            rid = self.record_ids.get(str(data["id"]))
            if rid is not None and rid in self.tree.records:
                self.add_output(rid, event.get("chunks") or [])
            return rid
        return self.apply(data, event.get("type"))

    def add_output(self, record_id: str, chunks: Iterable[Iterable[str]]) -> None:
        """Text record ``record_id`` printed, as ``[[stream, text], ...]``."""
        for stream, text in chunks:
            self.tree.emit(ExecutionOutput(self.tree.id, record_id, stream, text))

    def apply_outputs(self, outputs: Iterable[Mapping[str, Any]]) -> None:
        """What the control plane says its executions printed (``GET .../outputs``)."""
        for item in outputs:
            rid = self.record_ids.get(str(item["execution_id"]))
            if rid is not None and rid in self.tree.records:
                self.add_output(rid, item.get("chunks") or [])

    def apply_all(self, executions: Iterable[Mapping[str, Any]]) -> None:
        """Apply executions listed in any order: parents are applied before children."""
        pending = {str(e["id"]): e for e in executions}
        for server_id in list(pending):
            self._apply_with_parents(server_id, pending)

    def _apply_with_parents(self, server_id: str, pending: dict[str, Mapping[str, Any]]) -> None:
        chain = []
        current: str | None = server_id
        while current is not None and current in pending:
            chain.append(current)
            parent = pending[current].get("parent_id")
            current = str(parent) if parent is not None else None
        for item in reversed(chain):
            data = pending.pop(item, None)
            if data is not None:
                self.apply(data)


def _time(data: Mapping[str, Any]) -> float:
    return float(data.get("ended_at") or data.get("started_at") or data.get("created_at") or 0.0)


def tree_of(
    root: Mapping[str, Any],
    executions: Iterable[Mapping[str, Any]],
    endpoint: str | None = None,
    outputs: Iterable[Mapping[str, Any]] = (),
) -> tuple[RunTree, Mirror]:
    """A tree mirroring the run rooted at execution ``root``, built from ``executions`` and
    what they printed (``outputs``, as ``GET /executions/ID/outputs`` lists it)."""
    root_id = str(root["id"])
    tree = RunTree(root_id, str(root["name"]), root_id)
    mirror = Mirror(tree, root_id, root_id, endpoint=endpoint, whole_run=True)
    mirror.apply(root)
    rest = [e for e in executions if str(e["id"]) != root_id]
    # Oldest first, so siblings keep their launch order (as in the run that made them).
    rest.sort(key=lambda e: float(e.get("created_at") or 0.0))
    mirror.apply_all(rest)
    mirror.apply_outputs(outputs)
    return tree, mirror
