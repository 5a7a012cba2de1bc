"""Checks every page gets in the browser tests: axe-core's WCAG 2.1 AA rules, and no sideways scrolling."""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page

AXE = Path(__file__).resolve().parents[1] / "vendor" / "axe-core" / "axe.min.js"
WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
PHONE = {"width": 390, "height": 844}


def install_axe(page: Page) -> None:
    """axe-core in every document the page loads from now on (an init script: the pages' CSP refuses inline
    scripts, and the service does not serve test files)."""
    page.add_init_script(path=str(AXE))


def axe_violations(page: Page) -> list[str]:
    """axe-core's WCAG 2.1 AA violations on the page as it is now (install_axe first): 'rule: target
    (summary)' per node."""
    result = page.evaluate(
        "async (tags) => (await axe.run(document, {runOnly: {type: 'tag', values: tags}})).violations",
        WCAG_AA,
    )
    return [
        f"{violation['id']}: {node['target']} ({node['failureSummary']})"
        for violation in result
        for node in violation["nodes"]
    ]


def sideways_overflow(page: Page) -> int:
    """How many px the page is wider than the window (0: it does not scroll sideways)."""
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
