"""The control plane's records in one SQLite file: entities, executions and their events.

Every state change of an execution is one transaction that updates its row and appends
an event holding a snapshot of the row, so the event log alone can replay a run. All
calls are made from the server's event loop thread; WAL mode keeps them quick.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["FINAL", "Store", "StoredEvent"]

FINAL = frozenset({"succeeded", "failed", "cancelled"})

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entities (
    project TEXT NOT NULL, domain TEXT NOT NULL, name TEXT NOT NULL, version TEXT NOT NULL,
    kind TEXT NOT NULL, interface_json TEXT NOT NULL, payload_sha TEXT NOT NULL,
    created_at REAL NOT NULL,
    PRIMARY KEY (project, domain, name, version)
);
CREATE TABLE IF NOT EXISTS executions (
    id TEXT PRIMARY KEY, root_id TEXT NOT NULL, parent_id TEXT,
    project TEXT NOT NULL, domain TEXT NOT NULL, name TEXT NOT NULL, version TEXT NOT NULL,
    kind TEXT NOT NULL, status TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
    max_retries INTEGER NOT NULL DEFAULT 0, timeout REAL, inputs_sha TEXT NOT NULL,
    output_sha TEXT, error_json TEXT,
    created_at REAL NOT NULL, started_at REAL, ended_at REAL,
    inputs_preview TEXT, output_preview TEXT
);
CREATE INDEX IF NOT EXISTS executions_root ON executions (root_id);
CREATE INDEX IF NOT EXISTS executions_parent ON executions (parent_id);
CREATE INDEX IF NOT EXISTS executions_scope ON executions (project, domain, created_at);
CREATE INDEX IF NOT EXISTS executions_status ON executions (status);
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY, execution_id TEXT NOT NULL, root_id TEXT NOT NULL,
    type TEXT NOT NULL, body_json TEXT NOT NULL, time REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS events_root ON events (root_id, seq);
CREATE TABLE IF NOT EXISTS small_blobs (sha TEXT PRIMARY KEY, data BLOB NOT NULL);
"""

_UPDATABLE = frozenset(
    {"status", "attempts", "output_sha", "output_preview", "error_json", "started_at", "ended_at"}
)
# Columns added since the first release: a database made before gains them when opened.
_ADDED_COLUMNS = {"executions": ("inputs_preview TEXT", "output_preview TEXT")}


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """One event as sent to clients: ``line`` is its NDJSON text (without the newline)."""

    seq: int
    execution_id: str
    parent_id: str | None
    root_id: str
    type: str
    final: bool
    line: str


def execution_json(row: sqlite3.Row) -> dict[str, Any]:
    """An execution as the API shows it."""
    error = row["error_json"]
    inputs_preview = row["inputs_preview"]
    return {
        "id": row["id"],
        "root_id": row["root_id"],
        "parent_id": row["parent_id"],
        "project": row["project"],
        "domain": row["domain"],
        "name": row["name"],
        "version": row["version"],
        "kind": row["kind"],
        "status": row["status"],
        "attempts": row["attempts"],
        "retries": row["max_retries"],
        "timeout": row["timeout"],
        "inputs_sha": row["inputs_sha"],
        "output_sha": row["output_sha"],
        "inputs_preview": json.loads(inputs_preview) if inputs_preview else None,
        "output_preview": row["output_preview"],
        "error": json.loads(error) if error else None,
        "created_at": row["created_at"],
        "started_at": row["started_at"],
        "ended_at": row["ended_at"],
    }


def entity_json(row: sqlite3.Row) -> dict[str, Any]:
    return {
        "project": row["project"],
        "domain": row["domain"],
        "name": row["name"],
        "version": row["version"],
        "kind": row["kind"],
        "payload_sha": row["payload_sha"],
        "interface": json.loads(row["interface_json"]),
        "created_at": row["created_at"],
    }


