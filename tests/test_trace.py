"""The traced graph against the paper and torchvision's published figures (/work/shared/REFERENCE.md)."""

import re

import pytest
from hypothesis import HealthCheck, given, settings

import inspector.trace as trace_module
from inspector import PRESETS, SpecError, build_model, compute_facts, get_preset
from inspector.graph import ArchGraph
from inspector.trace import inspect_block, trace_graph

from published import RESNETS, TORCHVISION
from strategies import small_designs


def dashed_and_solid(graph: ArchGraph) -> tuple[int, int]:
    edges = graph.shortcut_edges()
    return sum(e.dashed for e in edges), sum(not e.dashed for e in edges)


@pytest.mark.parametrize("name", PRESETS)
def test_derived_shortcut_kinds_agree_with_the_block_plan(name):
    spec = get_preset(name)
    expected = [plan.shortcut for plan in spec.blocks() if plan.shortcut != "none"]
    for view in ("block", "layer"):
        graph = trace_graph(spec, view)
        assert [e.kind for e in graph.shortcut_edges()] == expected, view


def test_shortcut_kind_is_read_from_the_ops_not_from_the_spec(monkeypatch):
    """A model whose conv3_1 shortcut is option A's although the spec plans a projection:
    the trace reports what the model does."""
    from inspector.model import ZeroPadShortcut

    def swapped(spec, device="meta"):
        model = build_model(spec, device)
        model.layer2[0].downsample = ZeroPadShortcut(2, 64)
        return model

    monkeypatch.setattr(trace_module, "build_model", swapped)
    spec = get_preset("resnet18").replace(num_classes=11)  # a spec no other test traces
    for view in ("block", "layer"):
        kinds = [e.kind for e in trace_graph(spec, view).shortcut_edges()]
        assert kinds == ["identity", "identity", "identity_pad", "identity", "projection",
                         "identity", "projection", "identity"], view


@pytest.mark.parametrize("name, dashed, solid", [
    ("resnet34", 3, 13),
    ("resnet50", 4, 12),
    ("resnet20", 2, 7),
    ("plain20", 0, 0),
])
def test_paper_counts_of_dashed_and_solid_shortcuts(name, dashed, solid):
    assert dashed_and_solid(trace_graph(get_preset(name))) == (dashed, solid)


def test_resnet50_first_dashed_shortcut_changes_channels_without_a_stride():
    graph = trace_graph(get_preset("resnet50"))
    first = graph.shortcut_edges()[0]
    assert first.dashed and first.dst == "layer1.0.add"
    assert graph.node(first.src).shape == (1, 64, 56, 56)
    assert first.shape == (1, 256, 56, 56)
    assert first.label == "1x1 conv, 256"
    names = [graph.node(e.dst).stage for e in graph.shortcut_edges() if e.dashed]
    assert names == [0, 1, 2, 3]  # conv2_1, conv3_1, conv4_1, conv5_1


def test_option_a_dashed_shortcuts_have_no_parameters():
    graph = trace_graph(get_preset("resnet20"), "layer")
    pads = [n for n in graph.nodes if n.role == "shortcut"]
    assert len(pads) == 2 and all(n.kind == "zero_pad" and n.params == 0 for n in pads)
    assert [n.shape for n in pads] == [(1, 32, 16, 16), (1, 64, 8, 8)]


def test_option_c_makes_every_shortcut_dashed():
    spec = get_preset("resnet34").replace(shortcut="C")
    assert dashed_and_solid(trace_graph(spec)) == (16, 0)


def test_projection_paths_in_the_layer_view():
    graph = trace_graph(get_preset("resnet50"), "layer")
    path = [n for n in graph.nodes if n.role == "shortcut" and n.stage == 1]
    assert [(n.kind, n.label) for n in path] == [("conv", "1x1 conv, 512, /2"), ("bn", "BN")]
    resnet_d = trace_graph(get_preset("resnet50d"), "layer")
    path = [n.label for n in resnet_d.nodes if n.role == "shortcut" and n.stage == 1]
    assert path == ["2x2 avg pool, /2", "1x1 conv, 512", "BN"]
    # Every edge on a shortcut path is a shortcut edge, drawn dashed.
    on_path = [e for e in graph.edges if graph.node(e.dst).role == "shortcut"]
    assert on_path and all(e.dashed for e in on_path)


