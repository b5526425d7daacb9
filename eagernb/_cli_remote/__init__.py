"""``eagernb register``, ``eagernb run`` and ``eagernb executions``: workflows from files.

::

    $ eagernb register --project flytesnacks --domain development eager_workflows.py
    $ eagernb run --remote eager_workflows.py simple_eager_workflow --x 10
    $ eagernb executions list --status failed

Only the arguments are defined here; each command imports what it needs when it runs,
so ``eagernb --help`` stays fast.
"""

from __future__ import annotations

import argparse
from typing import Any

from .loader import NOTEBOOK_RULES

__all__ = ["add_commands"]

_DEFAULT_PROJECT = "default"  # the same as Remote's defaults
_DEFAULT_DOMAIN = "development"
_STATUSES = ("queued", "running", "succeeded", "failed", "cancelled")


def add_commands(commands: Any) -> None:
    """Add the commands to ``commands`` (the ``add_subparsers()`` of the ``eagernb`` parser)."""
    from . import commands as run_commands
    from . import executions, report

    server = argparse.ArgumentParser(add_help=False)
    server.add_argument(
        "--endpoint", metavar="URL",
        help="the control plane (default: $EAGERNB_ENDPOINT, else the local sandbox)",
    )  # fmt: skip
    scope = argparse.ArgumentParser(add_help=False, parents=[server])
    scope.add_argument(
        "--project", default=_DEFAULT_PROJECT, metavar="P", help=f"(default: {_DEFAULT_PROJECT})"
    )
    scope.add_argument(
        "--domain", default=_DEFAULT_DOMAIN, metavar="D", help=f"(default: {_DEFAULT_DOMAIN})"
    )
    files = (
        "FILE is a .py module (imported under its own name; its functions are sent to "
        f"workers by value, so workers do not need the file) or an .ipynb notebook. "
        f"{NOTEBOOK_RULES}"
    )  # descriptions are not %-formatted, unlike help

    register = commands.add_parser(
        "register",
        parents=[scope],
        help="register every task and workflow a .py file or notebook defines",
        description="Register every task, workflow and eager workflow that FILE defines, "
        "so they can be run by name. Registration is content-addressed: registering "
        f"unchanged code again changes nothing. {files}",
    )
    register.add_argument(
        "--version", metavar="V",
        help="register under version V (default: the start of the code's sha256)",
    )  # fmt: skip
    register.add_argument("file", metavar="FILE", help="a .py module or .ipynb notebook")
    register.set_defaults(run=run_commands.register, parser=register)

    run = commands.add_parser(
        "run",
        parents=[scope],
        help="run a task or workflow from a .py file or notebook, showing its children live",
        usage="eagernb run [-h] [--remote | --hybrid] [--endpoint URL] [--project P] "
        "[--domain D] [--traceback] [--report PATH | --no-report] FILE NAME [INPUTS ...]",
        description="Run NAME from FILE with inputs given as options (`eagernb run FILE NAME "
        "--help` lists them). Progress goes to stderr, one line per child as it is launched "
        "and as it ends; the result's repr goes to stdout. Exit status: 0 when the run "
        "succeeds, 1 when it fails or is cancelled, 130 when interrupted with Ctrl-C and 143 "
        "on SIGTERM (both cancel the run and its children, on the server too). The run's HTML "
        "report (the notebook's: tree, timeline and every execution's details in one file "
        "that needs no network) is written to $EAGERNB_REPORTS_DIR/RUN_ID.html (default: "
        "~/.eagernb/reports) and its path printed on stderr. Options of `run` come before "
        f"FILE. {files}",
    )
    where = run.add_mutually_exclusive_group()
    where.add_argument(
        "--remote", action="store_true",
        help="run it on the control plane and follow its children from here",
    )  # fmt: skip
    where.add_argument(
        "--hybrid", action="store_true",
        help="run workflow bodies here and every task on the control plane",
    )  # fmt: skip
    run.add_argument(
        "--traceback", action="store_true",
        help="on failure, print the failed execution's traceback too",
    )  # fmt: skip
    saved = run.add_mutually_exclusive_group()
    saved.add_argument(
        "--report", metavar="PATH",
        help="write the run's HTML report to PATH (default: $EAGERNB_REPORTS_DIR/RUN_ID.html)",
    )  # fmt: skip
    saved.add_argument("--no-report", action="store_true", help="write no report")
    run.add_argument("file", metavar="FILE", help="a .py module or .ipynb notebook")
    run.add_argument("name", metavar="NAME", nargs="?", help="the task or workflow to run")
    run.add_argument(
        "inputs", metavar="INPUTS", nargs=argparse.REMAINDER,
        help="its inputs, e.g. --x 10 (`eagernb run FILE NAME --help` lists them)",
    )  # fmt: skip
    run.set_defaults(run=run_commands.run, parser=run)

    listing = commands.add_parser(
        "executions",
        help="list, show or cancel executions on the control plane",
        description="Executions on the control plane, newest first.",
    )
    actions = listing.add_subparsers(title="actions", required=True, metavar="ACTION")
    list_ = actions.add_parser(
        "list", parents=[scope], help="a table of recent executions",
        description="A table of recent executions (children included), newest first.",
    )  # fmt: skip
    list_.add_argument("--status", choices=_STATUSES, help="only executions in this status")
    list_.add_argument("--name", help="only executions of this task or workflow")
    list_.add_argument("--limit", type=int, default=20, metavar="N", help="(default: 20)")
    list_.set_defaults(run=executions.list_, parser=list_)
    show = actions.add_parser(
        "show", parents=[server], help="one execution: fields, children, output or error",
        description="One execution: its fields, inputs, the tree of its children, and its "
        "output or its error with the traceback.",
    )  # fmt: skip
    show.add_argument("id", metavar="ID")
    show.set_defaults(run=executions.show, parser=show)
    cancel = actions.add_parser(
        "cancel", parents=[server], help="cancel an execution and its children",
        description="Cancel an execution and every execution under it.",
    )  # fmt: skip
    cancel.add_argument("id", metavar="ID")
    cancel.set_defaults(run=executions.cancel, parser=cancel)
    saved = actions.add_parser(
        "report", parents=[server], help="save the HTML report of an execution's run",
        description="Save the run that execution ID belongs to as one self-contained HTML "
        "file: its tree, timeline and every execution's details.",
    )  # fmt: skip
    saved.add_argument("id", metavar="ID")
    saved.add_argument("-o", "--output", metavar="FILE", help="(default: eagernb-ID.html)")
    saved.set_defaults(run=report.report, parser=saved)
