"""Walk forward: N consecutive weeks in-process through the weekly DAG's own task functions, then the record.

Each week runs :mod:`autotest_lib.tasks.weekly` in the DAG's order (migrate, start_week, ingest, mark_ledger,
plan, train every planned model, candidates, backtests, select, paper_trades, report), so lineage continues
from week to week exactly as scheduled runs would leave it. A week whose registry status is ``done`` is
skipped: an interrupted walk resumes at the first week not done (every task is idempotent for its week).
After the last week the ledger is brought up to ``last + 7 days``, so the last week's orders are marked too.

Everything that can be checked before training is checked first (:func:`check_walk`): the preset, the first
cutoff (a Sunday with a year of training data before it), prices up to the last week's marking, and a home
whose lineage belongs to the same preset.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from autotest_lib.config import Preset, load_preset, scaled
from autotest_lib.data import load_prices
from autotest_lib.errors import ConfigError, DataError
from autotest_lib.registry import LineageStore, resolve_db_url, upgrade
from autotest_lib.runs import week_windows
from autotest_lib.tasks import weekly as tasks

__all__ = ["WalkSpec", "check_walk", "run_walk", "walk_env"]

log = logging.getLogger(__name__)

STEP = dt.timedelta(days=7)
ROLES = ("explorer", "refiner", "champion")
MAX_PRICE_LAG_DAYS = 4
"""The last close before a Sunday cutoff is Friday's, or earlier around holidays: at most this many days back."""


@dataclass(frozen=True)
class WalkSpec:
    """What to walk.

    :param preset: preset name or path.
    :param start: the first week's cutoff (a Sunday).
    :param weeks: consecutive weeks to run.
    :param scale: every role's timesteps multiplied by this (the DAG's ``timesteps_scale``).
    :param seed: the base seed (the DAG's ``seed``).
    :param report: write each week's HTML report (the DAG's last task); False saves time in benchmarks.
    """

    preset: str
    start: dt.date
    weeks: int
    scale: float = 1.0
    seed: int = 0
    report: bool = True

    @property
    def cutoffs(self) -> list[dt.date]:
        return [self.start + i * STEP for i in range(self.weeks)]

    def params(self) -> dict[str, Any]:
        return {"preset": self.preset, "timesteps_scale": self.scale, "tickers": None, "seed": self.seed}


@contextmanager
def walk_env(home: Path | None, db: str | None = None) -> Iterator[None]:
    """Point the tasks at ``home`` (``AUTOTEST_HOME``) and its lineage database for the duration.

    The database is ``db`` if given, else ``$AUTOTEST_DB_URL`` when no home is given, else the home's own SQLite
    file: a walk with its own home never writes into another lineage.
    """
    saved = {k: os.environ.get(k) for k in ("AUTOTEST_HOME", "AUTOTEST_DB_URL")}
    try:
        if home is not None:
            home = Path(home).expanduser().resolve()
            home.mkdir(parents=True, exist_ok=True)
            os.environ["AUTOTEST_HOME"] = str(home)
            os.environ["AUTOTEST_DB_URL"] = db or f"sqlite:///{home / 'lineage.sqlite'}"
        elif db:
            os.environ["AUTOTEST_DB_URL"] = db
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _last_price_date(preset: Preset, until: dt.date) -> dt.date:
    frame = load_prices(
        [preset.data.benchmark], cutoff=until + dt.timedelta(days=1), start=until - dt.timedelta(days=60), source=preset.data.source
    )
    return frame["date"].max().date()


def check_walk(spec: WalkSpec) -> Preset:
    """Everything checkable before training; returns the loaded preset.

    :raises ConfigError: bad preset, weeks, start date or scale, or a home holding another preset's lineage.
    :raises DataError: the prices end before the walk's last week can be marked.
    """
    preset = load_preset(spec.preset)  # an unknown preset fails here, naming the ones there are
    if spec.weeks < 1:
        raise ConfigError(f"--weeks {spec.weeks}: walk at least 1 week")
    if spec.scale <= 0:
        raise ConfigError(f"--scale {spec.scale}: must be > 0")
    if spec.start.weekday() != 6:
        sunday = spec.start + dt.timedelta(days=(6 - spec.start.weekday()) % 7)
        raise ConfigError(f"--from {spec.start} is a {spec.start:%A}; weekly cutoffs are Sundays (the DAG's schedule), e.g. {sunday}")
    scaled(preset, spec.scale)
    week_windows(spec.start, preset)  # a first week without a year of training data fails here
    last = spec.cutoffs[-1]
    needed = last + STEP
    have = _last_price_date(preset, needed)
    if (needed - have).days > MAX_PRICE_LAG_DAYS:
        fit = (have + dt.timedelta(days=MAX_PRICE_LAG_DAYS) - STEP - spec.start).days // 7 + 1
        raise DataError(
            f"--weeks {spec.weeks} from {spec.start} runs past the data: marking week {last}'s orders needs prices up to "
            f"{needed - dt.timedelta(days=2)} but source {preset.data.source!r} ends {have}; use --weeks {max(fit, 0)} or an earlier --from"
        )
    url = resolve_db_url()
    upgrade(url)
    with LineageStore(url) as store:
        others = sorted({(w.preset, w.week) for w in store.list_weeks() if w.preset != preset.name})
    if others:
        names = sorted({p for p, _ in others})
        raise ConfigError(
            f"the lineage at {os.environ.get('AUTOTEST_HOME', 'var')} holds preset {', '.join(map(repr, names))} "
            f"({len(others)} week(s) from {others[0][1]}), not {preset.name!r}; use another --home or --preset {names[0]}"
        )
    return preset


