"""The code that runs inside a worker process: ``python -m eagernb._server.worker``.

The server writes job frames to the worker's stdin and reads result frames from its
stdout (see ``eagernb._engines.frames``). The worker keeps private copies of those two
pipes and points file descriptors 0 and 1 at ``/dev/null`` and stderr, so user code that
reads stdin or prints (Python or C, or a subprocess it starts) cannot corrupt the protocol.

What a job prints through Python's ``sys.stdout`` and ``sys.stderr`` is captured and sent
to the server as ``output`` frames while the job runs (gathered for a moment, so a loop of
prints costs a few frames, not one per line), always before the job's result frame. Text
written straight to the file descriptors (C code, subprocesses) goes to the worker's log.

A reader thread waits for frames; when stdin closes (the server exited, even by SIGKILL)
the worker exits at once, mid-job or not, so no worker outlives its server.
This is the only module of the server that unpickles user payloads.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import io
import os
import pickle
import queue
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import IO, Any

import cloudpickle

from .._core.entity import Entity
from .._core.errors import ErrorInfo, aborted_error
from .._core.output import keep_elsewhere_quiet
from .._core.records import Kind
from .._engines.frames import Frame, encode, read_frame_sync
from .._engines.payload import PayloadError, dump_value, load_entity, load_value
from .._engines.preview import preview

__all__ = ["main", "run_job"]

_HERE = os.path.abspath(__file__)


_OUTPUT_LIMIT = 256 * 1024  # characters of printed output sent per job; the rest is logged
_OUTPUT_DELAY = 0.05  # seconds output is gathered before it is sent
_ENTITIES_KEPT = 64


class _Output:
    """Collects what a job prints and sends it as ``output`` frames through ``send``."""

    def __init__(self, send: Callable[[Frame], None]) -> None:
        self._send = send
        self._lock = threading.Lock()
        self._chunks: list[list[str]] = []
        self._sent = 0
        self._job: list[Any] | None = None  # [execution id, attempt] of the running job
        self._wake = threading.Event()
        threading.Thread(target=self._flusher, name="eagernb-worker-output", daemon=True).start()

    def write(self, stream: str, text: str) -> None:
        with self._lock:
            if self._sent >= _OUTPUT_LIMIT:
                _log_text(text)
                return
            if self._sent + len(text) > _OUTPUT_LIMIT:
                left = _OUTPUT_LIMIT - self._sent
                text = text[:left] + (
                    f"\n… output cut at {_OUTPUT_LIMIT} characters; the rest is in the worker's "
                    "log\n"
                )
            self._sent += len(text)
            if self._chunks and self._chunks[-1][0] == stream:
                self._chunks[-1][1] += text
            else:
                self._chunks.append([stream, text])
        self._wake.set()

    def flush(self) -> None:
        """Send what is gathered now, tagged with its job (the caller holds no lock)."""
        with self._lock:
            chunks, self._chunks = self._chunks, []
            if not chunks:
                return
            if self._job is None:  # printed between jobs (by a thread a job left behind)
                _log_text("".join(text for _, text in chunks))
                return
            self._send(({"type": "output", "job": self._job, "chunks": chunks}, []))

    def begin(self, job: list[Any] | None) -> None:
        """Attribute what is printed from now on to ``job`` (None: between jobs)."""
        self.flush()
        with self._lock:
            self._job = job
            self._sent = 0

    def _flusher(self) -> None:
        while True:
            self._wake.wait()
            time.sleep(_OUTPUT_DELAY)  # gather what follows, so a burst becomes one frame
            self._wake.clear()
            self.flush()


def _log_text(text: str) -> None:
    with contextlib.suppress(Exception):
        os.write(2, text.encode("utf-8", "replace"))


class _Stream(io.TextIOBase):
    """``sys.stdout`` or ``sys.stderr`` during a job: text goes to the job's output."""

    def __init__(self, name: str, output: _Output, fd: int) -> None:
        self.name_ = name
        self._output = output
        self._fd = fd

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        if text:
            self._output.write(self.name_, text)
        return len(text)

    def writable(self) -> bool:
        return True

    def flush(self) -> None:
        """Send what was printed now (``print(..., flush=True)``), not a moment later: it
        then reaches the server even if the process ends abruptly next (``os._exit``)."""
        self._output.flush()

    def fileno(self) -> int:  # C code and subprocesses write to the worker's log
        return self._fd

    def isatty(self) -> bool:
        return False

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return "utf-8"


