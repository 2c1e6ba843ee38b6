"""The Streamlit pages, run headless with AppTest: published figures on screen, errors as messages.

Figures come from /work/shared/REFERENCE.md (torchvision's parameter counts, the paper's
stride placement and shapes); the all-presets sweeps check that no page raises on any preset and
that the page shows what the core computes.
"""

from __future__ import annotations

import ast
import importlib.util
import json
import re
import zlib
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from inspector import PRESETS, compute_facts, get_preset
from inspector.drawing import ViewState
from inspector.kinds import Direction, Fold, View

APP = str(Path(__file__).resolve().parent.parent / "app.py")
TIMEOUT = 120  # seconds for one run: the first one imports torch


def open_page(page: str | None = None, query: dict[str, str] | None = None) -> AppTest:
    """The app started like a browser does (with the URL's query), then switched to a page."""
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    if query:
        at.query_params = dict(query)
    at.run()
    assert not at.exception, at.exception
    if page:
        at.switch_page(page).run()
    return at


def metric(at: AppTest, label: str) -> str:
    values = [m.value for m in at.metric if m.label == label]
    assert values, f"no metric {label!r} on the page"
    return values[0]


def graphs(at: AppTest) -> list[str]:
    """The SVGs handed to the graph viewer component."""
    return [json.loads(c.proto.json_args)["svg"] for c in at.get("component_instance")
            if c.proto.component_name.endswith("graph_viewer")]


def assert_clean(at: AppTest, where: str) -> None:
    assert not at.exception, f"{where}: {at.exception}"
    assert not at.error, f"{where}: {[shown_text(e.value) for e in at.error]}"


def shown_text(markdown: str) -> str:
    """What a reader sees of an escaped message: the backslash escapes removed."""
    return re.sub(r"\\(.)", r"\1", markdown)


def layer_rows(at: AppTest):
    """The per-layer table (the one with a 'layer' column), indexed by module name."""
    for frame in at.dataframe:
        if "layer" in frame.value.columns:
            return frame.value.set_index("layer")
    raise AssertionError("no per-layer table on the page")


# ----- Designer -----------------------------------------------------------------------------


def test_designer_runs_every_preset_and_shows_the_core_figures():
    at = open_page("pages/designer.py")
    for name, preset in PRESETS.items():
        at.selectbox(key="d_preset").set_value(name).run()
        assert_clean(at, name)
        assert metric(at, "Parameters") == f"{compute_facts(preset.spec).params:,}", name
        assert at.session_state["design"] == preset.spec, name
        (svg,) = graphs(at)
        assert "<svg" in svg, name


def test_resnet50_shows_torchvisions_parameter_count():
    at = open_page("pages/designer.py")
    at.selectbox(key="d_preset").set_value("resnet50").run()
    assert_clean(at, "resnet50")
    assert metric(at, "Parameters") == "25,557,032"
    assert metric(at, "Depth") == "50"
    (svg,) = graphs(at)
    assert "stroke-dasharray" in svg  # projection shortcuts are dashed


def test_resnet34_with_two_blocks_per_stage_is_resnet18():
    at = open_page("pages/designer.py")
    at.selectbox(key="d_preset").set_value("resnet34").run()
    assert metric(at, "Parameters") == "21,797,672"
    for stage in range(4):
        at.slider(key=f"d_blocks_{stage}").set_value(2)
    at.run()
    assert_clean(at, "resnet34 at 2/2/2/2")
    assert metric(at, "Parameters") == "11,689,512"
    assert metric(at, "Depth") == "18"
    assert at.query_params["layers"] == "2,2,2,2"  # only the change goes in the link


def test_depth_picker_sets_the_standard_layout():
    at = open_page("pages/designer.py")
    at.selectbox(key="d_preset").set_value("resnet18").run()
    at.selectbox(key="d_depth").set_value("152").run()
    assert_clean(at, "depth 152")
    assert metric(at, "Parameters") == "60,192,808"
    assert [at.slider(key=f"d_blocks_{i}").value for i in range(4)] == [3, 8, 36, 3]


def test_adding_a_stage_doubles_the_width_and_halves_the_resolution():
    at = open_page("pages/designer.py")
    at.selectbox(key="d_preset").set_value("resnet18").run()
    at.number_input(key="d_stages").set_value(5).run()
    assert_clean(at, "five stages")
    design = at.session_state["design"]
    assert (design.layers, design.widths, design.strides) == (
        (2, 2, 2, 2, 2), (64, 128, 256, 512, 1024), (1, 2, 2, 2, 2))
    at.number_input(key="d_stages").set_value(3).run()
    assert_clean(at, "three stages")
    assert at.session_state["design"].widths == (64, 128, 256)


