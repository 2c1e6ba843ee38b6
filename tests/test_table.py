"""Per-layer and per-stage tables against torchvision's published counts and the paper's shapes."""

import io

import pandas as pd
import pytest

from inspector import compute_facts, get_preset
from inspector.table import LAYER_COLUMNS, STAGE_COLUMNS, layer_table, stage_table, to_csv, to_markdown

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
    """REFERENCE: stages at 56, 28, 14, 7; bottleneck outputs 256, 512, 1024, 2048."""
    stages = stage_table(get_preset("resnet50"))
    assert list(stages.columns) == list(STAGE_COLUMNS)
    assert list(stages["output_size"]) == ["56x56", "56x56", "28x28", "14x14", "7x7", "1x1"]
    assert list(stages["channels"]) == [64, 256, 512, 1024, 2048, 1000]


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
    assert lines[0].startswith("| stage | blocks |") and lines[1].startswith("|---|")
    assert "| conv3_x | 2 | 28x28 | 128 |" in text
