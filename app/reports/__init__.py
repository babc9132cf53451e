"""Reports a clinic hands out or audits: session, course, cohort and lot recall.

Each report is built from storage into plain dataclasses (``build_*_report``) and rendered
with :func:`render` as HTML (self-contained, print-ready), JSON (everything) or CSV (its
main table). ``stampside report …`` is the command line for them.
"""

from __future__ import annotations

from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from app.reports import charts
from app.reports.lot import LotReport, LotUse, build_lot_report
from app.reports.render import FORMATS, render_csv, render_html, render_json
from app.reports.session import SessionReport, StepLine, build_session_report

__all__ = [
    "FORMATS",
    "LotReport",
    "SessionReport",
    "build_lot_report",
    "build_session_report",
    "render",
]


def _version() -> str:
    try:
        return version("stampside")
    except PackageNotFoundError:  # pragma: no cover - running from a tree without install
        return "dev"


def _session_extras(report: SessionReport) -> dict[str, Any]:
    coverage_bars = [
        charts.Bar(
            zone.zone,
            zone.percent or 0.0,
            charts.PALETTE[2] if zone.reached else charts.PALETTE[1] if zone.treated else charts.PALETTE[7],
            text=(f"{zone.percent:.0f} % · " if zone.percent is not None else "") + f"{zone.stamps} stamps",
        )
        for zone in report.coverage
    ]
    force_bars = [
        charts.Bar(f"{b.low_n:g}", b.stamps, charts.QUALITY_COLOURS.get(b.quality, charts.PALETTE[7]))
        for b in report.force_bins
    ]
    return {"coverage_bars": coverage_bars, "force_bars": force_bars}


_STEP_COLUMNS: dict[str, Any] = {
    "session_id": lambda s: s[0].session_id,
    "patient": lambda s: s[0].patient_code,
    "session_number": lambda s: s[0].number,
    "position": lambda s: s[1].position + 1,
    "step": lambda s: s[1].step_id,
    "title": lambda s: s[1].title,
    "started_at": lambda s: s[1].started_at,
    "ended_at": lambda s: s[1].ended_at,
    "started_by": lambda s: s[1].started_by,
    "confirmed_by": lambda s: s[1].confirmed_by,
    "volume_ml": lambda s: s[1].volume_ml,
    "lot": lambda s: s[1].lot,
    "lot_expiry": lambda s: s[1].lot_expiry,
    "timer_seconds": lambda s: s[1].timer_seconds,
    "timer_ran_seconds": lambda s: s[1].timer_ran_seconds,
    "overrides": lambda s: "; ".join(f"{o.gate}: {o.reason} ({o.by})" for o in s[1].overrides),
}

_LOT_COLUMNS: dict[str, Any] = {
    "lot": lambda u: u.lot,
    "patient": lambda u: u.patient_code,
    "session_id": lambda u: u.session_id,
    "session_number": lambda u: u.session_number,
    "session_status": lambda u: u.session_status,
    "step": lambda u: u.step,
    "applied_at": lambda u: u.applied_at,
    "volume_ml": lambda u: u.volume_ml,
    "lot_expiry": lambda u: u.lot_expiry,
    "confirmed_by": lambda u: u.confirmed_by,
    "practitioner": lambda u: u.practitioner,
}


def render(report: Any, fmt: str, *, generated_at: datetime | None = None) -> str:
    """``report`` (any ``build_*_report`` result) as ``html``, ``json`` or ``csv`` text."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown report format {fmt!r}: choose one of {', '.join(FORMATS)}")
    if fmt == "json":
        return render_json(report)
    common = {"version": _version(), "generated_at": generated_at or datetime.now(UTC)}
    if isinstance(report, SessionReport):
        if fmt == "csv":
            return render_csv(((report, step) for step in report.steps), _STEP_COLUMNS)
        return render_html("session.html.j2", report, **common, **_session_extras(report))
    if isinstance(report, LotReport):
        if fmt == "csv":
            return render_csv(report.uses, _LOT_COLUMNS)
        return render_html("lot.html.j2", report, **common)
    raise TypeError(f"no renderer for {type(report).__name__}")


# Re-exported for type checkers and callers that want the row types.
_ = (LotUse, StepLine)
