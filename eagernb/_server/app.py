"""The control plane as a Starlette app: ``create_app(config)``.

Everything runs on one event loop: the SQLite store, the dispatcher and the endpoints.
The lifespan opens the store and blob directory, starts the worker pool, settles what a
previous server left unfinished, and on shutdown stops the workers.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount

from .api import Services, routes
from .blobs import BlobStore
from .credentials import TOKEN_LIFETIME, Credentials
from .dispatch import Dispatcher, Lane
from .engine import WorkerEngine
from .errors import RequestError
from .hub import Hub
from .pool import WorkerPool
from .store import Store
from .ui import ui_routes

__all__ = ["ServerConfig", "create_app"]

_log = logging.getLogger("eagernb.server")


def _default_workers() -> int:
    return max(2, os.cpu_count() or 2)


@dataclass(frozen=True)
class ServerConfig:
    """How one control plane runs.

    ``data_dir`` holds ``eagernb.db`` and ``blobs/``. ``workers``: worker processes for
    tasks (and tasks running at once). ``workflow_bodies``: how many eager or static
    workflow bodies may run at once, each in a process of its own, started as needed.
    ``server_url``: where workers reach this server, for workflow bodies that launch
    children. ``max_blob_bytes``: the largest upload accepted. ``auth``: require bearer
    tokens (see ``auth``); ``token_lifetime``: how long a client's token lasts, in seconds.
    ``engine``: where tasks run, ``"embedded"`` (``workers`` processes) or ``"dask"`` (the
    cluster whose scheduler is at ``scheduler``; ``workers`` then caps how many task
    executions are handed to it at once, the rest waiting ``queued`` here).
    """

    data_dir: Path
    workers: int = field(default_factory=_default_workers)
    workflow_bodies: int = 32
    server_url: str = "http://127.0.0.1:8700"
    max_blob_bytes: int = 256 * 2**20
    auth: bool = False
    token_lifetime: float = TOKEN_LIFETIME
    engine: str = "embedded"
    scheduler: str | None = None


def create_app(
    config: ServerConfig,
    engine: WorkerEngine | None = None,
    *,
    ready: Callable[[], None] | None = None,
    failed: Callable[[Exception], None] | None = None,
) -> Starlette:
    """The ASGI app; ``engine`` runs tasks (default: the one ``config.engine`` names).

    Workflow bodies run in an elastic pool of worker processes of their own. ``ready`` is
    called once the app has started and takes requests. ``failed``, if given, is called
    instead of raising when the task engine cannot start (a Dask scheduler out of reach):
    the app then starts with no services, and its server should stop at once.
    """

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        config.data_dir.mkdir(parents=True, exist_ok=True)
        try:
            used = engine if engine is not None else await _task_engine(config)
        except (OSError, ValueError) as exc:
            if failed is None:
                raise
            failed(exc)
            yield
            return
        store = Store(config.data_dir / "eagernb.db")
        credentials = Credentials(config.data_dir / "eagernb.db") if config.auth else None
        if credentials is not None:
            credentials.revoke_job_tokens()  # a previous server's; their attempts are over
        blobs = BlobStore(config.data_dir / "blobs", store)
        hub = Hub()
        bodies = WorkerPool(1, elastic=True)
        await bodies.start()
        dispatcher = Dispatcher(
            store, blobs, hub, Lane(used, config.workers),
            Lane(bodies, config.workflow_bodies), server_url=config.server_url,
            credentials=credentials,
        )  # fmt: skip
        await dispatcher.start()
        app.state.services = Services(
            store, blobs, hub, dispatcher, used, config.workers, config.max_blob_bytes,
            credentials, config.token_lifetime,
        )  # fmt: skip
        if ready is not None:
            ready()
        try:
            yield
        finally:
            await dispatcher.aclose()
            store.close()
            if credentials is not None:
                credentials.close()

    return Starlette(
        routes=[*ui_routes(), Mount("/api/v1", routes=routes())],
        lifespan=lifespan,
        exception_handlers={
            RequestError: _request_error,
            HTTPException: _http_error,
            Exception: _server_error,
        },
    )


async def _task_engine(config: ServerConfig) -> WorkerEngine:
    if config.engine == "dask":
        from .dask_engine import DaskEngine

        if not config.scheduler:
            raise ValueError("The Dask engine needs the scheduler's address (--scheduler).")
        dask = DaskEngine(config.scheduler)
        await dask.start()
        return dask
    if config.engine != "embedded":
        raise ValueError(f"Unknown engine {config.engine!r}; use 'embedded' or 'dask'.")
    pool = WorkerPool(config.workers)
    await pool.start()
    return pool


async def _request_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestError)
    return JSONResponse({"error": exc.message}, status_code=exc.status, headers=exc.headers)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    where = f"{request.method} {request.url.path}"
    if exc.status_code == 404:
        message = (
            f"There is no endpoint {where} on this eagernb server. Check the URL; the API lives "
            "under /api/v1 (for example GET /api/v1/health)."
        )
    elif exc.status_code == 405:
        allowed = (exc.headers or {}).get("Allow", "")
        message = f"{where} is not supported; this URL accepts {allowed or 'other methods'}."
    else:
        message = f"{where} failed: {exc.detail}."
    return JSONResponse({"error": message}, status_code=exc.status_code, headers=exc.headers)


async def _server_error(request: Request, exc: Exception) -> Response:
    _log.exception("eagernb: %s %s failed", request.method, request.url.path, exc_info=exc)
    message = (
        f"The server failed on {request.method} {request.url.path} ({exc!r}). This is a bug in "
        "eagernb; the server log has the traceback."
    )
    return JSONResponse({"error": message}, status_code=500)
