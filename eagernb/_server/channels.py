"""Notification channels: one stream per client that tells it when its executions end.

A client names a channel (a random id) when it submits executions. The server pushes a
frame on that channel when one of them finishes (its record, with the output or the
pickled exception inline when small) and when it prints, so a client running thousands of
children holds one stream instead of one long poll per child.

A channel exists from its first mention (a submission or the client's stream, whichever
comes first) and buffers frames until the stream reads them; it is dropped when its stream
ends, or, never streamed, after ``_UNCLAIMED`` seconds. A client whose stream breaks falls
back to asking for each execution; nothing is lost because the records are in the store.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from time import monotonic
from typing import Any

from .._engines.frames import encode

__all__ = ["Channels"]

_UNCLAIMED = 120.0
_BATCH_BYTES = 1 << 20  # frames joined into one chunk of the stream at most


class _Channel:
    __slots__ = ("created", "frames", "streamed", "wake")

    def __init__(self) -> None:
        self.frames: list[bytes] = []
        self.wake = asyncio.Event()
        self.streamed = False
        self.created = monotonic()


class Channels:
    """The open channels, by id."""

    def __init__(self) -> None:
        self._channels: dict[str, _Channel] = {}
        self._uplinks: set[asyncio.Task[Any]] = set()
        self.closed = False

    @contextlib.contextmanager
    def uplink(self) -> Iterator[None]:
        """Around an uplink's reading: ``close`` stops it (it raises CancelledError)."""
        task = asyncio.current_task()
        assert task is not None
        self._uplinks.add(task)
        try:
            yield
        finally:
            self._uplinks.discard(task)

    def close(self) -> None:
        """The server is stopping: each stream ends once it has sent what waits for it,
        and uplinks stop reading, so clients hear everything and no request is cut."""
        self.closed = True
        for channel in self._channels.values():
            channel.wake.set()
        for task in self._uplinks:
            task.cancel()

    def __len__(self) -> int:
        return len(self._channels)

    def _get(self, channel_id: str) -> _Channel:
        channel = self._channels.get(channel_id)
        if channel is None:
            self._sweep()
            channel = self._channels[channel_id] = _Channel()
        return channel

    def open(self, channel_id: str) -> None:
        """Make sure ``channel_id`` exists, so frames sent to it wait for its stream."""
        self._get(channel_id)

    def send(self, channel_id: str, header: dict[str, Any], *parts: bytes | None) -> None:
        channel = self._channels.get(channel_id)
        if channel is None:
            return  # its stream ended: the client asks for the record instead
        channel.frames.append(encode(header, *parts))
        channel.wake.set()

    async def stream(self, channel_id: str) -> AsyncIterator[bytes]:
        """The channel's frames as they come, until the client goes away."""
        channel = self._get(channel_id)
        if channel.streamed:
            raise ValueError(f"Channel {channel_id} already has a stream.")
        channel.streamed = True
        try:
            yield encode({"type": "open"})
            while True:
                if self.closed and not channel.frames:
                    return  # the server is stopping, and the client has heard everything
                await channel.wake.wait()
                channel.wake.clear()
                frames, channel.frames = channel.frames, []
                chunk: list[bytes] = []
                size = 0
                for frame in frames:
                    chunk.append(frame)
                    size += len(frame)
                    if size >= _BATCH_BYTES:
                        yield b"".join(chunk)
                        chunk, size = [], 0
                if chunk:
                    yield b"".join(chunk)
        finally:
            self._channels.pop(channel_id, None)

    def _sweep(self) -> None:
        now = monotonic()
        stale = [
            key
            for key, channel in self._channels.items()
            if not channel.streamed and now - channel.created > _UNCLAIMED
        ]
        for key in stale:
            del self._channels[key]
