"""The HTTP API's plumbing against a real server: health, blobs, entities, helpful errors."""

from __future__ import annotations

import asyncio
import hashlib
import platform
from pathlib import Path

import cloudpickle
import httpx

import eagernb
from eagernb._engines.payload import dump_entity, dump_value
from eagernb._server.app import ServerConfig, create_app

from ..core.support import assert_sentence
from .conftest import Server
from .tasks import add_one, fail


def test_health_says_who_answers(server: Server) -> None:
    health = server.health()
    assert health["status"] == "ok"
    assert health["version"] == eagernb.__version__
    assert health["python"] == platform.python_version()
    assert health["cloudpickle"] == cloudpickle.__version__
    assert health["workers"] == 2
    assert health["engine"] == "embedded"
    assert health["pid"] == server.pid
    assert len(health["worker_pids"]) == 2
    assert server.pid not in health["worker_pids"]


def test_blobs_are_stored_under_their_sha256(server: Server) -> None:
    data = b"some bytes for the blob store"
    sha = hashlib.sha256(data).hexdigest()
    assert server.http.head(f"/blobs/{sha}").status_code == 404
    first = server.http.put(f"/blobs/{sha}", content=data)
    assert first.status_code == 201, first.text
    assert server.http.put(f"/blobs/{sha}", content=data).status_code == 200
    assert server.http.head(f"/blobs/{sha}").status_code == 200
    assert server.blob(sha) == data
    assert (server.data_dir / "blobs" / sha[:2] / sha[2:]).read_bytes() == data
    big = bytes(range(256)) * (12 << 10)  # 3 MiB: streamed to a file, served from it
    big_sha = server.put(big)
    assert server.blob(big_sha) == big


def test_a_body_that_does_not_match_its_sha256_is_refused(server: Server) -> None:
    wrong = hashlib.sha256(b"other bytes").hexdigest()
    response = server.http.put(f"/blobs/{wrong}", content=b"these bytes")
    assert response.status_code == 400
    message = response.json()["error"]
    assert_sentence(message, hashlib.sha256(b"these bytes").hexdigest(), wrong)
    assert server.http.head(f"/blobs/{wrong}").status_code == 404
    bad_name = server.http.put("/blobs/not-a-sha", content=b"x")
    assert bad_name.status_code == 400
    assert "64 lowercase hex digits" in bad_name.json()["error"]


def test_missing_things_get_helpful_404s(server: Server) -> None:
    missing_blob = server.http.get(f"/blobs/{'0' * 64}")
    assert missing_blob.status_code == 404
    assert_sentence(missing_blob.json()["error"], "0" * 64, "PUT")

    missing_execution = server.http.get("/executions/nope")
    assert missing_execution.status_code == 404
    assert_sentence(missing_execution.json()["error"], "'nope'", "GET /api/v1/executions")
    for suffix in ("/wait", "/children", "/events"):
        assert server.http.get(f"/executions/nope{suffix}").status_code == 404
    assert server.http.post("/executions/nope/cancel").status_code == 404

    unknown_route = server.http.get("/nothing/here")
    assert unknown_route.status_code == 404
    assert_sentence(unknown_route.json()["error"], "GET /api/v1/nothing/here")

    wrong_method = server.http.delete("/executions")
    assert wrong_method.status_code == 405
    assert "GET" in wrong_method.json()["error"]


def test_registering_the_same_code_twice_is_idempotent(server: Server) -> None:
    payload = dump_entity(add_one)
    server.put(payload.data)
    body = {
        "project": "entities", "domain": "development", "name": "add_one", "kind": "task",
        "version": "v1", "payload_sha": payload.sha256,
        "interface": {"inputs": {"x": "int"}, "output": "int"},
    }  # fmt: skip
    first = server.http.post("/entities", json=body)
    assert first.status_code == 201, first.text
    assert first.json()["created"] is True
    again = server.http.post("/entities", json=body)
    assert again.status_code == 200
    assert again.json()["created"] is False
    assert again.json()["interface"] == {"inputs": {"x": "int"}, "output": "int"}

    other = dump_entity(fail)
    server.put(other.data)
    clash = server.http.post("/entities", json={**body, "payload_sha": other.sha256})
    assert clash.status_code == 409
    assert_sentence(clash.json()["error"], "entities/development/add_one", "v1")

    server.http.post("/entities", json={**body, "version": "v2"})
    latest = server.ok(server.http.get("/entities/entities/development/add_one"))
    assert latest["version"] == "v2"
    assert (
        server.ok(server.http.get("/entities/entities/development/add_one/v1"))["version"] == "v1"
    )
    listed = server.ok(server.http.get("/entities", params={"project": "entities"}))
    assert [e["version"] for e in listed] == ["v2", "v1"]


def test_an_entity_needs_its_payload_uploaded_first(server: Server) -> None:
    body = {
        "project": "entities", "domain": "development", "name": "ghost", "kind": "task",
        "version": "v1", "payload_sha": "a" * 64, "interface": {"inputs": {}, "output": "int"},
    }  # fmt: skip
    response = server.http.post("/entities", json=body)
    assert response.status_code == 400
    assert_sentence(response.json()["error"], "a" * 64, "PUT")
    bad_kind = server.http.post("/entities", json={**body, "kind": "job"})
    assert bad_kind.status_code == 400
    assert "task, workflow, eager" in bad_kind.json()["error"]
    not_json = server.http.post(
        "/entities", content=b"{", headers={"content-type": "application/json"}
    )
    assert not_json.status_code == 400
    assert "not valid JSON" in not_json.json()["error"]


