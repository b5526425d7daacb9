"""JupyterLab in headless Chromium: the explorer as a person sees it, local and remote.

Each test opens a notebook in a real JupyterLab, runs all its cells, and checks what the
page shows while the cells run, from a record of every change of the page (no sleeps).
Screenshots go to ``artifacts/browser/``.
"""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.server.conftest import Server

from .lab import (
    BROWSER_ARGS,
    CHROMIUM,
    Lab,
    cell,
    history,
    prompt,
    require_chromium,
    shot,
    shot_of,
    wait_done,
)

pytestmark = [pytest.mark.browser, pytest.mark.timeout(300)]

DEFINE = """
import asyncio, time
import eagernb
from eagernb import eager, task

@task
async def step(i: int) -> int:
    print(f"step {i} starting")
    await asyncio.sleep(0.5)
    if i == 2:
        raise ValueError(f"step {i} failed on purpose")
    return i * 10

@eager
async def pipeline(n: int) -> int:
    total = 0
    for i in range(n):
        try:
            total += await step(i=i)
        except ValueError:
            total -= 1
    return total

@task
async def forever(i: int) -> int:
    print(f"waiting {i}")
    await asyncio.sleep(300)
    return i

@eager
async def stuck(n: int) -> list:
    return await asyncio.gather(*(forever(i=i) for i in range(n)), return_exceptions=True)
"""


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, reports_folder: Path) -> Iterator[Lab]:
    require_chromium()
    root = tmp_path_factory.mktemp("notebooks")
    started = Lab(root, tmp_path_factory.mktemp("jupyter"))
    try:
        yield started
    finally:
        started.stop()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    require_chromium()
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    try:
        yield context.new_page()
    finally:
        context.close()


def rows_of(states: list[list[dict[str, Any]]], index: int) -> list[tuple[str, list[Any]]]:
    """(prompt, rows) of cell ``index`` in each recorded state."""
    return [(s[index]["prompt"], s[index]["rows"]) for s in states if len(s) > index]


def explorer(page: Any, index: int) -> Any:
    return cell(page, index).locator(".eagernb-run")


def select_row(page: Any, index: int, name: str) -> None:
    """Click the details button of the row named ``name`` in cell ``index``'s explorer."""
    box = explorer(page, index)
    names = box.locator(".eagernb-rows .enb-name").all_inner_texts()
    position = [n.strip().endswith(name) for n in names].index(True)
    box.locator(".eagernb-select").nth(position).click()


def test_a_local_run_in_jupyterlab(lab: Lab, page: Any) -> None:
    name = lab.notebook(
        "local.ipynb",
        ["%load_ext eagernb", DEFINE, "await pipeline(n=4)", "await stuck(n=3)"],
    )
    lab.open(page, name)
    lab.run_all(page)
    wait_done(page, 2)
    seen = rows_of(history(page), 2)
    running = [rows for p, rows in seen if p == "[*]:" and rows]
    # Child rows appeared while the cell was still running, one by one.
    assert running, "no explorer rows while the cell ran"
    assert min(len(rows) for rows in running) < 5 <= max(len(rows) for rows in running)
    # Statuses changed live: a child was seen running, then the same child finished.
    first_child = running[-1][1][0]
    statuses = [dict(rows).get(first_child) for _, rows in seen]
    assert "running" in statuses and statuses[-1] == "succeeded"
    final = dict(seen[-1][1])
    assert sorted(final.values()) == ["failed"] + ["succeeded"] * 4
    output = str(cell(page, 2).locator(".jp-OutputArea-output").first.inner_text())
    assert "step 1 starting" in output, "what a child prints shows under its row"
    stray = cell(page, 2).locator("[data-mime-type='application/vnd.jupyter.stdout']")
    assert stray.count() == 0, "prints go under their rows, not into the cell"
    shot(page, "local-run")

    # A failed child shows its error and traceback in the details.
    select_row(page, 2, "step")
    failed = next(rid for rid, status in final.items() if status == "failed")
    box = explorer(page, 2)
    box.locator(".eagernb-select").nth(list(final).index(failed)).click()
    details = box.locator("[data-eagernb-details]")
    details.get_by_text("step 2 failed on purpose").first.wait_for()
    assert "ValueError" in details.inner_text() and "Traceback" in details.inner_text()
    shot(page, "local-run-failed-child")
    shot_of(box, "explorer-widget")

    # The timeline shows one bar per execution.
    box.get_by_role("button", name="Timeline").click()
    box.locator(".enb-bar").nth(4).wait_for()
    shot(page, "local-run-timeline")
    box.get_by_role("button", name="Tree").click()

    # Cancel a single child, then the whole run.
    stuck = explorer(page, 3)
    stuck.locator("[data-status='running'][data-depth='1']").nth(2).wait_for(timeout=60_000)
    stuck.locator(".eagernb-select").nth(1).click()
    stuck.locator(".eagernb-cancel-one").click()
    stuck.locator("[data-status='cancelled'][data-depth='1']").first.wait_for()
    assert stuck.locator("[data-status='running'][data-depth='1']").count() == 2
    assert prompt(page, 3) == "[*]:", "cancelling one child leaves the run going"

    # The explorer page of the Jupyter server shows the same run, live.
    run_id = stuck.locator("[data-eagernb-run]").get_attribute("data-eagernb-run")
    web = page.context.new_page()
    web.goto(f"{lab.url}/eagernb/runs/{run_id}?token={lab.token}")
    web.locator("#enb-tree [data-eagernb-id][data-status='cancelled']").first.wait_for()
    ids_in_widget = stuck.locator("[data-eagernb-id]").evaluate_all(
        "rs => rs.map(r => r.dataset.eagernbId)"
    )
    ids_on_page = web.locator("#enb-tree [data-eagernb-id]").evaluate_all(
        "rs => rs.map(r => r.dataset.eagernbId)"
    )
    assert ids_on_page == ids_in_widget
    shot(web, "jupyter-explorer-page")

    stuck.locator(".eagernb-cancel-run").click()
    wait_done(page, 3)
    assert "RunCancelledError" in cell(page, 3).inner_text()
    statuses = stuck.locator("[data-eagernb-id]").evaluate_all(
        "rs => rs.map(r => r.dataset.status)"
    )
    assert statuses == ["cancelled"] * 4
    # The page follows the run to its end.
    web.locator("#enb-main[data-final='1']").wait_for(timeout=30_000)
    assert web.locator("#enb-tree [data-status='cancelled']").count() == 4
    web.close()
    shot(page, "local-run-cancelled")


