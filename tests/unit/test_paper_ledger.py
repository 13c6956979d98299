"""The paper ledger marks orders with real bundled prices, records gaps, and summarises the forward record."""

from __future__ import annotations

import datetime as dt
import json
import math
from pathlib import Path

import pandas as pd
import pytest

from autotest_lib.config import include_dir
from autotest_lib.errors import DataError
from autotest_lib.paper.ledger import forward_record, mark_week, read_orders, update_ledger, week_returns
from autotest_lib.registry import PaperWeekRecord

UNIVERSE = ("AAPL", "MSFT", "JPM", "KO", "WMT", "V")


def raw_adj_close(ticker: str, day: str) -> float:
    """The bundled file's adjusted close, read without the library."""
    frame = pd.read_csv(include_dir() / "data" / "dow30_spy_2005_2024.csv.gz")
    row = frame[(frame.ticker == ticker) & (frame.date == day)]
    assert len(row) == 1, (ticker, day)
    return float(row.adj_close.iloc[0])


def closes(tickers, start: str, cutoff: str) -> pd.DataFrame:
    from autotest_lib.data import load_prices

    frame = load_prices(list(tickers), cutoff=cutoff, start=start)
    return frame.pivot_table(index="date", columns="ticker", values="adj_close")


def write_orders(runs: Path, week: str, weights: dict[str, float], model_id: str = "m") -> None:
    path = runs / week / "orders" / "orders.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    orders = [{"ticker": t, "target_weight": w, "last_close": 1.0, "price_date": week} for t, w in weights.items()]
    payload = {"week": week, "model_id": model_id, "rule": f"rule of {week}", "cash_weight": 1 - sum(weights.values()), "orders": orders}
    path.write_text(json.dumps(payload))


def test_week_returns_run_from_last_close_before_each_cutoff() -> None:
    # cutoffs Sunday 2024-06-16 and 2024-06-23: Friday 06-14 to Friday 06-21 (06-19 was a holiday)
    returns, first, last = week_returns(closes(["AAPL", "SPY"], "2024-05-01", "2024-07-01"), dt.date(2024, 6, 16), dt.date(2024, 6, 23))
    assert (first, last) == (dt.date(2024, 6, 14), dt.date(2024, 6, 21))
    assert returns["AAPL"] == pytest.approx(raw_adj_close("AAPL", "2024-06-21") / raw_adj_close("AAPL", "2024-06-14") - 1)
    assert returns["SPY"] == pytest.approx(raw_adj_close("SPY", "2024-06-21") / raw_adj_close("SPY", "2024-06-14") - 1)
    with pytest.raises(DataError, match="cannot be marked yet"):
        week_returns(closes(["AAPL"], "2024-05-01", "2024-06-16"), dt.date(2024, 6, 16), dt.date(2024, 6, 23))


def test_mark_week_costs_turnover_and_benchmarks() -> None:
    returns, _, _ = week_returns(closes([*UNIVERSE, "SPY"], "2024-05-01", "2024-07-01"), dt.date(2024, 6, 16), dt.date(2024, 6, 23))
    weights = {"AAPL": 0.5, "MSFT": 0.3}
    mark = mark_week(weights, returns, previous_weights={"AAPL": 0.2, "KO": 0.4}, universe=UNIVERSE, cost_bps=5, slippage_bps=5)
    gross = 0.5 * returns["AAPL"] + 0.3 * returns["MSFT"]
    assert mark.gross_return == pytest.approx(gross)
    assert mark.turnover == pytest.approx(0.3 + 0.3 + 0.4)
    assert mark.net_return == pytest.approx(gross - 10e-4 * 1.0)
    assert mark.exposure == pytest.approx(0.8)
    assert mark.own_1n_return == pytest.approx(0.8 * (returns["AAPL"] + returns["MSFT"]) / 2)
    assert mark.universe_1n_return == pytest.approx(sum(returns[t] for t in UNIVERSE) / len(UNIVERSE))
    assert mark.benchmark_return == pytest.approx(returns["SPY"])
    assert mark.contributions == pytest.approx({"AAPL": 0.5 * returns["AAPL"], "MSFT": 0.3 * returns["MSFT"]})
    first = mark_week(weights, returns, universe=UNIVERSE)  # from cash: the whole exposure is traded
    assert first.turnover == pytest.approx(0.8)
    with pytest.raises(DataError, match="ZZZZ"):
        mark_week({"ZZZZ": 1.0}, returns)


