"""The functions the ``autotest_pbt`` DAG's tasks call: each takes small JSON, does one step, returns small JSON.

The :class:`~autotest_lib.pbt.PBTRun` made by :func:`start` travels to every task as XCom: its week (cutoff,
preset name, seed, windows, home), the population, and the rounds this run performs (``first_round`` ..
``first_round + rounds - 1``).
Every function is idempotent: a retried or re-run task leaves the registry and the files as if it ran once,
and a run that died part-way, run again, skips the rounds already recorded and resumes in the round it
reached (a member killed mid-training resumes from its latest checkpoint).

Files, under ``$AUTOTEST_HOME`` (default ``./var``; paths from :class:`~autotest_lib.runs.WeekPaths`)::

    runs/<cutoff>/models/<model_id>/          the member version's training folder; its bundle is the one
                                              the registry names (the weekly archive may move or prune it)
    runs/<cutoff>/backtests/<model_id>.csv    its daily validation series (as the weekly backtests)
    pbt/<population>/members/<model_id>/      PBT's own copy of the latest versions' bundles, the parents
                                              of the next round (no registry row points here, so the
                                              weekly archive never prunes it)
    runs/<cutoff>/pbt/<population>/           the run's summary.json and report (index.html, pbt.png)
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from autotest_lib.config import Preset, RoleBudget, load_preset, run_preset
from autotest_lib.errors import ConfigError
from autotest_lib.pbt.exploit import next_generation
from autotest_lib.pbt.population import (
    EXPLOIT_EVENT,
    ROUND_EVENT,
    MemberPlan,
    RoundPlan,
    advance_plan,
    check_population_name,
    exploit_records,
    initial_plan,
    parse_member_id,
    plan_for_round,
    population_key,
    round_events,
    round_records,
    round_summary,
    rounds_before,
)
from autotest_lib.pbt.rounds import ExploitRecord, MemberResult, RoundRecord
from autotest_lib.pbt.run import DEFAULT_POPULATION, PBTRun
from autotest_lib.registry import LineageStore, ModelStatus, Role
from autotest_lib.report.pbt import write_pbt_report
from autotest_lib.runs import WeekContext, autotest_home, run_cutoff, week_windows
from autotest_lib.runs.records import record_training, record_validation, universe_with_history
from autotest_lib.runs.store import open_store
from autotest_lib.train import TrainSpec, build_spec, train, verify_bundle

__all__ = [
    "evaluate_member",
    "evaluate_round",
    "exploit",
    "finish",
    "member_spec",
    "round_members",
    "start",
    "train_member",
]

log = logging.getLogger(__name__)


def _population_tickers(preset: Preset, train_end: dt.date) -> list[str]:
    """Universe tickers with a year of prices before training ends, at most ``env.max_tickers`` of them."""
    tickers = universe_with_history(preset, train_end)
    if not tickers:
        raise ConfigError(f"no ticker of the universe has a year of prices before {train_end}; pick a later week")
    return tickers[: preset.env.max_tickers]


def start(
    params: dict[str, Any], data_interval_end: dt.datetime | None, *, max_rounds: int, today: dt.date | None = None
) -> dict[str, Any]:
    """Fix the run: cutoff (the data-interval end), preset, population, and the rounds it performs.

    A new population gets its genesis event here (round 1's plan: sampled hyperparameters, tickers). An
    existing one continues: this run's first round is one past the last round recorded in an earlier week.

    :param params: the DAG run's params (preset, seed, rounds, population).
    :param data_interval_end: the run's data-interval end; None for a manual run without a logical date.
    :param max_rounds: the round groups the DAG file unrolls; more rounds per run is an error.
    :param today: for manual runs without a logical date (tests).
    :returns: the :class:`~autotest_lib.pbt.PBTRun` as XCom.
    """
    cutoff = run_cutoff(data_interval_end, today=today)
    population = check_population_name(params.get("population") or DEFAULT_POPULATION)
    base = load_preset(params.get("preset", "demo"))
    seed = int(params["seed"]) if params.get("seed") is not None else base.seed
    preset = run_preset(base.name, seed=seed)
    rounds = int(params.get("rounds") or preset.pbt.rounds_per_run)
    if not 1 <= rounds <= max_rounds:
        raise ConfigError(f"rounds={rounds}: this DAG performs 1 to {max_rounds} rounds per run (MAX_ROUNDS in dags/autotest_pbt.py)")
    week = WeekContext(cutoff=cutoff, preset=base.name, windows=week_windows(cutoff, preset), home=autotest_home(), seed=seed)

    store = open_store()
    events = round_events(store, population)
    if not events:
        tickers = _population_tickers(preset, week.windows.train_end)
        plan = initial_plan(population, preset, tickers, seed)
        genesis = RoundRecord(population, 0, plan, preset=preset.name, pbt=preset.pbt.model_dump(mode="json"))
        store.record_event(cutoff, ROUND_EVENT, model_id=population_key(population), round=0, payload=genesis.to_payload())
        log.info("new population %r: %d members on %s", population, len(plan.members), ", ".join(tickers))
    first = rounds_before(store, population, cutoff) + 1
    plan = plan_for_round(store, population, first)
    if len(plan.members) != preset.pbt.population:
        raise ConfigError(
            f"population {population!r} has {len(plan.members)} members but preset {preset.name!r} says pbt.population="
            f"{preset.pbt.population}; keep the size, or start a new population with the 'population' param"
        )
    run = PBTRun(week=week, population=population, rounds=rounds, first_round=first, tickers=tuple(plan.tickers))
    week.paths.run_dir.mkdir(parents=True, exist_ok=True)
    log.info("population %r, week %s: rounds %d..%d", population, cutoff, first, run.last_round)
    return run.to_xcom()


def round_members(run: dict[str, Any], index: int) -> list[str] | None:
    """Model ids the run's ``index``-th round trains (from the previous round's plan); None beyond the run."""
    k = PBTRun.from_xcom(run).round_number(index)
    if k is None:
        return None
    return plan_for_round(open_store(), run["population"], k).ids()


def _round_done(store: LineageStore, run: PBTRun, k: int) -> bool:
    """Whether round ``k`` of the run's population is recorded as complete."""
    return any(e.round == k for e in round_events(store, run.population))


