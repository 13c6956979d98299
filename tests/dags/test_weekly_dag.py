"""The real weekly DAG, end to end: three consecutive demo weeks under `airflow dags test`, lineage in a
fresh PostgreSQL database, then one week re-run to show it leaves the registry as if it ran once."""

from __future__ import annotations

import csv
import datetime as dt
import json
from pathlib import Path

import pytest

pytestmark = [pytest.mark.airflow, pytest.mark.postgres]

ROOT = Path(__file__).resolve().parents[2]
WEEKS = [dt.date(2024, 8, 25), dt.date(2024, 9, 1), dt.date(2024, 9, 8)]


def _run_week(harness, week: dt.date) -> str:
    return harness.dags_test("autotest_weekly", week, {"preset": "demo"})


def _registry(store) -> tuple:
    """Every row a week can write: models, runs, evaluations, champions, events (promotions, picks, prunes...),
    the paper ledger."""
    return (
        sorted((m.model_id, m.status, m.cumulative_timesteps, m.generation, m.stage, m.bundle_uri) for m in store.list_models()),
        len(store.training_runs()),
        sorted((e.model_id, e.week, e.score, e.metrics.get("dsr")) for e in store.evaluations()),
        [(c.week, c.model_id, c.rule) for c in store.champion_history()],
        [(e.week, e.kind, e.model_id, e.payload.get("to_stage"), e.payload.get("regime")) for e in store.events()],
        [(e.week, e.status, e.model_id, e.net_return, e.reason) for e in store.paper_ledger()],
    )


def _files(home: Path) -> dict[str, int]:
    """The archive and every week's orders and selection, file by file (size), bundles included."""
    paths = [*(home / "archive").rglob("*"), *(home / "runs").glob("*/orders/*"), *(home / "runs").glob("*/selection.json")]
    return {str(p.relative_to(home)): p.stat().st_size for p in paths if p.is_file()}


@pytest.fixture(scope="module")
def pipeline(airflow_harness):
    for week in WEEKS:
        _run_week(airflow_harness, week)
    from autotest_lib.registry import LineageStore

    store = LineageStore(airflow_harness.url)
    yield {"harness": airflow_harness, "home": airflow_harness.home, "url": airflow_harness.url, "store": store}
    store.close()


def test_week_one_trains_explorers_only_and_ships_orders_and_report(pipeline) -> None:
    store, home = pipeline["store"], pipeline["home"]
    week = store.get_week(WEEKS[0])
    assert week is not None and week.status == "done" and week.preset == "demo"
    assert any("first week" in note for note in week.plan["notes"])
    models = store.list_models(week=WEEKS[0])
    assert sorted(m.role for m in models) == ["explorer"] * 3
    assert all(m.generation == 1 and m.parent_id is None for m in models)
    assert all(m.cumulative_timesteps >= 4096 for m in models)
    runs = store.training_runs(week=WEEKS[0])
    assert len(runs) == 3 and all(r.history and "value_loss" in r.history[0] for r in runs)
    evals = store.evaluations(week=WEEKS[0], window="validation")
    assert {e.model_id for e in evals} == {m.model_id for m in models}
    assert all({"sharpe", "max_drawdown", "win_rate", "dsr"} <= e.metrics.keys() for e in evals)
    assert all(e.n_trials == 3 for e in evals)

    out = home / "runs" / WEEKS[0].isoformat()
    with open(out / "orders" / "orders.csv") as fh:
        rows = list(csv.DictReader(fh))
    orders = json.loads((out / "orders" / "orders.json").read_text())
    champion = store.current_champion(before_week=WEEKS[0] + dt.timedelta(days=1))
    assert champion.week == WEEKS[0] and orders["champion_id"] == champion.model_id
    # the regime rule picks one of the week's models, else the champion (see test_orders_name_the_regime_and_the_rule)
    assert orders["model_id"] in {e.model_id for e in evals}
    if orders["kind"] == "champion_fallback":
        assert orders["model_id"] == champion.model_id
    assert sum(float(r["target_weight"]) for r in rows) == pytest.approx(1.0, abs=1e-4)
    assert {r["ticker"] for r in rows} - {"CASH"} == set(store.get_model(orders["model_id"]).tickers)
    assert all(r["price_date"] < WEEKS[0].isoformat() for r in rows)
    html = (out / "report" / "index.html").read_text()
    assert champion.model_id in html and "Leaderboard" in html
    assert "<td>status</td><td>done</td>" in html, "the report shows the week's final status"
    assert "<td>run id</td><td>manual__" in html and "<td>run params</td><td>preset=demo, seed=0, timesteps_scale=1.0</td>" in html
    for r in rows:  # the orders table of the report is the orders file
        ticker = "cash" if r["ticker"] == "CASH" else r["ticker"]
        assert f'<td>{ticker}</td><td class="num">{float(r["target_weight"]):.1%}</td>' in html, ticker
    # the equity, drawdown and rolling-Sharpe charts are interactive, inside the one page
    for chart in ("chart-equity", "chart-drawdown", "chart-rolling-sharpe", "chart-training"):
        assert f'id="{chart}"' in html, chart


