"""Look at a report page in headless Chromium (Debian's ``chromium`` + ``chromium-driver``, driven by Selenium).

:func:`inspect_page` opens an HTML file at a given viewport width (390 px as a phone, with mobile
emulation so the viewport tag matters; 1400 px as a desktop) and returns what a reader would
notice: horizontal overflow, images that did not load, console errors, where the summary ends,
and a screenshot of the top of the page.

Also a command, to refresh the README's screenshot::

    .venv/bin/python -m tests.helpers.browser eda-report/report.html docs/img
"""

from __future__ import annotations

import dataclasses
import shutil
import sys
from pathlib import Path

#: Viewports: (width, height, mobile emulation).
PHONE = (390, 844, True)
DESKTOP = (1400, 900, False)


@dataclasses.dataclass
class PageCheck:
    """What a reader would notice on one viewport.

    Attributes
    ----------
    width, inner_width, scroll_width : int
        The requested width, the layout viewport's width and the page's scroll width (overflow
        when it is larger than the viewport).
    images, broken : int, list of str
        Images on the page and the alt texts of those that did not load.
    console_errors : list of str
        SEVERE console messages (script errors, failed loads).
    summary_bottom, viewport_height : float
        Where ``#summary`` ends at scroll position 0, and the viewport's height.
    screenshot : Path
        PNG of the viewport at the top of the page.
    """

    width: int
    inner_width: int
    scroll_width: int
    images: int
    broken: list[str]
    console_errors: list[str]
    summary_bottom: float
    viewport_height: float
    screenshot: Path


def missing_browser() -> str:
    """Why the browser check cannot run here ("" when it can)."""
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]' or pip install selenium)"
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        return "chromium is not installed (Debian: apt-get install -y chromium chromium-driver)"
    return ""


def open_browser():
    """A headless Chromium driven by Selenium, with the browser console log enabled."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium")
    for argument in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--hide-scrollbars",
                     "--force-device-scale-factor=1", "--disable-extensions", "--no-first-run"):  # fmt: skip
        options.add_argument(argument)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(options=options, service=Service(executable_path=shutil.which("chromedriver")))
    driver.set_page_load_timeout(120)
    return driver


def inspect_page(driver, page: Path, *, viewport: tuple[int, int, bool], screenshot: Path) -> PageCheck:
    """Open ``page`` at ``viewport`` and measure it (see :class:`PageCheck`)."""
    width, height, mobile = viewport
    driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride",
                           {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": mobile})  # fmt: skip
    driver.get_log("browser")  # drop messages from an earlier page
    driver.get(page.resolve().as_uri())
    facts = driver.execute_script(
        """
        window.scrollTo(0, 0);
        const summary = document.getElementById('summary');
        return {
          inner: window.innerWidth, height: window.innerHeight,
          scroll: Math.max(document.documentElement.scrollWidth, document.body.scrollWidth),
          images: document.images.length,
          broken: Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.alt),
          summary: summary ? summary.getBoundingClientRect().bottom : -1,
        };
        """
    )
    errors = [entry["message"] for entry in driver.get_log("browser") if entry.get("level") == "SEVERE"]
    screenshot.parent.mkdir(parents=True, exist_ok=True)
    driver.save_screenshot(str(screenshot))
    return PageCheck(width=width, inner_width=int(facts["inner"]), scroll_width=int(facts["scroll"]),
                     images=int(facts["images"]), broken=list(facts["broken"]), console_errors=errors,
                     summary_bottom=float(facts["summary"]), viewport_height=float(facts["height"]),
                     screenshot=screenshot)  # fmt: skip


def main(argv: list[str]) -> int:
    """``python -m tests.helpers.browser REPORT OUT_DIR``: screenshots ``eda-report-top.png`` (1400 px) and ``-phone.png``."""
    if len(argv) != 2:
        print(main.__doc__, file=sys.stderr)
        return 2
    why = missing_browser()
    if why:
        print(why, file=sys.stderr)
        return 1
    page, out = Path(argv[0]), Path(argv[1])
    driver = open_browser()
    try:
        for viewport, name in ((DESKTOP, "eda-report-top.png"), (PHONE, "eda-report-phone.png")):
            check = inspect_page(driver, page, viewport=viewport, screenshot=out / name)
            print(f"{name}: {check.screenshot.stat().st_size // 1024} KB, overflow {check.scroll_width > check.inner_width}, "
                  f"broken images {len(check.broken)}, console errors {len(check.console_errors)}")
    finally:
        driver.quit()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
