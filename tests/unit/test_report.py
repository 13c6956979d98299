"""The weekly report on a real registry (SQLite, and PostgreSQL when configured) with real backtest CSVs.

Two weeks of a small population are written through :class:`LineageStore`'s public methods: explorers,
refiners, a champion continuation, a failed training, a rollback, an archive prune and two champions. The
backtest CSVs are made the way the weekly backtest task makes them: ``backtest(...).to_frame().to_csv(...)``
of fixed-action policies on the bundled prices.
"""

from __future__ import annotations

import datetime as dt
import html
import json
import re
import struct
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from autotest_lib.config import Preset, load_preset
from autotest_lib.evaluate.verdicts import metric_labels, verdict_text
from autotest_lib.registry import LineageStore
from autotest_lib.report import DRAWDOWN_PNG, EQUITY_PNG, LINEAGE_PNG, REGIMES_PNG, write_weekly_report
from autotest_lib.runs import week_windows

W1, W2 = dt.date(2023, 12, 31), dt.date(2024, 1, 7)
UNIVERSE = ["AAPL", "MSFT", "JPM", "KO", "WMT", "V"]


def mid(week: dt.date, role: str, slot: int) -> str:
    return f"{week:%Y%m%d}-{role}-{slot:02d}"


A, B, C = (mid(W1, "explorer", i) for i in range(3))
D, E, F = (mid(W2, "explorer", i) for i in range(3))
R0, R1, K = mid(W2, "refiner", 0), mid(W2, "refiner", 1), mid(W2, "champion", 0)
ROLLBACK_REASON = f"validation score -0.4000 is more than 10% worse than parent {C}'s 0.5000 <check escaping>"
PRUNE_REASON = "outside the top 3 of week 2024-01-07"
CHAMPION_RULES = {
    W1: "initial: best validation score of the first evaluated week",
    W2: f"challenger: beats incumbent {A} with DSR 0.61 >= 0.0",
}

# model_id -> (role, week, parent, tickers, base_lr, lr_multiplier, steps_added)
MODELS = {
    A: ("explorer", W1, None, ("AAPL", "MSFT", "KO"), 3e-4, 1.0, 4096),
    B: ("explorer", W1, None, ("JPM", "V"), 1e-4, 1.0, 4096),
    C: ("explorer", W1, None, ("KO", "WMT", "V", "MSFT"), 5e-4, 1.0, 4096),
    D: ("explorer", W2, None, ("AAPL", "JPM"), 2e-4, 1.0, 4096),
    E: ("explorer", W2, None, ("MSFT", "WMT", "V"), 7e-4, 1.0, 4096),
    F: ("explorer", W2, None, ("KO", "V"), 4e-4, 1.0, 4096),  # its training fails
    R0: ("refiner", W2, B, ("JPM", "V"), 1e-4, 0.5, 2048),
    R1: ("refiner", W2, C, ("KO", "WMT", "V", "MSFT"), 5e-4, 0.5, 2048),
    K: ("champion", W2, A, ("AAPL", "MSFT", "KO"), 3e-4, 0.3, 2048),
}
EVALUATED = {W1: [A, B, C], W2: [A, B, C, D, E, R0, R1, K]}


@pytest.fixture(scope="module")
def preset() -> Preset:
    return load_preset("demo")


@pytest.fixture(scope="module")
def market(preset: Preset):
    from autotest_lib.data import load_market

    return load_market(UNIVERSE, cutoff=W2, start=dt.date(2023, 9, 1), feature_set=preset.env.feature_set)


@pytest.fixture(scope="module")
def backtests(market, preset: Preset) -> dict[tuple[dt.date, str], object]:
    """A real backtest per (week, model) over the week's validation window; each model holds fixed target logits."""
    from autotest_lib.evaluate import backtest

    out = {}
    for week, ids in EVALUATED.items():
        w = week_windows(week, preset)
        for i, model_id in enumerate(sorted(MODELS)):
            if model_id in ids:
                action = np.random.default_rng(i).uniform(-1, 1, preset.env.max_tickers + 1).astype(np.float32)
                out[week, model_id] = backtest(lambda obs, a=action: a, market, preset.env, start=w.validation_start, end=w.validation_end)
    return out


