"""The Dask engine: task executions run on a Dask distributed cluster.

``DaskEngine("tcp://scheduler:8786")`` implements the same contract as the embedded worker
pool (``engine.WorkerEngine``). Each attempt is one Dask task, ``dask_worker.run_job``
with the job's bytes as arguments (``pure=False``, key ``eagernb-<execution>-<attempt>``,
Dask ``retries=0``: retries, timeouts and records stay the dispatcher's). Nothing assumes
a filesystem shared with the workers; they need eagernb installed, and load the code
payload by value like the embedded workers do.

- **Batches**: jobs that arrive in the same turn of the event loop (the children an eager
  body launched together) are sent with one ``client.map`` per kind of resource request,
  and results that finish within ``_GATHER_WINDOW`` of each other are fetched with one
  ``gather``, so the scheduler and workers handle a few messages per batch, not per job.
- **Started**: a job still running after ``dask_worker.START_GRACE`` announces itself on
  topic ``eagernb-started``; until then the execution is ``queued`` (waiting in Dask's
  queue) and its timeout has not begun. A job that ends sooner brings its start time with
  its result (``JobResult.started_ago``), which spares the scheduler one event per job.
- **Cancelled** (or timed out): the Dask future is cancelled, and if the job had begun, the
  process running it on the worker is killed (``dask_worker.stop_job``), since Dask cannot
  stop a running thread.
- **A worker lost** (killed, crashed, removed) while it ran a job: the attempt fails at once
  with ``worker_lost`` and its future is cancelled, so Dask does not run it again behind
  the dispatcher's back; the dispatcher retries it (elsewhere) if its retries allow. (A
  worker that dies before a job it runs announced its start looks like one that only had
  the job queued: Dask's own re-run of that job then goes ahead.)
- **Resources**: ``cpu``/``memory``/``gpu`` map to the Dask worker resources ``CPU``,
  ``MEMORY`` (bytes) and ``GPU``, custom labels keep their names; a request that no current
  worker offers fails at once instead of waiting forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter, OrderedDict
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any

from .dask_worker import STARTED_TOPIC, run_job, stop_job, stop_jobs
from .engine import Job, JobResult, text_preview
from .errors import describe_resources, failure, unsatisfiable, worker_lost

__all__ = ["DaskEngine", "dask_resources"]

_log = logging.getLogger("eagernb.server")

_DASK_NAMES = {"cpu": "CPU", "memory": "MEMORY", "gpu": "GPU"}
_SCATTER_BYTES = 1 << 20  # larger payloads go to the workers directly, not via the scheduler
_UNSTARTED_KEPT = 10_000
_GATHER_WINDOW = 0.005  # seconds a finished result waits for others to be fetched with
_RECONNECT_CHECK = 0.1  # seconds between looks at the client's connection to the scheduler


def dask_resources(resources: dict[str, int | float]) -> dict[str, float]:
    """``{"cpu": 2, "gpu": 1, "ssd": 1}`` -> ``{"CPU": 2, "GPU": 1, "ssd": 1}``."""
    return {_DASK_NAMES.get(k, k): float(v) for k, v in resources.items() if v}


@dataclass
class _Pending:
    job: Job
    wanted: dict[str, float]
    payload: Any  # the code's bytes, or the Dask future of them when they were scattered
    # (kind, value): see ``_outcome``; ("lost", address) when its worker left mid-job
    outcome: asyncio.Future[tuple[str, Any]]
    worker: str | None = None
    futures: list[Any] = field(default_factory=list)
    dropped: bool = False  # cancelled: not to be sent any more


class DaskEngine:
    """Runs jobs on the Dask cluster whose scheduler is at ``address``.

    >>> engine = DaskEngine("tcp://127.0.0.1:8786")   # doctest: +SKIP
    >>> await engine.start()                          # doctest: +SKIP
    >>> result = await engine.execute(job)            # doctest: +SKIP
    """

    def __init__(self, address: str, *, connect_timeout: float | None = None) -> None:
        """``connect_timeout``: seconds to reach the scheduler (and to reconnect to it);
        by default Dask's ``distributed.comm.timeouts.connect`` (30 s unless configured)."""
        self.address = address
        self._connect_timeout = connect_timeout
        self._client: Any = None
        self._pending: dict[str, _Pending] = {}
        # Jobs cancelled before their start was heard: if a start comes, stop them there.
        self._cancelled_unstarted: OrderedDict[str, None] = OrderedDict()
        self._background: set[asyncio.Task[None]] = set()
        self._unsent: list[str] = []  # keys of jobs to send with the next batch
        self._watchers: set[asyncio.Task[None]] = set()
        self._ready: list[Any] = []  # finished Dask futures whose results to fetch next
        self._drainer: asyncio.Task[None] | None = None
        self._keeper: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Connect to the scheduler and subscribe to job starts and lost workers."""
        import dask.config
        from dask.utils import parse_timedelta
        from distributed import Client

        if self._connect_timeout is None:
            configured = dask.config.get("distributed.comm.timeouts.connect")
            self._connect_timeout = float(parse_timedelta(configured, default="seconds"))
        try:
            self._client = await Client(  # type: ignore[no-untyped-call]
                self.address,
                asynchronous=True,
                timeout=self._connect_timeout,
                set_as_default=False,
                name="eagernb-server",
            )
        except (OSError, asyncio.TimeoutError) as exc:
            raise OSError(
                f"Cannot reach the Dask scheduler at {self.address} ({exc}). Start one (`dask "
                "scheduler`) or pass the address of a running one to --scheduler; a slow "
                "network may need a longer Dask connect timeout "
                "(DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT=60s)."
            ) from None
        self._subscribe()
        self._keeper = asyncio.ensure_future(self._keep_subscribed())

    def _subscribe(self) -> None:
        self._client.subscribe_topic(STARTED_TOPIC, self._on_started)
        self._client.subscribe_topic("all", self._on_cluster_event)

    async def _keep_subscribed(self) -> None:
        """Subscribe again whenever the client reconnects to a scheduler (one restarted,
        say): Dask's client re-sends its futures' keys, not its topic subscriptions, and
        without them starts and lost workers would go unheard."""
        client = self._client
        comm = client.scheduler_comm
        while self._client is client:
            await asyncio.sleep(_RECONNECT_CHECK)
            if client.status == "connecting" and comm is not None:
                comm = None  # the subscriptions wait in the client's buffer until it is back
                self._subscribe()
                _log.warning("eagernb: lost the Dask scheduler at %s; reconnecting", self.address)
            elif client.status == "running" and client.scheduler_comm is not comm:
                if comm is not None:  # reconnected between two looks: subscribe now
                    self._subscribe()
                comm = client.scheduler_comm
                _log.warning("eagernb: connected to the Dask scheduler at %s", self.address)

    async def aclose(self) -> None:
        """Cancel what still runs and disconnect (the cluster itself keeps running)."""
        client, self._client = self._client, None
        if client is None:
            return
        for watcher in [*self._watchers, self._drainer, self._keeper]:
            if watcher is not None:
                watcher.cancel()
        with contextlib.suppress(Exception):
            futures = [f for p in self._pending.values() for f in p.futures]
            if futures:
                await client.cancel(futures, force=True)
        await client.close()

    async def abandon(self, attempts: list[tuple[str, int]]) -> None:
        """Stop jobs a previous server left on the cluster: cancel their keys and kill their
        processes on every worker (a key never started is kept from starting)."""
        client = self._client
        if client is None or not attempts:
            return
        from distributed import Future

        keys = [f"eagernb-{execution_id}-{attempt}" for execution_id, attempt in attempts]
        with contextlib.suppress(Exception):
            await client.cancel([Future(key, client) for key in keys], force=True)
        try:
            stopping = client.run(stop_jobs, keys, on_error="ignore")
            await asyncio.wait_for(stopping, 30)
        except Exception as exc:  # a worker is gone or does not answer: say so, go on
            _log.warning("eagernb: could not stop jobs a previous server left on Dask: %r", exc)

    # -- running a job ----------------------------------------------------------------------

    async def execute(self, job: Job) -> JobResult:
        client = self._client
        if client is None:
            raise RuntimeError("This Dask engine is not connected; call start() first.")
        wanted = dask_resources(job.resources)
        if wanted:
            refusal = await self._refusal(job, wanted)
            if refusal is not None:
                return refusal
        key = f"eagernb-{job.execution_id}-{job.attempt}"
        loop = asyncio.get_running_loop()
        pending = _Pending(job, wanted, job.payload, loop.create_future())
        self._pending[key] = pending
        try:
            if len(job.payload) > _SCATTER_BYTES:
                pending.payload = await client.scatter(job.payload, hash=False, direct=False)
                pending.futures.append(pending.payload)
            self._unsent.append(key)
            if len(self._unsent) == 1:  # jobs that come in the same loop turn go together
                loop.call_soon(self._send)
            try:
                kind, value = await pending.outcome
            except asyncio.CancelledError:
                pending.dropped = True
                await asyncio.shield(self._stop(key, pending))
                raise
            if kind == "refused":  # the last worker that could run it left the cluster
                pending.dropped = True
                await self._stop(key, pending)
                return value  # type: ignore[no-any-return]
            if kind == "lost":
                # Dask may already have started this key again on another worker (it retries
                # tasks of lost workers): stop it on every worker, so only our retry runs.
                pending.dropped = True
                await self._stop(key, pending, everywhere=True)
                return self._lost(job, value)
            return self._result(job, pending, kind, value)
        finally:
            self._pending.pop(key, None)

    def _send(self) -> None:
        """Submit the jobs waiting to be sent: one ``client.map`` for those asking for the
        same resources, so the scheduler takes each batch as one graph."""
        keys, self._unsent = self._unsent, []
        groups: dict[tuple[tuple[str, float], ...], list[tuple[str, _Pending]]] = {}
        for key in keys:
            pending = self._pending.get(key)
            if pending is not None and not pending.dropped:
                groups.setdefault(tuple(sorted(pending.wanted.items())), []).append((key, pending))
        for wanted, items in groups.items():
            try:
                futures = self._client.map(
                    run_job,
                    [key for key, _ in items],
                    [p.payload for _, p in items],
                    [p.job.inputs for _, p in items],
                    [p.job.env for _, p in items],
                    [p.job.payload_sha for _, p in items],
                    key=[key for key, _ in items], pure=False, retries=0,
                    resources=dict(wanted) or None,
                )  # fmt: skip
            except Exception as exc:  # the client is closing, or refused the batch
                for _, pending in items:
                    if not pending.outcome.done():
                        pending.outcome.set_result(("error", exc))
                continue
            for (_, pending), future in zip(items, futures, strict=True):
                pending.futures.append(future)
            for future in futures:
                watcher = asyncio.ensure_future(self._watch(future))
                self._watchers.add(watcher)
                watcher.add_done_callback(self._watchers.discard)

    async def _watch(self, future: Any) -> None:
        """Wait for the Dask future to finish (or fail, or be cancelled), then have its
        result fetched with the others that finish about then."""
        # What ``Client.gather`` waits on for each of its keys: the future's state. (Should
        # a later distributed lack it, awaiting the future fetches its result on its own.)
        state = getattr(future, "_state", None)
        with contextlib.suppress(Exception):
            await (future if state is None else state.wait())
        self._ready.append(future)
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.ensure_future(self._drain())

    async def _drain(self) -> None:
        while self._ready:
            if len(self._pending) > len(self._ready):  # more to come: let a few finish too
                await asyncio.sleep(_GATHER_WINDOW)
            futures, self._ready = self._ready, []
            await self._deliver(futures)

    async def _deliver(self, futures: list[Any]) -> None:
        wanted = [f for f in futures if f.key in self._pending]
        ready = [f for f in wanted if f.status == "finished"]
        if ready:
            try:
                values = await self._client.gather(ready)
            except Exception:  # one of them was cancelled or lost meanwhile: one by one
                pass
            else:
                for future, value in zip(ready, values, strict=True):
                    self._settle(future.key, ("ok", value))
        for future in wanted:
            pending = self._pending.get(future.key)
            if pending is not None and not pending.outcome.done():
                self._settle(future.key, await _outcome(future))

    def _settle(self, key: str, outcome: tuple[str, Any]) -> None:
        pending = self._pending.get(key)
        if pending is not None and not pending.outcome.done():
            pending.outcome.set_result(outcome)

    async def _stop(self, key: str, pending: _Pending, *, everywhere: bool = False) -> None:
        """Cancel the job's Dask future and kill its process where it runs (``everywhere``:
        on every worker, where it also may not start any more); a start heard later for
        this key is stopped as soon as it arrives.
        """
        client = self._client
        if client is None:
            return
        with contextlib.suppress(Exception):
            await client.cancel(pending.futures, force=True)
        self._cancelled_unstarted[key] = None
        while len(self._cancelled_unstarted) > _UNSTARTED_KEPT:
            self._cancelled_unstarted.popitem(last=False)
        if everywhere or pending.worker is not None:
            await self._stop_on(None if everywhere else pending.worker, key)

    async def _stop_on(self, worker: str | None, key: str) -> None:
        """Run ``stop_job(key)`` on ``worker`` (None: on every worker)."""
        client = self._client
        if client is None:
            return
        workers = None if worker is None else [worker]
        try:
            stopping = client.run(stop_job, key, workers=workers, on_error="ignore")
            await asyncio.wait_for(stopping, 30)
        except Exception as exc:  # the worker is gone, or does not answer
            _log.warning("eagernb: could not stop Dask job %s on %s: %r", key, worker, exc)

    def _result(self, job: Job, pending: _Pending, kind: str, value: Any) -> JobResult:
        if kind == "ok":
            reply, parts = value
            ago = None  # a start not heard (it ended within its grace, or its announcement
            # was lost with the scheduler) comes with the result
            if pending.worker is None and reply.get("ran_for") is not None:
                ago = float(reply["ran_for"])
            if reply.get("output"):  # what it printed, sent along with the result
                job.output(reply["output"])
            if reply.get("lost"):  # the eagernb process on the worker died
                return JobResult(
                    ok=False,
                    error=worker_lost(reply["pid"], job.execution_id, job.attempt, reply["code"]),
                    worker_lost=True,
                )
            if reply.get("ok"):
                return JobResult(
                    ok=True,
                    output=parts[0] if parts else b"",
                    preview=text_preview(reply.get("preview")),
                    started_ago=ago,
                )
            return JobResult(
                ok=False,
                error=reply.get("error"),
                exception=parts[1] if len(parts) > 1 else None,
                started_ago=ago,
            )
        if kind == "killed":
            return self._lost(job, pending.worker or "(unknown)")
        if kind == "cancelled":
            message = (
                f"The Dask cluster dropped execution {job.execution_id} during attempt "
                f"{job.attempt} ({value}); the scheduler may have restarted or lost its "
                "connection to this server. Give the task retries to ride this out."
            )
            return JobResult(ok=False, error=failure("eagernb.WorkerLostError", message))
        message = (
            f"The Dask worker could not run execution {job.execution_id} (attempt "
            f"{job.attempt}): {type(value).__name__}: {value}. Dask workers need eagernb "
            "installed, the same version as the server, with the same Python minor version "
            "and cloudpickle major version as the clients."
        )
        return JobResult(ok=False, error=failure("eagernb.DaskWorkerError", message))

    @staticmethod
    def _lost(job: Job, worker: str) -> JobResult:
        message = (
            f"The Dask worker {worker} running execution {job.execution_id} was lost during "
            f"attempt {job.attempt} (it died or left the cluster) before it returned a result. "
            "Look for code that ends the process or exhausts its memory, or give the task "
            "retries if the failure was transient."
        )
        return JobResult(
            ok=False, error=failure("eagernb.WorkerLostError", message), worker_lost=True
        )

    async def _offers(self) -> list[dict[str, float]]:
        """The resources each current worker offers."""
        info = await self._client.scheduler.identity(n_workers=-1)
        return [w.get("resources") or {} for w in (info.get("workers") or {}).values()]

    async def _refusal(
        self, job: Job, wanted: dict[str, float], offers: list[dict[str, float]] | None = None
    ) -> JobResult | None:
        """A failure if no current worker offers everything ``wanted``, else None."""
        offers = await self._offers() if offers is None else offers
        if any(all(offer.get(k, 0) >= v for k, v in wanted.items()) for offer in offers):
            return None
        kinds = Counter(describe_resources(o) if o else "no resources" for o in offers)
        seen = [f"{n} offer{'s' if n == 1 else ''} {what}" for what, n in sorted(kinds.items())]
        flag = ",".join(f"{k}={_number(v)}" for k, v in wanted.items())
        return unsatisfiable(
            job.execution_id,
            wanted,
            f"no worker of the Dask cluster at {self.address} offers that much (of its "
            f"{len(offers)} workers, {'; '.join(seen) or 'none'}). Start workers that offer "
            f'them (dask worker --resources "{flag}"), or ask for less.',
        )

    # -- what the cluster tells us ----------------------------------------------------------

    def _on_started(self, event: tuple[float, dict[str, Any]]) -> None:
        _, msg = event
        key, worker = msg.get("key"), msg.get("worker")
        if not isinstance(key, str) or not isinstance(worker, str):
            return
        if self._cancelled_unstarted.pop(key, 0) is None:  # cancelled while this was on its way
            self._in_background(self._stop_on(worker, key))
            return
        pending = self._pending.get(key)
        if pending is not None:
            pending.worker = worker
            pending.job.started(0.0)

    def _on_cluster_event(self, event: tuple[float, dict[str, Any]]) -> None:
        _, msg = event
        if not isinstance(msg, dict) or msg.get("action") != "remove-worker":
            return
        address = msg.get("worker")
        waiting = False  # for a worker offering some resources, and not started yet
        for pending in list(self._pending.values()):
            if pending.outcome.done():
                continue
            if pending.worker == address:
                pending.outcome.set_result(("lost", str(address)))
            elif pending.wanted and pending.worker is None:
                waiting = True
        if waiting:
            self._in_background(self._refuse_unsatisfiable())

    async def _refuse_unsatisfiable(self) -> None:
        """Fail the jobs waiting for resources that no remaining worker offers (its last
        such worker just left), as ``execute`` refuses them when none is there at first."""
        offers = await self._offers()
        for pending in list(self._pending.values()):
            if pending.outcome.done() or not pending.wanted or pending.worker is not None:
                continue
            refusal = await self._refusal(pending.job, pending.wanted, offers)
            if refusal is not None and not pending.outcome.done():
                pending.outcome.set_result(("refused", refusal))

    def _in_background(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)


def _number(value: float) -> str:
    """A resource amount as ``dask worker --resources`` takes it back exactly."""
    return str(int(value)) if value == int(value) else repr(value)


async def _outcome(future: Any) -> tuple[str, Any]:
    """The Dask future's result as (kind, value): ok, killed, cancelled or error."""
    from distributed import KilledWorker
    from distributed.client import FutureCancelledError

    try:
        return "ok", await future
    except KilledWorker as exc:
        return "killed", exc
    except FutureCancelledError as exc:
        return "cancelled", exc
    except asyncio.CancelledError:
        raise
    except Exception as exc:
        return "error", exc
