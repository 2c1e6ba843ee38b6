"""The graph viewer's pure parts: stage folding, overlay scales, node details, and the drawing's
geometry (titles clear of shortcuts, nothing outside the picture), measured on Graphviz's SVG."""

from __future__ import annotations

import math
from collections import deque

import pandas as pd
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from inspector import get_preset
from inspector.model import build_model
from inspector.node_details import layer_outputs, rows_by_module, viewer_payload
from inspector.overlay import (RAMP, ZERO_COLOR, ColorScale, Measure, activation_bytes, overlay,
                               subtree_totals)
from inspector.render import (FOLD_ABOVE_NODES, SHORTCUT_ID_PREFIX, dot_available, export_graph,
                              fold_blocks, node_element_id, render_graph, stage_title_id)
from inspector.stage_fold import fold_stages, stages_of
from inspector.table import layer_table
from inspector.trace import trace_graph
from svg_geometry import all_text_boxes, edges, element_ids, text_boxes_by_id, view_box

needs_dot = pytest.mark.skipif(not dot_available(), reason="Graphviz's dot is not installed")


def _reachable(graph, start: str) -> set[str]:
    out: dict[str, list[str]] = {}
    for edge in graph.edges:
        out.setdefault(edge.src, []).append(edge.dst)
    seen, todo = {start}, deque([start])
    while todo:
        for nxt in out.get(todo.popleft(), []):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


# ----- folding stages -------------------------------------------------------------------------


@pytest.mark.parametrize("view", ["block", "layer"])
def test_folding_a_stage_keeps_its_parameters_and_the_path(view):
    spec = get_preset("resnet50")
    model = build_model(spec)
    graph = trace_graph(spec, view)
    folded, owners = fold_stages(graph, [1])
    assert owners == {"layer2": 1}
    node = folded.node("layer2")
    # An independent count: the built model's own stage module.
    assert node.params == sum(p.numel() for p in model.layer2.parameters())
    assert folded.params == sum(p.numel() for p in model.parameters())
    members = [n for n in graph.nodes if n.stage == 1]
    assert len(folded.nodes) == len(graph.nodes) - len(members) + 1
    ids = {n.id for n in folded.nodes}
    assert all(e.src in ids and e.dst in ids for e in folded.edges)
    assert len({(e.src, e.dst) for e in folded.edges}) == len(folded.edges)
    assert _reachable(folded, "input") == ids, "every node stays on a path from the input"


def test_folding_every_stage_and_unknown_stages():
    graph = trace_graph(get_preset("resnet18"), "block")
    assert stages_of(graph) == [0, 1, 2, 3]
    folded, owners = fold_stages(graph, [0, 1, 2, 3, 7])
    assert sorted(owners.values()) == [0, 1, 2, 3]
    assert [n.id for n in folded.nodes if n.kind == "block"] == ["layer1", "layer2", "layer3",
                                                                  "layer4"]
    same, none = fold_stages(graph, [9])
    assert same is graph and none == {}


@needs_dot
def test_a_folded_stage_draws_fewer_nodes():
    graph = trace_graph(get_preset("resnet34"), "block")
    full = export_graph(render_graph(graph), "svg").decode()
    folded = export_graph(render_graph(fold_stages(graph, [2])[0]), "svg").decode()
    # Six blocks and their sums, and the stage's title, become one node.
    assert folded.count('class="node"') == full.count('class="node"') - 2 * 6 - 1 + 1
    ids = element_ids(folded)
    assert "node-layer3" in ids and "node-layer3.0" not in ids


# ----- overlay scales -------------------------------------------------------------------------


def test_scale_is_linear_for_close_values_and_log_for_wide_ones():
    linear = ColorScale.from_values(Measure.PARAMS, [0, 10, 20, 40])
    assert (linear.low, linear.high, linear.log) == (10, 40, False)
    assert linear.position(25) == pytest.approx(0.5)
    wide = ColorScale.from_values(Measure.PARAMS, [10, 1000, 100_000])
    assert wide.log and wide.position(1000) == pytest.approx(0.5)
    assert wide.color(10) == RAMP[0] and wide.color(100_000) == RAMP[-1]
    assert wide.color(0) == ZERO_COLOR
    assert ColorScale.from_values(Measure.PARAMS, [0, 0]) is None


@given(st.lists(st.integers(1, 10**12), min_size=2, max_size=30))
def test_scale_positions_follow_the_values(values):
    scale = ColorScale.from_values(Measure.MULT_ADDS, values)
    ordered = sorted(values)
    positions = [scale.position(v) for v in ordered]
    assert positions == sorted(positions)
    assert all(0.0 <= p <= 1.0 for p in positions)


def test_overlay_puts_the_most_compute_at_the_dark_end():
    spec = get_preset("resnet18")
    graph = trace_graph(spec, "layer")
    colors, legend = overlay(graph, Measure.MULT_ADDS)
    model = build_model(spec)
    # Independent count of the busiest conv: 7x7x3x64 weights applied at each of 112x112 outputs.
    stem = model.conv1.weight.numel() * 112 * 112
    assert legend["high"] == stem and legend["scale"] == "log"
    assert colors["conv1"] == RAMP[-1]
    assert colors["relu"] == ZERO_COLOR  # no mult-adds in a ReLU


