"""What a new user tripped over, in a real browser at 1600x1000: the Designer's graph above the
fold, a search that finds what a folded stage hides, stage titles that fold where they say so,
and the picture's state in the page's link."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest

from browser_helpers import (VIEWER, body, css, enter_viewer, in_viewer, screenshot, settled,
                             wait)

pytestmark = pytest.mark.browser

WINDOW = (1600, 1000)
#: At least this much of the graph must show in a 1000-pixel-high window without scrolling.
GRAPH_SHOWN_PX = 500


def _query(driver) -> dict[str, str]:
    return {k: v[-1] for k, v in parse_qs(urlparse(driver.current_url).query).items()}


def test_designer_graph_is_on_screen_without_scrolling(app_url, chrome):
    driver = chrome
    driver.get(f"{app_url}/designer?preset=resnet50")
    wait(driver, lambda d: in_viewer(d, 0, lambda f: css(f, "#graph svg g.node")),
         "the Designer's graph")
    wait(driver, settled, "the Designer to finish running")
    frame_top = driver.execute_script(
        f"return document.querySelector('{VIEWER}').getBoundingClientRect().top")
    graph_top = in_viewer(driver, 0, lambda f: f.execute_script(
        "return document.getElementById('graph').getBoundingClientRect().top"))
    top = frame_top + graph_top
    screenshot(driver, "designer_above_the_fold")
    assert driver.execute_script("return window.scrollY") == 0
    assert top <= WINDOW[1] - GRAPH_SHOWN_PX, f"the graph starts {top:.0f} px down"


def test_search_in_a_folded_stage_offers_to_unfold(app_url, chrome):
    from selenium.webdriver.common.by import By

    driver = chrome
    driver.get(f"{app_url}/designer?preset=resnet50&stages=3")
    wait(driver, lambda d: in_viewer(d, 0, lambda f: css(f, "#node-layer3")),
         "conv4_x drawn folded")
    wait(driver, settled, "the Designer to finish running")
    enter_viewer(driver)
    driver.find_element(By.ID, "search").send_keys("conv4_2")
    hint = wait(driver, lambda d: d.find_element(By.ID, "search-hidden").is_displayed()
                and d.find_element(By.ID, "search-hidden"), "the hidden-matches hint")
    assert "0 matches" in driver.find_element(By.ID, "search-count").text
    assert "1 more in folded conv4_x" in hint.text
    hint.find_element(By.CSS_SELECTOR, 'button[data-unfold="2"]').click()
    match = wait(driver, lambda d: css(d, "#graph g.node.match"), "the match, unfolded")[0]
    assert match.get_attribute("id") == "node-layer3.1"
    assert not driver.find_element(By.ID, "search-hidden").is_displayed()
    driver.switch_to.default_content()
    wait(driver, lambda d: "stages" not in _query(d) and _query(d).get("search") == "conv4_2",
         "the link without the fold, with the search")


def test_stage_titles_fold_on_the_export_preview_and_the_link_keeps_it(app_url, chrome):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    driver = chrome
    driver.get(f"{app_url}/export?preset=resnet18")
    wait(driver, lambda d: "Graph as SVG" in body(d), "the Export page")
    wait(driver, settled, "the Export page to finish running")
    enter_viewer(driver)
    before = len(css(driver, "#graph g.node"))
    title = driver.find_element(By.CSS_SELECTOR, "#graph.foldable #stage-title-1 text")
    assert "underline" in title.value_of_css_property("text-decoration")
    title.click()
    wait(driver, lambda d: css(d, "#node-layer2"), "conv3_x folded by its title")
    assert len(css(driver, "#graph g.node")) == before - 2 * 2 - 1 + 1
    Select(driver.find_element(By.ID, "overlay")).select_by_value("params")
    driver.switch_to.default_content()
    wait(driver, lambda d: _query(d).get("stages") == "2" and _query(d).get("colour")
         == "params", "the fold and the colour in the link")
    screenshot(driver, "export_preview_folded")


def test_compare_marks_exactly_the_differing_blocks_and_shows_both_versions(app_url, chrome):
    from selenium.webdriver.common.by import By

    driver = chrome
    marked_js = ("return [...document.querySelectorAll('#graph g.node')]"
                 ".filter(g => /diff-(changed|added|removed)/.test(g.getAttribute('class')))"
                 ".map(g => g.id.split('-')[1] + ':' + g.querySelector('text').textContent)")
    # ResNet-34 against ResNet-50 (3, 4, 6, 3 blocks each): every block pair differs in type.
    driver.get(f"{app_url}/compare?a.preset=resnet34&b.preset=resnet50")
    wait(driver, lambda d: in_viewer(d, 0, lambda f: css(f, "#graph g.node.diff-changed")),
         "ResNet-34 beside ResNet-50")
    wait(driver, settled, "the Compare page to finish running")
    marked = in_viewer(driver, 0, lambda f: f.execute_script(marked_js))
    blocks = [f"conv{s + 2}_{b + 1}" for s, n in enumerate((3, 4, 6, 3)) for b in range(n)]
    assert sorted(marked) == sorted([f"{side}:{name}" for side in "AB" for name in blocks]
                                    + ["A:head", "B:head"])
    # ResNet-18 against ResNet-18 with conv4_x widened to 384 channels.
    driver.get(f"{app_url}/compare?a.preset=resnet18&b.preset=resnet18&b.widths=64,128,384,512")
    wait(driver, lambda d: in_viewer(d, 0, lambda f: css(f, "#graph g.node.diff-changed")),
         "the side-by-side drawing")
    wait(driver, settled, "the Compare page to finish running")
    enter_viewer(driver)
    marked = driver.execute_script(marked_js)
    assert sorted(marked) == sorted(f"{side}:{name}" for side in "AB"
                                    for name in ("conv4_1", "conv4_2", "conv5_1"))
    driver.find_element(By.ID, "diff-B-2-0").click()  # conv4_1 of B
    versions = wait(driver, lambda d: css(d, "#details table.versions"), "both versions")[0]
    text = versions.text
    assert "A: resnet18" in text and "B: resnet18 (modified)" in text
    assert "3x3, 256" in text and "3x3, 384" in text
    # One picture: a zoom moves both networks together.
    assert len(css(driver, "#graph svg")) == 1
    driver.switch_to.default_content()
    screenshot(driver, "compare_diff")


def test_a_tall_graph_has_an_overview_and_the_link_can_be_copied(app_url, chrome):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.by import By

    driver = chrome
    driver.get(f"{app_url}/designer?preset=resnet152&colour=params")
    wait(driver, lambda d: in_viewer(d, 0, lambda f: css(f, "#graph svg g.node")),
         "ResNet-152's graph")
    wait(driver, settled, "the Designer to finish running")
    enter_viewer(driver)
    overview = wait(driver, lambda d: d.find_element(By.ID, "minimap").is_displayed()
                    and d.find_element(By.ID, "minimap"), "the overview of a tall graph")
    view = driver.find_element(By.ID, "minimap-view")
    assert 0 < view.size["height"] < overview.size["height"], "the frame's share of the graph"
    top = view.location["y"]
    # A click near the overview's bottom moves the view down the graph.
    ActionChains(driver).move_to_element_with_offset(
        overview, 0, overview.size["height"] // 2 - 4).click().perform()
    wait(driver, lambda d: d.find_element(By.ID, "minimap-view").location["y"] > top + 20,
         "the view moved to the end of the graph", timeout=10)
    assert driver.find_element(By.ID, "overlay").get_attribute("value") == "params", \
        "the link's colour"
    # (a script's click: the page's toolbar may cover the frame's top row)
    driver.execute_script("arguments[0].click()", driver.find_element(By.ID, "copy-link"))
    link = wait(driver, lambda d: d.find_element(By.ID, "copy-link").get_attribute("data-link"),
                "the copied link", timeout=10)
    assert "preset=resnet152" in link and "colour=params" in link
    driver.switch_to.default_content()
    screenshot(driver, "designer_overview")
