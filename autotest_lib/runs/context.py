"""The week a DAG run works on: :class:`WeekContext` (cutoff, preset, params, windows, home) and
:class:`WeekPaths`, the only place the ``runs/<cutoff>/...`` folder layout is spelled out.

Under ``$AUTOTEST_HOME`` (default ``./var``)::

    runs/<cutoff>/models/<model_id>/        a model's training folder and bundle
    runs/<cutoff>/backtests/<model_id>.csv  its daily validation series
    runs/<cutoff>/selection.json            the week's selection
    runs/<cutoff>/orders/                   paper-trade orders (CSV and JSON)
    runs/<cutoff>/report/                   the weekly report
    runs/<cutoff>/pbt/<population>/         a PBT run's summary and report
    pbt/<population>/members/<model_id>/    PBT's own copies of its members' bundles
    archive/<model_id>/                     bundles kept by the weekly selection

The context travels between tasks as XCom through :meth:`WeekContext.to_xcom` / :meth:`WeekContext.from_xcom`
(small JSON: dates as ISO strings, never DataFrames or models).
"""

from __future__ import annotations

import datetime as dt
import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autotest_lib.config import Preset, run_preset
from autotest_lib.runs.windows import WeekWindows, last_completed_week

__all__ = ["WeekContext", "WeekPaths", "autotest_home", "run_cutoff"]

log = logging.getLogger(__name__)


def autotest_home() -> Path:
    """Root of week outputs and the archive: ``$AUTOTEST_HOME`` (default ``./var``)."""
    return Path(os.environ.get("AUTOTEST_HOME", "var")).resolve()


def run_cutoff(data_interval_end: dt.datetime | None, *, today: dt.date | None = None) -> dt.date:
    """A run's cutoff: its data-interval end, never the clock.

    A manual run without a logical date has no interval; it uses the last completed week (the latest
    Sunday on or before ``today``, default the UTC date) and says so in the log.
    """
    if data_interval_end is not None:
        return data_interval_end.date()
    cutoff = last_completed_week(today or dt.datetime.now(dt.UTC).date())
    log.warning("run has no data interval (manual run without a logical date): using the last completed week, cutoff %s", cutoff)
    return cutoff


@dataclass(frozen=True)
class WeekPaths:
    """The files of one week under ``home`` (see the module docstring)."""

    home: Path
    cutoff: dt.date

    @property
    def run_dir(self) -> Path:
        return self.home / "runs" / self.cutoff.isoformat()

    @property
    def backtests(self) -> Path:
        return self.run_dir / "backtests"

    @property
    def selection(self) -> Path:
        return self.run_dir / "selection.json"

    @property
    def orders(self) -> Path:
        return self.run_dir / "orders"

    @property
    def report(self) -> Path:
        return self.run_dir / "report"

    @property
    def archive(self) -> Path:
        return self.home / "archive"

    def model_dir(self, model_id: str) -> Path:
        """Where a model of this week trains and leaves its bundle."""
        return self.run_dir / "models" / model_id

    def backtest_series(self, model_id: str) -> Path:
        """A model's daily validation series (CSV)."""
        return self.backtests / f"{model_id}.csv"

    def pbt_report(self, population: str) -> Path:
        """A PBT run's summary and report folder."""
        return self.run_dir / "pbt" / population

    def pbt_members(self, population: str) -> Path:
        """PBT's own copies of a population's latest bundles (not per week)."""
        return self.home / "pbt" / population / "members"


@dataclass(frozen=True)
class WeekContext:
    """One week of a DAG run.

    :param cutoff: the week's cutoff (the run's data-interval end); every price read is strictly before it.
    :param preset: the preset's name.
    :param windows: the week's date windows (from the cutoff and the preset).
    :param home: root of the outputs (``$AUTOTEST_HOME``).
    :param seed: the run's seed.
    :param timesteps_scale: multiplies every role's timesteps.
    :param tickers: the run's ticker override (None = the preset's universe).
    """

    cutoff: dt.date
    preset: str
    windows: WeekWindows
    home: Path
    seed: int = 0
    timesteps_scale: float = 1.0
    tickers: tuple[str, ...] | None = None
    paths: WeekPaths = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "paths", WeekPaths(self.home, self.cutoff))

    def load_preset(self) -> Preset:
        """The week's preset with the run's params applied (:func:`~autotest_lib.config.run_preset`)."""
        return run_preset(self.preset, seed=self.seed, tickers=self.tickers, timesteps_scale=self.timesteps_scale)

    def to_xcom(self) -> dict[str, Any]:
        """Small JSON for XCom; :meth:`from_xcom` reads it back."""
        return {
            "cutoff": self.cutoff.isoformat(),
            "preset": self.preset,
            "timesteps_scale": self.timesteps_scale,
            "tickers": list(self.tickers) if self.tickers else None,
            "seed": self.seed,
            "home": str(self.home),
            "windows": self.windows.as_dict(),
        }

    @classmethod
    def from_xcom(cls, data: dict[str, Any]) -> WeekContext:
        """The context :meth:`to_xcom` wrote (extra keys, e.g. a PBT run's, are ignored)."""
        return cls(
            cutoff=dt.date.fromisoformat(data["cutoff"]),
            preset=data["preset"],
            windows=WeekWindows.from_dict(data["windows"]),
            home=Path(data["home"]),
            seed=int(data.get("seed", 0)),
            timesteps_scale=float(data.get("timesteps_scale", 1.0)),
            tickers=tuple(data["tickers"]) if data.get("tickers") else None,
        )
