"""A real control plane for the server tests: a server process on 127.0.0.1, real workers.

``server`` is shared by a module's tests; tests that kill or restart a server start their
own with ``start_server``. Every server is stopped by its PID, even when a test fails.
``Server(..., auth=True)`` runs with ``--auth``; its ``http`` client then carries a token of
a client allowed on every project, made with ``eagernb auth create-client`` like any other.
"""

from __future__ import annotations

import os
import pickle
import select
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx
import pytest

from eagernb._core.entity import Entity
from eagernb._core.typecheck import describe
from eagernb._engines.payload import Payload, dump_entity, dump_value

ROOT = Path(__file__).resolve().parents[2]
FINAL = {"succeeded", "failed", "cancelled"}


def _env(extra: dict[str, str] | None = None) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
        **(extra or {}),
    }


def create_client(data_dir: Path, *projects: str, name: str | None = None) -> tuple[str, str]:
    """``eagernb auth create-client`` in a subprocess; returns (client_id, client_secret)."""
    command = [
        sys.executable,
        "-m",
        "eagernb",
        "auth",
        "create-client",
        "--data-dir",
        str(data_dir),
    ]
    for project in projects:
        command += ["--project", project]
    if name is not None:
        command += ["--name", name]
    done = subprocess.run(command, capture_output=True, text=True, env=_env(), timeout=60)
    assert done.returncode == 0, done.stderr
    printed = dict(line.split(":", 1) for line in done.stdout.splitlines() if ":" in line)
    return printed["client_id"].strip(), printed["client_secret"].strip()


