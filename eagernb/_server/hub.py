"""Live fan-out of stored events to the streams and long polls that wait for them, and
the event stream of one execution: its stored events, then live ones, until it is final.

The dispatcher publishes each event right after storing it, on the event loop thread, so
a reader that subscribes and then reads the store (with no ``await`` in between) misses
nothing and can drop duplicates by ``seq``.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

from .store import FINAL, Store, StoredEvent

__all__ = ["Hub", "event_lines"]

_BATCH = 500  # stored events sent per chunk of the stream


class Hub:
    """Subscribers per run tree (by ``root_id``) and waiters per execution."""

    def __init__(self) -> None:
        self._streams: dict[str, set[asyncio.Queue[StoredEvent]]] = {}
        self._finals: dict[str, asyncio.Event] = {}

    def publish(self, event: StoredEvent) -> None:
        for queue in self._streams.get(event.root_id, ()):
            queue.put_nowait(event)
        if event.final:
            final = self._finals.pop(event.execution_id, None)
            if final is not None:
                final.set()

    @contextlib.contextmanager
    def subscribe(self, root_id: str) -> Iterator[asyncio.Queue[StoredEvent]]:
        """A queue that receives every event of the tree rooted at ``root_id`` from now on."""
        queue: asyncio.Queue[StoredEvent] = asyncio.Queue()
        self._streams.setdefault(root_id, set()).add(queue)
        try:
            yield queue
        finally:
            streams = self._streams.get(root_id)
            if streams is not None:
                streams.discard(queue)
                if not streams:
                    del self._streams[root_id]

    async def wait_final(self, execution_id: str, timeout: float) -> None:
        """Return when ``execution_id`` finishes or after ``timeout`` seconds, whichever is first.

        The caller checks that the execution is not final yet, without awaiting in between.
        """
        final = self._finals.setdefault(execution_id, asyncio.Event())
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(final.wait(), timeout)


async def event_lines(
    store: Store, hub: Hub, execution: dict[str, Any], after: int
) -> AsyncIterator[str]:
    """NDJSON lines: events of ``execution`` and its descendants with ``seq > after``.

    Stored events come first, then live ones; the stream ends with the execution's own
    ``finished`` event (at once if that was sent before ``after``).
    """
    execution_id, root_id = execution["id"], execution["root_id"]
    with hub.subscribe(root_id) as live:
        # Subscribed before reading the store, with no await in between: nothing is missed.
        members = None if execution_id == root_id else store.subtree(execution_id)
        stored = store.events(root_id, after)
        current = store.execution(execution_id)
        done = current is not None and current["status"] in FINAL
        last = after
        lines: list[str] = []
        for event in stored:
            if members is None or event.execution_id in members:
                lines.append(event.line)
                last = event.seq
            if len(lines) == _BATCH:
                yield "\n".join(lines) + "\n"
                lines.clear()
        if lines:
            yield "\n".join(lines) + "\n"
            lines.clear()
        while not done:
            # Everything that arrived meanwhile goes out in one write: fewer, larger chunks.
            pending = [await live.get()]
            while not live.empty() and len(pending) < _BATCH:
                pending.append(live.get_nowait())
            for event in pending:
                if event.seq <= last:
                    continue
                if members is not None and event.execution_id not in members:
                    if event.type != "queued" or event.parent_id not in members:
                        continue
                    members.add(event.execution_id)
                last = event.seq
                lines.append(event.line)
                if event.final and event.execution_id == execution_id:
                    done = True
                    break
            if lines:
                yield "\n".join(lines) + "\n"
                lines.clear()
