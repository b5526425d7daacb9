"""The HTTP API's endpoints (mounted under ``/api/v1`` by ``app.create_app``).

With authentication on, every endpoint but ``/health`` and ``/token`` is wrapped by
``_guarded``, which checks the bearer token; endpoints then ``_allow`` each project they
read or change (blobs are named by content and shared: any valid token reads them).
"""

from __future__ import annotations

import asyncio
import functools
import os
import platform
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from time import time
from typing import Any

import cloudpickle
from starlette.requests import ClientDisconnect, Request
from starlette.responses import FileResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from .._engines.frames import FrameBuffer, decode
from .._engines.preview import PREVIEW_CHARS
from .auth import allow, authenticate, issue_token
from .blobs import BlobStore
from .channels import Channels
from .credentials import TOKEN_LIFETIME, Credentials, Grant
from .dispatch import Dispatcher
from .engine import WorkerEngine
from .errors import RequestError
from .hub import Hub, event_lines
from .parse import json_body, number, query_number, sha_field, text_field
from .pool import WorkerPool
from .store import FINAL, Store

__all__ = ["Services", "routes"]

_KINDS = ("task", "workflow", "eager")
_MAX_WAIT = 300.0
_INLINE = 1 << 20  # larger blobs are streamed from their file
_CHANNEL = re.compile(r"^[0-9a-f]{16,64}$")
_MAX_PREVIEWS = 256  # inputs previewed in one submission


@dataclass
class Services:
    """What the endpoints use; built by the app's lifespan."""

    store: Store
    blobs: BlobStore
    hub: Hub
    dispatcher: Dispatcher
    engine: WorkerEngine
    workers: int
    max_blob_bytes: int
    credentials: Credentials | None = None  # None: no authentication
    token_lifetime: float = TOKEN_LIFETIME


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def _grant(request: Request) -> Grant | None:
    grant: Grant | None = getattr(request.state, "grant", None)
    return grant


def _allow(request: Request, project: str) -> None:
    allow(_grant(request), project)


def _visible(request: Request, project: str | None) -> frozenset[str] | None:
    """The projects a listing may show: ``project`` if given (and allowed), else the token's."""
    if project is not None:
        _allow(request, project)
        return None
    grant = _grant(request)
    return None if grant is None else grant.projects


Endpoint = Callable[[Request], Awaitable[Response]]


def _guarded(endpoint: Endpoint) -> Endpoint:
    @functools.wraps(endpoint)
    async def guarded(request: Request) -> Response:
        request.state.grant = authenticate(request, _services(request).credentials)
        return await endpoint(request)

    return guarded


def _execution(request: Request, execution_id: str) -> dict[str, Any]:
    execution = _services(request).store.execution(execution_id)
    if execution is None:
        raise RequestError(
            404,
            f"No execution has id {execution_id!r} on this server. Check the id; "
            "GET /api/v1/executions lists recent executions.",
        )
    _allow(request, execution["project"])
    return execution


async def token(request: Request) -> Response:
    services = _services(request)
    return await issue_token(request, services.credentials, services.token_lifetime)


# -- health and blobs --------------------------------------------------------------------------


async def health(request: Request) -> Response:
    from .. import __version__

    services = _services(request)
    body: dict[str, Any] = {
        "status": "ok",
        "version": __version__,
        "python": platform.python_version(),
        "cloudpickle": cloudpickle.__version__,
        "workers": services.workers,
        "pid": os.getpid(),
    }
    if isinstance(services.engine, WorkerPool):
        body["engine"] = "embedded"
        body["worker_pids"] = services.engine.pids
    else:
        address = getattr(services.engine, "address", None)
        body["engine"] = "dask" if address else type(services.engine).__name__
        if address:
            body["scheduler"] = address
    return JSONResponse(body)