def test_lineage_grows_one_generation_per_week(pipeline) -> None:
    store = pipeline["store"]
    week1 = {m.model_id: m for m in store.list_models(week=WEEKS[0])}
    week2 = store.list_models(week=WEEKS[1])
    refiners = [m for m in week2 if m.role == "refiner"]
    assert len(refiners) == 2
    for m in refiners:
        parent = week1[m.parent_id]
        assert m.generation == 2 and m.root_id == parent.model_id
        assert m.cumulative_timesteps == parent.cumulative_timesteps + 2048
        run = store.training_runs(m.model_id)[0]
        assert run.lr_multiplier == 0.5 and run.lr_schedule == "constant" and run.recent_fraction == 0.7
    champ = [m for m in week2 if m.role == "champion"]
    assert len(champ) == 1 and champ[0].parent_id == store.champion_history()[0].model_id
    week3 = store.list_models(week=WEEKS[2])
    assert max(m.generation for m in week3) == 3
    # every evaluated week has a champion row, and each row names the previous champion
    history = store.champion_history()
    assert [c.week for c in history] == WEEKS
    assert [c.previous_model_id for c in history[1:]] == [c.model_id for c in history[:-1]]


def test_curriculum_models_climb_stages_with_promotions_recorded(pipeline) -> None:
    """Demo: round(0.34 x 3) = 1 explorer slot per week is a curriculum slot (the last one); the permissive demo
    rule promotes the week-1 stage-1 model to stage 2 in week 2, and that one to stage 3 in week 3."""
    store = pipeline["store"]
    chain = [store.get_model(f"{week:%Y%m%d}-explorer-02") for week in WEEKS]
    assert [m.stage for m in chain] == [1, 2, 3] and [m.role for m in chain] == ["explorer"] * 3
    assert [m.parent_id for m in chain] == [None, chain[0].model_id, chain[1].model_id]
    assert (
        len(chain[0].tickers) == 1
        and chain[1].tickers[:1] == chain[0].tickers
        and chain[2].tickers[: len(chain[1].tickers)] == chain[1].tickers
    )
    assert 4 <= len(chain[2].tickers) <= 6
    # plain explorers have no stage; continuations stay at their parent's stage
    for m in store.list_models():
        if m.role == "explorer" and not m.model_id.endswith("-02"):
            assert m.stage is None, m
        if m.role in ("refiner", "champion"):
            assert m.stage == store.get_model(m.parent_id).stage, m
    promotions = store.events(kind="promotion")
    assert [(e.week, e.model_id, e.payload["from_stage"], e.payload["to_stage"]) for e in promotions] == [
        (WEEKS[1], chain[1].model_id, 1, 2),
        (WEEKS[2], chain[2].model_id, 2, 3),
    ]
    for e in promotions:
        parent_eval = store.evaluations(e.payload["parent_id"], week=e.payload["evaluated_week"], window="validation")[0]
        assert e.payload["evidence"]["sharpe"] == pytest.approx(parent_eval.metrics["sharpe"])
        assert e.payload["evidence"]["min_sharpe"] == -10.0 and e.payload["evidence"]["beat_buy_and_hold"] is False
    assert any("curriculum: 1 of 3 explorer slots" in n for n in store.get_week(WEEKS[1]).plan["notes"])