def test_stride_placement_v1_and_v1_5():
    """REFERENCE: v1 puts the stride on the first 1x1, v1.5 on the 3x3."""
    def conv3_1(name):
        graph = trace_graph(get_preset(name), "layer")
        return [n.label for n in graph.nodes
                if n.stage == 1 and n.block == 0 and n.kind == "conv" and n.role == "main"]

    assert conv3_1("resnet50") == ["1x1 conv, 128", "3x3 conv, 128, /2", "1x1 conv, 512"]
    assert conv3_1("resnet50_v1") == ["1x1 conv, 128, /2", "3x3 conv, 128", "1x1 conv, 512"]


@pytest.mark.parametrize("name", ["resnet34", "resnet50"])
def test_typical_imagenet_shapes(name):
    """REFERENCE: 7x7/2 -> 64x112x112, max-pool -> 64x56x56, stages 56/28/14/7, fc -> 1000."""
    graph = trace_graph(get_preset(name))
    stem = [n for n in graph.nodes if n.role == "stem"]
    assert [(n.label, n.shape) for n in stem] == [
        ("7x7 conv, 64, /2", (1, 64, 112, 112)), ("3x3 max pool, /2", (1, 64, 56, 56))]
    expansion = 4 if name == "resnet50" else 1
    for stage, (size, width) in enumerate([(56, 64), (28, 128), (14, 256), (7, 512)]):
        last = [n for n in graph.nodes if n.kind == "block" and n.stage == stage][-1]
        assert last.shape == (1, width * expansion, size, size)
    head = [n for n in graph.nodes if n.role == "head"]
    assert [(n.label, n.shape) for n in head] == [("avg pool", (1, 512 * expansion)),
                                                   ("fc 1000", (1, 1000))]


def test_tutorial_network_shapes():
    """REFERENCE: a 3x3 stride-3 unpadded stem on 32x32 gives 10x10, then 1x1 after 4 stages."""
    graph = trace_graph(get_preset("tutorial_resnet10"))
    assert graph.nodes[1].label == "3x3 conv, 64, /3" and graph.nodes[1].shape[2:] == (10, 10)
    assert [n for n in graph.nodes if n.kind == "block"][-1].shape[2:] == (1, 1)


@pytest.mark.parametrize("name", RESNETS)
def test_graph_totals_match_torchvision(name):
    spec = get_preset(name)
    block, layer = trace_graph(spec, "block"), trace_graph(spec, "layer")
    assert block.params == layer.params == TORCHVISION[name][0]
    assert block.mult_adds == layer.mult_adds == compute_facts(spec).mult_adds


def test_block_view_labels_read_like_the_paper_table():
    graph = trace_graph(get_preset("resnet50"))
    assert graph.node("layer2.0").label == "conv3_1\n1x1, 128\n3x3, 128, /2\n1x1, 512"
    basic = trace_graph(get_preset("resnet34"))
    assert basic.node("layer2.0").label == "conv3_1\n3x3, 128, /2\n3x3, 128"
    resnext = trace_graph(get_preset("resnext50_32x4d"))
    assert "3x3, 128, 32 groups" in resnext.node("layer1.0").label


@pytest.mark.parametrize("name", ["resnet34", "preact_resnet18", "plain20", "resnet50d"])
def test_block_nodes_carry_whole_block_costs(name):
    """Every layer of a stage is in one of its blocks: a pre-activated block's BN-ReLU before
    its projection too, and a plain design's blocks, which have no sum to be found by."""
    spec = get_preset(name)
    graph = trace_graph(spec)
    facts = compute_facts(spec)
    for stage, stage_facts in enumerate(facts.stages):
        blocks = [n for n in graph.nodes if n.kind == "block" and n.stage == stage]
        assert len(blocks) == stage_facts.blocks
        assert sum(n.params for n in blocks) == stage_facts.params
        assert sum(n.mult_adds for n in blocks) == stage_facts.mult_adds


