"""The control plane a command talks to, and the failures it reports as one sentence."""

from __future__ import annotations

import argparse
import contextlib
import functools
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

from .loader import LoadError

if TYPE_CHECKING:
    from .._client.remote import Remote

__all__ = ["Command", "command", "connect", "quiet_closed_pipes"]

Command = Callable[[argparse.Namespace, argparse.ArgumentParser], int]


def connect(args: argparse.Namespace) -> Remote:
    """``--endpoint`` if given, else ``Remote.auto()``; credentials come from the environment
    (``EAGERNB_CLIENT_ID`` / ``EAGERNB_CLIENT_SECRET`` or ``EAGERNB_TOKEN``)."""
    from .._client.errors import RemoteRequestError
    from .._client.remote import DEFAULT_DOMAIN, DEFAULT_PROJECT, Remote

    project = getattr(args, "project", None) or DEFAULT_PROJECT
    domain = getattr(args, "domain", None) or DEFAULT_DOMAIN
    if args.endpoint:
        try:
            return Remote(args.endpoint, default_project=project, default_domain=domain)
        except ValueError as exc:
            raise RemoteRequestError(f"--endpoint: {exc}") from None
    return Remote.auto(project, domain)


def command(fn: Command) -> Command:
    """Report a file that does not load, or a control plane that refuses or cannot be
    reached, as ``eagernb: <sentence>`` and exit status 1 instead of a traceback."""

    @functools.wraps(fn)
    def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
        try:
            return fn(args, parser)
        except Exception as exc:
            message = user_error(exc)
            if message is None:
                raise
            sys.stdout.flush()
            print(f"eagernb: {message}", file=sys.stderr)
            return 1

    return run


def user_error(exc: Exception) -> str | None:
    """The sentence to show for an error the user can act on; None for a bug."""
    import httpx

    from .._client.errors import RemoteRequestError
    from .._engines.payload import PayloadError

    if isinstance(exc, httpx.ConnectError) and str(exc).startswith("Cannot reach"):
        return f"{exc} (--endpoint sets it for this command.)"
    if isinstance(exc, (LoadError, RemoteRequestError, PayloadError)):
        return str(exc)
    if isinstance(exc, httpx.TransportError):
        try:
            where = f" at {exc.request.url.scheme}://{exc.request.url.netloc.decode()}"
        except RuntimeError:  # no request attached
            where = ""
        return (
            f"Cannot reach the control plane{where} ({type(exc).__name__}: {exc}). Check "
            "--endpoint or EAGERNB_ENDPOINT, or start the local one with `eagernb sandbox start`."
        )
    return None


def quiet_closed_pipes() -> None:
    """Point stdout and stderr at /dev/null if their readers went away (`eagernb ... |
    head`), so the flush at exit does not fail with a traceback of its own."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, ValueError):
            with contextlib.suppress(OSError, ValueError):
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, stream.fileno())