def test_activation_of_a_block_is_what_its_layers_output():
    spec = get_preset("resnet18")
    model = build_model(spec).eval()
    outputs: dict[str, int] = {}
    hooks = [m.register_forward_hook(lambda mod, i, o, name=name: outputs.__setitem__(
        name, outputs.get(name, 0) + o.numel()))
        for name, m in model.named_modules() if name.startswith("layer1.0.")
        and not list(m.children())]
    with torch.no_grad():
        model(torch.zeros(1, 3, 224, 224, device="meta"))  # shapes only: no weights needed
    for hook in hooks:
        hook.remove()
    block = trace_graph(spec, "block").node("layer1.0")
    table = layer_table(spec)
    totals = subtree_totals(layer_outputs(table))
    assert activation_bytes(block, totals) == 4 * sum(outputs.values())
    assert activation_bytes(block) == 4 * math.prod(block.shape)  # without a table: its output


# ----- node details ---------------------------------------------------------------------------


def test_rows_under_a_module_path_match_whole_names():
    table = pd.DataFrame({"layer": ["layer1.0.conv1", "layer1.00.conv1", "layer1.0", "fc"],
                          "stride": pd.array([1, None, 2, None], dtype="Int64"),
                          "output_shape": [(1, 2), (1, 2), (1, 2), (1, 3)]})
    rows = rows_by_module(table)
    assert [r["layer"] for r in rows["layer1.0"]] == ["layer1.0.conv1", "layer1.0"]
    assert len(rows["layer1"]) == 3
    assert rows["fc"][0]["stride"] is None  # JSON has no NA
    assert rows["fc"][0]["output_shape"] == [1, 3]


def test_payload_describes_every_drawn_node():
    spec = get_preset("resnet18")
    graph, owners = fold_stages(trace_graph(spec, "block"), [3])
    payload = viewer_payload(graph, layer_table(spec), owners)
    assert set(payload["nodes"]) == {node_element_id(n.id) for n in graph.nodes}
    stage = payload["nodes"]["node-layer4"]
    assert stage["folded_stage"] == 3
    model = build_model(spec)
    assert sum(r["params"] for r in stage["rows"]) == sum(
        p.numel() for p in model.layer4.parameters())
    conv = payload["nodes"]["node-conv1"]
    assert [r["layer"] for r in conv["rows"]] == ["conv1"]
    # the viewer's search and details heading read the label: the title and the block's convs
    block = payload["nodes"]["node-layer2.0"]
    assert block["label"].split("\n") == ["conv3_1", "3x3, 128, /2", "3x3, 128"]
    assert set(payload["legends"]) == {m.value for m in Measure}


# ----- geometry of the drawing ----------------------------------------------------------------


@needs_dot
@pytest.mark.parametrize("name", ["resnet18", "resnet50", "resnet110"])
@pytest.mark.parametrize("view", ["block", "layer"])
@pytest.mark.parametrize("direction", ["TB", "LR"])
def test_no_edge_crosses_a_stage_title_and_no_text_is_cut(name, view, direction):
    graph = trace_graph(get_preset(name), view)
    svg = export_graph(render_graph(graph, direction), "svg").decode()
    titles = text_boxes_by_id(svg, stage_title_id(0).rstrip("0"))
    assert len(titles) == len({n.stage for n in graph.nodes if n.stage is not None})
    lines = edges(svg)
    drawn = fold_blocks(graph)[0] if len(graph.nodes) > FOLD_ABOVE_NODES else graph
    assert len(lines) == len(drawn.edges)
    assert edges(svg, SHORTCUT_ID_PREFIX), "shortcut edges carry the id the viewer looks for"
    for edge, (points, labels) in lines.items():
        for title, boxes in titles.items():
            for box in boxes:
                assert not any(box.contains(x, y) for x, y in points), f"{edge} crosses {title}"
                assert not any(box.overlaps(label) for label in labels), (
                    f"{edge}'s label overlaps {title}")
    frame = view_box(svg)
    for text, box in all_text_boxes(svg):
        assert (frame.left <= box.left and box.right <= frame.right
                and frame.top <= box.top and box.bottom <= frame.bottom), f"{text!r} is cut"


@needs_dot
def test_nodes_carry_ids_and_tooltips():
    spec = get_preset("resnet18")
    svg = export_graph(render_graph(trace_graph(spec, "block")), "svg").decode()
    assert {"node-layer2.0", "stage-1", "stage-title-1"} <= element_ids(svg)
    params = sum(p.numel() for p in build_model(spec).layer2[0].parameters())
    assert f"params: {params:,}" in svg  # the hover text, from xlink:title


# ----- the page asks to fold what the viewer sent back ----------------------------------------


def _viewer_args(at) -> list[dict]:
    import json

    return [json.loads(c.proto.json_args) for c in at.get("component_instance")
            if c.proto.component_name.endswith("graph_viewer")]


@needs_dot
def test_designer_folds_the_stages_the_viewer_asks_for():
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file("../pages/designer.py", default_timeout=120)
    at.query_params["preset"] = "resnet18"
    at.run()
    (args,) = _viewer_args(at)
    spec_hash = get_preset("resnet18").spec_hash()
    assert args["graph_key"] == spec_hash and args["folded"] == []
    assert [name for _, name in args["stages"]] == ["conv2_x", "conv3_x", "conv4_x", "conv5_x"]
    full_nodes = args["svg"].count('class="node"')

    at.session_state["designer_graph"] = {"graph": spec_hash, "folded": [1, 2]}
    at.run()
    (args,) = _viewer_args(at)
    assert args["folded"] == [1, 2]
    assert args["svg"].count('class="node"') == full_nodes - 2 * (2 * 2 + 1) + 2
    assert args["details"]["nodes"]["node-layer3"]["folded_stage"] == 2

    # A fold sent for another design, or a malformed one, folds nothing.
    for stale in ({"graph": "another design", "folded": [1]}, {"graph": spec_hash, "folded": "1"}):
        at.session_state["designer_graph"] = stale
        at.run()
        assert not at.exception
        assert _viewer_args(at)[0]["folded"] == []
