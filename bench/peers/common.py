"""What every peer script shares: its settings, timing, medians, RSS and the JSON line.

A peer script runs in its peer's own virtualenv, so this module uses the standard library
only. ``bench/compare.py`` starts ``python PEER.py SETTINGS_JSON``; the script runs the
workloads the settings name and prints one line ``BENCH-RESULT {json}`` on stdout, which
``compare.py`` picks out from whatever else the library printed.
"""

from __future__ import annotations

import gc
import json
import os
import resource
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

MARKER = "BENCH-RESULT "


@dataclass(frozen=True)
class Settings:
    """What to run and how big; ``compare.py`` sends it as JSON."""

    workloads: list[str]
    children: int = 1000  # workload 1: trivial children
    repeats: int = 5
    budget: float = 30.0  # seconds of repeats per measurement at most (one repeat at least)
    sleepers: int = 40  # workload 2
    sleep: float = 0.05
    memory: int = 10_000  # workload 4: children in this process
    remote: int = 200  # workload 6: children gathered; a quarter of it one after another
    quick: bool = False

    @classmethod
    def from_argv(cls) -> Settings:
        if len(sys.argv) != 2:
            raise SystemExit(f"usage: {sys.argv[0]} SETTINGS_JSON (compare.py passes it)")
        return cls(**json.loads(sys.argv[1]))


@dataclass
class Row:
    """One measurement: ``case`` names what was measured, ``label`` who measured it."""

    workload: str
    case: str
    label: str
    value: float | None
    unit: str
    n: int = 0
    repeats: int = 0
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    limit: bool = False  # the bound the other rows of this case are compared with


Workload = Callable[[Settings], Iterable[Row]]


def median_per_child(
    run: Callable[[], object], n: int, settings: Settings, warmup: bool = True
) -> tuple[float, int]:
    """Median seconds per child of ``run()`` (which runs ``n`` children) and the repeats."""
    if warmup:
        run()
    times: list[float] = []
    deadline = time.perf_counter() + settings.budget
    while len(times) < settings.repeats:
        start = time.perf_counter()
        run()
        times.append((time.perf_counter() - start) / n)
        if time.perf_counter() > deadline:
            break
    return statistics.median(times), len(times)


async def amedian_per_child(
    run: Callable[[], Awaitable[object]], n: int, settings: Settings, warmup: bool = True
) -> tuple[float, int]:
    """``median_per_child`` for a coroutine function, timed inside one running loop."""
    if warmup:
        await run()
    times: list[float] = []
    deadline = time.perf_counter() + settings.budget
    while len(times) < settings.repeats:
        start = time.perf_counter()
        await run()
        times.append((time.perf_counter() - start) / n)
        if time.perf_counter() > deadline:
            break
    return statistics.median(times), len(times)


def children_row(
    case: str, label: str, per_child: tuple[float, int], n: int, note: str = "", limit: bool = False
) -> Row:
    """Workload 1: ``per_child`` is ``(median seconds per child, repeats)``."""
    seconds, repeats = per_child
    return Row("children", case, label, seconds * 1e6, "µs/child", n, repeats, note, limit=limit)


def sleep_row(
    case: str, label: str, per_child: tuple[float, int], n: int, note: str = "", limit: bool = False
) -> Row:
    """Workload 2: the whole wall time of ``n`` sleepers (``per_child`` times ``n``)."""
    seconds, repeats = per_child
    return Row("sleep", case, label, seconds * n, "s", n, repeats, note, limit=limit)


def remote_row(
    case: str, label: str, per_child: tuple[float, int], n: int, note: str = "", limit: bool = False
) -> Row:
    """Workload 6: milliseconds per child."""
    seconds, repeats = per_child
    return Row("remote", case, label, seconds * 1e3, "ms/child", n, repeats, note, limit=limit)


def rss_bytes() -> int:
    """The resident set size of this process now (Linux), else its peak so far."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def memory_row(
    label: str,
    run: Callable[[int], object],
    settings: Settings,
    note: str = "",
    warmup: int = 200,
    limit: bool = False,
) -> Row:
    """RSS growth per finished child: ``run(n)`` runs ``n`` children and returns what it keeps.

    A small warm-up run first, so lazy imports, thread pools and caches are not counted.
    """
    run(warmup)
    gc.collect()
    before = rss_bytes()
    start = time.perf_counter()
    kept = run(settings.memory)
    elapsed = time.perf_counter() - start
    gc.collect()
    after = rss_bytes()
    del kept
    per_child_kb = (after - before) / settings.memory / 1024
    extra = {"seconds": elapsed, "rss_before_mb": before / 2**20, "rss_after_mb": after / 2**20}
    return Row("memory", f"{settings.memory:,} children", label, per_child_kb, "KB/child",
               settings.memory, 1, note, extra, limit)  # fmt: skip


def batched(n: int, size: int = 1000) -> Iterable[range]:
    """``range(n)`` in slices of ``size``, for gathering many children a batch at a time."""
    for start in range(0, n, size):
        yield range(start, min(start + size, n))


def first_row(label: str, value: object) -> Row:
    """The result of a one-child workflow; the parent times how long it took to appear."""
    return Row("first", "fresh process", label, None, "s", 1, 1, extra={"result": repr(value)})


def main(peer: str, version: str, workloads: Mapping[str, Workload]) -> None:
    """Run the workloads the settings ask for and print the result line."""
    settings = Settings.from_argv()
    rows: list[Row] = []
    errors: dict[str, str] = {}
    for name in settings.workloads:
        workload = workloads.get(name)
        if workload is None:
            continue
        try:
            rows.extend(workload(settings))
        except Exception as error:  # one failed workload must not lose the others
            errors[name] = " ".join(f"{type(error).__name__}: {error}".split())[:400]
    document = {
        "peer": peer,
        "version": version,
        "rows": [asdict(row) for row in rows],
        "errors": errors,
    }
    sys.stdout.write(MARKER + json.dumps(document) + "\n")
    sys.stdout.flush()
