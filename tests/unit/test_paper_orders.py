"""Paper-trade prep (``autotest_lib.paper.orders``): which model, its target weights, and the two order files.

A tiny PPO model on the bundled real prices, registered in a real lineage store (SQLite, then PostgreSQL).
Each rule of :func:`choose_model` has its own test; the registry rows are built by :func:`register`, so a new
rule (a fallback, another status) needs one more call and one more assertion.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from autotest_lib.config import RegimeConfig, load_preset
from autotest_lib.data import load_prices
from autotest_lib.kinds import ModelStatus, PickKind, Role
from autotest_lib.paper import ModelChoice, OrderSet, choose_model, prepare_orders, target_weights
from autotest_lib.paper.orders import hold_or_switch
from autotest_lib.regime import current_regime
from autotest_lib.registry import LineageStore
from autotest_lib.train import TrainSpec, train, verify_bundle

PRESET = load_preset("demo")
WEEK = dt.date(2024, 9, 8)  # a Sunday: the last trading day before it is Friday 2024-09-06
TICKERS = ("AAPL", "JPM", "KO")
REGIME = "bull_high_vol"


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One tiny trained model's bundle (verified on load), shared by the module's tests."""
    spec = TrainSpec(
        model_id="p-explorer-00",
        role=Role.EXPLORER,
        week=WEEK,
        slot=0,
        tickers=TICKERS,
        train_start=dt.date(2022, 1, 3),
        train_end=dt.date(2024, 6, 1),
        cutoff=WEEK,
        timesteps=256,
        seed=5,
        ppo=PRESET.ppo,
        env=PRESET.env,
    )
    return train(spec, tmp_path_factory.mktemp("bundles")).bundle_uri


def register(
    store: LineageStore,
    model_id: str,
    bundle_uri: str | Path,
    *,
    score: float | None,
    by_regime: dict[str, Any] | None = None,
    status: ModelStatus = ModelStatus.ACTIVE,
    week: dt.date = WEEK,
    own_1n: float | None = None,
    tickers: tuple[str, ...] = TICKERS,
) -> None:
    """A model of ``week`` with a bundle at ``bundle_uri`` and a validation evaluation (``score``, ``by_regime``,
    and the Sharpe of 1/N of its own tickers, ``own_1n``)."""
    store.upsert_model(model_id, role=Role.EXPLORER, created_week=week, tickers=list(tickers), hyperparameters={})
    manifest = Path(bundle_uri, "manifest.json")
    sha256 = verify_bundle(bundle_uri).sha256 if manifest.is_file() else "0" * 64  # a pruned bundle has no hash to read
    store.set_model_bundle(model_id, bundle_uri=str(bundle_uri), bundle_sha256=sha256, cumulative_timesteps=256, status=status)
    store.record_evaluation(
        model_id,
        week,
        "validation",
        window_start=week - dt.timedelta(weeks=12),
        window_end=week,
        metrics={},
        score=score,
        by_regime=by_regime,
        benchmarks={"buy_and_hold": {"sharpe": own_1n}} if own_1n is not None else None,
    )


def evidence(days: int, sharpe: float, regime: str = REGIME) -> dict[str, Any]:
    return {regime: {"days": days, "sharpe": sharpe, "total_return": 0.01}}


def copy_bundle(bundle: str, dest: Path) -> Path:
    return Path(shutil.copytree(bundle, dest))


# -- choose_model: its three rules ------------------------------------------------------------------------


def test_regime_rule_picks_the_best_in_the_regime_with_a_bundle(lineage_store: LineageStore, bundle: str, tmp_path: Path) -> None:
    register(lineage_store, "m-champ", bundle, score=3.0, by_regime=evidence(30, 1.0))
    register(lineage_store, "m-best", bundle, score=1.0, by_regime=evidence(30, 2.0))
    register(lineage_store, "m-gone", tmp_path / "pruned", score=0.5, by_regime=evidence(30, 9.0))  # no bundle on disk
    register(lineage_store, "m-failed", bundle, score=0.1, by_regime=evidence(30, 8.0), status=ModelStatus.FAILED)
    lineage_store.set_champion(WEEK, "m-champ", rule="initial")

    choice = choose_model(lineage_store, WEEK, regime=REGIME, min_evidence_days=20)

    assert (choice.model_id, choice.kind, choice.regime, choice.champion_id) == ("m-best", PickKind.REGIME_BEST, REGIME, "m-champ")
    assert REGIME in choice.rule and "2.00" in choice.rule


