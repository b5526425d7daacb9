"""``Remote``: talk to an eagernb control plane over HTTP (httpx), sync or async.

::

    remote = Remote.for_sandbox(default_project="flytesnacks", default_domain="development")
    handle = remote.execute(add_one, inputs={"x": 1})
    handle.wait().output          # 2

Every method has an ``a``-prefixed async twin (``aexecute``, ``await handle``).
"""

from __future__ import annotations

import asyncio
import functools
import json
import os
import ssl
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from .._core.entity import Entity
from .._core.errors import InputTypeError, RunCancelledError
from .._engines.payload import (
    Payload,
    checked_entity_payload,
    checked_value_payload,
    load_value,
    runtime_versions,
)
from .._engines.preview import previews
from .auth import BearerAuth
from .errors import RemoteRequestError, rebuild_exception
from .link import ChannelLost, Link, Listener

__all__ = ["Execution", "Remote"]

DEFAULT_PROJECT = "default"
DEFAULT_DOMAIN = "development"
SANDBOX_FILE = Path("~/.eagernb/sandbox/sandbox.json")
FINAL = frozenset({"succeeded", "failed", "cancelled"})
_INLINE_INPUTS = 256 * 1024  # larger inputs are uploaded as a blob before the submission


@dataclass(eq=False)
class Execution:
    """A handle on one remote execution. ``data`` is what the server last said of it;
    ``wait()``, ``refresh()`` and ``cancel()`` bring it up to date, and ``output`` waits
    for the execution to end."""

    data: Mapping[str, Any]
    remote: Remote

    @property
    def id(self) -> str:
        return str(self.data["id"])

    def __repr__(self) -> str:
        data = self.data
        return (
            f"<eagernb Execution {data.get('id')} {data.get('kind', '')} "
            f"{data.get('name', '')!r} {data.get('status', '')}>"
        )

    @property
    def status(self) -> str:
        """The status as last heard (``refresh()`` or ``wait()`` to hear it again)."""
        return str(self.data["status"])

    @property
    def done(self) -> bool:
        return self.status in FINAL

    def wait(self, timeout: float | None = None) -> Execution:
        """Block until the execution is final, or ``timeout`` seconds pass (long polls; no
        sleeping); returns this handle, up to date."""
        self.data = self.remote.wait(self.id, timeout).data
        return self

    def refresh(self) -> Execution:
        """Ask the server for the execution's state now; returns this handle."""
        self.data = self.remote.fetch(self.id).data
        return self

    def __await__(self) -> Any:
        return self.remote.await_output(self.id).__await__()

    @property
    def output(self) -> Any:
        """The output value, once the execution succeeded (waits for its end); raises its
        error if it failed."""
        if not self.done:
            self.wait()
        return self.remote.output_of(self)

    @property
    def inputs(self) -> dict[str, Any]:
        """The inputs it was started with, by parameter name."""
        return self.remote.inputs_of(self)

    def children(self) -> list[Execution]:
        return self.remote.list_executions(parent_id=self.id)

    def cancel(self) -> Execution:
        """Cancel it and its descendants on the server; returns this handle, up to date."""
        self.data = self.remote.cancel(self.id).data
        return self