def _private_copy(src: Path, dest: Path) -> None:
    """Copy a bundle folder to ``dest`` atomically (temporary name, then rename); keep an existing copy."""
    if (dest / "manifest.json").is_file():
        return
    tmp = dest.parent / f".{dest.name}.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(src, tmp)
    shutil.rmtree(dest, ignore_errors=True)
    tmp.rename(dest)


def _parent_bundle(run: PBTRun, store: LineageStore, parent_id: str) -> str:
    """PBT's own copy of the parent's bundle; falls back to the registry's bundle (e.g. after a manual cleanup)."""
    own = run.member_store / parent_id
    if (own / "manifest.json").is_file():
        return str(verify_bundle(own).path)
    model = store.get_model(parent_id)
    for candidate in (model.bundle_uri if model else None, str(run.week.paths.archive / parent_id)):
        if candidate and (Path(candidate) / "manifest.json").is_file():
            _private_copy(Path(candidate), own)
            return str(own)
    raise FileNotFoundError(
        f"the bundle of PBT parent {parent_id} is gone (not in {own}, the registry or the archive); the population cannot continue"
    )


def member_spec(
    week: WeekContext, preset: Preset, plan: RoundPlan, member: MemberPlan, parent_bundle: str | None, parent_sha256: str | None = None
) -> TrainSpec:
    """The :class:`~autotest_lib.train.TrainSpec` of one member version: ``pbt.interval_steps`` more steps on the
    week's training window, at the member's own hyperparameters with a constant learning rate (in PBT the rate
    changes by exploit/explore, not by decay), continuing ``parent_bundle`` when the member has a parent.

    :param week: the run's week (cutoff, windows).
    :param preset: the run's preset.
    :param plan: the round's plan (population tickers).
    :param member: the member's plan.
    :param parent_bundle: path of the parent's bundle (the winner's, after an exploit); None in round 1.
    :param parent_sha256: the registry's hash of the parent's bundle; the trainer refuses another bundle.
    """
    w = week.windows
    budget = RoleBudget(count=preset.pbt.population, timesteps=preset.pbt.interval_steps, lr_schedule="constant", lr_multiplier=1.0)
    return build_spec(
        preset,
        budget,
        model_id=member.model_id,
        role=Role.PBT,
        week=week.cutoff,
        slot=member.slot,
        seed=member.seed,
        tickers=plan.tickers,
        ppo=member.hyperparameters,
        train_start=w.train_start,
        train_end=w.train_end,
        cutoff=w.cutoff,
        parent_id=member.parent_id if parent_bundle else None,
        parent_bundle=parent_bundle,
        parent_sha256=parent_sha256 if parent_bundle else None,
    )


