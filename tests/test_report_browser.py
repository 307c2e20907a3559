"""The review renders in a real browser: Debian chromium through Playwright, offline, every chart drawn."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_report import simulated_workspace

from liveops.api import Workspace
from liveops.report import build_review, write_html

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(), reason="needs Debian chromium at /usr/bin/chromium (apt-get install chromium)"
    ),
]

# Each plot's drawn trace count: scatter/bar/funnel/pie traces all render a g.trace in the SVG.
PLOT_STATE = """
() => Array.from(document.querySelectorAll('.plotly-graph-div')).map(d => ({
    id: d.id,
    drawn: d.classList.contains('js-plotly-plot'),
    svgs: d.querySelectorAll('svg.main-svg').length,
    traces: d.querySelectorAll('g.trace').length,
    shapes: d.querySelectorAll('.shapelayer path').length,
    width: d.getBoundingClientRect().width,
}))
"""


def render(html: Path, png: Path) -> tuple[list[dict], list[str], list[str], dict]:
    """Open the file offline, wait for every plot, return plot state, console errors, network requests."""
    sync_api = pytest.importorskip("playwright.sync_api")
    errors: list[str] = []
    requests: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport={"width": 1360, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))

            def route(r):
                if r.request.url.startswith(("file:", "data:", "blob:", "about:")):
                    r.continue_()
                else:  # anything else would need the network: record and refuse it
                    requests.append(r.request.url)
                    r.abort()

            page.route("**/*", route)
            page.goto(html.resolve().as_uri())
            page.wait_for_function(
                "() => { const d = document.querySelectorAll('.plotly-graph-div');"
                " return d.length > 0 && Array.from(d).every(x => x.querySelector('svg.main-svg g.trace')); }",
                timeout=30_000,
            )
            page.wait_for_timeout(300)
            state = page.evaluate(PLOT_STATE)
            info = page.evaluate("() => ({ title: document.querySelector('h1').textContent })")
            page.screenshot(path=str(png), full_page=True)
        finally:
            browser.close()
    return state, errors, requests, info


def check(state: list[dict], errors: list[str], requests: list[str], png: Path) -> None:
    assert len(state) == 5, state
    for s in state:
        assert s["drawn"], s
        assert s["svgs"] >= 1, s
        assert s["traces"] > 0, s
        assert s["width"] > 300, s
    assert errors == []
    assert requests == []
    assert png.exists() and png.stat().st_size > 50_000


def test_fixture_report_renders(fixture_log, tmp_path):
    rv = build_review(Workspace(fixture_log.events, fixture_log.products), "s1")
    html = write_html(rv, tmp_path / "review.html")
    png = tmp_path / "review.png"
    state, errors, requests, info = render(html, png)
    check(state, errors, requests, png)
    assert "双十一专场" in info["title"]
    online = state[0]
    assert online["shapes"] >= 1  # the explain window of p1


def test_simulated_report_renders(tmp_path):
    log, ws = simulated_workspace(tmp_path)
    try:
        rv = build_review(ws, ws.sessions().iloc[-1]["session_id"])
        html = write_html(rv, tmp_path / "sim.html")
    finally:
        log.close()
    png = tmp_path / "sim.png"
    state, errors, requests, _ = render(html, png)
    check(state, errors, requests, png)
    assert state[0]["shapes"] >= len(rv.explain)  # every explain window shaded on the online curve
