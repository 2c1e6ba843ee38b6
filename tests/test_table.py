"""Per-layer and per-stage tables against torchvision's published counts and the paper's shapes."""

import io

import pandas as pd
import pytest
import torchinfo
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from inspector import PRESETS, ResNetSpec, SpecError, build_model, compute_facts, get_preset
from inspector.table import (LAYER_COLUMNS, STAGE_COLUMNS, layer_table, stage_table, to_csv,
                             to_markdown, torchinfo_summary)

from published import RESNETS, TORCHVISION


@pytest.mark.parametrize("name", RESNETS)
def test_layer_table_totals_match_torchvision(name):
    params, gflops = TORCHVISION[name]
    table = layer_table(get_preset(name))
    assert table["params"].sum() == params
    assert table["mult_adds"].sum() / 1e9 == pytest.approx(gflops, rel=0.005)


@pytest.mark.parametrize("name", ["resnet50", "preact_resnet18", "resnet50d", "resnet20",
                                  "plain20", "resnext50_32x4d", "tutorial_resnet10"])
def test_tables_equal_the_core_facts(name):
    spec = get_preset(name)
    facts = compute_facts(spec)
    layers = layer_table(spec)
    assert layers["params"].sum() == facts.params
    assert layers["mult_adds"].sum() == facts.mult_adds
    stages = stage_table(spec, layers)
    assert list(stages["stage"]) == ["conv1", *(s.name for s in facts.stages), "head"]
    assert list(stages["params"]) == [facts.stem.params, *(s.params for s in facts.stages),
                                      facts.head_params]
    assert list(stages["mult_adds"][:-1]) == [facts.stem.mult_adds,
                                              *(s.mult_adds for s in facts.stages)]
    assert list(stages["blocks"][1:-1]) == list(spec.layers)
    assert stages["params_share"].sum() == pytest.approx(1.0)
    assert stages["mult_adds_share"].sum() == pytest.approx(1.0)


def test_stage_table_shapes_follow_the_paper():
    """REFERENCE: conv1 at 112x112, then conv2_x (the max-pool and the blocks) at 56x56, 28, 14,
    7; bottleneck outputs 256, 512, 1024, 2048."""
    stages = stage_table(get_preset("resnet50"))
    assert list(stages.columns) == list(STAGE_COLUMNS)
    assert list(stages["output_size"]) == ["112x112", "56x56", "28x28", "14x14", "7x7", "1x1"]
    assert list(stages["channels"]) == [64, 256, 512, 1024, 2048, 1000]
    layers = layer_table(get_preset("resnet50"))
    pool = layers[layers["type"] == "MaxPool2d"].iloc[0]
    assert (pool["stage"], pool["output_shape"]) == ("conv2_x", (1, 64, 56, 56))


def test_layer_rows_describe_each_layer():
    table = layer_table(get_preset("resnet50"))
    assert list(table.columns) == list(LAYER_COLUMNS)
    first = table.iloc[0]
    assert (first["layer"], first["type"], first["kernel"], first["stride"]) == ("conv1", "Conv2d", "7x7", 2)
    assert first["output_shape"] == (1, 64, 112, 112) and first["role"] == "stem"
    strided = table[table["layer"] == "layer2.0.conv2"].iloc[0]
    assert (strided["kernel"], strided["stride"], strided["block"]) == ("3x3", 2, "conv3_1")
    shortcut = table[table["role"] == "shortcut"]
    assert list(shortcut["type"]) == ["Conv2d", "BatchNorm2d"] * 4
    assert list(table[table["role"] == "head"]["layer"]) == ["avgpool", "fc"]
    assert pd.isna(table[table["type"] == "ReLU"]["stride"]).all()
    assert not table[table["type"] == "ReLU"]["trainable"].any()
    assert table[table["type"] == "Conv2d"]["trainable"].all()


def test_option_a_shortcuts_are_parameter_free_rows():
    table = layer_table(get_preset("resnet20"))
    shortcut = table[table["role"] == "shortcut"]
    assert list(shortcut["type"]) == ["ZeroPadShortcut"] * 2
    assert shortcut["params"].sum() == 0
    assert list(shortcut["output_shape"]) == [(1, 32, 16, 16), (1, 64, 8, 8)]