def train_member(xcom: dict[str, Any], model_id: str) -> dict[str, Any]:
    """Train one member version for ``pbt.interval_steps`` (continuing its parent, or a copy of the winner with
    the perturbed hyperparameters), register it and keep PBT's own copy of its bundle.

    A retry resumes from the latest checkpoint of the same spec; a version trained before returns at once.
    """
    run = PBTRun.from_xcom(xcom)
    preset = run.week.load_preset()
    store = open_store()
    _, _, rnd = parse_member_id(model_id)
    known = store.get_model(model_id)
    own = run.member_store / model_id
    if (
        known is not None
        and known.status not in ModelStatus.untrained()
        and (_round_done(store, run, int(rnd or 0)) or (own / "manifest.json").is_file())
    ):
        log.info("%s was trained before (%s): nothing to do", model_id, known.status)
        return {"model_id": model_id, "cumulative_timesteps": known.cumulative_timesteps, "skipped": True}
    plan = plan_for_round(store, run.population, int(rnd or 0))
    member = plan.by_id()[model_id]
    parent = _parent_bundle(run, store, member.parent_id) if member.parent_id else None
    registered = store.get_model(member.parent_id) if member.parent_id else None
    spec = member_spec(run.week, preset, plan, member, parent, registered.bundle_sha256 if registered is not None else None)
    result = train(spec, run.week.paths.model_dir(model_id))
    _private_copy(Path(result.bundle_uri), own)
    record_training(store, spec, result)
    return {"model_id": model_id, "cumulative_timesteps": result.cumulative_timesteps, "skipped": False}


def evaluate_member(xcom: dict[str, Any], model_id: str) -> dict[str, Any]:
    """Backtest one member version on the week's validation window; record the evaluation and the daily series."""
    run = PBTRun.from_xcom(xcom)
    store = open_store()
    done = store.evaluations(model_id=model_id, week=run.week.cutoff, window="validation")
    if done and (run.week.paths.backtest_series(model_id).is_file() or _round_done(store, run, int(parse_member_id(model_id)[2] or 0))):
        return {"model_id": model_id, "score": done[0].score}
    preset = run.week.load_preset()
    value = record_validation(store, run.week, model_id, str(run.member_store / model_id), preset, n_trials=preset.pbt.population)
    return {"model_id": model_id, "score": value}


def evaluate_round(run: dict[str, Any], index: int) -> dict[str, Any] | None:
    """Score every member version of the run's ``index``-th round on the validation window (backtests are
    cheap next to training, so one task does the round); None beyond the run."""
    k = PBTRun.from_xcom(run).round_number(index)
    if k is None:
        return None
    ids = plan_for_round(open_store(), run["population"], k).ids()
    return {"round": k, "scores": {model_id: evaluate_member(run, model_id)["score"] for model_id in ids}}