def test_update_ledger_marks_weeks_records_gaps_and_is_idempotent(lineage_store, tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    write_orders(runs, "2024-06-02", {"AAPL": 0.6, "KO": 0.2}, "a")
    write_orders(runs, "2024-06-09", {"AAPL": 0.3, "KO": 0.5}, "b")
    write_orders(runs, "2024-06-23", {"MSFT": 0.9}, "c")  # 2024-06-16 was never run
    kwargs = {"universe": UNIVERSE, "benchmark": "SPY", "cost_bps": 5.0, "slippage_bps": 5.0}

    first = update_ledger(lineage_store, dt.date(2024, 6, 23), runs, **kwargs)
    assert [(r.week.isoformat(), r.status) for r in first] == [("2024-06-02", "marked"), ("2024-06-09", "marked"), ("2024-06-16", "gap")]
    gap = first[2]
    assert "no run for week 2024-06-16" in gap.reason and gap.net_return is None
    # week 2024-06-23 needs prices up to 2024-06-30: not before that cutoff
    assert dt.date(2024, 6, 23) not in {r.week for r in lineage_store.paper_ledger()}

    second = update_ledger(lineage_store, dt.date(2024, 6, 30), runs, **kwargs)
    assert [(r.week.isoformat(), r.status) for r in second] == [("2024-06-16", "gap"), ("2024-06-23", "marked")]
    ledger = lineage_store.paper_ledger()
    assert [r.week.isoformat() for r in ledger] == ["2024-06-02", "2024-06-09", "2024-06-16", "2024-06-23"]
    assert all(isinstance(r, PaperWeekRecord) for r in ledger)
    a, b, _, c = ledger
    aapl = raw_adj_close("AAPL", "2024-06-14") / raw_adj_close("AAPL", "2024-06-07") - 1
    ko = raw_adj_close("KO", "2024-06-14") / raw_adj_close("KO", "2024-06-07") - 1
    assert (b.start_date, b.end_date) == (dt.date(2024, 6, 7), dt.date(2024, 6, 14))
    assert b.gross_return == pytest.approx(0.3 * aapl + 0.5 * ko)
    assert b.turnover == pytest.approx(0.3 + 0.3) and b.net_return == pytest.approx(b.gross_return - 0.0006)
    assert b.own_1n_return == pytest.approx(0.8 * (aapl + ko) / 2)
    assert a.turnover == pytest.approx(0.8) and a.model_id == "a" and a.reason == "rule of 2024-06-02"
    assert c.turnover == pytest.approx(0.9), "after a gap the book starts from cash"
    assert c.contributions.keys() == {"MSFT"}

    assert update_ledger(lineage_store, dt.date(2024, 6, 30), runs, **kwargs)[-1].status == "gap"  # only the gap is looked at again
    assert lineage_store.paper_ledger() == ledger


def _entry(week: str, net: float | None, own: float = 0.0, uni: float = 0.0, spy: float = 0.0) -> PaperWeekRecord:
    marked = net is not None
    return PaperWeekRecord(
        week=dt.date.fromisoformat(week),
        status="marked" if marked else "gap",
        reason="r",
        model_id="m" if marked else None,
        start_date=None,
        end_date=None,
        gross_return=net,
        net_return=net,
        turnover=0.0 if marked else None,
        exposure=1.0 if marked else None,
        own_1n_return=own if marked else None,
        universe_1n_return=uni if marked else None,
        benchmark_return=spy if marked else None,
        weights={},
        contributions={},
    )


def test_forward_record_compounds_counts_beats_and_drawdown() -> None:
    entries = [
        _entry("2024-01-07", 0.02, own=0.01, uni=0.03, spy=0.0),
        _entry("2024-01-14", -0.05, own=-0.01, uni=-0.06, spy=-0.02),
        _entry("2024-01-21", None),
        _entry("2024-01-28", 0.01, own=0.02, uni=0.0, spy=0.0),
    ]
    record = forward_record(list(reversed(entries)))
    assert (record.weeks, record.marked, record.gaps) == (4, 3, 1)
    assert record.cumulative_return == pytest.approx(1.02 * 0.95 * 1.01 - 1)
    assert record.max_drawdown == pytest.approx(-0.05)
    assert record.beats == {"own_1n": 1, "universe_1n": 2, "benchmark": 2}
    assert record.benchmark_cumulative["own_1n"] == pytest.approx(1.01 * 0.99 * 1.02 - 1)
    r = pd.Series([0.02, -0.05, 0.01])
    assert record.sharpe == pytest.approx(r.mean() / r.std() * math.sqrt(52))
    assert record.rows[2]["status"] == "gap" and record.rows[2]["cumulative"] == pytest.approx(1.02 * 0.95 - 1)
    assert record.deflated_sharpe is not None and 0 <= record.deflated_sharpe <= 1
    empty = forward_record([])
    assert (empty.marked, empty.sharpe, empty.cumulative_return) == (0, None, 0.0)


def test_read_orders_names_a_bad_file(tmp_path: Path) -> None:
    bad = tmp_path / "orders.json"
    bad.write_text(json.dumps({"model_id": "x"}))
    with pytest.raises(DataError, match=r"orders\.json"):
        read_orders(bad)


def test_orders_fall_back_to_universe_1n_when_no_model_beats_its_own(lineage_store, tmp_path: Path) -> None:
    from autotest_lib.paper import prepare_orders
    from autotest_lib.paper.orders import UNIVERSE_1N, _nobody_beats_own_1n

    week = dt.date(2024, 6, 16)
    for model_id, score, own in (("m1", 0.4, 0.9), ("m2", 0.8, 1.1)):
        bundle = tmp_path / model_id
        bundle.mkdir()
        (bundle / "manifest.json").write_text("{}")
        lineage_store.upsert_model(
            model_id, role="explorer", created_week=week, tickers=("AAPL", "KO"), hyperparameters={}, bundle_uri=str(bundle)
        )
        window = {"window_start": week - dt.timedelta(weeks=12), "window_end": week}
        benchmarks = {"buy_and_hold": {"sharpe": own}}
        lineage_store.record_evaluation(
            model_id, week, "validation", **window, metrics={"sharpe": score}, benchmarks=benchmarks, score=score, n_trials=2
        )
    orders = prepare_orders(lineage_store, week, tmp_path / "orders", universe_fallback=UNIVERSE)
    assert orders.model_id == UNIVERSE_1N and orders.kind == UNIVERSE_1N
    assert (
        "no model of week 2024-06-16 beats 1/N of its own tickers" in orders.rule
        and "best m2: score 0.8000 vs its own 1/N 1.1" in orders.rule
    )
    assert {o.ticker: o.target_weight for o in orders.orders} == pytest.approx(dict.fromkeys(UNIVERSE, 1 / 6), abs=1e-6)
    written = read_orders(orders.json_path)
    assert written.model_id == UNIVERSE_1N and written.rule == orders.rule
    assert "1/N of the universe" in (tmp_path / "orders" / "orders.csv").read_text()
    window = {"window_start": week - dt.timedelta(weeks=12), "window_end": week}
    lineage_store.record_evaluation(
        "m1", week, "validation", **window, metrics={}, benchmarks={"buy_and_hold": {"sharpe": 0.3}}, score=0.4, n_trials=2
    )
    assert _nobody_beats_own_1n(lineage_store, week) is None  # m1 now beats its own 1/N: the models trade
