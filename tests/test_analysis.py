"""The generic analysis against the spec's facts, published figures and hand-written networks.

Parameters are checked against `sum(p.numel() for p in model.parameters())`, depths against the
paper's count for each network (REFERENCE.md's layer-counting convention), shapes against the
spec; never against the analysis's own earlier output.
"""

import re

import pytest
import torch

from inspector import PRESETS, build_model, compute_facts, get_preset
from inspector.analysis import ModelError, analyze
from inspector.render import dot_available

import user_networks as nets

needs_dot = pytest.mark.skipif(not dot_available(), reason="Graphviz's dot is not installed")


def independent_params(model):
    return sum(p.numel() for p in model.parameters())


def dashed_in_svg(svg: str) -> int:
    return len(re.findall(r"stroke-dasharray", svg))


@pytest.mark.parametrize("name", [n for n in PRESETS if n != "resnet1202"])
def test_every_preset_gives_the_specs_facts(name):
    spec = get_preset(name)
    facts = compute_facts(spec)
    result = analyze(build_model(spec), (spec.in_channels, spec.input_size, spec.input_size))
    assert result.params == facts.params
    assert result.mult_adds == facts.mult_adds
    assert result.depth == facts.depth
    assert result.shortcut_kinds() == [p.shortcut for p in spec.blocks() if p.shortcut != "none"]
    assert [(s.out_channels, s.out_size) for s in result.facts.stages] == \
        [(s.out_channels, s.out_size) for s in facts.stages]
    assert result.explanation == facts.depth_explanation  # plain nets: "2 x (3+3+3)" too
    if spec.residual:
        assert [(s.params, s.mult_adds, s.receptive_field) for s in result.facts.stages] == \
            [(s.params, s.mult_adds, s.receptive_field) for s in facts.stages]
        match = result.closest()
        assert match.spec is not None and match.spec.spec_hash() == spec.spec_hash()


def test_analysis_allocates_nothing_and_leaves_the_weights_alone():
    model = nets.CifarResNet20()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    model.train()
    result = analyze(model, (3, 32, 32))
    assert model.training and all(m.training for m in model.modules())
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(p.device.type == "cpu" for p in model.parameters())
    assert result.params == independent_params(model)


CASES = [
    # (network, input, paper's depth, shortcut kinds as drawn, dashed, closest preset, in words)
    (nets.TutorialResNet18, (3, 32, 32), 10, 3, "tutorial_resnet10",
     ("convs with biases", "conv5_1's sum broadcasts")),
    (nets.CifarNet44, (3, 32, 32), 46, 0, "resnet44",
     ("convs with biases", "2 weighted layers between blocks")),
    (nets.KerasStyleResNet50, (3, 224, 224), 50, 4, "resnet50_v1", ()),
    (nets.CifarResNet20, (3, 32, 32), 20, 2, "resnet20", ()),
    (nets.PreActResNet18, (3, 32, 32), 18, 3, "preact_resnet18", ()),
    (nets.ModuleListResNet50, (3, 224, 224), 50, 4, "resnet50_v1", ()),
]


@pytest.mark.parametrize("network, shape, depth, dashed, preset, words", CASES,
                         ids=[c[0].__name__ for c in CASES])
def test_hand_written_networks(network, shape, depth, dashed, preset, words):
    model = network()
    result = analyze(model, shape)
    assert result.params == independent_params(model)
    assert result.depth == depth
    graph = result.graph("block")
    assert sum(e.dashed for e in graph.shortcut_edges()) == dashed
    match = result.closest()
    assert match.preset == preset
    for phrase in words:
        assert phrase in match.sentence, (phrase, match.sentence)
    if not words:
        assert match.differences == () and match.spec is not None
        rebuilt = build_model(match.spec)
        assert sorted(tuple(p.shape) for p in rebuilt.parameters()) == \
            sorted(tuple(p.shape) for p in model.parameters())


@needs_dot
@pytest.mark.parametrize("network, shape, dashed", [
    (nets.TutorialResNet18, (3, 32, 32), 3), (nets.CifarResNet20, (3, 32, 32), 2),
    (nets.CifarNet44, (3, 32, 32), 0)])
def test_svg_has_exactly_the_shape_changing_shortcuts_dashed(network, shape, dashed):
    assert dashed_in_svg(analyze(network(), shape).svg("block")) == dashed


def test_tutorial_network_numbers_and_the_broadcast_note():
    result = analyze(nets.TutorialResNet18(), (3, 32, 32))
    assert result.explanation.startswith("10 = 1 (stem conv) + 2 x (1+1+1+1) (block convs) + 1")
    assert result.facts.stem.out_size == 10  # 32x32 through a 3x3 stride-3 unpadded conv
    assert [s.out_channels for s in result.facts.stages] == [128, 256, 512, 512]
    assert any("broadcasts 512x1x1" in note for note in result.notes)


def test_cifar_net_with_layers_between_stages():
    result = analyze(nets.CifarNet44(), (3, 32, 32))
    assert [s.blocks for s in result.facts.stages] == [7, 7, 7]
    assert [s.out_size for s in result.facts.stages] == [32, 16, 8]
    assert result.closest().differences[:1] != ("stage strides 1, 1, 1",)


def test_layer_table_columns_and_totals():
    from inspector.table import LAYER_COLUMNS

    model = nets.CifarResNet20()
    table = analyze(model, (3, 32, 32)).layer_table()
    assert tuple(table.columns) == LAYER_COLUMNS
    assert table["params"].sum() == independent_params(model)
    assert set(table["role"]) >= {"stem", "main", "shortcut", "head"}


def test_shared_parameters_count_once():
    class Shared(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(8, 8, 3, padding=1, bias=False)

        def forward(self, x):
            return self.conv(self.conv(x)) + x

    model = Shared()
    assert analyze(model, (8, 8, 8)).params == independent_params(model) == 576


def test_plain_network_is_a_note_not_an_error():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 8, 3), torch.nn.ReLU(), torch.nn.Flatten(),
                                torch.nn.Linear(8 * 30 * 30, 2))
    result = analyze(model, (3, 32, 32))
    assert result.blocks == () and "no residual blocks found" in result.notes[0]
    assert result.depth == 2


def test_bad_input_is_one_sentence():
    with pytest.raises(ModelError, match=r"cannot trace DataDependent .*line \d+: if out.sum"):
        analyze(nets.DataDependent(), (3, 8, 8))
    with pytest.raises(ModelError, match="rejects this input"):
        analyze(nets.CifarResNet20(), (1, 32, 32))
    with pytest.raises(ModelError, match="three positive whole numbers"):
        analyze(nets.CifarResNet20(), (3, 32))
    with pytest.raises(ModelError, match="larger than this tool handles"):
        analyze(nets.CifarResNet20(), (3, 100_000, 100_000))