def exploit(xcom: dict[str, Any], index: int) -> dict[str, Any] | None:
    """The exploit/explore step after the run's ``index``-th round: record who replaced whom and the next plan.

    Scores are the round's validation scores from the registry; the generator is seeded by (seed, round,
    population), so a re-run decides the same. A round already recorded is returned as it was.
    """
    run = PBTRun.from_xcom(xcom)
    k = run.round_number(index)
    if k is None:
        return None
    preset = run.week.load_preset()
    store = open_store()
    population = run.population
    cutoff = run.week.cutoff
    for record in round_records(store, population):
        if record.round == k:
            log.info("round %d of %r was completed before: keeping its decisions", k, population)
            return record.result().to_xcom()
    plan: RoundPlan = plan_for_round(store, population, k)
    scores: dict[str, float | None] = {}
    cumulative: dict[str, int] = {}
    for m in plan.members:
        model = store.get_model(m.model_id)
        evals = store.evaluations(model_id=m.model_id, week=cutoff, window="validation")
        if model is None or not evals:
            raise LookupError(
                f"round {k}: member {m.model_id} has no {'model' if model is None else 'evaluation'} this week; rerun its tasks"
            )
        scores[m.model_id] = evals[0].score
        cumulative[m.model_id] = model.cumulative_timesteps
    params = {m.model_id: m.hyperparameters for m in plan.members}
    rng = np.random.default_rng([run.week.seed, k, zlib.crc32(population.encode())])
    replacements = next_generation(scores, params, rng, preset.pbt, preset.search_space, round=k)
    nxt = advance_plan(plan, replacements, run.week.seed)
    slots = {m.model_id: m.slot for m in plan.members}
    next_ids = {m.slot: m.model_id for m in nxt.members}
    for r in replacements:
        decision = ExploitRecord.from_replacement(
            r,
            population=population,
            round=k,
            slot=slots[r.loser],
            winner_slot=slots[r.winner],
            step=cumulative[r.loser],
            winner_step=cumulative[r.winner],
            population_step=k * preset.pbt.interval_steps,
            next_model_id=next_ids[slots[r.loser]],
            quantile=preset.pbt.quantile,
        )
        store.record_event(cutoff, EXPLOIT_EVENT, model_id=r.loser, round=k, payload=decision.to_payload())
    members = tuple(
        MemberResult(
            slot=m.slot,
            model_id=m.model_id,
            parent_id=m.parent_id,
            copied_from=m.copied_from,
            score=scores[m.model_id],
            cumulative_timesteps=cumulative[m.model_id],
            hyperparameters=m.hyperparameters.model_dump(mode="json"),
        )
        for m in plan.members
    )
    summary = round_summary(list(scores.values()))
    done = RoundRecord(
        population=population,
        round=k,
        next=nxt,
        members=members,
        replacements=tuple((r.loser, r.winner) for r in replacements),
        burn_in=k <= preset.pbt.burn_in_rounds,
        best=summary["best"],
        median=summary["median"],
    )
    # the round event last: its presence marks the round complete
    store.record_event(cutoff, ROUND_EVENT, model_id=population_key(population), round=k, payload=done.to_payload())
    _prune_member_copies(run, keep={m.model_id for m in plan.members})
    log.info("round %d of %r: best %s, median %s, %d replaced", k, population, done.best, done.median, len(replacements))
    return done.result().to_xcom()


def _prune_member_copies(run: PBTRun, keep: set[str]) -> None:
    """PBT's copies of versions older than the round just completed are no longer parents of anything."""
    root = run.member_store
    if not root.is_dir():
        return
    for path in root.iterdir():
        if path.is_dir() and not path.name.startswith(".") and path.name not in keep:
            shutil.rmtree(path, ignore_errors=True)


def finish(xcom: dict[str, Any]) -> dict[str, Any]:
    """Summarise the run (rounds, best and median per round, exploits) and write its report page."""
    run = PBTRun.from_xcom(xcom)
    store = open_store()
    population, cutoff = run.population, run.week.cutoff
    done = [r for r in round_records(store, population) if run.first_round <= r.round <= run.last_round]
    exploits = exploit_records(store, population, week=cutoff)
    out_dir = run.week.paths.pbt_report(population)
    summary = {
        "population": population,
        "cutoff": cutoff.isoformat(),
        "rounds": [r.result().to_xcom() for r in done],
        "exploits": len(exploits),
        "report": str(write_pbt_report(store, cutoff, out_dir)),
    }
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary
