"""The Your model page in a real browser: a `.pt2` made here from a small ResNet is uploaded
through the file input, and the graph and the explanation appear."""

from __future__ import annotations

import pytest
import torch

from browser_helpers import VIEWER, body, css, no_exception, screenshot, settled, viewer_svgs, wait
from inspector.model import build_model
from inspector.presets import get_preset

pytestmark = pytest.mark.browser


def test_upload_a_program_and_see_its_graph_and_explanation(app_url, chrome, tmp_path):
    model = build_model(get_preset("resnet20"), "cpu").eval()
    path = tmp_path / "cifar_resnet.pt2"
    torch.export.save(torch.export.export(model, (torch.randn(1, 3, 32, 32),)), str(path))

    chrome.get(f"{app_url}/own_model")
    upload = wait(chrome, lambda d: css(d, 'input[type="file"]'), "the file input")
    upload[0].send_keys(str(path))
    svg = wait(chrome, lambda d: len(css(d, VIEWER)) == 1 and viewer_svgs(d),
               "the uploaded program's graph")[0]
    wait(chrome, settled, "the page to finish running")
    assert svg.count("stroke-dasharray") >= 2, "option A's two zero-padding shortcuts are dashed"
    assert "conv4_1" in svg
    text = body(chrome)
    assert "Equivalent to resnet20." in text
    assert f"{sum(p.numel() for p in model.parameters()):,}" in text
    no_exception(chrome)
    screenshot(chrome, "own_model")


def test_an_uploaded_program_that_calls_from_file_is_refused_and_writes_nothing(app_url, chrome,
                                                                               tmp_path):
    """The crafted archive of test_exported_ops, uploaded as a visitor would: one sentence on
    the page and no canary on the server's disk."""
    from test_exported_ops import Tiny, from_file_program
    from test_exported import export_bytes

    canary = tmp_path / "canary"
    path = tmp_path / "crafted.pt2"
    path.write_bytes(from_file_program(export_bytes(Tiny(), (3, 8, 8)), canary))

    chrome.get(f"{app_url}/own_model")
    upload = wait(chrome, lambda d: css(d, 'input[type="file"]'), "the file input")
    upload[0].send_keys(str(path))
    alert = wait(chrome, lambda d: [e.text for e in css(d, '[data-testid="stAlert"]')
                                    if "from_file" in e.text], "the refusal")[0]
    wait(chrome, settled, "the page to finish running")
    assert "not among the layer, shape and arithmetic operators" in alert
    assert not viewer_svgs(chrome) and "Parameters" not in body(chrome)
    assert not canary.exists()
    no_exception(chrome)