def test_every_window_derives_from_the_cutoff_and_is_recorded(pipeline) -> None:
    """Fresh models train on the whole trailing window; continued ones draw 70% of episodes from its recent part."""
    from autotest_lib.config import load_preset
    from autotest_lib.runs import week_windows

    store, preset = pipeline["store"], load_preset("demo")
    for week in WEEKS:
        w = week_windows(week, preset)
        assert store.get_week(week).plan["windows"] == w.as_dict()
        roles = {m.model_id: m.role for m in store.list_models(week=week)}
        runs = store.training_runs(week=week)
        assert len(runs) == len(roles)
        for r in runs:
            assert (r.train_start, r.train_end) == (w.train_start, w.train_end)
            if roles[r.model_id] in ("refiner", "champion"):
                assert (r.recent_start, r.recent_fraction) == (w.recent_start, 0.7)
            else:
                assert (r.recent_start, r.recent_fraction) == (None, 0.0)
        for e in store.evaluations(week=week, window="validation"):
            assert (e.window_start, e.window_end) == (w.validation_start, w.validation_end)


def test_orders_name_the_regime_and_the_rule(pipeline) -> None:
    from autotest_lib.regime import current_regime

    store, home = pipeline["store"], pipeline["home"]
    for i, week in enumerate(WEEKS):
        evals = store.evaluations(week=week, window="validation")
        assert evals and all(e.by_regime and sum(r["days"] for r in e.by_regime.values()) == e.metrics["n_days"] for e in evals)
        out = home / "runs" / week.isoformat()
        orders = json.loads((out / "orders" / "orders.json").read_text())
        regime = current_regime(week).regime
        assert orders["regime"] == regime and regime in orders["rule"]
        assert orders["kind"] in ("regime_best", "champion_fallback") and orders["rule"]
        with open(out / "orders" / "orders.csv") as fh:
            rows = list(csv.DictReader(fh))
        assert {(r["regime"], r["rule"], r["model_id"]) for r in rows} == {(regime, orders["rule"], orders["model_id"])}
        pick = store.events(kind="paper_pick", week=week)
        assert [(e.model_id, e.payload["regime"], e.payload["rule"]) for e in pick] == [(orders["model_id"], regime, orders["rule"])]
        if i:  # last week's pick and champion were measured on the week they traded
            previous = json.loads((home / "runs" / WEEKS[i - 1].isoformat() / "orders" / "orders.json").read_text())
            assert {previous["model_id"], previous["champion_id"]} <= {e.model_id for e in evals}
    html = (home / "runs" / WEEKS[-1].isoformat() / "report" / "index.html").read_text()
    assert 'id="regimes"' in html and "regimes.png" in html and "Regime switching vs always the champion" in html
    assert (home / "runs" / WEEKS[-1].isoformat() / "report" / "regimes.png").is_file()
    assert "Over 2 realised week(s)" in html


def test_rerunning_a_week_leaves_the_registry_as_if_it_ran_once(pipeline) -> None:
    store, home = pipeline["store"], pipeline["home"]
    before = _registry(store), _files(home)
    _run_week(pipeline["harness"], WEEKS[2])
    assert (_registry(store), _files(home)) == before


def test_each_week_marks_the_previous_weeks_orders(pipeline) -> None:
    """mark_paper_ledger of weeks 2 and 3 marked weeks 1 and 2's orders; week 3's waits for the week after it."""
    store, home = pipeline["store"], pipeline["home"]
    ledger = store.paper_ledger()
    assert [(e.week, e.status) for e in ledger] == [(WEEKS[0], "marked"), (WEEKS[1], "marked")]
    for entry in ledger:
        orders = json.loads((home / "runs" / entry.week.isoformat() / "orders" / "orders.json").read_text())
        assert entry.model_id == orders["model_id"] and entry.reason == orders["rule"]
        assert entry.start_date < entry.week <= entry.end_date + dt.timedelta(days=7) and entry.end_date < entry.week + dt.timedelta(days=7)
        assert entry.net_return == pytest.approx(entry.gross_return - 10e-4 * entry.turnover)
    html = (home / "runs" / WEEKS[2].isoformat() / "report" / "index.html").read_text()
    assert 'id="forward"' in html and "beat own 1/N" in html


