"""Clients and bearer tokens of a control plane started with ``--auth``, in its SQLite file.

A client is a ``client_id`` and a random secret (OAuth2 client credentials) allowed on a
list of projects, or on every project (``*``). Only a salted scrypt hash of the secret is
stored, so the secret is shown once, when the client is created. A client trades its
secret for a bearer token (``POST /api/v1/token``): random, stored as its sha256, valid
for an hour and scoped to the client's projects. The server also mints *job tokens* for
the workflow bodies it runs on workers, scoped to the execution's project and deleted when
that attempt ends.

Standard library only: ``eagernb auth`` uses this module on the server machine without
the server's dependencies. Each process opens its own connection to ``eagernb.db``; WAL
mode lets ``eagernb auth create-client`` write while a server runs.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import secrets
import sqlite3
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "ALL_PROJECTS",
    "TOKEN_LIFETIME",
    "Client",
    "Credentials",
    "Grant",
    "check_projects",
    "hash_secret",
    "verify_secret",
]

ALL_PROJECTS = "*"
TOKEN_LIFETIME = 3600.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS clients (
    client_id TEXT PRIMARY KEY, name TEXT, secret_hash TEXT NOT NULL,
    projects_json TEXT NOT NULL, created_at REAL NOT NULL, disabled INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS tokens (
    token_sha TEXT PRIMARY KEY, client_id TEXT, execution_id TEXT,
    projects_json TEXT NOT NULL, created_at REAL NOT NULL, expires_at REAL
);
CREATE INDEX IF NOT EXISTS tokens_client ON tokens (client_id);
CREATE INDEX IF NOT EXISTS tokens_execution ON tokens (execution_id);
"""

# scrypt at n=2**14, r=8: about 16 MiB and tens of milliseconds per check. Client secrets
# are 256 random bits, so this guards the hashes against nothing a leaked file makes
# easy; it keeps the door slow for anyone guessing at /token.
_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
_PBKDF2_ROUNDS = 600_000


def hash_secret(secret: str) -> str:
    """A salted, slow hash of ``secret`` that names its algorithm and parameters."""
    salt = secrets.token_bytes(16)
    if hasattr(hashlib, "scrypt"):
        n, r, p = _SCRYPT["n"], _SCRYPT["r"], _SCRYPT["p"]
        digest = hashlib.scrypt(secret.encode(), salt=salt, n=n, r=r, p=p, dklen=32)
        return f"scrypt${n}${r}${p}${salt.hex()}${digest.hex()}"
    digest = hashlib.pbkdf2_hmac("sha256", secret.encode(), salt, _PBKDF2_ROUNDS)
    return f"pbkdf2_sha256${_PBKDF2_ROUNDS}${salt.hex()}${digest.hex()}"


def verify_secret(secret: str, stored: str) -> bool:
    """Whether ``secret`` hashes to ``stored`` (constant-time comparison)."""
    algorithm, *fields = stored.split("$")
    try:
        if algorithm == "scrypt":
            n, r, p, salt, digest = fields
            found = hashlib.scrypt(
                secret.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=32
            )
        elif algorithm == "pbkdf2_sha256":
            rounds, salt, digest = fields
            found = hashlib.pbkdf2_hmac("sha256", secret.encode(), bytes.fromhex(salt), int(rounds))
        else:
            return False
    except ValueError:
        return False
    return hmac.compare_digest(found.hex(), digest)


@functools.cache
def _dummy_hash() -> str:
    # Checked against when the client id is unknown, so a wrong id takes as long as a wrong
    # secret and does not tell which client ids exist.
    return hash_secret(secrets.token_urlsafe(32))


def _token_sha(token: str) -> str:
    # Tokens are 256 random bits: a plain hash is enough, and keeps each request's check fast.
    return hashlib.sha256(token.encode()).hexdigest()


def check_projects(projects: Iterable[str]) -> list[str]:
    """The projects a client may use, checked; ``["*"]`` means every project."""
    chosen = list(dict.fromkeys(projects))
    if not chosen:
        raise ValueError("Give at least one --project (or --project '*' for every project).")
    for project in chosen:
        if not project or "/" in project or (project != ALL_PROJECTS and "*" in project):
            raise ValueError(
                f"Project {project!r} is not a project name: use a name without '/' or '*', or "
                "'*' alone for every project."
            )
    return [ALL_PROJECTS] if ALL_PROJECTS in chosen else chosen


@dataclass(frozen=True)
class Client:
    """A registered client (never its secret)."""

    client_id: str
    name: str | None
    projects: tuple[str, ...]
    created_at: float
    disabled: bool


@dataclass(frozen=True)
class Grant:
    """What a valid token allows: its projects (None: all of them) and who holds it.

    ``client_id`` is None for a job token, ``execution_id`` None for a client's token.
    """

    projects: frozenset[str] | None
    client_id: str | None = None
    execution_id: str | None = None

    def allows(self, project: str) -> bool:
        return self.projects is None or project in self.projects

    def describe(self) -> str:
        if self.projects is None:
            return "every project"
        names = ", ".join(repr(p) for p in sorted(self.projects))
        return f"project {names}" if len(self.projects) == 1 else f"projects {names}"