REMOTE_DEFINE = """
import time
from eagernb import eager, task

@task
def slow_add(x: int) -> int:
    print(f"adding one to {x}")
    time.sleep(0.6)
    return x + 1

@task
def fails(x: int) -> int:
    raise ValueError(f"remote failure for {x}")

@eager
async def remote_pipeline(n: int) -> int:
    total = 0
    for i in range(n):
        total += await slow_add(x=i)
    try:
        await fails(x=n)
    except ValueError:
        total -= 1
    return total
"""


@pytest.fixture(scope="module")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    started = Server(tmp_path_factory.mktemp("browser-server") / "data", workers=2)
    try:
        yield started
    finally:
        started.stop()


def test_a_remote_run_in_jupyterlab_and_on_the_web_page(
    lab: Lab, page: Any, control_plane: Server
) -> None:
    setup = textwrap.dedent(
        f"""
        import eagernb
        eagernb.config.remote = eagernb.Remote({control_plane.url!r})
        """
    )
    name = lab.notebook(
        "remote.ipynb",
        ["%load_ext eagernb", setup, "%eagernb mode=remote", REMOTE_DEFINE,
         "await remote_pipeline(n=4)"],
    )  # fmt: skip
    lab.open(page, name)
    lab.run_all(page)
    # The control plane's web page follows the run live, from its first child on.
    # Once the explorer shows the root running, the control plane has its execution.
    root_row = "[data-eagernb-id][data-depth='0'][data-status='running']"
    explorer(page, 4).locator(root_row).wait_for(timeout=60_000)
    found = control_plane.ok(
        control_plane.http.get("/executions", params={"name": "remote_pipeline", "limit": 1})
    )
    root = found[0]["id"]
    web = page.context.new_page()
    web.goto(f"{control_plane.url}/ui/executions/{root}")
    web.evaluate(
        """() => { window.__rows = [];
          const note = () => { const n = document.querySelectorAll('#enb-tree [data-eagernb-id]')
            .length; if (window.__rows[window.__rows.length - 1] !== n) window.__rows.push(n) };
          new MutationObserver(note).observe(document.body, {subtree: true, childList: true});
          note(); }"""
    )
    wait_done(page, 4)
    assert str(cell(page, 4).locator(".jp-OutputArea-output").last.inner_text()).strip() == "9"
    seen = rows_of(history(page), 4)
    running = [rows for p, rows in seen if p == "[*]:" and rows]
    assert running and min(len(rows) for rows in running) < 6
    final = dict(seen[-1][1])
    assert sorted(final.values()) == ["failed"] + ["succeeded"] * 5
    statuses = [dict(rows).get(running[-1][1][0]) for _, rows in seen]
    assert "running" in statuses and statuses[-1] == "succeeded"

    box = explorer(page, 4)
    failed = next(rid for rid, status in final.items() if status == "failed")
    box.locator(".eagernb-select").nth(list(final).index(failed)).click()
    details = box.locator("[data-eagernb-details]")
    details.get_by_text("remote failure for 4").first.wait_for()
    assert control_plane.url in details.inner_text(), "a remote child links to its web view"
    shot(page, "remote-run-in-jupyterlab")

    web.locator("#enb-main[data-final='1']").wait_for(timeout=30_000)
    counts = web.evaluate("() => window.__rows")
    assert counts[-1] == 6 and len(counts) > 1 and counts[0] < 6, counts
    names_on_page = web.locator("#enb-tree [data-eagernb-id] .enb-name").all_inner_texts()
    names_in_widget = box.locator(".eagernb-rows .enb-name").all_inner_texts()
    assert [n.split()[-1] for n in names_on_page] == [n.split()[-1] for n in names_in_widget]
    web.locator("#enb-tree [data-status='failed']").click()
    web.locator("#enb-detail").get_by_text("remote failure for 4").first.wait_for()
    shot(web, "control-plane-web-view")
    shot_of(web.locator("body"), "web-view")
    web.emulate_media(color_scheme="dark")
    shot(web, "control-plane-web-view-dark")
    web.close()

    # Statuses keep their colour and icon in JupyterLab's dark theme.
    set_theme(page, "JupyterLab Dark")
    try:
        page.locator("body[data-jp-theme-light='false']").wait_for(state="attached")
        shot_of(box, "remote-run-dark-theme")
    finally:
        set_theme(page, "JupyterLab Light")


def set_theme(page: Any, name: str) -> None:
    page.locator(".lm-MenuBar-itemLabel:text-is('Settings')").click()
    page.locator(".lm-Menu-itemLabel:text-is('Theme')").hover()
    page.locator(f".lm-Menu-itemLabel:text-is('{name}')").click()
