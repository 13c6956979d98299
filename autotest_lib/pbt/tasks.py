"""The functions the ``autotest_pbt`` DAG's tasks call: each takes small JSON, does one step, returns small JSON.

The ``run`` dict made by :func:`start` travels to every task (via XCom): cutoff, preset name, seed,
population name, the rounds this run performs (``first_round`` .. ``first_round + rounds - 1``) and paths.
Every function is idempotent: a retried or re-run task leaves the registry and the files as if it ran once,
and a run that died part-way, run again, skips the rounds already recorded and resumes in the round it
reached (a member killed mid-training resumes from its latest checkpoint).

Files, under ``$AUTOTEST_HOME`` (default ``./var``)::

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
from typing import TYPE_CHECKING, Any

from autotest_lib.config import Preset, load_preset
from autotest_lib.errors import ConfigError
from autotest_lib.pbt.population import (
    EXPLOIT_EVENT,
    ROUND_EVENT,
    MemberPlan,
    RoundPlan,
    check_population_name,
    initial_plan,
    parse_member_id,
    plan_for_round,
    population_key,
    round_events,
    round_summary,
    rounds_before,
)

if TYPE_CHECKING:
    from autotest_lib.train import TrainSpec

__all__ = [
    "evaluate_member",
    "evaluate_round",
    "exploit",
    "finish",
    "member_spec",
    "preset_for",
    "round_members",
    "round_number",
    "start",
    "train_member",
]

log = logging.getLogger(__name__)

DEFAULT_POPULATION = "main"


def _store():
    from autotest_lib.registry import LineageStore, resolve_db_url

    return LineageStore(resolve_db_url())


def _home() -> Path:
    from autotest_lib.weekly.tasks import autotest_home

    return autotest_home()


def _cutoff(run: dict[str, Any]) -> dt.date:
    return dt.date.fromisoformat(run["cutoff"])


def preset_for(run: dict[str, Any]) -> Preset:
    """The run's preset with its seed applied."""
    return load_preset(run["preset"], {"seed": run["seed"]})


def round_number(run: dict[str, Any], index: int) -> int | None:
    """The population round that the run's ``index``-th round group (1-based) performs; None beyond the run."""
    if not 1 <= index <= run["rounds"]:
        return None
    return run["first_round"] + index - 1


def _member_store(run: dict[str, Any]) -> Path:
    return Path(run["home"]) / "pbt" / run["population"] / "members"


def _work_dir(run: dict[str, Any], model_id: str) -> Path:
    return Path(run["home"]) / "runs" / run["cutoff"] / "models" / model_id


