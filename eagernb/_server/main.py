"""``serve(...)``: run the control plane in this process until it is told to stop.

The listening socket is bound before anything else, so with ``port=0`` the chosen port is
known at once; once the server has started (its task engine connected), the URL is
printed and written to ``DATA_DIR/server.json`` (with the PID) for tools such as
``eagernb sandbox``. A server that cannot start raises ``ServerStartFailed`` with the
reason, having announced nothing. A lock file keeps a second server off the same data
directory, since each would mark the other's running executions failed.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO

__all__ = ["ServerAlreadyRunning", "ServerStartFailed", "serve"]

SERVER_FILE = "server.json"
DASK_IN_FLIGHT = 1000  # task executions handed to a Dask cluster at once, by default


class ServerAlreadyRunning(RuntimeError):
    """Another server holds the data directory."""


class ServerStartFailed(RuntimeError):
    """The server could not start its task engine (the message says why)."""


def serve(
    host: str = "127.0.0.1",
    port: int = 8700,
    data_dir: Path | str = "~/.eagernb/server",
    workers: int | None = None,
    auth: bool = False,
    engine: str = "embedded",
    scheduler: str | None = None,
) -> None:
    """Serve the API on ``host:port`` (0: any free port) with ``workers`` worker processes.

    ``auth``: require a bearer token on every endpoint but ``/health`` (clients are made
    with ``eagernb auth create-client``). ``engine="dask"``: tasks run on the Dask cluster
    whose scheduler is at ``scheduler``, at most ``workers`` (default 1000) at once.
    """
    import uvicorn

    from .. import __version__
    from .app import ServerConfig, create_app

    data = Path(data_dir).expanduser().resolve()
    data.mkdir(parents=True, exist_ok=True)
    with _exclusive(data), _bind(host, port) as sock:
        bound = sock.getsockname()[1]
        reach = "127.0.0.1" if host in ("0.0.0.0", "") else "[::1]" if host == "::" else host
        if ":" in reach and not reach.startswith("["):
            reach = f"[{reach}]"
        url = f"http://{reach}:{bound}"
        if engine == "dask" and not workers:
            workers = DASK_IN_FLIGHT
        config = ServerConfig(
            data, server_url=url, auth=auth, engine=engine, scheduler=scheduler,
            **({"workers": workers} if workers else {}),
        )  # fmt: skip
        failures: list[Exception] = []

        def ready() -> None:
            info = {"pid": os.getpid(), "url": url, "host": host, "port": bound}
            _write_json(data / SERVER_FILE, {**info, "data_dir": str(data)})
            print(
                f"eagernb {__version__} control plane listening on {url} "
                f"(data in {data}, {_engine_text(config.engine, config.workers, scheduler)}, "
                f"authentication {'on' if auth else 'off'})",
                flush=True,
            )
            if auth:
                _hint_clients(data)

        def failed(exc: Exception) -> None:
            failures.append(exc)
            server.should_exit = True

        app = create_app(config, ready=ready, failed=failed)
        server = _uvicorn_server()(
            uvicorn.Config(app, log_level="warning", access_log=False, timeout_graceful_shutdown=2)
        )
        # uvicorn shuts down gracefully on SIGINT/SIGTERM, then raises the signal again for
        # whoever handled it before: here, a quiet return instead of a KeyboardInterrupt
        # traceback or a death by SIGTERM that skips the clean-up below.
        previous = {sig: signal.signal(sig, _stopped) for sig in (signal.SIGINT, signal.SIGTERM)}
        try:
            server.run(sockets=[sock])
        except _Stopped:
            pass
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            with contextlib.suppress(OSError, ValueError):
                if json.loads((data / SERVER_FILE).read_text()).get("pid") == os.getpid():
                    (data / SERVER_FILE).unlink()
        if failures:
            raise ServerStartFailed(str(failures[0]))


def _uvicorn_server() -> type:
    import uvicorn

    class Server(uvicorn.Server):
        """uvicorn's server, which ends the running executions first when it stops, while
        the clients following them are still connected, so they hear how each ended."""

        async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
            state = getattr(self.config.app, "state", None)
            services = getattr(state, "services", None)
            if services is not None:
                await services.dispatcher.stop_work()
            await super().shutdown(sockets)

    return Server


def _engine_text(engine: str, workers: int, scheduler: str | None) -> str:
    if engine == "dask":
        return f"tasks on the Dask cluster at {scheduler}, up to {workers} at once"
    return f"{workers} workers"


def _hint_clients(data: Path) -> None:
    from .credentials import Credentials

    credentials = Credentials(data / "eagernb.db")
    try:
        count = credentials.active_clients()
    finally:
        credentials.close()
    if count == 0:
        print(
            "eagernb: authentication is on but no client exists yet, so no request can get a "
            f"token. Create one with: eagernb auth create-client --data-dir {data} --project NAME",
            file=sys.stderr,
            flush=True,
        )


class _Stopped(Exception):
    pass


def _stopped(signum: int, frame: object) -> None:
    raise _Stopped


@contextlib.contextmanager
def _bind(host: str, port: int) -> Iterator[socket.socket]:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP explicitly: asyncio turns Nagle off (TCP_NODELAY) only for sockets whose
    # proto says TCP, and with Nagle on, every keep-alive request waits ~40 ms for an ACK.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)  # clients that come before startup finishes wait in the backlog
        sock.set_inheritable(False)
        yield sock
    finally:
        sock.close()


@contextlib.contextmanager
def _exclusive(data: Path) -> Iterator[None]:
    try:
        import fcntl
    except ImportError:  # Windows: no lock
        yield
        return
    handle: IO[str] = open(data / "server.lock", "a+")  # noqa: SIM115 (held for the server's life)
    try:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            owner = _read_json(data / SERVER_FILE).get("pid", "unknown")
            raise ServerAlreadyRunning(
                f"Another eagernb server (pid {owner}) is using {data}. Stop it, or give this "
                "one another --data-dir."
            ) from None
        yield
    finally:
        handle.close()


def _write_json(path: Path, value: dict[str, object]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(value, indent=2) + "\n")
    os.replace(tmp, path)


def _read_json(path: Path) -> dict[str, object]:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}
