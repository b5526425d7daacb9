"""Small helpers shared by the core tests."""

from __future__ import annotations

import re

import eagernb
from eagernb import Run, Status

FINAL = {Status.SUCCEEDED, Status.FAILED, Status.CANCELLED}


def latest_run_of(entity: object) -> Run:
    """The most recent run whose root is ``entity`` (runs of other tests are ignored)."""
    for run in reversed(eagernb.runs()):
        if run.entity is entity:
            return run
    raise AssertionError(f"no run of {entity!r} was recorded")


def runs_of(entity: object) -> list[Run]:
    return [run for run in eagernb.runs() if run.entity is entity]


def children(run: Run) -> list[eagernb.ExecutionRecord]:
    """Every record of ``run`` except its root, in launch order."""
    return [record for record in run.records.values() if record.id != run.root_id]


def statuses(run: Run) -> dict[str, int]:
    """How many records (root included) are in each status, as plain strings."""
    counted: dict[str, int] = {}
    for record in run.records.values():
        counted[record.status.value] = counted.get(record.status.value, 0) + 1
    return counted


def assert_sentence(message: str, *names: str) -> None:
    """``message`` reads as full sentences and names every one of ``names``."""
    assert re.match(r"^[A-Z@'`]", message), message
    assert message.rstrip().endswith("."), message
    for name in names:
        assert name in message, f"{name!r} missing from: {message}"