class Remote:
    """A connection to one control plane, with a default project and domain.

    Endpoint and credentials are resolved when the first request is made, not when the
    object is created, so ``Remote.auto()`` in a decorator reads the environment at run
    time. On a server started with ``--auth``, pass ``client_id`` and ``client_secret``
    (from ``eagernb auth create-client``): a bearer token is fetched when first needed
    and again when it expires. ``token`` passes a bearer token directly. Given none of
    these, the environment's ``EAGERNB_CLIENT_ID`` / ``EAGERNB_CLIENT_SECRET`` or
    ``EAGERNB_TOKEN`` are used. Secrets and tokens are never pickled (a ``Remote`` shipped
    to a worker reads that worker's environment) and never shown in its repr.

    >>> Remote("https://eagernb.example.org", client_id="enb-1f2e", client_secret="...")
    Remote(https://eagernb.example.org, project='default', domain='development', client_id='enb-1f2e')
    """  # noqa: E501

    def __init__(
        self,
        endpoint: str | None = None,
        *,
        default_project: str = DEFAULT_PROJECT,
        default_domain: str = DEFAULT_DOMAIN,
        client_id: str | None = None,
        client_secret: str | None = None,
        token: str | None = None,
        timeout: float = 30.0,
        _resolve: str = "explicit",
    ) -> None:
        if (client_id is None) != (client_secret is None):
            raise ValueError(
                "Pass client_id and client_secret together (from `eagernb auth create-client`), "
                "or neither."
            )
        if endpoint is not None and not endpoint.startswith(("http://", "https://")):
            raise ValueError(
                f"The control plane's address must be a URL such as http://127.0.0.1:8080, "
                f"not {endpoint!r}: add http:// (or https://) in front of host and port."
            )
        self._endpoint = endpoint
        self.default_project = default_project
        self.default_domain = default_domain
        self._auth = BearerAuth(client_id, client_secret, token)
        self._timeout = timeout
        self._resolve = _resolve
        self._client: httpx.Client | None = None
        self._links: dict[int, Link] = {}
        self._registered: dict[tuple[str, str, str], str] = {}  # (project, domain, sha) -> version
        self._compatible = False

    # -- construction ---------------------------------------------------------------------

    @classmethod
    def for_sandbox(
        cls, default_project: str = DEFAULT_PROJECT, default_domain: str = DEFAULT_DOMAIN
    ) -> Remote:
        """The local sandbox started with ``eagernb sandbox start`` (found at request time)."""
        return cls(
            default_project=default_project, default_domain=default_domain, _resolve="sandbox"
        )

    @classmethod
    def auto(
        cls, default_project: str = DEFAULT_PROJECT, default_domain: str = DEFAULT_DOMAIN
    ) -> Remote:
        """Endpoint from ``EAGERNB_ENDPOINT``, else the sandbox; credentials from
        ``EAGERNB_CLIENT_ID`` / ``EAGERNB_CLIENT_SECRET`` or ``EAGERNB_TOKEN`` (all read at
        request time)."""
        return cls(default_project=default_project, default_domain=default_domain, _resolve="auto")

    @property
    def endpoint(self) -> str:
        if self._endpoint is None:
            self._endpoint = self._find_endpoint()
        return self._endpoint.rstrip("/")

    def _find_endpoint(self) -> str:
        if self._resolve == "auto" and os.environ.get("EAGERNB_ENDPOINT"):
            found = os.environ["EAGERNB_ENDPOINT"]
            if not found.startswith(("http://", "https://")):
                raise RemoteRequestError(
                    f"EAGERNB_ENDPOINT must be a URL such as http://127.0.0.1:8080, not "
                    f"{found!r}: add http:// (or https://) in front of host and port."
                )
            return found
        path = Path(os.environ.get("EAGERNB_SANDBOX_FILE", str(SANDBOX_FILE))).expanduser()
        try:
            return str(json.loads(path.read_text())["url"])
        except (OSError, ValueError, KeyError):
            raise RemoteRequestError(
                "No eagernb control plane was found: set EAGERNB_ENDPOINT to its URL, or start "
                f"the local sandbox with `eagernb sandbox start` (it writes {path})."
            ) from None

    @property
    def client_id(self) -> str | None:
        """The client id given to this Remote (None: none given)."""
        return self._auth.client_id

    def _bearer(self) -> BearerAuth:
        self._auth.token_url = self.endpoint + "/api/v1/token"
        return self._auth

    def _sync(self) -> httpx.Client:
        if self._client is None:
            self._client = httpx.Client(
                base_url=self.endpoint + "/api/v1",
                auth=self._bearer(),
                timeout=self._timeout,
                transport=_Transport(verify=_verify(self.endpoint)),
            )
        return self._client

    def _async(self) -> httpx.AsyncClient:
        return self._link().client

    def _link(self) -> Link:
        # One link per event loop: an httpx.AsyncClient is bound to the loop it used.
        key = id(asyncio.get_running_loop())
        link = self._links.get(key)
        if link is None or link.closed:
            # Children fall back to one long poll each when the channel breaks: no cap.
            client = httpx.AsyncClient(
                base_url=self.endpoint + "/api/v1",
                auth=self._bearer(),
                timeout=self._timeout,
                transport=_AsyncTransport(
                    verify=_verify(self.endpoint),
                    limits=httpx.Limits(max_connections=None, max_keepalive_connections=32),
                ),
            )
            link = self._links[key] = Link(client, self._check)
            link.on_close = functools.partial(self._drop_link, key, link)
        return link

    def _drop_link(self, key: int, link: Link) -> None:
        if self._links.get(key) is link:
            del self._links[key]

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    async def aclose(self) -> None:
        """Close this loop's connections (other loops close theirs as their runs end)."""
        link = self._links.get(id(asyncio.get_running_loop()))
        if link is not None:
            await link.aclose()

    def __getstate__(self) -> dict[str, Any]:
        # Shipped inside code payloads (stored on the server, readable by any client):
        # connections, caches and credentials stay behind. Unpickled, it reads credentials
        # from the environment where it runs.
        state = dict(self.__dict__)
        state.update(_client=None, _links={}, _registered={}, _auth=None)
        if self._resolve != "explicit":
            state["_endpoint"] = None  # resolved again where it is used
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._auth = BearerAuth()

    def __repr__(self) -> str:
        where = self._endpoint or f"<{self._resolve}>"
        who = f", client_id={self.client_id!r}" if self.client_id else ""
        return (
            f"Remote({where}, project={self.default_project!r}, "
            f"domain={self.default_domain!r}{who})"
        )

    # -- requests -------------------------------------------------------------------------

    def _check_versions(self, health: Mapping[str, Any]) -> None:
        """Refuse to ship code the workers could not load, naming both sides' versions."""
        here = runtime_versions()
        there = {
            "python": str(health.get("python", "")),
            "cloudpickle": str(health.get("cloudpickle", "")),
        }
        same_python = here["python"].split(".")[:2] == there["python"].split(".")[:2]
        same_pickle = here["cloudpickle"].split(".")[0] == there["cloudpickle"].split(".")[0]
        if not (same_python and same_pickle):
            raise RemoteRequestError(
                f"This client runs Python {here['python']} with cloudpickle {here['cloudpickle']}, "
                f"but the workers at {self.endpoint} run Python {there['python']} with cloudpickle "
                f"{there['cloudpickle']}; code pickled here would not load there. Use the same "
                "Python minor version and cloudpickle major version on both sides."
            )
        self._compatible = True

    @staticmethod
    def _check(response: httpx.Response) -> Any:
        if response.is_success:
            return response.json() if response.content else None
        try:
            message = response.json().get("error", response.text)
        except ValueError:
            message = response.text
        raise RemoteRequestError(
            f"The control plane answered {response.status_code} to {response.request.method} "
            f"{response.request.url.path}: {message}",
            status_code=response.status_code,
        )

    def _blob_put(self, payload: Payload) -> None:
        client = self._sync()
        if client.head(f"/blobs/{payload.sha256}").status_code != 200:
            self._check(client.put(f"/blobs/{payload.sha256}", content=payload.data))

    async def _ablob_put(self, payload: Payload) -> None:
        client = self._async()
        if (await client.head(f"/blobs/{payload.sha256}")).status_code != 200:
            self._check(await client.put(f"/blobs/{payload.sha256}", content=payload.data))

    def _entity_body(
        self, entity: Entity, payload: Payload, project: str, domain: str, version: str | None
    ) -> dict[str, Any]:
        from .._core.typecheck import describe

        iface = entity.interface
        interface: dict[str, Any] = {
            "inputs": {k: describe(v) for k, v in iface.inputs.items()},
            "output": describe(iface.output),
        }
        resources = getattr(entity, "resources", None)
        if resources:  # the server's engine places the task by them (see _core.resources)
            interface["resources"] = dict(resources)
        return {
            "project": project,
            "domain": domain,
            "name": entity.name,
            "kind": entity.kind.value,
            "version": version or payload.sha256[:16],
            "payload_sha": payload.sha256,
            "interface": interface,
        }

    def register(
        self,
        entity: Entity,
        *,
        project: str | None = None,
        domain: str | None = None,
        version: str | None = None,
    ) -> str:
        """Upload ``entity`` unless this exact code is registered; return its version.

        The version is the start of the code's sha256 unless ``version`` names one.
        """
        project, domain = project or self.default_project, domain or self.default_domain
        payload = checked_entity_payload(entity)
        key = (project, domain, payload.sha256)
        if version is not None or key not in self._registered:
            self._post_entity(entity, payload, project, domain, version)
        return self._registered[key]

    def register_entity(
        self,
        entity: Entity,
        *,
        project: str | None = None,
        domain: str | None = None,
        version: str | None = None,
    ) -> dict[str, Any]:
        """Register ``entity`` and return the server's record of it.

        Its ``created`` is False when this version was already registered with the same
        code; the same version with different code is refused.
        """
        project, domain = project or self.default_project, domain or self.default_domain
        payload = checked_entity_payload(entity)
        return self._post_entity(entity, payload, project, domain, version)

    def _post_entity(
        self, entity: Entity, payload: Payload, project: str, domain: str, version: str | None
    ) -> dict[str, Any]:
        if not self._compatible:
            self._check_versions(self._check(self._sync().get("/health")))
        self._blob_put(payload)
        body = self._entity_body(entity, payload, project, domain, version)
        stored: dict[str, Any] = self._check(self._sync().post("/entities", json=body))
        self._registered[(project, domain, payload.sha256)] = str(stored["version"])
        return stored

    async def aregister(
        self,
        entity: Entity,
        *,
        project: str | None = None,
        domain: str | None = None,
        version: str | None = None,
    ) -> str:
        project, domain = project or self.default_project, domain or self.default_domain
        payload = checked_entity_payload(entity)
        key = (project, domain, payload.sha256)
        if version is not None or key not in self._registered:
            if not self._compatible:
                self._check_versions(self._check(await self._async().get("/health")))
            await self._ablob_put(payload)
            body = self._entity_body(entity, payload, project, domain, version)
            stored = self._check(await self._async().post("/entities", json=body))
            self._registered[key] = str(stored["version"])
        return self._registered[key]

    def _execution_body(
        self, name: str, version: str | None, inputs: Payload, project: str, domain: str,
        parent_id: str | None, retries: int, timeout: float | None, values: Mapping[str, Any],
    ) -> dict[str, Any]:  # fmt: skip
        return {
            "project": project, "domain": domain, "name": name, "version": version,
            "inputs_sha": inputs.sha256, "parent_id": parent_id, "retries": retries,
            "timeout": timeout, "inputs_preview": previews(values),
        }  # fmt: skip

    def execute(
        self,
        entity: Entity | str,
        inputs: Mapping[str, Any] | None = None,
        *,
        version: str | None = None,
        project: str | None = None,
        domain: str | None = None,
        parent_id: str | None = None,
        retries: int = 0,
        timeout: float | None = None,
    ) -> Execution:
        """Start ``entity`` (an object, registered first, or a registered name) with ``inputs``."""
        project, domain = project or self.default_project, domain or self.default_domain
        values = dict(inputs or {})
        if isinstance(entity, Entity):
            values = entity.interface.bind((), values)
            version = version or self.register(entity, project=project, domain=domain)
            name = entity.name
        else:
            name = entity
        payload = checked_value_payload(repr(name), values)  # before any request
        if not isinstance(entity, Entity):
            found = self._check(self._sync().get(_entity_path(project, domain, name, version)))
            _check_inputs(name, found, values)
        self._blob_put(payload)
        body = self._execution_body(
            name, version, payload, project, domain, parent_id, retries, timeout, values
        )
        return Execution(self._check(self._sync().post("/executions", json=body)), self)

    async def aexecute(
        self,
        entity: Entity | str,
        inputs: Mapping[str, Any] | None = None,
        *,
        version: str | None = None,
        project: str | None = None,
        domain: str | None = None,
        parent_id: str | None = None,
        retries: int = 0,
        timeout: float | None = None,
        listener: Listener | None = None,
    ) -> Execution:
        """Start an execution (see ``execute``). ``listener`` hears when it starts
        (``{"type": "started"}``) and what it prints (``{"type": "output", "chunks":
        [[stream, text], ...]}``) while ``await_output`` waits for it; ``watching`` says
        whether it will."""
        project, domain = project or self.default_project, domain or self.default_domain
        values = dict(inputs or {})
        if isinstance(entity, Entity):
            values = entity.interface.bind((), values)
            version = version or await self.aregister(entity, project=project, domain=domain)
            name = entity.name
        else:
            name = entity
        payload = checked_value_payload(repr(name), values)  # before any request
        if not isinstance(entity, Entity):
            path = _entity_path(project, domain, name, version)
            _check_inputs(name, self._check(await self._async().get(path)), values)
        body = self._execution_body(
            name, version, payload, project, domain, parent_id, retries, timeout, values
        )
        inline: bytes | None = payload.data
        if len(payload.data) > _INLINE_INPUTS:  # big inputs go up once, as a blob
            await self._ablob_put(payload)
            inline = None
        else:
            del body["inputs_sha"]
        return Execution(await self._link().submit(body, inline, listener), self)

    def watching(self, execution_id: str) -> bool:
        """Whether this loop's notification channel will report on ``execution_id``."""
        return self._link().watching(execution_id)

    def fetch(self, execution_id: str) -> Execution:
        return Execution(self._check(self._sync().get(f"/executions/{execution_id}")), self)

    async def afetch(self, execution_id: str) -> Execution:
        return Execution(self._check(await self._async().get(f"/executions/{execution_id}")), self)

    def list_executions(self, **filters: Any) -> list[Execution]:
        params = {k: v for k, v in filters.items() if v is not None}
        params.setdefault("project", self.default_project)
        rows = self._check(self._sync().get("/executions", params=params))
        return [Execution(row, self) for row in rows]

    def outputs_of(self, execution_id: str) -> list[dict[str, Any]]:
        """What the execution and its descendants printed, in order:
        ``[{"execution_id", "chunks": [[stream, text], ...], "time"}, ...]``."""
        found: list[dict[str, Any]] = self._check(
            self._sync().get(f"/executions/{execution_id}/outputs")
        )
        return found

    def cancel(self, execution_id: str) -> Execution:
        return Execution(self._check(self._sync().post(f"/executions/{execution_id}/cancel")), self)

    async def acancel(self, execution_id: str) -> Execution:
        response = await self._async().post(f"/executions/{execution_id}/cancel")
        return Execution(self._check(response), self)

    def wait(self, execution_id: str, timeout: float | None = None) -> Execution:
        """Long-poll until final (or ``timeout`` seconds pass) and return the execution."""
        import time

        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            left = 25.0 if deadline is None else max(0.0, min(25.0, deadline - time.monotonic()))
            response = self._sync().get(
                f"/executions/{execution_id}/wait", params={"timeout": left}, timeout=left + 10
            )
            execution = Execution(self._check(response), self)
            if execution.done or (deadline is not None and time.monotonic() >= deadline):
                return execution

    async def _aget(self, path: str, **kwargs: Any) -> httpx.Response:
        """GET with a few retries on a dropped connection (reads are safe to repeat)."""
        for attempt in range(4):
            try:
                return await self._async().get(path, **kwargs)
            except (httpx.ReadError, httpx.RemoteProtocolError, httpx.ConnectError):
                if attempt == 3:
                    raise
                await asyncio.sleep(0.05 * 2**attempt)  # back off before asking again
        raise AssertionError("unreachable")

    async def await_final(self, execution_id: str) -> Execution:
        while True:
            response = await self._aget(
                f"/executions/{execution_id}/wait", params={"timeout": 25.0}, timeout=35.0
            )
            execution = Execution(self._check(response), self)
            if execution.done:
                return execution

    async def await_output(self, execution_id: str) -> Any:
        """The output of ``execution_id`` once it ends (its exception, rebuilt, if it failed)."""
        link = self._link()
        final = link.final(execution_id)
        if final is not None:
            try:
                data, inline = await final
            except ChannelLost:
                pass  # ask the server instead
            except asyncio.CancelledError:
                link.forget(execution_id)
                raise
            else:
                return await self.aoutput_of(Execution(data, self), inline)
        return await self.aoutput_of(await self.await_final(execution_id))

    def _blob(self, sha: str) -> bytes:
        response = self._sync().get(f"/blobs/{sha}")
        if not response.is_success:
            self._check(response)
        return response.content

    async def _ablob(self, sha: str) -> bytes:
        response = await self._aget(f"/blobs/{sha}")
        if not response.is_success:
            self._check(response)
        return response.content

    def inputs_of(self, execution: Execution) -> dict[str, Any]:
        return dict(load_value(self._blob(execution.data["inputs_sha"])))

    def output_of(self, execution: Execution) -> Any:
        data = execution.data
        if data["status"] == "succeeded":
            return load_value(self._blob(data["output_sha"]))
        error = data.get("error") or {}
        if data["status"] == "cancelled":  # an Exception here, not asyncio's CancelledError
            raise RunCancelledError(_cancelled(str(data["id"]), str(error.get("message") or "")))
        pickled = self._blob(error["exception_sha"]) if error.get("exception_sha") else None
        raise rebuild_exception(data, pickled)

    async def aoutput_of(self, execution: Execution, inline: bytes | None = None) -> Any:
        """Its output, or its exception raised; ``inline``: those bytes, sent along."""
        data = execution.data
        if data["status"] == "succeeded":
            return load_value(
                inline if inline is not None else await self._ablob(data["output_sha"])
            )
        error = data.get("error") or {}
        pickled = inline
        if pickled is None and error.get("exception_sha"):
            pickled = await self._ablob(error["exception_sha"])
        raise rebuild_exception(data, pickled)


