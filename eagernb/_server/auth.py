"""Authentication of API requests on a server started with ``--auth``.

``POST /api/v1/token`` trades client credentials (OAuth2 ``client_credentials`` grant, as a
form, JSON, or HTTP Basic) for a bearer token. Every other endpoint but ``/health`` passes
``authenticate`` first, which turns the ``Authorization: Bearer`` header into a
:class:`~.credentials.Grant`; endpoints then ``allow`` the projects they touch. Without
``--auth`` the grant is None and everything is allowed.

Secrets and tokens are never logged, echoed in errors or written anywhere but as hashes.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
from urllib.parse import parse_qsl, unquote_plus

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from .credentials import Credentials, Grant, verify_secret
from .errors import RequestError

__all__ = ["HOW_TO", "allow", "authenticate", "issue_token"]

_log = logging.getLogger("eagernb.server")

HOW_TO = (
    "create client credentials with `eagernb auth create-client`, then pass "
    "client_id/client_secret to eagernb.Remote (or set EAGERNB_CLIENT_ID / "
    "EAGERNB_CLIENT_SECRET)."
)
_MISSING = f"This control plane requires a bearer token: {HOW_TO}"
_REJECTED = (
    "The bearer token was not accepted: it expired, its client was revoked, or this server "
    "never issued it. Get a new one from POST /api/v1/token with your client id and secret "
    "(eagernb.Remote does this by itself when it has them), or " + HOW_TO
)
_BAD_CLIENT = (
    "The client id or secret is wrong, or the client was revoked. Check the client_id/"
    "client_secret given to eagernb.Remote (or EAGERNB_CLIENT_ID / EAGERNB_CLIENT_SECRET); "
    "`eagernb auth list` on the server shows its clients."
)
_MAX_FORM = 16 * 1024


def _unauthorized(message: str, error: str | None = None) -> RequestError:
    challenge = 'Bearer realm="eagernb"' + (f', error="{error}"' if error else "")
    return RequestError(401, message, headers={"WWW-Authenticate": challenge})


def authenticate(request: Request, credentials: Credentials | None) -> Grant | None:
    """The grant of the request's bearer token; None when the server has no authentication."""
    if credentials is None:
        return None
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if not token.strip():
        raise _unauthorized(_MISSING)
    if scheme.lower() != "bearer":
        raise _unauthorized(
            f"The Authorization header uses the {scheme!r} scheme; this API takes "
            f"'Bearer TOKEN', with a token from POST /api/v1/token. To get one, {HOW_TO}",
            "invalid_request",
        )
    grant = credentials.check_token(token.strip())
    if grant is None:
        raise _unauthorized(_REJECTED, "invalid_token")
    return grant


def allow(grant: Grant | None, project: str) -> None:
    """Refuse with 403 unless ``grant`` covers ``project``."""
    if grant is None or grant.allows(project):
        return
    raise RequestError(
        403,
        f"This token is for {grant.describe()}, so it cannot read or change anything in project "
        f"{project!r}. Use the credentials of a client allowed on {project!r} (on the server: "
        f"`eagernb auth create-client --project {project}`).",
    )


async def issue_token(
    request: Request, credentials: Credentials | None, lifetime: float
) -> Response:
    """``POST /token``: ``grant_type=client_credentials`` with the client's id and secret."""
    if credentials is None:
        raise RequestError(
            400,
            "This control plane runs without authentication, so it issues no tokens: send "
            "requests without one. Start it with `eagernb server --auth` to require tokens.",
        )
    fields = await _token_fields(request)
    grant_type = fields.get("grant_type")
    if grant_type != "client_credentials":
        raise RequestError(
            400,
            f"Field 'grant_type' must be 'client_credentials', not {grant_type!r}. Send "
            "grant_type=client_credentials with client_id and client_secret (as a form, as "
            "JSON, or client_id and client_secret as HTTP Basic credentials).",
        )
    client_id, secret = _basic(request) or (fields.get("client_id"), fields.get("client_secret"))
    if not client_id or not secret:
        raise _unauthorized(
            f"A token request needs client_id and client_secret. To get them, {HOW_TO}",
            "invalid_request",
        )
    stored = credentials.secret_hash(client_id)
    ok = await asyncio.to_thread(verify_secret, secret, stored)  # slow by design: off the loop
    try:
        if not ok:
            raise KeyError(client_id)
        token, grant = credentials.issue_token(client_id, lifetime)
    except KeyError:
        _log.warning("eagernb: refused a token request with a wrong client id or secret")
        raise _unauthorized(_BAD_CLIENT, "invalid_client") from None
    scope = "*" if grant.projects is None else " ".join(sorted(grant.projects))
    body = {
        "access_token": token,
        "token_type": "bearer",
        "expires_in": int(lifetime),
        "scope": scope,
    }
    return JSONResponse(body, headers={"Cache-Control": "no-store", "Pragma": "no-cache"})


async def _token_fields(request: Request) -> dict[str, str]:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > _MAX_FORM:
        raise RequestError(413, f"A token request body must be under {_MAX_FORM} bytes.")
    raw = await request.body()
    if not raw.strip():
        return {}
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        if not isinstance(body, dict):
            raise RequestError(400, "The token request's JSON body must be an object.")
        return {str(k): str(v) for k, v in body.items() if isinstance(v, str)}
    try:
        return dict(parse_qsl(raw.decode(), keep_blank_values=True))
    except (UnicodeDecodeError, ValueError):
        raise RequestError(
            400, "The token request body must be a form (application/x-www-form-urlencoded)."
        ) from None


def _basic(request: Request) -> tuple[str, str] | None:
    """Client id and secret from ``Authorization: Basic`` (form-encoded, per RFC 6749)."""
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user, sep, password = (
            base64.b64decode(encoded.strip(), validate=True).decode().partition(":")
        )
    except (binascii.Error, UnicodeDecodeError):
        user, sep, password = "", "", ""
    if not sep:
        raise _unauthorized("The Basic credentials must be base64 of CLIENT_ID:CLIENT_SECRET.")
    return unquote_plus(user), unquote_plus(password)
