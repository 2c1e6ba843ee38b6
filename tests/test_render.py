"""Rendering: the dashed style lands on exactly the shape-changing shortcuts, and `dot` accepts it."""

import re
import subprocess
import xml.etree.ElementTree as ET

import pytest

import inspector.render as render_module
from inspector import get_preset
from inspector.kinds import Direction, Fold, GraphFormat
from inspector.render import (GraphvizNotFound, dot_available, export_graph, fold_blocks,
                              render_graph)
from inspector.trace import trace_graph

needs_dot = pytest.mark.skipif(not dot_available(),
                               reason="Graphviz's dot binary is not installed (apt-get install graphviz)")
SVG = "{http://www.w3.org/2000/svg}"


def svg_edges(svg: bytes) -> dict[tuple[str, str], bool]:
    """(src, dst) -> dashed, read from the SVG Graphviz wrote."""
    edges = {}
    for group in ET.fromstring(svg).iter(f"{SVG}g"):
        if group.get("class") != "edge":
            continue
        src, dst = (end.split(":")[0] for end in group.find(f"{SVG}title").text.split("->"))
        path = group.find(f"{SVG}path")
        edges[(src, dst)] = path.get("stroke-dasharray") is not None
    return edges


@needs_dot
@pytest.mark.parametrize("name, view, dashed", [
    ("resnet34", "block", 3),
    ("resnet50", "block", 4),
    ("resnet20", "block", 2),
    ("plain20", "block", 0),
    ("resnet18", "layer", 3 * 3),  # conv -> BN -> sum: three dashed edges per projection
    # pool -> conv -> BN -> sum; where the stride is 1 the pool is an Identity (timm's layout)
    ("resnet50d", "layer", 4 * 4),
])
def test_svg_dashes_exactly_the_shape_changing_shortcuts(name, view, dashed):
    graph = trace_graph(get_preset(name), view)
    edges = svg_edges(export_graph(render_graph(graph, fold=False), "svg"))
    assert len(edges) == len(graph.edges)
    expected = {(e.src, e.dst) for e in graph.edges if e.dashed}
    assert {pair for pair, is_dashed in edges.items() if is_dashed} == expected
    assert len(expected) == dashed


@needs_dot
def test_option_c_svg_is_all_dashed_shortcuts():
    graph = trace_graph(get_preset("resnet34").replace(shortcut="C"))
    edges = svg_edges(export_graph(render_graph(graph), "svg"))
    assert sum(edges.values()) == 16
    solid_shortcuts = [e for e in graph.edges if e.kind != "main" and not edges[(e.src, e.dst)]]
    assert solid_shortcuts == []


@needs_dot
@pytest.mark.parametrize("name, view, direction", [
    ("resnet50", "block", "TB"), ("resnet50d", "layer", "LR"), ("preact_resnet18", "layer", "TB"),
    ("resnet1202", "block", "TB"), ("tutorial_resnet10", "block", "LR"),
])
def test_dot_binary_accepts_the_source(name, view, direction, tmp_path):
    source = export_graph(render_graph(trace_graph(get_preset(name), view), direction), "dot")
    result = subprocess.run(["dot", "-Tsvg"], input=source, capture_output=True)
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.startswith(b"<?xml")


@needs_dot
def test_png_dpi_and_pdf():
    digraph = render_graph(trace_graph(get_preset("resnet20")))
    small, large = export_graph(digraph, "png", dpi=50), export_graph(digraph, "png", dpi=100)
    assert small[:8] == large[:8] == b"\x89PNG\r\n\x1a\n"

    def width(png: bytes) -> int:
        return int.from_bytes(png[16:20], "big")

    assert 1.8 < width(large) / width(small) < 2.2
    assert export_graph(digraph, "pdf").startswith(b"%PDF")
    assert "dpi" not in digraph.graph_attr  # exporting does not change the caller's graph


