"""What a worker runs for an eager or static workflow in remote mode.

The body runs here, in the worker process; every child it launches is a new execution on
the same control plane, recorded as a child of this worker's execution.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from .._core.entity import Entity
from .._core.run import run_root
from .engine import RemoteEngine
from .remote import Remote

__all__ = ["run_remote_body"]


def run_remote_body(entity: Entity, inputs: dict[str, Any], env: Mapping[str, str]) -> Any:
    remote = Remote(
        env["EAGERNB_SERVER_URL"],
        default_project=env.get("EAGERNB_PROJECT", "default"),
        default_domain=env.get("EAGERNB_DOMAIN", "development"),
        token=env.get("EAGERNB_TOKEN") or None,
    )
    engine = RemoteEngine(remote, remote_bodies=True, parent_id=env.get("EAGERNB_EXECUTION_ID"))

    async def main() -> Any:
        try:
            return await run_root(entity, inputs, engine)
        finally:
            await remote.aclose()

    return asyncio.run(main())