async def blob(request: Request) -> Response:
    services = _services(request)
    sha = sha_field(request.path_params["sha"], "The blob name in the URL")
    if request.method == "PUT":
        return await _put_blob(request, services, sha)
    if not services.blobs.has(sha):
        if request.method == "HEAD":
            return Response(status_code=404)
        raise RequestError(404, f"No blob {sha} is stored here. Upload it first with PUT.")
    if request.method == "HEAD":
        return Response(status_code=200)
    if services.blobs.size(sha) > _INLINE:
        return FileResponse(services.blobs.path(sha), media_type="application/octet-stream")
    return Response(services.blobs.read(sha), media_type="application/octet-stream")


async def _put_blob(request: Request, services: Services, sha: str) -> Response:
    limit = services.max_blob_bytes
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestError(413, _too_big(int(declared), limit))
    writer = services.blobs.writer()
    try:
        async for chunk in request.stream():
            writer.write(chunk)
            if writer.size > limit:
                raise RequestError(413, _too_big(writer.size, limit, at_least=True))
        if writer.sha256 != sha:
            raise RequestError(
                400,
                f"The body's sha256 is {writer.sha256}, not {sha} as the URL says. Upload the "
                "exact bytes whose sha256 names the blob.",
            )
    except BaseException:
        writer.discard()
        raise
    created = writer.commit(sha)
    return JSONResponse({"sha256": sha, "size": writer.size}, status_code=201 if created else 200)


def _too_big(size: int, limit: int, *, at_least: bool = False) -> str:
    what = f"at least {size}" if at_least else str(size)
    return (
        f"The blob is {what} bytes, over this server's limit of {limit} bytes"
        f"{f' ({limit / 2**20:g} MiB)' if limit >= 2**20 else ''}. Pass smaller values, or keep "
        "large data in files or object storage and pass their location."
    )


# -- entities ----------------------------------------------------------------------------------


async def entities(request: Request) -> Response:
    services = _services(request)
    if request.method == "GET":
        q = request.query_params
        limit = int(query_number(request, "limit", 100, low=1))
        projects = _visible(request, q.get("project"))
        rows = services.store.entities(
            limit, projects, project=q.get("project"), domain=q.get("domain"), name=q.get("name")
        )
        return JSONResponse(rows)
    body = await json_body(request)
    entity = {key: text_field(body, key) for key in ("project", "domain", "name", "version")}
    _allow(request, entity["project"])
    kind = body.get("kind")
    if kind not in _KINDS:
        raise RequestError(400, f"Field 'kind' must be one of {', '.join(_KINDS)}, not {kind!r}.")
    interface = body.get("interface") or {}
    inputs = interface.get("inputs", {}) if isinstance(interface, dict) else None
    if not isinstance(inputs, dict) or not all(isinstance(v, str) for v in inputs.values()):
        raise RequestError(
            400,
            'Field \'interface\' must look like {"inputs": {"x": "int"}, "output": "int"}, '
            f"not {interface!r}.",
        )
    sha = sha_field(body.get("payload_sha"), "Field 'payload_sha'")
    if not services.blobs.has(sha):
        raise RequestError(
            400,
            f"The code payload {sha} has not been uploaded. PUT it to /api/v1/blobs/{sha} first, "
            "then register the entity.",
        )
    entity.update(kind=kind, payload_sha=sha, interface=interface)
    stored, created = services.store.add_entity(entity, time())
    if not created and (stored["payload_sha"], stored["kind"]) != (sha, kind):
        raise RequestError(
            409,
            f"Entity {entity['project']}/{entity['domain']}/{entity['name']} version "
            f"{entity['version']!r} is already registered with different code. Register the new "
            "code under a new version.",
        )
    return JSONResponse({**stored, "created": created}, status_code=201 if created else 200)


async def entity(request: Request) -> Response:
    services = _services(request)
    p = request.path_params
    _allow(request, p["project"])
    version = p.get("version")
    found = services.store.entity(p["project"], p["domain"], p["name"], version)
    if found is None:
        raise RequestError(404, _no_entity(services, p["project"], p["domain"], p["name"], version))
    return JSONResponse(found)


