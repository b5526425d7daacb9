"""What a worker runs for an eager or static workflow in remote mode.

The body runs here, in the worker process; every child it launches is a new execution on
the same control plane, recorded as a child of this worker's execution. On a server with
authentication, it connects as the client named by the workflow's
``client_secret_group``/``client_secret_key`` (see ``auth.client_credentials``), or else
with the job token the server minted for this attempt (``EAGERNB_TOKEN``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from .._core.entity import Entity
from .._core.run import run_root
from .auth import client_credentials, secret_env_name, secret_path
from .engine import RemoteEngine
from .errors import ClientSecretError
from .remote import Remote

__all__ = ["run_remote_body"]


def run_remote_body(entity: Entity, inputs: dict[str, Any], env: Mapping[str, str]) -> Any:
    remote = _remote(entity, env)
    engine = RemoteEngine(remote, remote_bodies=True, parent_id=env.get("EAGERNB_EXECUTION_ID"))

    async def main() -> Any:
        try:
            return await run_root(entity, inputs, engine)
        finally:
            await remote.aclose()

    return asyncio.run(main())


def _remote(entity: Entity, env: Mapping[str, str]) -> Remote:
    """The body's connection to the server: as the client its secret names, or with the job
    token the server minted for this attempt (none when the server has no authentication).
    """
    url = env["EAGERNB_SERVER_URL"]
    project = env.get("EAGERNB_PROJECT", "default")
    domain = env.get("EAGERNB_DOMAIN", "development")
    group = getattr(entity, "client_secret_group", None)
    key = getattr(entity, "client_secret_key", None)
    if group and key:
        found = client_credentials(group, key)
        if found is not None:
            client_id, secret = found
            return Remote(
                url, default_project=project, default_domain=domain,
                client_id=client_id, client_secret=secret,
            )  # fmt: skip
        if env.get("EAGERNB_AUTH") == "1":
            raise ClientSecretError(
                f"Eager workflow {entity.name!r} names client_secret_group={group!r} and "
                f"client_secret_key={key!r}, but this worker has neither the environment variable "
                f"{secret_env_name(group, key)} nor the file {secret_path(group, key)}. Set one "
                "of them where the server runs to CLIENT_ID:CLIENT_SECRET (from `eagernb auth "
                "create-client`), or drop both arguments to run with the server's job token."
            )
    token = env.get("EAGERNB_TOKEN") or None
    return Remote(url, default_project=project, default_domain=domain, token=token)
