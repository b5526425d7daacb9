"""A server killed mid-run and started again on the same data directory."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from eagernb._server.errors import RESTARTED

from .conftest import occupy_workers
from .tasks import add_one


def test_a_restarted_server_keeps_what_finished_and_fails_what_was_running(
    start_server: Any, tmp_path: Path
) -> None:
    first = start_server()
    finished = first.run(add_one, x=1)
    running = [execution_id for execution_id, _ in occupy_workers(first, tmp_path)]
    queued = first.start(add_one, x=2)  # both workers are busy: it waits
    assert first.ok(first.http.get(f"/executions/{queued['id']}"))["status"] == "queued"

    first.kill()

    second = start_server(first.data_dir)
    again = second.ok(second.http.get(f"/executions/{finished['id']}"))
    assert again == finished
    assert second.output(again) == 2
    for execution_id in running:
        failed = second.wait(execution_id)
        assert failed["status"] == "failed"
        assert failed["error"]["message"] == RESTARTED
        assert failed["error"]["type_name"] == "eagernb.ServerRestartedError"
    requeued = second.wait(queued["id"])
    assert requeued["status"] == "succeeded", "a root that never started runs after a restart"
    assert second.output(requeued) == 3


def test_a_second_server_on_the_same_data_directory_is_refused(start_server: Any) -> None:
    first = start_server()
    second = subprocess.run(
        [
            sys.executable,
            "-m",
            "eagernb",
            "server",
            "--port",
            "0",
            "--data-dir",
            str(first.data_dir),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert second.returncode == 1
    assert f"Another eagernb server (pid {first.pid}) is using {first.data_dir}" in second.stderr
    assert first.health()["pid"] == first.pid
