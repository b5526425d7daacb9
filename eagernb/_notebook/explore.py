"""``eagernb.explore(run_or_id)``: the explorer widget for any run, local or remote.

A run of this session is found by its run id (or any of its execution ids); anything
else is looked up on the control plane as an execution id, so a remote run can be
explored from any kernel, also after a restart. A remote run that is still going is
followed live from the control plane's event stream.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

from .._core.run import RunTree, runs
from .._views.mirror import Mirror, tree_of
from .cells import cells
from .widget import RunView

__all__ = ["explore", "find_tree"]

_FINAL = frozenset({"succeeded", "failed", "cancelled"})
_log = logging.getLogger("eagernb")
_TREE_LIMIT = 100_000
_open: list[RunView] = []  # explorers following a run: kept alive until it ends


def _local(target: str) -> tuple[RunTree, str | None] | None:
    for run in reversed(runs()):
        if target == run.id:
            return run, None
        if target in run.records:
            return run, target
        for rid, link in run.links.items():
            if link.execution_id == target:
                return run, rid
    return None


def find_tree(target: Any, remote: Any = None) -> tuple[RunTree, str | None, Any]:
    """(tree, execution to select, remote it mirrors) for a run, a run id or an execution id."""
    if isinstance(target, RunTree):
        return target, None, None
    if target is None:
        found = runs()
        if not found:
            raise LookupError("No run yet in this session: start one, or pass a remote id.")
        return found[-1], None, None
    if not isinstance(target, str):
        raise TypeError(
            f"explore() takes a run (eagernb.Run), a run id or an execution id, not "
            f"{type(target).__name__}."
        )
    local = _local(target)
    if local is not None:
        return local[0], local[1], None
    import httpx

    from .._client.errors import RemoteRequestError

    nowhere = f"No run of this session has id {target!r} (eagernb.runs() lists them)"
    try:
        if remote is None:
            from .._client.remote import Remote
            from .._core.config import config

            remote = config.remote or Remote.auto()
        execution = remote.fetch(target)
    except RemoteRequestError as exc:
        if exc.status_code == 404:
            raise LookupError(
                f"{nowhere}, and the control plane at {remote.endpoint} has no execution "
                f"{target!r} either. Check the id, or point eagernb.config.remote at the right "
                "control plane."
            ) from None
        if exc.status_code is None:
            raise LookupError(f"{nowhere}, and no control plane to look it up on: {exc}") from None
        raise
    except httpx.TransportError as exc:
        raise LookupError(
            f"{nowhere}, and the control plane at {remote.endpoint} cannot be reached ({exc})."
        ) from None
    data = execution.data
    root = data if data["root_id"] == data["id"] else remote.fetch(data["root_id"]).data
    executions = remote.list_executions(
        project=root["project"], root_id=root["id"], limit=_TREE_LIMIT
    )
    # A run still going is followed from its first event, which brings what it printed.
    outputs = remote.outputs_of(root["id"]) if root["status"] in _FINAL else []
    tree, _ = tree_of(root, [e.data for e in executions], remote.endpoint, outputs)
    return tree, (None if target == root["id"] else target), remote


async def _follow(tree: RunTree, remote: Any) -> None:
    mirror = Mirror(tree, tree.root_id, tree.root_id, endpoint=remote.endpoint, whole_run=True)
    mirror.record_ids.update({rid: rid for rid in tree.records})
    client = remote._async()
    try:
        async with client.stream(
            "GET", f"/executions/{tree.root_id}/events", timeout=None
        ) as response:
            async for line in response.aiter_lines():
                if line.strip():
                    event = json.loads(line)
                    mirror.apply_event(event)
    except Exception:
        _log.exception("eagernb: stopped following remote run %s", tree.root_id)


def explore(target: Any = None, *, remote: Any = None) -> None:
    """Show the explorer for ``target``: a run, a run id, or an execution id (remote too)."""
    tree, selected, mirrored = find_tree(target, remote)
    loop = asyncio.get_running_loop()
    if mirrored is not None and not tree.status.is_final:
        task = loop.create_task(_follow(tree, mirrored), name=f"eagernb follow {tree.id}")
    else:
        task = None
    with contextlib.suppress(Exception):  # outside IPython there are no cells to count
        from IPython import get_ipython

        cells.install(get_ipython())
    view = RunView(tree, widget=True, on_finish=_open.remove if task else None)
    if selected is not None:
        view.select(selected)
    if task is not None:
        _open.append(view)
        view.keep(task)