class Progress:
    """A one-line progress bar with weeks done and ETA on a terminal (redrawn in place); a plain line per week elsewhere."""

    def __init__(self, total: int, label: str, stream: TextIO | None = None) -> None:
        self.total, self.label = total, label
        self.stream = stream or sys.stderr
        self.tty = bool(getattr(self.stream, "isatty", lambda: False)())
        self.started = time.monotonic()
        self.timed = 0  # weeks run in this process (resumed weeks do not count for the ETA)

    @staticmethod
    def _clock(seconds: float) -> str:
        seconds = round(seconds)
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m" if seconds >= 3600 else f"{seconds // 60}m{seconds % 60:02d}s"

    def update(self, done: int, note: str, *, ran: bool) -> None:
        self.timed += int(ran)
        elapsed = time.monotonic() - self.started
        eta = elapsed / self.timed * (self.total - done) if self.timed else None
        width = 24
        fill = round(width * done / self.total) if self.total else width
        bar = "#" * fill + "." * (width - fill)
        left = self._clock(eta) if eta is not None else "?"
        line = f"{self.label} [{bar}] {done}/{self.total} weeks  elapsed {self._clock(elapsed)}  ETA {left}  {note}"
        if self.tty:
            self.stream.write("\r" + line[:160].ljust(160) + ("\n" if done == self.total else ""))
            self.stream.flush()
        else:
            self.stream.write(line + "\n")
            self.stream.flush()


def run_week(week_params: dict[str, Any], cutoff: dt.date, *, report: bool = True) -> dict[str, Any]:
    """One week through the DAG's task functions, in the DAG's order; returns the week dict.

    A failed training is logged and left ``failed`` as the DAG's ``all_done`` trigger rule would leave it;
    every other failure stops the week.
    """
    interval_end = dt.datetime.combine(cutoff, dt.time(2), tzinfo=dt.UTC)
    week = tasks.start_week(week_params, interval_end)
    tasks.ingest(week)
    tasks.mark_ledger(week)
    ids = tasks.plan(week)
    for role in ROLES:
        for model_id in ids[role]:
            try:
                tasks.train_one(week, model_id)
            except Exception:  # the DAG goes on past a failed training (collect_candidates is all_done)
                log.exception("week %s: training %s failed; the week goes on without it", cutoff, model_id)
    for model_id in tasks.candidates(week):
        tasks.backtest_one(week, model_id)
    tasks.select(week)
    tasks.paper_trades(week)
    if report:
        tasks.report(week)
    else:
        with LineageStore() as store:
            store.set_week_status(cutoff, "done")
    return week


def run_walk(spec: WalkSpec, *, progress: Callable[[int, str, bool], None] | None = None) -> tuple[Any, ...]:
    """Run the walk (resuming at the first week not done) and return the paper ledger.

    Call inside :func:`walk_env` to choose the home and database.

    :param spec: what to walk.
    :param progress: called ``(weeks done, note, ran)`` after each week; default a :class:`Progress` bar.
    """
    preset = check_walk(spec)
    bar = Progress(spec.weeks, f"walkforward {preset.name}")
    report = progress or (lambda done, note, ran: bar.update(done, note, ran=ran))
    tasks.migrate()
    week: dict[str, Any] | None = None
    for i, cutoff in enumerate(spec.cutoffs, start=1):
        with LineageStore() as store:
            record = store.get_week(cutoff)
        if record is not None and record.status == "done":
            report(i, f"{cutoff} done before", False)
            continue
        week = run_week(spec.params(), cutoff, report=spec.report)
        report(i, f"{cutoff} done", True)
    if week is None:
        week = tasks.start_week(spec.params(), dt.datetime.combine(spec.cutoffs[-1], dt.time(2), tzinfo=dt.UTC))
    final = dict(week, cutoff=(spec.cutoffs[-1] + STEP).isoformat())
    tasks.mark_ledger(final)  # the last week's orders, marked with the week after it
    with LineageStore() as store:
        return store.paper_ledger()