def test_labels_shapes_and_direction_in_the_source():
    block = render_graph(trace_graph(get_preset("resnet34")), "LR").source
    assert "rankdir=LR" in block
    # one line per row of the label's table: the name in bold, then the convs
    assert re.search(r"<B>conv3_1</B>(?P<row></TD></TR><TR><TD[^>]*>)3x3, 128, /2(?P=row)"
                     r"3x3, 128</TD>", block)
    assert "128 x 28 x 28" in block  # edge labels are C x H x W
    assert "1x1 conv, 128, /2" in block  # the projection's label on its dashed edge
    layer = render_graph(trace_graph(get_preset("resnet34"), "layer")).source
    assert "3x3 conv, 128, /2" in layer and "cluster_s1_b0" in layer


def test_folding_keeps_every_block_accounted_for():
    graph = trace_graph(get_preset("resnet1202"))
    folded, runs = fold_blocks(graph)
    kept = [n for n in folded.nodes if n.kind == "block"]
    assert sum(runs[(n.stage, n.block)].count if (n.stage, n.block) in runs else 1
               for n in kept) == 600
    # conv2_1 keeps 16 channels at stride 1, so all 200 blocks of conv2_x are alike.
    assert sorted(r.count for r in runs.values()) == [199, 199, 200]
    assert [e.kind for e in folded.shortcut_edges() if e.dashed] == ["identity_pad"] * 2
    ids = {n.id for n in folded.nodes}
    assert all(e.src in ids and e.dst in ids for e in folded.edges)
    source = render_graph(graph).source  # folds by default at this size
    assert "x 199 identical blocks" in source
    assert re.search(r"conv3_x: 200 blocks</TD></TR><TR><TD[^>]*>output 32 x 16 x 16", source)
    assert source.count("[label=") < 60
    assert render_graph(trace_graph(get_preset("resnet34"))).source.count("identical") == 0


def test_folding_in_the_layer_view():
    graph = trace_graph(get_preset("resnet110"), "layer")
    folded, runs = fold_blocks(graph)
    assert sorted(r.count for r in runs.values()) == [17, 17, 18]
    assert len(folded.nodes) < len(graph.nodes) / 4
    source = render_graph(graph, fold=True).source
    assert "conv3_2 .. _18  (x 17 identical blocks)" in source
    assert "conv2_1 .. _18  (x 18 identical blocks)" in source


def test_missing_dot_names_the_fix(monkeypatch):
    digraph = render_graph(trace_graph(get_preset("resnet20")))
    monkeypatch.setattr(render_module.shutil, "which", lambda name: None)
    assert not dot_available()
    with pytest.raises(GraphvizNotFound, match="apt-get install graphviz"):
        export_graph(digraph, "svg")
    assert export_graph(digraph, "dot").startswith(b"digraph")


def test_bad_export_arguments():
    digraph = render_graph(trace_graph(get_preset("resnet20")))
    with pytest.raises(ValueError, match="format"):
        export_graph(digraph, "gif")
    with pytest.raises(ValueError, match="dpi"):
        export_graph(digraph, "png", dpi=0)
    with pytest.raises(ValueError, match="direction"):
        render_graph(trace_graph(get_preset("resnet20")), "BT")


def test_drawing_choices_are_the_strings_links_and_the_cli_use():
    """Links, widget state and the CLI hold these strings; the types must compare equal to them."""
    assert [str(d) for d in Direction] == ["TB", "LR"]
    assert [str(f) for f in GraphFormat] == ["dot", "svg", "png", "pdf"]
    assert {f for f in GraphFormat if f.binary} == {"png", "pdf"}
    assert [f for f in GraphFormat if not f.needs_dot] == ["dot"]
    assert GraphFormat("svg").media_type == "image/svg+xml"
    assert [Fold(text).folding for text in ("auto", "on", "off")] == [None, True, False]


def test_a_bare_skip_arcs_beside_the_main_path_in_either_direction():
    """Down the page a skip leaves on the east side, across it on the south side; the type and
    its string draw the same graph."""
    graph = trace_graph(get_preset("resnet20"))
    down, across = render_graph(graph, Direction.TB).source, render_graph(graph, "LR").source
    assert "rankdir=TB" in down and "tailport=e" in down and "tailport=s" not in down
    assert "rankdir=LR" in across and "tailport=s" in across and "tailport=e" not in across
    assert across == render_graph(graph, Direction.LR).source
    assert export_graph(render_graph(graph), "DOT") == export_graph(render_graph(graph),
                                                                    GraphFormat.DOT)
