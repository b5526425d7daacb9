"""Hybrid and remote runs against ``eagernb server --auth``, and where credentials never go."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import pickle
import sqlite3
import time
from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path

import cloudpickle
import pytest

import eagernb
from eagernb import Remote, RemoteRequestError, eager
from eagernb._client.auth import client_credentials, secret_env_name
from eagernb._client.errors import ClientSecretError
from eagernb._engines.payload import dump_entity
from eagernb._notebook.render import html_summary, text_summary
from tests.seed import eager_workflows as seed
from tests.server.conftest import Server, create_client

from .test_modes import EXPECTED

Credentials = tuple[str, str]


@dataclass
class Setup:
    server: Server
    notebook: Credentials  # allowed on flytesnacks
    elsewhere: Credentials  # allowed on another project only


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    root = Path(tmp_path_factory.mktemp("remote-auth"))
    data = root / "data"
    notebook = create_client(data, "flytesnacks", name="notebook")
    worker = create_client(data, "flytesnacks", name="worker")
    elsewhere = create_client(data, "elsewhere")
    secrets_dir = root / "secrets"
    (secrets_dir / "files").mkdir(parents=True)
    (secrets_dir / "files" / "elsewhere").write_text(f"{elsewhere[0]}:{elsewhere[1]}\n")
    env = {
        "EAGERNB_SECRET_EAGERNB_WORKER": f"{worker[0]}:{worker[1]}",
        "EAGERNB_SECRETS_DIR": str(secrets_dir),
    }
    server = Server(data, auth=True, env=env)
    try:
        yield Setup(server, notebook, elsewhere)
    finally:
        server.stop()


@pytest.fixture(autouse=True)
def no_credentials_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("EAGERNB_ENDPOINT", "EAGERNB_CLIENT_ID", "EAGERNB_CLIENT_SECRET", "EAGERNB_TOKEN"):
        monkeypatch.delenv(name, raising=False)


@pytest.fixture
def remote(setup: Setup) -> Iterator[Remote]:
    client_id, secret = setup.notebook
    client = Remote(
        setup.server.url, default_project="flytesnacks", client_id=client_id, client_secret=secret
    )
    eagernb.config.remote = client
    try:
        yield client
    finally:
        eagernb.config.remote = None
        client.close()


@pytest.mark.parametrize("mode", ["hybrid", "remote"])
def test_seed_examples_run_with_client_credentials(remote: Remote, mode: str) -> None:
    with eagernb.mode(mode):
        assert asyncio.run(seed.simple_eager_workflow(x=5)) == 12
        for workflow, x, expected in EXPECTED:
            assert asyncio.run(workflow(x=x)) == expected, (workflow.name, x)
    assert remote._auth.token is not None


def test_credentials_appear_in_no_repr_pickle_payload_record_view_store_or_log(
    setup: Setup, remote: Remote, caplog: pytest.LogCaptureFixture
) -> None:
    secret = setup.notebook[1]

    async def plus_one(x: int) -> int:
        return await seed.add_one(x=x)

    workflow = eager(remote=remote)(plus_one)
    with caplog.at_level(logging.DEBUG), eagernb.mode("remote"):
        assert asyncio.run(workflow(x=1)) == 2
    with caplog.at_level(logging.DEBUG), eagernb.mode("hybrid"):
        assert asyncio.run(workflow(x=2)) == 3
    token = remote._auth.token
    assert token is not None
    run = eagernb.last_run()
    assert run is not None
    texts = {
        "repr": repr(remote) + repr(remote._auth) + repr(workflow),
        "records": repr([record for _, record in run.walk()]),
        "widget": text_summary(run, run.counts(), 100) + html_summary(run, run.counts(), 100),
        "log": caplog.text,
        "server log": setup.server.log.read_text(),
    }
    assert setup.notebook[0] in texts["repr"]  # the client id is no secret
    assert "POST " + setup.server.url + "/api/v1/token" in texts["log"]  # httpx logged requests
    for where, text in texts.items():
        assert secret not in text, where
        assert token not in text, where
    pickles = {
        "remote": pickle.dumps(remote),
        "entity": cloudpickle.dumps(workflow),
        "payload": dump_entity(workflow).data,
    }
    stored = setup.server.data_dir.rglob("*")
    pickles.update({str(path): path.read_bytes() for path in stored if path.is_file()})
    for where, data in pickles.items():
        assert secret.encode() not in data, where
        assert token.encode() not in data, where
    shipped = pickle.loads(pickles["remote"])
    assert shipped.client_id is None and shipped._auth.token is None


def test_missing_or_wrong_credentials_say_what_to_do(setup: Setup) -> None:
    anonymous = Remote(setup.server.url, default_project="flytesnacks")
    with pytest.raises(RemoteRequestError) as refused, closing(anonymous):
        anonymous.execute(seed.add_one, {"x": 1})
    assert refused.value.status_code == 401
    assert "requires a bearer token: create client credentials with `eagernb auth" in str(
        refused.value
    )
    client_id, secret = setup.notebook
    wrong = Remote(setup.server.url, client_id=client_id, client_secret=secret[::-1])
    with pytest.raises(RemoteRequestError) as refused, closing(wrong):
        wrong.list_executions()
    assert refused.value.status_code == 401
    message = str(refused.value)
    assert f"refused the credentials of client {client_id!r}" in message
    assert "client id or secret is wrong" in message
    assert secret[::-1] not in message


def test_auto_reads_endpoint_and_credentials_from_the_environment_when_it_sends(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    remote = Remote.auto(default_project="flytesnacks")  # nothing is read yet
    monkeypatch.setenv("EAGERNB_ENDPOINT", setup.server.url)
    monkeypatch.setenv("EAGERNB_CLIENT_ID", setup.notebook[0])
    monkeypatch.setenv("EAGERNB_CLIENT_SECRET", setup.notebook[1])
    with closing(remote):
        assert remote.execute(seed.add_one, {"x": 1}).wait().output == 2
    monkeypatch.delenv("EAGERNB_CLIENT_ID")
    monkeypatch.delenv("EAGERNB_CLIENT_SECRET")
    monkeypatch.setenv("EAGERNB_TOKEN", setup.server.token(*setup.notebook))
    with closing(Remote.auto(default_project="flytesnacks")) as remote:
        assert remote.execute(seed.add_one, {"x": 2}).wait().output == 3


def test_a_token_is_renewed_when_it_expires_or_is_refused(setup: Setup, remote: Remote) -> None:
    remote.list_executions()
    first = remote._auth.token
    assert first is not None
    with sqlite3.connect(setup.server.data_dir / "eagernb.db") as db:
        db.execute(  # refused by the server from now on
            "UPDATE tokens SET expires_at = 1 WHERE token_sha = ?",
            (hashlib.sha256(first.encode()).hexdigest(),),
        )
    remote.list_executions()
    second = remote._auth.token
    assert second not in (None, first)
    remote._auth._expires = time.monotonic()  # due here: renewed before the request is sent
    with eagernb.mode("hybrid"):
        assert asyncio.run(seed.simple_eager_workflow(x=5)) == 12
    assert remote._auth.token not in (None, first, second)


def test_another_projects_client_is_refused_with_403(setup: Setup, remote: Remote) -> None:
    theirs = remote.execute(seed.add_one, {"x": 1})
    client_id, secret = setup.elsewhere
    other = Remote(
        setup.server.url, default_project="flytesnacks", client_id=client_id, client_secret=secret
    )
    with closing(other):
        for attempt in (
            lambda: other.fetch(theirs.id),
            lambda: other.execute(seed.add_one, {"x": 1}),
        ):
            with pytest.raises(RemoteRequestError) as refused:
                attempt()
            assert refused.value.status_code == 403
            assert "This token is for project 'elsewhere'" in str(refused.value)
            assert "project 'flytesnacks'" in str(refused.value)


@eager(client_secret_group="eagernb", client_secret_key="worker")
async def as_the_worker_client(x: int) -> int:
    return await seed.double(x=await seed.add_one(x=x))


@eager(client_secret_group="files", client_secret_key="elsewhere")
async def as_a_client_of_another_project(x: int) -> int:
    return await seed.add_one(x=x)


@eager(client_secret_group="missing", client_secret_key="nope")
async def with_a_missing_secret(x: int) -> int:
    return await seed.add_one(x=x)


def test_a_remote_body_uses_the_client_its_secret_group_and_key_name(remote: Remote) -> None:
    with eagernb.mode("remote"):
        assert asyncio.run(as_the_worker_client(x=5)) == 12
        # From the secrets directory: a client of another project, so its children are refused.
        with pytest.raises(RemoteRequestError) as refused:
            asyncio.run(as_a_client_of_another_project(x=5))
        assert "403" in str(refused.value)
        assert "This token is for project 'elsewhere'" in str(refused.value)
        with pytest.raises(ClientSecretError) as missing:
            asyncio.run(with_a_missing_secret(x=5))
    message = str(missing.value)
    assert "EAGERNB_SECRET_MISSING_NOPE" in message
    assert "missing/nope" in message


def test_secret_names_and_values_follow_the_documented_convention(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert secret_env_name("my-team", "eagernb.client") == "EAGERNB_SECRET_MY_TEAM_EAGERNB_CLIENT"
    monkeypatch.setenv("EAGERNB_SECRETS_DIR", str(tmp_path))
    assert client_credentials("team", "key") is None
    (tmp_path / "team").mkdir()
    (tmp_path / "team" / "key").write_text("enb-1:from-file\n")
    assert client_credentials("team", "key") == ("enb-1", "from-file")
    monkeypatch.setenv("EAGERNB_SECRET_TEAM_KEY", "enb-2:from-env")
    assert client_credentials("team", "key") == ("enb-2", "from-env")
    monkeypatch.setenv("EAGERNB_SECRET_TEAM_KEY", "no-colon-here")
    with pytest.raises(ClientSecretError) as malformed:
        client_credentials("team", "key")
    assert "not CLIENT_ID:CLIENT_SECRET" in str(malformed.value)
    assert "no-colon-here" not in str(malformed.value)
    with pytest.raises(eagernb.DefinitionError):
        eager(client_secret_group="team")(as_the_worker_client.fn)
    with pytest.raises(eagernb.DefinitionError):
        eager(client_secret_group="../etc", client_secret_key="passwd")(as_the_worker_client.fn)
