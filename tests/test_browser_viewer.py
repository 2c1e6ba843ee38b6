"""The graph viewer in a real browser at 1600x1000: zoom, click a node, search, overlay, fold.

Screenshots land in artifacts/ for a person to look at; the assertions check what the viewer does.
"""

from __future__ import annotations

import pytest

from browser_helpers import (VIEWER, css, enter_viewer, in_viewer, open_page, screenshot,
                             scroll_to, settled, wait)
from inspector import get_preset
from inspector.model import build_model

pytestmark = pytest.mark.browser

WINDOW = (1600, 1000)
#: The drawing's own size (Graphviz's units), whatever the zoom: [width, height].
DRAWING_SIZE = ("const box = document.querySelector('#graph g.graph').getBBox();"
                "return [box.width, box.height];")


def _transform(driver) -> str:
    return driver.execute_script(
        "return document.querySelector('.svg-pan-zoom_viewport').getAttribute('transform')"
        " || document.querySelector('.svg-pan-zoom_viewport').style.transform")


def _graph_frame(driver):
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


def _drawn_across(driver) -> bool:
    """Whether the first viewer's drawing is wider than tall (a ResNet drawn across)."""
    size = in_viewer(driver, 0,
                     lambda f: css(f, "#graph g.graph") and f.execute_script(DRAWING_SIZE))
    return bool(size) and size[0] > size[1]


def test_viewer_zooms_searches_shows_details_colours_and_folds(app_url, chrome):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.actions.wheel_input import ScrollOrigin
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver = chrome
    driver.get(f"{app_url}/designer?preset=resnet50")
    wait(driver, lambda d: "25,557,032" in d.find_element(By.TAG_NAME, "body").text,
         "ResNet-50's parameter count")
    wait(driver, settled, "the Designer to finish running")
    frame = css(driver, VIEWER)[0]
    assert frame.size["width"] > 1000, "the graph gets the page's width"
    scroll_to(driver, frame)
    screenshot(driver, "viewer_designer")

    frame = enter_viewer(driver)
    nodes_before = len(css(driver, "#graph g.node"))

    # Zoom: the button and the wheel both change the viewport's transform.
    before = _transform(driver)
    driver.find_element(By.ID, "zoom-in").click()
    wait(driver, lambda d: _transform(d) != before, "the zoom button to zoom")
    before = _transform(driver)
    graph = _graph_frame(driver)
    ActionChains(driver).scroll_from_origin(ScrollOrigin.from_element(graph), 0, -300).perform()
    wait(driver, lambda d: _transform(d) != before, "the wheel to zoom")

    # Search: the match is highlighted and brought into the frame.
    search = driver.find_element(By.ID, "search")
    search.send_keys("conv4_1")
    match = wait(driver, lambda d: d.find_element(By.ID, "search").get_attribute("value")
                 == "conv4_1" and css(d, "#graph g.node.match"), "a highlighted match")[0]
    assert match.get_attribute("id") == "node-layer3.0"
    wait(driver, lambda d: _inside(match, graph, margin=0.4), "the match centred in the frame",
         timeout=10)

    # Click the node: its module path and parameter count (an independent count) appear.
    ActionChains(driver).move_to_element(match).click().perform()
    details = wait(driver, lambda d: "layer3.0" in d.find_element(By.ID, "details").text
                   and d.find_element(By.ID, "details"), "the node's details")
    params = sum(p.numel() for p in build_model(get_preset("resnet50")).layer3[0].parameters())
    assert f"{params:,}" in details.text
    assert "layer3.0.conv1" in details.text, "the node's rows of the layer table"

    # Overlay: fills follow mult-adds and the legend states the scale.
    Select(driver.find_element(By.ID, "overlay")).select_by_value("mult_adds")
    legend = wait(driver, lambda d: d.find_element(By.ID, "legend").is_displayed()
                  and d.find_element(By.ID, "legend"), "the overlay's legend")
    assert "log scale" in legend.text or "linear scale" in legend.text
    driver.switch_to.default_content()
    scroll_to(driver, frame)
    screenshot(driver, "viewer_overlay_details")

    # Fold conv4_x: Python draws again and the viewer gets fewer nodes.
    driver.switch_to.frame(frame)
    driver.find_element(By.CSS_SELECTOR, '#stages button[data-stage="2"]').click()
    wait(driver, lambda d: 0 < len(css(d, "#graph g.node")) < nodes_before, "the folded graph")
    # Six blocks, their sums and the stage's title become one node.
    assert len(css(driver, "#graph g.node")) == nodes_before - 2 * 6 - 1 + 1
    folded = driver.find_element(By.ID, "node-layer3")
    wait(driver, lambda d: _inside(folded, _graph_frame(d)), "the folded stage brought into view",
         timeout=10)
    # The overlay survives the new drawing.
    fill = driver.execute_script(
        "return document.querySelector('#node-layer3 path, #node-layer3 polygon')"
        ".getAttribute('fill')")
    assert fill.lower() not in ("#fdf0dc", "none")
    driver.switch_to.default_content()
    wait(driver, settled, "the fold to finish running")
    scroll_to(driver, css(driver, VIEWER)[0])
    screenshot(driver, "viewer_folded")


def test_across_compare_and_block_pages_in_the_viewer(app_url, chrome):
    from selenium.webdriver.common.by import By

    driver = chrome
    driver.get(f"{app_url}/designer?preset=resnet50")
    wait(driver, lambda d: in_viewer(d, 0, lambda f: css(f, "#graph g.graph")),
         "the Designer's graph")
    wait(driver, settled, "the Designer to finish running")
    assert not _drawn_across(driver), "the Designer draws down the page at first"
    driver.find_element(By.XPATH, '//label[.//p[text()="across"]]').click()
    wait(driver, _drawn_across, "the graph drawn across")
    wait(driver, settled, "the across drawing to finish running")
    scroll_to(driver, css(driver, VIEWER)[0])
    screenshot(driver, "viewer_across")
    # Drawn across, the graph starts at its input, at a size that can be read.
    scale = in_viewer(driver, 0, lambda f: f.execute_script(
        "return document.querySelector('.svg-pan-zoom_viewport').getCTM().a"))
    assert scale >= 0.5, f"the across view starts too small to read (scale {scale:.2f})"

    open_page(driver, "compare")
    wait(driver, lambda d: len(css(d, VIEWER)) == 1
         and in_viewer(d, 0, lambda f: css(f, "#graph g.node.diff-changed")),
         "the Compare page's side-by-side drawing")
    wait(driver, settled, "the Compare page to finish running")
    scroll_to(driver, css(driver, VIEWER)[0])
    screenshot(driver, "viewer_compare")

    open_page(driver, "block")
    # The Block page's own input: the Compare page's two viewers are not taken for its one.
    wait(driver, lambda d: css(d, 'input[aria-label="In channels"]') and len(css(d, VIEWER)) == 1,
         "the Block page and its viewer")
    wait(driver, settled, "the Block page to finish running")
    enter_viewer(driver)
    # A layer of the block: its details come from the traced block itself.
    driver.find_element(By.ID, "search").send_keys("conv1")
    match = wait(driver, lambda d: css(d, "#graph g.node.match"), "the block's first conv")[0]
    match.click()
    wait(driver, lambda d: "conv1" in d.find_element(By.ID, "details").text, "its details")
    driver.switch_to.default_content()
    scroll_to(driver, css(driver, VIEWER)[0])
    screenshot(driver, "viewer_block")
