"""Reports as self-contained HTML (print-ready, charts inline), JSON (everything) or CSV (the main table).

HTML comes from the Jinja templates in ``app/reports/templates`` with autoescaping on: every
text typed by a person is escaped. Nothing is fetched when the file is opened: styles and
SVG charts are inline, images are embedded as ``data:`` URIs.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime, tzinfo
from enum import Enum
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, pass_context, select_autoescape
from jinja2.runtime import Context
from markupsafe import Markup

from stampside.app.domain.signatures import SignatureMark, manifestation
from stampside.app.reports import charts

FORMATS = ("html", "json", "csv")


@pass_context
def _when(context: Context, value: datetime | date | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A stored time in the report's time zone (``tz`` given to :func:`render_html`; none: the computer's)."""
    if value is None:
        return "–"
    if isinstance(value, datetime):
        tz: tzinfo | None = context.get("tz")
        return value.astimezone(tz).strftime(fmt)
    return value.isoformat()


@pass_context
def _signed(context: Context, mark: SignatureMark | None) -> str:
    """A signature as the app shows it (:func:`~stampside.app.domain.signatures.manifestation`),
    in the report's time zone."""
    if mark is None:
        return "–"
    tz: tzinfo | None = context.get("tz")
    return manifestation(mark, tz)


def _number(value: float | None, digits: int = 1, unit: str = "") -> str:
    if value is None:
        return "–"
    text = f"{value:.{digits}f}".rstrip("0").rstrip(".") if digits else f"{value:.0f}"
    return f"{text} {unit}".strip()


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    total = round(seconds)
    minutes, secs = divmod(total, 60)
    hours, minutes = divmod(minutes, 60)
    if hours:
        return f"{hours} h {minutes:02d} min"
    return f"{minutes} min {secs:02d} s" if minutes else f"{secs} s"


def _svg(markup: str) -> Markup:
    """Chart markup built by :mod:`stampside.app.reports.charts` (which escapes its labels)."""
    return Markup(markup)


def session_charts(report: Any) -> dict[str, str]:
    """The coverage bars and force histogram of a session report, as SVG markup."""
    coverage = [
        charts.Bar(
            zone.zone,
            zone.percent or 0.0,
            charts.PALETTE[2] if zone.reached else charts.PALETTE[1] if zone.treated else charts.PALETTE[7],
            text=(f"{zone.percent:.0f} % · " if zone.percent is not None else "") + f"{zone.stamps} stamps",
        )
        for zone in report.coverage
    ]
    force = [
        charts.Bar(f"{b.low_n:g}", b.stamps, charts.QUALITY_COLOURS.get(b.quality, charts.PALETTE[7]))
        for b in report.force_bins
    ]
    return {
        "coverage": charts.hbar_chart(coverage, title="Coverage per zone (% of target)", maximum=100),
        "force": charts.column_chart(force, title="Peak force per stamp", x_label="peak force (N)", y_label="stamps"),
    }


def _environment() -> Environment:
    env = Environment(
        loader=PackageLoader("stampside.app.reports", "templates"),
        autoescape=select_autoescape(["html", "j2"], default_for_string=True),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["when"] = _when
    env.filters["number"] = _number
    env.filters["duration"] = _duration
    env.filters["signed"] = _signed
    env.globals["charts"] = charts
    env.globals["svg"] = _svg
    env.globals["session_charts"] = session_charts
    return env


_ENV: Environment | None = None


def render_html(template: str, report: Any, **extra: Any) -> str:
    """``template`` (e.g. ``"session.html.j2"``) rendered with ``report`` and any extra values
    (``tz``: the time zone times are shown in)."""
    global _ENV
    if _ENV is None:
        _ENV = _environment()
    return _ENV.get_template(template).render(report=report, **extra)


def plain(value: Any) -> Any:
    """``value`` as JSON-ready data: dataclasses become dicts, times ISO 8601 strings."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {field.name: plain(getattr(value, field.name)) for field in dataclasses.fields(value)}
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, Mapping):
        return {str(key): plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [plain(item) for item in value]
    return value


def render_json(report: Any) -> str:
    return json.dumps(plain(report), indent=2, ensure_ascii=False) + "\n"


def render_csv(rows: Iterable[Any], columns: Mapping[str, Callable[[Any], object]]) -> str:
    """One row per item of ``rows``; ``columns`` maps each header to how to read it from an item."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(list(columns))
    for row in rows:
        writer.writerow([_cell(get(row)) for get in columns.values()])
    return out.getvalue()


def _cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Enum):
        return value.value
    return value