def _where(
    filters: dict[str, Any], projects: Collection[str] | None = None
) -> tuple[str, list[Any]]:
    """A WHERE clause for the filters that are not None, and ``project IN projects``."""
    used = {k: v for k, v in filters.items() if v is not None}
    clauses = [f"{k} = ?" for k in used]
    args = list(used.values())
    if projects is not None:
        clauses.append(f"project IN ({', '.join('?' * len(projects))})" if projects else "0")
        args.extend(sorted(projects))
    clause = " AND ".join(clauses)
    return (f"WHERE {clause}" if clause else ""), args


class Store:
    """Entities, executions and events in ``path`` (created if missing)."""

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        for table, columns in _ADDED_COLUMNS.items():
            have = {row[1] for row in self._db.execute(f"PRAGMA table_info({table})")}
            for column in columns:
                if column.split()[0] not in have:
                    self._db.execute(f"ALTER TABLE {table} ADD COLUMN {column}")
        self._depth = 0
        self._entities: dict[tuple[str, str, str, str | None], dict[str, Any]] = {}

    def close(self) -> None:
        self._db.close()

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        """One transaction for what the block does (nested blocks: a savepoint each), so
        a batch of changes costs one commit."""
        if self._db.in_transaction:
            self._depth += 1
            name = f"s{self._depth}"
            self._db.execute(f"SAVEPOINT {name}")
            try:
                yield
            except BaseException:
                self._db.execute(f"ROLLBACK TO {name}")
                self._db.execute(f"RELEASE {name}")
                raise
            finally:
                self._depth -= 1
            self._db.execute(f"RELEASE {name}")
            return
        self._db.execute("BEGIN")
        try:
            yield
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    # -- small blobs (see blobs.SmallBlobs) ---------------------------------------------------

    def small_blob(self, sha: str) -> bytes | None:
        row = self._db.execute("SELECT data FROM small_blobs WHERE sha = ?", (sha,)).fetchone()
        return None if row is None else bytes(row[0])

    def put_small_blob(self, sha: str, data: bytes) -> None:
        self._db.execute("INSERT OR IGNORE INTO small_blobs VALUES (?, ?)", (sha, data))

    # -- entities ----------------------------------------------------------------------------

    def add_entity(self, entity: dict[str, Any], now: float) -> tuple[dict[str, Any], bool]:
        """Register ``entity``; returns (the stored row, whether it was new)."""
        key = (entity["project"], entity["domain"], entity["name"], entity["version"])
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO entities VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (*key, entity["kind"], json.dumps(entity["interface"]), entity["payload_sha"], now),
        )
        stored = self.entity(*key)
        if stored is None:  # cannot happen: it was just inserted, or was already there
            raise RuntimeError(f"Entity {key} vanished from the store.")
        return stored, cursor.rowcount == 1

    def entity(
        self, project: str, domain: str, name: str, version: str | None = None
    ) -> dict[str, Any] | None:
        """That version, or the latest registered one when ``version`` is None."""
        key = (project, domain, name, version)
        if version is not None and key in self._entities:
            return dict(self._entities[key])  # a registered version never changes
        where, args = _where({"project": project, "domain": domain, "name": name})
        if version is not None:
            where, args = where + " AND version = ?", [*args, version]
        row = self._db.execute(
            f"SELECT * FROM entities {where} ORDER BY created_at DESC, rowid DESC LIMIT 1", args
        ).fetchone()
        if row is None:
            return None
        found = entity_json(row)
        if version is not None:
            self._entities[key] = found
        return dict(found)

    def entities(
        self, limit: int = 100, projects: Collection[str] | None = None, **filters: str | None
    ) -> list[dict[str, Any]]:
        """The newest entities matching ``filters``, in ``projects`` only unless it is None."""
        where, args = _where(filters, projects)
        rows = self._db.execute(
            f"SELECT * FROM entities {where} ORDER BY created_at DESC, rowid DESC LIMIT ?",
            [*args, limit],
        )
        return [entity_json(row) for row in rows]

    # -- executions ---------------------------------------------------------------------------

    def create_execution(
        self, row: dict[str, Any], now: float
    ) -> tuple[dict[str, Any], StoredEvent]:
        """Insert a queued execution and its ``queued`` event."""
        with self.transaction():
            self._db.execute(
                "INSERT INTO executions (id, root_id, parent_id, project, domain, name, version, "
                "kind, status, max_retries, timeout, inputs_sha, created_at, inputs_preview) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'queued', ?, ?, ?, ?, ?)",
                (
                    row["id"], row["root_id"], row["parent_id"], row["project"], row["domain"],
                    row["name"], row["version"], row["kind"], row["retries"], row["timeout"],
                    row["inputs_sha"], now,
                    json.dumps(row["inputs_preview"]) if row.get("inputs_preview") else None,
                ),
            )  # fmt: skip
            return self._event(row["id"], "queued", now)

    def transition(
        self, execution_id: str, type_: str, now: float, **changes: Any
    ) -> tuple[dict[str, Any], StoredEvent]:
        """Change an execution's columns and append the event ``type_`` saying so."""
        result = self._transition(execution_id, type_, now, False, changes)
        if result is None:  # cannot happen: only unfinished ones are skipped
            raise KeyError(execution_id)
        return result

    def advance(
        self, execution_id: str, type_: str, now: float, **changes: Any
    ) -> tuple[dict[str, Any], StoredEvent] | None:
        """``transition``, but only while the execution is unfinished (else None)."""
        return self._transition(execution_id, type_, now, True, changes)

    def _transition(
        self, execution_id: str, type_: str, now: float, unfinished: bool, changes: dict[str, Any]
    ) -> tuple[dict[str, Any], StoredEvent] | None:
        unknown = set(changes) - _UPDATABLE
        if unknown:
            raise ValueError(f"Cannot update execution columns {sorted(unknown)}.")
        columns = ", ".join(f"{k} = ?" for k in changes) or "status = status"
        guard = " AND status IN ('queued', 'running')" if unfinished else ""
        with self.transaction():
            cursor = self._db.execute(
                f"UPDATE executions SET {columns} WHERE id = ?{guard}",
                [*changes.values(), execution_id],
            )
            if cursor.rowcount == 0:
                return None  # nothing changed: the transaction has nothing to undo
            return self._event(execution_id, type_, now)

    def _event(
        self, execution_id: str, type_: str, now: float
    ) -> tuple[dict[str, Any], StoredEvent]:
        execution = self.execution(execution_id)
        if execution is None:
            raise KeyError(execution_id)
        body = json.dumps({"type": type_, "execution": execution, "time": now})
        cursor = self._db.execute(
            "INSERT INTO events (execution_id, root_id, type, body_json, time)"
            " VALUES (?, ?, ?, ?, ?)",
            (execution_id, execution["root_id"], type_, body, now),
        )
        seq = cursor.lastrowid or 0
        final = type_ == "finished"
        event = StoredEvent(
            seq, execution_id, execution["parent_id"], execution["root_id"], type_, final,
            _line(seq, body),
        )  # fmt: skip
        return execution, event

    def output_event(
        self, execution: dict[str, Any], chunks: list[list[str]], now: float
    ) -> StoredEvent:
        """Append an ``output`` event: text ``execution`` printed, ``[[stream, text], ...]``."""
        brief = {k: execution[k] for k in ("id", "parent_id", "root_id", "name", "kind")}
        body = json.dumps({"type": "output", "execution": brief, "chunks": chunks, "time": now})
        cursor = self._db.execute(
            "INSERT INTO events (execution_id, root_id, type, body_json, time)"
            " VALUES (?, ?, 'output', ?, ?)",
            (execution["id"], execution["root_id"], body, now),
        )
        seq = cursor.lastrowid or 0
        return StoredEvent(
            seq, execution["id"], execution["parent_id"], execution["root_id"], "output", False,
            _line(seq, body),
        )  # fmt: skip

    def outputs(self, root_id: str) -> list[dict[str, Any]]:
        """What the executions of the tree rooted at ``root_id`` printed, in order:
        ``[{"execution_id", "chunks", "time"}, ...]``."""
        rows = self._db.execute(
            "SELECT execution_id, body_json FROM events"
            " WHERE root_id = ? AND type = 'output' ORDER BY seq",
            (root_id,),
        )
        found = []
        for execution_id, body in rows:
            event = json.loads(body)
            found.append(
                {"execution_id": execution_id, "chunks": event["chunks"], "time": event["time"]}
            )
        return found

    def execution(self, execution_id: str) -> dict[str, Any] | None:
        row = self._db.execute("SELECT * FROM executions WHERE id = ?", (execution_id,)).fetchone()
        return None if row is None else execution_json(row)

    def executions(
        self, limit: int = 100, projects: Collection[str] | None = None, **filters: str | None
    ) -> list[dict[str, Any]]:
        """The newest executions matching ``filters``, in ``projects`` only unless it is None."""
        where, args = _where(filters, projects)
        rows = self._db.execute(
            f"SELECT * FROM executions {where} ORDER BY created_at DESC, rowid DESC LIMIT ?",
            [*args, limit],
        )
        return [execution_json(row) for row in rows]

    def children(self, execution_id: str) -> list[dict[str, Any]]:
        """Direct children, oldest first."""
        rows = self._db.execute(
            "SELECT * FROM executions WHERE parent_id = ? ORDER BY created_at, rowid",
            (execution_id,),
        )
        return [execution_json(row) for row in rows]

    def unfinished_descendants(self, execution_id: str) -> list[str]:
        """Ids of descendants that are not final, parents before their children."""
        rows = self._db.execute(
            "WITH RECURSIVE sub(id, depth) AS ("
            " SELECT id, 1 FROM executions WHERE parent_id = ?"
            " UNION ALL SELECT e.id, sub.depth + 1 FROM executions e"
            " JOIN sub ON e.parent_id = sub.id"
            ") SELECT sub.id FROM sub JOIN executions x ON x.id = sub.id"
            " WHERE x.status IN ('queued', 'running') ORDER BY sub.depth",
            (execution_id,),
        )
        return [row[0] for row in rows]

    def subtree(self, execution_id: str) -> set[str]:
        """The ids of ``execution_id`` and all its descendants."""
        rows = self._db.execute(
            "WITH RECURSIVE sub(id) AS (SELECT ? UNION ALL"
            " SELECT e.id FROM executions e JOIN sub ON e.parent_id = sub.id) SELECT id FROM sub",
            (execution_id,),
        )
        return {row[0] for row in rows}

    def unfinished(self) -> list[dict[str, Any]]:
        """Executions left queued or running (by a server that stopped), oldest first."""
        rows = self._db.execute(
            "SELECT * FROM executions WHERE status IN ('queued', 'running') "
            "ORDER BY created_at, rowid"
        )
        return [execution_json(row) for row in rows]

    # -- events --------------------------------------------------------------------------------

    def events(self, root_id: str, after: int) -> list[StoredEvent]:
        """Stored events of the tree rooted at ``root_id`` with ``seq > after``, in order."""
        rows = self._db.execute(
            "SELECT ev.seq, ev.execution_id, ev.type, ev.body_json, x.parent_id FROM events ev"
            " JOIN executions x ON x.id = ev.execution_id"
            " WHERE ev.root_id = ? AND ev.seq > ? ORDER BY ev.seq",
            (root_id, after),
        )
        events = []
        for seq, execution_id, type_, body, parent in rows:
            final = type_ == "finished"
            events.append(
                StoredEvent(seq, execution_id, parent, root_id, type_, final, _line(seq, body))
            )
        return events


def _line(seq: int, body: str) -> str:
    # body is a JSON object: put "seq" first without parsing and dumping it again.
    return f'{{"seq": {seq}, {body[1:]}'
