"""A Jupyter server extension: the explorer pages of the runs of this server's kernels.

Installing eagernb puts ``jupyter-config/jupyter_server_config.d/eagernb.json`` into
``etc/jupyter/`` (the wheel's shared data), which enables this extension: JupyterLab and
Notebook then serve, under their own URL and login,

- ``BASE/eagernb/runs``: the runs of the kernels, newest first;
- ``BASE/eagernb/runs/RUN_ID``: one run's explorer page (tree, timeline, details), which
  follows the run while it goes on.

Kernels write each run's report to ``eagernb.config.reports`` (``EAGERNB_REPORTS_DIR``);
this extension serves that folder. It tells the kernels it starts where it lives through
the environment they inherit (``EAGERNB_JUPYTER_BASE_URL``), so widget rows link here.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

__all__ = ["_jupyter_server_extension_points", "_load_jupyter_server_extension"]

_RUN_ID = re.compile(r"[A-Za-z0-9_.-]+")
_MAIN = re.compile(r"<main id=\"enb-main\".*?</main>", re.S)


def _jupyter_server_extension_points() -> list[dict[str, str]]:
    return [{"module": "eagernb._jupyter"}]


def _folder() -> Path:
    return Path(os.path.expanduser(os.environ.get("EAGERNB_REPORTS_DIR", "~/.eagernb/reports")))


def _load_jupyter_server_extension(serverapp: Any) -> None:
    from jupyter_server.base.handlers import JupyterHandler
    from jupyter_server.utils import url_path_join
    from tornado import web

    from ._views import page

    folder = _folder().resolve()
    base_url = serverapp.base_url
    # Kernels started from now on inherit both: where to write, and where pages are.
    os.environ["EAGERNB_REPORTS_DIR"] = str(folder)
    os.environ["EAGERNB_JUPYTER_BASE_URL"] = base_url

    class RunsHandler(JupyterHandler):  # type: ignore[misc]
        @web.authenticated
        def get(self) -> None:
            rows = []
            for path in folder.glob("*.json"):
                try:
                    item = json.loads(path.read_text())
                except (OSError, ValueError):
                    continue
                item["href"] = url_path_join(base_url, "eagernb/runs", item["id"])
                rows.append(item)
            rows.sort(key=lambda r: r.get("started_at") or 0, reverse=True)
            note = f"Runs of this server's kernels, newest first (reports in {folder})."
            self.finish(page.list_document("eagernb runs", rows, note))

    class RunHandler(JupyterHandler):  # type: ignore[misc]
        @web.authenticated
        def get(self, run_id: str) -> None:
            if not _RUN_ID.fullmatch(run_id):
                raise web.HTTPError(400, "A run id has letters, digits, '.', '_' and '-' only.")
            path = folder / f"{run_id}.html"
            try:
                text = path.read_text(encoding="utf-8")
            except FileNotFoundError:
                raise web.HTTPError(
                    404,
                    f"No report of run {run_id} in {folder}. `%eagernb runs` in its notebook "
                    "lists the session's runs; a report is written when a run ends.",
                ) from None
            self.set_header("Cache-Control", "no-store")
            if self.get_argument("fragment", None):
                found = _MAIN.search(text)
                self.finish(found.group(0) if found else "")
                return
            self.finish(text)

    runs_url = url_path_join(base_url, "eagernb/runs")
    serverapp.web_app.add_handlers(
        ".*$", [(runs_url, RunsHandler), (url_path_join(runs_url, "([^/]+)"), RunHandler)]
    )
    serverapp.log.info("eagernb: run explorer pages at %s (reports in %s)", runs_url, folder)
