"""The control plane's web view: runs listed, and each run's tree, timeline and details.

``GET /ui`` lists recent runs (top-level executions). ``GET /ui/executions/{id}`` shows
the run that execution belongs to, drawn by the same renderer as the notebook explorer
and the saved reports; while the run goes on, the page follows the run's event stream
and redraws as children are launched and finish. ``GET /api/v1/executions/{id}/report``
is the same page as one self-contained file, for ``eagernb executions report``.

On a server with ``--auth``, pages take the bearer token as ``?token=...`` (a browser
cannot set headers on a link) or in the ``Authorization`` header.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from .._views import page
from .._views.html import Extra
from .._views.mirror import tree_of
from .auth import allow, authenticate
from .errors import RequestError

__all__ = ["ui_routes"]

_TREE_LIMIT = 100_000
_LIST_LIMIT = 100


def _grant(request: Request) -> Any:
    services = request.app.state.services
    credentials = services.credentials
    if credentials is None:
        return None
    token = request.query_params.get("token")
    if token and not request.headers.get("authorization"):
        grant = credentials.check_token(token)
        if grant is None:
            raise RequestError(
                401,
                "The token in this page's address is not valid (it may have expired). Get a "
                "new one with POST /api/v1/token and open the page with ?token=NEW_TOKEN.",
            )
        return grant
    return authenticate(request, credentials)


def _token_suffix(request: Request) -> str:
    token = request.query_params.get("token")
    return f"?token={urllib.parse.quote(token)}" if token else ""


def _run_of(request: Request, execution_id: str) -> tuple[Any, dict[str, Any]]:
    store = request.app.state.services.store
    execution = store.execution(execution_id)
    if execution is None:
        raise RequestError(
            404,
            f"No execution has id {execution_id!r} on this server. Check the id; /ui lists "
            "recent runs.",
        )
    allow(_grant(request), execution["project"])
    root = execution
    if execution["root_id"] != execution["id"]:
        root = store.execution(execution["root_id"]) or execution
    members = store.executions(_TREE_LIMIT, root_id=root["id"])
    # Linked to this server: its records hold no values (they stay pickled in blobs).
    outputs = store.outputs(root["id"])
    tree, _ = tree_of(root, members, str(request.base_url).rstrip("/"), outputs)
    return tree, root


def _extra(request: Request, rows: dict[str, dict[str, Any]]) -> Any:
    suffix = _token_suffix(request)

    def extra_of(record: Any) -> Extra:
        data = rows.get(record.id, {})
        note = (
            "Shown above: short previews made where the values were. The values are stored "
            "here as pickled blobs and only clients load them: the notebook explorer shows "
            "them, or `eagernb executions show ID`."
        )
        return Extra(
            version=data.get("version"),
            link=f"/ui/executions/{urllib.parse.quote(record.id)}{suffix}",
            link_text=f"execution {record.id} on this server",
            inputs_note=f"{note} Inputs: blob {data.get('inputs_sha', '?')}.",
            output_note=f"{note} Output: blob {data.get('output_sha') or '?'}.",
        )

    return extra_of


async def run_page(request: Request) -> Response:
    execution_id = request.path_params["id"]
    tree, root = _run_of(request, execution_id)
    store = request.app.state.services.store
    rows = {e["id"]: e for e in store.executions(_TREE_LIMIT, root_id=root["id"])}
    events = f"/api/v1/executions/{urllib.parse.quote(root['id'])}/events"
    live = {"events": events}
    extra_of = _extra(request, rows)
    select = None if execution_id == root["id"] else execution_id
    if request.query_params.get("fragment"):
        return HTMLResponse(page.main(tree, extra_of, live=live, select=select))
    nav = f'<p class="enb"><a href="/ui{_token_suffix(request)}">← all runs</a></p>'
    return HTMLResponse(page.document(tree, extra_of, live=live, nav=nav, select=select))


async def report(request: Request) -> Response:
    execution_id = request.path_params["id"]
    tree, root = _run_of(request, execution_id)
    store = request.app.state.services.store
    rows = {e["id"]: e for e in store.executions(_TREE_LIMIT, root_id=root["id"])}
    text = page.document(tree, _extra(request, rows))
    name = f"eagernb-{root['name']}-{root['id']}.html"
    return HTMLResponse(text, headers={"Content-Disposition": f'inline; filename="{name}"'})


async def runs_page(request: Request) -> Response:
    grant = _grant(request)
    store = request.app.state.services.store
    projects = None if grant is None else grant.projects
    recent = store.executions(_LIST_LIMIT * 20, projects)
    roots = [e for e in recent if e["parent_id"] is None][:_LIST_LIMIT]
    children: dict[str, int] = {}
    for e in recent:
        if e["parent_id"] is not None:
            children[e["root_id"]] = children.get(e["root_id"], 0) + 1
    suffix = _token_suffix(request)
    rows = [
        {
            "href": f"/ui/executions/{urllib.parse.quote(e['id'])}{suffix}",
            "id": e["id"],
            "name": f"{e['name']} ({e['kind']})",
            "status": e["status"],
            "started_at": e["started_at"] or e["created_at"],
            "children": children.get(e["id"], 0),
        }
        for e in roots
    ]
    note = "Recent runs on this control plane, newest first."
    return HTMLResponse(page.list_document("eagernb runs", rows, note))


async def home(request: Request) -> Response:
    return RedirectResponse(f"/ui{_token_suffix(request)}")


def ui_routes() -> list[Route]:
    """Routes to put before the API's mount (the report lives under ``/api/v1``)."""
    return [
        Route("/", home, methods=["GET"]),
        Route("/ui", runs_page, methods=["GET"]),
        Route("/ui/executions/{id}", run_page, methods=["GET"]),
        Route("/api/v1/executions/{id}/report", report, methods=["GET"]),
    ]
