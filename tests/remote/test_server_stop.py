"""A server stopped mid-run (SIGTERM) ends what it runs as failed, ServerStoppedError, and
the client hears it so: the rows it shows agree with the server's records."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

import eagernb
from eagernb import Remote, Status, eager
from tests.server.conftest import Server, read_pid
from tests.server.tasks import announce


@eager
async def waits_on_a_child(fifo: str) -> int:
    return await announce(fifo=fifo, seconds=120)


@pytest.mark.parametrize("mode", ["hybrid", "remote"])
def test_a_stopped_server_s_children_fail_with_server_stopped_in_the_client_too(
    tmp_path: Path, mode: str
) -> None:
    server = Server(tmp_path / "data", workers=2)
    remote = Remote(server.url, default_project="stopping", default_domain="development")
    eagernb.config.remote = remote
    fifo = tmp_path / "pid.fifo"
    os.mkfifo(fifo)
    try:

        async def main() -> tuple[BaseException | None, eagernb.Run]:
            with eagernb.mode(mode):
                handle = waits_on_a_child.start(fifo=str(fifo))
            await asyncio.to_thread(read_pid, fifo)  # the child runs on a worker
            await asyncio.to_thread(server.stop)
            try:
                await asyncio.wait_for(handle, 60)
            except Exception as exc:
                return exc, handle
            return None, handle

        error, run = asyncio.run(main())
    finally:
        eagernb.config.remote = None
        remote.close()
        server.stop()
    assert isinstance(error, eagernb.ServerStoppedError), repr(error)
    [child] = [r for r in run.records.values() if r.name == "announce"]
    assert child.status is Status.FAILED
    assert child.error is not None and child.error.type_name == "eagernb.ServerStoppedError"
    assert "The server shut down while this execution was running" in child.error.message
    assert all(r.status.is_final for r in run.records.values())