def _no_entity(
    services: Services, project: str, domain: str, name: str, version: str | None
) -> str:
    where = f"{project}/{domain}/{name}"
    if version is None:
        return (
            f"Nothing named {where} is registered. Register it first (POST /api/v1/entities), "
            "or check the project, domain and name."
        )
    known = [
        e["version"] for e in services.store.entities(5, project=project, domain=domain, name=name)
    ]
    listed = f"; registered versions, newest first: {', '.join(known)}" if known else ""
    return f"Version {version!r} of {where} is not registered{listed}. Check the version."


# -- executions --------------------------------------------------------------------------------


async def executions(request: Request) -> Response:
    services = _services(request)
    if request.method == "GET":
        q = request.query_params
        limit = int(query_number(request, "limit", 100, low=1))
        keys = ("project", "domain", "name", "parent_id", "root_id", "status")
        projects = _visible(request, q.get("project"))
        rows = services.store.executions(limit, projects, **{k: q.get(k) for k in keys})
        return JSONResponse(rows)
    body = await json_body(request)
    return JSONResponse(_submit(request, services, body, None), status_code=201)


def _submit(
    request: Request, services: Services, body: dict[str, Any], inputs: bytes | None
) -> dict[str, Any]:
    """Start the execution ``body`` describes; ``inputs``: its inputs' bytes, sent along."""
    project, domain, name = (text_field(body, key) for key in ("project", "domain", "name"))
    _allow(request, project)
    version = text_field(body, "version", required=False)
    parent_id = text_field(body, "parent_id", required=False)
    parent = None if parent_id is None else services.store.execution(parent_id)
    if parent is not None:
        _allow(request, parent["project"])
    retries = int(number(body.get("retries", 0) or 0, "Field 'retries'", low=0, integer=True))
    timeout = body.get("timeout")
    if timeout is not None:
        timeout = float(number(timeout, "Field 'timeout'", low=0))
        if timeout <= 0:
            raise RequestError(400, "Field 'timeout' must be a positive number of seconds or null.")
    key = body.get("key")
    if key is not None and not (isinstance(key, str) and 8 <= len(key) <= 64):
        raise RequestError(400, f"Field 'key' must be a string of 8 to 64 characters, not {key!r}.")
    notify = body.get("notify")
    if notify is not None and not (isinstance(notify, str) and _CHANNEL.match(notify)):
        raise RequestError(
            400, f"Field 'notify' must name a channel (16 to 64 hex digits), not {notify!r}."
        )
    inputs_preview = _previews(body.get("inputs_preview"))
    found = services.store.entity(project, domain, name, version)
    if found is None:
        raise RequestError(404, _no_entity(services, project, domain, name, version))
    if inputs is not None:
        if len(inputs) > services.max_blob_bytes:
            raise RequestError(413, _too_big(len(inputs), services.max_blob_bytes))
        inputs_sha = services.blobs.put(inputs)
    else:
        inputs_sha = sha_field(body.get("inputs_sha"), "Field 'inputs_sha'")
        if not services.blobs.has(inputs_sha):
            raise RequestError(
                400,
                f"The inputs {inputs_sha} have not been uploaded. PUT them to "
                f"/api/v1/blobs/{inputs_sha} first, then start the execution.",
            )
    return services.dispatcher.submit(
        found, inputs_sha=inputs_sha, parent_id=parent_id, retries=retries, timeout=timeout,
        inputs=inputs, notify=notify, key=key, inputs_preview=inputs_preview,
    )  # fmt: skip


def _previews(value: Any) -> dict[str, str] | None:
    """Field 'inputs_preview': ``{name: short text}`` the client made of the inputs (the
    server never unpickles them); each text is cut to ``PREVIEW_CHARS``."""
    if value is None:
        return None
    if (
        not isinstance(value, dict)
        or len(value) > _MAX_PREVIEWS
        or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items())
    ):
        raise RequestError(
            400,
            "Field 'inputs_preview' must map input names to short texts (at most "
            f"{_MAX_PREVIEWS} of them), or be left out.",
        )
    return {k[:PREVIEW_CHARS]: v[:PREVIEW_CHARS] for k, v in value.items()}