def test_stride_placement_keeps_the_count_and_moves_the_stride():
    at = open_page("pages/designer.py")
    at.selectbox(key="d_preset").set_value("resnet50").run()
    before = layer_rows(at)
    mult_adds_v15 = metric(at, "Mult-adds")
    at.radio(key="d_stride_in").set_value("1x1").run()
    assert_clean(at, "stride on the 1x1")
    after = layer_rows(at)
    assert metric(at, "Parameters") == "25,557,032"
    # v1.5 puts conv3_1's stride 2 on its 3x3, v1 on its first 1x1 (the paper).
    strides = ["layer2.0.conv1", "layer2.0.conv2"]
    assert [int(v) for v in before.loc[strides, "stride"]] == [1, 2]
    assert [int(v) for v in after.loc[strides, "stride"]] == [2, 1]
    assert not before.equals(after)
    # "slightly more compute" for v1.5: the 3x3 runs at full resolution.
    assert float(mult_adds_v15.split()[0]) > float(metric(at, "Mult-adds").split()[0])


def test_impossible_input_size_shows_an_error_and_keeps_the_last_design():
    at = open_page("pages/designer.py")
    at.selectbox(key="d_preset").set_value("resnet50").run()
    at.number_input(key="d_input_size").set_value(16).run()
    assert not at.exception
    assert any("too small" in shown_text(e.value) for e in at.error), [shown_text(e.value) for e in at.error]
    assert metric(at, "Parameters") == "25,557,032"
    assert at.session_state["design"].input_size == 224
    at.number_input(key="d_input_size").set_value(64).run()  # the page stays usable
    assert_clean(at, "input 64")
    assert at.session_state["design"].input_size == 64


def test_an_impossible_combination_of_controls_is_a_message():
    at = open_page("pages/designer.py")
    at.selectbox(key="d_preset").set_value("resnet20").run()
    at.number_input(key="d_stem_width").set_value(128).run()  # A cannot pad 128 down to 16
    assert not at.exception
    assert any("Shortcut A" in shown_text(e.value) for e in at.error), [shown_text(e.value) for e in at.error]
    assert at.session_state["design"] == get_preset("resnet20")


def test_layer_view_of_a_very_deep_network_folds_instead_of_freezing():
    at = open_page("pages/designer.py")
    at.selectbox(key="d_preset").set_value("resnet1202").run()
    at.radio(key="g_view").set_value("layer")
    at.radio(key="g_fold").set_value("off").run()
    assert not at.exception
    assert any("folded" in w.value for w in at.warning), [w.value for w in at.warning]
    (svg,) = graphs(at)
    assert "identical blocks" in svg


def test_url_query_restores_a_design():
    at = open_page("pages/designer.py", {"preset": "resnet34", "layers": "2,2,2,2"})
    assert_clean(at, "link")
    assert metric(at, "Parameters") == "11,689,512"
    assert [at.slider(key=f"d_blocks_{i}").value for i in range(4)] == [2, 2, 2, 2]


def test_a_changed_design_round_trips_through_its_link():
    at = open_page("pages/designer.py")
    at.selectbox(key="d_preset").set_value("resnet50").run()
    at.radio(key="d_shortcut").set_value("D")
    at.selectbox(key="d_stem").set_value("deep")
    at.number_input(key="d_num_classes").set_value(10).run()
    assert_clean(at, "changed")
    design = at.session_state["design"]
    link = dict(at.query_params)
    assert link == {"preset": "resnet50", "stem": "deep", "shortcut": "D", "num_classes": "10"}
    again = open_page("pages/designer.py", link)
    assert_clean(again, "reopened")
    assert again.session_state["design"] == design


def test_a_field_without_a_control_comes_from_the_link_and_goes_with_the_preset():
    at = open_page("pages/designer.py", {"preset": "resnet50", "expansion": "2"})
    assert_clean(at, "expansion 2")
    assert at.session_state["design"].block_expansion == 2
    at.selectbox(key="d_preset").set_value("resnet101").run()
    assert metric(at, "Parameters") == "44,549,160"
    assert at.session_state["design"] == get_preset("resnet101")


