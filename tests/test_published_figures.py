"""Our numbers against published ones: torchvision's documentation, timm, and the ResNet paper."""

import re

import pytest
import torch

from inspector import PRESETS, build_model, compute_facts, get_preset

from published import CIFAR_TABLE6, TIMM_PARAMS, TORCHVISION


def built_params(name: str) -> int:
    return sum(p.numel() for p in build_model(get_preset(name)).parameters())


@pytest.mark.parametrize("name", TORCHVISION)
def test_imagenet_params_match_torchvision_exactly(name):
    expected, _ = TORCHVISION[name]
    assert compute_facts(get_preset(name)).params == expected
    assert built_params(name) == expected


@pytest.mark.parametrize("name", TORCHVISION)
def test_mult_adds_within_half_a_percent_of_torchvision(name):
    _, gflops = TORCHVISION[name]
    mult_adds = compute_facts(get_preset(name)).mult_adds
    assert mult_adds / 1e9 == pytest.approx(gflops, rel=0.005)


@pytest.mark.parametrize("name", TIMM_PARAMS)
def test_timm_variant_params(name):
    assert compute_facts(get_preset(name)).params == TIMM_PARAMS[name]
    assert built_params(name) == TIMM_PARAMS[name]


@pytest.mark.parametrize("name", CIFAR_TABLE6)
def test_cifar_params_match_paper_table6(name):
    params = compute_facts(get_preset(name)).params
    printed = CIFAR_TABLE6[name]
    digits = 1 if printed >= 1 else 2  # the table prints 1.7M and 19.4M, but 0.27M
    assert round(params / 1e6, digits) == printed


def test_plain_nets_have_the_params_of_their_option_a_twins():
    """Option A shortcuts have no weights, so plain-n and ResNet-n count the same (section 4.2)."""
    assert compute_facts(get_preset("plain20")).params == compute_facts(get_preset("resnet20")).params
    assert compute_facts(get_preset("plain56")).params == compute_facts(get_preset("resnet56")).params


@pytest.mark.parametrize("name", PRESETS)
def test_depth_by_convention_equals_the_number_in_the_name(name):
    number = int(re.search(r"(?:resnet|resnext|plain)(\d+)", name).group(1))
    assert compute_facts(get_preset(name)).depth == number


def test_depth_explanations_follow_the_paper():
    assert compute_facts(get_preset("resnet34")).depth_explanation == (
        "34 = 1 (stem conv) + 2 x (3+4+6+3) (block convs) + 1 (fc); "
        "3 projection shortcuts not counted"
    )
    assert compute_facts(get_preset("resnet50")).depth_explanation.startswith(
        "50 = 1 (stem conv) + 3 x (3+4+6+3) (block convs) + 1 (fc); 4 projection shortcuts"
    )
    assert compute_facts(get_preset("resnet20")).depth_explanation.startswith(
        "20 = 1 (stem conv) + 2 x (3+3+3) (block convs) + 1 (fc)"
    )


def test_imagenet_stage_shapes_as_in_the_paper():
    facts = compute_facts(get_preset("resnet50"))
    assert facts.stem.out_size == 56  # 7x7/2 then 3x3/2 max-pool
    assert [s.out_size for s in facts.stages] == [56, 28, 14, 7]
    assert [s.out_channels for s in facts.stages] == [256, 512, 1024, 2048]
    assert [s.out_channels for s in compute_facts(get_preset("resnet34")).stages] == [
        64, 128, 256, 512]


def test_v1_and_v1_5_differ_only_in_where_the_stride_sits():
    v15, v1 = get_preset("resnet50"), get_preset("resnet50_v1")
    f15, f1 = compute_facts(v15), compute_facts(v1)
    assert f15.params == f1.params
    assert [(s.out_channels, s.out_size) for s in f15.stages] == [
        (s.out_channels, s.out_size) for s in f1.stages]
    b15, b1 = build_model(v15).layer2[0], build_model(v1).layer2[0]
    assert (b15.conv1.stride, b15.conv2.stride) == ((1, 1), (2, 2))
    assert (b1.conv1.stride, b1.conv2.stride) == ((2, 2), (1, 1))
    assert f15.mult_adds > f1.mult_adds  # the 3x3 runs at full resolution in v1.5


def test_cifar_shapes_and_option_a_has_no_shortcut_weights():
    spec = get_preset("resnet20")
    model = build_model(spec).eval()
    out = model(torch.empty(2, 3, 32, 32, device="meta"))
    assert tuple(out.shape) == (2, 10)
    assert [s.out_size for s in compute_facts(spec).stages] == [32, 16, 8]
    assert not any("downsample" in key for key in model.state_dict())
