"""A run with nested subtrees for the views' tests: an eager fan-out and a static workflow.

``outer(n=5)``: outer ─┬─ fan_out ── 5 leaves (leaf 2 fails; fan_out catches it)
                       ├─ pair ── leaf, leaf (a static workflow)
                       └─ leaf
"""

from __future__ import annotations

import asyncio

from eagernb import eager, task, workflow


@task
def leaf(i: int) -> int:
    if i == 2:
        raise ValueError(f"leaf {i} fails")
    return i


@eager
async def fan_out(n: int) -> int:
    done = await asyncio.gather(*(leaf(i=i) for i in range(n)), return_exceptions=True)
    return sum(x for x in done if isinstance(x, int))


@workflow
def pair(i: int) -> int:
    return leaf(i=leaf(i=i))


@eager
async def outer(n: int) -> int:
    inside = await fan_out(n=n)
    both = await pair(i=1)
    return inside + both + await leaf(i=0)
