"""JupyterLab in headless Chromium, isolated in a temporary folder (see the browser recipe).

``Lab`` starts ``jupyter lab`` on a free port with its own config, data, runtime and
settings folders, and opens notebooks in a Playwright page of Debian's Chromium
(``/usr/bin/chromium``; Playwright's own browser download is never used). ``Lab.stop``
ends the server by its PID.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import httpx
import nbformat
import pytest

CHROMIUM = os.environ.get("EAGERNB_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "artifacts" / "browser"
BROWSER_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--no-first-run",
]  # fmt: skip
IDLE = re.compile(r"Python 3 \(ipykernel\) \| Idle")

# Records, on every change of the page, the prompt of each cell and the explorer rows.
WATCH = r"""
() => {
  window.__enb = [];
  const snap = () => {
    const cells = Array.from(document.querySelectorAll('.jp-Notebook .jp-Cell.jp-CodeCell'));
    const state = cells.map(c => {
      const prompt = (c.querySelector('.jp-InputPrompt') || {}).textContent || '';
      const rows = Array.from(c.querySelectorAll('.jp-OutputArea-output [data-eagernb-id]'))
        .map(r => [r.dataset.eagernbId, r.dataset.status]);
      return {prompt: prompt.trim(), rows};
    });
    const key = JSON.stringify(state);
    const last = window.__enb[window.__enb.length - 1];
    if (!last || last.key !== key) window.__enb.push({key, state, t: Date.now()});
  };
  new MutationObserver(snap).observe(document.body,
    {subtree: true, childList: true, attributes: true, characterData: true});
  snap();
}
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def require_chromium() -> None:
    if not (os.path.exists(CHROMIUM) or shutil.which("chromium")):
        pytest.fail(
            f"Chromium is not installed at {CHROMIUM}: `apt-get install -y chromium` (what "
            ".ci/run does), or point EAGERNB_CHROMIUM at a Chromium binary."
        )


class Lab:
    """One isolated JupyterLab server serving ``root``."""

    def __init__(self, root: Path, home: Path, env: dict[str, str] | None = None) -> None:
        self.root = root
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        dirs = {
            "JUPYTER_CONFIG_DIR": home / "config",
            "JUPYTER_DATA_DIR": home / "data",
            "JUPYTER_RUNTIME_DIR": home / "runtime",
            "IPYTHONDIR": home / "ipython",
            "JUPYTERLAB_SETTINGS_DIR": home / "settings",
            "JUPYTERLAB_WORKSPACES_DIR": home / "workspaces",
        }
        for folder in dirs.values():
            folder.mkdir(parents=True, exist_ok=True)
        overrides = {
            "@jupyterlab/apputils-extension:notification": {
                "fetchNews": "false",
                "checkForUpdates": False,
            },
            "@jupyterlab/notebook-extension:tracker": {"windowingMode": "none"},
        }
        # Default overrides in the isolated config folder: no news toast over the outputs,
        # and every cell kept in the DOM.
        labconfig = dirs["JUPYTER_CONFIG_DIR"] / "labconfig"
        labconfig.mkdir(exist_ok=True)
        (labconfig / "default_setting_overrides.json").write_text(json.dumps(overrides))
        root_dir = str(Path(__file__).resolve().parents[2])
        self.env = {
            **os.environ,
            **{k: str(v) for k, v in dirs.items()},
            "PYTHONPATH": os.pathsep.join([root_dir, os.environ.get("PYTHONPATH", "")]),
            **(env or {}),
        }
        self.log = home / "lab.log"
        command = [
            sys.executable, "-m", "jupyterlab", "--allow-root", "--no-browser",
            "--ip=127.0.0.1", f"--port={self.port}", f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={root}", "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        ]  # fmt: skip
        self.proc = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=self.env, cwd=root
        )
        ready = threading.Event()
        self._copier = threading.Thread(target=self._copy_log, args=(ready,), daemon=True)
        self._copier.start()
        # Jupyter prints "... is running at:" once it listens (or exits on failure).
        if not ready.wait(timeout=120) or self.proc.poll() is not None:
            self.stop()
            raise RuntimeError(f"jupyter lab did not start:\n{self.log.read_text()}")
        status = httpx.get(f"{self.url}/api/status?token={self.token}", timeout=30)
        assert status.is_success, status.text

    def _copy_log(self, ready: threading.Event) -> None:
        assert self.proc.stdout is not None
        with open(self.log, "ab") as log:
            for line in self.proc.stdout:
                log.write(line)
                log.flush()
                if b"is running at" in line:
                    ready.set()
        ready.set()  # the server exited

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(timeout=20)
        self._copier.join(timeout=20)  # reads to the end of the pipe, then stops
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def notebook(self, name: str, cells: list[str]) -> str:
        nb = nbformat.v4.new_notebook()
        nb.metadata["kernelspec"] = {
            "name": "python3",
            "display_name": "Python 3 (ipykernel)",
            "language": "python",
        }
        nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
        nbformat.write(nb, self.root / name)
        return name

    def open(self, page: Any, name: str) -> None:
        page.goto(f"{self.url}/lab/tree/{name}?token={self.token}&reset")
        page.get_by_text(IDLE).wait_for(timeout=90_000)
        page.evaluate(WATCH)

    def run_all(self, page: Any) -> None:
        page.locator(".lm-MenuBar-itemLabel:text-is('Run')").click()
        page.locator(".lm-Menu-itemLabel:text-is('Run All Cells')").click()
        dialog = page.locator(".jp-Dialog .jp-mod-accept")
        if dialog.count():
            dialog.click()


def cell(page: Any, index: int) -> Any:
    return page.locator(".jp-Notebook .jp-Cell.jp-CodeCell").nth(index)


def prompt(page: Any, index: int) -> str:
    return str(cell(page, index).locator(".jp-InputPrompt").inner_text()).strip()


def history(page: Any) -> list[list[dict[str, Any]]]:
    """Every distinct state the watcher recorded: per cell, its prompt and explorer rows."""
    return [item["state"] for item in page.evaluate("() => window.__enb")]


def wait_done(page: Any, index: int, timeout: float = 120_000) -> None:
    """Wait until cell ``index`` has run: its prompt shows a number, not ``*``."""
    page.wait_for_function(
        """i => {
          const c = document.querySelectorAll('.jp-Notebook .jp-Cell.jp-CodeCell')[i];
          const p = c && c.querySelector('.jp-InputPrompt');
          return p && /\\[\\d+\\]/.test(p.textContent);
        }""",
        arg=index,
        timeout=timeout,
    )


def shot(page: Any, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=False)
    return path


def shot_of(locator: Any, name: str) -> Path:
    """A screenshot of one element (the explorer, a page's content)."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    locator.screenshot(path=str(path))
    return path
