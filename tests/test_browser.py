"""The app in a real browser: `streamlit run app.py` driven by headless Chromium through Selenium.

What AppTest cannot see: the page actually loads in a browser, the graph arrives in the viewer's
frame as SVG with the paper's dashed shortcuts, and the pages look right (screenshots land in
artifacts/). The server and the browser are conftest.py's fixtures; every look at the page is a
wait on a condition (browser_helpers.py), never a fixed sleep.
"""

from __future__ import annotations

import pytest

import browser_helpers
from browser_helpers import (VIEWER, body, browser_paths, click, css, no_exception,
                             open_page, screenshot, scroll_to, settled, viewer_svgs, wait)

pytestmark = pytest.mark.browser

WINDOW = (1600, 2200)
TRAIN_STEPS = 20
#: A shared 2-core machine trains ResNet-20 at as little as 10 images/s: 20 x 128 in 5 minutes.
TRAIN_WAIT_S = 600


def test_designer_and_compare_in_a_browser(app_url, chrome):
    # A shared link opens the exact design: ResNet-34 with two blocks per stage is ResNet-18.
    chrome.get(f"{app_url}/designer?preset=resnet34&layers=2,2,2,2")
    wait(chrome, lambda d: "11,689,512" in body(d), "the linked design's parameter count")
    assert "layers=2" in chrome.current_url

    chrome.get(f"{app_url}/designer?preset=resnet50")
    svg = wait(chrome, lambda d: len(css(d, VIEWER)) == 1 and viewer_svgs(d),
               "the Designer's graph SVG in the viewer")[0]
    assert "stroke-dasharray" in svg, "ResNet-50's projection shortcuts should be drawn dashed"
    assert "conv3_1" in svg
    wait(chrome, lambda d: css(d, '[data-testid="stDataFrame"]'), "the Designer's tables")
    wait(chrome, settled, "the Designer to finish running")
    assert "25,557,032" in body(chrome)
    no_exception(chrome)
    screenshot(chrome, "designer")

    open_page(chrome, "compare")
    (svg,) = wait(chrome, lambda d: len(css(d, VIEWER)) == 1
                  and css(d, '[data-testid="stPlotlyChart"]') and viewer_svgs(d),
                  "the Compare page's side-by-side drawing and charts")
    assert "A: resnet34" in svg and "B: resnet50" in svg and "diff-changed" in svg, \
        "both designs are drawn in one picture, what differs marked"
    wait(chrome, settled, "the Compare page to finish running")
    text = body(chrome)
    assert "21,797,672" in text and "25,557,032" in text
    no_exception(chrome)
    screenshot(chrome, "compare")
    scroll_to(chrome, css(chrome, VIEWER)[0])
    screenshot(chrome, "compare_graphs")


def test_block_export_train_and_inference_in_a_browser(app_url, chrome):
    """A short real training run from the Train page, then its model on the Inference page."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    chrome.get(f"{app_url}/block")
    svg = wait(chrome, lambda d: len(css(d, VIEWER)) == 1 and viewer_svgs(d),
               "the Block page's graph")[0]
    assert "stroke-dasharray" in svg, "a stride-2 block's projection shortcut is dashed"
    wait(chrome, settled, "the Block page to finish running")
    screenshot(chrome, "block")

    open_page(chrome, "export")
    wait(chrome, lambda d: "Standalone PyTorch file" in body(d), "the Export page's buttons")
    wait(chrome, settled, "the Export page to finish running")
    screenshot(chrome, "export")

    open_page(chrome, "train")
    wait(chrome, lambda d: css(d, 'input[aria-label="Steps"]'), "the Train page's form")
    # Streamlit redraws widgets while a script runs: touch them only once it has finished.
    wait(chrome, settled, "the Train page to finish running")
    steps = chrome.find_element(By.CSS_SELECTOR, 'input[aria-label="Steps"]')
    steps.send_keys(Keys.CONTROL, "a")
    steps.send_keys(str(TRAIN_STEPS), Keys.ENTER)
    wait(chrome, lambda d: settled(d) and d.find_element(
        By.CSS_SELECTOR, 'input[aria-label="Steps"]').get_attribute("value") == str(TRAIN_STEPS),
         "the Train page to take the step count")
    click(chrome, By.XPATH, '//button[.//p[text()="Start"]]', "the Start button")
    wait(chrome, lambda d: f"Completed {TRAIN_STEPS} steps" in body(d),
         f"the {TRAIN_STEPS}-step run to complete", timeout=TRAIN_WAIT_S)
    wait(chrome, settled, "the Train page to finish running")
    assert "Validation accuracy" in body(chrome)
    screenshot(chrome, "train")

    open_page(chrome, "inference")
    wait(chrome, lambda d: "Feature maps" in body(d) and "Prediction:" in body(d),
         "top-5 and feature maps of the trained model")
    wait(chrome, settled, "the Inference page to finish running")
    assert "Trained in this session" in body(chrome)
    screenshot(chrome, "inference")


def test_a_compare_link_opens_both_designs_without_horizontal_overflow(app_url, chrome):
    """Two custom designs from one link, laid out within a 1600 px window."""
    chrome.get(f"{app_url}/compare?a.preset=resnet34&a.layers=2,2,2,2&a.stem=deep"
               f"&b.preset=resnext50_32x4d&b.groups=16&b.input_size=160")
    wait(chrome, lambda d: len(css(d, VIEWER)) == 1 and viewer_svgs(d),
         "the Compare page's side-by-side drawing")
    wait(chrome, settled, "the Compare page to finish running")
    text = body(chrome)
    assert "resnet34 (modified)" in text and "resnext50_32x4d (modified)" in text
    assert "a.layers=2" in chrome.current_url and "b.groups=16" in chrome.current_url
    widths = chrome.execute_script(
        "const main = document.querySelector('[data-testid=\"stMain\"]');"
        "return [main.scrollWidth, main.clientWidth, document.documentElement.scrollWidth,"
        " window.innerWidth];")
    assert widths[0] <= widths[1] and widths[2] <= widths[3], widths
    screenshot(chrome, "compare_custom")


def test_a_missing_browser_fails_under_ci_and_skips_elsewhere(monkeypatch):
    monkeypatch.setattr(browser_helpers, "CHROMIUM", "/nonexistent/chromium")
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        browser_paths()
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception):
        browser_paths()
