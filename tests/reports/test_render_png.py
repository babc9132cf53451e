"""A report rendered by headless Chromium is a real page, not a blank one (skipped without Chromium)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image, ImageChops

from stampside.app.reports import build_session_report, render
from tests.reports.test_session_and_lot import Cohort

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.skipif(CHROMIUM is None, reason="Chromium is not installed (scripts/ensure_system_tools.sh installs it)")
def test_the_session_report_renders_to_a_png_with_content(cohort_db: Cohort, tmp_path: Path) -> None:
    assert CHROMIUM is not None
    database, cohort, _ = cohort_db
    with database.Session.begin() as session:
        html = render(build_session_report(session, cohort.session_ids[2]), "html")
    page = tmp_path / "session.html"
    page.write_text(html, encoding="utf-8")
    png = tmp_path / "session.png"
    subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--window-size=1000,1400",
            f"--screenshot={png}",
            page.as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    with Image.open(png) as image:
        rgb = image.convert("RGB")
        background = Image.new("RGB", rgb.size, (255, 255, 255))
        box = ImageChops.difference(rgb, background).getbbox()
        colours = rgb.getcolors(maxcolors=1 << 16)
    assert box is not None, "the page rendered blank"
    width, height = rgb.size
    assert (box[2] - box[0]) > width * 0.5 and (box[3] - box[1]) > height * 0.5
    # Text in several shades plus the chart colours.
    assert colours is None or len(colours) > 50
