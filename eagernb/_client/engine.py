"""The remote engine: children become executions on a control plane.

``hybrid``: eager and static workflow bodies stay in this process (the notebook kernel) and
every task they call runs remotely. ``remote``: the top-level workflow itself is one remote
execution; its body runs on a worker, and this process follows its children live from the
server's event stream, mirroring them as local records so every view shows them.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any

from .._core.engine import Call
from .._core.entity import Entity
from .._core.events import ExecutionLinked, ExecutionOutput
from .._core.records import Kind
from .._views.mirror import Mirror
from .remote import Remote

__all__ = ["RemoteEngine"]

_TASK = Kind.TASK


class RemoteEngine:
    """Run children on the control plane behind ``remote``."""

    def __init__(
        self,
        remote: Remote,
        *,
        whole_run: bool = False,
        remote_bodies: bool = False,
        parent_id: str | None = None,
    ) -> None:
        self.remote = remote
        self.whole_run = whole_run  # the root itself is one remote execution (remote mode)
        self.remote_bodies = remote_bodies  # nested workflow bodies run remotely too (on workers)
        self.parent_id = parent_id  # the server execution these children belong to, if any
        self._versions: dict[Entity, asyncio.Future[str]] = {}
        self.execution_ids: dict[str, str] = {}
        """The server execution id of each local record this engine submitted."""

    async def execute(self, call: Call) -> Any:
        __tracebackhide__ = True
        entity = call.entity
        is_root = call.record_id == call.run.root_id
        submit = self.whole_run if is_root else (entity.kind is _TASK or self.remote_bodies)
        if not submit:
            call.started()
            return await entity.run_local(call, self)
        remote = self.remote
        # Code is fixed for the length of a run: register (pickle and hash) each entity once,
        # and children launched together wait for that one registration.
        registering = self._versions.get(entity)
        if registering is None:
            registering = self._versions[entity] = asyncio.ensure_future(remote.aregister(entity))
        version = await asyncio.shield(registering)
        run, record_id = call.run, call.record_id
        started = False

        def start() -> None:
            nonlocal started
            if not started:
                started = True
                call.started()

        def heard(frame: dict[str, Any]) -> None:
            if frame["type"] == "started":
                start()  # a worker took it: until then it shows queued, as on the server
            elif frame["type"] == "output":
                for stream, text in frame["chunks"]:
                    run.emit(ExecutionOutput(run.id, record_id, stream, text))

        execution = await remote.aexecute(
            entity, call.inputs, version=version, parent_id=self.parent_id, listener=heard
        )
        self.execution_ids[record_id] = execution.id
        run.emit(ExecutionLinked(run.id, record_id, remote.endpoint, execution.id, version))
        if not remote.watching(execution.id):
            start()  # no channel to say when it starts: count it running from its submission
        try:
            if self.whole_run and is_root:
                await self._follow(call, execution.id)
            value = await remote.await_output(execution.id)
        except asyncio.CancelledError:
            await asyncio.shield(remote.acancel(execution.id))
            raise
        except BaseException:
            start()  # its start was not heard (the channel broke): it ran, and failed
            raise
        start()
        return value

    async def _follow(self, call: Call, execution_id: str) -> None:
        """Mirror the remote run's descendants as local records until it is final."""
        run = call.run
        mirror = Mirror(
            run, execution_id, call.record_id, prefix=f"{run.id}.x", endpoint=self.remote.endpoint
        )
        client = self.remote._async()
        async with client.stream(
            "GET", f"/executions/{execution_id}/events", timeout=None
        ) as response:
            async for line in response.aiter_lines():
                if not line.strip():
                    continue
                event = json.loads(line)
                data = event["execution"]
                if data["id"] == execution_id:
                    continue  # the root's own record and output come with its submission
                local = mirror.apply_event(event)
                if local is not None:
                    self.execution_ids[local] = data["id"]

    async def aclose(self) -> None:
        await self.remote.aclose()