def test_champion_is_the_fallback_without_enough_evidence_or_regime(lineage_store: LineageStore, bundle: str) -> None:
    register(lineage_store, "m-champ", bundle, score=1.0, by_regime=evidence(10, 1.0))
    register(lineage_store, "m-other", bundle, score=2.0, by_regime=evidence(10, 5.0))
    lineage_store.set_champion(WEEK, "m-champ", rule="initial")

    short = choose_model(lineage_store, WEEK, regime=REGIME, min_evidence_days=20)
    assert (short.model_id, short.kind, short.regime) == ("m-champ", PickKind.CHAMPION_FALLBACK, REGIME)
    assert f"champion of week {WEEK.isoformat()} (initial)" in short.rule and "most: 10" in short.rule
    plain = choose_model(lineage_store, WEEK)
    assert (plain.model_id, plain.kind, plain.regime, plain.champion_id) == ("m-champ", PickKind.CHAMPION_FALLBACK, None, "m-champ")


def test_without_a_champion_this_week_the_leaderboard_best_is_picked(lineage_store: LineageStore, bundle: str) -> None:
    earlier = WEEK - dt.timedelta(weeks=1)
    register(lineage_store, "m-old-champ", bundle, score=9.0, week=earlier)
    lineage_store.set_champion(earlier, "m-old-champ", rule="initial")  # last week's champion does not count
    register(lineage_store, "m-rolled", bundle, score=5.0, status=ModelStatus.ROLLED_BACK)
    register(lineage_store, "m-second", bundle, score=2.0)
    register(lineage_store, "m-third", bundle, score=1.0)

    for regime in (None, REGIME):
        choice = choose_model(lineage_store, WEEK, regime=regime, min_evidence_days=20)
        assert (choice.model_id, choice.kind, choice.champion_id) == ("m-second", PickKind.LEADERBOARD_BEST, None)
        assert "no champion this week" in choice.rule


def test_no_champion_and_no_evaluation_is_a_lookup_error(lineage_store: LineageStore) -> None:
    with pytest.raises(LookupError, match="week 2024-09-08: no champion and no evaluated model"):
        choose_model(lineage_store, WEEK)


# -- target_weights -----------------------------------------------------------------------------------------


# -- hold_or_switch: a switch of tickers must be worth its turnover ------------------------------------------


def test_hold_keeps_the_held_tickers_unless_the_pick_beats_them_by_the_margin(lineage_store: LineageStore, bundle: str) -> None:
    register(lineage_store, "m-new", bundle, score=1.5, tickers=("CAT", "KO", "MSFT"))
    register(lineage_store, "m-kept", bundle, score=1.2)  # exactly the held tickers
    register(lineage_store, "m-kept-worse", bundle, score=0.9)
    register(lineage_store, "m-kept-retired", bundle, score=1.4, status=ModelStatus.RETIRED)
    register(lineage_store, "m-superset", bundle, score=1.45, tickers=(*TICKERS, "CAT"))  # not the same tickers
    pick = ModelChoice("m-new", "best validation score", PickKind.LEADERBOARD_BEST, None, None)
    held = ["KO", "JPM", "AAPL"]

    hold = hold_or_switch(lineage_store, WEEK, pick, held, 0.5)

    assert (hold.model_id, hold.kind, hold.champion_id) == ("m-kept", PickKind.HOLD, None)
    assert "1.20" in hold.rule and "1.50" in hold.rule and "best validation score" in hold.rule
    assert hold_or_switch(lineage_store, WEEK, pick, held, 0.2) is pick  # 0.3 better: worth the switch
    assert hold_or_switch(lineage_store, WEEK, pick, held, 0.0) is pick  # off
    assert hold_or_switch(lineage_store, WEEK, pick, ["AAPL", "JPM"], 0.5) is pick  # nothing trades exactly those
    assert hold_or_switch(lineage_store, WEEK, pick, ["CAT", "KO", "MSFT"], 0.5) is pick  # the pick already holds them


