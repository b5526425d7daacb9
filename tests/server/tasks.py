"""Tasks the server tests run in real worker processes (importable as ``tests.server.tasks``)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

from eagernb import eager, task


class CustomError(Exception):
    """An exception class the worker pickles by reference and the test process rebuilds."""

    def __init__(self, message: str, code: int) -> None:
        super().__init__(message, code)
        self.code = code


@task
def add_one(x: int) -> int:
    return x + 1


@task
async def async_double(x: int) -> int:
    return x * 2


@task
def fail(x: int) -> int:
    raise ValueError(f"x must be positive, got {x}")


@task
def fail_custom(code: int) -> int:
    raise CustomError("the custom failure", code)


@task
def wrong_output() -> int:
    return "not an int"  # type: ignore[return-value]


@task
def fail_once(marker: str) -> str:
    """Fail the first time (leaving ``marker`` behind), succeed the next."""
    path = Path(marker)
    if not path.exists():
        path.touch()
        raise RuntimeError("the first attempt fails on purpose")
    return "second attempt"


@task
def nap(seconds: float) -> float:
    time.sleep(seconds)
    return seconds


@task
def announce(fifo: str, seconds: float) -> int:
    """Write this worker's PID into the named pipe ``fifo`` (the test blocks reading it), nap."""
    with open(fifo, "w") as pipe:
        pipe.write(str(os.getpid()))
    time.sleep(seconds)
    return os.getpid()


@task
def spawn_sleeper(fifo: str) -> int:
    """Start ``sleep 300`` as a subprocess, write its PID into ``fifo``, wait for it."""
    child = subprocess.Popen(["sleep", "300"])
    with open(fifo, "w") as pipe:
        pipe.write(str(child.pid))
    return child.wait()


@task
def announce_once(fifo: str, marker: str) -> str:
    """The first attempt announces its PID and naps (to be killed); the next one returns."""
    path = Path(marker)
    if path.exists():
        return "retried"
    path.touch()
    with open(fifo, "w") as pipe:
        pipe.write(str(os.getpid()))
    time.sleep(120)
    return "never"


@task
def chatty(x: int) -> int:
    """Write plenty to stdout in every way user code can; the job protocol must not notice."""
    for i in range(2000):
        print(f"line {i} of chatter from a task body, long enough to fill pipe buffers")
    sys.stdout.flush()
    os.write(1, b"raw bytes on file descriptor 1\n" * 1000)
    print("to stderr", file=sys.stderr)
    return x


@eager
async def eager_plain(x: int) -> int:
    """A workflow body with no children: it runs on a workflow-body worker of its own."""
    return x + 100


@task
def reverse(data: bytes) -> bytes:
    return data[::-1]


@task
def talk(lines: int) -> int:
    """Print ``lines`` numbered lines to stdout, then one to stderr."""
    for i in range(lines):
        print(f"line {i}")
    print("done talking", file=sys.stderr)
    return lines


@task
def talk_then_fail(x: int) -> int:
    print("about to fail")
    raise KeyError(x)
