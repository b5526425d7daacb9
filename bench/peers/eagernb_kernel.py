"""eagernb in real Jupyter kernels, driven through ``jupyter_client`` from eagernb's venv.

``kernel-first``: a fresh kernel per repeat; the time from sending a cell that loads the
extension, defines a task and an eager workflow and awaits a one-child run, until its
execute reply (``import eagernb`` included), next to the same cell with a bare coroutine.

``widget``: gathered children in one fresh kernel per variant: extension not loaded, loaded
with ``widget=off``, loaded with the widget on (reports off, then the defaults). Counts the
``comm_msg`` messages on IOPub and the highest IOPub rate over any 3 s window.
``jupyter_client`` applies no rate limit itself: Jupyter Server would show "IOPub message
rate exceeded" above 1,000 messages/s averaged over 3 s (its defaults), so the row says
whether that rate was passed, and whether the warning text appeared anyway.
"""

from __future__ import annotations

import os
import queue
import statistics
import tempfile
import textwrap
import time
from collections.abc import Iterable
from importlib.metadata import version
from typing import Any

from common import Row, Settings, main
from jupyter_client.manager import KernelManager

DEFINE = textwrap.dedent(
    """
    import asyncio
    from eagernb import eager, task

    @task
    def noop(i: int) -> int:
        return i

    @eager
    async def gathered(n: int) -> int:
        return sum(await asyncio.gather(*(noop(i=i) for i in range(n))))
    """
)
BARE = "async def one() -> int:\n    return 1\n\nawait one()"
SERVER_RATE_LIMIT = 1000.0  # Jupyter Server's iopub_msg_rate_limit (messages/s)
SERVER_RATE_WINDOW = 3.0  # and its rate_limit_window (s)
VARIANTS = {
    "extension not loaded": "",
    "widget=off": "%load_ext eagernb\n%eagernb widget=off reports=off",
    "widget on, reports=off": "%load_ext eagernb\n%eagernb reports=off",
    "widget on (defaults)": "%load_ext eagernb",
}


class Kernel:
    """A fresh python3 kernel in a temporary directory; ``run`` times one cell."""

    def __init__(self, cwd: str) -> None:
        self.km = KernelManager(kernel_name="python3")
        self.km.start_kernel(cwd=cwd, env={**os.environ, "EAGERNB_REPORTS_DIR": cwd})
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=120)

    def close(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)

    def run(
        self, code: str, timeout: float = 600
    ) -> tuple[float, list[tuple[float, dict[str, Any]]]]:
        """Seconds from the execute request to its reply, and the cell's IOPub messages."""
        start = time.perf_counter()
        msg_id = self.kc.execute(code)
        messages: list[tuple[float, dict[str, Any]]] = []
        deadline = start + timeout
        idle = False
        while not idle:
            try:
                msg = self.kc.get_iopub_msg(timeout=max(deadline - time.perf_counter(), 0.1))
            except queue.Empty:
                raise TimeoutError(f"The cell did not finish within {timeout:g} s.") from None
            if msg["parent_header"].get("msg_id") == msg_id:
                messages.append((time.perf_counter(), msg))
                idle = msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle"
        while True:
            reply = self.kc.get_shell_msg(timeout=max(deadline - time.perf_counter(), 1))
            if reply["parent_header"].get("msg_id") == msg_id:
                elapsed = time.perf_counter() - start
                if reply["content"]["status"] != "ok":
                    content = reply["content"]
                    raise RuntimeError(
                        f"The cell failed: {content.get('ename')}: {content.get('evalue')}"
                    )
                return elapsed, messages


def max_rate(times: list[float], window: float = SERVER_RATE_WINDOW) -> float:
    """The most messages per second within any ``window`` seconds."""
    best, first = 0, 0
    for last, stamp in enumerate(times):
        while stamp - times[first] > window:
            first += 1
        best = max(best, last - first + 1)
    return best / window


def kernel_first(settings: Settings) -> Iterable[Row]:
    repeats = 1 if settings.quick else 3
    cells = {
        "eagernb": f"%load_ext eagernb\n{DEFINE}\nawait gathered(n=1)",
        "bare coroutine (limit)": BARE,
    }
    for label, cell in cells.items():
        first_result, started = [], []
        for _ in range(repeats):
            with tempfile.TemporaryDirectory() as cwd:
                start = time.perf_counter()
                kernel = Kernel(cwd)
                try:
                    started.append(time.perf_counter() - start)
                    first_result.append(kernel.run(cell)[0])
                finally:
                    kernel.close()
        extra = {"kernel_start_s": statistics.median(started)}
        note = f"kernel start (not included) {extra['kernel_start_s']:.2f} s"
        yield Row("first", "fresh Jupyter kernel", label, statistics.median(first_result), "s",
                  1, repeats, note, extra, limit=label.endswith("(limit)"))  # fmt: skip


def widget(settings: Settings) -> Iterable[Row]:
    n = 1000 if settings.quick else 5000
    repeats = 1 if settings.quick else 3
    for label, setup in VARIANTS.items():
        with tempfile.TemporaryDirectory() as cwd:
            kernel = Kernel(cwd)
            try:
                kernel.run(f"{setup}\n{DEFINE}\nawait gathered(n=10)")  # warm up: imports
                times, comms, rates, warned = [], [], [], False
                for _ in range(repeats):
                    elapsed, messages = kernel.run(f"await gathered(n={n})")
                    times.append(elapsed)
                    comms.append(sum(m["msg_type"] == "comm_msg" for _, m in messages))
                    rates.append(max_rate([stamp for stamp, _ in messages]))
                    warned |= any(
                        "IOPub message rate exceeded" in m["content"].get("text", "")
                        for _, m in messages
                        if m["msg_type"] == "stream"
                    )
            finally:
                kernel.close()
        rate = max(rates)
        extra = {
            "comm_msgs": statistics.median(comms),
            "iopub_max_rate_per_s": rate,
            "over_server_rate_limit": rate > SERVER_RATE_LIMIT,
            "rate_warning_seen": warned,
        }
        note = (
            f"{extra['comm_msgs']:.0f} comm_msg; IOPub peak {rate:.0f}/s over 3 s"
            f" ({'over' if rate > SERVER_RATE_LIMIT else 'under'} Jupyter Server's 1000/s);"
            f" rate warning {'seen' if warned else 'not seen'}"
        )
        seconds = statistics.median(times)
        yield Row("widget", f"{n:,} children gathered", label, seconds / n * 1e6, "µs/child",
                  n, repeats, note, extra, limit=label == "extension not loaded")  # fmt: skip


if __name__ == "__main__":
    main("eagernb-kernel", version("eagernb"), {"kernel-first": kernel_first, "widget": widget})
