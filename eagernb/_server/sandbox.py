"""``eagernb sandbox``: a control plane for this machine, running in the background.

``start`` launches ``python -m eagernb server`` as a detached process (its output goes to
``DATA_DIR/server.log``), waits until ``/api/v1/health`` answers, and writes
``DATA_DIR/sandbox.json`` with its PID and URL, where clients find it. ``stop`` ends that
PID and no other; ``status`` says whether it answers. No authentication: the server binds
127.0.0.1 only.

``start(engine="dask")`` first starts a local Dask cluster, a scheduler and ``workers``
worker processes (one thread each), all bound to 127.0.0.1 with their output in
``DATA_DIR/dask.log``, and the server sends its tasks there; their PIDs are kept in
``sandbox.json`` and ``stop`` ends them too.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from .main import SERVER_FILE

__all__ = [
    "DEFAULT_DIR",
    "Sandbox",
    "SandboxError",
    "missing_server_packages",
    "start",
    "status",
    "stop",
]

DEFAULT_DIR = Path("~/.eagernb/sandbox")
SANDBOX_FILE = "sandbox.json"


class SandboxError(RuntimeError):
    """The sandbox could not be started or stopped; the message says why and what to do."""


@dataclass(frozen=True)
class Sandbox:
    pid: int
    url: str
    data_dir: Path
    scheduler: str | None = None  # the local Dask cluster's, with engine="dask"

    @property
    def log(self) -> Path:
        return self.data_dir / "server.log"


def missing_server_packages() -> list[str]:
    """The packages of eagernb's ``server`` extra that are not installed here."""
    import importlib.util

    return [name for name in ("starlette", "uvicorn") if importlib.util.find_spec(name) is None]


def status(data_dir: Path = DEFAULT_DIR) -> Sandbox | None:
    """The running sandbox in ``data_dir``, or None if none answers there."""
    data = data_dir.expanduser().resolve()
    info = _read(data / SANDBOX_FILE)
    pid, url = info.get("pid"), info.get("url")
    if not isinstance(pid, int) or not isinstance(url, str):
        return None
    if _health_pid(url) != pid:
        return None
    dask = info.get("dask")
    scheduler = dask.get("address") if isinstance(dask, dict) else None
    return Sandbox(pid, url, data, scheduler if isinstance(scheduler, str) else None)


def start(
    data_dir: Path = DEFAULT_DIR,
    port: int = 0,
    workers: int = 2,
    timeout: float = 30.0,
    engine: str | None = None,
) -> Sandbox:
    """Start the sandbox server (or return the one already running) once it answers.

    ``engine="dask"``: start a local Dask cluster with ``workers`` workers first. None:
    whichever engine a running sandbox has, else the embedded one.
    """
    missing = missing_server_packages()
    if missing:
        raise SandboxError(
            f"The sandbox runs eagernb's server, which needs {', '.join(missing)}: install "
            "them with: pip install 'eagernb[server]'"
        )
    running = status(data_dir)
    if running is not None:
        has = "dask" if running.scheduler else "embedded"
        if engine is not None and has != engine:
            raise SandboxError(
                f"A sandbox with the {has} engine is already running at {running.url}. Stop "
                f"it first (`eagernb sandbox stop`) to start one with the {engine} engine, or "
                "use the one running."
            )
        return running
    engine = engine or "embedded"
    data = data_dir.expanduser().resolve()
    data.mkdir(parents=True, exist_ok=True)
    _stop_dask(data)  # left over from a sandbox that died
    for name in (SANDBOX_FILE, SERVER_FILE):
        with contextlib.suppress(FileNotFoundError):
            (data / name).unlink()
    command = [
        sys.executable, "-m", "eagernb", "server", "--host", "127.0.0.1", "--port", str(port),
        "--data-dir", str(data),
    ]  # fmt: skip
    dask: dict[str, object] | None = None
    if engine == "dask":
        dask = _start_dask(data, workers, timeout)
        command += ["--engine", "dask", "--scheduler", str(dask["address"])]
    else:
        command += ["--workers", str(workers)]
    with open(data / "server.log", "ab") as log:
        proc = subprocess.Popen(
            command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,  # outlives this command and its terminal
        )  # fmt: skip
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            _stop_dask(data)
            raise SandboxError(
                f"The sandbox server exited with code {proc.returncode} while starting. Its "
                f"output is in {data / 'server.log'}:\n{_tail(data / 'server.log')}"
            )
        url = _read(data / SERVER_FILE).get("url")
        if isinstance(url, str) and _health_pid(url) == proc.pid:
            address = dask["address"] if dask else None
            sandbox = Sandbox(proc.pid, url, data, str(address) if address else None)
            info = {"pid": proc.pid, "url": url, "data_dir": str(data), "log": str(sandbox.log)}
            if dask:
                info["dask"] = dask
            (data / SANDBOX_FILE).write_text(json.dumps(info, indent=2) + "\n")
            return sandbox
        time.sleep(0.05)
    _end(proc.pid, 5.0)
    _stop_dask(data)
    raise SandboxError(
        f"The sandbox server did not answer within {timeout:g} s and was stopped. Its output "
        f"is in {data / 'server.log'}:\n{_tail(data / 'server.log')}"
    )