def test_resnext_groups_column():
    table = layer_table(get_preset("resnext50_32x4d"))
    convs = table[table["type"] == "Conv2d"]
    assert set(convs[convs["kernel"] == "3x3"]["groups"]) == {32}
    assert set(convs[convs["kernel"] == "1x1"]["groups"]) == {1}


def test_csv_and_markdown_exports():
    table = stage_table(get_preset("resnet18"))
    back = pd.read_csv(io.StringIO(to_csv(table)))
    assert list(back.columns) == list(STAGE_COLUMNS)
    assert list(back["params"]) == list(table["params"])
    text = to_markdown(table)
    lines = text.strip().splitlines()
    assert len(lines) == len(table) + 2
    assert lines[0].startswith("| Stage | Blocks | Output size |") and lines[1].startswith("|---|")
    assert "| conv3_x | 2 | 28x28 | 128 |" in text


def test_markdown_counts_read_alike():
    """Thousands separators on every count: ResNet-50's conv1 has 9,536 parameters (7*7*3*64 +
    2*64) next to conv2_x's 215,808; shares as percentages."""
    text = to_markdown(stage_table(get_preset("resnet50")))
    conv1 = 7 * 7 * 3 * 64 + 2 * 64
    assert f"| conv1 | 0 | 112x112 | 64 | {conv1:,} |" in text and "9,536" in text
    assert "| 215,808 |" in text
    assert "%" in text.splitlines()[2]


# ----- torchinfo as the oracle: every row equal to its count on the built model ---------------


def _torchinfo_rows(spec: ResNetSpec) -> dict[str, tuple]:
    model = build_model(spec)
    size = (1, spec.in_channels, spec.input_size, spec.input_size)
    stats = torchinfo.summary(model, input_size=size, device="meta", mode="eval", verbose=0)
    names = {id(module): name for name, module in model.named_modules()}
    return {names[id(info.module)]: (int(info.num_params), int(info.macs), tuple(info.input_size),
                                     tuple(info.output_size))
            for info in stats.summary_list if info.is_leaf_layer}


def _assert_rows_equal_torchinfo(spec: ResNetSpec) -> None:
    table = layer_table(spec)
    ours = {row.layer: (row.params, row.mult_adds, row.input_shape, row.output_shape)
            for row in table.itertuples(index=False)}
    assert len(ours) == len(table), "a layer appears twice"
    assert ours == _torchinfo_rows(spec)


@pytest.mark.parametrize("name", list(PRESETS))
def test_every_preset_row_equals_torchinfo(name):
    _assert_rows_equal_torchinfo(get_preset(name))


designs = st.builds(
    ResNetSpec,
    block=st.sampled_from(["basic", "bottleneck"]),
    layers=st.lists(st.integers(1, 3), min_size=1, max_size=4).map(tuple),
    stem=st.sampled_from(["imagenet", "cifar", "deep", "patchify"]),
    stem_width=st.sampled_from([8, 16]),
    shortcut=st.sampled_from(["A", "B", "C", "D"]),
    stride_in=st.sampled_from(["1x1", "3x3"]),
    preact=st.booleans(),
    residual=st.booleans(),
    relu_after_add=st.booleans(),
    num_classes=st.integers(1, 20),
    input_size=st.integers(16, 72),
).map(lambda s: s.replace(widths=[8 * 2**i for i in range(len(s.layers))],
                          strides=[1] + [2] * (len(s.layers) - 1)))


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(designs)
def test_random_design_rows_equal_torchinfo(spec):
    try:
        spec.validate()
    except SpecError:
        return  # e.g. option A cannot narrow; the spec's own tests cover the message
    _assert_rows_equal_torchinfo(spec)


def test_torchinfo_summary_is_the_familiar_text():
    spec = get_preset("resnet18")
    text = torchinfo_summary(spec)
    independent = sum(p.numel() for p in build_model(spec).parameters())
    assert f"Total params: {independent:,}" in text and "Conv2d" in text


def test_headers_people_read():
    from inspector.table import header

    assert [header(c) for c in ("output_size", "mult_adds", "params", "params_share")] == [
        "Output size", "Mult-adds", "Params", "Params %"]
    assert header("params_diff") == "Params (B - A)" and header("blocks_a") == "Blocks (A)"
    assert header("resnet34") == "resnet34"  # a design's name stays as given
