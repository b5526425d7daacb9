"""A run's HTML report as a file: what the notebook writes when a run ends, and ``eagernb run``.

One self-contained file per run (``RUN_ID.html`` in ``config.reports``, no network needed
to view it) with the tree, the timeline and every execution's details, and a small
``RUN_ID.json`` beside it that lists it (the Jupyter server's run list reads those).
Unlike the rest of this package, this module writes files; it still knows nothing of
widgets or kernels, so the command line uses it as is.
"""

from __future__ import annotations

import json
import os
import tempfile
import urllib.parse
import weakref
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from .._core.config import config
from .._core.entity import Entity
from .._core.events import ExecutionLinked
from .._core.records import ExecutionRecord
from .._core.run import RunTree
from . import page
from .html import Extra

__all__ = [
    "extra_for",
    "is_mirrored",
    "report_dir",
    "version_of",
    "web_url",
    "write_report",
    "write_text",
]

_versions: weakref.WeakKeyDictionary[Entity, str] = weakref.WeakKeyDictionary()


def report_dir() -> Path | None:
    """Where reports go (``config.reports``), or None when they are switched off."""
    folder = config.reports
    if not folder:
        return None
    return Path(os.path.expanduser(folder))


def web_url(link: ExecutionLinked) -> str:
    """The control plane's web page of a remote execution."""
    return f"{link.endpoint.rstrip('/')}/ui/executions/{urllib.parse.quote(link.execution_id)}"


def version_of(entity: Entity) -> str:
    """The content hash ``entity`` would be registered under (as remote runs record it)."""
    found = _versions.get(entity)
    if found is None:
        from .._engines.payload import dump_entity

        try:
            found = dump_entity(entity).sha256[:16] + " (content hash, not registered)"
        except Exception as exc:
            found = f"unknown: the code cannot be pickled ({type(exc).__name__})"
        _versions[entity] = found
    return found


def is_mirrored(tree: RunTree, record: ExecutionRecord) -> bool:
    """Whether ``record`` mirrors a remote execution whose values stay on the server."""
    link = tree.links.get(record.id)
    return link is not None and (record.id == link.execution_id or ".x" in record.id)


def extra_for(tree: RunTree, record: ExecutionRecord) -> Extra:
    """What a report shows beside ``record``: the control plane's page and code version of
    a child that ran there, else the content hash of the child's code."""
    link = tree.links.get(record.id)
    if link is not None:
        note = None
        if is_mirrored(tree, record):
            note = (
                "Kept on the control plane: `eagernb executions show "
                f"{link.execution_id}` shows them."
            )
        return Extra(
            version=link.version or None,
            link=web_url(link),
            link_text=f"execution {link.execution_id} on {link.endpoint}",
            inputs_note=note,
            output_note=note,
        )
    entities: Mapping[str, Entity] = getattr(tree, "entities", {})
    entity = entities.get(record.name)
    return Extra(version=version_of(entity) if entity is not None else None)


def write_text(path: Path, text: str) -> None:
    """Write ``text`` beside ``path`` and rename it there: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def write_report(
    tree: RunTree,
    path: str | os.PathLike[str] | None = None,
    extra_of: page.ExtraOf | None = None,
    *,
    live: Mapping[str, Any] | None = None,
    pace: Callable[[], None] | None = None,
) -> Path:
    """Write ``tree``'s report to ``path`` (default: ``config.reports/RUN_ID.html``, with
    ``RUN_ID.json`` beside it) and return where it went.

    ``extra_of`` (default :func:`extra_for`) gives each execution's details their extras;
    ``live`` makes the page follow a run still going; ``pace`` is called before each
    execution is rendered (see :func:`page.main`).
    """
    if extra_of is None:

        def extra_of(record: ExecutionRecord) -> Extra | None:
            return extra_for(tree, record)

    text = page.document(tree, extra_of, live=live, pace=pace)
    if path is not None:
        target = Path(path)
        write_text(target, text)
        return target
    folder = report_dir()
    if folder is None:
        raise ValueError(
            "Reports are switched off (eagernb.config.reports is empty): pass a path, or "
            "set eagernb.config.reports to a folder."
        )
    target = folder / f"{tree.id}.html"
    write_text(target, text)
    write_text(folder / f"{tree.id}.json", json.dumps(page.summary(tree)))
    return target