def _cancelled(execution_id: str, reason: str) -> str:
    """That an execution was cancelled, and the server's reason, saying each once: a
    reason about this execution ("Execution ID was cancelled by a request to the server.")
    is the whole message; one about another ("Its parent ... was cancelled: ...") follows."""
    own = f"Execution {execution_id} was cancelled"
    if reason.startswith(own):
        return reason
    return f"{own}. {reason}" if reason else f"{own}."


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    return httpx.create_ssl_context()


def _entity_path(project: str, domain: str, name: str, version: str | None) -> str:
    parts = [project, domain, name, *([version] if version else [])]
    return "/entities/" + "/".join(urllib.parse.quote(p, safe="") for p in parts)


_SIMPLE: dict[str, type | tuple[type, ...]] = {
    "int": int, "float": (int, float), "str": str, "bool": bool,
}  # fmt: skip


def _check_inputs(name: str, entity: Mapping[str, Any], values: Mapping[str, Any]) -> None:
    """Check ``values`` against a registered entity's interface before starting it by name:
    unknown names, and values of the simple types (the rest is checked on the worker)."""
    expected: Mapping[str, str] = (entity.get("interface") or {}).get("inputs") or {}
    unknown = sorted(set(values) - set(expected))
    if unknown:
        raise InputTypeError(
            f"{entity.get('kind', 'entity').capitalize()} {name!r} (version "
            f"{entity.get('version')}) takes {', '.join(expected) or 'no inputs'}, not "
            f"{', '.join(unknown)}."
        )
    for key, value in values.items():
        wanted = _SIMPLE.get(expected[key])
        if wanted is None:
            continue
        if not isinstance(value, wanted) or (isinstance(value, bool) and expected[key] != "bool"):
            raise InputTypeError(
                f"Input {key!r} of {name!r} must be {expected[key]}, got "
                f"{type(value).__name__} {value!r}."
            )


