"""Reports as PDF (WeasyPrint, the optional ``pdf`` extra, installed with the test tools)."""

from __future__ import annotations

import importlib
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner

from stampside.app.cli.main import main
from stampside.app.reports import build_cohort_report, render
from stampside.app.reports.pdf import PdfUnavailable, html_to_pdf, pdf_available
from tests.reports.test_session_and_lot import Cohort

needs_pdf = pytest.mark.skipif(not pdf_available(), reason="WeasyPrint or the Pango library is not installed")


@needs_pdf
def test_the_cohort_report_becomes_a_pdf(cohort_db: Cohort) -> None:
    database, _cohort, _ = cohort_db
    with database.Session.begin() as session:
        html = render(build_cohort_report(session, today=date(2026, 11, 25)), "html")
    document = html_to_pdf(html)
    assert document.startswith(b"%PDF-") and document.rstrip().endswith(b"%%EOF")
    weasyprint = importlib.import_module("weasyprint")
    pages = weasyprint.HTML(string=html).render().pages
    assert 1 <= len(pages) <= 4, "the cohort table fits a few A4 pages"


@needs_pdf
def test_report_format_pdf_writes_a_file_and_refuses_the_terminal(cohort_db: Cohort, tmp_path: Path) -> None:
    _database, _cohort, place = cohort_db
    out = tmp_path / "lot.pdf"
    result = CliRunner().invoke(
        main, ["report", "lot", "LOT-24A17", "--db", place.url, "--format", "pdf", "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(b"%PDF-")


def test_without_weasyprint_the_message_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.import_module

    def refuse(name: str, *args: object) -> object:
        if name == "weasyprint":
            raise ImportError("No module named 'weasyprint'", name="weasyprint")
        return real(name, *args)  # type: ignore[arg-type]

    monkeypatch.setattr(importlib, "import_module", refuse)
    assert not pdf_available()
    with pytest.raises(PdfUnavailable, match=r"pip install 'stampside\[pdf\]'"):
        html_to_pdf("<p>x</p>")