def test_a_bad_link_is_a_message_not_a_traceback():
    at = AppTest.from_file(APP, default_timeout=TIMEOUT)
    at.query_params = {"preset": "resnet50", "layers": "three,4", "depth": "5"}
    at.run()  # the first page shown, whichever it is, says what was wrong with the link
    assert not at.exception
    errors = shown_text(" ".join(e.value for e in at.error))
    assert "layers must be a comma-separated list" in errors and "'depth'" in errors
    at.switch_page("pages/designer.py").run()
    assert_clean(at, "designer after a bad link")
    assert metric(at, "Parameters") == "25,557,032"


# ----- Compare, Block, Export ---------------------------------------------------------------


def test_compare_defaults_to_resnet34_against_resnet50():
    at = open_page("pages/compare.py")
    assert_clean(at, "compare")
    values = [m.value for m in at.metric if m.label == "Parameters"]
    assert values == ["21,797,672", "25,557,032"]
    (diff,) = graphs(at)  # one drawing: both networks side by side, what differs marked
    assert "A: resnet34" in diff and "B: resnet50" in diff and "diff&#45;changed" in diff
    assert any("16 changed" in c.value for c in at.caption)
    assert any("bottleneck" in i.value for i in at.info)  # the generated explanation
    assert len(at.get("plotly_chart")) == 2
    # Per-stage tables are named after the designs, not _a/_b.
    (columns, *_) = [list(f.value.columns) for f in at.dataframe]
    assert columns == ["stage", "resnet34", "resnet50", "difference"]
    assert dict(at.query_params) == {"a.preset": "resnet34", "b.preset": "resnet50"}


def test_compare_runs_every_preset_and_the_current_design():
    at = open_page("pages/designer.py", {"preset": "resnet34", "layers": "2,2,2,2"})
    at.switch_page("pages/compare.py").run()
    at.selectbox(key="c_A").set_value("current design (Designer)").run()
    assert_clean(at, "current design")
    assert [m.value for m in at.metric if m.label == "Parameters"][0] == "11,689,512"
    for name in PRESETS:
        at.selectbox(key="c_B").set_value(name).run()
        assert_clean(at, name)
        assert at.session_state["cmp_spec_B"] == PRESETS[name].spec, name
        if name == "resnet18":  # resnet34 with two blocks per stage is resnet18
            assert any("Both sides are the same design" in i.value for i in at.info)
        else:
            assert len(graphs(at)) == 1, name


def test_a_compare_link_with_two_custom_designs_reopens_both():
    at = open_page("pages/compare.py")
    at.text_input(key="c_A_layers").set_value("2,2,2,2")
    at.selectbox(key="c_A_stem").set_value("deep")
    at.selectbox(key="c_B").set_value("resnext50_32x4d").run()
    at.number_input(key="c_B_groups").set_value(16)
    at.toggle(key="c_B_preact").set_value(True)
    at.radio(key="c_B_stride_in").set_value("1x1")
    at.number_input(key="c_B_input").set_value(160).run()
    assert_clean(at, "two custom designs")
    design_a, design_b = at.session_state["cmp_spec_A"], at.session_state["cmp_spec_B"]
    assert design_a == get_preset("resnet34").replace(layers=(2, 2, 2, 2), stem="deep")
    assert design_b == get_preset("resnext50_32x4d").replace(groups=16, stride_in="1x1",
                                                             input_size=160, preact=True)
    link = dict(at.query_params)
    assert link["a.layers"] == "2,2,2,2" and link["b.groups"] == "16"
    again = open_page(None, link)  # a new session, opened from the link
    assert_clean(again, "reopened, first page")  # the Designer ignores the a./b. keys
    again.switch_page("pages/compare.py").run()
    assert_clean(again, "reopened")
    assert (again.session_state["cmp_spec_A"], again.session_state["cmp_spec_B"]) == (
        design_a, design_b)
    names = [f.value.columns[1:3].tolist() for f in again.dataframe][0]
    assert names == ["resnet34 (modified)", "resnext50_32x4d (modified)"]


