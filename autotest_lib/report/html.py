"""Small HTML pieces for the report: escaped tables, sections, number formats, atomic writes.

Every cell is escaped with :func:`html.escape` unless it is wrapped in :class:`Raw` (markup this module or
the report built from already-escaped parts).
"""

from __future__ import annotations

import html
import math
import os
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

PLOTLY_MARKER = "plotly-graph-div"
"""Class of each plotly chart's div (see :mod:`autotest_lib.report.interactive`)."""

__all__ = [
    "CSS",
    "PLOTLY_MARKER",
    "Raw",
    "atomic_write_bytes",
    "cell",
    "fmt_float",
    "fmt_int",
    "fmt_pct",
    "fmt_steps",
    "page",
    "paragraph",
    "section",
    "table",
]

CSS = """
body { font-family: -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 1.5em auto; max-width: 1200px;
       padding: 0 1em; color: #222; line-height: 1.4; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { font-size: 1.25em; border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 1.8em; }
h3 { font-size: 1.05em; }
nav a { margin-right: 1em; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.9em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.rolled_back td { background: #fde8e8; color: #8a1f1f; }
tr.champion td { background: #e8f6e8; }
tr.total td { font-weight: bold; }
.tag { display: inline-block; font-size: 0.8em; padding: 0 0.4em; border-radius: 3px; background: #eee; margin-left: 0.3em; }
.tag.rolled_back { background: #c0392b; color: #fff; }
.tag.champion { background: #27ae60; color: #fff; }
.tag.new { background: #e3f2e6; color: #1e6b34; }
.note { color: #555; font-style: italic; }
.muted { color: #777; }
.plotly-graph-div { border: 1px solid #eee; margin: 0.6em 0; }
img { max-width: 100%; border: 1px solid #eee; }
ul.notes li { margin: 0.2em 0; }
"""


class Raw(str):
    """Markup that is inserted as is (it was built from escaped parts)."""


def cell(value: Any) -> str:
    """``value`` as table-cell HTML: :class:`Raw` as is, None as an em dash, anything else escaped."""
    if isinstance(value, Raw):
        return str(value)
    if value is None:
        return "&mdash;"
    return html.escape(str(value))


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    try:
        x = float(value)
    except (TypeError, ValueError):
        return None
    return x if math.isfinite(x) else None


def fmt_float(value: Any, digits: int = 4) -> str | None:
    """``value`` with ``digits`` decimals; None for missing or non-finite values (shown as a dash)."""
    x = _number(value)
    return None if x is None else f"{x:.{digits}f}"


def fmt_pct(value: Any, digits: int = 1) -> str | None:
    """A fraction as a percentage (``0.123`` -> ``12.3%``); None when missing."""
    x = _number(value)
    return None if x is None else f"{x:.{digits}%}"


def fmt_int(value: Any) -> str | None:
    """An integer with thousands separators; None when missing."""
    x = _number(value)
    return None if x is None else f"{round(x):,}"


def fmt_steps(value: Any) -> str | None:
    """Step counts the way the presets speak of them: ``4,096`` / ``22.5M``."""
    x = _number(value)
    if x is None:
        return None
    return f"{x / 1e6:.4g}M" if abs(x) >= 1_000_000 else f"{round(x):,}"


def table(
    headers: Sequence[str], rows: Iterable[Sequence[Any]], *, numeric: Iterable[int] = (), row_classes: Sequence[str] | None = None
) -> str:
    """An HTML table; cells go through :func:`cell`.

    :param headers: column titles (escaped).
    :param rows: one sequence of cells per row.
    :param numeric: indexes of right-aligned number columns.
    :param row_classes: a CSS class per row ("" for none), e.g. ``rolled_back``.
    """
    num = set(numeric)
    head = "".join(f"<th>{html.escape(h)}</th>" for h in headers)
    body = []
    for i, row in enumerate(rows):
        klass = row_classes[i] if row_classes is not None and i < len(row_classes) else ""
        tr = f'<tr class="{html.escape(klass)}">' if klass else "<tr>"
        tds = "".join(f'<td class="num">{cell(v)}</td>' if j in num else f"<td>{cell(v)}</td>" for j, v in enumerate(row))
        body.append(f"{tr}{tds}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(body)}</tbody></table>"


def paragraph(text: str, klass: str = "note") -> str:
    """A paragraph of plain (escaped) text."""
    return f'<p class="{klass}">{html.escape(text)}</p>'


def section(anchor: str, title: str, *parts: str) -> str:
    """A titled section with an anchor for the page's navigation."""
    return f'<section id="{html.escape(anchor)}"><h2>{html.escape(title)}</h2>\n' + "\n".join(parts) + "\n</section>"


def page(title: str, nav: Sequence[tuple[str, str]], body: Sequence[str]) -> str:
    """The whole self-contained page: inline CSS, a link bar to the sections, the sections.

    When a section holds a plotly chart, plotly.js is inlined once in the head (no CDN: the page opens offline).
    """
    script = ""
    if any(PLOTLY_MARKER in part for part in body):
        from plotly.offline import get_plotlyjs

        script = f'<script type="text/javascript">{get_plotlyjs()}</script>\n'
    links = " ".join(f'<a href="#{html.escape(a)}">{html.escape(t)}</a>' for a, t in nav)
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{html.escape(title)}</title>\n<style>{CSS}</style>\n{script}</head>\n<body>\n"
        f"<nav>{links}</nav>\n" + "\n".join(body) + "\n</body>\n</html>\n"
    )


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path``, then :func:`os.replace` it into place.

    A reader sees the old file or the new one, never half of one.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.chmod(tmp, 0o644)  # mkstemp makes it private; a report is meant to be read
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
