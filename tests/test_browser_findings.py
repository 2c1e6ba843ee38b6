"""Findings in a real browser: seed 001's "ResNet18", uploaded as a program to the Your model page,
shows its findings, and a click on one in the viewer selects and centres its node."""

from __future__ import annotations

import pytest
import torch

from browser_helpers import (VIEWER, body, css, enter_viewer, screenshot, scroll_to, settled,
                             viewer_svgs, wait)
from seed_networks import ResNet18

pytestmark = pytest.mark.browser


def _centred(element, frame) -> bool:
    """Whether the element's centre lies in the middle fifth of the frame."""
    box, view = element.rect, frame.rect
    x, y = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    return (view["x"] + 0.4 * view["width"] <= x <= view["x"] + 0.6 * view["width"]
            and view["y"] + 0.4 * view["height"] <= y <= view["y"] + 0.6 * view["height"])


def test_your_model_shows_the_findings_and_a_click_selects_the_node(app_url, chrome, tmp_path):
    from selenium.webdriver.common.by import By

    model = ResNet18().eval()
    path = tmp_path / "ResNet18.pt2"
    torch.export.save(torch.export.export(model, (torch.randn(1, 3, 32, 32),)), str(path))

    chrome.get(f"{app_url}/own_model")
    upload = wait(chrome, lambda d: css(d, 'input[type="file"]'), "the file input")
    upload[0].send_keys(str(path))
    wait(chrome, lambda d: len(css(d, VIEWER)) == 1 and viewer_svgs(d), "the program's graph")
    wait(chrome, settled, "the page to finish running")
    text = body(chrome)
    assert "Findings" in text and "2 errors, 4 warnings" in text

    frame = enter_viewer(chrome)
    items = wait(chrome, lambda d: css(d, "#findings li"), "the viewer's list of findings")
    assert items[0].text.startswith("error conv5_1:")
    broadcast = next(i for i in items if "PyTorch broadcasts" in i.text)
    target = broadcast.get_attribute("data-element")
    assert target == "node-block_conv5_1.add"
    broadcast.click()
    details = wait(chrome, lambda d: "512x1x1" in d.find_element(By.ID, "details").text
                   and d.find_element(By.ID, "details"), "the sum's details with its findings")
    assert "error:" in details.text
    node = chrome.find_element(By.ID, target)
    assert "selected" in node.get_attribute("class")
    wait(chrome, lambda d: _centred(node, d.find_element(By.ID, "graph")),
         "the sum centred in the frame", timeout=10)
    chrome.switch_to.default_content()
    scroll_to(chrome, frame)
    screenshot(chrome, "findings_own_model")
