"""Experiments from events: assignment, exposure windows, per-unit metrics, switchback slices, the CLI.

The fixture is small enough to compute by hand: three control and four treatment viewers.
"""

from __future__ import annotations

import json
import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from conftest import write_jsonl
from scipy import stats as st
from statsmodels.stats.proportion import proportions_ztest
from typer.testing import CliRunner

from liveops import experiments as X
from liveops.cli import app
from liveops.store import EventLog

T0 = datetime(2026, 11, 24, 12, 0, 0, tzinfo=UTC)
EXP = {"experiment": "exp1"}


def e(i, sec, type_, user=None, **kw):
    row = {
        "event_id": i,
        "ts": (T0 + timedelta(seconds=sec)).isoformat(),
        "room_id": kw.pop("room_id", "r1"),
        "session_id": kw.pop("session_id", "s1"),
        "type": type_,
    }
    if user:
        row["user_id"] = user
    row.update(kw)
    return row


def enter(i, sec, user, arm, **kw):
    return e(i, sec, "enter", user, source="feed", variant=arm, attrs=EXP, **kw)


def pay(i, sec, user, amount):
    return e(i, sec, "pay", user, order_id=f"o{i}", amount=amount)


ROWS = [
    e("s0", 0, "session_start"),
    enter("c1", 10, "c1", "control"),
    pay("c1p", 20, "c1", 100),
    enter("c2", 11, "c2", "control"),
    enter("c3", 12, "c3", "control"),
    pay("c3p", 40, "c3", 30),
    enter("t1", 13, "t1", "treat"),
    pay("t1p", 30, "t1", 50),
    pay("t1q", 50, "t1", 70),
    enter("t2", 14, "t2", "treat"),
    enter("t3", 15, "t3", "treat"),
    pay("t4pre", 5, "t4", 10),  # before t4's exposure: pre-period, not outcome
    enter("t4", 16, "t4", "treat"),
    pay("t4p", 60, "t4", 40),
    enter("x1a", 17, "x1", "control"),  # seen in both arms: left out
    enter("x1b", 18, "x1", "treat"),
    pay("x1p", 19, "x1", 999),
    e("n1", 19, "enter", "n1", source="feed"),  # not in the experiment
    pay("n1p", 21, "n1", 500),
]


@pytest.fixture()
def log(tmp_path):
    lg = EventLog(tmp_path / "x.duckdb")
    res = lg.ingest(str(write_jsonl(tmp_path / "x.jsonl", ROWS)))
    assert res.rejected == 0
    yield lg
    lg.close()


def test_units_are_viewers_from_first_exposure_by_hand(log):
    r = X.analyze(log.con, log.events, "exp1", ["conversion_rate", "uv_value"], cuped=False)
    assert r.unit == "user" and r.source == "events"
    assert r.arms == {"control": 3, "treat": 4}
    assert r.control == "control" and r.contaminated == 1
    conv, uvv = r.metrics
    # conversion: control 2/3, treatment 2/4, proportion variance p(1−p)/n
    assert conv.kind == "proportion"
    assert (conv.mean_control, conv.mean) == pytest.approx((2 / 3, 1 / 2))
    se = math.sqrt((2 / 3) * (1 / 3) / 3 + 0.25 / 4)
    assert conv.lift_abs == pytest.approx(-1 / 6)
    assert conv.ci_high - conv.lift_abs == pytest.approx(
        st.t.ppf(0.975, _welch_df(2 / 9 / 3, 3, 0.25 / 4, 4)) * se
    )
    # GMV per viewer: t4's pre-exposure payment and the excluded viewers do not count
    ref = st.ttest_ind([120, 0, 0, 40], [100, 0, 30], equal_var=False)
    assert uvv.kind == "mean"
    assert uvv.mean == pytest.approx(40) and uvv.mean_control == pytest.approx(130 / 3)
    assert uvv.p_value == pytest.approx(ref.pvalue, abs=1e-9)
    assert r.srm_p == pytest.approx(st.chisquare([3, 4]).pvalue)
    # Holm over the two metrics
    lo, hi = sorted([conv.p_value, uvv.p_value])
    assert sorted([conv.p_adjusted, uvv.p_adjusted]) == pytest.approx(
        [min(1, 2 * lo), max(min(1, 2 * lo), hi)]
    )


def _welch_df(vc, nc, vt, nt):
    return (vc + vt) ** 2 / (vc**2 / (nc - 1) + vt**2 / (nt - 1))


