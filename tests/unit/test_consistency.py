"""Consistency across seeds (IQR of validation Sharpe) and the progress records a report renders."""

from __future__ import annotations

import datetime as dt
import json

import numpy as np
import pytest

from autotest_lib.cli import main
from autotest_lib.errors import ConfigError
from autotest_lib.weekly.consistency import progress_records, spread

W1, W2, W3 = dt.date(2024, 9, 1), dt.date(2024, 9, 8), dt.date(2024, 9, 15)


def test_spread_is_the_interquartile_range() -> None:
    s = spread([4.0, 1.0, 3.0, 2.0, float("nan")])
    assert (s.n, s.median, s.q1, s.q3, s.iqr, s.low, s.high) == (4, 2.5, 1.75, 3.25, 1.5, 1.0, 4.0)
    with pytest.raises(ConfigError, match="at least 2 finite results"):
        spread([1.0])


def test_consistency_cli_trains_seeds_and_reports_their_iqr(capsys) -> None:
    argv = ["consistency", "--preset", "demo", "--seeds", "3", "--week", "2024-09-08", "--timesteps", "256", "--tickers", "AAPL,KO"]
    assert main([*argv, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    sharpes = [r["sharpe"] for r in data["runs"]]
    assert [r["seed"] for r in data["runs"]] == [0, 1, 2] and len(set(sharpes)) == 3  # the seeds really differ
    q1, q3 = np.percentile(sharpes, [25, 75])
    assert data["spread"]["iqr"] == pytest.approx(q3 - q1) and data["spread"]["n"] == 3
    assert main(["consistency", "--preset", "demo", "--seeds", "1"]) == 2
    assert "--seeds=1: an interquartile range needs at least 2 runs; use --seeds 4 or more" in capsys.readouterr().err


def test_progress_records_week_generation_and_longevity(lineage_store) -> None:
    s = lineage_store
    for model_id, parent, week in (("e0", None, W1), ("e1", None, W1), ("r0", "e0", W2), ("r1", "r0", W3)):
        s.upsert_model(
            model_id, role="refiner" if parent else "explorer", created_week=week, tickers=["AAPL"], hyperparameters={}, parent_id=parent
        )
    scores = (("e0", W1, 0.8), ("e1", W1, 0.3), ("e0", W2, 0.7), ("r0", W2, 0.9), ("r0", W3, 1.0), ("r1", W3, 0.5))
    for model_id, week, score in scores:
        s.record_evaluation(
            model_id, week, "validation", window_start=week - dt.timedelta(weeks=12), window_end=week, metrics={}, score=score
        )
    for week, champ in ((W1, "e0"), (W2, "r0"), (W3, "r0")):
        s.set_champion(week, champ, rule="test")
    rec = progress_records(s)
    assert [(p.week, p.model_id, p.best_score) for p in rec.week_over_week] == [(W1, "e0", 0.8), (W2, "r0", 0.9), (W3, "r0", 1.0)]
    assert [round(p.change, 6) for p in rec.week_over_week[1:]] == [0.1, 0.1]
    assert [(g.generation, g.children, g.improved) for g in rec.generation_over_generation] == [(2, 1, 1), (3, 1, 0)]
    assert rec.overall_improvement.share == 0.5
    assert [(c.model_id, c.weeks_held, c.current) for c in rec.champion_longevity] == [("e0", 1, False), ("r0", 2, True)]
    early = progress_records(s, up_to=W2)
    assert [p.week for p in early.week_over_week] == [W1, W2] and [c.model_id for c in early.champion_longevity] == ["e0", "r0"]
    assert json.dumps(rec.as_dict())  # JSON-able for a report or an API
