"""Reports as PDF: the HTML report laid out for print by WeasyPrint (optional extra ``pdf``).

WeasyPrint needs the Pango library of the system (Debian: ``libpango-1.0-0``, which
``librsvg2-bin`` already brings). Without it, or without the extra, :func:`html_to_pdf` raises
:class:`PdfUnavailable` saying what to install; HTML, JSON and CSV always work.
"""

from __future__ import annotations

import importlib
from typing import Any


class PdfUnavailable(RuntimeError):
    """PDF output cannot be made here; the message says what to install."""


def _weasyprint() -> Any:
    try:
        return importlib.import_module("weasyprint")
    except ImportError as exc:
        missing = getattr(exc, "name", None) or ""
        if missing.startswith("weasyprint"):
            raise PdfUnavailable(
                "PDF output needs WeasyPrint: pip install 'stampside[pdf]' (or use --format html and print it)"
            ) from None
        raise PdfUnavailable(f"PDF output cannot start: {exc}") from None
    except OSError as exc:  # the Pango library is missing
        raise PdfUnavailable(
            "PDF output needs the Pango library (Debian: apt-get install libpango-1.0-0 libpangoft2-1.0-0); "
            f"{exc}"
        ) from None


def pdf_available() -> bool:
    try:
        _weasyprint()
    except PdfUnavailable:
        return False
    return True


def html_to_pdf(html: str) -> bytes:
    """The self-contained HTML report as a PDF document (A4, the report's print styles)."""
    weasyprint = _weasyprint()
    document: bytes = weasyprint.HTML(string=html).write_pdf()
    return document
