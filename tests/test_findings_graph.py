"""Findings on the graph: marked nodes in both views and in every export, the broadcasting sum
with both shapes on its edges, and a node's findings in the viewer's details."""

import xml.etree.ElementTree as ET

import pytest
import torch

from inspector import get_preset
from inspector.analysis import analyze
from inspector.kinds import Rule, Severity
from inspector.node_details import viewer_payload
from inspector.render import MARK_COLORS, dot_available, export_graph, render_graph
from inspector.trace import trace_graph

from seed_networks import ResNet18

needs_dot = pytest.mark.skipif(not dot_available(), reason="Graphviz's dot is not installed")
SVG = "{http://www.w3.org/2000/svg}"
RED, ORANGE = MARK_COLORS[Severity.ERROR], MARK_COLORS[Severity.WARNING]


@pytest.fixture(scope="module")
def seed_001():
    with torch.device("meta"):
        model = ResNet18()
    return analyze(model, (3, 32, 32))


def svg_of(graph):
    return ET.fromstring(export_graph(render_graph(graph), "svg"))


def group(svg, element_id):
    found = [g for g in svg.iter(f"{SVG}g") if g.get("id") == element_id]
    assert len(found) == 1, element_id
    return found[0]


def strokes(element):
    return {e.get("stroke") for e in element.iter() if e.tag in (
        f"{SVG}polygon", f"{SVG}path", f"{SVG}ellipse")}


def texts(element):
    return ["".join(t.itertext()) for t in element.iter(f"{SVG}text")]


@needs_dot
def test_the_block_view_marks_the_broken_block_and_its_broadcasting_sum(seed_001):
    svg = svg_of(seed_001.graph("block"))
    block = group(svg, "node-blk4")
    assert RED in strokes(block) and "marked" in block.get("class")
    assert any(t.startswith("! error: shape changes on one path") for t in texts(block))
    add = group(svg, "node-blk4.add")
    assert RED in strokes(add)
    assert "! error: broadcasting sum (+1)" in texts(svg)  # the sum's badge, beside it
    # Both operands of the sum carry their shapes, in the error's colour.
    into_sum = [g for g in svg.iter(f"{SVG}g") if g.get("class") == "edge"
                and "".join(g.find(f"{SVG}title").itertext()).split("->")[1].split(":")[0]
                == "blk4.add"]
    labels = {t for g in into_sum for t in texts(g)}
    assert {"512 x 1 x 1", "512 x 2 x 2"} <= labels
    assert all(RED in strokes(g) for g in into_sum)
    # A block without findings keeps the plain look.
    plain = group(svg, "node-input")
    assert "marked" not in plain.get("class")


@needs_dot
def test_the_layer_view_marks_the_layers(seed_001):
    svg = svg_of(seed_001.graph("layer"))
    conv = group(svg, "node-blk4.con2")
    assert ORANGE in strokes(conv)
    assert "! warning: bias before BatchNorm (+1)" in texts(conv)  # and its dead taps
    assert RED in strokes(group(svg, "node-blk4.add"))
    assert RED in strokes(group(svg, "node-blk4.con1"))  # the stride on one path only
    assert "marked" not in group(svg, "node-outlay").get("class")


@needs_dot
def test_marks_survive_png_and_pdf_export(seed_001):
    digraph = render_graph(seed_001.graph("block"))
    assert f'color="{RED}"' in digraph.source and "! error: broadcasting sum" in digraph.source
    assert export_graph(digraph, "png", dpi=72).startswith(b"\x89PNG")
    assert export_graph(digraph, "pdf").startswith(b"%PDF")


def test_the_viewer_details_list_a_nodes_findings(seed_001):
    graph = seed_001.graph("block")
    payload = viewer_payload(graph, seed_001.layer_table())
    marks = payload["nodes"]["node-blk4.add"]["marks"]
    assert [(m["severity"], m["rule"]) for m in marks] == [
        (Severity.ERROR, Rule.BROADCAST_SUM), (Severity.NOTE, Rule.ACTIVATION_ORDER)]
    assert "512x1x1" in marks[0]["message"]
    assert payload["nodes"]["node-outlay"]["marks"] == []


def test_presets_are_drawn_without_marks_and_a_broken_design_with_them():
    assert not any(n.marks for n in trace_graph(get_preset("resnet50"), "block").nodes)
    small = get_preset("resnet50").replace(input_size=32)
    marked = {n.id for n in trace_graph(small, "block").nodes if n.marks}
    assert marked == {"layer4.0", "layer4.1", "layer4.2"}
    layer = {n.id for n in trace_graph(small, "layer").nodes
             if any(m.rule == Rule.DEAD_TAPS for m in n.marks)}
    assert layer == {"layer4.0.conv2", "layer4.1.conv2", "layer4.2.conv2"}
