"""The report in a real browser: headless Chromium at 390 px (a phone) and 1400 px (a desktop).

Needs Debian's ``chromium`` and ``chromium-driver`` and the ``selenium`` package; skips with the
install line when they are missing. Screenshots of both widths go to the test's tmp folder, and
also to ``$SPOTIDANCE_SCREENSHOTS`` when that is set (for a reviewer).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from spotidance.eda import run as eda
from tests.helpers.browser import (
    DESKTOP,
    PHONE,
    inspect_page,
    missing_browser,
    open_browser,
)
from tests.helpers.eda_data import three_genres


@pytest.fixture(scope="module")
def browser():
    why = missing_browser()
    if why:
        pytest.skip(f"browser check skipped: {why}")
    driver = open_browser()
    yield driver
    driver.quit()


def assert_reads_well(driver, report: Path, shots: Path, name: str) -> None:
    for viewport in (PHONE, DESKTOP):
        width = viewport[0]
        check = inspect_page(driver, report, viewport=viewport, screenshot=shots / f"{name}-{width}.png")
        assert check.inner_width == width, "the page is laid out wider than the screen (viewport tag?)"
        assert check.scroll_width <= check.inner_width, f"horizontal overflow at {width} px: {check.scroll_width} px wide"
        assert check.images >= 10 and check.broken == [], f"images that did not load at {width} px: {check.broken}"
        assert check.console_errors == []
        assert 0 < check.summary_bottom <= check.viewport_height, f"the summary ends below the fold at {width} px"
        assert check.screenshot.stat().st_size > 10_000
        if os.environ.get("SPOTIDANCE_SCREENSHOTS"):
            target = Path(os.environ["SPOTIDANCE_SCREENSHOTS"])
            target.mkdir(parents=True, exist_ok=True)
            shutil.copy(check.screenshot, target / check.screenshot.name)


def test_report_of_three_synthetic_labels_reads_well_in_chromium(browser, tmp_path):
    result = eda.run_report(three_genres(tmp_path, n=50), out_dir=tmp_path / "report")
    assert_reads_well(browser, result.report, tmp_path / "screenshots", "eda-synthetic")


def test_report_of_the_seed_playlists_reads_well_in_chromium(browser, shared_dir, tmp_path):
    seed = shared_dir / "data" / "seed-spotify-playlists"
    result = eda.run_report([seed / "techno.csv", seed / "edm.csv"], out_dir=tmp_path / "report")
    assert_reads_well(browser, result.report, tmp_path / "screenshots", "eda-seed")


def test_the_browser_check_catches_a_bad_page(browser, tmp_path):
    """No viewport tag, a table wider than a phone, a missing image and a script error: all seen."""
    page = tmp_path / "bad.html"
    page.write_text('<!DOCTYPE html><html><head><meta charset="utf-8"></head><body>'
                    '<table style="width:2000px"><tr><td>wide</td></tr></table><img src="missing.png" alt="gone">'
                    "<script>notDefined()</script></body></html>")  # fmt: skip
    check = inspect_page(browser, page, viewport=PHONE, screenshot=tmp_path / "bad.png")
    assert check.inner_width != 390 and check.scroll_width > check.inner_width
    assert check.broken == ["gone"] and any("notDefined" in e for e in check.console_errors)
    assert check.summary_bottom == -1
