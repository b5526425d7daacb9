"""Content-addressed blobs: ``blobs/ab/cdef...`` files named by the sha256 of their bytes.

Writes go to a temporary file that is renamed into place, so a reader never sees half a
blob and two writers of the same bytes both succeed. Blobs are immutable, so small ones
are cached in memory. The small values the server stores itself (inputs sent with a
submission, outputs, exceptions) go into the database instead (``SmallBlobs``), where one
is a row rather than a file.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import re
import tempfile
from collections import OrderedDict
from pathlib import Path
from typing import Protocol

__all__ = ["SHA256", "BlobStore", "BlobWriter", "SmallBlobs"]

SHA256 = re.compile(r"^[0-9a-f]{64}$")
_SMALL = 1 << 20  # read and write blobs up to this size on the event loop, larger in a thread
_CACHE_BYTES = 64 << 20
_IN_DATABASE = 64 << 10  # values the server stores up to this size go into ``small``


class SmallBlobs(Protocol):
    """Where small blobs are kept as rows (the store's database)."""

    def small_blob(self, sha: str) -> bytes | None: ...

    def put_small_blob(self, sha: str, data: bytes) -> None: ...


class BlobStore:
    """Blobs in ``root``, each stored once under its sha256 (small ones in ``small``)."""

    def __init__(self, root: Path, small: SmallBlobs | None = None) -> None:
        self.root = root
        self._small = small
        self._tmp = root / "tmp"
        self._tmp.mkdir(parents=True, exist_ok=True)
        self._cache: OrderedDict[str, bytes] = OrderedDict()
        self._cached = 0

    def path(self, sha: str) -> Path:
        return self.root / sha[:2] / sha[2:]

    def has(self, sha: str) -> bool:
        return sha in self._cache or self._row(sha) is not None or self.path(sha).is_file()

    def _row(self, sha: str) -> bytes | None:
        return None if self._small is None else self._small.small_blob(sha)

    def size(self, sha: str) -> int:
        """The blob's size in bytes; raises ``FileNotFoundError`` if it is not stored."""
        data = self._cache.get(sha)
        if data is None:
            data = self._row(sha)
        return len(data) if data is not None else self.path(sha).stat().st_size

    def read(self, sha: str) -> bytes:
        """The blob's bytes; raises ``FileNotFoundError`` if it is not stored."""
        data = self._cache.get(sha)
        if data is not None:
            self._cache.move_to_end(sha)
            return data
        data = self._row(sha)
        if data is None:
            data = self.path(sha).read_bytes()
        self._remember(sha, data)
        return data

    async def read_async(self, sha: str) -> bytes:
        """``read`` that reads a large file in a thread (the database stays on this one)."""
        if sha in self._cache or self._row(sha) is not None or self.size(sha) <= _SMALL:
            return self.read(sha)
        return await asyncio.to_thread(self.path(sha).read_bytes)

    def put(self, data: bytes) -> str:
        """Store ``data`` (if it is not there yet) and return its sha256."""
        sha = hashlib.sha256(data).hexdigest()
        if self._small is not None and len(data) <= _IN_DATABASE:
            if sha not in self._cache:
                self._small.put_small_blob(sha, data)
                self._remember(sha, data)
        elif not self.path(sha).is_file():  # (may run in a thread: no database here)
            writer = self.writer()
            writer.write(data)
            writer.commit(sha)
        return sha

    async def put_async(self, data: bytes) -> str:
        if len(data) <= _SMALL:
            return self.put(data)
        return await asyncio.to_thread(self.put, data)

    def writer(self) -> BlobWriter:
        """A temporary file to stream a blob into; ``commit`` it under its sha256."""
        return BlobWriter(self)

    def _remember(self, sha: str, data: bytes) -> None:
        if len(data) > _SMALL or sha in self._cache:
            return
        self._cache[sha] = data
        self._cached += len(data)
        while self._cached > _CACHE_BYTES:
            _, old = self._cache.popitem(last=False)
            self._cached -= len(old)


class BlobWriter:
    """Bytes on their way into the store, hashed as they arrive."""

    def __init__(self, store: BlobStore) -> None:
        self._store = store
        fd, name = tempfile.mkstemp(dir=store._tmp, prefix="upload-")
        self._file = os.fdopen(fd, "wb")
        self._path = Path(name)
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, chunk: bytes) -> None:
        self._file.write(chunk)
        self._hash.update(chunk)
        self.size += len(chunk)

    @property
    def sha256(self) -> str:
        return self._hash.hexdigest()

    def commit(self, sha: str) -> bool:
        """Move the bytes into place as blob ``sha``; False if that blob was already stored."""
        self._file.close()
        target = self._store.path(sha)
        if target.is_file():
            self.discard()
            return False
        target.parent.mkdir(exist_ok=True)
        os.replace(self._path, target)
        return True

    def discard(self) -> None:
        self._file.close()
        with contextlib.suppress(FileNotFoundError):
            self._path.unlink()
