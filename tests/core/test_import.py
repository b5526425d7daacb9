"""``import eagernb`` is cheap, has no side effects, and its public names are all listed."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from pathlib import Path

import pytest

import eagernb

ROOT = Path(__file__).resolve().parents[2]

PROBE = r"""
import asyncio, atexit, json, signal, sys, threading
state = lambda: {
    "task": id(asyncio.Task),
    "tasks_task": id(asyncio.tasks.Task),
    "future": id(asyncio.Future),
    "policy": type(asyncio.get_event_loop_policy()).__qualname__,
    "new_event_loop": id(asyncio.new_event_loop),
    "run": id(asyncio.run),
    "sigint": repr(signal.getsignal(signal.SIGINT)),
    "sigterm": repr(signal.getsignal(signal.SIGTERM)),
    "excepthook": repr(sys.excepthook),
    "threading_excepthook": repr(threading.excepthook),
    "atexit": atexit._ncallbacks(),
    "threads": threading.active_count(),
}
before = state()
import eagernb
after = state()
heavy = ["ipywidgets", "IPython", "httpx", "nest_asyncio", "ipykernel", "nbclient", "sklearn"]
print(json.dumps({
    "before": before,
    "after": after,
    "loaded": [name for name in heavy if name in sys.modules],
}))
"""

TIMING = r"""
import json, time
started = time.perf_counter()
import eagernb
print(json.dumps(time.perf_counter() - started))
"""


def _python(code: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    return done.stdout


@pytest.fixture(scope="module")
def import_report() -> dict[str, object]:
    return json.loads(_python(PROBE))


def test_import_changes_no_global_asyncio_signal_or_hook_state(import_report):
    assert import_report["after"] == import_report["before"]


def test_import_loads_no_notebook_or_network_libraries(import_report):
    assert import_report["loaded"] == []


def test_import_is_fast_in_a_fresh_interpreter():
    seconds = json.loads(_python(TIMING))
    assert 0 < seconds < 1.5


# -- the public API -----------------------------------------------------------------------

# IPython finds these by name for ``%load_ext eagernb``; they are a protocol, not API.
IPYTHON_HOOKS = {"load_ipython_extension", "unload_ipython_extension"}


def test_all_is_sorted_and_unique():
    assert eagernb.__all__ == sorted(eagernb.__all__)
    assert len(set(eagernb.__all__)) == len(eagernb.__all__)


def test_every_name_in_all_exists():
    missing = [name for name in eagernb.__all__ if not hasattr(eagernb, name)]
    assert missing == []


def test_every_public_attribute_is_in_all():
    public = {
        name
        for name, value in vars(eagernb).items()
        if not name.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public - set(eagernb.__all__) - IPYTHON_HOOKS == set()


def test_public_names_are_the_documented_ones():
    assert {
        "task",
        "workflow",
        "eager",
        "EagerException",
        "events",
        "last_run",
        "runs",
        "Run",
    } <= set(eagernb.__all__)
    assert eagernb.__version__
