"""How a client proves who it is to a control plane started with ``--auth``.

``BearerAuth`` (an ``httpx.Auth``) puts ``Authorization: Bearer TOKEN`` on each request.
The token is the one passed to ``Remote(token=...)``, or one it got from
``POST /api/v1/token`` with the client id and secret it was given. Without either, it
reads ``EAGERNB_TOKEN``, ``EAGERNB_CLIENT_ID`` and ``EAGERNB_CLIENT_SECRET`` from the
environment at request time. A token is fetched when the server first answers 401, again
once it has expired, and once more (then the 401 stands) when the server refuses it.

On a worker, ``client_credentials(group, key)`` reads the credentials an eager workflow
names with ``@eager(client_secret_group=G, client_secret_key=K)``: the environment
variable ``EAGERNB_SECRET_<G>_<K>`` (upper case, other characters than letters and digits
as ``_``), else the file ``$EAGERNB_SECRETS_DIR/<G>/<K>`` (default directory
``/etc/eagernb/secrets``). The value is ``CLIENT_ID:CLIENT_SECRET``, as printed by
``eagernb auth create-client``.

Secrets and tokens never appear in reprs, pickles, logs or error messages.
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
import time
import weakref
from collections.abc import AsyncGenerator, Generator
from pathlib import Path

import httpx

from .errors import ClientSecretError, RemoteRequestError

__all__ = [
    "SECRETS_DIR",
    "BearerAuth",
    "client_credentials",
    "secret_env_name",
    "secret_path",
]

SECRETS_DIR = "/etc/eagernb/secrets"
_EARLY = 30.0  # renew a token this many seconds before the server would refuse it
_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


class BearerAuth(httpx.Auth):
    """Bearer tokens for one ``Remote``; ``token_url`` is set once its endpoint is known."""

    def __init__(
        self,
        client_id: str | None = None,
        client_secret: str | None = None,
        token: str | None = None,
    ) -> None:
        # Anything given explicitly is used alone; otherwise the environment is read.
        self._explicit = any(v is not None for v in (client_id, client_secret, token))
        self.client_id = client_id
        self._client_secret = client_secret
        self._token = token
        self._expires: float | None = None  # time.monotonic() deadline of a fetched token
        self.token_url = ""
        self._lock = threading.Lock()
        self._alocks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    def __repr__(self) -> str:
        return f"BearerAuth(client_id={self.client_id!r})"

    @property
    def token(self) -> str | None:
        """The token the next request carries (None: none yet, or it expired)."""
        if self._token is not None and not self._expired():
            return self._token
        return None if self._explicit else os.environ.get("EAGERNB_TOKEN") or None

    def _expired(self) -> bool:
        return self._expires is not None and time.monotonic() >= self._expires

    def _credentials(self) -> tuple[str, str] | None:
        if self._explicit:
            found = (self.client_id, self._client_secret)
        else:
            found = (os.environ.get("EAGERNB_CLIENT_ID"), os.environ.get("EAGERNB_CLIENT_SECRET"))
        client_id, secret = found
        return (client_id, secret) if client_id and secret else None

    def _apply(self, request: httpx.Request) -> str | None:
        token = self.token
        if token is None:
            request.headers.pop("Authorization", None)
        else:
            request.headers["Authorization"] = f"Bearer {token}"
        return token

    def _token_request(self, credentials: tuple[str, str]) -> httpx.Request:
        client_id, secret = credentials
        form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
        return httpx.Request("POST", self.token_url, data=form)

    def _accept(self, reply: httpx.Response, client_id: str) -> None:
        if not reply.is_success:
            try:
                message = reply.json().get("error", reply.text)
            except ValueError:
                message = reply.text
            raise RemoteRequestError(
                f"The control plane refused the credentials of client {client_id!r} "
                f"({reply.status_code} from POST {reply.request.url.path}): {message}",
                status_code=reply.status_code,
            )
        body = reply.json()
        self._token = str(body["access_token"])
        lifetime = float(body.get("expires_in") or 3600)
        self._expires = time.monotonic() + max(lifetime - _EARLY, lifetime / 2)

    def _needs_token(self, sent: str | None) -> bool:
        # Not when another request already replaced the token this one was refused with.
        return self._token is None or self._token == sent or self._expired()

    def sync_auth_flow(
        self, request: httpx.Request
    ) -> Generator[httpx.Request, httpx.Response, None]:
        credentials = self._credentials()
        if credentials is not None and self._expired():
            with self._lock:
                if self._expired():
                    reply = yield self._token_request(credentials)
                    reply.read()
                    self._accept(reply, credentials[0])
        sent = self._apply(request)
        response = yield request
        credentials = self._credentials()
        if response.status_code != 401 or credentials is None:
            return
        with self._lock:
            if self._needs_token(sent):
                reply = yield self._token_request(credentials)
                reply.read()
                self._accept(reply, credentials[0])
        self._apply(request)
        yield request

    async def async_auth_flow(
        self, request: httpx.Request
    ) -> AsyncGenerator[httpx.Request, httpx.Response]:
        credentials = self._credentials()
        if credentials is not None and self._expired():
            async with self._alock():
                if self._expired():
                    reply = yield self._token_request(credentials)
                    await reply.aread()
                    self._accept(reply, credentials[0])
        sent = self._apply(request)
        response = yield request
        credentials = self._credentials()
        if response.status_code != 401 or credentials is None:
            return
        async with self._alock():  # concurrent requests that all got 401 fetch one token
            if self._needs_token(sent):
                reply = yield self._token_request(credentials)
                await reply.aread()
                self._accept(reply, credentials[0])
        self._apply(request)
        yield request

    def _alock(self) -> asyncio.Lock:
        loop = asyncio.get_running_loop()
        lock = self._alocks.get(loop)
        if lock is None:
            lock = self._alocks[loop] = asyncio.Lock()
        return lock


# -- worker secrets ----------------------------------------------------------------------------


def secret_env_name(group: str, key: str) -> str:
    """``EAGERNB_SECRET_<GROUP>_<KEY>``: upper case, anything but letters and digits as ``_``."""
    return "EAGERNB_SECRET_" + re.sub(r"[^A-Z0-9]", "_", f"{group}_{key}".upper())


def secret_path(group: str, key: str) -> Path:
    """``$EAGERNB_SECRETS_DIR/<group>/<key>`` (default directory ``/etc/eagernb/secrets``)."""
    return Path(os.environ.get("EAGERNB_SECRETS_DIR") or SECRETS_DIR) / group / key


def client_credentials(group: str, key: str) -> tuple[str, str] | None:
    """The ``(client_id, client_secret)`` stored under ``group``/``key``, or None if unset.

    Raises ``ClientSecretError`` when a secret is found but is not ``ID:SECRET``.
    """
    for name in (group, key):
        if not _NAME.fullmatch(name):
            raise ClientSecretError(
                f"Secret group and key must be letters, digits, '.', '_' or '-', not {name!r}."
            )
    variable, path = secret_env_name(group, key), secret_path(group, key)
    value = os.environ.get(variable)
    where = f"environment variable {variable}"
    if value is None:
        try:
            value = path.read_text()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise ClientSecretError(
                f"The secret file {path} could not be read ({exc.strerror}). Make it readable "
                f"by the worker, or set {variable} instead."
            ) from None
        where = f"file {path}"
    client_id, sep, secret = value.strip().partition(":")
    if not (sep and client_id and secret):
        raise ClientSecretError(
            f"The secret in {where} ({len(value.strip())} characters) is not "
            "CLIENT_ID:CLIENT_SECRET. Store the client id, a colon and the client secret, as "
            "`eagernb auth create-client` prints them."
        )
    return client_id, secret