async def submit_batch(request: Request) -> Response:
    """Start many executions in one request: a frame whose header lists them
    (``{"executions": [{...as for POST /executions..., "inputs": i}]}``) and whose parts are
    their pickled inputs (item ``i``; or ``inputs_sha`` of an uploaded blob).

    Each item succeeds or fails on its own: ``{"results": [{"execution": {...}} or
    {"status": 4xx, "error": "..."}]}``, in the order sent.
    """
    services = _services(request)
    declared = request.headers.get("content-length")
    limit = services.max_blob_bytes + (1 << 20)
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestError(413, _too_big(int(declared), limit))
    data = await request.body()
    try:
        (header, parts), *rest = decode(data)
        items = header["executions"]
        if rest or not isinstance(items, list):
            raise ValueError("expected one frame listing the executions")
    except (ValueError, KeyError, TypeError) as exc:
        raise RequestError(
            400,
            f"The body is not a batch of executions ({exc}): send one frame whose header is "
            '{"executions": [...]} and whose parts are the inputs.',
        ) from None
    results: list[dict[str, Any]] = []
    with services.store.transaction():  # one commit for the batch
        for item in items:
            results.append(_submit_item(request, services, item, parts))
    return JSONResponse({"results": results}, status_code=200)


def _submit_item(
    request: Request, services: Services, item: Any, parts: list[bytes | None]
) -> dict[str, Any]:
    """One item of a batch: ``{"execution": ...}``, or ``{"status", "error"}`` if refused."""
    try:
        if not isinstance(item, dict):
            raise RequestError(400, f"Each execution must be a JSON object, not {item!r}.")
        index = item.get("inputs")
        inputs = None
        if index is not None:
            if not isinstance(index, int) or not 0 <= index < len(parts) or parts[index] is None:
                raise RequestError(400, f"Field 'inputs' must index a part, not {index!r}.")
            inputs = parts[index]
        return {"execution": _submit(request, services, item, inputs)}
    except RequestError as exc:
        return {"status": exc.status, "error": exc.message}


async def execution(request: Request) -> Response:
    return JSONResponse(_execution(request, request.path_params["id"]))


async def children(request: Request) -> Response:
    services = _services(request)
    execution_id = _execution(request, request.path_params["id"])["id"]
    return JSONResponse(services.store.children(execution_id))


async def wait(request: Request) -> Response:
    services = _services(request)
    execution_id = request.path_params["id"]
    timeout = min(query_number(request, "timeout", 30.0, low=0), _MAX_WAIT)
    if _execution(request, execution_id)["status"] not in FINAL:
        await services.hub.wait_final(execution_id, timeout)
    return JSONResponse(_execution(request, execution_id))


async def cancel(request: Request) -> Response:
    services = _services(request)
    execution_id = _execution(request, request.path_params["id"])["id"]
    reason = f"Execution {execution_id} was cancelled by a request to the server."
    await asyncio.shield(services.dispatcher.cancel(execution_id, reason))
    return JSONResponse(_execution(request, execution_id))


async def uplink(request: Request) -> Response:
    """Submissions streamed up as frames (each like a ``POST /submit`` body, plus a
    ``"tag"``) for as long as the client keeps the request open; each frame is answered on
    the channel named in the URL with ``{"type": "submitted", "tag", "results"}``."""
    services = _services(request)
    channel_id = request.path_params["id"]
    if not _CHANNEL.match(channel_id):
        raise RequestError(400, f"A channel is named by 16 to 64 hex digits, not {channel_id!r}.")
    channels = services.dispatcher.channels
    channels.open(channel_id)
    limit = services.max_blob_bytes + (1 << 20)
    buffer = FrameBuffer()
    try:
        with channels.uplink():
            async for chunk in request.stream():
                _uplink_chunk(request, services, channels, channel_id, buffer, chunk, limit)
    except ClientDisconnect:
        pass  # the client closed its uplink: nothing was left half-submitted
    except asyncio.CancelledError:
        if not channels.closed:
            raise
        # The server is stopping: what came is submitted, the client sends the rest (if
        # any) by request, to the next server.
        task = asyncio.current_task()
        if task is not None:
            task.uncancel()
        return Response(status_code=503)
    return Response(status_code=204)


