"""``eagernb register FILE`` and ``eagernb run FILE NAME --x 10``.

A run's HTML report is written as the notebook writes it (``_views.report``): to
``config.reports/RUN_ID.html`` (``EAGERNB_REPORTS_DIR``), or ``--report PATH``; its path
goes to stderr after the result. ``--no-report`` writes none.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from .._core.config import default_engine
from .._core.interface import preview
from .._core.records import ExecutionRecord, Kind, Status
from .._core.run import Run
from .connection import command, connect, quiet_closed_pipes, user_error
from .inputs import parse_inputs
from .loader import Loaded, LoadError, load
from .progress import Progress

if TYPE_CHECKING:
    from .._core.engine import Engine
    from .._core.entity import Entity

__all__ = ["register", "run"]

_HELP = ("-h", "--help")


def _load(path: str, parser: argparse.ArgumentParser) -> Loaded:
    file = Path(path)
    if not file.is_file() or file.suffix not in (".py", ".ipynb"):
        what = "is not a file" if not file.is_file() else "is neither a .py file nor a notebook"
        parser.error(f"{file} {what}; give the path of a .py module or an .ipynb notebook.")
    loaded = load(file)
    if loaded.skipped:
        print(f"eagernb: skipped in {file.name}: {'; '.join(loaded.skipped)}", file=sys.stderr)
    return loaded


def _names(loaded: Loaded) -> str:
    return ", ".join(f"{name} ({e.kind.value})" for name, e in loaded.entities.items()) or "none"


@command
def register(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    loaded = _load(args.file, parser)
    entities = loaded.unique()
    if not entities:
        raise LoadError(
            f"{args.file} defines no task or workflow at module level; decorate functions with "
            "@task, @workflow or @eager."
        )
    remote = connect(args)
    width = max(len(e.name) for e in entities)
    print(
        f"Registering {len(entities)} entities in {remote.default_project}/{remote.default_domain} "
        f"on {remote.endpoint}:",
        file=sys.stderr,
    )
    try:
        for entity in entities:
            stored = remote.register_entity(entity, version=args.version)
            state = "new" if stored.get("created") else "unchanged"
            kind = entity.kind.value
            print(f"{entity.name:<{width}}  {kind:<8}  {stored['version']}  {state}", flush=True)
    finally:
        remote.close()
    return 0


@command
def run(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    loaded = _load(args.file, parser)
    if args.name is None:
        if any(arg in _HELP for arg in args.inputs):
            parser.print_help()
            print(f"\n{args.file} defines: {_names(loaded)}")
            return 0
        parser.error(f"give the NAME of a task or workflow after FILE; {args.file} defines: "
                     f"{_names(loaded)}.")  # fmt: skip
    entity = loaded.find(args.name)
    if entity is None:
        parser.error(
            f"{args.file} defines no task or workflow named {args.name!r}; it defines: "
            f"{_names(loaded)}."
        )
    inputs = parse_inputs(entity, args.inputs, prog=f"eagernb run {args.file} {args.name}")
    engine, where = _engine_for(args, entity)
    shown = ", ".join(f"{k}={preview(v, 40)}" for k, v in inputs.items())
    print(f"Running {entity.kind.value} {entity.name}({shown}) {where}", file=sys.stderr)
    the_run = Run(entity, inputs, engine)
    the_run.events.subscribe(Progress(the_run, sys.stderr))
    owned = engine if args.remote or args.hybrid else None
    result_out = sys.stdout
    sys.stdout = sys.stderr  # what the run prints goes with its progress: stdout is its value
    terminated: list[int] = []  # the signal that stopped it, other than Ctrl-C
    try:
        asyncio.run(_until_done(the_run, owned, terminated))
    except KeyboardInterrupt:
        sys.stdout = result_out
        code: int | None = _interrupted(the_run, engine, args, signal.SIGINT)
    except asyncio.CancelledError:
        sys.stdout = result_out
        if not terminated:
            raise
        code = _interrupted(the_run, engine, args, signal.Signals(terminated[0]))
    else:
        sys.stdout = result_out
        try:
            code = _report(the_run, engine, args)
        except BrokenPipeError:  # the result's reader went away; the run is what counts
            code = 0 if the_run.status is Status.SUCCEEDED else 1
    if code is None:  # it never ran: nothing to report
        return 1
    with contextlib.suppress(BrokenPipeError):  # written; only saying where failed
        _save_report(the_run, args)
    quiet_closed_pipes()
    return code


def _save_report(run: Run, args: argparse.Namespace) -> None:
    """Write the run's HTML report (unless ``--no-report``) and say where on stderr."""
    from .._views.report import report_dir, write_report

    if args.no_report or (args.report is None and report_dir() is None):
        return
    try:
        path = write_report(run, args.report)
    except OSError as exc:
        where = args.report or report_dir()
        print(
            f"eagernb: could not write the run's report to {where} ({exc}); pass "
            "--report PATH to write it elsewhere, or --no-report.",
            file=sys.stderr,
        )
        return
    print(f"report: {path}", file=sys.stderr)


def _engine_for(args: argparse.Namespace, entity: Entity) -> tuple[Engine, str]:
    """The engine this run uses, and where that runs it (for the first line)."""
    if not (args.remote or args.hybrid):
        own: Engine | None = getattr(entity, "engine", None)
        return own or default_engine(), "locally"
    from .._client.engine import RemoteEngine

    remote = connect(args)
    scope = f"project {remote.default_project}, domain {remote.default_domain}"
    if args.remote or entity.kind is Kind.TASK:  # a task on its own runs there in both
        return RemoteEngine(remote, whole_run=args.remote), f"on {remote.endpoint} ({scope})"
    return RemoteEngine(remote), f"here, with its tasks on {remote.endpoint} ({scope})"


