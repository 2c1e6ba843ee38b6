"""The Your model page in a real browser: a `.pt2` made here from a small ResNet is uploaded
through the file input, and the graph and the explanation appear."""

from __future__ import annotations

import pytest
import torch

from inspector.model import build_model
from inspector.presets import get_preset
from test_browser import ARTIFACTS, _no_exception, _settled, _wait, browser, server  # noqa: F401

pytestmark = pytest.mark.browser


def test_upload_a_program_and_see_its_graph_and_explanation(server, browser, tmp_path):  # noqa: F811
    from selenium.webdriver.common.by import By

    model = build_model(get_preset("resnet20"), "cpu").eval()
    path = tmp_path / "cifar_resnet.pt2"
    torch.export.save(torch.export.export(model, (torch.randn(1, 3, 32, 32),)), str(path))

    browser.get(f"{server}/own_model")
    upload = _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, 'input[type="file"]'),
                   "the file input")
    upload[0].send_keys(str(path))
    graphs = _wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "div.resnet-graph svg"),
                   "the uploaded program's graph")
    _wait(browser, _settled, "the page to finish running")
    svg = graphs[0].get_attribute("outerHTML")
    assert svg.count("stroke-dasharray") >= 2, "option A's two zero-padding shortcuts are dashed"
    assert "conv4_1" in svg
    text = browser.find_element(By.TAG_NAME, "body").text
    assert "Equivalent to resnet20." in text
    assert f"{sum(p.numel() for p in model.parameters()):,}" in text
    _no_exception(browser)
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "own_model.png"))
