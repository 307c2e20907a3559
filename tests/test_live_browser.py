"""The big screen in a real browser: log in with a viewer token, watch tiles and charts change as events arrive."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import orjson
import pyarrow.compute as pc
import pytest
from conftest import free_port, start_server, stop_server
from test_report_browser import ARGS, CHROMIUM

from liveops.simulate import SimConfig, simulate
from liveops.tokens import TokenStore, tokens_path

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian chromium at /usr/bin/chromium"),
]


def _post(url: str, token: str, rows: list[dict]) -> None:
    for i in range(0, len(rows), 5_000):
        r = httpx.post(
            f"{url}/v1/events",
            content=orjson.dumps(rows[i : i + 5_000]),
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        )
        assert r.status_code == 200, r.text


def _rows(table) -> list[dict]:
    t = table.sort_by("ts")
    d = t.to_pylist()
    for r in d:
        if r.get("amount") is not None:
            r["amount"] = float(r["amount"])
        r["attrs"] = orjson.loads(r["attrs"]) if isinstance(r.get("attrs"), str) else r.get("attrs")
        for k in [k for k, v in r.items() if v is None]:
            del r[k]
    return d


def test_big_screen_fills_up_as_events_arrive(tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    res = simulate(SimConfig(viewers=600, minutes=20, seed=5, cheating=False, violation_rate=0.3))
    ev = res.events
    sid = ev["session_id"][0].as_py()
    start = pc.min(ev["ts"]).as_py()
    cut = pc.less(ev["ts"], start + 8 * 60_000)  # epoch ms: the first eight minutes, then the rest
    first, rest = _rows(ev.filter(cut)), _rows(ev.filter(pc.invert(cut)))
    db = tmp_path / "screen.duckdb"
    store = TokenStore(tokens_path(db))
    ingest, viewer = store.create("ingest")[1], store.create("viewer")[1]
    analyst = store.create("analyst", "质检小王")[1]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    rules = tmp_path / "rules.yaml"  # sensitive rules, so this small show raises alerts on screen
    rules.write_text(
        "rules:\n"
        "  - {id: leaves, kind: leave_surge, severity: high, baseline_minutes: 3, factor: 1.2, min_leaves: 3,"
        " message_zh: '离开激增 {leaves}', message_en: 'Leaves surged {leaves}'}\n",
        encoding="utf-8",
    )
    server = start_server(db, port, "--alert-rules", str(rules))
    errors: list[str] = []
    outside: list[str] = []
    try:
        _post(url, ingest, first)
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            page = browser.new_page(viewport={"width": 1600, "height": 1000})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on(
                "request",
                lambda r: outside.append(r.url) if not r.url.startswith((url, "ws://127.0.0.1")) else None,
            )
            page.goto(f"{url}/live/{sid}")
            page.wait_for_selector("#login:not(.hidden)")
            page.fill("#login-token", viewer)
            page.click("#login-form button")
            page.wait_for_function("document.getElementById('tile-views').textContent !== '—'")
            assert (
                page.evaluate("sessionStorage.getItem('liveops.token')") == viewer
            )  # kept for this tab only
            assert viewer not in page.url
            gmv_before = page.text_content("#tile-gmv")
            views_before = page.text_content("#tile-views")
            _post(url, ingest, rest)
            page.wait_for_function(
                f"document.getElementById('tile-views').textContent !== {orjson.dumps(views_before).decode()}",
                timeout=20_000,
            )
            page.wait_for_function(
                "document.getElementById('status').textContent === '已下播'", timeout=20_000
            )
            assert page.text_content("#tile-gmv") != gmv_before
            traces = page.evaluate(
                "['chart-online','chart-gmv','chart-funnel'].map(id => document.querySelectorAll('#' + id + ' g.trace').length)"
            )
            assert all(n >= 1 for n in traces), traces
            assert page.locator("#comments li").count() >= 5
            assert page.locator("#alerts li.high").count() >= 1
            assert "离开激增" in page.text_content("#alerts")
            assert page.locator("#sources tr").count() >= 3
            # compliance: the streamer's violating lines, marked in place, with a block alert
            assert page.locator("#compliance li mark").count() >= 1
            assert page.locator("#compliance-counts .chip.block").count() >= 1
            assert "合规拦截" in page.text_content("#alerts")
            shot = Path(os.environ.get("LIVEOPS_SCREENSHOT_DIR", tmp_path)) / "big_screen.png"
            # 人工复核 from the screen: a viewer's token may only look; an analyst's verdict is stored
            assert page.locator("#compliance button").count() == 0
            review = browser.new_page(viewport={"width": 1600, "height": 1000})
            review.on("pageerror", lambda e: errors.append(str(e)))
            review.goto(f"{url}/live/{sid}")
            review.fill("#login-token", analyst)
            review.click("#login-form button")
            review.wait_for_selector("#compliance li[data-hit] button[data-v='dismissed']")
            hit = review.get_attribute("#compliance li:first-child", "data-hit")
            review.click("#compliance li:first-child button[data-v='dismissed']")
            review.wait_for_selector("#compliance li:first-child .verdict.done")
            assert review.text_content("#compliance li:first-child .verdict") == "已判误报"
            stored = httpx.get(
                f"{url}/v1/sessions/{sid}/compliance", headers={"Authorization": f"Bearer {viewer}"}
            ).json()
            assert [(h["verdict"], h["reviewer"]) for h in stored if h["hit_id"] == hit] == [
                ("dismissed", "质检小王")
            ]
            review.reload()  # the verdict comes back with the screen's state, not only from this tab
            review.wait_for_selector(f"#compliance li[data-hit='{hit}'] .verdict.done")
            review.screenshot(path=str(shot.with_name("big_screen_verdict.png")), full_page=True)
            review.close()
            page.screenshot(path=str(shot), full_page=True)
            page.click("#lang")
            assert page.text_content("#status") == "Ended"
            # The review of the same show, one click away; the token is still in this tab.
            page.click("a[href^='/review/']")
            frame = page.frame_locator("#review")
            frame.locator("#alerts").wait_for(timeout=30_000)
            frame.locator("#online .js-plotly-plot").wait_for(timeout=30_000)
            assert "离开激增" in frame.locator("#alerts").text_content()
            assert frame.locator("#compliance-hits tr").count() >= 2
            page.screenshot(path=str(shot.with_name("review_page.png")))
            browser.close()
    finally:
        stop_server(server)
    assert errors == []
    assert outside == []  # offline: nothing outside the server is requested
