"""The builder: shapes, torchvision-compatible names, tracing, initialisation, and facts vs torchinfo."""

import pytest
import torch
import torchinfo
from torch import nn

from inspector import PRESETS, ResidualBlock, ResNetSpec, build_model, compute_facts, get_preset
from inspector.model import materialize
from inspector.spec import BlockPlan


def basic_block(in_channels: int, out_channels: int, stride: int) -> ResidualBlock:
    spec = ResNetSpec()  # basic blocks, option B, post-activation
    size_in = 32
    plan = BlockPlan(stage=1, index=0, in_channels=in_channels, width=out_channels,
                     out_channels=out_channels, stride=stride, in_size=size_in,
                     out_size=-(-size_in // stride),
                     shortcut=spec.shortcut_kind(in_channels, out_channels, stride))
    return ResidualBlock(spec, plan).eval()


@pytest.mark.parametrize("stride, size", [(1, 32), (2, 16), (4, 8)])
def test_basic_block_64_to_128_shapes(stride, size):
    """The common tutorial check: the 1x1 projection takes the block's stride."""
    block = basic_block(64, 128, stride)
    assert tuple(block(torch.randn(2, 64, 32, 32)).shape) == (2, 128, size, size)
    assert block.downsample[0].stride == (stride, stride)


def test_tutorial_network_maps_cifar_images_to_ten_logits():
    spec = get_preset("tutorial_resnet10")
    model = build_model(spec, device="cpu").eval()
    assert tuple(model(torch.randn(2, 3, 32, 32)).shape) == (2, 10)
    # 3x3 stride-3 unpadded stem: 32 -> 10, then four stride-2 stages: 5, 3, 2, 1.
    facts = compute_facts(spec)
    assert facts.stem.out_size == 10
    assert [s.out_size for s in facts.stages] == [5, 3, 2, 1]
    assert [b.act_out for b in model.modules() if isinstance(b, ResidualBlock)] == [None] * 4


# torchvision's resnet18 state_dict: 122 entries, these among them with these shapes.
TORCHVISION_RESNET18_SHAPES = {
    "conv1.weight": (64, 3, 7, 7),
    "bn1.running_var": (64,),
    "layer1.0.conv1.weight": (64, 64, 3, 3),
    "layer1.1.bn2.num_batches_tracked": (),
    "layer2.0.conv1.weight": (128, 64, 3, 3),
    "layer2.0.downsample.0.weight": (128, 64, 1, 1),
    "layer2.0.downsample.1.running_mean": (128,),
    "layer4.1.conv2.weight": (512, 512, 3, 3),
    "fc.weight": (1000, 512),
    "fc.bias": (1000,),
}


def test_resnet18_state_dict_has_torchvision_keys_and_shapes():
    state = build_model(get_preset("resnet18")).state_dict()
    assert len(state) == 122
    for key, shape in TORCHVISION_RESNET18_SHAPES.items():
        assert tuple(state[key].shape) == shape, key


def test_resnet50_bottleneck_keys_follow_torchvision():
    state = build_model(get_preset("resnet50")).state_dict()
    assert len(state) == 320  # torchvision's resnet50 state_dict length
    assert tuple(state["layer1.0.conv3.weight"].shape) == (256, 64, 1, 1)
    assert tuple(state["layer1.0.downsample.0.weight"].shape) == (256, 64, 1, 1)
    assert tuple(state["layer3.5.conv2.weight"].shape) == (256, 256, 3, 3)


def test_resnet50d_uses_the_deep_stem_and_pooled_shortcut_layout():
    state = build_model(get_preset("resnet50d")).state_dict()
    assert tuple(state["conv1.0.weight"].shape) == (32, 3, 3, 3)
    assert tuple(state["conv1.6.weight"].shape) == (64, 32, 3, 3)
    assert tuple(state["layer2.0.downsample.1.weight"].shape) == (512, 256, 1, 1)


def test_blocks_expose_stage_index_and_shortcut_kind():
    model = build_model(get_preset("resnet34"))
    blocks = [m for m in model.modules() if isinstance(m, ResidualBlock)]
    assert [(b.stage, b.index) for b in blocks][:4] == [(0, 0), (0, 1), (0, 2), (1, 0)]
    assert [b.shortcut_kind for b in blocks].count("projection") == 3


@pytest.mark.parametrize("name", PRESETS)
def test_every_preset_traces_with_torch_fx(name):
    graph = torch.fx.symbolic_trace(build_model(get_preset(name))).graph
    assert sum(1 for node in graph.nodes if node.op == "call_module") > 0


def test_building_on_meta_allocates_no_weights():
    model = build_model(get_preset("resnet152"))
    assert all(p.device.type == "meta" for p in model.parameters())


def test_he_init_and_zero_init_residual():
    spec = get_preset("resnet50").replace(zero_init_residual=True)
    model = build_model(spec, device="cpu")
    conv = model.layer3[0].conv2.weight
    fan_out = conv.shape[0] * conv.shape[2] * conv.shape[3]
    assert conv.std().item() == pytest.approx((2.0 / fan_out) ** 0.5, rel=0.05)
    assert model.layer3[0].bn3.weight.abs().sum().item() == 0
    assert model.layer3[0].bn2.weight.min().item() == 1
    # With every residual branch at zero, each block starts as (a ReLU of) its shortcut.
    block = model.layer1[1].eval()
    x = torch.rand(1, 256, 8, 8)
    assert torch.equal(block(x.clone()), x)


def test_materialize_gives_a_meta_model_real_weights():
    model = materialize(build_model(get_preset("resnet20")), "cpu").eval()
    out = model(torch.randn(2, 3, 32, 32))
    assert torch.isfinite(out).all() and tuple(out.shape) == (2, 10)


@pytest.mark.parametrize("name", ["resnet18", "resnet50_v1", "resnext50_32x4d", "resnet50d",
                                  "resnet56", "preact_resnet164", "plain20", "tutorial_resnet10"])
def test_facts_equal_torchinfo_on_the_built_model(name):
    spec = get_preset(name)
    model = build_model(spec).eval()
    size = (1, spec.in_channels, spec.input_size, spec.input_size)
    summary = torchinfo.summary(model, input_size=size, device="meta", verbose=0)
    facts = compute_facts(spec)
    assert facts.params == summary.total_params
    assert facts.mult_adds == summary.total_mult_adds


def test_conv_count_includes_projections_that_depth_leaves_out():
    for name, extra in (("resnet34", 3), ("resnet50", 4), ("resnet20", 0), ("plain20", 0)):
        model = build_model(get_preset(name))
        convs = sum(isinstance(m, nn.Conv2d) for m in model.modules())
        facts = compute_facts(get_preset(name))
        assert facts.conv_layers == convs == facts.depth - 1 + extra


# ----- timm's checkpoint layout for ResNet-D (REFERENCE.md) ---------------------------------------

#: timm's resnet50d shortcut keys, written out from its layout: [pool, conv, norm] in every block
#: with a projection, the pool an nn.Identity (no keys) where the stride is 1 (layer1.0).
TIMM_RESNET50D_SHORTCUT_KEYS = {
    f"{layer}.0.downsample.{index}.{name}"
    for layer in ("layer1", "layer2", "layer3", "layer4")
    for index, names in ((1, ("weight",)),
                         (2, ("weight", "bias", "running_mean", "running_var",
                              "num_batches_tracked")))
    for name in names
}
#: timm's deep stem: conv1.0 (3x3, 32, /2), conv1.1 (BN), conv1.3 (3x3, 32), conv1.4 (BN),
#: conv1.6 (3x3, 64), then bn1.
TIMM_DEEP_STEM_KEYS = {"conv1.0.weight", "conv1.3.weight", "conv1.6.weight"} | {
    f"conv1.{index}.{name}" for index in (1, 4)
    for name in ("weight", "bias", "running_mean", "running_var", "num_batches_tracked")
}


def test_resnet50d_shortcuts_and_stem_have_timms_keys():
    state = build_model(get_preset("resnet50d")).state_dict()
    assert {k for k in state if ".downsample." in k} == TIMM_RESNET50D_SHORTCUT_KEYS
    assert {k for k in state if k.startswith("conv1.")} == TIMM_DEEP_STEM_KEYS
    assert tuple(state["layer1.0.downsample.1.weight"].shape) == (256, 64, 1, 1)
    assert tuple(state["layer2.0.downsample.1.weight"].shape) == (512, 256, 1, 1)
    model = build_model(get_preset("resnet50d"))
    assert sum(p.numel() for p in model.parameters()) == 25_576_264  # timm


RESNET_D_DESIGNS = {name: p.spec for name, p in PRESETS.items() if p.spec.shortcut == "D"} | {
    # basic blocks whose first stage narrows 64 -> 32 channels at stride 1
    "resnet18-D narrow": get_preset("resnet18").replace(shortcut="D", widths=(32, 64, 128, 256)),
}


@pytest.mark.parametrize("name", RESNET_D_DESIGNS)
def test_every_resnet_d_design_puts_the_shortcut_conv_at_index_1(name):
    spec = RESNET_D_DESIGNS[name]
    state = build_model(spec).state_dict()
    convs = [k for k in state if ".downsample." in k and k.endswith(".weight")
             and state[k].dim() == 4]
    assert convs and all(".downsample.1.weight" in k for k in convs), name
    assert "layer1.0.downsample.1.weight" in state, name  # the stride-1 projection
    assert sum(v.numel() for k, v in state.items() if "running" not in k and "tracked" not in k) \
        == compute_facts(spec).params
