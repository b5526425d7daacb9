"""The saved report's inline script in headless Chromium, offline: folds, filters, paging."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from eagernb._notebook.reports import save_report
from tests.browser.lab import BROWSER_ARGS, CHROMIUM, require_chromium
from tests.core.support import latest_run_of

from .flows import outer

pytestmark = [pytest.mark.browser, pytest.mark.timeout(120)]

SHOWN = """() => Array.from(document.querySelectorAll('#enb-tree [data-eagernb-id]'))
  .filter(r => r.style.display !== 'none')
  .map(r => [r.querySelector('.enb-name').textContent.trim(), r.dataset.depth,
             r.dataset.fold || '', r.classList.contains('enb-ctx')])"""


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> Path:
    asyncio.run(outer(n=5))
    return save_report(latest_run_of(outer), tmp_path_factory.mktemp("report") / "run.html")


@pytest.fixture
def page(report: Path) -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    require_chromium()
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=BROWSER_ARGS)
        try:
            context = browser.new_context()
            context.set_offline(True)  # the report needs no network
            opened = context.new_page()
            opened.goto(report.as_uri())
            yield opened
        finally:
            browser.close()


def shown(page: Any) -> list[tuple[str, str, str, bool]]:
    return [(name, depth, fold, ctx) for name, depth, fold, ctx in page.evaluate(SHOWN)]


def fold(page: Any, name: str) -> None:
    page.locator(
        f"#enb-tree [data-eagernb-id]:has(.enb-name:text-is('{name}')) .enb-fold"
    ).first.click()


def test_folding_filtering_and_collapse_all_in_the_saved_report(page: Any) -> None:
    assert len(shown(page)) == 11 and "(11 rows)" in page.locator("#enb-page").inner_text()
    page.locator("#enb-tree .enb-fold").nth(1).click()  # fan_out's ▾
    rows = shown(page)
    assert [r[0] for r in rows] == ["▾◆ outer", "▸◆ fan_out(5 inside)", "▾◇ pair", "▪ leaf",
                                    "▪ leaf", "▪ leaf"]  # fmt: skip
    assert rows[1][2] == "closed"
    assert page.locator("#enb-detail").inner_text() == "", "the toggle does not select the row"

    page.locator(".enb-filter[data-status='failed']").click()
    rows = shown(page)
    assert [(r[0], r[3]) for r in rows] == [("▾◆ outer", True), ("▸◆ fan_out(1 inside)", True)]
    page.locator("#enb-tree .enb-fold").nth(1).click()  # unfold: the failed leaf shows
    assert [r[0] for r in shown(page)][-1] == "▪ leaf" and len(shown(page)) == 3

    page.locator(".enb-filter[data-status='all']").click()
    page.locator("[data-act='collapse']").click()
    assert [(r[0], r[1]) for r in shown(page)] == [
        ("▾◆ outer", "0"), ("▸◆ fan_out(5 inside)", "1"), ("▸◇ pair(2 inside)", "1"),
        ("▪ leaf", "1"),
    ]  # fmt: skip
    page.locator("[data-act='tab'][data-tab='timeline']").click()
    timeline = page.locator("#enb-timeline [data-eagernb-id]")
    assert sum(1 for i in range(timeline.count()) if timeline.nth(i).is_visible()) == 4
    page.locator("[data-act='expand']").click()
    assert sum(1 for i in range(timeline.count()) if timeline.nth(i).is_visible()) == 11