def stop(data_dir: Path = DEFAULT_DIR, timeout: float = 10.0) -> Sandbox | None:
    """Stop the sandbox in ``data_dir``; returns what was stopped, None if nothing ran."""
    sandbox = status(data_dir)
    data = data_dir.expanduser().resolve()
    with contextlib.suppress(FileNotFoundError):
        (data / SANDBOX_FILE).unlink()
    if sandbox is not None:
        _end(sandbox.pid, timeout)
    _stop_dask(data)
    return sandbox


DASK_FILE = "dask.json"


def _start_dask(data: Path, workers: int, timeout: float) -> dict[str, object]:
    """Start a Dask scheduler and ``workers`` workers on 127.0.0.1; their PIDs and address."""
    scheduler_file = data / "dask-scheduler.json"
    with contextlib.suppress(FileNotFoundError):
        scheduler_file.unlink()
    python = [sys.executable, "-m"]
    common = ["--no-dashboard", "--host", "127.0.0.1"]
    pids: list[int] = []
    with open(data / "dask.log", "ab") as log:

        def spawn(command: list[str]) -> subprocess.Popen[bytes]:
            proc = subprocess.Popen(
                command, stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                start_new_session=True,
            )  # fmt: skip
            pids.append(proc.pid)
            _write_dask(data, {"pids": pids})  # so stop() finds them whatever happens next
            return proc

        scheduler = spawn(
            [*python, "distributed.cli.dask_scheduler", *common, "--port", "0",
             "--scheduler-file", str(scheduler_file)]
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        address = None
        while address is None:
            address = _read(scheduler_file).get("address")
            if scheduler.poll() is not None or time.monotonic() > deadline:
                _stop_dask(data)
                raise SandboxError(
                    "The sandbox's Dask scheduler did not start. Is distributed installed (pip "
                    f"install 'eagernb[dask]')? Its output is in {data / 'dask.log'}:\n"
                    f"{_tail(data / 'dask.log')}"
                )
            time.sleep(0.05)
        # Each worker offers the machine, as the embedded engine does: a task's cpu and
        # memory requests are checked against what this machine has.
        offer = f"CPU={os.cpu_count() or 1} MEMORY={_machine_memory()}"
        for _ in range(workers):
            spawn(
                [*python, "distributed.cli.dask_worker", str(address), *common,
                 "--nthreads", "1", "--nworkers", "1", "--resources", offer]
            )  # fmt: skip
    info: dict[str, object] = {"address": address, "pids": pids}
    _write_dask(data, info)
    return info


def _machine_memory() -> int:
    """This machine's memory in bytes."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 2**34  # no sysconf (not Linux or macOS): 16 GiB, a guess that blocks nothing


def _write_dask(data: Path, info: dict[str, object]) -> None:
    (data / DASK_FILE).write_text(json.dumps(info, indent=2) + "\n")


def _stop_dask(data: Path) -> None:
    """End the Dask processes a sandbox in ``data`` started (workers first), if still there."""
    pids = _read(data / DASK_FILE).get("pids")
    if not isinstance(pids, list):
        return
    for pid in reversed(pids):
        if isinstance(pid, int) and _is_dask(pid):
            _end(pid, 10.0)
    with contextlib.suppress(FileNotFoundError):
        (data / DASK_FILE).unlink()


def _is_dask(pid: int) -> bool:
    """Whether ``pid`` is still a Dask process (not a new process that reused the PID)."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            return b"distributed.cli" in cmdline.read()
    except OSError:
        return not _gone(pid)  # no /proc: trust the PID


def _end(pid: int, timeout: float) -> None:
    """SIGTERM ``pid`` (a graceful stop), then SIGKILL if it is still there after ``timeout``."""
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _gone(pid):
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def _gone(pid: int) -> bool:
    try:
        done, _ = os.waitpid(pid, os.WNOHANG)  # reaps it if it is our child
        return done == pid
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    try:  # a zombie nobody has reaped yet has stopped all the same
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def _health_pid(url: str) -> int | None:
    try:
        response = httpx.get(f"{url}/api/v1/health", timeout=2.0)
        pid = response.json().get("pid") if response.status_code == 200 else None
    except (httpx.HTTPError, ValueError):
        return None
    return pid if isinstance(pid, int) else None


def _read(path: Path) -> dict[str, object]:
    try:
        value = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def _tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no output)"