def test_an_execution_records_the_version_it_resolved(server: Server) -> None:
    payload = dump_entity(add_one)
    server.put(payload.data)
    body = {
        "project": "versions", "domain": "development", "name": "add_one", "kind": "task",
        "payload_sha": payload.sha256, "interface": {"inputs": {"x": "int"}, "output": "int"},
    }  # fmt: skip
    server.ok(server.http.post("/entities", json={**body, "version": "v1"}))
    server.ok(server.http.post("/entities", json={**body, "version": "v2"}))
    inputs = server.put(dump_value({"x": 1}))
    run = {"project": "versions", "domain": "development", "name": "add_one", "inputs_sha": inputs}
    created = server.http.post("/executions", json={**run, "version": None})
    assert created.status_code == 201, created.text
    assert created.json()["version"] == "v2"
    assert created.json()["status"] == "queued"
    server.ok(server.http.post("/entities", json={**body, "version": "v3"}))
    done = server.wait(created.json()["id"])
    assert done["version"] == "v2"
    assert server.output(done) == 2


def test_starting_what_is_not_registered_is_a_404_that_says_what_to_do(server: Server) -> None:
    inputs = server.put(dump_value({"x": 1}))
    run = {"project": "tests", "domain": "development", "inputs_sha": inputs}
    unknown = server.http.post("/executions", json={**run, "name": "no_such_task"})
    assert unknown.status_code == 404
    assert_sentence(
        unknown.json()["error"], "tests/development/no_such_task", "POST /api/v1/entities"
    )

    version = server.register(add_one)["version"]
    wrong_version = server.http.post(
        "/executions", json={**run, "name": "add_one", "version": "v0"}
    )
    assert wrong_version.status_code == 404
    assert_sentence(wrong_version.json()["error"], "'v0'", version)

    no_inputs = server.http.post(
        "/executions", json={**run, "name": "add_one", "inputs_sha": "b" * 64}
    )
    assert no_inputs.status_code == 400
    assert "PUT them to /api/v1/blobs/" + "b" * 64 in no_inputs.json()["error"]


def test_uploads_over_the_limit_are_refused_with_their_size(tmp_path: Path) -> None:
    """In-process variant: the ASGI app through httpx.ASGITransport, with a 10-byte limit."""
    app = create_app(ServerConfig(tmp_path, workers=1, max_blob_bytes=10))

    async def scenario() -> tuple[httpx.Response, httpx.Response]:
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
                big, small = b"eleven byte", b"ten bytes!"
                refused = await client.put(f"/api/v1/blobs/{_sha(big)}", content=big)
                accepted = await client.put(f"/api/v1/blobs/{_sha(small)}", content=small)
                return refused, accepted

    refused, accepted = asyncio.run(scenario())
    assert refused.status_code == 413
    assert_sentence(refused.json()["error"], "11 bytes", "limit of 10 bytes")
    assert accepted.status_code == 201


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_an_execution_keeps_the_previews_of_its_values(server: Server) -> None:
    registered = server.register(add_one)
    run = {
        **{k: registered[k] for k in ("project", "domain", "version")}, "name": "add_one",
        "inputs_sha": server.put(dump_value({"x": 41})),
    }  # fmt: skip
    created = server.http.post("/executions", json={**run, "inputs_preview": {"x": "41"}})
    assert created.status_code == 201, created.text
    assert created.json()["inputs_preview"] == {"x": "41"}
    done = server.wait(created.json()["id"])
    assert (done["status"], done["output_preview"]) == ("succeeded", "42")

    for wrong in ({"x": 41}, ["41"], "41"):
        refused = server.http.post("/executions", json={**run, "inputs_preview": wrong})
        assert refused.status_code == 400
        assert_sentence(refused.json()["error"], "'inputs_preview'", "short texts")


def test_a_database_from_before_previews_gains_their_columns(tmp_path: Path) -> None:
    from eagernb._server.store import Store

    path = tmp_path / "old.db"
    store = Store(path)
    row = {
        "id": "e1", "root_id": "e1", "parent_id": None, "project": "p", "domain": "d",
        "name": "add_one", "version": "v1", "kind": "task", "retries": 0, "timeout": None,
        "inputs_sha": "a" * 64,
    }  # fmt: skip
    store.create_execution(row, 1.0)
    for column in ("inputs_preview", "output_preview"):  # as the first release made it
        store._db.execute(f"ALTER TABLE executions DROP COLUMN {column}")
    store.close()

    reopened = Store(path)
    try:
        old = reopened.execution("e1")
        assert old is not None
        assert (old["name"], old["inputs_preview"], old["output_preview"]) == (
            "add_one",
            None,
            None,
        )
        reopened.create_execution({**row, "id": "e2", "inputs_preview": {"x": "1"}}, 2.0)
        new = reopened.execution("e2")
        assert new is not None and new["inputs_preview"] == {"x": "1"}
    finally:
        reopened.close()
