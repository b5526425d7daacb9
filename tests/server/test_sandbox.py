"""``eagernb sandbox start|status|stop`` as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx


def _sandbox(*args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "eagernb", "sandbox", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=60)


def test_start_status_stop(tmp_path: Path) -> None:
    data = str(tmp_path / "sandbox")
    before = _sandbox("status", "--data-dir", data)
    assert (before.stdout, before.returncode) == ("stopped\n", 3)
    try:
        started = _sandbox("start", "--data-dir", data)
        assert started.returncode == 0, started.stderr
        url = started.stdout.strip()
        assert url.startswith("http://127.0.0.1:")
        info = json.loads((tmp_path / "sandbox" / "sandbox.json").read_text())
        assert info["url"] == url
        health = httpx.get(f"{url}/api/v1/health", timeout=10).json()
        assert health["pid"] == info["pid"]

        assert _sandbox("start", "--data-dir", data).stdout.strip() == url, "already running"
        running = _sandbox("status", "--data-dir", data)
        assert (running.stdout, running.returncode) == (
            f"running at {url} (pid {info['pid']})\n",
            0,
        )
    finally:
        stopped = _sandbox("stop", "--data-dir", data)
    assert stopped.stdout.startswith("stopped (pid ")
    assert _sandbox("status", "--data-dir", data).stdout == "stopped\n"
    assert not (tmp_path / "sandbox" / "sandbox.json").exists()
