"""eagernb next to its peers, side by side, in one run on this machine.

    .venv/bin/python bench/compare.py [--quick] [--only NAME,...] [--workloads W,...]
                                      [--json FILE] [--markdown FILE]

Each peer runs as a subprocess in its own virtualenv under ``bench/.venvs/`` (made with
``python3 -m venv`` and ``pip install`` on first use; a peer whose install fails is skipped
with one line saying why) and prints one JSON line of results (``bench/peers/common.py``).
The limits, plain asyncio and ``concurrent.futures.ProcessPoolExecutor``, always run: every
row is shown next to its limit measured in the same run. Workloads:

1. ``children``: trivial children awaited one after another and gathered, sync and async;
2. ``sleep``: 40 children sleeping 50 ms each, gathered (the concurrency you get);
3. ``cold``: import time, and time to the first result of a one-child workflow in a fresh
   process (and for eagernb in a fresh Jupyter kernel);
4. ``memory``: driver RSS growth per finished child after 10,000 and 100,000 children;
5. ``widget``: eagernb's widget on and off in a real kernel, with IOPub message counts;
6. ``remote``: eagernb hybrid and remote through a server on 127.0.0.1, next to Ray, Dask
   and a process pool.

``--quick`` makes every size and repeat count small, for a smoke run of a few minutes.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import signal
import statistics
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
PEERS_DIR = BENCH / "peers"
VENVS = BENCH / ".venvs"
LOGS = VENVS / "logs"
MARKER = "BENCH-RESULT "
WORKLOADS = ("children", "sleep", "cold", "memory", "widget", "remote")
MEMORY_SECONDS_MAX = 120.0  # skip a memory size whose run would take longer than this


@dataclass(frozen=True)
class Peer:
    """A library compared, the virtualenv it runs in and what it supports."""

    name: str
    module: str  # imported for the cold-start time
    pins: tuple[str, ...] = ()  # empty: runs in eagernb's own virtualenv
    workloads: tuple[str, ...] = ("children", "sleep", "cold", "memory")
    children: int | None = None  # a smaller workload-1 size for slow peers
    env: dict[str, str] = field(default_factory=dict)

    @property
    def script(self) -> Path:
        return PEERS_DIR / f"{self.name}_peer.py"


PEERS = (
    Peer("asyncio", "asyncio"),
    Peer("processpool", "concurrent.futures", workloads=(*Peer.workloads, "remote")),
    Peer("eagernb", "eagernb", workloads=(*Peer.workloads, "widget", "remote")),
    Peer("flytekit", "flytekit", ("flytekit",), env={"FLYTE_SDK_LOGGING_LEVEL": "40"}),
    Peer("flyte2", "flyte", ("flyte",)),
    Peer(
        "prefect",
        "prefect",
        ("prefect>=3",),
        children=200,
        env={
            "PREFECT_LOGGING_LEVEL": "WARNING",
            "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
            "PREFECT_SERVER_ALLOW_EPHEMERAL_MODE": "true",
            "PREFECT_LOGGING_TO_API_ENABLED": "false",
        },
    ),
    Peer("dask", "distributed", ("distributed",), workloads=(*Peer.workloads, "remote")),
    Peer(
        "ray",
        "ray",
        ("ray",),
        workloads=(*Peer.workloads, "remote"),
        env={"RAY_USAGE_STATS_ENABLED": "0"},
    ),
)
LIMIT_PEERS = ("asyncio", "processpool")
TITLES = {
    "children": "1. Trivial children (µs per child)",
    "sleep": "2. Children sleeping 50 ms each, gathered (wall seconds)",
    "import": "3a. Cold start: import time in a fresh process (s)",
    "first": "3b. Cold start: time to the first result of a one-child workflow (s)",
    "memory": "4. Driver memory per finished child (KB, RSS growth after gc)",
    "widget": "5. eagernb in a kernel: widget on and off (µs per child)",
    "remote": "6. Through a control plane or cluster on 127.0.0.1 (ms per child)",
}


@dataclass(frozen=True)
class Sizes:
    children: int
    repeats: int
    budget: float
    memory: tuple[int, ...]
    remote: int
    cold: int

    def settings(self, peer: Peer, workloads: list[str], quick: bool, **more: Any) -> str:
        children = min(self.children, peer.children or self.children)
        if quick and peer.children:
            children = max(children // 4, 20)
        return json.dumps({
            "workloads": workloads, "children": children, "repeats": self.repeats,
            "budget": self.budget, "remote": self.remote, "quick": quick, **more,
        })  # fmt: skip


FULL = Sizes(children=1000, repeats=5, budget=15.0, memory=(10_000, 100_000), remote=200, cold=3)
QUICK = Sizes(children=200, repeats=2, budget=5.0, memory=(1_000, 5_000), remote=40, cold=2)


class Skipped(Exception):
    """A peer cannot run here; the message says why in one line."""


# -- virtualenvs ---------------------------------------------------------------------------


def python_of(peer: Peer) -> Path:
    """The interpreter of the peer's virtualenv, made and installed on first use."""
    if not peer.pins:
        return eagernb_python()
    venv = VENVS / peer.name
    python = venv / "bin" / "python"
    if python.exists() and _imports(python, peer.module):
        return python
    print(f"installing {peer.name} into {venv.relative_to(ROOT)} ...", flush=True)
    _create(venv, list(peer.pins))
    if not _imports(python, peer.module):
        raise Skipped(f"{peer.module} does not import after installing {' '.join(peer.pins)}")
    return python