class Server:
    """One ``python -m eagernb server`` process and an httpx client for its API.

    ``auth``: start it with ``--auth``. ``env``: more environment variables for it (and so
    for its workers). ``args``: more command-line options (``["--engine", "dask", ...]``).
    """

    def __init__(
        self,
        data_dir: Path,
        workers: int = 2,
        *,
        auth: bool = False,
        env: dict[str, str] | None = None,
        args: Sequence[str] = (),
    ) -> None:
        self.data_dir = data_dir
        self.log = data_dir.parent / f"{data_dir.name}.log"
        env = _env(env)
        command = [
            sys.executable, "-m", "eagernb", "server", "--port", "0",
            "--data-dir", str(data_dir), "--workers", str(workers),
            *(["--auth"] if auth else []), *args,
        ]  # fmt: skip
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=log, env=env, text=True
            )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()  # printed once the socket listens
        if " listening on " not in line:
            self.kill()
            raise RuntimeError(f"the server did not start: {line!r}\n{self.log.read_text()}")
        self.url = line.split(" listening on ")[1].split()[0]
        self.pid = self.proc.pid
        self.http = httpx.Client(base_url=self.url + "/api/v1", timeout=60)
        health = self.http.get("/health")  # waits in the backlog until the app is ready
        assert health.status_code == 200, health.text
        if auth:
            token = self.token(*create_client(data_dir, "*", name="tests"))
            self.http.headers["Authorization"] = f"Bearer {token}"

    # -- lifecycle --------------------------------------------------------------------------

    def stop(self) -> None:
        self.http.close()
        if self.proc.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
        self._close_pipes()

    def kill(self) -> None:
        self.http.close()
        if self.proc.poll() is None:
            os.kill(self.pid, signal.SIGKILL)
        self.proc.wait(timeout=15)
        self._close_pipes()

    def _close_pipes(self) -> None:
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    # -- the API ----------------------------------------------------------------------------

    def health(self) -> dict[str, Any]:
        return self.ok(self.http.get("/health"))

    def token(self, client_id: str, client_secret: str) -> str:
        """A bearer token for these client credentials, from ``POST /token``."""
        form = {
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": client_secret,
        }
        response = httpx.post(self.url + "/api/v1/token", data=form, timeout=60)
        return str(self.ok(response)["access_token"])

    @staticmethod
    def ok(response: httpx.Response) -> Any:
        assert response.is_success, f"{response.status_code}: {response.text}"
        return response.json()

    def put(self, data: bytes) -> str:
        payload = Payload.of(data)
        response = self.http.put(f"/blobs/{payload.sha256}", content=data)
        assert response.status_code in (200, 201), response.text
        return payload.sha256

    def register(self, entity: Entity, version: str | None = None, **where: str) -> dict[str, Any]:
        payload = dump_entity(entity)
        self.put(payload.data)
        body = {
            "project": where.get("project", "tests"),
            "domain": where.get("domain", "development"),
            "name": entity.name,
            "kind": entity.kind.value,
            "version": version or payload.sha256[:16],
            "payload_sha": payload.sha256,
            "interface": {
                "inputs": {k: describe(v) for k, v in entity.interface.inputs.items()},
                "output": describe(entity.interface.output),
                **({"resources": entity.resources} if getattr(entity, "resources", None) else {}),
            },
        }
        response = self.http.post("/entities", json=body)
        assert response.status_code in (200, 201), response.text
        return dict(response.json())

    def start(
        self, entity: Entity, /, *, retries: int = 0, timeout: float | None = None,
        parent_id: str | None = None, **inputs: Any,
    ) -> dict[str, Any]:  # fmt: skip
        registered = self.register(entity)
        body = {
            "project": registered["project"], "domain": registered["domain"],
            "name": entity.name, "version": registered["version"],
            "inputs_sha": self.put(dump_value(inputs)), "parent_id": parent_id,
            "retries": retries, "timeout": timeout,
        }  # fmt: skip
        response = self.http.post("/executions", json=body)
        assert response.status_code == 201, response.text
        return dict(response.json())

    def wait(self, execution_id: str) -> dict[str, Any]:
        """The execution once it is final (long polls; the test timeout bounds it)."""
        while True:
            execution = self.ok(self.http.get(f"/executions/{execution_id}/wait?timeout=30"))
            if execution["status"] in FINAL:
                return dict(execution)

    def run(self, entity: Entity, /, **kwargs: Any) -> dict[str, Any]:
        return self.wait(self.start(entity, **kwargs)["id"])

    def blob(self, sha: str) -> bytes:
        response = self.http.get(f"/blobs/{sha}")
        assert response.status_code == 200, response.text
        return response.content

    def output(self, execution: dict[str, Any]) -> Any:
        assert execution["status"] == "succeeded", execution.get("error") or execution
        return pickle.loads(self.blob(execution["output_sha"]))

    def events(self, execution_id: str, after: int = 0) -> list[dict[str, Any]]:
        """Every line of the event stream, read until the server ends it."""
        import json

        with self.http.stream(
            "GET", f"/executions/{execution_id}/events?after={after}"
        ) as response:
            assert response.status_code == 200
            assert response.headers["content-type"].startswith("application/x-ndjson")
            return [json.loads(line) for line in response.iter_lines() if line]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(tmp_path_factory.mktemp("server") / "data")
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[Any]:
    """Start servers on demand (``start_server(data_dir)``); all are stopped at the end."""
    started: list[Server] = []

    def start(data_dir: Path | None = None, workers: int = 2, **options: Any) -> Server:
        started.append(Server(data_dir or tmp_path / "data", workers, **options))
        return started[-1]

    try:
        yield start
    finally:
        for each in started:
            each.stop()


def wait_exit(pid: int, timeout: float = 60.0) -> bool:
    """Block until process ``pid`` (not necessarily our child) has exited; False on timeout."""
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        readable, _, _ = select.select([fd], [], [], timeout)
        return bool(readable)
    finally:
        os.close(fd)


def read_pid(fifo: Path) -> int:
    """Block until a task opens ``fifo`` and writes its worker's PID (no polling)."""
    with open(fifo) as pipe:
        return int(pipe.read())


def occupy_workers(server: Server, where: Path, count: int = 2) -> list[tuple[str, int]]:
    """Start ``count`` long tasks and return (execution id, worker PID) once each runs."""
    from .tasks import announce

    running = []
    for i in range(count):
        fifo = where / f"busy-{i}.fifo"
        os.mkfifo(fifo)
        execution = server.start(announce, fifo=str(fifo), seconds=120)
        running.append((execution["id"], read_pid(fifo)))
        fifo.unlink()
    return running


def release_workers(server: Server, running: list[tuple[str, int]]) -> None:
    for execution_id, _ in running:
        assert server.ok(server.http.post(f"/executions/{execution_id}/cancel"))["status"] == (
            "cancelled"
        )


@pytest.fixture
def fifo(tmp_path: Path) -> Path:
    path = tmp_path / "pid.fifo"
    os.mkfifo(path)
    return path
