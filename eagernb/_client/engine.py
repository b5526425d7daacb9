"""The remote engine: children become executions on a control plane.

``hybrid``: eager and static workflow bodies stay in this process (the notebook kernel) and
every task they call runs remotely. ``remote``: the top-level workflow itself is one remote
execution; its body runs on a worker, and this process follows its children live from the
server's event stream, mirroring them as local records so every view shows them.
"""

from __future__ import annotations

import asyncio
import json
import logging
from time import time
from typing import Any

import httpx

from .._core.engine import Call
from .._core.entity import Entity
from .._core.errors import ErrorInfo
from .._core.events import ExecutionLinked, ExecutionOutput, ExecutionRetrying, ExecutionStarted
from .._core.output import echo_elsewhere
from .._core.records import Kind
from .._core.run import Run
from .._views.mirror import Mirror
from .errors import RemoteRequestError
from .remote import Remote

__all__ = ["RemoteEngine"]

_TASK = Kind.TASK
_CATCH_UP_SECONDS = 30.0
_log = logging.getLogger("eagernb")


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
        """The server execution id of each local record this engine submitted or mirrors."""
        self._following: dict[str, tuple[Mirror, int]] = {}  # root id -> (mirror, last seq)
        self._cancels: set[asyncio.Task[Any]] = set()

    async def execute(self, call: Call) -> Any:
        __tracebackhide__ = True
        entity = call.entity
        is_root = call.record_id == call.run.root_id
        # A task always runs remotely (hybrid mode too, when it is run on its own).
        if not self.runs_attempts(entity, is_root):
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
                attempt = int(frame.get("attempt") or 1)
                if attempt == 1 or not started:
                    start()  # a worker took it: until then it shows queued, as on the server
                else:  # the server's next attempt (it runs retries, see runs_attempts)
                    run.emit(ExecutionStarted(run.id, record_id, attempt, float(frame["time"])))
            elif frame["type"] == "retrying":
                info = ErrorInfo.from_json(frame.get("error") or {})
                run.emit(ExecutionRetrying(run.id, record_id, int(frame["attempt"]), info, time()))
            elif frame["type"] == "output":
                for stream, text in frame["chunks"]:
                    run.emit(ExecutionOutput(run.id, record_id, stream, text))
                    echo_elsewhere(stream, text)

        execution = await remote.aexecute(
            entity, call.inputs, version=version, parent_id=self.parent_id, listener=heard,
            retries=entity.retries, timeout=entity.timeout,
        )  # fmt: skip
        self.execution_ids[record_id] = execution.id
        run.emit(ExecutionLinked(run.id, record_id, remote.endpoint, execution.id, version))
        if not remote.watching(execution.id):
            start()  # no channel to say when it starts: count it running from its submission
        try:
            if self.whole_run and is_root:
                await self._follow(call, execution.id)
            value = await remote.await_output(execution.id)
        except asyncio.CancelledError:
            current = asyncio.current_task()
            if not is_root and current is not None and not current.cancelling():
                # Cancelled on the control plane (its explorer, `eagernb executions cancel`),
                # not here: like a child cancelled from this explorer, its parent goes on.
                run.cancelled_elsewhere(record_id)
                raise
            await asyncio.shield(self._cancel_on_server(execution.id))
            if self.whole_run and is_root:
                # The server has ended every descendant by now: hear how each one ended.
                await asyncio.shield(self._catch_up(call, execution.id, "was cancelled"))
            raise
        except httpx.TransportError as exc:
            start()
            if self.whole_run and is_root:
                await asyncio.shield(self._catch_up(call, execution.id, "lost its server"))
            raise RemoteRequestError(
                f"Lost contact with the control plane at {remote.endpoint} while waiting for "
                f"{entity.kind.value} {entity.name!r} (execution {execution.id}): "
                f"{type(exc).__name__}: {str(exc).rstrip('.')}. It may have stopped or "
                f"restarted; once it is back, `eagernb executions show {execution.id}` says "
                "how it ended there."
            ) from exc
        except BaseException:
            start()  # its start was not heard (the channel broke): it ran, and failed
            if self.whole_run and is_root:
                await asyncio.shield(self._catch_up(call, execution.id, "failed"))
            raise
        start()
        return value

    def public_id(self, record_id: str) -> str:
        """In a body running on a worker (``parent_id`` set), the control plane's id of a
        child: failures name it, so ``eagernb executions show ID`` finds it."""
        if self.parent_id is None:
            return record_id
        return self.execution_ids.get(record_id, record_id)

    def runs_attempts(self, entity: Entity, is_root: bool) -> bool:
        """Whether the control plane runs ``entity``'s attempts (retries, timeout) itself:
        for everything this engine submits, so each retry is an attempt of one execution
        there and a timeout fails it as ``TaskTimeoutError``, not as a cancellation."""
        if entity.kind is _TASK:
            return True
        return self.whole_run if is_root else self.remote_bodies

    async def _follow(self, call: Call, execution_id: str) -> None:
        """Mirror the remote run's descendants as local records until it is final."""
        run = call.run
        mirror = Mirror(
            run, execution_id, call.record_id, prefix=f"{run.id}.x", endpoint=self.remote.endpoint
        )
        self._following[execution_id] = (mirror, 0)
        await self._replay(execution_id)

    async def _replay(self, execution_id: str) -> None:
        """Apply the events of the run rooted at ``execution_id`` after the last one heard,
        until the root's own end."""
        mirror, after = self._following[execution_id]
        client = self.remote._async()
        async with client.stream(
            "GET", f"/executions/{execution_id}/events", params={"after": after}, timeout=None
        ) as response:
            async for line in response.aiter_lines():
                if not line.strip():
                    continue
                event = json.loads(line)
                self._following[execution_id] = (mirror, int(event.get("seq") or after))
                data = event["execution"]
                if data["id"] == execution_id:
                    continue  # the root's own record and output come with its submission
                local = mirror.apply_event(event)
                if local is not None:
                    self.execution_ids[local] = data["id"]
                if event.get("type") == "output":
                    for stream, text in event.get("chunks") or ():
                        echo_elsewhere(stream, text)

    async def _catch_up(self, call: Call, execution_id: str, what: str) -> None:
        """After cancelling a followed run: bring its descendants' records to their end.

        Without this the stream, cancelled with the run, would leave them shown running.
        If the control plane cannot say, each is ended as cancelled, with a reason that
        says its state there is unknown.
        """
        try:
            await asyncio.wait_for(self._replay(execution_id), _CATCH_UP_SECONDS)
        except Exception as exc:
            reason = (
                f"The run {what} and the control plane at {self.remote.endpoint} could not "
                f"say how this execution ended ({type(exc).__name__}: {exc or 'no answer'}). "
                "Once it answers, `eagernb executions show ID` shows its state there."
            )
            call.run.end_unfinished(reason, skip=call.record_id)

    async def _cancel_on_server(self, execution_id: str) -> bool:
        """Cancel ``execution_id`` on the control plane; a failure is logged, not raised
        (it runs shielded, often while the loop winds down, where nobody would hear it)."""
        try:
            await self.remote.acancel(execution_id)
            return True
        except Exception:
            pass  # this loop's connection may be closing with the run (Ctrl-C): ask again
        try:
            self.remote.cancel(execution_id)  # a blocking request of its own, on loopback
            return True
        except Exception as exc:
            _log.warning(
                "eagernb: could not cancel execution %s on the control plane at %s (%s: %s); "
                "it may still run there: `eagernb executions cancel %s` stops it.",
                execution_id, self.remote.endpoint, type(exc).__name__, exc, execution_id,
            )  # fmt: skip
            return False

    def cancel_elsewhere(self, run: Run, record_id: str) -> None:
        """Cancel the server execution behind ``record_id`` (one this engine mirrors): its
        parent on the server sees it cancelled, and the stream brings the news here."""
        execution_id = self.execution_ids.get(record_id)
        if execution_id is None:
            return

        task = asyncio.get_running_loop().create_task(self._cancel_on_server(execution_id))
        self._cancels.add(task)
        task.add_done_callback(self._cancels.discard)

    async def aclose(self) -> None:
        await self.remote.aclose()