def eagernb_python() -> Path:
    """The project's own virtualenv, made like the README says if it is missing."""
    python = ROOT / ".venv" / "bin" / "python"
    if not python.exists():
        print("creating .venv with eagernb[test] ...", flush=True)
        _create(ROOT / ".venv", ["-e", f"{ROOT}[test]"])
    return python


def _create(venv: Path, pins: list[str]) -> None:
    LOGS.mkdir(parents=True, exist_ok=True)
    log = LOGS / f"install-{venv.name}.log"
    for command in (
        ["python3", "-m", "venv", str(venv)],
        [str(venv / "bin" / "pip"), "install", "-q", *pins],
    ):
        with open(log, "a") as out:
            done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, text=True)
        if done.returncode != 0:
            last = [line for line in log.read_text().splitlines() if "ERROR" in line]
            reason = last[-1] if last else f"exit code {done.returncode}"
            raise Skipped(f"'{' '.join(command[:4])} ...' failed ({reason}); see {log}")


def _imports(python: Path, module: str) -> bool:
    done = subprocess.run([str(python), "-c", f"import {module}"], capture_output=True)
    return done.returncode == 0


# -- running peers -------------------------------------------------------------------------


@contextmanager
def peer_env(peer: Peer) -> Iterator[dict[str, str]]:
    """The environment of one peer process, with a temporary home for its state files."""
    with tempfile.TemporaryDirectory(prefix=f"bench-{peer.name}-") as home:
        yield {
            **os.environ,
            "PYTHONUNBUFFERED": "1",
            "PREFECT_HOME": home,
            "EAGERNB_REPORTS_DIR": home,
            **peer.env,
        }


