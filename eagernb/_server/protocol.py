"""Framed messages between the server and a worker process, over its stdin and stdout.

A frame is a 4-byte big-endian header length, a JSON header, then the binary parts whose
lengths the header lists (``"parts": [n, ...]``, ``null`` for an absent part). JSON, not
pickle, so the server never unpickles what a worker sends.
"""

from __future__ import annotations

import asyncio
import json
import struct
from typing import IO, Any

__all__ = ["encode", "read_frame", "read_frame_sync"]

_LENGTH = struct.Struct(">I")
Frame = tuple[dict[str, Any], list[bytes | None]]


def encode(header: dict[str, Any], *parts: bytes | None) -> bytes:
    header = {**header, "parts": [None if p is None else len(p) for p in parts]}
    head = json.dumps(header, separators=(",", ":")).encode()
    return b"".join([_LENGTH.pack(len(head)), head, *(p for p in parts if p)])


def _split(header: dict[str, Any]) -> list[int | None]:
    return list(header.pop("parts", []))


async def read_frame(reader: asyncio.StreamReader) -> Frame:
    """Read one frame; raises ``asyncio.IncompleteReadError`` at end of stream."""
    (size,) = _LENGTH.unpack(await reader.readexactly(_LENGTH.size))
    header = json.loads(await reader.readexactly(size))
    parts: list[bytes | None] = []
    for n in _split(header):
        parts.append(None if n is None else await reader.readexactly(n))
    return header, parts


def _read_exactly(stream: IO[bytes], n: int) -> bytes:
    chunks: list[bytes] = []
    while n:
        chunk = stream.read(n)
        if not chunk:
            raise EOFError("the other side closed the stream")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def read_frame_sync(stream: IO[bytes]) -> Frame:
    """Read one frame from a binary stream; raises ``EOFError`` at end of stream."""
    (size,) = _LENGTH.unpack(_read_exactly(stream, _LENGTH.size))
    header = json.loads(_read_exactly(stream, size))
    parts: list[bytes | None] = []
    for n in _split(header):
        parts.append(None if n is None else _read_exactly(stream, n))
    return header, parts
