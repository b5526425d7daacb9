"""Framed messages: between the server and its worker processes (over their stdin and
stdout), and between clients and the server where bytes travel in bulk (a batch of
submissions with their inputs, a client's notification channel).

A frame is a 4-byte big-endian header length, a JSON header, then the binary parts whose
lengths the header lists (``"parts": [n, ...]``, ``null`` for an absent part). JSON, not
pickle, so the server never unpickles what a worker or a client sends.
"""

from __future__ import annotations

import asyncio
import json
import struct
from typing import IO, Any

__all__ = ["Frame", "FrameBuffer", "decode", "encode", "read_frame", "read_frame_sync"]

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


def _parts(data: bytes, start: int, sizes: list[int | None]) -> tuple[list[bytes | None], int]:
    parts: list[bytes | None] = []
    for n in sizes:
        if n is None:
            parts.append(None)
        else:
            parts.append(data[start : start + n])
            start += n
    return parts, start


def decode(data: bytes) -> list[Frame]:
    """Every frame in ``data``; raises ``ValueError`` if it ends inside one."""
    buffer = FrameBuffer()
    frames = buffer.feed(data)
    if buffer.pending:
        raise ValueError(f"The data ends inside a frame ({buffer.pending} bytes left over).")
    return frames


class FrameBuffer:
    """Frames out of a byte stream that arrives in pieces of any size."""

    def __init__(self) -> None:
        self._data = b""

    @property
    def pending(self) -> int:
        """Bytes received that do not make a whole frame yet."""
        return len(self._data)

    def feed(self, chunk: bytes) -> list[Frame]:
        data = self._data + chunk if self._data else chunk
        frames: list[Frame] = []
        at = 0
        while len(data) - at >= _LENGTH.size:
            (size,) = _LENGTH.unpack_from(data, at)
            head_end = at + _LENGTH.size + size
            if len(data) < head_end:
                break
            header = json.loads(data[at + _LENGTH.size : head_end])
            sizes = header.get("parts", [])
            if len(data) < head_end + sum(n for n in sizes if n):
                break
            del header["parts"]
            parts, at = _parts(data, head_end, sizes)
            frames.append((header, parts))
        self._data = data[at:]
        return frames
