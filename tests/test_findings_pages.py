"""Findings on the pages, driven by AppTest: the Your model page lists an uploaded program's
findings and hands them to the viewer with each one's node; the Designer lists what the sliders
made wrong."""

from __future__ import annotations

import json

from test_app_pages import assert_clean, open_page, shown_text
from test_exported import export_bytes

from seed_networks import ResNet18


def viewer_args(at):
    """The arguments the page gave the graph viewer component."""
    (viewer,) = [c for c in at.get("component_instance")
                 if c.proto.component_name.endswith("graph_viewer")]
    return json.loads(viewer.proto.json_args)


def findings_lines(at):
    return [shown_text(m.value) for m in at.markdown if "Fix:" in shown_text(m.value)]


def test_your_model_lists_seed_001s_findings_and_links_them_to_nodes():
    at = open_page("pages/own_model.py")
    at.session_state["own_program"] = ("ResNet18.pt2", export_bytes(ResNet18(), (3, 32, 32)))
    at.run()
    assert_clean(at, "seed 001 as a program")
    assert any(s.value == "Findings" for s in at.subheader)
    lines = findings_lines(at)
    assert lines[0].startswith("🔴 **error** · conv5_1:")  # a program keeps no block modules
    assert any("512x1x1 from the residual branch to 512x2x2" in line for line in lines)
    assert any("named 18, counts 10 weighted layers" in line for line in lines)
    severities = [line.split("**")[1] for line in lines]
    assert severities == sorted(severities, key=["error", "warning", "note"].index)
    # The viewer lists the same findings, each with its node's element in the drawn SVG.
    args = viewer_args(at)
    listed = args["details"]["findings"]
    assert [f["severity"] for f in listed] == severities
    broadcast = next(f for f in listed if f["rule"] == "broadcast-sum")
    assert broadcast["element"] == "node-block_conv5_1.add"  # the sum of a block without a module
    assert f'id="{broadcast["element"]}"' in args["svg"].replace("&#45;", "-")


def test_the_designer_lists_what_a_too_small_input_did():
    at = open_page("pages/designer.py", {"preset": "resnet50", "input_size": "32"})
    at.run()
    assert_clean(at, "resnet50 on 32x32")
    lines = findings_lines(at)
    warnings = [line for line in lines if "**warning**" in line]
    assert len(warnings) == 3 and all("kernel taps only ever multiply padding" in line
                                      for line in warnings)
