"""``autotest walkforward``: consecutive demo weeks through the DAG's task functions, resumed after a stop,
marked in the paper ledger; bad input stops before any training."""

from __future__ import annotations

import datetime as dt
import io
import json
from pathlib import Path

import pytest

from autotest_lib.cli import main
from autotest_lib.errors import ConfigError, DataError
from autotest_lib.registry import LineageStore
from autotest_lib.tasks.walkforward import WalkSpec, run_walk, walk_env

START = dt.date(2024, 6, 16)
SCALE = 0.25  # the smallest demo scale that trains a whole PPO rollout per role (weekly/guards.py refuses less)


@pytest.fixture(scope="module")
def walked(tmp_path_factory) -> tuple[Path, list[tuple[int, str, bool]], list[tuple[int, str, bool]]]:
    home = tmp_path_factory.mktemp("walk")
    first: list[tuple[int, str, bool]] = []
    second: list[tuple[int, str, bool]] = []
    with walk_env(home):
        run_walk(WalkSpec("demo", START, 2, scale=SCALE, report=False), progress=lambda *a: first.append(a))
        # "interrupted" after two weeks: asking for three resumes at the third
        run_walk(WalkSpec("demo", START, 3, scale=SCALE), progress=lambda *a: second.append(a))
    return home, first, second


def test_weeks_run_in_order_and_resume_at_the_first_not_done(walked) -> None:
    home, first, second = walked
    assert [ran for _, _, ran in first] == [True, True]
    assert [ran for _, _, ran in second] == [False, False, True]
    with LineageStore(f"sqlite:///{home / 'lineage.sqlite'}") as store:
        weeks = store.list_weeks()
        assert [(w.week, w.status, w.preset) for w in weeks] == [(START + dt.timedelta(weeks=i), "done", "demo") for i in range(3)]
        # lineage continues: week 2 refines week 1's models
        refiners = store.list_models(week=START + dt.timedelta(weeks=1), role="refiner")
        assert refiners and all(m.parent_id and m.parent_id.startswith(f"{START:%Y%m%d}") for m in refiners)
        ledger = store.paper_ledger()
    assert [(e.week, e.status) for e in ledger] == [(START + dt.timedelta(weeks=i), "marked") for i in range(3)]
    for entry in ledger:
        orders = json.loads((home / "runs" / entry.week.isoformat() / "orders" / "orders.json").read_text())
        assert entry.model_id == orders["model_id"]
        assert entry.weights == pytest.approx({o["ticker"]: o["target_weight"] for o in orders["orders"]})
        assert entry.end_date < entry.week + dt.timedelta(days=7) and entry.start_date < entry.week


def test_paper_command_prints_the_record(walked, capsys) -> None:
    home, _, _ = walked
    url = f"sqlite:///{home / 'lineage.sqlite'}"
    assert main(["paper", "--db", url, "--json"]) == 0
    record = json.loads(capsys.readouterr().out)
    assert (record["weeks"], record["marked"], record["gaps"]) == (3, 3, 0)
    assert set(record["beats"]) == {"own_1n", "universe_1n", "benchmark"}
    assert main(["paper", "--db", url]) == 0
    assert "beat own 1/N" in capsys.readouterr().out


def test_the_weekly_report_shows_the_forward_record(walked) -> None:
    home, _, _ = walked
    report = home / "runs" / (START + dt.timedelta(weeks=2)).isoformat() / "report"
    page = (report / "index.html").read_text()
    assert 'id="forward"' in page and "beat own 1/N" in page
    # the chart is interactive, inside the page: its four lines are plotly traces, no PNG beside it
    assert '"chart-forward"' in page and not (report / "forward.png").exists()
    for name in ("paper orders (net)", "1/N of the same tickers", "1/N of the universe", "drawdown of the orders"):
        assert f'"name":{json.dumps(name)}'.replace("/", "\\u002f") in page, name  # plotly escapes "/" in its JSON
    assert START.isoformat() in page and (START + dt.timedelta(weeks=1)).isoformat() in page


def _no_training(home: Path) -> None:
    assert not (home / "runs").exists() or not any((home / "runs").glob("*/orders")), "nothing may run before the checks"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--preset", "nope", "--from", "2024-06-16", "--weeks", "1"], "unknown preset 'nope'"),
        (["--preset", "demo", "--from", "2024-08-25", "--weeks", "4"], "runs past the data"),
        (["--preset", "demo", "--from", "2024-06-17", "--weeks", "1"], "is a Monday"),
        (["--preset", "demo", "--from", "2005-06-19", "--weeks", "1"], "under a year"),
    ],
)
def test_bad_input_stops_before_training(argv, message, tmp_path: Path, capsys) -> None:
    assert main(["walkforward", *argv, "--home", str(tmp_path)]) == 2
    assert message in capsys.readouterr().err
    _no_training(tmp_path)


def test_a_home_with_another_presets_lineage_is_refused(tmp_path: Path) -> None:
    from autotest_lib.registry import upgrade

    url = f"sqlite:///{tmp_path / 'lineage.sqlite'}"
    upgrade(url)
    with LineageStore(url) as store:
        store.upsert_week(week=START, cutoff=START, preset="phase1", config_hash="x", status="done", plan={})
    with walk_env(tmp_path), pytest.raises(ConfigError, match=r"holds preset 'phase1'.*not 'demo'"):
        run_walk(WalkSpec("demo", START + dt.timedelta(weeks=1), 1, scale=SCALE))
    _no_training(tmp_path)


def test_weeks_past_the_data_say_how_many_fit(tmp_path: Path) -> None:
    with walk_env(tmp_path), pytest.raises(DataError, match=r"ends 2024-09-12; use --weeks 3 "):
        run_walk(WalkSpec("demo", dt.date(2024, 8, 25), 5, scale=SCALE))


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_redraws_one_line_with_an_eta_on_a_terminal() -> None:
    from autotest_lib.tasks.walkforward import Progress

    tty, plain = _Terminal(), io.StringIO()
    for stream in (tty, plain):
        bar = Progress(4, "walkforward demo", stream)
        bar.update(1, "2024-06-16 done before", ran=False)
        bar.update(2, "2024-06-23 done", ran=True)
    assert tty.getvalue().count("\r") == 2 and "\n" not in tty.getvalue()
    first, second = plain.getvalue().splitlines()
    assert "1/4 weeks" in first and "ETA ?" in first, "no week ran yet in this process: no ETA"
    assert "[############............] 2/4 weeks" in second and "ETA 0m00s" in second