def _population_tickers(preset: Preset, train_end: dt.date) -> list[str]:
    """Universe tickers with a year of prices before training ends, at most ``env.max_tickers`` of them."""
    from autotest_lib.data import load_prices

    frame = load_prices(list(preset.data.universe), cutoff=train_end, start=preset.data.earliest, source=preset.data.source)
    firsts = frame.groupby("ticker")["date"].min()
    limit = train_end - dt.timedelta(days=365)
    tickers = sorted(t for t, d in firsts.items() if d.date() <= limit)
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
    """
    from autotest_lib.weekly.windows import last_completed_week, week_windows

    if data_interval_end is None:
        cutoff = last_completed_week(today or dt.datetime.now(dt.UTC).date())
        log.warning("run has no data interval (manual run without a logical date): using the last completed week, cutoff %s", cutoff)
    else:
        cutoff = data_interval_end.date()
    population = check_population_name(params.get("population") or DEFAULT_POPULATION)
    base = load_preset(params.get("preset", "demo"))
    seed = int(params["seed"]) if params.get("seed") is not None else base.seed
    run: dict[str, Any] = {"cutoff": cutoff.isoformat(), "preset": base.name, "seed": seed, "population": population, "home": str(_home())}
    preset = preset_for(run)
    rounds = int(params.get("rounds") or preset.pbt.rounds_per_run)
    if not 1 <= rounds <= max_rounds:
        raise ConfigError(f"rounds={rounds}: this DAG performs 1 to {max_rounds} rounds per run (MAX_ROUNDS in dags/autotest_pbt.py)")
    windows = week_windows(cutoff, preset)

    store = _store()
    events = round_events(store, population)
    if not events:
        tickers = _population_tickers(preset, windows.train_end)
        plan = initial_plan(population, preset, tickers, seed)
        store.record_event(
            cutoff,
            ROUND_EVENT,
            model_id=population_key(population),
            round=0,
            payload={
                "population": population,
                "round": 0,
                "preset": preset.name,
                "pbt": preset.pbt.model_dump(mode="json"),
                "next": plan.to_json(),
            },
        )
        log.info("new population %r: %d members on %s", population, len(plan.members), ", ".join(tickers))
    first = rounds_before(store, population, cutoff) + 1
    plan = plan_for_round(store, population, first)
    if len(plan.members) != preset.pbt.population:
        raise ConfigError(
            f"population {population!r} has {len(plan.members)} members but preset {preset.name!r} says pbt.population="
            f"{preset.pbt.population}; keep the size, or start a new population with the 'population' param"
        )
    run.update(rounds=rounds, first_round=first, windows=windows.as_dict(), tickers=list(plan.tickers))
    (Path(run["home"]) / "runs" / run["cutoff"]).mkdir(parents=True, exist_ok=True)
    log.info("population %r, week %s: rounds %d..%d", population, cutoff, first, first + rounds - 1)
    return run


def round_members(run: dict[str, Any], index: int) -> list[str] | None:
    """Model ids the run's ``index``-th round trains (from the previous round's plan); None beyond the run."""
    k = round_number(run, index)
    if k is None:
        return None
    return plan_for_round(_store(), run["population"], k).ids()


def _round_done(store: Any, run: dict[str, Any], k: int) -> bool:
    """Whether round ``k`` of the run's population is recorded as complete."""
    return any(e.round == k for e in round_events(store, run["population"]))


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


def _parent_bundle(run: dict[str, Any], store: Any, parent_id: str) -> str:
    """PBT's own copy of the parent's bundle; falls back to the registry's bundle (e.g. after a manual cleanup)."""
    from autotest_lib.train import verify_bundle

    own = _member_store(run) / parent_id
    if (own / "manifest.json").is_file():
        return str(verify_bundle(own).path)
    model = store.get_model(parent_id)
    for candidate in (model.bundle_uri if model else None, str(Path(run["home"]) / "archive" / parent_id)):
        if candidate and (Path(candidate) / "manifest.json").is_file():
            _private_copy(Path(candidate), own)
            return str(own)
    raise FileNotFoundError(
        f"the bundle of PBT parent {parent_id} is gone (not in {own}, the registry or the archive); the population cannot continue"
    )


def member_spec(run: dict[str, Any], preset: Preset, plan: RoundPlan, member: MemberPlan, parent_bundle: str | None) -> TrainSpec:
    """The :class:`~autotest_lib.train.TrainSpec` of one member version: ``pbt.interval_steps`` more steps on the
    week's training window, at the member's own hyperparameters with a constant learning rate (in PBT the rate
    changes by exploit/explore, not by decay), continuing ``parent_bundle`` when the member has a parent.

    :param run: the run dict (cutoff, windows, ...).
    :param preset: the run's preset.
    :param plan: the round's plan (population tickers).
    :param member: the member's plan.
    :param parent_bundle: path of the parent's bundle (the winner's, after an exploit); None in round 1.
    """
    from autotest_lib.train import TrainSpec

    w = {name: dt.date.fromisoformat(day) for name, day in run["windows"].items()}
    return TrainSpec(
        model_id=member.model_id,
        role="pbt",
        week=_cutoff(run),
        slot=member.slot,
        tickers=plan.tickers,
        train_start=w["train_start"],
        train_end=w["train_end"],
        cutoff=w["cutoff"],
        timesteps=preset.pbt.interval_steps,
        seed=member.seed,
        ppo=member.hyperparameters,
        lr_schedule="constant",
        lr_multiplier=1.0,
        env=preset.env,
        data_source=preset.data.source,
        parent_id=member.parent_id if parent_bundle else None,
        parent_bundle=parent_bundle,
        checkpoint_every=preset.checkpoint_every,
    )


