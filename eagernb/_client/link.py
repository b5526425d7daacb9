"""A ``Remote``'s connection on one event loop: its HTTP client, batched submissions and
one notification channel.

Two long-lived requests carry a loop's children: the *channel* (a stream from the server
saying when each child was accepted, started, printed and ended, with small outputs
inline) and the *uplink* (a streamed request body on which submissions go up as frames,
those launched together, e.g. by ``asyncio.gather``, in one frame). A child then costs a
few frames on connections already open instead of several HTTP requests. Without an
uplink (an older server, or it broke), batches go up as ``POST /submit`` requests; if
the channel breaks, waiting falls back to asking for each execution, so nothing is lost.

The link lives as long as its loop: a keeper task closes the HTTP client when the loop's
``asyncio.run`` ends (which cancels the tasks still pending), so no sockets are left open.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx

from .._engines.frames import FrameBuffer, encode
from .errors import RemoteRequestError

__all__ = ["ChannelLost", "Final", "Link", "Listener"]

_log = logging.getLogger("eagernb.client")
_BATCH = 500  # submissions per request at most

Final = tuple[dict[str, Any], bytes | None]
"""An execution's final record and its output (or pickled exception) when sent inline."""
Listener = Callable[[dict[str, Any]], None]
"""Called with each ``started`` and ``output`` frame of one execution (its header)."""


_Submission = tuple[dict[str, Any], bytes | None, "asyncio.Future[Any]"]
"""A submission's request body, its inline inputs, and the future of its record."""


class ChannelLost(Exception):
    """The notification stream broke: ask the server for the execution instead."""