def test_notebook_workspace_gives_the_same_result(tmp_path, log):
    import liveops

    expected = X.analyze(log.con, log.events, "exp1").to_dict()
    log.close()
    with liveops.open(tmp_path / "x.duckdb") as ws:
        assert ws.experiment_list()["experiment_id"].tolist() == ["exp1"]
        r = ws.experiment("exp1")
        assert r.to_dict() == expected
        assert list(r.frame()["metric"]) == ["conversion_rate", "uv_value"]
        with pytest.raises(LookupError):
            ws.experiment("nope")


def test_cuped_uses_the_pre_exposure_period(log):
    r = X.analyze(log.con, log.events, "exp1", ["uv_value"], cuped=True)
    y = np.array([100, 0, 30, 120, 0, 0, 40.0])
    x = np.array([0, 0, 0, 0, 0, 0, 10.0])
    arm = np.array([0, 0, 0, 1, 1, 1, 1.0])
    fit = sm.OLS(y, sm.add_constant(np.column_stack([arm, x]))).fit()
    assert r.metrics[0].lift_abs == pytest.approx(fit.params[1], abs=1e-9)
    assert r.metrics[0].cuped_variance_reduction is not None


def test_assignment_csv_when_events_carry_no_arm(tmp_path):
    lg = EventLog(tmp_path / "a.duckdb")
    lg.ingest(
        str(
            write_jsonl(
                tmp_path / "a.jsonl", [e("a", 1, "enter", "u1", source="feed"), pay("b", 2, "u1", 10)]
            )
        )
    )
    csv = tmp_path / "assign.csv"
    csv.write_text("experiment_id,user_id,arm\nexpA,u1,control\nexpA,u2,treatment\nexpA,u3,treatment\n")
    assert X.import_csv(lg.con, csv) == ("assignments", 3)
    r = X.analyze(lg.con, lg.events, "expA", ["uv_value"])
    assert r.source == "assignments" and r.arms == {"control": 1, "treatment": 2}
    assert (
        r.metrics[0].mean_control == 10 and r.metrics[0].mean == 0
    )  # assigned viewers who never came count as 0
    lg.close()


def test_bad_csv_names_the_line_and_field(tmp_path, log):
    bad = tmp_path / "bad.csv"
    bad.write_text("experiment_id,user_id,arm\nexpA,u1,\nexpA,,control\n")
    with pytest.raises(X.ExperimentError, match=r"line 2: arm.*line 3: user_id"):
        X.import_csv(log.con, bad)
    neither = tmp_path / "n.csv"
    neither.write_text("a,b\n1,2\n")
    with pytest.raises(X.ExperimentError, match="neither"):
        X.import_csv(log.con, neither)


def test_unknown_experiment_and_metric_are_clear_errors(log):
    with pytest.raises(X.ExperimentError, match="nope"):
        X.analyze(log.con, log.events, "nope")
    with pytest.raises(X.ExperimentError, match="unknown metric"):
        X.analyze(log.con, log.events, "exp1", ["no_such_metric"])


def test_hash_assignment_is_deterministic_weighted_and_independent():
    ids = [f"user{i}" for i in range(20_000)]
    a1 = X.assign(ids, "e1", ["control", "treatment"], [1, 3])
    assert a1 == X.assign(ids, "e1", ["control", "treatment"], [1, 3])
    share = a1.count("treatment") / len(ids)
    assert abs(share - 0.75) < 0.015
    a2 = X.assign(ids, "e2", ["control", "treatment"])
    both = sum(x == "treatment" and y == "treatment" for x, y in zip(a1, a2, strict=True)) / len(ids)
    assert abs(both - 0.75 * 0.5) < 0.015  # independent across experiments
    with pytest.raises(X.ExperimentError):
        X.assign(ids, "e1", ["only"])


def test_schedule_is_balanced_deterministic_and_per_room():
    start = datetime(2026, 11, 24, 20, tzinfo=UTC)
    sl = X.schedule("sb", ["r1", "r2"], start, start + timedelta(hours=4), 30, burn_in_minutes=5, seed=3)
    assert len(sl) == 16
    for room in ("r1", "r2"):
        arms = [s.arm for s in sl if s.room_id == room]
        for k in range(0, 8, 2):  # every block of two slices holds each arm once
            assert sorted(arms[k : k + 2]) == ["control", "treatment"]
    assert [s.arm for s in sl] == [
        s.arm
        for s in X.schedule(
            "sb", ["r1", "r2"], start, start + timedelta(hours=4), 30, burn_in_minutes=5, seed=3
        )
    ]
    assert all(s.burn_in_s == 300 for s in sl)
    with pytest.raises(X.ExperimentError, match="burn-in"):
        X.schedule("sb", ["r1"], start, start + timedelta(hours=1), 10, burn_in_minutes=10)


