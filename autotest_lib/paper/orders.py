"""Paper-trade prep: the orders for the coming week from the selected model, given data up to the cutoff.

**Which model** (:func:`choose_model`): the coming week's market regime is the label of the last trading day
before the cutoff (:func:`~autotest_lib.regime.current_regime`); the model is the best of this week's
evaluated models in that regime with enough days of evidence (:func:`~autotest_lib.regime.choose_by_regime`),
else this week's champion, else the best validation score of the week. The orders carry the regime and the
rule that fired (``regime``, ``rule``, ``kind``, ``champion_id`` in ``orders.json``; ``regime`` and ``rule``
columns in ``orders.csv``).

The selected model is run deterministically over the weeks before the cutoff so that its holdings are
what it would hold now; its decision on the last trading day before the cutoff gives the target weights.
Nothing talks to a broker here: :class:`BrokerAdapter` is the seam where one plugs in later, and
:class:`DryRunBroker` (the default) only reports what it would send.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import math
import os
from collections.abc import Collection, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from autotest_lib.config import RegimeConfig
from autotest_lib.data import load_market, load_prices
from autotest_lib.env.simulator import PortfolioBook, market_tables
from autotest_lib.errors import DataError, is_permanent
from autotest_lib.evaluate.own_1n import beats_own_1n, own_1n_score
from autotest_lib.kinds import ModelStatus, PickKind
from autotest_lib.regime import RULE_REGIME, choose_by_regime, current_regime
from autotest_lib.train import TrainSpec, load_model, verify_bundle

if TYPE_CHECKING:
    from autotest_lib.registry.store import LineageStore

__all__ = [
    "BrokerAdapter",
    "DryRunBroker",
    "ModelChoice",
    "Order",
    "OrderSet",
    "choose_model",
    "hold_or_switch",
    "prepare_orders",
    "target_weights",
]


@dataclass(frozen=True)
class Order:
    """Target weight of one ticker for the coming week, and the last price it was computed from."""

    ticker: str
    target_weight: float
    last_close: float
    price_date: str


@dataclass(frozen=True)
class ModelChoice:
    """The model to paper-trade and why.

    :param model_id: the chosen model.
    :param rule: one sentence naming the rule that picked it and its evidence.
    :param kind: ``regime_best``, ``champion_fallback``, ``leaderboard_best`` or ``hold``.
    :param regime: the coming week's regime (None when regimes were not used).
    :param champion_id: this week's champion, the fallback (None when there is none).
    """

    model_id: str
    rule: str
    kind: PickKind
    regime: str | None
    champion_id: str | None


@dataclass(frozen=True)
class OrderSet:
    week: str
    model_id: str
    rule: str
    as_of: str
    cash_weight: float
    orders: tuple[Order, ...]
    csv_path: Path
    json_path: Path
    regime: str | None = None
    kind: PickKind = PickKind.CHAMPION_FALLBACK
    champion_id: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "week": self.week,
            "model_id": self.model_id,
            "regime": self.regime,
            "rule": self.rule,
            "kind": self.kind,
            "champion_id": self.champion_id,
            "as_of": self.as_of,
            "cash_weight": self.cash_weight,
            "orders": [asdict(o) for o in self.orders],
        }


class BrokerAdapter(Protocol):
    """Where orders go. Implement ``submit`` for a real (paper) broker account."""

    name: str

    def submit(self, orders: OrderSet) -> dict[str, Any]: ...


class DryRunBroker:
    """Sends nothing; returns what would have been sent."""

    name = "dry-run"

    def submit(self, orders: OrderSet) -> dict[str, Any]:
        return {"broker": self.name, "submitted": False, "orders": len(orders.orders)}


_EXCLUDED = (ModelStatus.ROLLED_BACK, ModelStatus.FAILED, ModelStatus.RETIRED)


def _has_bundle(model: Any) -> bool:
    return bool(model is not None and model.bundle_uri and Path(model.bundle_uri, "manifest.json").is_file())


def choose_model(store: LineageStore, week: dt.date, *, regime: str | None = None, min_evidence_days: int = 20) -> ModelChoice:
    """The model to paper-trade next week, and the rule that picked it.

    1. with a ``regime``: :func:`~autotest_lib.regime.choose_by_regime` over this week's validation evaluations
       of the models whose bundle is still there (not rolled back, failed or retired);
    2. else, or when that rule finds no model with enough evidence: this week's champion;
    3. else the best validation score on the week's leaderboard.

    :param store: the lineage store.
    :param week: the week's cutoff.
    :param regime: the coming week's regime (:func:`~autotest_lib.regime.current_regime`); None skips step 1.
    :param min_evidence_days: days of that regime a model's evaluation needs.
    :raises LookupError: no champion and no evaluated model.
    """
    champ = store.current_champion(before_week=week + dt.timedelta(days=1))
    champion_id = champ.model_id if champ is not None and champ.week == week else None
    fallback_rule = f"champion of week {week.isoformat()} ({champ.rule})" if champ is not None and champion_id else None
    if regime is not None:
        evaluated = {}
        for e in store.evaluations(week=week, window="validation"):
            model = store.get_model(e.model_id)
            if model is not None and model.status not in _EXCLUDED and _has_bundle(model):
                evaluated[e.model_id] = e.by_regime
        pick = choose_by_regime(regime, evaluated, champion_id=champion_id, min_evidence_days=min_evidence_days)
        if pick.kind == RULE_REGIME and pick.model_id is not None:
            return ModelChoice(pick.model_id, pick.rule, pick.kind, regime, champion_id)
        if champion_id is not None:
            return ModelChoice(champion_id, f"{pick.rule} ({fallback_rule})", PickKind.CHAMPION_FALLBACK, regime, champion_id)
    elif champion_id is not None:
        return ModelChoice(champion_id, str(fallback_rule), PickKind.CHAMPION_FALLBACK, None, champion_id)
    board = [row for row in store.leaderboard(week) if row.status not in _EXCLUDED]
    if board:
        rule = "no champion this week: best validation score on the week's leaderboard"
        return ModelChoice(board[0].model_id, rule, PickKind.LEADERBOARD_BEST, regime, None)
    raise LookupError(f"week {week.isoformat()}: no champion and no evaluated model; nothing to paper-trade")


def target_weights(
    bundle_uri: str, cutoff: dt.date, *, source: str | None = None, lookback_weeks: int = 8, expected_sha256: str | None = None
) -> tuple[dict[str, float], float, dict[str, float], str]:
    """Target weights for the coming week: ``(weights by ticker, cash weight, last close by ticker, as-of date)``.

    :param bundle_uri: the selected model's bundle (verified before loading).
    :param cutoff: the week's cutoff; the decision uses the last trading day strictly before it.
    :param source: price source (default: the one the model was trained on).
    :param lookback_weeks: weeks replayed before the decision to reach the model's current holdings.
    :param expected_sha256: the registry's hash of the bundle; another bundle is refused.
    """
    bundle = verify_bundle(bundle_uri, expected_sha256)
    spec = TrainSpec.model_validate(bundle.manifest["spec"])
    start = cutoff - dt.timedelta(weeks=lookback_weeks)
    market = load_market(
        list(spec.tickers), start=start, cutoff=cutoff, feature_set=spec.env.feature_set, source=source or spec.data_source
    )
    model = load_model(bundle)
    tables = market_tables(market, spec.env.max_tickers)
    book = PortfolioBook(tables, spec.env, 1)
    last = tables.n_days - 1
    book.begin(0, 0, last, truncates=False)
    for _ in range(last):  # replay: holdings drift and rebalance as they would have
        action, _ = model.predict(book.observe(0), deterministic=True)
        book.step(np.asarray(action, dtype=np.float64)[None, :])
    book.t[0] = last
    action, _ = model.predict(book.observe(0), deterministic=True)
    w = book.target_weights(np.asarray(action, dtype=np.float64)[None, :], np.array([last]))[0]
    weights = {ticker: float(w[i]) for i, ticker in enumerate(market.tickers)}
    closes = {ticker: float(market.close[last, i]) for i, ticker in enumerate(market.tickers)}
    return weights, float(w[-1]), closes, str(market.dates[last])


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def _existing(out_dir: Path, week: dt.date, model_id: str) -> OrderSet | None:
    path = out_dir / "orders.json"
    if not path.is_file():
        return None
    data = json.loads(path.read_text())
    if data.get("week") != week.isoformat() or data.get("model_id") != model_id:
        return None
    orders = tuple(Order(**o) for o in data["orders"])
    return OrderSet(
        week=data["week"],
        model_id=model_id,
        rule=data.get("rule", data.get("reason", "")),
        as_of=data["as_of"],
        cash_weight=data["cash_weight"],
        orders=orders,
        csv_path=out_dir / "orders.csv",
        json_path=path,
        regime=data.get("regime"),
        kind=PickKind(data.get("kind", PickKind.CHAMPION_FALLBACK)),
        champion_id=data.get("champion_id"),
    )


def hold_or_switch(store: LineageStore, week: dt.date, choice: ModelChoice, held_tickers: Collection[str], margin: float) -> ModelChoice:
    """Keep the tickers the account holds unless the pick is clearly better: switching costs a full turnover.

    When the pick trades other tickers than ``held_tickers`` (last week's orders), the best of this week's
    validated models on exactly those tickers (a refined child of last week's model, say) is kept instead,
    unless the pick's validation score (net Sharpe) beats it by more than ``margin``.

    :param store: the lineage store.
    :param week: the week's cutoff.
    :param choice: what :func:`choose_model` picked.
    :param held_tickers: the tickers the account holds going into the week (weight > 0 in last week's orders).
    :param margin: the score margin a switch must clear; 0 = always take the pick.
    """
    held = frozenset(held_tickers)
    picked = store.get_model(choice.model_id)
    if margin <= 0 or not held or picked is None or frozenset(picked.tickers) == held:
        return choice
    scores = {
        e.model_id: float(e.score)
        for e in store.evaluations(week=week, window="validation")
        if e.score is not None and math.isfinite(e.score)
    }
    pick_score = scores.get(choice.model_id)
    same = []
    for model_id, value in scores.items():
        model = store.get_model(model_id)
        if model is not None and frozenset(model.tickers) == held and model.status not in _EXCLUDED and _has_bundle(model):
            same.append((value, model_id))
    if pick_score is None or not same:
        return choice
    held_score, held_id = min(same, key=lambda e: (-e[0], e[1]))
    if pick_score - held_score > margin:
        return choice
    rule = (
        f"hold: {held_id} trades the tickers the account holds (validation score {held_score:.2f}); the pick "
        f"{choice.model_id} scores {pick_score:.2f}, not more than the switch margin {margin:g} better, so a full "
        f"turnover into its tickers is not paid for (the pick's rule: {choice.rule})"
    )
    return ModelChoice(held_id, rule, PickKind.HOLD, choice.regime, choice.champion_id)


def prepare_orders(
    store: LineageStore,
    week: dt.date,
    out_dir: Path,
    *,
    source: str | None = None,
    broker: BrokerAdapter | None = None,
    regimes: RegimeConfig | None = None,
    benchmark: str = "SPY",
    use_regimes: bool = True,
    universe_fallback: Sequence[str] | None = None,
    held_tickers: Collection[str] | None = None,
) -> OrderSet:
    """Choose the model, compute its target weights, write ``orders.csv`` and ``orders.json`` in ``out_dir``.

    Re-running rewrites the same files (atomically); the broker adapter is then called once.

    :param store: the lineage store.
    :param week: the week's cutoff; prices strictly before it are used.
    :param out_dir: where the two files go.
    :param source: price source (default: the model's).
    :param broker: where the orders go (default :class:`DryRunBroker`).
    :param regimes: regime windows and evidence threshold (default :class:`~autotest_lib.config.RegimeConfig`).
    :param benchmark: the index the regime is detected on.
    :param use_regimes: False skips the regime rule (champion, else best score).
    :param universe_fallback: the universe; when given and no model of the week beats 1/N of its own tickers on
        validation, the orders are 1/N of these tickers instead (kind ``universe_1n``, the rule says why).
    :param held_tickers: the tickers last week's orders hold; with ``regimes.switch_margin`` > 0 the pick is
        weighed against keeping them (:func:`hold_or_switch`).
    """
    if universe_fallback is not None:
        reason = _nobody_beats_own_1n(store, week)
        if reason is not None:
            return _universe_orders(week, out_dir, list(universe_fallback), reason, source or "bundled", broker)
    regime = None
    cfg = regimes or RegimeConfig()
    if use_regimes:
        regime = current_regime(week, cfg, benchmark=benchmark, source=source or "bundled").regime
    choice = choose_model(store, week, regime=regime, min_evidence_days=cfg.min_evidence_days)
    if held_tickers:
        choice = hold_or_switch(store, week, choice, held_tickers, cfg.switch_margin)
    model_id = choice.model_id
    model = store.get_model(model_id)
    bundle_uri = model.bundle_uri if model is not None else None
    if model is None or bundle_uri is None or not _has_bundle(model):
        previous = _existing(out_dir, week, model_id)
        if previous is not None:
            return previous  # a re-run of a past week whose model a later week pruned: its orders stand
        raise FileNotFoundError(f"{model_id}'s bundle {bundle_uri} is gone (pruned from the archive) and week {week} has no orders yet")
    weights, cash, closes, as_of = target_weights(bundle_uri, week, source=source, expected_sha256=model.bundle_sha256)
    out_dir.mkdir(parents=True, exist_ok=True)
    orders = tuple(Order(t, round(w, 6), closes[t], as_of) for t, w in weights.items())
    result = OrderSet(
        week=week.isoformat(),
        model_id=model_id,
        rule=choice.rule,
        as_of=as_of,
        cash_weight=round(cash, 6),
        orders=orders,
        csv_path=out_dir / "orders.csv",
        json_path=out_dir / "orders.json",
        regime=choice.regime,
        kind=choice.kind,
        champion_id=choice.champion_id,
    )
    _write(result, broker)
    return result


def _write(result: OrderSet, broker: BrokerAdapter | None) -> None:
    """Write ``orders.csv`` and ``orders.json`` (atomically), then hand the orders to the broker."""
    model_id, orders = result.model_id, result.orders
    regime_cell = result.regime or ""
    rows = [["week", "model_id", "ticker", "target_weight", "last_close", "price_date", "regime", "rule"]]
    rows += [
        [result.week, model_id, o.ticker, f"{o.target_weight:.6f}", f"{o.last_close:.4f}", o.price_date, regime_cell, result.rule]
        for o in orders
    ]
    rows.append([result.week, model_id, "CASH", f"{result.cash_weight:.6f}", "", result.as_of, regime_cell, result.rule])
    tmp = result.csv_path.with_name(".orders.csv.tmp")
    with open(tmp, "w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    os.replace(tmp, result.csv_path)
    payload = result.as_json()
    payload["broker"] = (broker or DryRunBroker()).submit(result)
    _atomic_write(result.json_path, json.dumps(payload, indent=2))


UNIVERSE_1N = PickKind.UNIVERSE_1N
"""Kind (and model id) of orders that hold 1/N of the universe because no model beat its own 1/N."""


def _nobody_beats_own_1n(store: LineageStore, week: dt.date) -> str | None:
    """Why the week falls back to 1/N of the universe, or None when some usable model beats its own 1/N."""

    best = None
    for e in store.evaluations(week=week, window="validation"):
        model = store.get_model(e.model_id)
        if model is None or model.status in _EXCLUDED or not _has_bundle(model):
            continue
        own = own_1n_score(e.benchmarks)
        if beats_own_1n(e.score, own):
            return None
        if e.score is not None and (best is None or e.score > best[1]):
            best = (e.model_id, e.score, own)
    detail = f" (best {best[0]}: score {best[1]:.4f} vs its own 1/N {best[2] if best[2] is None else round(best[2], 4)})" if best else ""
    return f"no model of week {week.isoformat()} beats 1/N of its own tickers on validation{detail}: 1/N of the universe"


def _universe_orders(week: dt.date, out_dir: Path, universe: list[str], rule: str, source: str, broker: BrokerAdapter | None) -> OrderSet:
    """Equal weights over the universe tickers with a close in the last two weeks before the cutoff."""

    closes: dict[str, tuple[float, str]] = {}
    for ticker in universe:
        try:
            frame = load_prices([ticker], cutoff=week, start=week - dt.timedelta(days=14), source=source)
        except DataError as exc:
            if not is_permanent(exc):
                raise  # the source did not answer: the task's retry may get it
            continue  # not listed (yet): left out of the 1/N
        last = frame.iloc[-1]
        closes[ticker] = (float(last["close"]), last["date"].date().isoformat())
    if not closes:
        raise LookupError(f"week {week.isoformat()}: no universe ticker has a price in the two weeks before the cutoff; nothing to trade")
    weight = round(1.0 / len(closes), 6)
    orders = tuple(Order(t, weight, c, d) for t, (c, d) in closes.items())
    out_dir.mkdir(parents=True, exist_ok=True)
    result = OrderSet(
        week=week.isoformat(),
        model_id=UNIVERSE_1N,
        rule=rule,
        as_of=max(d for _, d in closes.values()),
        cash_weight=round(1.0 - weight * len(closes), 6),
        orders=orders,
        csv_path=out_dir / "orders.csv",
        json_path=out_dir / "orders.json",
        kind=UNIVERSE_1N,
    )
    _write(result, broker)
    return result
