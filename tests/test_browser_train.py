"""The Train page in a real browser: while a run trains, the graph's block colours (their legend
names the recorded step) and the heatmap follow it; a reload of the page's link shows the run
again, still training."""

from __future__ import annotations

import re

import pytest

from browser_helpers import (VIEWER, body, click, css, in_viewer, no_exception, screenshot,
                             scroll_to, settled, wait)

pytestmark = pytest.mark.browser

TRAIN_WAIT_S = 300


def _legend(driver) -> str | None:
    """The viewer's legend text ("log scale, gradient norm ..., step N") when it shows one."""
    def look(frame):
        legend = css(frame, "#legend")
        if not legend or legend[0].get_attribute("hidden") is not None:
            return None
        return css(frame, "#legend-scale")[0].text

    return in_viewer(driver, 0, look)


def _coloured_blocks(driver) -> int:
    """Block nodes whose fill is a colour of the ramp rather than the drawing's own."""
    return in_viewer(driver, 0, lambda f: f.execute_script(
        "return [...document.querySelectorAll('g.node')].filter(g => g.id.startsWith('node-layer')"
        " && !g.id.endsWith('.add')).filter(g => { const s = g.querySelector('path, polygon');"
        " return s && s.hasAttribute('data-fill') && s.getAttribute('fill') !== "
        "s.getAttribute('data-fill'); }).length;")) or 0


def _step(text: str | None) -> int:
    match = re.search(r"step (\d+)", text or "")
    return int(match.group(1)) if match else 0


def test_the_graph_and_heatmap_follow_a_run_and_a_reload_shows_it_again(app_url, chrome):
    from selenium.webdriver.common.by import By

    chrome.get(f"{app_url}/train")
    wait(chrome, lambda d: css(d, 'input[aria-label="Steps"]') and settled(d),
         "the Train page's form")
    click(chrome, By.XPATH, '//button[.//p[text()="Start"]]', "the Start button")
    first = wait(chrome, lambda d: _step(_legend(d)) >= 1 and _legend(d),
                 "the graph coloured by the gradient norm", timeout=TRAIN_WAIT_S)
    assert "gradient norm" in first
    assert _coloured_blocks(chrome) == 9  # resnet20: three stages of three blocks
    assert css(chrome, ".js-plotly-plot .heatmaplayer image, .js-plotly-plot .hm image")
    later = wait(chrome, lambda d: _step(_legend(d)) > _step(first) and _legend(d),
                 "the colours of a later record", timeout=TRAIN_WAIT_S)
    scroll_to(chrome, css(chrome, VIEWER)[0])
    screenshot(chrome, "train_blocks")
    assert "runs=" in chrome.current_url

    chrome.refresh()
    wait(chrome, lambda d: "resnet20 on digits #1" in body(d) and len(css(d, VIEWER)) >= 1,
         "the run again after the reload", timeout=TRAIN_WAIT_S)
    wait(chrome, lambda d: _step(_legend(d)) >= _step(later),
         "the coloured graph again after the reload", timeout=TRAIN_WAIT_S)
    click(chrome, By.XPATH, '//button[.//p[text()="Stop"]]', "the Stop button")
    wait(chrome, lambda d: "Stopped by request" in body(d), "the run to stop",
         timeout=TRAIN_WAIT_S)
    no_exception(chrome)