async def _until_done(run: Run, owned: Engine | None, terminated: list[int]) -> None:
    """Run ``run`` to its end. SIGTERM (``timeout``, a CI cancel, a process manager) stops
    it as Ctrl-C does, cancelling its children, on the server too; ``terminated`` then
    holds the signal's number."""
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()

    def terminate() -> None:
        terminated.append(signal.SIGTERM)
        # A second SIGTERM ends the process at once, as a second Ctrl-C does.
        loop.remove_signal_handler(signal.SIGTERM)
        if task is not None:
            task.cancel()

    with contextlib.suppress(NotImplementedError, AttributeError):  # Windows: no such handlers
        loop.add_signal_handler(signal.SIGTERM, terminate)
    try:
        await run.start()
    except asyncio.CancelledError:
        cancelling = getattr(task, "cancelling", None)
        if terminated or (cancelling is not None and cancelling()):
            raise  # this process is being interrupted (Ctrl-C, SIGTERM): cancel the run
        # Otherwise the run was cancelled elsewhere (on the server); its records say so.
    except Exception:
        pass  # its records hold the failure; the report reads them
    finally:
        try:
            if owned is not None:
                await owned.aclose()
        finally:
            with contextlib.suppress(NotImplementedError, AttributeError):
                loop.remove_signal_handler(signal.SIGTERM)


def _report(run: Run, engine: Engine, args: argparse.Namespace) -> int | None:
    """Print the result, or why the run failed; the exit status (None: it never ran)."""
    remote_id = _server_id(engine, run.root_id)
    names = f"run {run.id}" + (f", execution {remote_id} on the server" if remote_id else "")
    if run.status is Status.SUCCEEDED:
        print(repr(run.result()), flush=True)
        print(names, file=sys.stderr)
        return 0
    root = run.root
    failed = _origin(run)
    if run.status is Status.FAILED and args.remote and remote_id is None:
        try:
            run.result()
        except Exception as exc:  # it was never submitted: no server, refused code...
            reason = user_error(exc)
            if reason is not None:
                print(f"eagernb: {run.name} did not run: {reason}", file=sys.stderr)
                return None
    if run.status is Status.CANCELLED or root is None or root.error is None:
        message = f"{run.name} was cancelled ({names})."
    else:
        message = f"{run.name} failed: {root.error}"
        if failed is not None:
            child_id = _server_id(engine, failed.id)
            message += f" (raised in {failed.kind.value} {failed.name!r}" + (
                f", execution {child_id})" if child_id else ")"
            )
        message += f" [{names}]"
    sys.stdout.flush()
    print(f"eagernb: {message}", file=sys.stderr)
    if args.traceback:
        origin = failed if failed is not None and failed.error is not None else root
        if origin is not None and origin.error is not None and origin.error.traceback:
            print(origin.error.traceback.rstrip(), file=sys.stderr)
    elif remote_id and root is not None and root.error is not None:
        print(f"`eagernb executions show {remote_id}` shows the traceback.", file=sys.stderr)
    return 1


def _interrupted(run: Run, engine: Engine, args: argparse.Namespace, signum: signal.Signals) -> int:
    """Say that the run was cancelled by Ctrl-C or SIGTERM; the exit status, 128 + the
    signal's number as shells report it (130, 143)."""
    sys.stdout.flush()
    remote_id = _server_id(engine, run.root_id)
    names = f"run {run.id}" + (f", execution {remote_id} on the server" if remote_id else "")
    how = "interrupted" if signum is signal.SIGINT else f"stopped by {signum.name}"
    print(f"\neagernb: {how}; cancelled {run.name} and its children ({names}).",
          file=sys.stderr)  # fmt: skip
    if not (args.remote or args.hybrid) and any(
        r.kind is Kind.TASK and r.started_at is not None and r.status is Status.CANCELLED
        for r in run.records.values()
    ):
        again = "press Ctrl-C" if signum is signal.SIGINT else f"send {signum.name}"
        print(
            "eagernb: a task body already running on a thread finishes before this process "
            f"exits (Python cannot stop a thread); {again} again to quit at once.",
            file=sys.stderr,
        )
    return 128 + signum.value


def _origin(run: Run) -> ExecutionRecord | None:
    """The child that raised the error the run failed with (None: the root raised it).

    Several children can fail before a workflow ends (``asyncio.gather`` raises whichever
    failure came first), so the first failed child in launch order is not always the one.
    Each level passes its child's error on unchanged, so this follows the root's error down:
    at each level, the failed child with that error.
    """
    record, found = run.root, None
    while record is not None and record.error is not None:
        error = record.error
        same = [
            child
            for child in run.children_of(record.id)
            if child.status is Status.FAILED and child.error is not None
            and child.error.type_name == error.type_name
            # A remote error whose class cannot be rebuilt says its type in its message.
            and error.message in (child.error.message, str(child.error))
        ]  # fmt: skip
        if not same:
            break
        # Of children that failed with the same words, the one whose traceback it carries.
        found = record = next((c for c in same if c.error == error), same[0])
    return found


def _server_id(engine: Any, record_id: str) -> str | None:
    """The control plane's id of a record (None when it ran in this process)."""
    ids: dict[str, str] = getattr(engine, "execution_ids", {})
    return ids.get(record_id)