def run_peer(
    peer: Peer, script: Path, settings: str, timeout: float, log_name: str
) -> tuple[dict[str, Any], float]:
    """Run a peer script; its result document and the seconds until the line appeared."""
    python = python_of(peer)
    LOGS.mkdir(parents=True, exist_ok=True)
    log_path = LOGS / f"{log_name}.log"
    with peer_env(peer) as env, open(log_path, "w") as log:
        start = time.perf_counter()
        proc = subprocess.Popen(
            [str(python), str(script), settings], stdout=subprocess.PIPE, stderr=log,
            text=True, env=env, cwd=PEERS_DIR, start_new_session=True,
        )  # fmt: skip
        try:
            document, seen = _read_result(proc, start, timeout)
            proc.wait(timeout=max(timeout - (time.perf_counter() - start), 30))
        finally:
            if proc.poll() is None:  # its own session: this ends what it started, no more
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
    if document is None:
        tail = log_path.read_text().strip().splitlines()[-1:] or ["no output"]
        raise Skipped(f"{script.name} printed no result (exit {proc.returncode}): {tail[0][:200]}")
    return document, seen


def _read_result(
    proc: subprocess.Popen[str], start: float, timeout: float
) -> tuple[dict[str, Any] | None, float]:
    assert proc.stdout is not None
    deadline = start + timeout
    for line in proc.stdout:
        if line.startswith(MARKER):
            return json.loads(line[len(MARKER) :]), time.perf_counter() - start
        if time.perf_counter() > deadline:
            break
    return None, time.perf_counter() - start


def cold_start(peer: Peer, sizes: Sizes, quick: bool) -> list[dict[str, Any]]:
    """Import time (timed inside the child) and first-result time (timed from here)."""
    python = python_of(peer)
    snippet = "import time; t = time.perf_counter(); import {}; print(time.perf_counter() - t)"
    snippet = snippet.format(peer.module)
    imports = []
    with peer_env(peer) as env:
        for _ in range(sizes.cold):
            done = subprocess.run([str(python), "-c", snippet], capture_output=True, text=True,
                                  env=env, timeout=300)  # fmt: skip
            imports.append(float(done.stdout.strip().splitlines()[-1]))
    firsts = []
    for i in range(sizes.cold):
        settings = sizes.settings(peer, ["first"], quick)
        _, seconds = run_peer(peer, peer.script, settings, 300, f"{peer.name}-first-{i}")
        firsts.append(seconds)
    limit = peer.name == "asyncio"
    label = "asyncio (limit)" if limit else None
    return [
        row("import", f"import {peer.module}", label or peer.name, statistics.median(imports),
            "s", sizes.cold, limit=limit),
        row("first", "fresh process", label or peer.name, statistics.median(firsts), "s",
            sizes.cold, note="wall time from starting the process to the result printed",
            limit=limit),
    ]  # fmt: skip


def row(workload: str, case: str, label: str, value: float | None, unit: str, repeats: int,
        note: str = "", limit: bool = False, n: int = 1) -> dict[str, Any]:  # fmt: skip
    return {"workload": workload, "case": case, "label": label, "value": value, "unit": unit,
            "n": n, "repeats": repeats, "note": note, "extra": {}, "limit": limit}  # fmt: skip


def memory(
    peer: Peer, sizes: Sizes, quick: bool, per_child_s: float | None, label: str
) -> list[dict[str, Any]]:
    """One fresh process per size; a size that would take too long is skipped with a note."""
    rows = []
    for n in sizes.memory:
        estimate = per_child_s * n if per_child_s is not None else None
        if estimate is not None and estimate > MEMORY_SECONDS_MAX:
            note = f"skipped: about {estimate:.0f} s at the measured speed"
            rows.append(row("memory", f"{n:,} children", label, None, "KB/child", 0,
                            note, n=n))  # fmt: skip
            continue
        settings = sizes.settings(peer, ["memory"], quick, memory=n)
        document, _ = run_peer(peer, peer.script, settings, 1200, f"{peer.name}-memory-{n}")
        for item in document["rows"]:
            item["limit"] = item["limit"] or False
            rows.append(item)
            per_child_s = item["extra"].get("seconds", 0) / n
    return rows


def speed(rows: list[dict[str, Any]]) -> float | None:
    """Seconds per child of the peer's gathered sync children, to size the memory runs."""
    for case in ("gathered sync", "gathered async", "sequential sync"):
        for item in rows:
            if item["workload"] == "children" and item["case"] == case and item["value"]:
                return float(item["value"]) / 1e6
    return None