def test_orders_hold_last_weeks_tickers_with_a_switch_margin(lineage_store: LineageStore, bundle: str, tmp_path: Path) -> None:
    register(lineage_store, "m-new", bundle, score=1.5, tickers=("CAT", "KO", "MSFT"))
    register(lineage_store, "m-kept", bundle, score=1.2)
    margin = RegimeConfig(switch_margin=0.5)

    switched = prepare_orders(lineage_store, WEEK, tmp_path / "first", use_regimes=False, regimes=margin)
    held = prepare_orders(lineage_store, WEEK, tmp_path / "held", use_regimes=False, regimes=margin, held_tickers=TICKERS)

    assert (switched.model_id, switched.kind) == ("m-new", PickKind.LEADERBOARD_BEST)  # nothing held yet
    assert (held.model_id, held.kind) == ("m-kept", PickKind.HOLD)
    assert json.loads(held.json_path.read_text())["kind"] == "hold"


def test_target_weights_are_long_only_sum_to_one_with_cash_and_use_the_last_close(bundle: str) -> None:
    weights, cash, closes, as_of = target_weights(bundle, WEEK)

    assert tuple(weights) == TICKERS and tuple(closes) == TICKERS
    assert as_of == "2024-09-06"  # the last trading day strictly before the cutoff
    assert min(weights.values()) >= 0 and cash >= 0
    assert sum(weights.values()) + cash == pytest.approx(1.0, abs=1e-9)
    assert max(weights.values()) <= PRESET.env.max_weight + 1e-9
    prices = load_prices(list(TICKERS), cutoff=WEEK, start=WEEK - dt.timedelta(weeks=2))
    last = prices[prices["date"] == np.datetime64(as_of)].set_index("ticker")["close"]
    assert closes == pytest.approx({t: float(last[t]) for t in TICKERS})
    assert target_weights(bundle, WEEK) == (weights, cash, closes, as_of)  # deterministic


# -- prepare_orders: the files, re-runs ---------------------------------------------------------------------


class RecordingBroker:
    """A broker that keeps what it was sent (the seam a real paper account plugs into)."""

    name = "recording"

    def __init__(self) -> None:
        self.sent: list[OrderSet] = []

    def submit(self, orders: OrderSet) -> dict[str, Any]:
        self.sent.append(orders)
        return {"broker": self.name, "submitted": True, "orders": len(orders.orders)}


def test_orders_csv_and_json_hold_the_weights_the_rule_and_the_broker_reply(
    lineage_store: LineageStore, bundle: str, tmp_path: Path
) -> None:
    register(lineage_store, "m-champ", bundle, score=1.0)
    lineage_store.set_champion(WEEK, "m-champ", rule="initial")
    broker = RecordingBroker()

    result = prepare_orders(lineage_store, WEEK, tmp_path / "paper", broker=broker, use_regimes=False)

    weights, cash, closes, as_of = target_weights(bundle, WEEK)
    assert (result.model_id, result.kind, result.regime, result.as_of) == ("m-champ", PickKind.CHAMPION_FALLBACK, None, as_of)
    assert [(o.ticker, o.target_weight) for o in result.orders] == [(t, round(w, 6)) for t, w in weights.items()]
    assert result.cash_weight == round(cash, 6) and broker.sent == [result]

    data = json.loads(result.json_path.read_text())
    assert data == {**result.as_json(), "broker": {"broker": "recording", "submitted": True, "orders": 3}}
    assert data["orders"][0] == {
        "ticker": "AAPL",
        "target_weight": round(weights["AAPL"], 6),
        "last_close": closes["AAPL"],
        "price_date": as_of,
    }

    with open(result.csv_path, newline="") as fh:
        rows = list(csv.reader(fh))
    assert rows[0] == ["week", "model_id", "ticker", "target_weight", "last_close", "price_date", "regime", "rule"]
    assert [r[2] for r in rows[1:]] == [*TICKERS, "CASH"]
    assert {r[0] for r in rows[1:]} == {WEEK.isoformat()} and {r[7] for r in rows[1:]} == {result.rule}
    assert sum(float(r[3]) for r in rows[1:]) == pytest.approx(1.0, abs=1e-5)
    assert rows[-1][3:6] == [f"{result.cash_weight:.6f}", "", as_of]
    assert [r[4] for r in rows[1:-1]] == [f"{closes[t]:.4f}" for t in TICKERS]
    assert not list(result.csv_path.parent.glob(".*.tmp"))  # atomic writes leave no temporary file