_entities: OrderedDict[str, Entity] = OrderedDict()


def run_job(
    payload: bytes, inputs: bytes, env: Mapping[str, str], payload_sha: str | None = None
) -> Frame:
    """Run one job and describe its outcome as a result frame (header, parts).

    ``payload_sha`` names the code: loaded code is kept under it for the next job.
    """
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:  # the job's environment ends with it, whatever its outcome
        try:
            value = _call(payload, inputs, env, payload_sha)
        except BaseException as exc:  # a body's own sys.exit() arrives as TaskAbortedError
            return _failure(exc)
        try:
            output = dump_value(value)
        except Exception as exc:
            return _failure(_unpicklable_output(payload_sha, value, exc))
    finally:
        for key, before in saved.items():
            if before is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = before
    return {"type": "result", "ok": True, "preview": preview(value)}, [output, None]


def _unpicklable_output(payload_sha: str | None, value: Any, exc: Exception) -> Exception:
    entity = _entities.get(payload_sha) if payload_sha is not None else None
    who = f"{entity.kind.value.capitalize()} {entity.name!r}" if entity is not None else "It"
    error = PayloadError(
        f"{who} returned a {type(value).__module__}.{type(value).__qualname__} that cannot be "
        f"pickled to send back ({type(exc).__name__}: {exc}). Return plain data (numbers, "
        "text, lists, dicts, dataclasses, arrays, DataFrames), not locks, open files, "
        "connections or clients; or keep such objects inside one task."
    )
    error.__traceback__ = None
    return error


def _entity(payload: bytes, payload_sha: str | None) -> Entity:
    if payload_sha is None:
        return load_entity(payload)
    entity = _entities.get(payload_sha)
    if entity is None:
        if not payload:
            raise RuntimeError(
                f"The server sent no code for payload {payload_sha} and this worker has none "
                "kept under that name. This is a bug in eagernb."
            )
        entity = _entities[payload_sha] = load_entity(payload)
        while len(_entities) > _ENTITIES_KEPT:
            _entities.popitem(last=False)
            # the server learns which codes this worker keeps from its result frame
    else:
        _entities.move_to_end(payload_sha)
    return entity


def _call(
    payload: bytes, inputs_data: bytes, env: Mapping[str, str], payload_sha: str | None
) -> Any:
    entity = _entity(payload, payload_sha)
    inputs = load_value(inputs_data)
    try:
        return _run_body(entity, inputs, env)
    except Exception:
        raise
    except BaseException as exc:
        # sys.exit(), KeyboardInterrupt or CancelledError raised by the body: that
        # execution's failure, told as such, and never an exception its caller's event loop
        # would take for an exit, an interrupt or a cancellation.
        raise aborted_error(entity.interface.owner, exc) from exc


def _run_body(entity: Entity, inputs: Any, env: Mapping[str, str]) -> Any:
    if entity.kind is Kind.TASK:
        if getattr(entity, "is_async", False):
            value = asyncio.run(entity.fn(**inputs))
        else:
            value = entity.fn(**inputs)
        entity.interface.check_output(value)
        return value
    try:
        from .._client.worker_entry import run_remote_body
    except ImportError as exc:
        raise RuntimeError(
            f"{entity.kind.value.capitalize()} {entity.name!r} was sent to run on a worker, but "
            f"this eagernb install cannot run workflow bodies remotely ({exc}). Install the same "
            "eagernb version on the server as on the client, or run the workflow in hybrid mode."
        ) from None
    value = run_remote_body(entity, inputs, env)
    if inspect.iscoroutine(value):
        value = asyncio.run(value)
    return value