def _verify(endpoint: str) -> ssl.SSLContext | bool:
    """One TLS context per process (building one reads the CA bundle: tens of ms), and
    none for plain HTTP, so a connection per event loop costs next to nothing."""
    return _ssl_context() if endpoint.startswith("https:") else False


_NAMED: dict[type[httpx.TransportError], type[httpx.TransportError]] = {}


def _control_plane_error(request: httpx.Request, exc: httpx.TransportError) -> Exception:
    """``exc`` as the same httpx type that is also a :class:`RemoteRequestError`, with a
    message naming the control plane and what to do: ``except httpx.TransportError`` and
    ``except eagernb.RemoteRequestError`` (an ``EagerNBError``) both catch it."""
    url = request.url
    where = f"{url.scheme}://{url.netloc.decode()}"
    detail = str(exc) or type(exc).__name__
    if isinstance(exc, httpx.ConnectError):
        message = (
            f"Cannot reach the eagernb control plane at {where} ({detail}). Is it running? "
            "Start one with `eagernb sandbox start` (or `eagernb server`), or point "
            "eagernb.config.remote (or EAGERNB_ENDPOINT) at the address it listens on."
        )
    else:
        message = (
            f"Lost contact with the eagernb control plane at {where} during "
            f"{request.method} {url.path} ({type(exc).__name__}: {detail}). It may have "
            "stopped or restarted; ask again once it answers."
        )
    base = type(exc)
    named = _NAMED.get(base)
    if named is None:
        named = _NAMED[base] = type(
            base.__name__, (base, RemoteRequestError), {"__module__": base.__module__}
        )
    return named(message, request=request)


class _Transport(httpx.HTTPTransport):
    """Says which control plane failed to answer, and what to do (see above)."""

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return super().handle_request(request)
        except httpx.TransportError as exc:
            raise _control_plane_error(request, exc) from exc


class _AsyncTransport(httpx.AsyncHTTPTransport):
    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await super().handle_async_request(request)
        except httpx.TransportError as exc:
            raise _control_plane_error(request, exc) from exc