def test_stages_follow_the_design_where_the_shape_does_not_change():
    """Two stages of equal width and stride 1 are still two stages: the blocks sit in two
    stage modules, and the analysis splits stages where blocks change container."""
    spec = get_preset("resnet18").replace(widths=(64, 64, 128, 128), strides=(1, 1, 2, 1))
    for view in ("block", "layer"):
        graph = trace_graph(spec, view)
        stages = [(n.stage, n.block) for n in graph.nodes if n.kind == "block"
                  or (n.kind == "conv" and n.module.endswith(".conv1"))]
        assert stages == [(p.stage, p.index) for p in spec.blocks()], view


def test_preact_head_normalises_before_pooling():
    graph = trace_graph(get_preset("preact_resnet18"))
    head = [n.label for n in graph.nodes if n.role == "head"]
    assert head == ["BN, ReLU", "avg pool", "fc 10"]
    adds = {n.label for n in graph.nodes if n.kind == "add"}
    assert adds == {"+"}  # no ReLU after the sum in pre-activation blocks


def test_edges_connect_existing_nodes_in_order():
    for view in ("block", "layer"):
        graph = trace_graph(get_preset("resnet18"), view)
        position = {n.id: i for i, n in enumerate(graph.nodes)}
        assert len(position) == len(graph.nodes)
        assert all(position[e.src] < position[e.dst] for e in graph.edges)


def test_bad_view_and_bad_spec():
    with pytest.raises(SpecError, match="view"):
        trace_graph(get_preset("resnet18"), "pixels")
    with pytest.raises(SpecError):
        trace_graph(get_preset("resnet18").replace(input_size=8))


# ----- the paper's layer count (facts.depth_explanation) -------------------------------------

@pytest.mark.parametrize("name, text", [
    ("resnet34", "34 = 1 (stem conv) + 2 x (3+4+6+3) (block convs) + 1 (fc); "
                 "3 projection shortcuts not counted"),
    ("resnet50", "50 = 1 (stem conv) + 3 x (3+4+6+3) (block convs) + 1 (fc); "
                 "4 projection shortcuts not counted"),
    ("resnet110", "110 = 1 (stem conv) + 2 x (18+18+18) (block convs) + 1 (fc); "
                  "2 zero-padding shortcuts have no weights"),
])
def test_depth_explanation(name, text):
    facts = compute_facts(get_preset(name))
    assert facts.depth_explanation == text
    assert facts.depth == int(re.search(r"\d+", name).group())


@pytest.mark.parametrize("name", PRESETS)
def test_depth_explanation_adds_up_and_matches_the_graph(name):
    spec = get_preset(name)
    facts = compute_facts(spec)
    match = re.match(r"(\d+) = 1 \(.*?\) \+ (\d+) x \(([\d+]+)\) \(block convs\) \+ 1 \(fc\)",
                     facts.depth_explanation)
    depth, per_block, counts = int(match[1]), int(match[2]), match[3]
    assert depth == facts.depth == 2 + per_block * sum(map(int, counts.split("+")))
    graph = trace_graph(spec, "layer")
    main_convs = sum(1 for n in graph.nodes if n.kind == "conv" and n.role == "main")
    assert main_convs == per_block * sum(spec.layers)
    projections = sum(1 for e in graph.shortcut_edges() if e.kind.endswith("projection"))
    if projections:
        assert f"{projections} projection shortcut" in facts.depth_explanation


# ----- one block ------------------------------------------------------------------------------

@pytest.mark.parametrize("stride, size", [(1, 32), (2, 16), (4, 8)])
def test_single_basic_block_shapes(stride, size):
    """REFERENCE: basic block 64 -> 128 on 32x32; the 1x1 projection takes the same stride."""
    result = inspect_block("basic", 64, 128, stride, "B", (1, 64, 32, 32))
    assert result.output_shape == (1, 128, size, size)
    assert result.shortcut_kind == "projection" and result.dashed
    labels = [n.label for n in result.graph.nodes if n.role == "shortcut"]
    assert labels[0] == "1x1 conv, 128" + (f", /{stride}" if stride > 1 else "")
    assert "Dashed" in result.reason and "channels 64 -> 128" in result.reason


