"""The code that runs inside a worker process: ``python -m eagernb._server.worker``.

The server writes job frames to the worker's stdin and reads result frames from its
stdout (see ``protocol``). The worker keeps private copies of those two pipes and points
file descriptors 0 and 1 at ``/dev/null`` and stderr, so user code that reads stdin or
prints (Python or C, or a subprocess it starts) cannot corrupt the protocol.

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
from collections.abc import Mapping
from typing import IO, Any

import cloudpickle

from .._core.errors import ErrorInfo
from .._core.records import Kind
from .._engines.payload import dump_value, load_entity, load_value
from .protocol import Frame, encode, read_frame_sync

__all__ = ["main", "run_job"]

_HERE = os.path.abspath(__file__)


def run_job(payload: bytes, inputs: bytes, env: Mapping[str, str]) -> Frame:
    """Run one job and describe its outcome as a result frame (header, parts)."""
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        output = dump_value(_call(payload, inputs, env))
    except BaseException as exc:  # SystemExit and KeyboardInterrupt from user code included
        return _failure(exc)
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return {"type": "result", "ok": True}, [output, None]


def _call(payload: bytes, inputs_data: bytes, env: Mapping[str, str]) -> Any:
    entity = load_entity(payload)
    inputs = load_value(inputs_data)
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
    if isinstance(sys.stdout, io.TextIOWrapper):  # it now writes to stderr: line by line
        sys.stdout.reconfigure(line_buffering=True)
    return proto_in, proto_out


def main() -> None:
    proto_in, proto_out = _private_pipes()
    jobs: queue.SimpleQueue[Frame] = queue.SimpleQueue()

    def read_jobs() -> None:
        while True:
            try:
                jobs.put(read_frame_sync(proto_in))
            except (EOFError, OSError):
                # The server is gone: stop now rather than finish a job nobody will collect.
                os._exit(0)

    threading.Thread(target=read_jobs, name="eagernb-worker-reader", daemon=True).start()
    proto_out.write(encode({"type": "ready", "pid": os.getpid()}))
    proto_out.flush()
    while True:
        header, parts = jobs.get()
        payload, inputs = parts[0] or b"", parts[1] or b""
        result_header, result_parts = run_job(payload, inputs, header.get("env") or {})
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):  # user code may have closed or replaced it
                stream.flush()
        proto_out.write(encode(result_header, *result_parts))
        proto_out.flush()


if __name__ == "__main__":
    main()