def train_member(run: dict[str, Any], model_id: str) -> dict[str, Any]:
    """Train one member version for ``pbt.interval_steps`` (continuing its parent, or a copy of the winner with
    the perturbed hyperparameters), register it and keep PBT's own copy of its bundle.

    A retry resumes from the latest checkpoint of the same spec; a version trained before returns at once.
    """
    from autotest_lib.train import train
    from autotest_lib.weekly.tasks import record_training

    preset = preset_for(run)
    store = _store()
    _, _, rnd = parse_member_id(model_id)
    known = store.get_model(model_id)
    own = _member_store(run) / model_id
    if (
        known is not None
        and known.status not in ("planned", "failed")
        and (_round_done(store, run, int(rnd or 0)) or (own / "manifest.json").is_file())
    ):
        log.info("%s was trained before (%s): nothing to do", model_id, known.status)
        return {"model_id": model_id, "cumulative_timesteps": known.cumulative_timesteps, "skipped": True}
    plan = plan_for_round(store, run["population"], int(rnd or 0))
    member = plan.by_id()[model_id]
    parent = _parent_bundle(run, store, member.parent_id) if member.parent_id else None
    spec = member_spec(run, preset, plan, member, parent)
    result = train(spec, _work_dir(run, model_id))
    _private_copy(Path(result.bundle_uri), own)
    record_training(store, spec, result)
    return {"model_id": model_id, "cumulative_timesteps": result.cumulative_timesteps, "skipped": False}


def evaluate_member(run: dict[str, Any], model_id: str) -> dict[str, Any]:
    """Backtest one member version on the week's validation window; record the evaluation and the daily series."""
    from autotest_lib.weekly.tasks import record_validation

    store = _store()
    series = Path(run["home"]) / "runs" / run["cutoff"] / "backtests" / f"{model_id}.csv"
    done = store.evaluations(model_id=model_id, week=_cutoff(run), window="validation")
    if done and (series.is_file() or _round_done(store, run, int(parse_member_id(model_id)[2] or 0))):
        return {"model_id": model_id, "score": done[0].score}
    value = record_validation(
        store, run, model_id, str(_member_store(run) / model_id), preset_for(run), n_trials=preset_for(run).pbt.population
    )
    return {"model_id": model_id, "score": value}


def evaluate_round(run: dict[str, Any], index: int) -> dict[str, Any] | None:
    """Score every member version of the run's ``index``-th round on the validation window (backtests are
    cheap next to training, so one task does the round); None beyond the run."""
    k = round_number(run, index)
    if k is None:
        return None
    ids = plan_for_round(_store(), run["population"], k).ids()
    return {"round": k, "scores": {model_id: evaluate_member(run, model_id)["score"] for model_id in ids}}


