"""Authentication against a real ``eagernb server --auth``: tokens, scopes, stored hashes."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from eagernb import eager
from eagernb._cli import main
from eagernb._engines.payload import dump_value
from eagernb._server.app import ServerConfig, create_app

from ..core.support import assert_sentence
from .conftest import Server, _env, create_client
from .tasks import add_one

HOW_TO = (
    "This control plane requires a bearer token: create client credentials with `eagernb auth "
    "create-client`, then pass client_id/client_secret to eagernb.Remote (or set "
    "EAGERNB_CLIENT_ID / EAGERNB_CLIENT_SECRET)."
)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    running = Server(tmp_path_factory.mktemp("auth") / "data", auth=True)
    try:
        yield running
    finally:
        running.stop()


@pytest.fixture(scope="module")
def alpha(server: Server) -> tuple[str, str]:
    return create_client(server.data_dir, "alpha", name="alpha's notebooks")


def _client(server: Server, token: str | None) -> httpx.Client:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return httpx.Client(base_url=server.url + "/api/v1", headers=headers, timeout=60)


def _start(
    server: Server, http: httpx.Client, project: str, x: int, parent_id: str | None = None
) -> httpx.Response:
    """POST an execution of ``add_one`` (registered by the admin client) in ``project``."""
    registered = server.register(add_one, project=project)
    body = {
        "project": project, "domain": "development", "name": "add_one",
        "version": registered["version"], "inputs_sha": server.put(dump_value({"x": x})),
        "parent_id": parent_id,
    }  # fmt: skip
    return http.post("/executions", json=body)


def test_health_needs_no_token_and_everything_else_says_how_to_get_one(server: Server) -> None:
    with _client(server, None) as anonymous:
        assert anonymous.get("/health").status_code == 200
        for method, path in [
            ("GET", "/executions"), ("POST", "/executions"), ("GET", "/executions/x"),
            ("GET", "/executions/x/wait"), ("GET", "/executions/x/events"),
            ("POST", "/executions/x/cancel"), ("GET", "/executions/x/children"),
            ("GET", "/entities"), ("POST", "/entities"), ("GET", "/entities/p/d/n"),
            ("HEAD", "/blobs/" + "a" * 64), ("GET", "/blobs/" + "a" * 64),
            ("PUT", "/blobs/" + "a" * 64),
        ]:  # fmt: skip
            response = anonymous.request(method, path)
            assert response.status_code == 401, (method, path, response.text)
            assert response.headers["www-authenticate"].startswith("Bearer"), (method, path)
            if method != "HEAD":
                assert response.json()["error"] == HOW_TO
        refused = anonymous.get("/executions", headers={"Authorization": "Bearer not-a-token"})
        assert refused.status_code == 401
        assert 'error="invalid_token"' in refused.headers["www-authenticate"]
        assert_sentence(refused.json()["error"], "POST /api/v1/token", "eagernb auth create-client")


def test_a_token_comes_from_a_form_json_or_basic_credentials(
    server: Server, alpha: tuple[str, str]
) -> None:
    client_id, secret = alpha
    url = server.url + "/api/v1/token"
    fields = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    basic = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    answers = [
        httpx.post(url, data=fields),
        httpx.post(url, json=fields),
        httpx.post(
            url,
            data={"grant_type": "client_credentials"},
            headers={"Authorization": f"Basic {basic}"},
        ),
    ]
    tokens = set()
    for answer in answers:
        assert answer.status_code == 200, answer.text
        assert answer.headers["cache-control"] == "no-store"
        body = answer.json()
        assert (body["token_type"], body["expires_in"], body["scope"]) == ("bearer", 3600, "alpha")
        tokens.add(body["access_token"])
    assert len(tokens) == 3
    with _client(server, tokens.pop()) as http:
        assert http.get("/executions", params={"project": "alpha"}).status_code == 200


def test_wrong_or_missing_credentials_get_a_401_that_says_what_to_check(
    server: Server, alpha: tuple[str, str]
) -> None:
    client_id, secret = alpha
    url = server.url + "/api/v1/token"
    grant = {"grant_type": "client_credentials"}
    for fields in (
        {"client_id": client_id, "client_secret": secret + "x"},
        {"client_id": "enb-0000000000000000", "client_secret": secret},
    ):
        refused = httpx.post(url, data={**grant, **fields})
        assert refused.status_code == 401
        assert_sentence(
            refused.json()["error"], "client id or secret is wrong", "eagernb auth list"
        )
    missing = httpx.post(url, data=grant)
    assert missing.status_code == 401
    assert "eagernb auth create-client" in missing.json()["error"]
    wrong_grant = httpx.post(url, data={"client_id": client_id, "client_secret": secret})
    assert wrong_grant.status_code == 400
    assert "'client_credentials'" in wrong_grant.json()["error"]


def test_a_token_reaches_only_its_own_projects(server: Server, alpha: tuple[str, str]) -> None:
    beta_run = _start(server, server.http, "beta", x=1)
    assert beta_run.status_code == 201, beta_run.text
    beta_id = beta_run.json()["id"]
    server.wait(beta_id)
    where = {"project": "beta", "domain": "development"}
    forbidden = "This token is for project 'alpha', so it cannot read or change anything in"
    with _client(server, server.token(*alpha)) as http:
        mine = _start(server, http, "alpha", x=1)
        assert mine.status_code == 201, mine.text
        assert http.get(f"/executions/{mine.json()['id']}/wait").status_code == 200
        listed = http.get("/executions").json()  # no project: only the token's
        assert {e["project"] for e in listed} == {"alpha"}
        assert {e["project"] for e in http.get("/entities").json()} == {"alpha"}
        for response in [
            http.get("/executions", params={"project": "beta"}),
            http.get("/entities", params={"project": "beta"}),
            http.get("/entities/beta/development/add_one"),
            http.get(f"/executions/{beta_id}"),
            http.get(f"/executions/{beta_id}/children"),
            http.get(f"/executions/{beta_id}/wait"),
            http.get(f"/executions/{beta_id}/events"),
            http.post(f"/executions/{beta_id}/cancel"),
            _start(server, http, "beta", x=2),
            _start(server, http, "alpha", x=2, parent_id=beta_id),
            http.post("/entities", json={**where, "name": "n", "version": "v"}),
        ]:  # fmt: skip
            assert response.status_code == 403, (response.request.url, response.text)
            message = response.json()["error"]
            assert_sentence(message, forbidden, "'beta'", "--project beta")
        # Blobs are named by their content and shared: any valid token reads them.
        inputs_sha = server.http.get(f"/executions/{beta_id}").json()["inputs_sha"]
        assert http.get(f"/blobs/{inputs_sha}").status_code == 200


def test_secrets_and_tokens_are_only_stored_as_hashes(server: Server) -> None:
    client_id, secret = create_client(server.data_dir, "gamma")
    token = server.token(client_id, secret)
    with _client(server, token) as http:
        assert http.get("/executions", params={"project": "gamma"}).status_code == 200
    stored = b"".join(p.read_bytes() for p in server.data_dir.glob("eagernb.db*"))
    assert client_id.encode() in stored and b"scrypt$" in stored  # the right files were read
    assert hashlib.sha256(token.encode()).hexdigest().encode() in stored
    assert secret.encode() not in stored
    assert token.encode() not in stored
    logged = server.log.read_bytes()
    assert secret.encode() not in logged and token.encode() not in logged


def test_a_revoked_client_loses_its_tokens_at_once(server: Server) -> None:
    client_id, secret = create_client(server.data_dir, "delta", name="short-lived")
    token = server.token(client_id, secret)
    command = [sys.executable, "-m", "eagernb", "auth"]
    where = ["--data-dir", str(server.data_dir)]
    listed = subprocess.run([*command, "list", *where], capture_output=True, text=True, env=_env())
    assert listed.returncode == 0, listed.stderr
    line = next(ln for ln in listed.stdout.splitlines() if ln.startswith(client_id))
    assert "active" in line and "delta" in line and "short-lived" in line
    assert secret not in listed.stdout
    revoked = subprocess.run(
        [*command, "revoke", client_id, *where], capture_output=True, text=True, env=_env()
    )
    assert revoked.returncode == 0, revoked.stderr
    with _client(server, token) as http:
        assert http.get("/executions", params={"project": "delta"}).status_code == 401
    form = {"grant_type": "client_credentials", "client_id": client_id, "client_secret": secret}
    assert httpx.post(server.url + "/api/v1/token", data=form).status_code == 401
    listed = subprocess.run([*command, "list", *where], capture_output=True, text=True, env=_env())
    assert "revoked" in next(ln for ln in listed.stdout.splitlines() if ln.startswith(client_id))


def test_an_expired_token_is_refused(server: Server, alpha: tuple[str, str]) -> None:
    token = server.token(*alpha)
    with sqlite3.connect(server.data_dir / "eagernb.db") as db:
        db.execute(
            "UPDATE tokens SET expires_at = 1 WHERE token_sha = ?",
            (hashlib.sha256(token.encode()).hexdigest(),),
        )
    with _client(server, token) as http:
        refused = http.get("/executions", params={"project": "alpha"})
    assert refused.status_code == 401
    assert "expired" in refused.json()["error"]


@eager
async def add_two(x: int) -> int:
    return await add_one(x=await add_one(x=x))


def test_a_workflow_body_launches_children_with_a_job_token_that_ends_with_it(
    server: Server,
) -> None:
    body = server.wait(server.start(add_two, x=3)["id"])
    assert body["status"] == "succeeded", body["error"]
    assert server.output(body) == 5
    children = server.ok(server.http.get(f"/executions/{body['id']}/children"))
    assert [(c["name"], c["status"]) for c in children] == [("add_one", "succeeded")] * 2
    with sqlite3.connect(server.data_dir / "eagernb.db") as db:
        left = db.execute("SELECT count(*) FROM tokens WHERE execution_id IS NOT NULL")
        assert left.fetchone()[0] == 0


def test_create_client_checks_its_arguments(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_:
        main(["auth", "create-client", "--data-dir", str(tmp_path)])
    assert exit_.value.code == 2
    assert "--project" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["auth", "create-client", "--data-dir", str(tmp_path), "--project", "a*"])
    assert exit_.value.code == 2
    assert "'*' alone for every project" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        main(["auth", "list", "--data-dir", str(tmp_path / "nothing")])
    assert exit_.value.code == 2
    assert "holds no eagernb server data" in capsys.readouterr().err
    assert main(["auth", "create-client", "--data-dir", str(tmp_path), "--project", "*"]) == 0
    assert "projects:      *" in capsys.readouterr().out
    assert main(["auth", "revoke", "enb-nobody", "--data-dir", str(tmp_path)]) == 1
    assert "no client 'enb-nobody'" in capsys.readouterr().err


def test_a_server_without_auth_issues_no_tokens(tmp_path: Path) -> None:
    """In-process variant: the ASGI app through httpx.ASGITransport, authentication off."""
    app = create_app(ServerConfig(tmp_path, workers=1))

    async def scenario() -> tuple[httpx.Response, httpx.Response]:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                form = {"grant_type": "client_credentials", "client_id": "a", "client_secret": "b"}
                return await client.post("/api/v1/token", data=form), await client.get(
                    "/api/v1/executions", headers={"Authorization": "Bearer anything"}
                )

    token, listed = asyncio.run(scenario())
    assert token.status_code == 400
    assert_sentence(token.json()["error"], "without authentication", "eagernb server --auth")
    assert listed.status_code == 200
