"""Which cell is running, so a view whose run ends after its cell is sent again later.

A saved notebook (nbclient, JupyterLab) keeps a widget update only if it arrives while
some cell runs; updates from a run that ended after its cell are dropped from that record.
Such views are re-sent in full when the next cell starts or ends. Views that end within
their cell need nothing more: each change was sent as it was made.
"""

from __future__ import annotations

from typing import Any, Protocol

__all__ = ["cells"]


class _View(Protocol):
    def send_final_state(self) -> None: ...


class _Cells:
    def __init__(self) -> None:
        self.cell = 0  # cells started since installing
        self.running = False  # whether cell number ``cell`` is still running
        self.late: list[_View] = []
        self.origin: dict[int, int | None] = {}  # id(view) -> the cell it was created in
        self._shell: Any = None

    def install(self, ipython: Any) -> None:
        """Count cells in ``ipython`` (a kernel's shell); installing twice changes nothing."""
        if self._shell is ipython or getattr(ipython, "kernel", None) is None:
            return
        self.uninstall()
        ipython.events.register("pre_run_cell", self.pre_run_cell)
        ipython.events.register("post_run_cell", self.post_run_cell)
        self._shell = ipython

    def uninstall(self) -> None:
        shell, self._shell = self._shell, None
        if shell is None:
            return
        for name in ("pre_run_cell", "post_run_cell"):
            callback = getattr(self, name)
            if callback in shell.events.callbacks.get(name, []):
                shell.events.unregister(name, callback)

    def pre_run_cell(self, *_: Any) -> None:
        self.cell += 1
        self.running = True
        self.resend()

    def post_run_cell(self, *_: Any) -> None:
        self.resend()
        self.running = False

    def view_created(self, view: _View) -> None:
        self.origin[id(view)] = self.cell if self.running else None

    def view_finished(self, view: _View) -> None:
        origin = self.origin.pop(id(view), None)
        within = self.running and origin == self.cell
        if self._shell is not None and not within:  # its cell is over
            self.late.append(view)

    def resend(self) -> None:
        late, self.late = self.late, []
        for view in late:
            view.send_final_state()


cells = _Cells()
