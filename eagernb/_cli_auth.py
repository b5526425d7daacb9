"""``eagernb auth create-client|list|revoke``: the clients of a server run with ``--auth``.

These write the server's SQLite file directly, so they run on the server machine (the
server may be running)::

    $ eagernb auth create-client --data-dir ~/.eagernb/server --project flytesnacks
    client_id:     enb-4f6c0e1d2a3b4c5d
    client_secret: 9rJ...   (shown only now; the server keeps a hash)
    ...
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

__all__ = ["add_auth_command"]

_DEFAULT_DIR = Path("~/.eagernb/server")  # eagernb server's default --data-dir


def add_auth_command(commands: Any) -> None:
    """Add ``auth`` to ``commands`` (the ``add_subparsers()`` of the ``eagernb`` parser)."""
    data = argparse.ArgumentParser(add_help=False)
    data.add_argument(
        "--data-dir", type=Path, default=_DEFAULT_DIR, metavar="DIR",
        help=f"the server's data directory (default: {_DEFAULT_DIR})",
    )  # fmt: skip
    auth = commands.add_parser(
        "auth",
        help="create, list or revoke the clients of a server run with --auth",
        description="Manage the client credentials of an `eagernb server --auth`. These "
        "commands write the server's data directory, so run them on the server machine.",
    )
    actions = auth.add_subparsers(title="actions", required=True, metavar="ACTION")
    create = actions.add_parser(
        "create-client",
        parents=[data],
        help="create a client id and secret allowed on some projects",
        description="Create a client and print its id and secret. The secret is shown only "
        "now: the server stores a salted hash of it.",
    )
    create.add_argument(
        "--project", action="append", required=True, metavar="P",
        help="a project it may use; repeat for more, or '*' for every project",
    )  # fmt: skip
    create.add_argument("--name", metavar="N", help="a label to recognise it by in `auth list`")
    create.set_defaults(run=_create, parser=create)
    listing = actions.add_parser(
        "list", parents=[data], help="list the clients (never their secrets)"
    )
    listing.set_defaults(run=_list, parser=listing)
    revoke = actions.add_parser(
        "revoke",
        parents=[data],
        help="disable a client; its tokens stop working at once",
    )
    revoke.add_argument("client_id", metavar="CLIENT_ID")
    revoke.set_defaults(run=_revoke, parser=revoke)


def _open(args: argparse.Namespace, *, create: bool = False) -> Any:
    from ._server.credentials import Credentials

    data: Path = args.data_dir.expanduser().resolve()
    if create:
        data.mkdir(parents=True, exist_ok=True)
    elif not (data / "eagernb.db").is_file():
        args.parser.error(
            f"{data} holds no eagernb server data. Give the --data-dir the server uses."
        )
    return Credentials(data / "eagernb.db")


def _create(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    from ._server.credentials import check_projects

    try:
        projects = check_projects(args.project)
    except ValueError as exc:
        parser.error(str(exc))
    credentials = _open(args, create=True)
    try:
        client_id, secret = credentials.create_client(projects, args.name)
    finally:
        credentials.close()
    print(f"client_id:     {client_id}")
    print(f"client_secret: {secret}")
    print(f"projects:      {', '.join(projects)}")
    print(
        "\nThe secret is shown only now (the server keeps a salted hash of it). Clients pass\n"
        "both to eagernb.Remote(URL, client_id=..., client_secret=...), or set\n"
        "EAGERNB_CLIENT_ID and EAGERNB_CLIENT_SECRET. For an @eager(client_secret_group=G,\n"
        "client_secret_key=K) body on the workers, store CLIENT_ID:CLIENT_SECRET in the\n"
        "server's environment as EAGERNB_SECRET_<G>_<K>, or in $EAGERNB_SECRETS_DIR/G/K.",
        file=sys.stderr,
    )
    return 0


def _list(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    credentials = _open(args)
    try:
        clients = credentials.clients()
    finally:
        credentials.close()
    if not clients:
        print("no clients (create one with `eagernb auth create-client`)")
        return 0
    for client in clients:
        created = time.strftime("%Y-%m-%d %H:%M", time.localtime(client.created_at))
        state = "revoked" if client.disabled else "active"
        label = f"  {client.name}" if client.name else ""
        print(f"{client.client_id}  {state:7}  {created}  {','.join(client.projects)}{label}")
    return 0


def _revoke(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    credentials = _open(args)
    try:
        found = credentials.revoke(args.client_id)
    finally:
        credentials.close()
    if not found:
        print(
            f"eagernb: no client {args.client_id!r} in {args.data_dir}; `eagernb auth list` "
            "shows them.",
            file=sys.stderr,
        )
        return 1
    print(f"revoked {args.client_id}; its tokens no longer work")
    return 0
