"""The ``autotest`` command line on a SQLite lineage database: tables, JSON, and one-line errors (exit 2)."""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from autotest_lib.cli import format_table, main
from autotest_lib.registry import LineageStore

W1, W2 = dt.date(2024, 9, 1), dt.date(2024, 9, 8)
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated SQLite database (through the CLI) holding two weeks: explorers, a refiner, champions."""
    url = f"sqlite:///{tmp_path_factory.mktemp('cli') / 'lineage.sqlite'}"
    assert main(["db", "upgrade", "--db", url]) == 0
    with LineageStore(url) as store:
        for model_id, parent, week in (("e0", None, W1), ("e1", None, W1), ("r0", "e0", W2)):
            role = "refiner" if parent else "explorer"
            store.upsert_model(
                model_id, role=role, created_week=week, tickers=["AAPL"], hyperparameters={"lr": 1e-3 if parent else 3e-3}, parent_id=parent
            )
            store.record_training_run(model_id, week, steps_added=2048, base_lr=1e-3, train_start=dt.date(2021, 1, 1), train_end=week)
        for model_id, week, score in (("e0", W1, 0.8), ("e1", W1, 0.3), ("e0", W2, 0.7), ("e1", W2, 0.2), ("r0", W2, 0.9)):
            store.record_evaluation(
                model_id, week, "validation", window_start=week - dt.timedelta(weeks=12), window_end=week, metrics={}, score=score
            )
        store.set_champion(W1, "e0", rule="best_validation", score=0.8)
        store.set_champion(W2, "r0", rule="best_validation", score=0.9)
    return url


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_db_upgrade_current_and_check(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "db", "upgrade", "--db", db)
    assert code == 0 and "is at revision" in out
    assert run(capsys, "db", "current", "--db", db)[0] == 0
    code, out, _ = run(capsys, "db", "check", "--db", db)
    assert code == 0 and "matches the models" in out


def test_leaderboard_table_and_json(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "leaderboard", "--db", db)
    lines = out.splitlines()
    assert code == 0 and lines[0] == "week 2024-09-08, window validation"
    assert [line.split()[1] for line in lines[3:-1]] == ["r0", "e0", "e1"]
    assert len({line.index("0.") for line in lines[3:-1]}) == 1, "score column aligned"
    assert lines[-1].startswith("verdict: Sharpe > 1 good, > 2 excellent; max drawdown < 20% acceptable")
    assert "Sharpe n/a, DD n/a, win rate n/a" in lines[3] and "too short to judge" in lines[3]  # no metrics, no updates
    code, out, _ = run(capsys, "leaderboard", "--week", "2024-09-01", "--json", "--db", db)
    data = json.loads(out)
    assert data["week"] == "2024-09-01" and [r["model_id"] for r in data["rows"]] == ["e0", "e1"]
    assert data["verdicts"]["e0"]["labels"]["sharpe"]["label"] == "n/a" and data["verdicts"]["e0"]["convergence"]["flagged"] is False


def test_lineage_champions_improvement_trend_models(db: str, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "lineage", "r0", "--db", db)
    assert code == 0 and "root e0" in out and "lr 0.003->0.001" in out
    steps = json.loads(run(capsys, "lineage", "r0", "--json", "--db", db)[1])
    assert [s["model"]["model_id"] for s in steps] == ["e0", "r0"]

    champions = json.loads(run(capsys, "champions", "--json", "--db", db)[1])
    assert [c["previous_model_id"] for c in champions["history"]] == [None, "e0"]
    assert [(s["model_id"], s["weeks_held"], s["current"]) for s in champions["longevity"]] == [("e0", 1, False), ("r0", 1, True)]
    assert "longevity" in run(capsys, "champions", "--db", db)[1]

    report = json.loads(run(capsys, "improvement", "--json", "--db", db)[1])
    assert report["overall"] == {"generation": None, "children": 1, "improved": 1, "share": 1.0}
    assert run(capsys, "improvement", "--db", db)[1].splitlines()[-1].split() == ["all", "1", "1", "1.0000"]

    trend = json.loads(run(capsys, "trend", "--json", "--db", db)[1])
    assert [(p["model_id"], p["best_score"]) for p in trend["validation"]] == [("e0", 0.8), ("r0", 0.9)]
    assert trend["forward"] == []  # no week's orders marked in this registry
    text = run(capsys, "trend", "--db", db)[1]
    assert text.index("forward, week over week") < text.index("best validation score per week") and "no week marked yet" in text

    models = json.loads(run(capsys, "models", "--role", "explorer", "--json", "--db", db)[1])
    assert [m["model_id"] for m in models] == ["e0", "e1"]
    assert run(capsys, "models", "--status", "active", "--db", db)[1].rstrip().endswith("(none)")


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["lineage", "ghost"], "'ghost' is not registered"),
        (["leaderboard", "--week", "2024-13-01"], "--week '2024-13-01' is not a date"),
        (["models", "--status", "lost"], "status='lost'"),
        (["budget", "no-such-preset"], "unknown preset 'no-such-preset'"),
    ],
)
def test_errors_are_one_line_and_exit_2(db: str, capsys: pytest.CaptureFixture[str], argv: list[str], message: str) -> None:
    code, out, err = run(capsys, *argv, *([] if argv[0] == "budget" else ["--db", db]))
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("autotest: error:") and message in err


def test_unmigrated_database_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, "champions", "--db", f"sqlite:///{tmp_path / 'empty.sqlite'}")
    assert code == 2 and "autotest db upgrade" in err and err.count("\n") == 1


def test_budget_table_and_json(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "budget", "demo")
    assert code == 0 and out.startswith("preset demo:") and "explorer" in out
    data = json.loads(run(capsys, "budget", "demo", "--json")[1])
    assert data["preset"] == "demo" and [r["role"] for r in data["roles"]] == ["explorer", "refiner", "champion"]


def test_format_table_aligns_numbers_right() -> None:
    table = format_table(["name", "n"], [["a", 1], ["bbb", 100], ["c", None]])
    assert table.splitlines() == ["name    n", "----  ---", "a       1", "bbb   100", "c       -"]


def test_console_entry_point_runs_in_a_fresh_interpreter(db: str) -> None:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    ok = subprocess.run(
        [sys.executable, "-m", "autotest_lib.cli", "trend", "--db", db], capture_output=True, text=True, env=env, timeout=60
    )
    assert ok.returncode == 0 and "r0" in ok.stdout
    bad = subprocess.run(
        [sys.executable, "-m", "autotest_lib.cli", "lineage", "ghost", "--db", db], capture_output=True, text=True, env=env, timeout=60
    )
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1


def test_trend_puts_the_forward_record_first_with_the_excess_over_own_1n(tmp_path) -> None:
    url = f"sqlite:///{tmp_path / 'lineage.sqlite'}"
    assert main(["db", "upgrade", "--db", url]) == 0
    with LineageStore(url) as store:
        store.upsert_paper_week(W1, status="marked", reason="champion", model_id="e0", net_return=0.02, own_1n_return=0.015)
        store.upsert_paper_week(W2, status="gap", reason="no run for week 2024-09-08 (skipped)")
    buf = io.StringIO()
    with contextlib.redirect_stdout(buf):
        assert main(["trend", "--json", "--db", url]) == 0
    forward = json.loads(buf.getvalue())["forward"]
    assert [(f["week"], f["status"]) for f in forward] == [(W1.isoformat(), "marked"), (W2.isoformat(), "gap")]
    assert forward[0]["excess_vs_own_1n"] == pytest.approx(0.005) and forward[0]["cumulative_net"] == pytest.approx(0.02)
    assert forward[1]["net_return"] is None and forward[1]["cumulative_net"] == pytest.approx(0.02) and "skipped" in forward[1]["reason"]