def exploit(run: dict[str, Any], index: int) -> dict[str, Any] | None:
    """The exploit/explore step after the run's ``index``-th round: record who replaced whom and the next plan.

    Scores are the round's validation scores from the registry; the generator is seeded by (seed, round,
    population), so a re-run decides the same. A round already recorded is returned as it was.
    """
    import numpy as np

    from autotest_lib.pbt.exploit import next_generation
    from autotest_lib.pbt.population import advance_plan

    k = round_number(run, index)
    if k is None:
        return None
    preset = preset_for(run)
    store = _store()
    population = run["population"]
    for event in round_events(store, population):
        if event.round == k:
            log.info("round %d of %r was completed before: keeping its decisions", k, population)
            return _round_result(event.payload)
    plan: RoundPlan = plan_for_round(store, population, k)
    scores: dict[str, float | None] = {}
    cumulative: dict[str, int] = {}
    for m in plan.members:
        model = store.get_model(m.model_id)
        evals = store.evaluations(model_id=m.model_id, week=_cutoff(run), window="validation")
        if model is None or not evals:
            raise LookupError(
                f"round {k}: member {m.model_id} has no {'model' if model is None else 'evaluation'} this week; rerun its tasks"
            )
        scores[m.model_id] = evals[0].score
        cumulative[m.model_id] = model.cumulative_timesteps
    params = {m.model_id: m.hyperparameters for m in plan.members}
    rng = np.random.default_rng([int(run["seed"]), k, zlib.crc32(population.encode())])
    replacements = next_generation(scores, params, rng, preset.pbt, preset.search_space, round=k)
    nxt = advance_plan(plan, replacements, int(run["seed"]))
    slots = {m.model_id: m.slot for m in plan.members}
    next_ids = {m.slot: m.model_id for m in nxt.members}
    for r in replacements:
        store.record_event(
            _cutoff(run),
            EXPLOIT_EVENT,
            model_id=r.loser,
            round=k,
            payload={
                **r.as_dict(),
                "population": population,
                "round": k,
                "slot": slots[r.loser],
                "winner_slot": slots[r.winner],
                "step": cumulative[r.loser],
                "winner_step": cumulative[r.winner],
                "population_step": k * preset.pbt.interval_steps,
                "next_model_id": next_ids[slots[r.loser]],
                "quantile": preset.pbt.quantile,
            },
        )
    members = [
        {
            "slot": m.slot,
            "model_id": m.model_id,
            "parent_id": m.parent_id,
            "copied_from": m.copied_from,
            "score": scores[m.model_id],
            "cumulative_timesteps": cumulative[m.model_id],
            "hyperparameters": m.hyperparameters.model_dump(mode="json"),
        }
        for m in plan.members
    ]
    summary = round_summary(list(scores.values()))
    payload = {
        "population": population,
        "round": k,
        "members": members,
        "replaced": [r.loser for r in replacements],
        "replacements": [{"loser": r.loser, "winner": r.winner} for r in replacements],
        "burn_in": k <= preset.pbt.burn_in_rounds,
        **summary,
        "next": nxt.to_json(),
    }
    # the round event last: its presence marks the round complete
    store.record_event(_cutoff(run), ROUND_EVENT, model_id=population_key(population), round=k, payload=payload)
    _prune_member_copies(run, keep={m.model_id for m in plan.members})
    log.info("round %d of %r: best %s, median %s, %d replaced", k, population, summary["best"], summary["median"], len(replacements))
    return _round_result(payload)


def _round_result(payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "round": payload["round"],
        "best": payload.get("best"),
        "median": payload.get("median"),
        "replacements": payload.get("replacements", []),
    }


def _prune_member_copies(run: dict[str, Any], keep: set[str]) -> None:
    """PBT's copies of versions older than the round just completed are no longer parents of anything."""
    root = _member_store(run)
    if not root.is_dir():
        return
    for path in root.iterdir():
        if path.is_dir() and not path.name.startswith(".") and path.name not in keep:
            shutil.rmtree(path, ignore_errors=True)


def finish(run: dict[str, Any]) -> dict[str, Any]:
    """Summarise the run (rounds, best and median per round, exploits) and write its report page."""
    from autotest_lib.pbt.report import write_pbt_report

    store = _store()
    population = run["population"]
    last = run["first_round"] + run["rounds"] - 1
    done = [e for e in round_events(store, population) if run["first_round"] <= e.round <= last]
    exploits = [e for e in store.events(kind=EXPLOIT_EVENT, week=_cutoff(run)) if e.payload.get("population") == population]
    out_dir = Path(run["home"]) / "runs" / run["cutoff"] / "pbt" / population
    summary = {
        "population": population,
        "cutoff": run["cutoff"],
        "rounds": [_round_result(e.payload) for e in done],
        "exploits": len(exploits),
        "report": str(write_pbt_report(store, _cutoff(run), out_dir)),
    }
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary
