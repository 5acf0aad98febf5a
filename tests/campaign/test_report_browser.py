"""The report page in a real headless browser: Chromium with software WebGL (SwiftShader).

Checks that every 3D viewer created a WebGL context and started without an error in the
console, that the viewer's canvas shows a picture (its pixels are not uniform), that the
polyhedra toggle redraws it, that the page asks for nothing but itself (it works offline)
and that a long title wraps inside the page instead of being cut; and, with WebGL switched
off (no GPU and no software rasteriser), that the checks notice (every viewer reported
failed, 3Dmol's console error seen, the static picture shown).

Chromium comes from Debian (``apt-get install chromium``; ``.ci/run`` installs it and sets
``CHGGEN_REQUIRE_BROWSER=1``, which makes a missing Chromium a failure). Elsewhere (the
README's test command on a fresh machine) a missing Chromium skips the test with the
command that installs it.
"""

from __future__ import annotations

import io
import os
import shutil

import numpy as np
import pytest

from campaign.report import build_report
from tests.campaign._browser import Chromium, find_chromium
from tests.campaign._report_data import write_results

LONG_NAME = "a-results-folder-whose-name-is-much-longer-than-the-page-is-wide-" * 3
INSTALL = "apt-get install -y --no-install-recommends chromium chromium-driver"


def _chromium() -> str:
    path = find_chromium()
    if path:
        return path
    if os.environ.get("CHGGEN_REQUIRE_BROWSER") == "1":
        pytest.fail(f"Chromium is not installed (CHGGEN_REQUIRE_BROWSER=1): run '{INSTALL}'")
    pytest.skip(f"Chromium is not installed (root: {os.geteuid() == 0}, apt-get: "
                f"{bool(shutil.which('apt-get'))}); install it with '{INSTALL}' (.ci/run does)")


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    executable = _chromium()
    folder = write_results(tmp_path_factory.mktemp("browser") / LONG_NAME.strip("-"))
    report = build_report(folder, top=3, n_cells=1)
    with Chromium(executable, width=1100, height=1400, timeout=20.0) as browser:
        browser.open(report.html_path)
        status = browser.wait_until(
            "window.chggenViewerStatus && window.chggenViewerStatus.done "
            "&& window.chggenViewerStatus")
        yield browser, status, report


def _canvas_pixels(browser: Chromium, index: int = 0) -> np.ndarray:
    from PIL import Image

    rect = browser.evaluate(
        "(function () { var r = document.querySelectorAll('div.viewer3d canvas')"
        f"[{index}].getBoundingClientRect();"
        " return {x: r.left + window.scrollX, y: r.top + window.scrollY,"
        " width: r.width, height: r.height}; })()")
    assert rect["width"] >= 200 and rect["height"] >= 200, rect
    png = browser.screenshot(rect)
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)


def test_every_viewer_has_a_webgl_context_and_no_errors(page):
    browser, status, _ = page
    assert status["library"], "3Dmol.js did not load"
    assert status["failed"] == [], f"viewers failed to start: {status['failed']}"
    boxes = browser.evaluate("document.querySelectorAll('div.viewer-box').length")
    assert boxes == 3 and status["viewers"] == boxes
    assert len(status["webgl"]) == boxes, "a viewer has no WebGL context"
    for info in status["webgl"]:
        assert info["version"].startswith("WebGL"), info
    assert status["errors"] == []
    assert browser.errors() == [], browser.errors()
    assert browser.evaluate("document.querySelectorAll('div.viewer-box.ready').length") == 3
    assert browser.evaluate("JSON.parse(document.body.dataset.viewerStatus).viewers") == 3


def test_viewer_canvas_shows_a_structure(page):
    browser, _, _ = page
    pixels = _canvas_pixels(browser)
    colours = np.unique(pixels.reshape(-1, 3), axis=0)
    assert len(colours) > 50, f"the canvas is nearly uniform ({len(colours)} colours)"
    assert float(pixels.std()) > 10.0
    assert (pixels.sum(axis=2) < 600).mean() > 0.02  # something drawn on the white ground


def test_polyhedra_toggle_redraws(page):
    browser, _, _ = page
    before = _canvas_pixels(browser)
    assert browser.evaluate("!document.querySelector('input.polyhedra').disabled")
    browser.evaluate("document.querySelector('input.polyhedra').click()")
    browser.wait_until("document.querySelector('input.polyhedra').checked")
    after = _canvas_pixels(browser)
    assert np.abs(after - before).sum(axis=2).astype(bool).mean() > 0.005
    assert browser.errors() == []


def test_page_loads_nothing_but_itself(page):
    browser, _, report = page
    assert browser.requested_urls() == [report.html_path.resolve().as_uri()]


def test_long_title_wraps_inside_the_page(page):
    browser, _, _ = page
    title = browser.evaluate(
        "(function () { var h = document.querySelector('h1'); var s = getComputedStyle(h);"
        " return {text: h.textContent, scroll: h.scrollWidth, client: h.clientWidth,"
        " height: h.getBoundingClientRect().height, overflow: s.overflowX,"
        " page: document.documentElement.scrollWidth, view: window.innerWidth}; })()")
    assert title["text"].endswith(LONG_NAME.strip("-"))
    assert title["scroll"] <= title["client"] + 1, title  # nothing hidden to the right
    assert title["overflow"] == "visible" and title["page"] <= title["view"], title
    assert title["height"] > 40, title  # on several lines


def test_without_webgl_the_failure_is_reported_and_the_picture_shown(page):
    _, _, report = page
    with Chromium(_chromium(), width=1100, height=1400, timeout=20.0,
                  extra_flags=("--disable-gpu", "--disable-software-rasterizer")) as browser:
        browser.open(report.html_path)
        status = browser.wait_until(
            "window.chggenViewerStatus && window.chggenViewerStatus.done "
            "&& window.chggenViewerStatus")
        assert status["webgl"] == [] and status["viewers"] == 0
        assert len(status["failed"]) == 3
        assert all("viewer" in f["error"] or "WebGL" in f["error"] for f in status["failed"])
        assert browser.errors(), "3Dmol's console error went unseen"
        shown = browser.evaluate(
            "Array.from(document.querySelectorAll('img.fallback')).map(function (i) {"
            " return i.getBoundingClientRect().width; })")
        assert shown and all(width > 100 for width in shown)  # the static picture instead
        assert browser.evaluate("document.querySelector('.viewer-note').textContent")\
            .startswith("3D view unavailable")
