"""The one drawing path (inspector/drawing.py) and what its files hold: folds and colours as on
screen, lines that keep clear of each other, a PNG that states its resolution."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET

import pytest
from PIL import Image

from inspector import get_preset
from inspector.drawing import ViewState, draw_design
from inspector.kinds import Direction, Fold, GraphFormat, View
from inspector.overlay import Measure
from inspector.render import dot_available

needs_dot = pytest.mark.skipif(not dot_available(), reason="Graphviz's dot is not installed")
SVG = "{http://www.w3.org/2000/svg}"

#: Glyph metrics of the fonts that stand in for Helvetica (DejaVu Sans, Nimbus Sans): an
#: underscore reaches about 0.24 em below its baseline and capitals about 0.73 em above theirs.
UNDERSCORE_DEPTH_EM = 0.24
CAP_HEIGHT_EM = 0.73
#: What two lines must keep between them besides, in points.
CLEAR_PT = 1.0


def _line_gaps(svg: bytes) -> list[tuple[str, str, float, float]]:
    """(line, next line, baseline gap, gap needed) for consecutive lines of each node's label."""
    found = []
    for group in ET.fromstring(svg).iter(f"{SVG}g"):
        if group.get("class") != "node":
            continue
        texts = list(group.iter(f"{SVG}text"))
        for upper, lower in zip(texts, texts[1:]):
            if float(upper.get("x")) != float(lower.get("x")) and upper.get("text-anchor") \
                    == lower.get("text-anchor") == "middle":
                continue  # side by side, not one above the other
            gap = float(lower.get("y")) - float(upper.get("y"))
            needed = (UNDERSCORE_DEPTH_EM * float(upper.get("font-size"))
                      + CAP_HEIGHT_EM * float(lower.get("font-size")) + CLEAR_PT)
            found.append((upper.text, lower.text, gap, needed))
    return found


@needs_dot
@pytest.mark.parametrize("name, view", [("resnet18", View.BLOCK), ("resnet50", View.LAYER)])
def test_no_underscore_runs_into_the_line_below(name, view):
    svg = draw_design(get_preset(name), ViewState(view)).file(GraphFormat.SVG)
    gaps = _line_gaps(svg)
    assert any(upper == "conv2_1" for upper, *_ in gaps) or view == View.LAYER
    assert any(upper.startswith("conv2_x") for upper, *_ in gaps), "the stage titles"
    tight = [(u, lo, round(g, 1), round(n, 1)) for u, lo, g, n in gaps if 0 < g < n]
    assert not tight, tight[:5]


@needs_dot
@pytest.mark.parametrize("dpi", [72, 200, 300])
def test_png_states_its_resolution(dpi):
    png = draw_design(get_preset("resnet18")).file(GraphFormat.PNG, dpi)
    image = Image.open(io.BytesIO(png))
    image.load()  # a broken chunk (a wrong CRC) fails here
    assert image.info["dpi"] == pytest.approx((dpi, dpi), abs=0.01)
    assert png.count(b"pHYs") == 1


@needs_dot
def test_a_file_holds_the_folds_and_colours_the_screen_shows():
    spec = get_preset("resnet34")
    plain = draw_design(spec, ViewState())
    state = ViewState(View.BLOCK, Direction.TB, Fold.OFF, (2,), Measure.MULT_ADDS)
    shown = draw_design(spec, state)
    svg = shown.file(GraphFormat.SVG).decode()
    # conv4_x's six blocks and sums became one node, on screen and in the file alike.
    assert shown.svg.count('class="node"') == plain.svg.count('class="node"') - 2 * 6 - 1 + 1
    assert svg.count('class="node"') == shown.svg.count('class="node"')
    root = ET.fromstring(svg)
    ids = {group.get("id") for group in root.iter(f"{SVG}g")}
    assert "node-layer3" in ids and "node-layer3.0" not in ids
    # The file's fills are the viewer's overlay colours, and its caption states the scale.
    colours = {node_id: info["colors"]["mult_adds"]
               for node_id, info in shown.details["nodes"].items() if info["colors"]["mult_adds"]}
    for group in root.iter(f"{SVG}g"):
        if group.get("id") in colours and group.get("class") == "node":
            fills = {e.get("fill") for e in group.iter() if e.tag in (f"{SVG}path", f"{SVG}polygon",
                                                                      f"{SVG}ellipse")}
            assert colours[group.get("id")] in fills, group.get("id")
    assert "Coloured by mult-adds" in svg.replace("&#45;", "-")
    # Without a colour, the file is the screen's drawing as it is.
    assert plain.file(GraphFormat.DOT).decode() == plain.dot
