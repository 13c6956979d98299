"""Which prices may a run use: validated bars of the asked tickers, dated in ``[start, cutoff)``."""

from __future__ import annotations

from collections.abc import Iterable

import pandas as pd

from autotest_lib.data.calendar import DEFAULT_CALENDAR, check_fresh
from autotest_lib.data.frame import DateLike, as_day, normalise_tickers
from autotest_lib.data.sources import PriceSource, get_source
from autotest_lib.data.validate import RepairOptions, validate_prices
from autotest_lib.errors import PermanentDataError

__all__ = ["load_prices"]


def load_prices(
    tickers: str | Iterable[str],
    *,
    cutoff: DateLike,
    start: DateLike | None = None,
    source: str | PriceSource = "bundled",
    repair: RepairOptions | None = None,
    fresh: bool = False,
) -> pd.DataFrame:
    """Validated daily bars of ``tickers`` dated in ``[start, cutoff)``, in the :data:`~autotest_lib.data.COLUMNS` layout.

    The cutoff is exclusive and taken as a calendar date (see :func:`~autotest_lib.data.frame.as_day`): a run
    keyed by its logical date sees exactly what it would have seen live.

    :param tickers: symbols, e.g. ``["AAPL", "MSFT"]``.
    :param cutoff: exclusive end; nothing dated on or after it is returned.
    :param start: first date (inclusive); ``None`` means from the source's beginning.
    :param source: ``"bundled"`` (offline), ``"yfinance"``, or a :class:`~autotest_lib.data.PriceSource`.
    :param repair: repairs :func:`~autotest_lib.data.validate_prices` may apply; default the source's own
        (``data.source`` ``validation``), else none.
    :param fresh: require every ticker's bar on the last session before the cutoff, by the source's trading
        calendar (``calendar`` attribute, default NYSE); skipped for a fixed snapshot (the bundled file).
    :raises PermanentDataError: unknown ticker, no rows in the window, a stale source, or a validation failure.
    :raises TransientDataError: the source did not answer (network, database); a retry may succeed.
    """
    wanted = normalise_tickers(tickers)
    end = as_day(cutoff)
    lo = as_day(start) if start is not None else None
    if lo is not None and lo >= end:
        raise PermanentDataError(f"start {lo.date()} is not before cutoff {end.date()}; the window [start, cutoff) is empty")
    src = get_source(source)
    frame = src.fetch(wanted, lo, end)
    frame = frame.loc[frame["date"] < end]  # the cutoff is enforced here too, whatever the source does
    if lo is not None:
        frame = frame.loc[frame["date"] >= lo]
    empty = [t for t in wanted if t not in set(frame["ticker"].unique().tolist())]
    if empty:
        window = f"[{lo.date() if lo is not None else 'start'}, {end.date()})"
        raise PermanentDataError(
            f"no prices for {empty} in {window} from source {getattr(src, 'name', src)!r}; move the window or drop them"
        )
    if fresh and not getattr(src, "snapshot", False):
        check_fresh(frame, end, source=str(getattr(src, "name", src)), calendar=getattr(src, "calendar", DEFAULT_CALENDAR))
    return validate_prices(
        frame.reset_index(drop=True),
        repair if repair is not None else getattr(src, "repair", None),
        calendar=getattr(src, "calendar", None),
    )