def _uplink_chunk(
    request: Request,
    services: Services,
    channels: Channels,
    channel_id: str,
    buffer: FrameBuffer,
    chunk: bytes,
    limit: int,
) -> None:
    """Submit the batches ``chunk`` completes; their results go out on the channel."""
    for header, parts in buffer.feed(chunk):
        items = header.get("executions")
        if not isinstance(items, list):
            raise RequestError(400, 'Each frame must list {"executions": [...]}.')
        with services.store.transaction():  # one commit for the batch
            results = [_submit_item(request, services, item, parts) for item in items]
        reply = {"type": "submitted", "tag": header.get("tag"), "results": results}
        channels.send(channel_id, reply)
    if buffer.pending > limit:
        raise RequestError(413, _too_big(buffer.pending, limit, at_least=True))


async def outputs(request: Request) -> Response:
    """What the execution and its descendants printed, in order."""
    services = _services(request)
    execution = _execution(request, request.path_params["id"])
    found = services.store.outputs(execution["root_id"])
    if execution["id"] != execution["root_id"]:
        members = services.store.subtree(execution["id"])
        found = [item for item in found if item["execution_id"] in members]
    return JSONResponse(found)


async def channel(request: Request) -> Response:
    """The notification channel named in the URL, as a stream of frames (see ``channels``)."""
    services = _services(request)
    channel_id = request.path_params["id"]
    if not _CHANNEL.match(channel_id):
        raise RequestError(400, f"A channel is named by 16 to 64 hex digits, not {channel_id!r}.")
    try:
        frames = services.dispatcher.channels.stream(channel_id)
        first = await anext(frames)
    except ValueError as exc:
        raise RequestError(409, f"{exc} Open each channel once.") from None

    async def body() -> AsyncIterator[bytes]:
        yield first
        async for frame in frames:
            yield frame

    return StreamingResponse(body(), media_type="application/octet-stream")


async def events(request: Request) -> Response:
    services = _services(request)
    execution = _execution(request, request.path_params["id"])
    after = int(query_number(request, "after", 0, low=0))
    return StreamingResponse(
        event_lines(services.store, services.hub, execution, after),
        media_type="application/x-ndjson",
    )


def routes() -> list[Route]:
    guarded = [
        ("/blobs/{sha}", blob, ["HEAD", "GET", "PUT"]),
        ("/entities", entities, ["GET", "POST"]),
        ("/entities/{project}/{domain}/{name}", entity, ["GET"]),
        ("/entities/{project}/{domain}/{name}/{version}", entity, ["GET"]),
        ("/executions", executions, ["GET", "POST"]),
        ("/submit", submit_batch, ["POST"]),
        ("/uplink/{id}", uplink, ["POST"]),
        ("/channels/{id}", channel, ["GET"]),
        ("/executions/{id}/outputs", outputs, ["GET"]),
        ("/executions/{id}", execution, ["GET"]),
        ("/executions/{id}/children", children, ["GET"]),
        ("/executions/{id}/wait", wait, ["GET"]),
        ("/executions/{id}/events", events, ["GET"]),
        ("/executions/{id}/cancel", cancel, ["POST"]),
    ]
    return [
        Route("/health", health, methods=["GET"]),
        Route("/token", token, methods=["POST"]),
        *(Route(path, _guarded(endpoint), methods=methods) for path, endpoint, methods in guarded),
    ]