def history(seed: int, steps: int, start: int = 0) -> list[dict[str, float]]:
    """Per-update training statistics with every key the trainer records."""
    rng = np.random.default_rng(seed)
    rows = []
    for k in range(1, 5):
        rows.append(
            {
                "timesteps": float(start + k * steps // 4),
                "n_updates": float(k),
                "reward_mean": float(0.001 * k + rng.uniform(-0.0005, 0.0005)),
                "value_loss": float(1.0 / k + rng.uniform(0, 0.1)),
                "policy_gradient_loss": float(-0.01 * k + rng.uniform(-0.005, 0.005)),
                "entropy_loss": float(-12.0 + 0.3 * k),
                # one run's value function never beats a constant (seed 4, model E): the report flags it
                "explained_variance": float(-0.8 - 0.5 * k) if seed == 4 else float(0.2 * k - 0.1),
                "approx_kl": float(rng.uniform(0.001, 0.02)),
                "clip_fraction": float(rng.uniform(0.0, 0.2)),
                "learning_rate": 3e-4,
            }
        )
    return rows


def write_week(store: LineageStore, preset: Preset, week: dt.date, specs: dict[str, str], notes: list[str], status: str = "done") -> None:
    plan = {"week": week.isoformat(), "windows": week_windows(week, preset).as_dict(), "notes": notes, "specs": specs}
    store.upsert_week(week, cutoff=week, preset=preset.name, config_hash="cafe0123", plan=plan, status=status)


def write_world(store: LineageStore, preset: Preset, backtests: dict, home: Path) -> None:
    """Two weeks through the store's public methods, and the backtest CSVs of both weeks."""
    write_week(store, preset, W1, {m: {"role": v[0]} for m, v in MODELS.items() if v[1] == W1}, ["first week: explorers only"])
    write_week(store, preset, W2, {m: {"role": v[0]} for m, v in MODELS.items() if v[1] == W2}, [f"refiners: top 2 of 3 from week {W1}"])
    for i, (model_id, (role, week, parent, tickers, lr, mult, steps)) in enumerate(MODELS.items()):
        cumulative = (MODELS[parent][6] if parent else 0) + steps
        store.upsert_model(
            model_id, role=role, created_week=week, tickers=tickers, hyperparameters={"learning_rate": lr, "n_steps": 128}, parent_id=parent
        )
        if model_id == F:
            store.set_model_status(F, "failed", "training failed: RuntimeError: out of memory")
            continue
        store.set_model_bundle(model_id, bundle_uri=f"/archive/{model_id}", bundle_sha256="0" * 64, cumulative_timesteps=cumulative)
        w = week_windows(week, preset)
        store.record_training_run(
            model_id,
            week,
            steps_added=steps,
            base_lr=lr,
            lr_multiplier=mult,
            lr_schedule="constant" if parent else "linear",
            train_start=w.train_start,
            train_end=w.train_end,
            recent_start=w.recent_start if parent else None,
            recent_fraction=0.7 if parent else 0.0,
            wall_time_s=12.5 + i,
            history=history(i, steps, cumulative - steps),
        )
    for (week, model_id), result in backtests.items():
        w = week_windows(week, preset)
        summary = result.summary()
        store.record_evaluation(
            model_id,
            week,
            "validation",
            window_start=w.validation_start,
            window_end=w.validation_end,
            metrics=summary["metrics"],
            benchmarks=summary["benchmarks"],
            score=summary["score"],
            n_trials=len(EVALUATED[week]),
        )
        folder = home / "runs" / week.isoformat() / "backtests"
        folder.mkdir(parents=True, exist_ok=True)
        result.to_frame().to_csv(folder / f"{model_id}.csv", index_label="date")
    store.set_champion(W1, A, rule=CHAMPION_RULES[W1], score=backtests[W1, A].metrics["sharpe"])
    store.set_model_status(R1, "rolled_back", ROLLBACK_REASON)
    store.record_event(
        W2, "rollback", model_id=R1, payload={"parent_id": C, "child_score": -0.4, "parent_score": 0.5, "reason": ROLLBACK_REASON}
    )
    store.set_model_status(C, "retired", PRUNE_REASON)
    store.record_event(W2, "archive_prune", model_id=C, payload={"bundle_uri": f"/archive/{C}"})
    store.set_champion(W2, R0, rule=CHAMPION_RULES[W2], score=backtests[W2, R0].metrics["sharpe"])


class Page(HTMLParser):
    """The report's sections (by id), each with its text, its tables (rows of cell texts) and its images."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.sections: dict[str, dict] = {}
        self._section: dict | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "section":
            self._section = self.sections.setdefault(a["id"], {"text": [], "tables": [], "images": []})
        elif self._section is None:
            return
        elif tag == "table":
            self._section["tables"].append([])
        elif tag == "tr":
            self._row = []
            self._section["tables"][-1].append(self._row)
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "img":
            self._section["images"].append(a["src"])

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "section":
            self._section = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if self._section is not None:
            self._section["text"].append(data)

    def text(self, section: str) -> str:
        return " ".join(" ".join(self.sections[section]["text"]).split())

    def rows(self, section: str, table: int = 0) -> list[list[str]]:
        return self.sections[section]["tables"][table][1:]  # without the header row


def plotly_traces(text: str, div_id: str) -> list[dict]:
    """The traces of the plotly chart drawn into ``div_id`` (the JSON passed to ``Plotly.newPlot``)."""
    match = re.search(rf'Plotly\.newPlot\(\s*"{re.escape(div_id)}",\s*', text)
    assert match, f"no plotly chart {div_id} in the page"
    start = match.end()
    traces, _ = json.JSONDecoder().raw_decode(text[start:].lstrip())
    return traces


def assert_self_contained(text: str) -> None:
    """One file that opens offline: plotly.js inlined exactly once, no script, image or link pointing at the network."""
    from plotly.offline import get_plotlyjs

    assert text.count(get_plotlyjs()[:500]) == 1, "plotly.js must be inlined exactly once"
    markup = re.sub(r"<script[^>]*>.*?</script>", "", text, flags=re.S)  # plotly.js's own strings mention URLs
    assert not re.search(r"""(?:src|href)\s*=\s*["']?(?:https?:)?//""", markup), "the page links to the network"
    assert "<script src" not in text and "cdn.plot.ly" not in markup


def assert_png(path: Path) -> None:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    width, height = struct.unpack(">II", data[16:24])  # IHDR
    assert len(data) > 10_000 and width >= 600 and height >= 400, (len(data), width, height)


def test_report_of_a_full_week(lineage_store: LineageStore, preset: Preset, backtests: dict, tmp_path: Path) -> None:
    write_world(lineage_store, preset, backtests, tmp_path)
    week_dir = tmp_path / "runs" / W2.isoformat()

    # the first week's orders, marked over the second week: the forward record the report charts
    lineage_store.upsert_paper_week(
        W1, status="marked", reason=CHAMPION_RULES[W1], model_id=A, start_date=W1, end_date=W2,
        net_return=0.012, own_1n_return=0.008, universe_1n_return=0.005, benchmark_return=0.01,
    )  # fmt: skip
    run = {"run_id": "scheduled__2024-01-07T02:00:00+00:00", "params": {"preset": "demo", "seed": 7, "tickers": ["AAPL", "KO"]}}
    path = write_weekly_report(lineage_store, W2, week_dir, preset, run=run)
    assert path == week_dir / "report" / "index.html" and path.is_file()
    text = path.read_text(encoding="utf-8")
    page = Page(text)
    assert list(page.sections) == [
        "header",
        "budget",
        "leaderboard",
        "orders",
        "equity",
        "forward",
        "progress",
        "regimes",
        "champions",
        "lineage",
        "training",
        "pbt",
        "events",
    ]

    # 1. header: cutoff, preset, windows, status, the plan's notes
    header = page.text("header")
    for needle in (W2.isoformat(), "demo", preset.description, "done", f"refiners: top 2 of 3 from week {W1}"):
        assert needle in header, needle
    facts = {r[0]: r[1] for r in page.rows("header", 0)}
    assert facts["run id"] == run["run_id"] and facts["run params"] == "preset=demo, seed=7, tickers=AAPL,KO"
    assert facts[f"universe ({len(preset.data.universe)} tickers)"] == ", ".join(preset.data.universe)
    assert facts["seed"] == str(preset.seed) and facts["steps this week (budget)"] == "18,432"
    windows = {r[0]: r[1:] for r in page.rows("header", 1)}
    assert windows["validation"] == ["2023-10-15", W2.isoformat()]

    # 2. budget split of the demo preset, planned vs trained from the registry
    budget = {r[0]: r[1:] for r in page.rows("budget")}
    assert budget["explorer"] == ["3", "4,096", "12,288", "66.7%", "3", "2", "1", "8,192"]
    assert budget["refiner"] == ["2", "2,048", "4,096", "22.2%", "2", "2", "0", "4,096"]
    assert budget["champion"] == ["1", "2,048", "2,048", "11.1%", "1", "1", "0", "2,048"]
    assert budget["total"][:4] == ["6", "—", "18,432", "100.0%"]

    # 3. leaderboard: every model evaluated this week, best first, the rollback marked with its reason
    board = lineage_store.leaderboard(W2)
    rows = page.rows("leaderboard")
    assert [r[1] for r in rows] == [b.model_id for b in board] and len(rows) == len(EVALUATED[W2])
    by_id = {r[1]: r for r in rows}
    assert by_id[R1][-1].startswith("ROLLED BACK") and ROLLBACK_REASON in by_id[R1][-1]
    assert html.escape(ROLLBACK_REASON) in text and "<check escaping>" not in text
    assert '<tr class="rolled_back">' in text
    assert by_id[R0][3] == B and by_id[R0][4] == "2" and by_id[R0][5] == "JPM, V" and by_id[R0][6] == "6,144"
    assert by_id[R0][7] == f"{board[[b.model_id for b in board].index(R0)].score:.4f}"
    assert "champion" in by_id[R0][-1]
    r0 = board[[b.model_id for b in board].index(R0)]
    assert by_id[R0][13] == verdict_text(metric_labels(r0.metrics)) and "Sharpe > 1 good, > 2 excellent" in page.text("leaderboard")
    # own 1/N (equal-weight buy-and-hold of the model's tickers) next to the score, flagged when the model trails it
    for e in lineage_store.evaluations(week=W2, window="validation"):
        bar = e.benchmarks["buy_and_hold"]["sharpe"]
        assert by_id[e.model_id][8].startswith(f"{bar:.4f}")
        assert ("trails 1/N" in by_id[e.model_id][8]) == (e.score <= bar)
    # models created this week are marked new; last week's, ranked again, are not
    assert {r[1] for r in rows if r[-2] == "new"} == {D, E, R0, R1, K} and by_id[A][-2] == ""
    assert "5 new this week" in page.text("leaderboard")
    # return, not a second copy of the score (the score is the Sharpe ratio)
    assert by_id[R0][9] == f"{backtests[W2, R0].metrics['total_return']:.1%}"

    # orders: none were prepared in this world, and the section says so
    assert "No paper orders were prepared this week" in page.text("orders")

    # 4. equity curves of the top 5 with a total-return table against the benchmarks, their drawdowns and rolling
    # Sharpe: interactive charts in the page itself
    assert page.sections["equity"]["images"] == []
    assert_self_contained(text)
    equity_traces = plotly_traces(text, "chart-equity")
    models = {t["name"]: t for t in equity_traces if t.get("legendgroup") and "buy & hold" not in t["name"]}
    holds = [t for t in equity_traces if "buy & hold" in t["name"]]
    assert list(models) == [b.model_id for b in board[:5]] and len(holds) == 5
    for hold in holds:  # buy-and-hold: grey, thinner, dashed, in its model's legend group; never a model's colour
        group = hold["legendgroup"]
        assert hold["name"] == f"{group}: buy & hold of its tickers" and group in models
        assert hold["line"]["dash"] == "dash" and hold["line"]["color"] == "#8c8c8c"
        assert hold["line"]["width"] < models[group]["line"]["width"] and "dash" not in models[group]["line"]
    assert len({m["line"]["color"] for m in models.values()} | {"#8c8c8c"}) == 6
    assert [t["name"] for t in equity_traces][-1] == "SPY"
    assert len(plotly_traces(text, "chart-drawdown")) == 6
    sharpe_traces = plotly_traces(text, "chart-rolling-sharpe")
    assert [t["name"] for t in sharpe_traces] == [*(b.model_id for b in board[:5]), "SPY"]
    assert "Rolling Sharpe" in page.text("equity") and "trading days, annualised" in page.text("equity")
    assert any(v is not None for v in sharpe_traces[0]["y"])
    equity = page.rows("equity")
    assert [r[0] for r in equity] == [b.model_id for b in board[:5]]
    top = backtests[W2, board[0].model_id]
    assert equity[0][1] == f"{top.metrics['total_return']:.1%}"
    assert equity[0][4] == f"{top.benchmarks['SPY'].metrics['total_return']:.1%}"

    # the forward record: paper orders against 1/N and SPY, interactive, one marked week
    forward = {t["name"]: t for t in plotly_traces(text, "chart-forward")}
    assert list(forward) == ["paper orders (net)", "1/N of the same tickers", "1/N of the universe", "SPY", "drawdown of the orders"]
    assert forward["paper orders (net)"]["y"] == pytest.approx([1.012])
    assert forward["1/N of the same tickers"]["line"]["dash"] == "dash" and forward["1/N of the same tickers"]["line"]["color"] == "#8c8c8c"
    assert page.sections["forward"]["images"] == []

    # progress: week over week the forward record first, the validation score second and labelled as no forward
    # measure; generation over generation; champion longevity
    progress = page.text("progress")
    assert progress.index("Week over week: the forward record") < progress.index("best validation score (not a forward measure)")
    assert page.rows("progress", 0) == [[W1.isoformat(), "marked", A, "1.20%", "0.80%", "0.40%", "1.20%"]]
    trend = lineage_store.weekly_trend("validation")
    assert [r[:3] for r in page.rows("progress", 1)] == [[p.week.isoformat(), p.model_id, f"{p.best_score:.4f}"] for p in reversed(trend)]
    improvement = lineage_store.generation_improvement("validation")
    assert [r[:3] for r in page.rows("progress", 2)] == [
        [str(g.generation), str(g.children), str(g.improved)] for g in improvement.by_generation
    ]
    assert f"{improvement.overall.improved} of {improvement.overall.children} children" in progress
    longevity = {r[0]: r[1] for r in page.rows("progress", 3)}
    assert longevity["champions so far"] == "2" and longevity[f"champion on {W2.isoformat()}"] == f"{R0}: 1 week(s)"

    # 5. champion history (newest first) and stints
    assert [r[:3] for r in page.rows("champions", 0)] == [[W2.isoformat(), R0, CHAMPION_RULES[W2]], [W1.isoformat(), A, CHAMPION_RULES[W1]]]
    assert page.rows("champions", 0)[0][4] == A  # previous champion
    assert [r[:4] for r in page.rows("champions", 1)] == [
        [R0, W2.isoformat(), W2.isoformat(), "1"],
        [A, W1.isoformat(), W1.isoformat(), "1"],
    ]

    # 6. lineage of the champion: root B (gen 1) -> R0 (gen 2), steps and learning rates
    lineage = page.rows("lineage")
    assert [(r[0], r[1]) for r in lineage] == [("1", B), ("2", R0)]
    assert lineage[1][4] == "2,048" and lineage[1][5] == "6,144" and lineage[1][6].startswith("5e-05 (0.0001 x0.5, constant)")
    assert lineage[0][7] == f"{backtests[W1, B].metrics['sharpe']:.4f}"
    # and the tree of every generation: R1 was rolled back to C, R0 and K continue B and A
    assert "9 models, 3 parent links: 2 continuation, 1 rollback, 0 exploit, 0 promotion" in page.text("lineage")

    # 7. training curves of the week's five runs: an interactive chart of reward, explained variance, learning rate
    # and losses; throughput per run; explained variance below 0 flagged
    assert page.sections["training"]["images"] == []
    training = plotly_traces(text, "chart-training")
    assert {t["name"] for t in training} == {D, E, R0, R1, K}
    assert len(training) == 5 * 6 and sum(t["showlegend"] for t in training) == 5  # 6 panels, one legend entry per model
    for title in ("episode reward", "explained variance (below 0", "learning rate", "value loss"):
        assert title in text, title
    runs = {r[0]: r for r in page.rows("training")}
    assert sorted(runs) == sorted([D, E, R0, R1, K])
    assert list(MODELS).index(E) == 4  # the history with negative explained variance
    for model_id, row in runs.items():
        assert ("below 0" in row[8]) == (model_id == E), row
        steps, wall = MODELS[model_id][6], 12.5 + list(MODELS).index(model_id)
        assert row[10] == f"{round(steps / wall):,}" and row[7] != "—"
    assert f"Explained variance below 0 at the end (the value function is worse than a constant): {E}." in page.text("training")
    assert all(r[-1] == "converging" or r[-1].startswith(("check: ", "too short")) for r in page.rows("training"))
    assert "explained variance rising" in page.text("training")

    # 8. events: the rollback and the archive prune
    events = {r[0]: r for r in page.rows("events")}
    assert events["rollback"][1] == R1 and ROLLBACK_REASON in events["rollback"][3]
    assert events["archive_prune"][1] == C and f"/archive/{C}" in events["archive_prune"][4]

    # every referenced image is a real PNG beside the HTML
    images = [src for s in page.sections.values() for src in s["images"]]
    assert images == [REGIMES_PNG, LINEAGE_PNG]
    for src in images:
        assert_png(path.parent / src)
    assert not list(path.parent.glob(".*.tmp")), "temporary files left behind"

    # a rerun writes the same page
    assert write_weekly_report(lineage_store, W2, week_dir, preset, run=run).read_text(encoding="utf-8") == text


def test_missing_backtests_and_an_earlier_week(lineage_store: LineageStore, preset: Preset, backtests: dict, tmp_path: Path) -> None:
    write_world(lineage_store, preset, backtests, tmp_path)
    week_dir = tmp_path / "runs" / W2.isoformat()
    best, second = (b.model_id for b in lineage_store.leaderboard(W2, limit=2))
    (week_dir / "backtests" / f"{best}.csv").unlink()
    (week_dir / "backtests" / f"{second}.csv").write_text("date,nothing\n2024-01-02,1\n")

    page_text = write_weekly_report(lineage_store, W2, week_dir, preset).read_text(encoding="utf-8")
    page = Page(page_text)
    equity = page.text("equity")
    assert f"{best}: no saved backtest" in equity and f"{second}: could not read" in equity
    assert [r[0] for r in page.rows("equity")] == [b.model_id for b in lineage_store.leaderboard(W2)[2:5]]
    assert plotly_traces(page_text, "chart-equity")[0]["name"] == lineage_store.leaderboard(W2)[2].model_id
    assert_self_contained(page_text)

    # the first week, reported after the second exists, shows only what was known then
    page = Page(write_weekly_report(lineage_store, W1, tmp_path / "runs" / W1.isoformat(), preset).read_text(encoding="utf-8"))
    assert [r[1] for r in page.rows("champions", 0)] == [A]
    assert [r[1] for r in page.rows("lineage")] == [A]
    assert "3 models, 0 parent links" in page.text("lineage")
    assert "No rollbacks" in page.text("events")
    assert [r[1] for r in page.rows("leaderboard")] == [b.model_id for b in lineage_store.leaderboard(W1)]


def test_empty_first_week(lineage_store: LineageStore, preset: Preset, tmp_path: Path) -> None:
    week_dir = tmp_path / "runs" / W1.isoformat()
    write_week(lineage_store, preset, W1, {}, ["first week: nothing evaluated before this cutoff, so explorers only"], status="planned")
    # stale plots of an earlier run of this week must not survive a run that has nothing to draw
    (week_dir / "report").mkdir(parents=True)
    (week_dir / "report" / EQUITY_PNG).write_bytes(b"stale")
    (week_dir / "report" / DRAWDOWN_PNG).write_bytes(b"stale")

    path = write_weekly_report(lineage_store, W1, week_dir, preset)
    page = Page(path.read_text(encoding="utf-8"))
    assert "first week: nothing evaluated" in page.text("header") and "planned" in page.text("header")
    assert {r[0]: r[5] for r in page.rows("budget")}["explorer"] == "0"
    assert "no leaderboard" in page.text("leaderboard")
    assert "no equity curves" in page.text("equity")
    assert "No champion has been chosen yet" in page.text("champions")
    assert "no champion lineage" in page.text("lineage")
    assert "No model was trained" in page.text("training")
    assert "No rollbacks" in page.text("events")
    assert "No week has been marked yet" in page.text("progress") and "No champion has been chosen yet" in page.text("progress")
    assert "no per-regime leaderboards" in page.text("regimes")
    # the index's regime timeline needs no model: it is the only plot of an empty week
    assert [src for s in page.sections.values() for src in s["images"]] == [REGIMES_PNG]
    assert sorted(p.name for p in path.parent.iterdir()) == ["index.html", REGIMES_PNG]

    # a week that was never planned still renders, and says so
    page = Page(write_weekly_report(lineage_store, W2, tmp_path / "runs" / W2.isoformat(), preset).read_text(encoding="utf-8"))
    assert "never planned" in page.text("header")


def test_leaderboard_lists_each_pbt_member_once(lineage_store: LineageStore, preset: Preset, tmp_path: Path) -> None:
    write_week(lineage_store, preset, W1, {}, [])
    hp = preset.ppo.model_dump(mode="json")
    versions = {
        "pbt-main-m00-r001": None,
        "pbt-main-m00-r002": "pbt-main-m00-r001",
        "pbt-main-m01-r001": None,
        "pbt-main-m01-r002": "pbt-main-m00-r001",
    }
    for i, (model_id, parent) in enumerate(versions.items()):
        lineage_store.upsert_model(
            model_id, role="pbt", created_week=W1, tickers=["KO"], hyperparameters=hp, parent_id=parent, status="active"
        )
        lineage_store.record_evaluation(
            model_id, W1, "validation", window_start=W1 - dt.timedelta(weeks=12), window_end=W1, metrics={"sharpe": i}, score=float(i)
        )
    page = Page(write_weekly_report(lineage_store, W1, tmp_path / "runs" / W1.isoformat(), preset).read_text(encoding="utf-8"))
    # round 2 superseded both round-1 versions (m01-r002 continues a copy of m00-r001: m01-r001 was replaced)
    assert [r[1] for r in page.rows("leaderboard")] == ["pbt-main-m01-r002", "pbt-main-m00-r002"]
    assert "2 earlier PBT round versions are left out" in page.text("leaderboard")