def test_switchback_slices_are_units_and_burn_in_is_dropped(tmp_path):
    """Two 10-minute slices per arm; 60 s burn-in. product_ctr per slice is clicks ÷ impressions."""
    rows, k = [], 0
    plan = {0: ("control", 10, 2), 1: ("treatment", 10, 4), 2: ("control", 10, 3), 3: ("treatment", 10, 5)}
    for s_i, (_, imp, clk) in plan.items():
        base = s_i * 600
        rows.append(e(f"burn{s_i}", base + 30, "product_click", "zz", product_id="p"))  # inside burn-in
        for j in range(imp):
            k += 1
            rows.append(e(f"i{k}", base + 100 + j, "product_impression", f"v{s_i}_{j}", product_id="p"))
        for j in range(clk):
            k += 1
            rows.append(e(f"c{k}", base + 200 + j, "product_click", f"v{s_i}_{j}", product_id="p"))
    lg = EventLog(tmp_path / "sb.duckdb")
    lg.ingest(str(write_jsonl(tmp_path / "sb.jsonl", rows)))
    X.store_slices(
        lg.con,
        [
            X.Slice(
                "sb",
                "r1",
                f"r1#{i}",
                T0 + timedelta(seconds=600 * i),
                T0 + timedelta(seconds=600 * (i + 1)),
                arm,
                60,
            )
            for i, (arm, _, _) in plan.items()
        ],
    )
    r = X.analyze(lg.con, lg.events, "sb", ["product_ctr"], permutations=200)
    m = r.metrics[0]
    assert r.unit == "slice" and r.arms == {"control": 2, "treatment": 2}
    assert m.kind == "ratio"
    assert m.mean_control == pytest.approx(5 / 20) and m.mean == pytest.approx(9 / 20)
    assert m.naive_p_value is not None and m.permutation_p_value is not None
    lg.close()


def test_definitions_yaml_and_its_errors(tmp_path):
    good = tmp_path / "e.yaml"
    good.write_text(
        "experiments:\n  - id: exp1\n    unit: user\n    arms: [control, treat]\n    primary: conversion_rate\n"
        "    secondary: [uv_value]\n    guardrails: [refund_rate]\n"
    )
    d = X.load_definitions(good)["exp1"]
    assert (
        d.metrics == ["conversion_rate", "uv_value", "refund_rate"] and d.role("refund_rate") == "guardrail"
    )
    bad = tmp_path / "b.yaml"
    bad.write_text("experiments:\n  - id: e\n    primary: nonsense\n")
    with pytest.raises(X.ExperimentError, match=r"experiments\[0\].*nonsense"):
        X.load_definitions(bad)


def test_cli_analyze_json_contract_and_power(tmp_path, log):
    runner = CliRunner()
    db = str(tmp_path / "x.duckdb")
    log.close()
    res = runner.invoke(
        app, ["experiment", "analyze", "--db", db, "--experiment", "exp1", "--format", "json"]
    )
    assert res.exit_code == 0, res.output
    doc = json.loads(res.stdout)
    assert doc["experiment"] == "exp1" and 0 <= doc["srm_p"] <= 1
    need = {
        "metric",
        "arm",
        "n",
        "mean",
        "lift_abs",
        "lift_rel",
        "ci_low",
        "ci_high",
        "p_value",
        "chance_to_win",
    }
    assert {r["metric"] for r in doc["metrics"]} == {"conversion_rate", "uv_value"}
    assert all(need <= set(r) and r["arm"] == "treat" for r in doc["metrics"])
    res = runner.invoke(
        app, ["experiment", "power", "--baseline", "0.032", "--mde", "0.1", "--format", "json"]
    )
    assert res.exit_code == 0 and json.loads(res.stdout)["n_per_arm"] == 49774
    res = runner.invoke(
        app, ["experiment", "power", "--baseline", "0.032", "--units", "49774", "--format", "json"]
    )
    assert res.exit_code == 0 and json.loads(res.stdout)["mde_rel"] == pytest.approx(0.1, rel=1e-3)
    res = runner.invoke(app, ["experiment", "power", "--baseline", "0.032"])
    assert res.exit_code == 2 and "--units" in res.output
    res = runner.invoke(app, ["experiment", "power", "--baseline", "1.5", "--mde", "0.1"])
    assert res.exit_code == 2 and "(0, 1)" in res.output
    res = runner.invoke(app, ["experiment", "analyze", "--db", db, "--experiment", "zzz"])
    assert res.exit_code == 2 and "zzz" in res.output


