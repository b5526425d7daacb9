"""The ``eagernb`` command.

``eagernb notebook PATH`` runs a notebook top to bottom in a real Jupyter kernel, prints
what each code cell showed, and saves the executed notebook (widget state included)::

    $ eagernb notebook notebooks/quickstart.ipynb
    ...
    In [6]: await simple_eager_workflow(x=5)
    ✓ simple_eager_workflow succeeded in 15 ms [r1230005a1b2]; children: 2 succeeded
      ✓ add_one (task) succeeded 2 ms  x=5 -> 6
      ✓ double (task) succeeded 0 ms  x=6 -> 12
    12
    ...
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

__all__ = ["main"]


def _port(text: str) -> int:
    """A TCP port number for argparse: 0 (any free one) to 65535."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(
            f"{port} is not a port: use 1 to 65535, or 0 for any free one"
        )
    return port


def main(argv: Sequence[str] | None = None) -> int:
    """Parse ``argv`` (default: ``sys.argv[1:]``), run the subcommand, return the exit code."""
    parser = argparse.ArgumentParser(
        prog="eagernb", description="Command-line tools for eagernb workflows and notebooks."
    )
    commands = parser.add_subparsers(title="commands", required=True, metavar="COMMAND")

    nb = commands.add_parser(
        "notebook",
        help="run a notebook headlessly and print its outputs",
        description="Run every cell of a notebook in a fresh Jupyter kernel, print the text "
        "each code cell showed, and save the executed notebook.",
    )
    nb.add_argument("path", type=Path, metavar="PATH", help="the .ipynb file to run")
    nb.add_argument(
        "-o",
        "--output",
        type=Path,
        metavar="OUT",
        help="where to save the executed notebook (default: NAME.executed.ipynb beside PATH)",
    )
    nb.add_argument(
        "--timeout",
        type=int,
        default=600,
        metavar="SECONDS",
        help="how long one cell may run (default: 600; -1: no limit)",
    )
    nb.set_defaults(run=_notebook, parser=nb)

    server = commands.add_parser(
        "server",
        help="run the control plane (HTTP API, store and worker processes) in the foreground",
        description="Serve the eagernb HTTP API with a pool of worker processes; Ctrl-C stops it.",
    )
    server.add_argument("--host", default="127.0.0.1", help="address to bind (default: 127.0.0.1)")
    server.add_argument(
        "--port", type=_port, default=8700, help="0 picks a free port (default: 8700)"
    )
    server.add_argument(
        "--data-dir", type=Path, default=Path("~/.eagernb/server"), metavar="DIR",
        help="where the SQLite file and blobs live (default: ~/.eagernb/server)",
    )  # fmt: skip
    server.add_argument("--workers", type=int, metavar="N", help="worker processes (default: CPUs)")
    server.add_argument(
        "--auth", action="store_true",
        help="require a bearer token from client credentials (see `eagernb auth`)",
    )  # fmt: skip
    server.add_argument(
        "--engine", choices=["embedded", "dask"], default="embedded",
        help="where tasks run: the server's worker processes (default) or a Dask cluster; "
        "with dask, --workers caps the tasks handed to the cluster at once (default 1000)",
    )  # fmt: skip
    server.add_argument(
        "--scheduler", metavar="ADDRESS",
        help="the Dask scheduler, e.g. tcp://10.0.0.5:8786 (default: $DASK_SCHEDULER_ADDRESS)",
    )  # fmt: skip
    server.set_defaults(run=_server, parser=server)

    sandbox = commands.add_parser(
        "sandbox",
        help="start, stop or check a local control plane running in the background",
        description="A local eagernb control plane for this machine, bound to 127.0.0.1.",
    )
    sandbox.add_argument("action", choices=["start", "stop", "status"])
    sandbox.add_argument(
        "--data-dir", type=Path, default=Path("~/.eagernb/sandbox"), metavar="DIR",
        help="its data, log and sandbox.json (default: ~/.eagernb/sandbox)",
    )  # fmt: skip
    sandbox.add_argument("--port", type=_port, default=0, help="0 picks a free port (default: 0)")
    sandbox.add_argument("--workers", type=int, default=2, metavar="N", help="(default: 2)")
    sandbox.add_argument(
        "--engine", choices=["embedded", "dask"], default=None,
        help="dask: also start a local Dask scheduler and N workers for the tasks (default: "
        "embedded, or whichever engine the running sandbox has)",
    )  # fmt: skip
    sandbox.set_defaults(run=_sandbox, parser=sandbox)

    from ._cli_remote import add_commands  # register, run, executions

    add_commands(commands)

    from ._cli_auth import add_auth_command  # auth create-client|list|revoke

    add_auth_command(commands)

    args = parser.parse_args(argv)
    run: Callable[[argparse.Namespace, argparse.ArgumentParser], int] = args.run
    try:
        return run(args, args.parser)
    except BrokenPipeError:  # the reader went away (`eagernb ... | head`): stop quietly
        from ._cli_remote.connection import quiet_closed_pipes

        quiet_closed_pipes()
        return 1


