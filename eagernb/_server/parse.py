"""Reading requests: JSON bodies, fields and query parameters, refused with a clear 400."""

from __future__ import annotations

import math
from typing import Any

from starlette.requests import Request

from .blobs import SHA256
from .errors import RequestError

__all__ = ["json_body", "number", "query_number", "sha_field", "text_field"]


async def json_body(request: Request) -> dict[str, Any]:
    try:
        body = await request.json()
    except ValueError as exc:
        message = f"The request body is not valid JSON ({exc}). Send a JSON object."
        raise RequestError(400, message) from None
    if not isinstance(body, dict):
        raise RequestError(
            400, f"The request body must be a JSON object, not {type(body).__name__}."
        )
    return body


def text_field(body: dict[str, Any], key: str, *, required: bool = True) -> Any:
    value = body.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value or "/" in value:
        raise RequestError(
            400, f"Field {key!r} must be a non-empty string without '/', not {value!r}."
        )
    return value


def sha_field(value: Any, what: str) -> str:
    if not isinstance(value, str) or not SHA256.match(value):
        raise RequestError(
            400,
            f"{what} must be the sha256 of the bytes as 64 lowercase hex digits, not {value!r}.",
        )
    return value


def number(value: Any, what: str, *, low: float, integer: bool = False) -> Any:
    ok = isinstance(value, int) if integer else isinstance(value, (int, float))
    if not ok or isinstance(value, bool) or not math.isfinite(value) or value < low:
        kind = "an integer" if integer else "a number"
        raise RequestError(400, f"{what} must be {kind} of at least {low:g}, not {value!r}.")
    return value


def query_number(request: Request, key: str, default: float, *, low: float) -> float:
    raw = request.query_params.get(key)
    if raw is None:
        return default
    try:
        return float(number(float(raw), f"Query parameter {key!r}", low=low))
    except ValueError:
        raise RequestError(400, f"Query parameter {key!r} must be a number, not {raw!r}.") from None
