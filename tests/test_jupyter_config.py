"""Installing eagernb enables its Jupyter server extension, with no manual step."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import eagernb

ROOT = Path(__file__).resolve().parents[1]
CONFIG = "etc/jupyter/jupyter_server_config.d/eagernb.json"


def test_the_wheel_ships_the_jupyter_server_config(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(ROOT)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    (wheel,) = tmp_path.glob("eagernb-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        shipped = [n for n in archive.namelist() if n.endswith(CONFIG)]
        assert shipped == [f"eagernb-{eagernb.__version__}.data/data/{CONFIG}"]
        config = json.loads(archive.read(shipped[0]))
    assert config == {"ServerApp": {"jpserver_extensions": {"eagernb._jupyter": True}}}
    assert config == json.loads(
        (ROOT / "jupyter-config/jupyter_server_config.d/eagernb.json").read_text()
    )


def test_the_installed_package_has_enabled_the_extension() -> None:
    assert (Path(sys.prefix) / CONFIG).is_file(), "pip install put the config in etc/jupyter"
    listed = subprocess.run(
        [sys.executable, "-m", "jupyter", "server", "extension", "list"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    text = listed.stdout + listed.stderr
    assert listed.returncode == 0, text
    line = next(line for line in text.splitlines() if line.strip().startswith("eagernb._jupyter"))
    assert "enabled" in line
    assert "eagernb._jupyter  OK" in text.replace("\x1b[32m", "").replace("\x1b[0m", "")
