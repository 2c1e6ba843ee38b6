"""The graph viewer in a real browser at 1600x1000: zoom, click a node, search, overlay, fold.

Screenshots land in artifacts/ for a person to look at; the assertions check what the viewer does.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from inspector import get_preset
from inspector.model import build_model

pytestmark = pytest.mark.browser

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
WINDOW = (1600, 1000)
WAIT_S = 120
VIEWER = 'iframe[title="pages.graph_viewer.graph_viewer"]'


def _wait(driver, condition, what: str, timeout: float = WAIT_S):
    from selenium.common.exceptions import TimeoutException
    from selenium.webdriver.support.ui import WebDriverWait

    try:
        return WebDriverWait(driver, timeout, poll_frequency=0.3).until(condition)
    except TimeoutException:
        ARTIFACTS.mkdir(exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / "viewer_timeout.png"))
        pytest.fail(f"Timed out after {timeout} s waiting for {what} "
                    f"(screenshot: artifacts/viewer_timeout.png)")


def _css(driver, selector: str):
    from selenium.webdriver.common.by import By

    return driver.find_elements(By.CSS_SELECTOR, selector)


def _settled(driver) -> bool:
    """No script running, and no exception shown."""
    assert not _css(driver, '[data-testid="stException"]'), "the app raised an exception"
    return not _css(driver, '[data-testid="stStatusWidget"]')


def _enter_viewer(driver, index: int = 0):
    """Switch into the viewer's frame once its graph is drawn."""
    frames = _wait(driver, lambda d: len(_css(d, VIEWER)) > index and _css(d, VIEWER),
                   "the graph viewer's frame")
    driver.switch_to.frame(frames[index])
    _wait(driver, lambda d: _css(d, "#graph svg g.node"), "the graph inside the viewer")
    # The frame takes its final height once the graph is in: bring it into the window then, so
    # pointer actions land inside it.
    driver.switch_to.default_content()
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", frames[index])
    time.sleep(0.3)
    driver.switch_to.frame(frames[index])


def _transform(driver) -> str:
    return driver.execute_script(
        "return document.querySelector('.svg-pan-zoom_viewport').getAttribute('transform')"
        " || document.querySelector('.svg-pan-zoom_viewport').style.transform")


def graph_frame(driver):
    from selenium.webdriver.common.by import By

    return driver.find_element(By.ID, "graph")


def _inside(element, frame, margin: float = 0.0) -> bool:
    """Whether the element's centre lies in the frame, `margin` (a share of its size) in from
    each side; 0.4 means the middle fifth."""
    box, view = element.rect, frame.rect
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    return (view["x"] + margin * view["width"] <= x <= view["x"] + (1 - margin) * view["width"]
            and view["y"] + margin * view["height"] <= y
            <= view["y"] + (1 - margin) * view["height"])


def _scroll_to(driver, element) -> None:
    driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", element)
    time.sleep(0.3)  # let the scroll land before the picture


@contextmanager
def _screenshot_on_failure(driver, name: str) -> Iterator[None]:
    """Keep a picture of the page when a step fails, so a failure can be read afterwards."""
    try:
        yield
    except Exception:
        driver.switch_to.default_content()
        _shot(driver, name)
        raise


def _open(driver, page: str) -> None:
    """Open a page through the sidebar, as a user would, keeping the session."""
    from selenium.webdriver.common.by import By

    driver.find_element(By.CSS_SELECTOR, f'[data-testid="stSidebarNav"] a[href$="/{page}"]').click()


