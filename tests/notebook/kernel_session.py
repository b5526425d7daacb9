"""A real Jupyter kernel driven message by message through jupyter_client."""

from __future__ import annotations

import os
import queue
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from jupyter_client.manager import KernelManager

SEED_DIR = os.path.join(os.path.dirname(os.path.dirname(__file__)), "seed")


@dataclass
class CellResult:
    """Everything a cell sent on IOPub, in order, and its execute reply."""

    messages: list[dict[str, Any]] = field(default_factory=list)
    reply: dict[str, Any] = field(default_factory=dict)

    @property
    def status(self) -> str:
        return str(self.reply.get("status"))

    @property
    def stdout(self) -> str:
        return "".join(
            m["content"]["text"]
            for m in self.messages
            if m["msg_type"] == "stream" and m["content"]["name"] == "stdout"
        )

    @property
    def result(self) -> str | None:
        for m in self.messages:
            if m["msg_type"] == "execute_result":
                return str(m["content"]["data"]["text/plain"])
        return None

    @property
    def error(self) -> tuple[str, str] | None:
        for m in self.messages:
            if m["msg_type"] == "error":
                return m["content"]["ename"], m["content"]["evalue"]
        return None

    def of_type(self, msg_type: str) -> list[dict[str, Any]]:
        return [m for m in self.messages if m["msg_type"] == msg_type]


class KernelSession:
    """Start a kernel, run cells, watch their messages as they come, shut it down."""

    def __init__(self) -> None:
        self.km = KernelManager(kernel_name="python3")
        self.km.start_kernel(cwd=SEED_DIR)
        self.kc = self.km.client()
        self.kc.start_channels()
        self.kc.wait_for_ready(timeout=60)
        self.comms: dict[str, dict[str, Any]] = {}  # comm id -> latest known widget state

    def close(self) -> None:
        self.kc.stop_channels()
        self.km.shutdown_kernel(now=True)

    def run(
        self,
        code: str,
        timeout: float = 60,
        on_message: Callable[[dict[str, Any]], None] | None = None,
    ) -> CellResult:
        """Execute ``code``; ``on_message`` sees each IOPub message of the cell as it arrives."""
        msg_id = self.kc.execute(code)
        result = CellResult()
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"Cell did not finish within {timeout} s: {code[:80]!r}")
            try:
                msg = self.kc.get_iopub_msg(timeout=remaining)
            except queue.Empty:
                continue
            self._track_comm(msg)
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            result.messages.append(msg)
            if on_message is not None:
                on_message(msg)
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                break
        while True:
            reply = self.kc.get_shell_msg(timeout=max(deadline - time.monotonic(), 1))
            if reply["parent_header"].get("msg_id") == msg_id:
                result.reply = reply["content"]
                return result

    def _track_comm(self, msg: dict[str, Any]) -> None:
        content = msg["content"]
        if msg["msg_type"] == "comm_open":
            self.comms[content["comm_id"]] = dict(content["data"].get("state", {}))
        elif msg["msg_type"] == "comm_msg" and content["data"].get("method") == "update":
            self.comms.setdefault(content["comm_id"], {}).update(content["data"]["state"])

    def click(self, comm_id: str) -> None:
        """Send what a browser sends when a Button widget is clicked."""
        content = {"comm_id": comm_id, "data": {"method": "custom", "content": {"event": "click"}}}
        self.kc.shell_channel.send(self.kc.session.msg("comm_msg", content))

    def widgets(self, model_name: str) -> dict[str, dict[str, Any]]:
        return {i: s for i, s in self.comms.items() if s.get("_model_name") == model_name}