def test_compare_a_design_with_itself_and_bad_edits():
    at = open_page("pages/compare.py", {"a.preset": "resnet50", "b.preset": "resnet50"})
    assert_clean(at, "same")
    assert any("Both sides are the same design" in i.value for i in at.info)
    at.text_input(key="c_B_layers").set_value("3,0,6,3").run()
    assert not at.exception
    assert any(shown_text(e.value).startswith("Design B: Stage conv3_x needs at least one block")
               for e in at.error)
    at.text_area(key="c_B_json").set_value("{not json")
    at.button(key="c_B_apply").click().run()
    assert any("Design B: The spec is not valid JSON" in shown_text(e.value) for e in at.error)
    at.text_area(key="c_B_json").set_value(get_preset("resnet20").to_json())
    at.button(key="c_B_apply").click().run()
    assert_clean(at, "json applied")
    assert at.session_state["cmp_spec_B"] == get_preset("resnet20")
    bad = open_page("pages/compare.py", {"a.preset": "nonesuch", "b.layers": "x"})
    assert not bad.exception
    errors = " ".join(shown_text(e.value) for e in bad.error)
    assert "Design A: Link: unknown preset 'nonesuch'" in errors and "Design B: Link:" in errors


@pytest.mark.parametrize("stride, size", [(1, "32"), (2, "16"), (4, "8")])
def test_block_page_shapes_follow_the_stride(stride, size):
    at = open_page("pages/block.py")
    at.number_input(key="b_stride").set_value(stride).run()
    assert_clean(at, f"stride {stride}")
    assert metric(at, "Output shape") == f"2 x 128 x {size} x {size}"
    assert metric(at, "Shortcut").startswith("dashed")  # 64 -> 128 channels needs a projection
    (svg,) = graphs(at)
    assert "stroke-dasharray" in svg


def test_block_page_identity_is_solid_and_bad_blocks_are_messages():
    at = open_page("pages/block.py")
    at.number_input(key="b_out").set_value(64)
    at.number_input(key="b_stride").set_value(1).run()
    assert_clean(at, "identity block")
    assert metric(at, "Shortcut") == "solid: identity"
    assert metric(at, "Parameters") == "73,984"  # two 3x3x64x64 convs and two batch norms
    at.radio(key="b_block").set_value("bottleneck")
    at.number_input(key="b_out").set_value(130).run()
    assert not at.exception
    assert any("multiple of 4" in shown_text(e.value) for e in at.error)


def test_block_page_speaks_of_the_blocks_own_input():
    at = open_page("pages/block.py")
    at.number_input(key="b_height").set_value(1).run()  # a 1x32 input to a stride-2 block
    assert not at.exception
    errors = [shown_text(e.value) for e in at.error]
    assert errors == ["A 1x32 input is too small for this block: its stride-2 convs need at "
                      "least 2x2."]
    at.number_input(key="b_height").set_value(32)
    at.number_input(key="b_groups").set_value(3).run()
    assert not at.exception
    (error,) = [shown_text(e.value) for e in at.error]
    assert "conv2" not in error and "The block has 64 channels" in error


def paper_html(at: AppTest) -> str:
    (element,) = at.get("html")
    return element.proto.body


def test_paper_table_page_shows_table_1_for_the_designers_design_and_the_papers():
    at = open_page("pages/paper_table.py", {"preset": "resnet34", "layers": "2,2,2,2",
                                            "stem": "cifar", "input_size": "32"})
    assert_clean(at, "paper table")
    text = paper_html(at)
    assert "<th>resnet34 (modified)</th>" in text  # 18 layers deep, like resnet18: names
    assert ('<span class="bracket">1x1, 256<br>3x3, 256<br>1x1, 1024</span>&nbsp;&times;&nbsp;36'
            in text and "11.3&times;10<sup>9</sup>" in text)
    assert "output size (resnet34 (modified))" in text  # a 32x32 input: its own sizes
    assert {b.label for b in at.get("download_button")} == {
        "Table as Markdown", "Table as LaTeX", "Table as HTML", "Table as CSV"}
    at.multiselect(key="p_designs").set_value(["resnet18", "resnet34"]).run()
    assert_clean(at, "two presets")
    text = paper_html(at)
    assert "<th>18-layer</th>" in text and "<th>34-layer</th>" in text
    assert ('<span class="bracket">3x3, 512<br>3x3, 512</span>&nbsp;&times;&nbsp;3' in text
            and "<th>output size</th>" in text)


def test_export_runs_every_preset():
    at = open_page("pages/export.py")
    for name, preset in PRESETS.items():
        at.session_state["design"] = preset.spec
        at.session_state["design_preset"] = name
        at.run()
        assert_clean(at, name)
        labels = {b.label for b in at.get("download_button")}
        assert {"Graph as SVG", "Graph as PNG", "Graph as PDF", "Graph as DOT", "Layers as CSV",
                "Spec as JSON", "Standalone PyTorch file"} <= labels, name