def _failure(exc: BaseException) -> Frame:
    # The worker's own frames say nothing useful to the user: start at their code.
    tb = exc.__traceback__
    while tb is not None and os.path.abspath(tb.tb_frame.f_code.co_filename) == _HERE:
        tb = tb.tb_next
    exc.__traceback__ = tb
    info = ErrorInfo.from_exception(exc)
    error = {"type_name": info.type_name, "message": info.message, "traceback": info.traceback}
    return {"type": "result", "ok": False, "error": error}, [None, _pickled(exc)]


def _pickled(exc: BaseException) -> bytes | None:
    """The exception as bytes the client can load, or None if it does not survive a trip.

    Exceptions pickle as ``cls(*args)``, which fails for classes whose ``__init__`` takes
    other arguments than it passes on to ``Exception.__init__``; those are rebuilt without
    calling ``__init__`` instead: ``cls.__new__(cls, *args)`` plus their ``__dict__``.
    """
    for dump in (_dump, _dump_without_init):
        try:
            data = dump(exc)
            pickle.loads(data)
        except Exception:
            continue
        return data
    return None


def _dump(exc: BaseException) -> bytes:
    data: bytes = cloudpickle.dumps(exc, protocol=pickle.DEFAULT_PROTOCOL)
    return data


def _dump_without_init(exc: BaseException) -> bytes:
    class Pickler(cloudpickle.Pickler):  # type: ignore[misc]
        def reducer_override(self, obj: Any) -> Any:
            if obj is exc:
                state = dict(vars(exc)) or None
                return type(exc).__new__, (type(exc), *exc.args), state
            return super().reducer_override(obj)

    buffer = io.BytesIO()
    Pickler(buffer, protocol=pickle.DEFAULT_PROTOCOL).dump(exc)
    return buffer.getvalue()


def _private_pipes() -> tuple[IO[bytes], IO[bytes]]:
    """Keep the protocol pipes on new descriptors; fd 0 reads /dev/null, fd 1 writes stderr."""
    proto_in = os.fdopen(os.dup(0), "rb", buffering=0)
    proto_out = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    os.dup2(2, 1)
    return proto_in, proto_out


def main() -> None:
    proto_in, proto_out = _private_pipes()
    jobs: queue.SimpleQueue[Frame] = queue.SimpleQueue()
    sending = threading.Lock()

    def send(frame: Frame) -> None:
        header, parts = frame
        with sending:
            proto_out.write(encode(header, *parts))
            proto_out.flush()

    output = _Output(send)
    keep_elsewhere_quiet()  # what the children of a body here print is theirs, not its
    sys.stdout = _Stream("stdout", output, 1)
    sys.stderr = _Stream("stderr", output, 2)

    def read_jobs() -> None:
        while True:
            try:
                jobs.put(read_frame_sync(proto_in))
            except (EOFError, OSError):
                # The server is gone: stop now rather than finish a job nobody will collect.
                os._exit(0)

    threading.Thread(target=read_jobs, name="eagernb-worker-reader", daemon=True).start()
    send(({"type": "ready", "pid": os.getpid()}, []))
    while True:
        header, parts = jobs.get()
        payload, inputs = parts[0] or b"", parts[1] or b""
        output.begin([header.get("execution_id"), header.get("attempt")])
        result = run_job(payload, inputs, header.get("env") or {}, header.get("payload_sha"))
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):  # user code may have closed or replaced it
                stream.flush()
        output.begin(None)  # everything the job printed goes before its result
        result[0]["kept"] = list(_entities)  # the codes kept here: the server skips sending them
        send(result)


if __name__ == "__main__":
    main()