def _projects(value: str) -> tuple[str, ...]:
    loaded = json.loads(value)
    return tuple(str(p) for p in loaded) if isinstance(loaded, list) else ()


class Credentials:
    """Clients and tokens in the SQLite file ``path`` (tables created if missing)."""

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(path, isolation_level=None, timeout=30.0)
        self._db.row_factory = sqlite3.Row
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    # -- clients (eagernb auth ...) -------------------------------------------------------

    def create_client(self, projects: Iterable[str], name: str | None = None) -> tuple[str, str]:
        """Register a client allowed on ``projects``; returns (client_id, secret).

        The secret is not stored, only its hash: this is the one chance to see it.
        """
        allowed = check_projects(projects)
        client_id = "enb-" + secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        self._db.execute(
            "INSERT INTO clients (client_id, name, secret_hash, projects_json, created_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (client_id, name, hash_secret(secret), json.dumps(allowed), time.time()),
        )
        return client_id, secret

    def clients(self) -> list[Client]:
        rows = self._db.execute("SELECT * FROM clients ORDER BY created_at, rowid")
        return [
            Client(
                row["client_id"],
                row["name"],
                _projects(row["projects_json"]),
                row["created_at"],
                bool(row["disabled"]),
            )
            for row in rows
        ]

    def revoke(self, client_id: str) -> bool:
        """Disable the client and delete its tokens; False if no such client exists."""
        self._db.execute("BEGIN")
        try:
            found = self._db.execute(
                "UPDATE clients SET disabled = 1 WHERE client_id = ?", (client_id,)
            ).rowcount
            self._db.execute("DELETE FROM tokens WHERE client_id = ?", (client_id,))
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")
        return found == 1

    # -- tokens (the server) --------------------------------------------------------------

    def secret_hash(self, client_id: str) -> str:
        """The stored hash to check a secret against (a dummy one for unknown or revoked ids).

        Read on the event loop; the slow check itself can then run in a thread.
        """
        row = self._db.execute(
            "SELECT secret_hash FROM clients WHERE client_id = ? AND disabled = 0", (client_id,)
        ).fetchone()
        return _dummy_hash() if row is None else str(row["secret_hash"])

    def issue_token(self, client_id: str, lifetime: float = TOKEN_LIFETIME) -> tuple[str, Grant]:
        """A new bearer token for an enabled client whose secret was checked."""
        row = self._db.execute(
            "SELECT projects_json FROM clients WHERE client_id = ? AND disabled = 0", (client_id,)
        ).fetchone()
        if row is None:
            raise KeyError(client_id)
        now = time.time()
        token = secrets.token_urlsafe(32)
        self._db.execute("DELETE FROM tokens WHERE expires_at < ?", (now,))
        self._db.execute(
            "INSERT INTO tokens (token_sha, client_id, projects_json, created_at, expires_at) "
            "VALUES (?, ?, ?, ?, ?)",
            (_token_sha(token), client_id, row["projects_json"], now, now + lifetime),
        )
        return token, self._grant(row["projects_json"], client_id, None)

    def issue_job_token(self, execution_id: str, project: str) -> str:
        """A token for one attempt of a workflow body on a worker, for its project only.

        It has no expiry: ``revoke_job_tokens`` deletes it when the attempt ends.
        """
        token = secrets.token_urlsafe(32)
        self._db.execute(
            "INSERT INTO tokens (token_sha, execution_id, projects_json, created_at) "
            "VALUES (?, ?, ?, ?)",
            (_token_sha(token), execution_id, json.dumps([project]), time.time()),
        )
        return token

    def revoke_job_tokens(self, execution_id: str | None = None) -> None:
        """Delete the job tokens of ``execution_id`` (None: of every execution)."""
        if execution_id is None:
            self._db.execute("DELETE FROM tokens WHERE execution_id IS NOT NULL")
        else:
            self._db.execute("DELETE FROM tokens WHERE execution_id = ?", (execution_id,))

    def check_token(self, token: str) -> Grant | None:
        """What ``token`` allows, or None if it is unknown, expired or its client revoked."""
        row = self._db.execute(
            "SELECT t.projects_json, t.client_id, t.execution_id, t.expires_at, c.disabled "
            "FROM tokens t LEFT JOIN clients c ON c.client_id = t.client_id "
            "WHERE t.token_sha = ?",
            (_token_sha(token),),
        ).fetchone()
        if row is None:
            return None
        if row["expires_at"] is not None and row["expires_at"] <= time.time():
            return None
        if row["client_id"] is not None and row["disabled"] != 0:  # revoked (or deleted)
            return None
        return self._grant(row["projects_json"], row["client_id"], row["execution_id"])

    @staticmethod
    def _grant(projects_json: str, client_id: str | None, execution_id: str | None) -> Grant:
        projects = _projects(projects_json)
        scope = None if ALL_PROJECTS in projects else frozenset(projects)
        return Grant(scope, client_id, execution_id)

    def active_clients(self) -> int:
        row = self._db.execute("SELECT count(*) FROM clients WHERE disabled = 0").fetchone()
        return int(row[0])
