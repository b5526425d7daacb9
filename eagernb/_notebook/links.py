"""What the explorer shows beside a record: code version, web view link, remote values.

A child that ran on the control plane links to the control plane's web page for it; a
local run links to the explorer page the Jupyter server serves (when eagernb's Jupyter
server extension started this kernel, it says where in ``EAGERNB_JUPYTER_BASE_URL``).
The code version of a local child is the content hash it would be registered under.
"""

from __future__ import annotations

import dataclasses
import os
import urllib.parse
from typing import Any

from .._core.events import ExecutionLinked
from .._core.records import ExecutionRecord
from .._core.run import RunTree
from .._views import report
from .._views.html import Extra
from .._views.report import is_mirrored, version_of, web_url

__all__ = [
    "explorer_url",
    "extra_for",
    "is_mirrored",
    "page_url",
    "remote_for_link",
    "version_of",
    "web_url",
]

_fetched: dict[tuple[str, str], tuple[dict[str, Any] | None, Any, bool]] = {}

JUPYTER_BASE_ENV = "EAGERNB_JUPYTER_BASE_URL"


def explorer_url(run_id: str) -> str | None:
    """The Jupyter server's page for local run ``run_id``, if this kernel knows the server."""
    base = os.environ.get(JUPYTER_BASE_ENV)
    if not base:
        return None
    return f"{base.rstrip('/')}/eagernb/runs/{urllib.parse.quote(run_id)}"


def page_url(tree: RunTree) -> str | None:
    """Where the whole run can be seen in a browser: the control plane's page of a run whose
    root ran there, else the Jupyter server's explorer page (if this kernel knows it)."""
    link = tree.links.get(tree.root_id)
    if link is not None:
        return web_url(link)
    return explorer_url(tree.id)


def extra_for(tree: RunTree, record: ExecutionRecord) -> Extra:
    """The report's extras (``_views.report.extra_for``), with the values of a remote
    child loaded here and the Jupyter server's explorer page of a local run."""
    extra = report.extra_for(tree, record)
    link = tree.links.get(record.id)
    if link is not None:
        inputs, output, has_output = _fetched.get((link.endpoint, link.execution_id), (None,) * 3)
        note = (
            "Kept on the control plane (select the row again to load)."
            if is_mirrored(tree, record)
            else None
        )
        return dataclasses.replace(
            extra,
            inputs_note=note,
            output_note=note,
            inputs=inputs,
            output=output,
            has_output=bool(has_output),
        )
    return dataclasses.replace(
        extra, link=explorer_url(tree.id), link_text="open this run in the explorer page"
    )


def remote_for_link(link: ExecutionLinked) -> Any:
    """A client for the control plane ``link`` points at (the configured one if it matches)."""
    from .._client.remote import Remote
    from .._core.config import config

    configured = config.remote
    if configured is not None:
        try:
            if configured.endpoint == link.endpoint.rstrip("/"):
                return configured
        except Exception:
            pass
    return Remote(link.endpoint)


async def fetch_values(link: ExecutionLinked) -> None:
    """Load a remote execution's inputs and output into the cache ``extra_for`` reads."""
    key = (link.endpoint, link.execution_id)
    if key in _fetched:
        return
    remote = remote_for_link(link)
    execution = await remote.afetch(link.execution_id)
    inputs: dict[str, Any] | None = None
    output: Any = None
    has_output = False
    try:
        from .._engines.payload import load_value

        inputs = dict(load_value(await remote._ablob(execution.data["inputs_sha"])))
    except Exception as exc:
        inputs = {"(could not load)": f"{type(exc).__name__}: {exc}"}
    if execution.status == "succeeded":
        try:
            output, has_output = await remote.aoutput_of(execution), True
        except Exception as exc:
            output, has_output = f"(could not load: {type(exc).__name__}: {exc})", True
    if execution.done:
        _fetched[key] = (inputs, output, has_output)
