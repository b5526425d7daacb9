"""The dispatcher: from queued execution to finished one, through a worker engine.

Executions wait in a :class:`Lane`: tasks in one whose engine is the worker pool, and
workflow bodies (eager or static, run on a worker in remote mode) in another, so bodies
that wait for their children never hold the workers those children need. A lane admits
at most ``concurrency`` executions to its engine at once (the rest stay ``queued``, first
in first out). The dispatcher runs each attempt with its timeout, retries failures,
stores every transition as an event, and keeps the tree tidy: when an execution ends
(or an attempt fails) its unfinished descendants are cancelled first, so a parent is
never final while a child of it still runs.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import json
import logging
import secrets
from collections import OrderedDict
from dataclasses import dataclass, field
from time import time
from typing import Any

from .blobs import BlobStore
from .channels import Channels
from .credentials import Credentials
from .engine import Job, JobResult, WorkerEngine
from .errors import (
    NEVER_STARTED,
    RESTARTED,
    SHUTDOWN,
    RequestError,
    cancelled,
    failure,
    owner,
    timed_out,
)
from .hub import Hub
from .store import FINAL, Store

__all__ = ["Dispatcher", "Lane"]

_log = logging.getLogger("eagernb.server")
_KEYS_KEPT = 100_000  # submission keys remembered, to start a resent submission once
_INLINE = 1 << 20  # outputs and exceptions up to this size travel with the final record


@dataclass
class Lane:
    """An engine and how many executions may run on it at once."""

    engine: WorkerEngine
    concurrency: int
    queue: asyncio.Queue[str] = field(default_factory=asyncio.Queue)


class Dispatcher:
    """Runs queued executions in their lanes; see the module docstring for the rules.

    ``tasks`` runs tasks, ``bodies`` eager and static workflow bodies (``tasks`` too when
    it is None). With ``credentials`` (a server with ``--auth``), each attempt of a
    workflow body gets a job token for its project in ``EAGERNB_TOKEN``, deleted when the
    attempt ends, so the body can launch its children.
    """

    def __init__(
        self,
        store: Store,
        blobs: BlobStore,
        hub: Hub,
        tasks: Lane,
        bodies: Lane | None = None,
        *,
        server_url: str,
        credentials: Credentials | None = None,
        channels: Channels | None = None,
    ) -> None:
        self._store = store
        self.channels = channels or Channels()
        self._credentials = credentials
        self._blobs = blobs
        self._hub = hub
        self._tasks = tasks
        self._lanes = [tasks] if bodies is None else [tasks, bodies]
        self._bodies = bodies or tasks
        self._server_url = server_url
        self._running: dict[str, asyncio.Task[None]] = {}
        self._cancel_reasons: dict[str, str] = {}
        self._inputs: dict[str, bytes] = {}  # inputs that came with the submission, until used
        self._notify: dict[str, str] = {}  # the channel told when the execution ends
        self._keys: OrderedDict[str, str] = OrderedDict()  # submission key -> execution id
        self._consumers: list[asyncio.Task[None]] = []
        self._closing = False

    async def start(self) -> None:
        """Settle what a previous server left unfinished, then start taking work."""
        now = time()
        left: dict[int, tuple[Lane, list[tuple[str, int]]]] = {}
        for execution in self._store.unfinished():
            never_started = execution["status"] == "queued" and execution["attempts"] == 0
            if never_started and execution["parent_id"] is None:
                self._lane(execution).queue.put_nowait(execution["id"])  # self-contained
                continue
            message = NEVER_STARTED if never_started else RESTARTED
            error = failure("eagernb.ServerRestartedError", message)
            self._finish(execution["id"], "failed", now, error)
            if execution["status"] == "running":
                lane = self._lane(execution)
                attempt = (execution["id"], execution["attempts"])
                left.setdefault(id(lane), (lane, []))[1].append(attempt)
        for lane, attempts in left.values():  # they may still run on a cluster: stop them
            await lane.engine.abandon(attempts)
        self._consumers = [
            asyncio.create_task(self._consume(lane))
            for lane in self._lanes
            for _ in range(lane.concurrency)
        ]

    async def stop_work(self) -> None:
        """Start nothing more, and end what runs ``failed`` (the server is going away); its
        clients, still connected, hear each end. Idempotent."""
        self._closing = True
        for consumer in self._consumers:  # first, so nothing new starts
            consumer.cancel()
        await asyncio.gather(*self._consumers, return_exceptions=True)
        running = list(self._running.items())
        for execution_id, task in running:
            self._request_cancel(execution_id, task, SHUTDOWN)
        if running:
            await asyncio.wait([task for _, task in running])
        self.channels.close()  # the ends just sent are the last frames

    async def aclose(self) -> None:
        """Stop: ``stop_work``, then the workers."""
        await self.stop_work()
        for lane in self._lanes:
            await lane.engine.aclose()

    # -- the API's entry points ---------------------------------------------------------------

    def submit(
        self,
        entity: dict[str, Any],
        *,
        inputs_sha: str,
        parent_id: str | None,
        retries: int,
        timeout: float | None,
        inputs: bytes | None = None,
        notify: str | None = None,
        key: str | None = None,
        inputs_preview: dict[str, str] | None = None,
    ) -> dict[str, Any]:
        """Queue a new execution of ``entity`` and return it.

        ``inputs``: the bytes of blob ``inputs_sha``, when the caller has them at hand.
        ``notify``: a channel (see ``channels``) told when the execution prints or ends.
        ``key``: the client's name for this submission; the same key again (a client sending
        again what a broken connection may have delivered) returns the same execution.
        """
        if key is not None and key in self._keys:
            known = self._store.execution(self._keys[key])
            if known is not None:
                return known
        execution_id = secrets.token_hex(10)
        root_id = execution_id
        if parent_id is not None:
            parent = self._store.execution(parent_id)
            if parent is None:
                raise RequestError(
                    404,
                    f"The parent execution {parent_id!r} does not exist on this server. Pass the "
                    "id of an execution it runs, or parent_id null for a new run.",
                )
            if parent["status"] in FINAL:
                raise RequestError(
                    409,
                    f"{owner(parent)} ({parent_id}) is already {parent['status']}, so "
                    f"{entity['kind']} {entity['name']!r} cannot start as its child. Await every "
                    "child inside the body before it returns.",
                )
            root_id = parent["root_id"]
        row = {
            **{k: entity[k] for k in ("project", "domain", "name", "version", "kind")},
            "id": execution_id, "root_id": root_id, "parent_id": parent_id,
            "retries": retries, "timeout": timeout, "inputs_sha": inputs_sha,
            "inputs_preview": inputs_preview,
        }  # fmt: skip
        execution, event = self._store.create_execution(row, time())
        if key is not None:
            self._keys[key] = execution_id
            while len(self._keys) > _KEYS_KEPT:
                self._keys.popitem(last=False)
        if inputs is not None:
            self._inputs[execution_id] = inputs
        if notify is not None:
            self.channels.open(notify)
            self._notify[execution_id] = notify
        self._hub.publish(event)
        self._lane(execution).queue.put_nowait(execution_id)
        return execution

    async def cancel(self, execution_id: str, reason: str) -> None:
        """Cancel an execution and its descendants; returns once all of them are final."""
        execution = self._store.execution(execution_id)
        if execution is None or execution["status"] in FINAL:
            return
        task = self._running.get(execution_id)
        if execution["status"] == "queued":
            # Not started: settle it here (a consumer that picks it up will skip it).
            self._finish(execution_id, "cancelled", time(), cancelled(reason))
        if task is not None:
            self._request_cancel(execution_id, task, reason)
            await asyncio.wait([task])
        await self._end_descendants(execution_id, reason)
        # Running without a task cannot happen; if it ever did, still end it.
        self._finish(execution_id, "cancelled", time(), cancelled(reason))

    # -- running ------------------------------------------------------------------------------

    def _lane(self, execution: dict[str, Any]) -> Lane:
        return self._tasks if execution["kind"] == "task" else self._bodies

    async def _consume(self, lane: Lane) -> None:
        while True:
            execution_id = await lane.queue.get()
            execution = self._store.execution(execution_id)
            if execution is None or execution["status"] != "queued":
                continue  # cancelled while it waited
            task = asyncio.create_task(self._run(execution))
            self._running[execution_id] = task
            task.add_done_callback(functools.partial(self._forget, execution_id))
            await asyncio.wait([task])

    def _forget(self, execution_id: str, task: asyncio.Task[None]) -> None:
        self._running.pop(execution_id, None)
        self._cancel_reasons.pop(execution_id, None)

    async def _run(self, execution: dict[str, Any]) -> None:
        execution_id = execution["id"]
        try:
            await self._attempts(execution)
        except asyncio.CancelledError:
            reason = self._cancel_reasons.pop(execution_id, "The execution was cancelled.")
            parent = f"Its parent {owner(execution)} ({execution_id})"
            why = f"{parent} ended first." if self._closing else f"{parent} was cancelled: {reason}"
            await self._end_descendants(execution_id, why)
            if self._closing:
                self._finish(
                    execution_id, "failed", time(), failure("eagernb.ServerStoppedError", reason)
                )
            else:
                self._finish(execution_id, "cancelled", time(), cancelled(reason))
        except Exception as exc:  # a bug here must not leave the execution running forever
            _log.exception("eagernb: dispatching execution %s failed", execution_id)
            self._finish(
                execution_id, "failed", time(),
                failure(type(exc).__name__, f"The server failed to run this execution: {exc!r}. "
                       "This is a bug in eagernb; the server log has the details."),
            )  # fmt: skip

    async def _attempts(self, execution: dict[str, Any]) -> None:
        execution_id = execution["id"]
        entity = self._store.entity(
            execution["project"], execution["domain"], execution["name"], execution["version"]
        )
        try:
            if entity is None:
                raise FileNotFoundError(execution["version"])
            payload = await self._blobs.read_async(entity["payload_sha"])
            inputs = self._inputs.pop(execution_id, None)
            if inputs is None:
                inputs = await self._blobs.read_async(execution["inputs_sha"])
        except FileNotFoundError:
            message = (
                f"The code or inputs of {owner(execution)} version {execution['version']} are "
                "missing from the server's data directory. Register the entity and submit the "
                "execution again."
            )
            self._finish(execution_id, "failed", time(), failure("FileNotFoundError", message))
            return
        env = {
            "EAGERNB_SERVER_URL": self._server_url,
            "EAGERNB_EXECUTION_ID": execution_id,
            "EAGERNB_ROOT_ID": execution["root_id"],
            "EAGERNB_PROJECT": execution["project"],
            "EAGERNB_DOMAIN": execution["domain"],
        }
        if self._credentials is not None:
            env["EAGERNB_AUTH"] = "1"
        resources = dict((entity.get("interface") or {}).get("resources") or {})
        attempt = execution["attempts"]
        while True:
            attempt += 1
            job_env = {**env, "EAGERNB_ATTEMPT": str(attempt)}
            if self._credentials is not None and execution["kind"] != "task":
                job_env["EAGERNB_TOKEN"] = self._credentials.issue_job_token(
                    execution_id, execution["project"]
                )
            job = Job(
                execution_id, attempt, payload, inputs, job_env, resources,
                payload_sha=entity["payload_sha"],
                output=functools.partial(self._output, execution),
            )  # fmt: skip
            try:
                result, start = await self._attempt(execution, job)
            finally:
                if self._credentials is not None:
                    self._credentials.revoke_job_tokens(execution_id)
            if result.ok:
                output = result.output or b""
                if execution["kind"] == "task" and len(output) <= _INLINE:
                    # A task has no children of its own: store its output and end it at once.
                    # A start that came with the result is recorded in the same change (the
                    # event stream goes from queued to finished; its channel still hears it).
                    started: dict[str, Any] = {}
                    if start is not None:
                        started["attempts"] = attempt
                        if attempt == 1:
                            started["started_at"] = start
                        self._announce_start(execution_id, attempt, start)
                    with self._store.transaction():
                        output_sha = self._blobs.put(output)
                        self._finish(
                            execution_id, "succeeded", time(), None, inline=output,
                            output_sha=output_sha, output_preview=result.preview, **started,
                        )  # fmt: skip
                    return
                if start is not None:
                    self._started(execution_id, attempt, start)
                output_sha = await self._blobs.put_async(output)
                if execution["kind"] != "task":
                    await self._end_descendants(
                        execution_id,
                        f"{owner(execution)} ({execution_id}) returned without awaiting it.",
                    )
                self._finish(
                    execution_id, "succeeded", time(), None, inline=output, output_sha=output_sha,
                    output_preview=result.preview,
                )  # fmt: skip
                return
            if start is not None:
                self._started(execution_id, attempt, start)
            error = await self._error_of(result)
            if execution["kind"] != "task":
                await self._end_descendants(
                    execution_id,
                    f"Attempt {attempt} of its parent {owner(execution)} ({execution_id}) failed.",
                )
            if attempt > execution["retries"]:
                self._finish(execution_id, "failed", time(), error, inline=result.exception)
                return
            self._publish(execution_id, "retrying", time(), error_json=_dumps(error))
            channel = self._notify.get(execution_id)
            if channel is not None:
                frame = {"type": "retrying", "id": execution_id, "attempt": attempt, "error": error}
                self.channels.send(channel, frame)

    async def _attempt(self, execution: dict[str, Any], job: Job) -> tuple[JobResult, float | None]:
        """Run one attempt. It is ``started`` when the engine says a worker took it (a job
        waiting in the engine's own queue stays ``queued``); its timeout counts from there.
        Returns the result, and the start time if the caller is still to record it.
        """
        timeout: float | None = execution["timeout"]
        engine = self._lane(execution).engine
        loop = asyncio.get_running_loop()
        started = expired = False
        timer: asyncio.TimerHandle | None = None

        def expire() -> None:
            nonlocal expired
            expired = True
            runner.cancel()

        def on_start(ago: float = 0.0) -> None:
            nonlocal started, timer
            if started or runner.done():
                return
            started = True
            self._started(execution["id"], job.attempt, time() - max(ago, 0.0))
            if timeout is not None:
                timer = loop.call_later(max(timeout - ago, 0.0), expire)

        runner = asyncio.ensure_future(engine.execute(dataclasses.replace(job, started=on_start)))
        try:
            result = await runner
        except asyncio.CancelledError:
            current = asyncio.current_task()
            cancelling = getattr(current, "cancelling", lambda: 0)()  # Python 3.11+
            if not expired or cancelling or timeout is None:
                raise
            return timed_out(owner(execution), timeout), None  # it had started
        finally:
            if timer is not None:
                timer.cancel()
        if started:
            return result, None
        # The start came with the result; or the engine failed the job before a worker took
        # it, or never says.
        return result, time() - max(result.started_ago or 0.0, 0.0)

    def _started(self, execution_id: str, attempt: int, now: float) -> None:
        changes: dict[str, Any] = {"status": "running", "attempts": attempt}
        if attempt == 1:
            changes["started_at"] = now
        advanced = self._store.advance(execution_id, "started", now, **changes)
        if advanced is None:
            return  # it was cancelled while its start was on the way
        self._hub.publish(advanced[1])
        self._announce_start(execution_id, attempt, now)

    def _announce_start(self, execution_id: str, attempt: int, at: float) -> None:
        """Tell the execution's channel, if any, that attempt ``attempt`` started at ``at``."""
        channel = self._notify.get(execution_id)
        if channel is not None:
            frame = {"type": "started", "id": execution_id, "time": at, "attempt": attempt}
            self.channels.send(channel, frame)

    async def _error_of(self, result: JobResult) -> dict[str, Any]:
        error = dict(result.error or {})
        error.setdefault("type_name", "Exception")
        error.setdefault("message", "")
        error.setdefault("traceback", "")
        exception = result.exception
        error["exception_sha"] = (
            None if exception is None else await self._blobs.put_async(exception)
        )
        return error

    # -- transitions --------------------------------------------------------------------------

    def _request_cancel(self, execution_id: str, task: asyncio.Task[None], reason: str) -> None:
        if execution_id not in self._cancel_reasons:  # cancel once: the handler must finish
            self._cancel_reasons[execution_id] = reason
            task.cancel()

    async def _end_descendants(self, execution_id: str, reason: str) -> None:
        pending = []
        for child_id in self._store.unfinished_descendants(execution_id):
            task = self._running.get(child_id)
            if task is not None:
                self._request_cancel(child_id, task, reason)
                pending.append(task)
            else:
                self._finish(child_id, "cancelled", time(), cancelled(reason))
        if pending:
            await asyncio.wait(pending)

    def _publish(self, execution_id: str, type_: str, now: float, **changes: Any) -> None:
        _, event = self._store.transition(execution_id, type_, now, **changes)
        self._hub.publish(event)

    def _output(self, execution: dict[str, Any], chunks: list[list[str]]) -> None:
        """Store and announce what an execution printed."""
        if not chunks:
            return
        event = self._store.output_event(execution, chunks, time())
        self._hub.publish(event)
        channel = self._notify.get(execution["id"])
        if channel is not None:
            self.channels.send(channel, {"type": "output", "id": execution["id"], "chunks": chunks})

    def _finish(
        self,
        execution_id: str,
        status: str,
        now: float,
        error: dict[str, Any] | None,
        *,
        inline: bytes | None = None,
        **changes: Any,
    ) -> None:
        """End an execution; its channel, if any, gets its record and ``inline`` (its output
        or pickled exception) when that is small."""
        self._inputs.pop(execution_id, None)
        advanced = self._store.advance(
            execution_id, "finished", now, status=status, ended_at=now, error_json=_dumps(error),
            **changes,
        )  # fmt: skip
        if advanced is None:
            return  # already final
        execution, event = advanced
        self._hub.publish(event)
        channel = self._notify.pop(execution_id, None)
        if channel is not None:
            small = inline if inline is not None and len(inline) <= _INLINE else None
            self.channels.send(channel, {"type": "final", "execution": execution}, small)


def _dumps(value: Any) -> str | None:
    return None if value is None else json.dumps(value)
