"""Experiments over HTTP and on the web page: the CLI's JSON, clear 4xx errors, a real browser."""

from __future__ import annotations

import json
import os
from pathlib import Path

import orjson
import pytest
from conftest import free_port, start_server, stop_server
from fastapi.testclient import TestClient
from test_experiments import ROWS
from test_report_browser import ARGS, CHROMIUM
from typer.testing import CliRunner

from liveops import experiments as X
from liveops.cli import app as cli
from liveops.simulate import SimConfig, simulate, write_simulation
from liveops.store import EventLog
from liveops.tokens import TokenStore, tokens_path
from liveops.web import ServerConfig, create_app


def test_experiment_endpoints_match_the_cli(tmp_path):
    db = tmp_path / "w.duckdb"
    store = TokenStore(tokens_path(db))
    ingest, viewer = store.create("ingest")[1], store.create("viewer")[1]
    auth = {"Authorization": f"Bearer {viewer}"}
    with TestClient(create_app(db, ServerConfig(ingest_rate=0))) as c:
        r = c.post("/v1/events", content=orjson.dumps(ROWS), headers={"Authorization": f"Bearer {ingest}"})
        assert r.status_code == 200 and r.json()["rejected"] == 0
        assert c.get("/v1/experiments").status_code == 401
        listed = c.get("/v1/experiments", headers=auth).json()
        assert [(e["experiment_id"], e["unit"], e["units"]) for e in listed] == [("exp1", "user", 8)]
        api = c.get("/v1/experiments/exp1", headers=auth).json()
        assert c.get("/v1/experiments/nope", headers=auth).status_code == 404
        bad = c.get("/v1/experiments/exp1?metrics=no_such", headers=auth)
        assert bad.status_code == 400 and "no_such" in bad.json()["error"]
        drv = c.get("/v1/sessions/s1/drivers", headers=auth)
        assert drv.status_code == 200 and drv.json()["scope"] == "session:s1"
        assert c.get("/v1/sessions/zz/drivers", headers=auth).status_code in (400, 404)
    cli_out = CliRunner().invoke(
        cli, ["experiment", "analyze", "--db", str(db), "-e", "exp1", "--format", "json"]
    )
    assert cli_out.exit_code == 0, cli_out.output
    assert json.loads(cli_out.stdout) == api


@pytest.mark.browser
@pytest.mark.skipif(not CHROMIUM.exists(), reason="needs Debian chromium at /usr/bin/chromium")
def test_experiments_page_in_a_browser(tmp_path):
    sync_api = pytest.importorskip("playwright.sync_api")
    res = simulate(SimConfig(viewers=3_000, minutes=60, sessions=2, seed=8))
    paths = write_simulation(res, tmp_path / "show.parquet")
    db = tmp_path / "exp.duckdb"
    with EventLog(db) as log:
        log.ingest(str(paths["events"]))
        X.import_csv(log.con, paths["schedule"])
    viewer = TokenStore(tokens_path(db)).create("viewer")[1]
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    server = start_server(db, port)
    errors: list[str] = []
    try:
        with sync_api.sync_playwright() as p:
            browser = p.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto(f"{url}/")
            page.wait_for_selector("#login:not(.hidden)")
            page.fill("#login-token", viewer)
            page.click("#login-form button")
            page.click("a[href='/experiments']")
            page.wait_for_selector("#exp-result tr[data-metric]")
            assert page.locator("#experiments tr.exp-row").count() == 2
            assert page.text_content("#exp-title") == "checkout_flow_v2"
            page.click("tr.exp-row[data-id='talk_track_v2']")
            page.wait_for_function("document.getElementById('exp-title').textContent === 'talk_track_v2'")
            page.wait_for_selector("#exp-result tr[data-metric='product_ctr']")
            assert "时间片" in page.text_content("#exp-meta")
            assert "%" in page.text_content("#exp-result tr[data-metric='product_ctr'] .lift")
            shot = Path(os.environ.get("LIVEOPS_SCREENSHOT_DIR", tmp_path)) / "experiments_page.png"
            page.screenshot(path=str(shot), full_page=True)
            page.click("#lang")
            page.wait_for_function("document.querySelector('#exp-result th').textContent === 'Metric'")
            browser.close()
    finally:
        stop_server(server)
    assert errors == []
