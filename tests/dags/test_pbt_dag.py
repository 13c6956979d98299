"""The real PBT DAG under ``airflow dags test``, lineage in a fresh PostgreSQL schema: a demo population (8
members, 3 rounds of 1,024 steps, quantile 0.25) in week one, a run that died part-way resumed, and next
week's run continuing the same population on the later cutoff."""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.airflow, pytest.mark.postgres]

ROOT = Path(__file__).resolve().parents[2]
WEEK1, WEEK2 = dt.date(2024, 8, 25), dt.date(2024, 9, 1)
POP = "main"


def _run(harness, week: dt.date, conf: dict) -> str:
    return harness.dags_test("autotest_pbt", week, conf)


def _exploits(store, week: dt.date) -> dict:
    return {(e.round, e.model_id): e.payload for e in store.events(kind="pbt_exploit", week=week)}


@pytest.fixture(scope="module")
def pbt(airflow_harness):
    _run(airflow_harness, WEEK1, {"preset": "demo"})  # its first task migrates the lineage schema
    from autotest_lib.registry import LineageStore

    store = LineageStore(airflow_harness.url)
    state: dict = {"harness": airflow_harness, "home": airflow_harness.home, "store": store, "url": airflow_harness.url}
    state["week1_exploits"] = _exploits(store, WEEK1)
    state["week1_runs"] = {r.model_id: r.updated_at for r in store.training_runs(week=WEEK1)}
    state["resume"] = _die_in_round_3_and_resume(state)
    _run(airflow_harness, WEEK2, {"preset": "demo", "rounds": 1})
    yield state
    store.close()


def _die_in_round_3_and_resume(state: dict) -> dict:
    """Rewind the registry to a run that died in round 3 (one member's training lost, no exploit step yet),
    then run the week again: it must redo only that member and reach the same decisions."""
    from sqlalchemy import create_engine, text

    lost = f"pbt-{POP}-m05-r003"
    engine = create_engine(state["url"])
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM lineage_events WHERE round = 3 AND kind IN ('pbt_round', 'pbt_exploit')"))
        for table in ("evaluations", "training_runs", "models"):
            conn.execute(text(f"DELETE FROM {table} WHERE model_id = :m"), {"m": lost})
    engine.dispose()
    for path in (state["home"] / "pbt" / POP / "members" / lost, state["home"] / "runs" / WEEK1.isoformat() / "models" / lost):
        subprocess.run(["rm", "-rf", str(path)], check=True)
    out = _run(state["harness"], WEEK1, {"preset": "demo"})
    return {"lost": lost, "log": out}


def test_demo_run_records_two_exploits_per_round_with_hyperparameters_and_scores(pbt) -> None:
    store = pbt["store"]
    models = [m for m in store.list_models(role="pbt", week=WEEK1)]
    assert len(models) == 8 * 3 and all(m.status == "active" and m.bundle_uri for m in models)
    rounds = [e for e in store.events(kind="pbt_round", model_id=f"pbt-{POP}") if e.week == WEEK1]
    assert [e.round for e in rounds] == [0, 1, 2, 3]
    exploits = store.events(kind="pbt_exploit", week=WEEK1)
    assert len(exploits) == 2 * 3  # 8 members, quantile 0.25: 2 per round, no burn-in in the demo preset
    for e in exploits:
        p = e.payload
        assert p["round"] == e.round and p["loser"] == e.model_id
        round_event = next(r for r in rounds if r.round == e.round)
        scores = {m["model_id"]: m["score"] for m in round_event.payload["members"]}
        ranked = sorted(scores, key=lambda m: scores[m])
        assert p["loser"] in ranked[:2] and p["winner"] in ranked[-2:]
        assert p["loser_score"] == pytest.approx(scores[p["loser"]]) and p["winner_score"] == pytest.approx(scores[p["winner"]])
        assert p["winner_score"] > p["loser_score"]
        assert p["old_hyperparameters"] == store.get_model(p["loser"]).hyperparameters
        assert p["source_hyperparameters"] == store.get_model(p["winner"]).hyperparameters
        new = p["new_hyperparameters"]
        ratio = new["learning_rate"] / p["source_hyperparameters"]["learning_rate"]
        assert ratio == pytest.approx(0.8) or ratio == pytest.approx(1.2) or new["learning_rate"] in (5e-5, 1e-3)
        assert p["step"] == p["population_step"] == e.round * 1024  # every version has trained one interval per round
        # the replaced slot's next version continues the winner's weights with the new hyperparameters
        child = store.get_model(p["next_model_id"])
        if child is not None:  # round 3's children train next week
            assert child.parent_id == p["winner"] and child.hyperparameters == new
            assert child.generation == store.get_model(p["winner"]).generation + 1
    # every evaluated version is an ordinary model of its week: a validation evaluation, a training run
    evals = {e.model_id: e for e in store.evaluations(week=WEEK1, window="validation")}
    assert {m.model_id for m in models} <= evals.keys()
    assert len([r for r in store.training_runs(week=WEEK1) if r.model_id.startswith("pbt-")]) == 24
    assert (pbt["home"] / "runs" / WEEK1.isoformat() / "pbt" / POP / "index.html").is_file()
    assert (pbt["home"] / "runs" / WEEK1.isoformat() / "pbt" / POP / f"pbt_{POP}.png").stat().st_size > 10_000


def test_a_run_that_died_in_round_3_resumes_there_and_decides_the_same(pbt) -> None:
    store = pbt["store"]
    lost = pbt["resume"]["lost"]
    runs = {r.model_id: r.updated_at for r in store.training_runs(week=WEEK1)}
    retrained = sorted(m for m in runs if runs[m] != pbt["week1_runs"].get(m))
    assert retrained == [lost], "only the member whose training was lost may train again"
    assert _exploits(store, WEEK1) == pbt["week1_exploits"]