def test_cli_assign_and_schedule_round_trip(tmp_path):
    runner = CliRunner()
    users = tmp_path / "u.txt"
    users.write_text("\n".join(f"u{i}" for i in range(100)))
    out = tmp_path / "a.csv"
    db = str(tmp_path / "s.duckdb")
    res = runner.invoke(
        app,
        [
            "experiment",
            "assign",
            "-e",
            "e9",
            "--arms",
            "control,treatment",
            "--users",
            str(users),
            "--out",
            str(out),
            "--db",
            db,
        ],
    )
    assert res.exit_code == 0, res.output
    lines = out.read_text().splitlines()
    assert lines[0] == "experiment_id,user_id,arm" and len(lines) == 101
    assert [ln.split(",")[2] for ln in lines[1:]] == X.assign(
        [f"u{i}" for i in range(100)], "e9", ["control", "treatment"]
    )
    sched = tmp_path / "s.csv"
    res = runner.invoke(
        app,
        [
            "experiment",
            "schedule",
            "-e",
            "sb",
            "--rooms",
            "r1",
            "--start",
            "2026-11-24T20:00:00+08:00",
            "--end",
            "2026-11-24T22:00:00+08:00",
            "--slice-minutes",
            "20",
            "--burn-in-minutes",
            "2",
            "--out",
            str(sched),
            "--db",
            db,
        ],
    )
    assert res.exit_code == 0, res.output
    assert len(sched.read_text().splitlines()) == 7
    res = runner.invoke(app, ["experiment", "list", "--db", db, "--format", "json"])
    got = {r["experiment_id"]: r for r in json.loads(res.stdout)}
    assert got["e9"]["units"] == 100 and got["sb"]["unit"] == "slice"
    res = runner.invoke(
        app,
        ["experiment", "schedule", "-e", "sb", "--rooms", "r1", "--start", "2026-11-24T20:00", "--end", "x"],
    )
    assert res.exit_code == 2 and "offset" in res.output


def test_switchback_bucketed_path_equals_the_plain_range_join(tmp_path, monkeypatch):
    """Summing events per minute bucket before the slice join is an optimisation, never a change."""
    from liveops.simulate import SimConfig, simulate, write_simulation

    res = simulate(SimConfig(viewers=1_500, minutes=40, seed=4))
    paths = write_simulation(res, tmp_path / "s.parquet")
    lg = EventLog(tmp_path / "b.duckdb")
    lg.ingest(str(paths["events"]))
    X.import_csv(lg.con, paths["schedule"])
    keys = ["buyers", "uv", "gmv", "pay_orders", "product_click_uv", "paid_uv", "views"]
    sort = ["slice_id", "user_id"]

    def units():
        return (
            X.slice_units(lg.con, lg.events, "talk_track_v2", keys)
            .to_pandas()
            .sort_values(sort, ignore_index=True)
        )

    assert X._bucket_seconds(X._slices(lg.con, "talk_track_v2").mutate(_from=lambda s: s.start_ts)) == 600
    fast = units()
    monkeypatch.setattr(X, "_bucket_seconds", lambda sl: None)
    plain = units()
    assert len(fast) > 100
    pd.testing.assert_frame_equal(fast[plain.columns], plain, check_dtype=False)
    lg.close()


def test_project_definitions_file_is_used_by_default(tmp_path, monkeypatch, log):
    monkeypatch.chdir(tmp_path)
    assert X.project_definitions() == {}
    (tmp_path / "liveops-experiments.yaml").write_text(
        "experiments:\n  - id: exp1\n    arms: [control, treat]\n    primary: uv_value\n    cuped: false\n"
    )
    d = X.project_definitions()
    r = X.analyze(log.con, log.events, "exp1", definition=d["exp1"])
    assert [m.metric for m in r.metrics] == ["uv_value"] and r.metrics[0].role == "primary"
    assert r.metrics[0].cuped_variance_reduction is None


def test_pooled_z_applies_to_proportions_only(log):
    r = X.analyze(log.con, log.events, "exp1", ["conversion_rate", "uv_value"], cuped=False, test="ztest")
    conv, uvv = r.metrics
    stat, p = proportions_ztest([2, 2], [4, 3])
    assert conv.p_value == pytest.approx(p, abs=1e-9)
    assert uvv.p_value == pytest.approx(st.ttest_ind([120, 0, 0, 40], [100, 0, 30], equal_var=False).pvalue)
