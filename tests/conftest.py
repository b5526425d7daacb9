"""Suite-wide settings: run reports go to a temporary folder, never the user's home."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True, scope="session")
def reports_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Kernels and servers started by tests inherit this environment."""
    folder = tmp_path_factory.mktemp("reports")
    saved = os.environ.get("EAGERNB_REPORTS_DIR")
    os.environ["EAGERNB_REPORTS_DIR"] = str(folder)
    try:
        yield folder
    finally:
        if saved is None:
            os.environ.pop("EAGERNB_REPORTS_DIR", None)
        else:
            os.environ["EAGERNB_REPORTS_DIR"] = saved