def test_next_week_continues_the_same_population_on_the_later_cutoff(pbt) -> None:
    store = pbt["store"]
    week2 = store.list_models(role="pbt", week=WEEK2)
    assert sorted(m.model_id for m in week2) == [f"pbt-{POP}-m{s:02d}-r004" for s in range(8)]
    last_week = {e.payload["next_model_id"]: e.payload for e in store.events(kind="pbt_exploit", week=WEEK1) if e.round == 3}
    for m in week2:
        assert m.parent_id is not None and m.parent_id.endswith("-r003")
        assert m.cumulative_timesteps == 4 * 1024 and m.generation == 4
        if m.model_id in last_week:
            assert m.parent_id == last_week[m.model_id]["winner"]
    run = store.training_runs(f"pbt-{POP}-m00-r004")[0]
    assert run.train_end > store.training_runs(f"pbt-{POP}-m00-r003")[0].train_end  # the new week's windows
    assert len(store.events(kind="pbt_exploit", week=WEEK2)) == 2
    assert [e.round for e in store.events(kind="pbt_round", week=WEEK2)] == [4]


def test_member_history_and_trajectories_through_the_cli(pbt, capsys) -> None:
    from autotest_lib.cli.pbt import register
    from autotest_lib.pbt.population import member_history

    store = pbt["store"]
    exploit = store.events(kind="pbt_exploit", week=WEEK1)[0].payload
    slot_id = exploit["next_model_id"].rsplit("-r", 1)[0]
    history = member_history(store, slot_id)
    kinds = [(e.round, e.event) for e in history]
    copied_at = int(exploit["next_model_id"].rsplit("-r", 1)[1])
    assert (copied_at, "copy-from") in kinds and (copied_at, "mutate") in kinds
    i = kinds.index((copied_at, "copy-from"))
    assert kinds[i : i + 3] == [(copied_at, "copy-from"), (copied_at, "mutate"), (copied_at, "train")]
    assert history[i].detail["winner"] == exploit["winner"] and history[i + 1].detail["mutations"] == exploit["mutations"]
    assert [e.round for e in history if e.event == "train"] == list(range(1, len([e for e in history if e.event == "train"]) + 1))

    parser = argparse.ArgumentParser(prog="autotest")
    register(parser.add_subparsers(dest="command"))
    for argv in (["pbt", "history", slot_id], ["pbt", "history", exploit["next_model_id"], "--follow-copies"], ["pbt", "trajectories"]):
        args = parser.parse_args([*argv, "--db", pbt["url"], "--json"])
        assert args.func(args) == 0
    out = capsys.readouterr().out
    assert '"copy-from"' in out and '"mutate"' in out
    args = parser.parse_args(["pbt", "trajectories", "--population", POP, "--db", pbt["url"], "--json"])
    args.func(args)
    points = json.loads(capsys.readouterr().out)
    assert len(points) == 8 * 4 and {p["round"] for p in points} == {1, 2, 3, 4}
    assert sum(p["replaced"] for p in points) == 2 * 4


def test_pbt_dag_shape_and_cheap_import(tmp_path) -> None:
    os.environ.setdefault("AIRFLOW_HOME", str(tmp_path / "airflow"))
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(ROOT / "dags" / "autotest_pbt.py"))
    assert bag.import_errors == {}
    dag = bag.dags["autotest_pbt"]
    assert dag.max_active_runs == 1 and dag.catchup is False and "pbt" in dag.tags
    assert type(dag.timetable).__name__ == "CronDataIntervalTimetable" and dag.timetable.summary == "0 2 * * 0"
    assert set(dag.params.keys()) >= {"preset", "seed", "rounds", "population"}
    for i in (1, 8):
        train = dag.get_task(f"round_{i:02d}.train_member")
        assert train.pool == "autotest_training" and train.retries >= 1
        assert f"round_{i:02d}.members" in train.upstream_task_ids
        assert f"round_{i:02d}.evaluate_round" in dag.get_task(f"round_{i:02d}.exploit_explore").upstream_task_ids
    assert "round_01.exploit_explore" in dag.get_task("round_02.members").upstream_task_ids
    assert dag.get_task("finish_run").trigger_rule == "none_failed"
    code = (
        "import sys, time; import airflow.sdk, airflow.timetables.interval; t = time.perf_counter(); "
        f"sys.path.insert(0, {str(ROOT / 'dags')!r}); import autotest_pbt; "
        "heavy = sorted(m for m in ('torch', 'stable_baselines3', 'pandas', 'autotest_lib.train') if m in sys.modules); "
        "print(time.perf_counter() - t, heavy)"
    )
    subprocess.run([sys.executable, "-c", code], capture_output=True, check=True, cwd=ROOT)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    seconds, heavy = out.split(None, 1)
    assert heavy.strip() == "[]" and float(seconds) < 1.0


def test_report_section_plots_scores_and_learning_rates_and_lists_the_exploits(pbt, tmp_path) -> None:
    from autotest_lib.report.pbt import pbt_section

    store = pbt["store"]
    fragment = pbt_section(store, WEEK2, tmp_path)
    assert fragment.startswith('<section id="pbt">') and "Population main" in fragment
    assert (tmp_path / f"pbt_{POP}.png").stat().st_size > 10_000 and f'src="pbt_{POP}.png"' in fragment
    for e in store.events(kind="pbt_exploit", week=WEEK2):
        assert e.payload["loser"] in fragment and e.payload["winner"] in fragment
    assert "learning_rate" in fragment  # the mutations column
    # a week before the population existed has nothing to show, and says so
    assert "No PBT population" in pbt_section(store, dt.date(2024, 8, 18), tmp_path / "early")