class Link:
    """What one ``Remote`` keeps on one event loop (see the module docstring)."""

    def __init__(self, client: httpx.AsyncClient, check: Callable[[httpx.Response], Any]) -> None:
        self.client = client
        self._check = check
        self._queue: list[_Submission] = []
        self._sender: asyncio.Task[None] | None = None
        self.channel_id: str | None = None
        self._reader: asyncio.Task[None] | None = None
        self._finals: dict[str, asyncio.Future[Final]] = {}
        self._early: dict[str, Final] = {}  # finals that arrived before their submission's reply
        self._handed: set[str] = set()  # executions whose final future ``final`` handed out
        self._listeners: dict[str, Listener] = {}
        self._early_frames: dict[str, list[dict[str, Any]]] = {}
        self._uplink: asyncio.Queue[bytes | None] = asyncio.Queue()
        self._uplink_task: asyncio.Task[None] | None = None
        self._accepting: dict[int, list[_Submission]] = {}  # uplinked, not confirmed yet
        self._tag = 0
        self._closed = False
        self.on_close: Callable[[], None] = lambda: None
        self._cancels: set[asyncio.Task[Any]] = set()
        self._keeper = asyncio.get_running_loop().create_task(
            self._keep(), name="eagernb remote link"
        )

    # -- submitting ---------------------------------------------------------------------------

    async def submit(
        self, body: dict[str, Any], inputs: bytes | None, listener: Listener | None = None
    ) -> dict[str, Any]:
        """Start one execution (``inputs``: its pickled inputs, or None when ``body`` names an
        uploaded blob); returns its record. It is sent with whatever else is being submitted.
        """
        channel = self._channel()
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        # The key makes sending it again (after a connection broke) start it only once.
        body = {**body, "key": secrets.token_hex(12)}
        self._queue.append(({**body, "notify": channel} if channel else body, inputs, future))
        self._kick()
        try:
            execution: dict[str, Any] = await asyncio.shield(future)
        except asyncio.CancelledError:
            # Its caller gave up while the request was on its way: cancel what it started.
            future.add_done_callback(self._cancel_started)
            raise
        if channel is not None:
            self._expect(execution["id"], listener)
        return execution

    def _kick(self) -> None:
        if self._queue and (self._sender is None or self._sender.done()):
            self._sender = asyncio.get_running_loop().create_task(self._send())

    def _cancel_started(self, future: asyncio.Future[Any]) -> None:
        if future.cancelled() or future.exception() is not None or self._closed:
            return
        execution_id = future.result()["id"]
        task = asyncio.get_running_loop().create_task(
            self.client.post(f"/executions/{execution_id}/cancel")
        )
        self._cancels.add(task)
        task.add_done_callback(self._cancels.discard)

    async def _send(self) -> None:
        while self._queue:
            batch, self._queue = self._queue[:_BATCH], self._queue[_BATCH:]
            items: list[dict[str, Any]] = []
            parts: list[bytes] = []
            for body, inputs, _ in batch:
                if inputs is not None:
                    body = {**body, "inputs": len(parts)}
                    parts.append(inputs)
                items.append(body)
            if self._uplink_open():
                self._tag += 1
                self._accepting[self._tag] = batch
                self._uplink.put_nowait(encode({"tag": self._tag, "executions": items}, *parts))
                continue
            try:
                response = await self.client.post(
                    "/submit",
                    content=encode({"executions": items}, *parts),
                    headers={"content-type": "application/octet-stream"},
                )
                results = self._check(response)["results"]
            except BaseException as exc:
                for _, _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
                if isinstance(exc, asyncio.CancelledError):
                    raise
                continue
            _settle([future for _, _, future in batch], results)

    def _uplink_open(self) -> bool:
        if self._closed or self._reader is None or self._reader.done():
            return False
        if self._uplink_task is None:
            self._uplink_task = asyncio.get_running_loop().create_task(
                self._upload(str(self.channel_id)), name="eagernb remote uplink"
            )
        return not self._uplink_task.done()

    async def _upload(self, channel_id: str) -> None:
        async def frames() -> AsyncIterator[bytes]:
            while (frame := await self._uplink.get()) is not None:
                yield frame

        try:
            response = await self.client.post(
                f"/uplink/{channel_id}",
                content=frames(),
                headers={"content-type": "application/octet-stream"},
                timeout=None,
            )
            self._check(response)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            _log.debug("eagernb: the uplink broke (%r); submitting by request instead", exc)
        self._resend_unconfirmed()

    def _resend_unconfirmed(self) -> None:
        """Send again, by request, what went up the uplink unconfirmed (their keys make the
        server start each one once)."""
        waiting = [
            ({k: v for k, v in body.items() if k != "notify"}, inputs, future)
            for batch in self._accepting.values()
            for body, inputs, future in batch
        ]
        self._accepting.clear()
        if waiting and not self._closed:
            self._queue[:0] = waiting
            self._kick()

    # -- waiting ------------------------------------------------------------------------------

    def final(self, execution_id: str) -> asyncio.Future[Final] | None:
        """A future for the execution's final record, or None: ask the server instead."""
        if execution_id in self._early:
            future: asyncio.Future[Final] = asyncio.get_running_loop().create_future()
            future.set_result(self._early.pop(execution_id))
            return future
        waiting = self._finals.get(execution_id)
        if waiting is not None:
            self._handed.add(execution_id)
        return waiting

    def forget(self, execution_id: str) -> None:
        """Stop listening for ``execution_id`` (its caller stopped waiting)."""
        self._finals.pop(execution_id, None)
        self._handed.discard(execution_id)
        self._early.pop(execution_id, None)
        self._listeners.pop(execution_id, None)
        self._early_frames.pop(execution_id, None)

    def watching(self, execution_id: str) -> bool:
        """Whether the channel will say when ``execution_id`` starts and ends."""
        return execution_id in self._finals or execution_id in self._early

    def _expect(self, execution_id: str, listener: Listener | None) -> None:
        early = self._early_frames.pop(execution_id, ())
        if listener is not None:
            self._listeners[execution_id] = listener
            for header in early:
                listener(header)
        listening = self._reader is not None and not self._reader.done()
        if execution_id not in self._early and listening:
            self._finals[execution_id] = asyncio.get_running_loop().create_future()

    def _channel(self) -> str | None:
        """This loop's channel (opened on first use), or None once it broke."""
        if self._closed:
            return None
        if self._reader is None:
            self.channel_id = secrets.token_hex(16)
            self._reader = asyncio.get_running_loop().create_task(
                self._read(self.channel_id), name="eagernb remote channel"
            )
        elif self._reader.done():
            return None
        return self.channel_id

    async def _read(self, channel_id: str) -> None:
        buffer = FrameBuffer()
        try:
            async with self.client.stream("GET", f"/channels/{channel_id}", timeout=None) as reply:
                if not reply.is_success:
                    await reply.aread()
                    self._check(reply)
                async for chunk in reply.aiter_raw():
                    for header, parts in buffer.feed(chunk):
                        self._on_frame(header, parts)
            raise ChannelLost("The server ended the notification stream.")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            _log.debug("eagernb: the notification channel broke (%r); polling instead", exc)
            self._lose(exc)

    def _on_frame(self, header: dict[str, Any], parts: list[bytes | None]) -> None:
        kind = header.get("type")
        if kind == "submitted":
            batch = self._accepting.pop(header["tag"], [])
            _settle([future for _, _, future in batch], header["results"])
        elif kind == "final":
            execution = header["execution"]
            final: Final = (execution, parts[0] if parts else None)
            self._listeners.pop(execution["id"], None)
            future = self._finals.pop(execution["id"], None)
            if execution["id"] in self._handed:  # someone waits on the future
                self._handed.discard(execution["id"])
            else:  # kept for ``final``, asked later (a followed run's root, once followed)
                self._early[execution["id"]] = final
            if future is not None and not future.done():
                future.set_result(final)
        elif kind in ("output", "started", "retrying"):
            listener = self._listeners.get(header["id"])
            if listener is not None:
                listener(header)
            else:
                self._early_frames.setdefault(header["id"], []).append(header)

    def _lose(self, exc: BaseException) -> None:
        if self._uplink_task is not None:
            self._uplink.put_nowait(None)  # end the upload: new batches go by request
        self._resend_unconfirmed()
        lost = ChannelLost(f"The notification channel broke: {exc!r}.")
        for future in self._finals.values():
            if not future.done():
                future.set_exception(lost)
                future.exception()  # a waiter that is gone already must not log it unheard
        self._finals.clear()
        self._handed.clear()
        self._listeners.clear()

    # -- closing ------------------------------------------------------------------------------

    async def _keep(self) -> None:
        try:
            await asyncio.Event().wait()  # until the loop's run ends and cancels it
        finally:
            await self.aclose()

    @property
    def closed(self) -> bool:
        return self._closed

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.on_close()
        current = asyncio.current_task()
        self._uplink.put_nowait(None)
        for task in (self._uplink_task, self._reader, self._sender, self._keeper, *self._cancels):
            if task is not None and task is not current and not task.done():
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
        self._lose(RuntimeError("the link was closed"))
        await self.client.aclose()


def _settle(futures: list[asyncio.Future[Any]], results: list[dict[str, Any]]) -> None:
    """Give each submission its execution record, or the reason the server refused it."""
    for future, result in zip(futures, results, strict=True):
        if future.done():
            continue  # its caller was cancelled; the server still runs it
        if "execution" in result:
            future.set_result(result["execution"])
        else:
            future.set_exception(_refused(result))


def _refused(result: dict[str, Any]) -> Exception:
    status = result.get("status")
    return RemoteRequestError(
        f"The control plane answered {status} to the submission: {result.get('error')}",
        status_code=status if isinstance(status, int) else None,
    )