def test_single_block_identity_and_padding():
    same = inspect_block("basic", 64, 64, 1, "B", (1, 64, 56, 56))
    assert same.shortcut_kind == "identity" and not same.dashed
    assert same.reason.startswith("Solid") and same.params == 2 * (64 * 64 * 9 + 128)
    padded = inspect_block("basic", 16, 32, 2, "A", (1, 16, 32, 32))
    assert padded.shortcut_kind == "identity_pad" and padded.dashed
    assert "no parameters" in padded.reason
    pooled = inspect_block("bottleneck", 256, 1024, 2, "D", (1, 256, 56, 56))
    assert pooled.shortcut_kind == "pooled_projection" and pooled.output_shape == (1, 1024, 28, 28)
    preact = inspect_block("basic", 64, 64, 1, "C", (2, 64, 8, 8), preact=True)
    assert preact.shortcut_kind == "projection" and "option C" in preact.reason


@pytest.mark.parametrize("args, message", [
    (("basic", 64, 128, 2, "B", (1, 32, 32, 32)), "channels"),
    (("bottleneck", 64, 130, 1, "B", (1, 64, 8, 8)), "multiple of 4"),
    (("basic", 64, 32, 1, "A", (1, 64, 8, 8)), "pads channels with zeros"),
    (("triple", 64, 64, 1, "B", (1, 64, 8, 8)), "block must be"),
    (("basic", 64, 64, 1, "E", (1, 64, 8, 8)), "shortcut"),
    (("basic", 64, 64, 1, "B", (64, 8, 8)), "four positive"),
    (("basic", 64, 64, 4, "B", (1, 64, 2, 2)), "too small"),
])
def test_single_block_bad_input(args, message):
    with pytest.raises(SpecError, match=message):
        inspect_block(*args)


# ----- any design, not only the presets -------------------------------------------------------

@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(small_designs(shortcuts=("B", "C", "D")))
def test_any_design_traces_to_its_plan_and_facts(spec):
    facts = compute_facts(spec)
    expected = [plan.shortcut for plan in spec.blocks() if plan.shortcut != "none"]
    for view in ("block", "layer"):
        graph = trace_graph(spec, view)
        assert [e.kind for e in graph.shortcut_edges()] == expected
        assert graph.params == facts.params and graph.mult_adds == facts.mult_adds
        assert graph.nodes[-1].shape == (1, spec.num_classes)
    plans = spec.blocks()
    blocks = [n for n in trace_graph(spec).nodes if n.kind == "block"]
    assert [n.shape[1:] for n in blocks] == [(p.out_channels, p.out_size, p.out_size) for p in plans]


def test_nodes_carry_structure_not_text_to_parse():
    """Block names, conv lines and the ReLU after a sum are fields; the label only joins them."""
    graph = trace_graph(get_preset("resnet50"), "block")
    block = graph.node("layer2.0")
    assert (block.title, block.lines) == ("conv3_1", ("1x1, 128", "3x3, 128, /2", "1x1, 512"))
    assert block.label == "\n".join((block.title, *block.lines))
    add = graph.node("layer2.0.add")
    assert (add.title, add.lines) == ("+", ("ReLU",))
    layer = trace_graph(get_preset("resnet50"), "layer").node("layer2.0.conv2")
    assert (layer.module_type, layer.kernel, layer.stride, layer.groups) == ("Conv2d", (3, 3), 2, 1)
    assert layer.input_shape == (1, 128, 56, 56) and layer.shape == (1, 128, 28, 28)
    assert layer.params == 128 * 128 * 3 * 3 and layer.trainable


@pytest.mark.parametrize("name", list(PRESETS))
def test_repeated_blocks_equal_the_analysis_of_the_full_model(name):
    """Only two blocks per stage are built and traced; the rest must be what the analysis of
    the full model gives, op for op and block for block (module paths, shapes, costs, shortcut
    kinds, stages)."""
    spec = get_preset(name)
    shape = (1, spec.in_channels, spec.input_size, spec.input_size)
    full = trace_module._analyse(build_model(spec).eval(), shape,
                                 trace_module._plain_block_paths(spec))
    assert trace_module._walk(spec) == full
    assert len(full.blocks) == sum(spec.layers)
    assert [(b.stage, b.index) for b in full.blocks] == [(p.stage, p.index) for p in spec.blocks()]