def test_regime_pick_is_written_to_both_files(lineage_store: LineageStore, bundle: str, tmp_path: Path) -> None:
    regime = current_regime(WEEK, RegimeConfig()).regime  # the label of 2024-09-06 on the bundled SPY
    register(lineage_store, "m-best", bundle, score=1.0, by_regime=evidence(30, 2.0, regime))
    register(lineage_store, "m-champ", bundle, score=2.0, by_regime=evidence(30, 1.0, regime))
    lineage_store.set_champion(WEEK, "m-champ", rule="initial")
    assert prepare_orders(lineage_store, WEEK, tmp_path / "plain", use_regimes=False).model_id == "m-champ"

    picked = prepare_orders(lineage_store, WEEK, tmp_path / "regime")

    assert (picked.model_id, picked.kind, picked.regime, picked.champion_id) == ("m-best", PickKind.REGIME_BEST, regime, "m-champ")
    data = json.loads(picked.json_path.read_text())
    assert (data["regime"], data["kind"], data["rule"], data["champion_id"]) == (regime, "regime_best", picked.rule, "m-champ")
    assert data["broker"] == {"broker": "dry-run", "submitted": False, "orders": 3}
    with open(picked.csv_path, newline="") as fh:
        assert {(row["regime"], row["rule"]) for row in csv.DictReader(fh)} == {(regime, picked.rule)}


def test_universe_fallback_is_1n_of_the_universe_only_when_no_model_beats_its_own_1n(
    lineage_store: LineageStore, bundle: str, tmp_path: Path
) -> None:
    register(lineage_store, "m-champ", bundle, score=0.5, own_1n=0.9)
    lineage_store.set_champion(WEEK, "m-champ", rule="initial")
    universe = ["AAPL", "JPM", "KO", "MSFT"]
    fallback = prepare_orders(lineage_store, WEEK, tmp_path / "fallback", use_regimes=False, universe_fallback=universe)
    assert (fallback.model_id, fallback.kind) == (PickKind.UNIVERSE_1N, PickKind.UNIVERSE_1N)
    assert [(o.ticker, o.target_weight) for o in fallback.orders] == [(t, 0.25) for t in universe] and fallback.cash_weight == 0.0
    assert "no model of week 2024-09-08 beats 1/N of its own tickers" in fallback.rule

    register(lineage_store, "m-champ", bundle, score=1.5, own_1n=0.9)  # now it beats its own 1/N
    own = prepare_orders(lineage_store, WEEK, tmp_path / "own", use_regimes=False, universe_fallback=universe)
    assert (own.model_id, own.kind) == ("m-champ", PickKind.CHAMPION_FALLBACK)


def test_rerun_rewrites_the_same_files(lineage_store: LineageStore, bundle: str, tmp_path: Path) -> None:
    register(lineage_store, "m-champ", bundle, score=1.0)
    lineage_store.set_champion(WEEK, "m-champ", rule="initial")
    first = prepare_orders(lineage_store, WEEK, tmp_path, use_regimes=False)
    before = (first.csv_path.read_bytes(), first.json_path.read_bytes())

    again = prepare_orders(lineage_store, WEEK, tmp_path, use_regimes=False)

    assert again == first
    assert (again.csv_path.read_bytes(), again.json_path.read_bytes()) == before


def test_rerun_after_the_bundle_was_pruned_keeps_the_weeks_orders(lineage_store: LineageStore, bundle: str, tmp_path: Path) -> None:
    own = copy_bundle(bundle, tmp_path / "bundle")
    register(lineage_store, "m-champ", own, score=1.0)
    lineage_store.set_champion(WEEK, "m-champ", rule="initial")
    first = prepare_orders(lineage_store, WEEK, tmp_path / "paper", use_regimes=False)
    before = first.json_path.read_bytes()
    shutil.rmtree(own)  # a later week pruned it from the archive

    again = prepare_orders(lineage_store, WEEK, tmp_path / "paper", use_regimes=False)

    assert (again.model_id, again.orders, again.cash_weight, again.rule, again.kind) == (
        first.model_id,
        first.orders,
        first.cash_weight,
        first.rule,
        first.kind,
    )
    assert first.json_path.read_bytes() == before  # nothing rewritten, nothing sent again
    with pytest.raises(
        FileNotFoundError, match=r"m-champ's bundle .* is gone \(pruned from the archive\) and week 2024-09-08 has no orders yet"
    ):
        prepare_orders(lineage_store, WEEK, tmp_path / "elsewhere", use_regimes=False)