def test_exported_pytorch_file_builds_the_designed_network(tmp_path):
    at = open_page("pages/export.py", {"preset": "resnet34", "layers": "2,2,2,2"})
    assert_clean(at, "export")
    (code,) = [c.value for c in at.code if c.language == "python"]
    path = tmp_path / "designed.py"
    path.write_text(code)
    module_spec = importlib.util.spec_from_file_location("designed", path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    network = module.build().eval()
    assert sum(p.numel() for p in network.parameters()) == 11_689_512  # ResNet-18
    with torch.no_grad():
        assert network(torch.zeros(2, 3, 224, 224)).shape == (2, 1000)


@pytest.mark.parametrize("name, view", [("resnet50", "block"), ("resnet1202", "layer")])
def test_graph_downloads_are_real_files(name, view):
    from pages.common import graph_file

    spec = get_preset(name)
    assert graph_file(spec, _state(view, "TB"), "png").startswith(b"\x89PNG")
    assert graph_file(spec, _state(view, "TB"), "pdf").startswith(b"%PDF")
    svg = graph_file(spec, _state(view, "LR"), "svg")
    assert b"<svg" in svg and b"stroke-dasharray" in svg
    assert graph_file(spec, _state(view, "TB"), "dot").startswith(b"digraph")


def _state(view: str, direction: str) -> ViewState:
    return ViewState(View(view), Direction(direction))


def png_width(png: bytes) -> int:
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
    return int.from_bytes(png[16:20], "big")


def svg_points(svg: bytes) -> tuple[float, float]:
    match = re.search(rb'<svg width="([0-9.]+)pt" height="([0-9.]+)pt"', svg)
    return float(match[1]), float(match[2])


def test_print_exports_png_at_200_dpi_and_vector_text(tmp_path):
    from inspector.cli import main
    from pages.common import graph_file

    spec = get_preset("resnet50")
    wide = graph_file(spec, _state("block", "LR"), "png")  # the default resolution
    assert png_width(wide) >= 1000
    # Top-down too, at points x dpi / 72 pixels: wide enough to print.
    tall = graph_file(spec, _state("block", "TB"), "png")
    points = svg_points(graph_file(spec, _state("block", "TB"), "svg"))[0]
    assert abs(png_width(tall) - points * 200 / 72) <= 1
    assert png_width(tall) >= 1000
    assert png_width(graph_file(spec, _state("block", "TB"), "png", dpi=300)) > png_width(tall)
    target = tmp_path / "r50.png"
    assert main(["graph", "resnet50", "--format", "png", "-o", str(target)]) == 0
    assert png_width(target.read_bytes()) == png_width(tall)  # the CLI's default is 200 too
    # Folding as asked: folded, ResNet-152's layer view draws fewer text labels.
    deep = get_preset("resnet152")
    layer = _state("layer", "TB")
    folded = graph_file(deep, layer.replace(fold=Fold.ON), "svg").count(b"<text")
    assert folded < graph_file(deep, layer.replace(fold=Fold.OFF), "svg").count(b"<text")
    svg = graph_file(spec, _state("block", "TB"), "svg")
    assert svg.count(b"<text") > 20 and b"<image" not in svg
    pdf = graph_file(spec, _state("block", "TB"), "pdf")
    assert b"/Font" in pdf and b"/Image" not in pdf
    operators = b""
    for stream in re.findall(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        try:
            operators += zlib.decompress(stream)
        except zlib.error:
            operators += stream
    assert b"BT" in operators and (b"Tj" in operators or b"TJ" in operators)  # text, drawn


def test_export_page_previews_the_drawing_and_its_print_size():
    at = open_page("pages/export.py", {"preset": "resnet50"})
    assert_clean(at, "export")
    assert at.select_slider(key="e_dpi").value == 200
    (svg,) = graphs(at)
    assert "<svg" in svg
    assert any("PNG at 200 dpi" in c.value for c in at.caption)
    at.select_slider(key="e_dpi").set_value(300)
    at.radio(key="e_direction").set_value("LR").run()
    assert_clean(at, "export LR")
    assert any("PNG at 300 dpi" in c.value for c in at.caption)


def test_a_designer_run_does_each_thing_once(monkeypatch):
    """A new design is validated, planned, measured and traced once in its Designer run.

    (The trace builds a two-blocks-per-stage stand-in of the design, a spec of its own, which is
    validated and planned once too: no spec is checked or planned twice.)
    """
    from inspector import facts as facts_module
    from inspector import spec as spec_module
    from inspector import trace as trace_module

    at = open_page("pages/designer.py")
    at.number_input(key="d_num_classes").set_value(977)  # a design no earlier run has seen
    checked, planned = [], []
    check_names, plan_blocks = spec_module._validate_names, spec_module.ResNetSpec._plan_blocks
    monkeypatch.setattr(spec_module, "_validate_names",
                        lambda spec: (checked.append(spec), check_names(spec)))
    monkeypatch.setattr(spec_module.ResNetSpec, "_plan_blocks",
                        lambda spec: (planned.append(spec), plan_blocks(spec))[1])
    cached = {"facts": facts_module.compute_facts, "trace": trace_module._walk}
    before = {name: function.cache_info().misses for name, function in cached.items()}
    at.run()
    assert not at.exception, at.exception
    done = {name: function.cache_info().misses - before[name] for name, function in cached.items()}
    assert done == {"facts": 1, "trace": 1}
    design = get_preset("resnet50").replace(num_classes=977)
    assert design in checked and len(checked) == len(set(checked))
    assert design in planned and len(planned) == len(set(planned))
    assert metric(at, "Parameters") == f"{compute_facts(design).params:,}"


# ----- every page has one shape --------------------------------------------------------------

PAGES = Path(APP).parent / "pages"
#: Modules in pages/ that are imported, not run as pages.
PAGE_HELPERS = {"common.py", "graph_viewer.py", "findings_view.py", "train_view.py", "__init__.py"}
#: What may stand at a page's top level besides its docstring and the last two calls.
DEFINITIONS = (ast.Import, ast.ImportFrom, ast.Assign, ast.AnnAssign, ast.FunctionDef,
               ast.ClassDef)


def page_files() -> list[Path]:
    return sorted(path for path in PAGES.glob("*.py") if path.name not in PAGE_HELPERS)


def shape_problems(source: str) -> list[str]:
    """How a page's top level departs from: docstring, definitions, then
    `common.require_navigation()` and `main()`."""
    tree = ast.parse(source)
    problems = [] if ast.get_docstring(tree) else ["no module docstring"]
    body = tree.body[1:] if ast.get_docstring(tree) else tree.body
    tail = [ast.unparse(node) for node in body[-2:]]
    if tail != ["common.require_navigation()", "main()"]:
        problems.append(f"ends with {tail}, not require_navigation() and main()")
    problems += [f"line {node.lineno}: {ast.unparse(node)[:60]}" for node in body[:-2]
                 if not isinstance(node, DEFINITIONS)]
    return problems


def repeated_key_literals(source: str) -> list[str]:
    """Session-state keys written out more than once: as `key=`, or where the state is read or
    written (ss[...], st.session_state[...], .get/.pop/.setdefault, `in`)."""
    def state(node: ast.AST) -> bool:
        return ast.unparse(node) in ("ss", "st.session_state")

    seen: list[str] = []
    for node in ast.walk(ast.parse(source)):
        found: ast.AST | None = None
        if isinstance(node, ast.keyword) and node.arg == "key":
            found = node.value
        elif isinstance(node, ast.Subscript) and state(node.value):
            found = node.slice
        elif (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
              and state(node.func.value) and node.func.attr in ("get", "pop", "setdefault")
              and node.args):
            found = node.args[0]
        elif isinstance(node, ast.Compare) and any(state(c) for c in node.comparators):
            found = node.left
        if isinstance(found, ast.Constant) and isinstance(found.value, str):
            seen.append(found.value)
    return sorted({key for key in seen if seen.count(key) > 1})


def test_the_shape_check_can_fail():
    top_level = 'import streamlit as st\nst.title("x")\nfor i in range(2):\n    pass\nmain()\n'
    assert len(shape_problems(top_level)) == 3  # no docstring, a call, the wrong ending
    assert shape_problems('"""A page."""\ndef main():\n    pass\n\n\n'
                          'common.require_navigation()\nmain()\n') == []
    repeated = 'ss["a"] = 1\nif "a" in ss:\n    st.radio("x", key="b")\nss.get("c")\n'
    assert repeated_key_literals(repeated) == ["a"]


@pytest.mark.parametrize("path", page_files(), ids=lambda path: path.stem)
def test_every_page_is_definitions_then_one_main(path):
    assert shape_problems(path.read_text(encoding="utf-8")) == []


@pytest.mark.parametrize("path", [*page_files(), PAGES / "common.py"], ids=lambda path: path.stem)
def test_no_session_key_is_written_out_twice(path):
    assert repeated_key_literals(path.read_text(encoding="utf-8")) == []