def test_rerunning_an_earlier_week_after_later_ones_replays_it(pipeline) -> None:
    """Issue 15 item 6: week 1 re-run after weeks 2 and 3 keeps its rows, its one paper pick and its orders."""
    store, home = pipeline["store"], pipeline["home"]
    orders = (home / "runs" / WEEKS[0].isoformat() / "orders" / "orders.csv").read_text()
    before = _registry(store), _files(home)
    out = _run_week(pipeline["harness"], WEEKS[0])
    assert "replays its recorded selection and orders" in out and "keeping that selection" in out
    assert (_registry(store), _files(home)) == before
    assert (home / "runs" / WEEKS[0].isoformat() / "orders" / "orders.csv").read_text() == orders
    assert len(store.events(kind="paper_pick", week=WEEKS[0])) == 1
    assert [e.week for e in store.events(kind="selection")] == WEEKS


BAD_WEEK = dt.date(2024, 9, 15)


def test_a_failed_week_prunes_nothing_and_writes_no_champion_or_orders(pipeline) -> None:
    """Issue 15 item 2's repro: after three demo weeks, 09-15 with an unknown ticker fails in ingest_prices,
    once (a permanent error: no retries), and leaves the archive, champion, curriculum and orders untouched."""
    harness, store, home = pipeline["harness"], pipeline["store"], pipeline["home"]
    before = _registry(store), _files(home)
    tickers = ["AAPL", "MSFT", "JPM", "KO", "WMT", "ZZZZ"]
    out, state = harness.dags_run("autotest_weekly", BAD_WEEK, {"preset": "demo", "tickers": tickers})
    assert state == "failed"
    assert (_registry(store), _files(home)) == before
    assert store.get_week(BAD_WEEK) is None and not (home / "runs" / BAD_WEEK.isoformat() / "orders").exists()
    states = harness.task_states("autotest_weekly", out)
    assert [t for t, s in states.items() if "failed" in s] == ["ingest_prices"]  # one cause, one red task
    assert "up_for_retry" not in out and "unknown ticker(s) ['ZZZZ']" in out and "permanent: not retried" in out
    for task in ("plan_week", "collect_candidates", "select_models", "prepare_paper_trades", "write_report"):
        assert states[task] == ["upstream_failed"], (task, states[task])
    assert states["trainings_done"] == states["backtests_done"] == ["skipped"]
    assert states["mark_paper_ledger"] == ["upstream_failed"]  # no prices this week: last week stays unmarked


def test_the_week_after_a_failed_one_plans_as_if_it_never_ran(pipeline) -> None:
    """The next good run of 09-15 still refines two models and promotes the curriculum model (the failed run
    had cost one refiner and the promotion), and prunes only as a complete week does."""
    store = pipeline["store"]
    _run_week(pipeline["harness"], BAD_WEEK)
    models = store.list_models(week=BAD_WEEK)
    assert len([m for m in models if m.role == "refiner"]) == 2 and len([m for m in models if m.role == "champion"]) == 1
    assert [e.payload["to_stage"] for e in store.events(kind="promotion", week=BAD_WEEK)] == [4]
    selection = store.events(kind="selection", week=BAD_WEEK)[0].payload
    assert selection["complete"] and selection["training"] == "all 6 planned trainings finished"
    # its prices mark the last good week's orders, which the failed run had left unmarked
    assert [(e.week, e.status) for e in store.paper_ledger()] == [(w, "marked") for w in WEEKS]


def test_what_the_form_cannot_check_fails_one_task_once_and_changes_nothing(pipeline) -> None:
    """Issue 15 item 5 and issue 10 items 3-4: an unknown param key fails start_week; a week the data does not
    cover (the bundled prices end 2024-09-12) fails ingest_prices: each once, fast, one red task, no writes."""
    harness, store, home = pipeline["harness"], pipeline["store"], pipeline["home"]
    before = _registry(store), _files(home)
    cases = (
        (dt.date(2024, 9, 22), {"preset": "demo", "timestep_scale": 0.5}, "start_week", "(did you mean 'timesteps_scale'?)"),
        (dt.date(2024, 10, 6), {"preset": "demo"}, "ingest_prices", "(24 days old, over 10): source 'bundled' does not cover this week"),
    )
    for week, conf, task, message in cases:
        out, state = harness.dags_run("autotest_weekly", week, conf)
        states = harness.task_states("autotest_weekly", out)
        assert state == "failed" and [t for t, s in states.items() if "failed" in s] == [task], states
        assert message in out and "up_for_retry" not in out
        assert states["write_report"] == ["upstream_failed"] and store.get_week(week) is None
    assert (_registry(store), _files(home)) == before