def _server(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    if args.workers is not None and args.workers < 1:
        parser.error(f"--workers {args.workers}: give 1 or more worker processes.")
    from ._server.sandbox import missing_server_packages

    missing = missing_server_packages()
    if missing:
        parser.error(f"{', '.join(missing)} missing; install with: pip install 'eagernb[server]'")
    try:
        from ._server.main import ServerAlreadyRunning, ServerStartFailed, serve
    except ImportError as exc:
        parser.error(f"{exc.name} is missing; install it with: pip install 'eagernb[server]'")
    scheduler = args.scheduler or os.environ.get("DASK_SCHEDULER_ADDRESS") or None
    if args.engine == "dask" and not scheduler:
        parser.error("--engine dask needs the scheduler's address: --scheduler tcp://HOST:8786.")
    if args.engine != "dask" and args.scheduler:
        parser.error("--scheduler is for --engine dask; add --engine dask or drop --scheduler.")
    if args.engine == "dask":
        try:
            import distributed  # noqa: F401
        except ImportError:
            parser.error("distributed is missing; install it with: pip install 'eagernb[dask]'")
    try:
        serve(
            args.host, args.port, args.data_dir, args.workers, auth=args.auth,
            engine=args.engine, scheduler=scheduler,
        )  # fmt: skip
    except (ServerAlreadyRunning, ServerStartFailed) as exc:
        print(f"eagernb: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"eagernb: cannot serve on {args.host}:{args.port} ({exc}).", file=sys.stderr)
        return 1
    return 0


def _sandbox(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from ._server import sandbox

    if args.action == "status":
        found = sandbox.status(args.data_dir)
        dask = f", tasks on Dask at {found.scheduler}" if found and found.scheduler else ""
        print(f"running at {found.url} (pid {found.pid}{dask})" if found else "stopped")
        return 0 if found else 3  # as service managers say "not running"
    if args.action == "stop":
        stopped = sandbox.stop(args.data_dir)
        print(f"stopped (pid {stopped.pid})" if stopped else "stopped (it was not running)")
        return 0
    if args.workers < 1:
        parser.error(f"--workers {args.workers}: the sandbox needs 1 or more workers.")
    try:
        started = sandbox.start(args.data_dir, args.port, args.workers, engine=args.engine)
    except sandbox.SandboxError as exc:
        print(f"eagernb: {exc}", file=sys.stderr)
        return 1
    if started.scheduler:
        print(f"eagernb: tasks run on the Dask cluster at {started.scheduler}", file=sys.stderr)
    print(started.url)
    return 0


def _notebook(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    path: Path = args.path
    if not path.is_file():
        parser.error(f"{path} is not a file; give the path of a .ipynb notebook.")
    out: Path = args.output or path.with_name(path.name.removesuffix(".ipynb") + ".executed.ipynb")
    try:
        import nbformat
        import zmq
        from nbclient import NotebookClient
        from nbclient.exceptions import CellExecutionError, CellTimeoutError, DeadKernelError
    except ImportError as exc:
        parser.error(f"{exc.name} is missing; install it with: pip install 'eagernb[notebook]'")

    try:
        nb = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
    except Exception as exc:
        parser.error(f"{path} is not a notebook nbformat can read ({exc}).")
    count, current_source = 0, ""  # the code cell running now

    def on_execute(cell: Any, cell_index: int) -> None:
        nonlocal count, current_source
        count, current_source = count + 1, cell.source

    printed: dict[int, tuple[int, str]] = {}  # cell index -> (its count, the text shown)

    def on_executed(cell: Any, cell_index: int, execute_reply: Any) -> None:
        printed[cell_index] = (count, _print_cell(count, cell, sys.stdout))

    client = NotebookClient(
        nb,
        kernel_name="python3",
        store_widget_state=True,
        timeout=args.timeout,
        resources={"metadata": {"path": str(path.resolve().parent)}},
        on_cell_execute=on_execute,
        on_cell_executed=on_executed,
    )
    km = client.create_kernel_manager()
    if km.has_trait("transport_encryption") and zmq.has("curve"):
        # Encrypt kernel traffic when the kernel supports it; ipykernel warns otherwise.
        km.transport_encryption = "auto"
    failure: Exception | None = None
    try:
        client.execute()
    except (CellExecutionError, CellTimeoutError, DeadKernelError) as exc:
        failure = exc
        client.set_widgets_metadata()  # execute() records widget state only when all cells ran
    # A run started in the background ends after its cell: say how each one ended.
    for index, (number, shown) in printed.items():
        now = _cell_text(nb.cells[index])
        if now != shown:
            sys.stdout.write(f"\nIn [{number}], updated since:\n{now}")
    nbformat.write(nb, out)  # type: ignore[no-untyped-call]
    if failure is None:
        print(f"\nSaved the executed notebook to {out}.", file=sys.stderr)
        return 0
    if isinstance(failure, CellExecutionError):
        what = f"raised {failure.ename}" + (f": {failure.evalue}" if failure.evalue else "")
    elif isinstance(failure, CellTimeoutError):
        what = f"did not finish within --timeout {args.timeout} s"
    else:
        what = "stopped because the kernel died"
    sys.stdout.flush()
    cell_text = "".join(f"    {line}\n" for line in current_source.splitlines())
    print(f"\nCell In [{count}] of {path}:\n{cell_text}", file=sys.stderr)
    print(
        f"eagernb: cell In [{count}] {what}; the notebook up to it was saved to {out}.",
        file=sys.stderr,
    )
    return 1


def _print_cell(count: int, cell: Any, file: TextIO) -> str:
    """Print a header and the text outputs of one executed code cell, if it showed any;
    returns the text printed after the header."""
    texts = _cell_text(cell)
    if not texts:
        return ""
    lines = [line for line in cell.source.splitlines() if line.strip()]
    # The first line that says what the cell does: skip decorators and comments.
    first = next((ln for ln in lines if not ln.lstrip().startswith(("@", "#"))), lines[0])
    more = " ..." if len(lines) > 1 else ""
    file.write(f"\nIn [{count}]: {first}{more}\n{texts}")
    file.flush()
    return texts


def _cell_text(cell: Any) -> str:
    """The text outputs of one code cell, one after another."""
    texts: list[str] = []
    for output in cell.get("outputs", []):
        kind = output["output_type"]
        if kind == "stream":
            texts.append(output["text"])
        elif kind in ("execute_result", "display_data"):
            # Widget views carry a text/plain fallback too: for a run, its summary.
            text = output.get("data", {}).get("text/plain")
            if text is not None:
                texts.append(text if text.endswith("\n") else text + "\n")
        elif kind == "error":
            texts.append(": ".join(filter(None, (output["ename"], output["evalue"]))) + "\n")
    return "".join(texts)


if __name__ == "__main__":
    sys.exit(main())