def _shot(driver, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    driver.save_screenshot(str(ARTIFACTS / name))


def test_viewer_zooms_searches_shows_details_colours_and_folds(app_url, chrome):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.actions.wheel_input import ScrollOrigin
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver = chrome
    with _screenshot_on_failure(driver, "viewer_failure_designer.png"):
        driver.get(f"{app_url}/designer?preset=resnet50")
        _wait(driver, lambda d: "25,557,032" in d.find_element(By.TAG_NAME, "body").text,
              "ResNet-50's parameter count")
        _wait(driver, _settled, "the Designer to finish running")
        frame = _css(driver, VIEWER)[0]
        assert frame.size["width"] > 1000, "the graph gets the page's width"
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", frame)
        time.sleep(0.5)
        _shot(driver, "viewer_designer.png")

        _enter_viewer(driver)
        nodes_before = len(_css(driver, "#graph g.node"))

        # Zoom: the button and the wheel both change the viewport's transform.
        before = _transform(driver)
        driver.find_element(By.ID, "zoom-in").click()
        _wait(driver, lambda d: _transform(d) != before, "the zoom button to zoom")
        before = _transform(driver)
        graph = driver.find_element(By.ID, "graph")
        ActionChains(driver).scroll_from_origin(ScrollOrigin.from_element(graph), 0, -300).perform()
        _wait(driver, lambda d: _transform(d) != before, "the wheel to zoom")

        # Search: the match is highlighted and brought into the frame.
        search = driver.find_element(By.ID, "search")
        search.send_keys("conv4_1")
        _wait(driver, lambda d: _css(d, "#graph g.node.match"), "a highlighted match")
        match = _css(driver, "#graph g.node.match")[0]
        assert match.get_attribute("id") == "node-layer3.0"

        _wait(driver, lambda d: _inside(match, graph, margin=0.4), "the match centred in the frame",
              timeout=10)

        # Click the node: its module path and parameter count (an independent count) appear.
        ActionChains(driver).move_to_element(match).click().perform()
        details = _wait(driver, lambda d: "layer3.0" in d.find_element(By.ID, "details").text
                        and d.find_element(By.ID, "details"), "the node's details")
        params = sum(p.numel() for p in build_model(get_preset("resnet50")).layer3[0].parameters())
        assert f"{params:,}" in details.text
        assert "layer3.0.conv1" in details.text, "the node's rows of the layer table"

        # Overlay: fills follow mult-adds and the legend states the scale.
        Select(driver.find_element(By.ID, "overlay")).select_by_value("mult_adds")
        legend = _wait(driver, lambda d: d.find_element(By.ID, "legend").is_displayed()
                       and d.find_element(By.ID, "legend"), "the overlay's legend")
        assert "log scale" in legend.text or "linear scale" in legend.text
        driver.switch_to.default_content()
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", frame)
        time.sleep(0.3)
        _shot(driver, "viewer_overlay_details.png")

        # Fold conv4_x: Python draws again and the viewer gets fewer nodes.
        driver.switch_to.frame(frame)
        driver.find_element(By.CSS_SELECTOR, '#stages button[data-stage="2"]').click()
        _wait(driver, lambda d: 0 < len(_css(d, "#graph g.node")) < nodes_before,
              "the folded graph")
        # Six blocks, their sums and the stage's title become one node.
        assert len(_css(driver, "#graph g.node")) == nodes_before - 2 * 6 - 1 + 1
        folded = driver.find_element(By.ID, "node-layer3")
        _wait(driver, lambda d: _inside(folded, graph_frame(d)),
              "the folded stage brought into view",
              timeout=10)
        # The overlay survives the new drawing.
        fill = driver.execute_script(
            "return document.querySelector('#node-layer3 path, #node-layer3 polygon')"
            ".getAttribute('fill')")
        assert fill.lower() not in ("#fdf0dc", "none")
        driver.switch_to.default_content()
        _wait(driver, _settled, "the fold to finish running")
        _scroll_to(driver, _css(driver, VIEWER)[0])
        time.sleep(0.3)
        _shot(driver, "viewer_folded.png")


def test_across_compare_and_block_pages_in_the_viewer(app_url, chrome):
    from selenium.webdriver.common.by import By

    driver = chrome
    with _screenshot_on_failure(driver, "viewer_failure_pages.png"):
        driver.get(f"{app_url}/designer?preset=resnet50")
        _wait(driver, lambda d: _css(d, VIEWER), "the Designer's viewer")
        _wait(driver, _settled, "the Designer to finish running")
        driver.find_element(By.XPATH, '//label[.//p[text()="across"]]').click()
        time.sleep(1)
        _wait(driver, _settled, "the across drawing")
        frame = _css(driver, VIEWER)[0]
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", frame)
        time.sleep(1)
        _shot(driver, "viewer_across.png")
        driver.switch_to.frame(frame)
        _wait(driver, lambda d: _css(d, "#graph svg g.node"), "the across graph")
        # Drawn across, the graph starts at its input, at a size that can be read.
        scale = driver.execute_script("return window.getComputedStyle(document.body) && "
                                      "document.querySelector('.svg-pan-zoom_viewport')"
                                      ".getCTM().a")
        assert scale >= 0.5, f"the across view starts too small to read (scale {scale:.2f})"
        driver.switch_to.default_content()

        _open(driver, "compare")
        _wait(driver, lambda d: len(_css(d, VIEWER)) == 2, "the Compare page's two viewers")
        _wait(driver, _settled, "the Compare page to finish running")
        frame = _css(driver, VIEWER)[0]
        driver.execute_script("arguments[0].scrollIntoView({block: 'center'});", frame)
        time.sleep(1)
        _shot(driver, "viewer_compare.png")

        _open(driver, "block")
        _wait(driver, lambda d: len(_css(d, VIEWER)) == 1, "the Block page's viewer")
        _wait(driver, _settled, "the Block page to finish running")
        _enter_viewer(driver)
        # A layer of the block: its details come from the traced block itself.
        driver.find_element(By.ID, "search").send_keys("conv1")
        match = _wait(driver, lambda d: _css(d, "#graph g.node.match"), "the block's first conv")[0]
        match.click()
        _wait(driver, lambda d: "conv1" in d.find_element(By.ID, "details").text, "its details")
        driver.switch_to.default_content()
        _scroll_to(driver, _css(driver, VIEWER)[0])
        time.sleep(1)
        _shot(driver, "viewer_block.png")