# -- the run -------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu = platform.processor()
    try:
        with open("/proc/cpuinfo") as info:
            cpu = next(line.split(":", 1)[1].strip() for line in info if "model name" in line)
    except (OSError, StopIteration):
        pass
    ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "ram_gib": round(ram, 1),
        "python": platform.python_version(),
        "os": platform.platform(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def run_all(peers: list[Peer], workloads: list[str], quick: bool) -> dict[str, Any]:
    sizes = QUICK if quick else FULL
    versions: dict[str, str] = {}
    skipped: dict[str, str] = {}
    rows: list[dict[str, Any]] = []
    for peer in peers:
        started = time.perf_counter()
        peer_rows: list[dict[str, Any]] = []
        try:
            in_process = [w for w in ("children", "sleep", "remote") if w in workloads]
            in_process = [w for w in in_process if w in peer.workloads]
            if in_process:
                timeout = 900 if quick else 2400
                settings = sizes.settings(peer, in_process, quick)
                document, _ = run_peer(peer, peer.script, settings, timeout, f"{peer.name}-main")
                versions[peer.name] = document["version"]
                peer_rows += document["rows"]
                for name, error in document["errors"].items():
                    print(f"  {peer.name}: workload {name} failed: {error}", flush=True)
            if "cold" in workloads:
                peer_rows += cold_start(peer, sizes, quick)
            if "memory" in workloads:
                label = next(
                    (r["label"] for r in peer_rows if r["workload"] == "children"), peer.name
                )
                peer_rows += memory(peer, sizes, quick, speed(peer_rows), label)
            kernel = [w for w in ("cold", "widget") if w in workloads and w in peer.workloads]
            if peer.name == "eagernb" and kernel:
                wanted = ["kernel-first" if w == "cold" else w for w in kernel]
                script = PEERS_DIR / "eagernb_kernel.py"
                document, _ = run_peer(peer, script, json.dumps({"workloads": wanted,
                                       "quick": quick}), 1800, "eagernb-kernel")  # fmt: skip
                peer_rows += document["rows"]
            if peer.name not in versions:
                versions[peer.name] = _version(peer)
        except (Skipped, subprocess.SubprocessError, OSError, ValueError) as error:
            skipped[peer.name] = str(error)
            print(f"skipped {peer.name}: {error}", flush=True)
        for item in peer_rows:
            item["peer"] = peer.name
        rows += peer_rows
        print(f"{peer.name}: {len(peer_rows)} rows in {time.perf_counter() - started:.0f} s",
              flush=True)  # fmt: skip
    add_ratios(rows)
    return {
        "machine": machine(),
        "versions": versions,
        "settings": {"quick": quick, **sizes.__dict__, "workloads": workloads},
        "skipped": skipped,
        "results": rows,
    }


def _version(peer: Peer) -> str:
    """The installed version, for peers whose workloads printed none."""
    dist = peer.pins[0].split(">")[0] if peer.pins else "eagernb"
    code = f"import importlib.metadata as m; print(m.version({dist!r}))"
    if not peer.pins and peer.name != "eagernb":
        code = "import platform; print(platform.python_version())"
    done = subprocess.run([str(python_of(peer)), "-c", code], capture_output=True, text=True)
    return done.stdout.strip() or "unknown"


def add_ratios(rows: list[dict[str, Any]]) -> None:
    """Each row's value over its case's limit row, measured in this run."""
    limits = {(r["workload"], r["case"]): r["value"] for r in rows if r.get("limit")}
    for item in rows:
        limit = limits.get((item["workload"], item["case"]))
        value = item["value"]
        item["ratio"] = value / limit if value is not None and limit else None


# -- output --------------------------------------------------------------------------------


def table(rows: list[dict[str, Any]]) -> list[tuple[str, list[list[str]]]]:
    """(title, lines of cells) per workload, in the order of TITLES."""
    sections = []
    for workload, title in TITLES.items():
        mine = [r for r in rows if r["workload"] == workload]
        if not mine:
            continue
        cases = list(dict.fromkeys(r["case"] for r in mine))
        lines = []
        for case in cases:
            group = [r for r in mine if r["case"] == case]
            group.sort(key=lambda r: (not r.get("limit"), r["value"] is None, r["value"] or 0))
            for r in group:
                value = "—" if r["value"] is None else _number(r["value"])
                ratio = "" if r.get("ratio") is None else _ratio(r["ratio"])
                if r.get("limit"):
                    ratio = "limit"
                size = f"{r['n']:,}x{r['repeats']}" if r["value"] is not None else ""
                lines.append([case, r["label"], value, ratio, size, r.get("note", "")])
        sections.append((title, lines))
    return sections


HEADER = ["case", "peer", "value", "x limit", "nxrepeats", "note"]


def _ratio(ratio: float) -> str:
    return f"{ratio:,.0f}x" if ratio >= 100 else f"{ratio:.1f}x"


def _number(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


def print_table(result: dict[str, Any]) -> None:
    for title, lines in table(result["results"]):
        widths = [max(len(c) for c in column) for column in zip(HEADER, *lines, strict=True)]
        widths[-1] = 0
        print(f"\n{title}")
        for cells in [HEADER, *lines]:
            padded = [
                cell.rjust(width) if i in (2, 3) else cell.ljust(width)
                for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
            ]
            print("  ".join(padded).rstrip())
    for name, reason in result["skipped"].items():
        print(f"skipped {name}: {reason}")


def markdown(result: dict[str, Any]) -> str:
    m = result["machine"]
    versions = ", ".join(f"{k} {v}" for k, v in result["versions"].items())
    out = [
        f"Measured {m['date']} on {m['cpu']} ({m['cores']} cores, {m['ram_gib']} GiB RAM), "
        f"Python {m['python']}, {m['os']}. Versions: {versions}."
    ]
    for title, lines in table(result["results"]):
        out += ["", f"**{title}**", "", "| " + " | ".join(HEADER) + " |",
                "|" + "|".join(["---", "---", "---:", "---:", "---:", "---"]) + "|"]  # fmt: skip
        out += ["| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |" for cells in lines]
    for name, reason in result["skipped"].items():
        out.append(f"\nSkipped {name}: {reason}")
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, few repeats")
    parser.add_argument("--only", help="peers to run, comma-separated (the limits always run)")
    parser.add_argument("--workloads", help=f"comma-separated, of {', '.join(WORKLOADS)}")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--markdown", type=Path, help="write the tables as Markdown here")
    args = parser.parse_args()
    names = [p.name for p in PEERS]
    wanted = names if not args.only else args.only.split(",")
    unknown = [n for n in wanted if n not in names]
    if unknown:
        parser.error(f"Unknown peer {', '.join(unknown)}; the peers are {', '.join(names)}.")
    workloads = list(WORKLOADS) if not args.workloads else args.workloads.split(",")
    if bad := [w for w in workloads if w not in WORKLOADS]:
        parser.error(
            f"Unknown workload {', '.join(bad)}; the workloads are {', '.join(WORKLOADS)}."
        )
    peers = [p for p in PEERS if p.name in wanted or p.name in LIMIT_PEERS]
    started = time.perf_counter()
    result = run_all(peers, workloads, args.quick)
    result["seconds"] = round(time.perf_counter() - started, 1)
    print_table(result)
    print(f"\n{len(result['results'])} rows in {result['seconds']:.0f} s")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n")
        print(f"wrote {args.json}")
    if args.markdown:
        args.markdown.write_text(markdown(result))
        print(f"wrote {args.markdown}")


if __name__ == "__main__":
    main()
