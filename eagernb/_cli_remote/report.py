"""``eagernb executions report ID``: save a run's HTML report from the control plane."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .connection import command, connect

__all__ = ["report"]


@command
def report(args: argparse.Namespace, parser: argparse.ArgumentParser) -> int:
    remote = connect(args)
    try:
        response = remote._sync().get(f"/executions/{args.id}/report")
        if not response.is_success:
            remote._check(response)
    finally:
        remote.close()
    target = Path(args.output or f"eagernb-{args.id}.html")
    target.write_text(response.text, encoding="utf-8")
    print(f"Saved the report of the run of execution {args.id} to {target}", file=sys.stderr)
    print(target)
    return 0
