"""Findings: every rule fires on a network built to show it and stays quiet on one without it.

Numbers (parameters never meeting data, biases cancelled, unused parameters) are computed here
from the modules themselves or by hand (written in comments); which kernel taps ever meet data is
checked against real convolutions run on CPU. Small fixtures are written for these tests; a
comment names the public design each one mirrors.
"""

import itertools

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from inspector import PRESETS, build_model, get_preset
from inspector.analysis import analyze
from inspector.findings import live_taps, stated_depth
from inspector.kinds import Rule, Severity
from inspector.op_trace import Window
from inspector.trace import design_findings

import user_networks as nets


def on_meta(factory, *args, **kwargs):
    with torch.device("meta"):
        return factory(*args, **kwargs)


def findings(model, input_shape, name=None):
    return analyze(model, input_shape, name).findings


def of_rule(found, rule):
    return [f for f in found if f.rule == rule]


# ----- small blocks -----------------------------------------------------------------------------


class Block(nn.Module):
    """A basic block as the ResNet paper draws it; `shortcut` chooses what the skip does."""

    def __init__(self, c_in, c_out, stride=1, shortcut="auto", relu_after=True, bias=False):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=bias)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=bias)
        self.bn2 = nn.BatchNorm2d(c_out)
        project = shortcut == "projection" or (shortcut == "auto" and (stride > 1 or c_in != c_out))
        self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False),
                                      nn.BatchNorm2d(c_out)) if project else nn.Sequential()
        self.relu_after = relu_after

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out)) + self.shortcut(x)
        return F.relu(out) if self.relu_after else out


class Net(nn.Module):
    """A stem conv, the given blocks, global pool and fc."""

    def __init__(self, blocks, c_in=8, classes=10):
        super().__init__()
        self.stem = nn.Conv2d(3, c_in, 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(c_in)
        self.blocks = nn.Sequential(*blocks)
        self.fc = nn.Linear(blocks[-1].bn2.num_features, classes)

    def forward(self, x):
        x = self.blocks(F.relu(self.bn(self.stem(x))))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


# ----- the sum broadcasts, and the change on one path that makes it ----------------------------


def test_a_stride_on_the_branch_only_broadcasts_the_sum_and_is_an_error():
    # Seed 001's last block, small: stride 2 on the main path, identity shortcut, on a 2x2 map.
    found = findings(on_meta(Net, [Block(8, 8, stride=2, shortcut="none")]), (3, 2, 2))
    sums = of_rule(found, Rule.BROADCAST_SUM)
    assert [(f.severity, f.where) for f in sums] == [(Severity.ERROR, "blocks.0")]
    assert "8x1x1 from the residual branch to 8x2x2 from the shortcut" in sums[0].message
    cause = of_rule(found, Rule.ONE_PATH_CHANGE)
    assert [(f.severity, f.nodes) for f in cause] == [(Severity.ERROR, ("blocks.0.conv1",))]
    assert "2x2 -> 1x1" in cause[0].message


def test_a_channel_change_on_the_branch_only_is_an_error_too():
    class OneChannelBranch(nn.Module):  # a branch that ends in one channel, added to 8
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(8, 1, 3, padding=1, bias=False)

        def forward(self, x):
            return x + self.conv(x)

    found = findings(on_meta(OneChannelBranch), (8, 4, 4))
    assert [f.severity for f in of_rule(found, Rule.BROADCAST_SUM)] == [Severity.ERROR]
    cause = of_rule(found, Rule.ONE_PATH_CHANGE)
    assert len(cause) == 1 and "8 -> 1 channels" in cause[0].message


def test_matching_paths_give_no_broadcast_or_one_path_finding():
    model = on_meta(Net, [Block(8, 16, stride=2), Block(16, 16)])  # option B, then identity
    found = findings(model, (3, 8, 8))
    assert not of_rule(found, Rule.BROADCAST_SUM) and not of_rule(found, Rule.ONE_PATH_CHANGE)


def test_a_global_context_added_on_purpose_is_only_a_note():
    class GlobalContext(nn.Module):  # GCNet's fusion: x + transform(pooled x), Cx1x1 on purpose
        def __init__(self):
            super().__init__()
            self.transform = nn.Conv2d(8, 8, 1)

        def forward(self, x):
            return x + self.transform(F.adaptive_avg_pool2d(x, 1))

    sums = of_rule(findings(on_meta(GlobalContext), (8, 4, 4)), Rule.BROADCAST_SUM)
    assert [f.severity for f in sums] == [Severity.NOTE]


def test_a_stride_on_a_1x1_map_changes_nothing_and_is_a_note():
    # Seed 001's network on a 16x16 input: the last block's stride acts on a 1x1 map.
    from seed_networks import ResNet18
    found = findings(on_meta(ResNet18), (3, 16, 16))
    assert not of_rule(found, Rule.BROADCAST_SUM)
    idle = of_rule(found, Rule.ONE_PATH_CHANGE)
    assert [(f.severity, f.nodes) for f in idle] == [(Severity.NOTE, ("blk4.con1",))]


# ----- kernel taps that only meet padding -------------------------------------------------------


def brute_force_live_taps(kernel, stride, dilation, padding, size):
    """Taps that ever meet data, from a real convolution: input all ones, one weight per tap."""
    weight = torch.eye(kernel).reshape(kernel, 1, kernel)  # output channel t = tap t alone
    out = F.conv1d(torch.ones(1, 1, size), weight, stride=stride, padding=padding,
                   dilation=dilation)
    return int((out.abs().sum(dim=2) > 0).sum())


def test_live_taps_agree_with_real_convolutions():
    checked = 0
    for kernel, stride, dilation, padding, size in itertools.product(
            (1, 2, 3, 5, 7), (1, 2, 3), (1, 2), (0, 1, 2, 3), (1, 2, 3, 4, 5, 7)):
        if size + 2 * padding < dilation * (kernel - 1) + 1:
            continue  # PyTorch refuses: the window does not fit
        window = Window(kernel, stride, dilation, padding, padding)
        assert live_taps(window, size) == brute_force_live_taps(
            kernel, stride, dilation, padding, size), (kernel, stride, dilation, padding, size)
        checked += 1
    assert checked > 300


class Convs(nn.Module):
    def __init__(self, *convs):
        super().__init__()
        self.convs = nn.Sequential(*convs)

    def forward(self, x):
        return self.convs(x)


def test_a_3x3_conv_on_a_1x1_map_holds_8_of_9_taps_that_never_meet_data():
    conv = nn.Conv2d(16, 32, 3, padding=1)
    found = of_rule(findings(on_meta(Convs, conv), (16, 1, 1)), Rule.DEAD_TAPS)
    weights = 32 * 16 * 3 * 3  # the bias meets every position: it is not counted
    assert [(f.severity, f.where, f.params) for f in found] == \
        [(Severity.WARNING, "convs.0", weights * 8 // 9)]
    assert "8 of its 9 kernel taps" in found[0].message


def test_a_stride_2_conv_on_a_2x2_map_uses_4_of_9_taps():
    # Output 1x1 at input (0, 0): rows and columns -1, 0, 1; the taps on -1 meet padding only.
    found = of_rule(findings(on_meta(Convs, nn.Conv2d(4, 4, 3, 2, 1, bias=False)), (4, 2, 2)),
                    Rule.DEAD_TAPS)
    assert [f.params for f in found] == [4 * 4 * 5]


def test_convs_whose_every_tap_meets_data_somewhere_are_clean():
    model = on_meta(Convs, nn.Conv2d(4, 4, 3, 2, 1), nn.Conv2d(4, 4, 3, 1, 1))  # 3x3 -> 2x2
    assert not of_rule(findings(model, (4, 3, 3)), Rule.DEAD_TAPS)
    circular = on_meta(Convs, nn.Conv2d(4, 4, 3, padding=1, padding_mode="circular"))
    assert not of_rule(findings(circular, (4, 1, 1)), Rule.DEAD_TAPS)  # padded with data


# ----- the map collapses early; the receptive field covers the input ----------------------------


def test_a_map_collapsing_to_1x1_before_the_last_stage_is_a_note():
    # Seed 001's network on 8x8: 2x2 after the 3x3/3 stem, 1x1 after blk1.con1 (conv2_x); blk2
    # and blk3 change the channels (new stages), blk4 joins blk3's stage: 3 blocks after it.
    from seed_networks import ResNet18
    found = of_rule(findings(on_meta(ResNet18), (3, 8, 8)), Rule.EARLY_COLLAPSE)
    assert [(f.severity, f.nodes) for f in found] == [(Severity.NOTE, ("blk1.con1",))]
    assert "in conv2_x" in found[0].message and "3 blocks after it" in found[0].message


def test_a_map_reaching_1x1_in_the_last_stage_is_not_early():
    from seed_networks import ResNet18
    assert not of_rule(findings(on_meta(ResNet18), (3, 32, 32)), Rule.EARLY_COLLAPSE)


def test_blocks_after_the_receptive_field_covers_the_input_are_noted():
    # Blocks of two 3x3 convs on 8x8: stem 3, then 5, 7, 9 (covers 8) at blocks.1.conv1.
    found = of_rule(findings(on_meta(Net, [Block(8, 8), Block(8, 8), Block(8, 8)]), (3, 8, 8)),
                    Rule.INPUT_COVERED)
    assert [(f.severity, f.where) for f in found] == [(Severity.NOTE, "blocks.1.conv1")]
    assert "reaches 9 px" in found[0].message and "1 block after it (blocks.2)" \
        in found[0].message
    assert not found[0].nodes  # about the network: nothing is marked on the graph


def test_a_receptive_field_that_never_covers_the_input_gives_no_note():
    found = findings(on_meta(Net, [Block(8, 8), Block(8, 8)]), (3, 64, 64))
    assert not of_rule(found, Rule.INPUT_COVERED)


# ----- biases cancelled by a BatchNorm ---------------------------------------------------------


def test_biases_right_before_a_batchnorm_are_counted():
    class Biased(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 8, 3, padding=1)  # bias, then BN: cancelled (8)
            self.bn = nn.BatchNorm2d(8)
            self.conv2 = nn.Conv2d(8, 8, 3, padding=1)  # bias, then ReLU: kept
            self.fc = nn.Linear(8, 6)  # bias, then BatchNorm1d: cancelled (6)
            self.bn1d = nn.BatchNorm1d(6)

        def forward(self, x):
            x = F.relu(self.conv2(self.bn(self.conv(x))))
            return self.bn1d(self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)))

    found = of_rule(findings(on_meta(Biased), (3, 4, 4)), Rule.BIAS_BEFORE_NORM)
    assert [(f.severity, f.nodes, f.params) for f in found] == \
        [(Severity.WARNING, ("conv", "fc"), 8 + 6)]


def test_a_bias_before_a_sync_batchnorm_is_cancelled_too():
    model = on_meta(Convs, nn.Conv2d(3, 5, 3), nn.SyncBatchNorm(5))
    found = of_rule(findings(model, (3, 4, 4)), Rule.BIAS_BEFORE_NORM)
    assert [(f.where, f.params) for f in found] == [("convs.0", 5)]
    assert "right before a SyncBatchNorm" in found[0].message


def test_convs_without_bias_before_a_batchnorm_are_clean():
    assert not of_rule(findings(on_meta(Net, [Block(8, 8)]), (3, 8, 8)), Rule.BIAS_BEFORE_NORM)


# ----- a depth in the name -----------------------------------------------------------------------


@pytest.mark.parametrize("name, stated", [
    ("ResNet18", ("resnet", 18)), ("resnet_50", ("resnet", 50)), ("WRN_28_10", ("wrn", 28)),
    ("WRN-16-8", ("wrn", 16)), ("wide_resnet50_2", ("wideresnet", 50)),
    ("preact_resnet164", ("preactresnet", 164)), ("resnext50_32x4d", ("resnext", 50)),
    ("resnet18.pt2", ("resnet", 18)), ("CifarResNet20", ("resnet", 20)),
    ("PreActResNet18", ("preactresnet", 18)), ("MyResNet", None), ("exported program", None),
    ("ResidualNet", None),
])
def test_the_depth_a_name_states(name, stated):
    assert stated_depth(name) == stated


class PreActBlock(nn.Module):
    """Wide ResNet's block (Zagoruyko & Komodakis 2016): BN-ReLU-conv twice, a 1x1 projection
    where the shape changes, no ReLU after the sum."""

    def __init__(self, c_in, c_out, stride):
        super().__init__()
        self.bn1 = nn.BatchNorm2d(c_in)
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.shortcut = None if stride == 1 and c_in == c_out else \
            nn.Conv2d(c_in, c_out, 1, stride, bias=False)

    def forward(self, x):
        o = F.relu(self.bn1(x))
        y = self.conv2(F.relu(self.bn2(self.conv1(o))))
        return y + (x if self.shortcut is None else self.shortcut(o))


class WideResNet(nn.Module):
    """WRN-n-k for CIFAR: n = 6N + 4, widths 16k, 32k, 64k, a final BN-ReLU."""

    def __init__(self, depth=28, k=10, final_norm=True):
        super().__init__()
        n = (depth - 4) // 6
        self.conv = nn.Conv2d(3, 16, 3, padding=1, bias=False)
        layers, c_in = [], 16
        for width, stride in ((16 * k, 1), (32 * k, 2), (64 * k, 2)):
            for i in range(n):
                layers.append(PreActBlock(c_in, width, stride if i == 0 else 1))
                c_in = width
        self.blocks = nn.Sequential(*layers)
        self.bn = nn.BatchNorm2d(c_in) if final_norm else None
        self.fc = nn.Linear(c_in, 10)

    def forward(self, x):
        x = self.blocks(self.conv(x))
        if self.bn is not None:
            x = F.relu(self.bn(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def test_a_wide_resnet_named_by_its_own_count_is_no_finding():
    model = on_meta(WideResNet)
    result = analyze(model, (3, 32, 32), "WRN_28_10")
    # 28 convs: 1 stem + 24 block convs + 3 projections (REFERENCE.md); 26 by the ResNet count.
    assert sum(isinstance(m, nn.Conv2d) for m in model.modules()) == 28
    assert result.depth == 26
    assert 36.4e6 < result.params < 36.6e6  # "about 36.5M" (REFERENCE.md)
    assert not of_rule(result.findings, Rule.DEPTH_NAME)
    named_26 = of_rule(analyze(model, (3, 32, 32), "WRN_26_10").findings, Rule.DEPTH_NAME)
    assert len(named_26) == 1 and "counts 28 convolutions" in named_26[0].message


def test_a_resnet_named_for_more_layers_than_it_has_is_a_warning():
    model = on_meta(Net, [Block(8, 8), Block(8, 8)])  # 1 + 4 + 1 = 6 weighted layers
    found = of_rule(findings(model, (3, 8, 8), "ResNet18"), Rule.DEPTH_NAME)
    assert [(f.severity, f.where) for f in found] == [(Severity.WARNING, "ResNet18")]
    assert found[0].message.startswith("named 18, counts 6 weighted layers")
    assert not of_rule(findings(model, (3, 8, 8), "resnet6"), Rule.DEPTH_NAME)


# ----- activation orders -----------------------------------------------------------------------


def test_post_activation_blocks_without_a_relu_after_the_sum_are_noted():
    found = of_rule(findings(on_meta(Net, [Block(8, 8, relu_after=False), Block(8, 8)]),
                             (3, 4, 4)), Rule.ACTIVATION_ORDER)
    assert [(f.severity, f.nodes) for f in found] == [(Severity.NOTE, ("blocks.0.add",))]


def test_pre_activation_blocks_with_a_relu_after_the_sum_are_noted():
    class ReluAfter(PreActBlock):  # He et al. 2016 drop this ReLU; here it stays
        def forward(self, x):
            return F.relu(super().forward(x))

    class Net2(nn.Module):
        def __init__(self):
            super().__init__()
            self.a, self.b = ReluAfter(16, 16, 1), ReluAfter(16, 16, 1)

        def forward(self, x):
            return self.b(self.a(x))

    found = of_rule(findings(on_meta(Net2), (16, 4, 4)), Rule.ACTIVATION_ORDER)
    assert [(f.severity, f.nodes) for f in found] == [(Severity.NOTE, ("a.add", "b.add"))]
    assert "start with BN-ReLU (pre-activation) but have a ReLU after the sum" in found[0].message


def test_pre_and_post_activation_blocks_mixed_are_noted():
    class Mixed(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = Block(16, 16)  # post-activation, ReLU after the sum
            self.b = PreActBlock(16, 16, 1)  # pre-activation, none

        def forward(self, x):
            return self.b(self.a(x))

    found = of_rule(findings(on_meta(Mixed), (16, 4, 4)), Rule.ACTIVATION_ORDER)
    assert len(found) == 1
    assert "mixes 1 pre-activation block with 1 post-activation block" in found[0].message


def test_consistent_orders_are_clean_and_pre_activation_needs_a_final_bn_relu():
    wrn = analyze(on_meta(WideResNet, 10, 1), (3, 8, 8)).findings
    assert not of_rule(wrn, Rule.ACTIVATION_ORDER) and not of_rule(wrn, Rule.PREACT_FINAL_NORM)
    bare = analyze(on_meta(WideResNet, 10, 1, False), (3, 8, 8)).findings
    assert [f.severity for f in of_rule(bare, Rule.PREACT_FINAL_NORM)] == [Severity.NOTE]
    assert not of_rule(findings(on_meta(Net, [Block(8, 8)]), (3, 4, 4)), Rule.ACTIVATION_ORDER)


# ----- BatchNorm on 1x1 maps ---------------------------------------------------------------------


def test_batchnorm_on_1x1_maps_is_noted_with_its_layers():
    found = of_rule(findings(on_meta(Net, [Block(8, 8, stride=2)]), (3, 2, 2)),
                    Rule.NORM_ON_1X1)
    assert [(f.severity, f.nodes) for f in found] == \
        [(Severity.NOTE, ("blocks.0.bn1", "blocks.0.bn2", "blocks.0.shortcut.1"))]
    assert not of_rule(findings(on_meta(Net, [Block(8, 8, stride=2)]), (3, 4, 4)),
                       Rule.NORM_ON_1X1)


# ----- defined, never used ----------------------------------------------------------------------


def test_modules_and_parameters_forward_never_uses_are_counted():
    class Leftovers(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 4, 3, bias=False)
            self.head = nn.Sequential(nn.Linear(4, 5), nn.Linear(5, 6))  # never called
            self.drop = nn.Dropout()  # never called
            self.scale = nn.Parameter(torch.ones(4))  # read in forward: used
            self.spare = nn.Parameter(torch.ones(7))  # never read

        def forward(self, x):
            return self.conv(x) * self.scale.view(1, -1, 1, 1)

    model = on_meta(Leftovers)
    found = of_rule(findings(model, (3, 5, 5)), Rule.UNUSED)
    unused_params = sum(p.numel() for p in model.head.parameters()) + 7  # the spare vector
    assert [(f.severity, f.params) for f in found] == [(Severity.WARNING, unused_params)]
    assert "3 modules" in found[0].message
    assert all(name in found[0].message for name in ("head", "drop", "spare"))


def test_networks_that_use_everything_they_define_are_clean():
    class Identity(nn.Module):  # a user's own identity shortcut: runs, leaves no op
        def forward(self, x):
            return x

    class WithIdentity(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(4, 4, 3, padding=1)
            self.skip = Identity()
            self.empty = nn.Sequential()

        def forward(self, x):
            return self.conv(x) + self.empty(self.skip(x))

    assert not of_rule(findings(on_meta(WithIdentity), (4, 4, 4)), Rule.UNUSED)
    assert not of_rule(findings(on_meta(nets.PreActResNet18), (3, 32, 32)), Rule.UNUSED)


def test_a_subclass_of_a_library_layer_uses_the_parameters_torch_reads():
    class LayerNorm2d(nn.LayerNorm):  # ConvNeXt's channels-first norm: torch reads its weight
        def forward(self, x):
            return super().forward(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)

    class Stem(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv, self.norm = nn.Conv2d(3, 8, 4, 4), LayerNorm2d(8)

        def forward(self, x):
            return self.norm(self.conv(x))

    assert not of_rule(findings(on_meta(Stem), (3, 16, 16)), Rule.UNUSED)


# ----- the presets ---------------------------------------------------------------------------------

#: The tutorial preset reproduces seed 001's layout on purpose (REFERENCE.md's single-block shape
#: checks): its layer4 runs 3x3 convs on 2x2 and 1x1 maps, which the check rightly reports.
TUTORIAL = "tutorial_resnet10"


@pytest.mark.parametrize("name", list(PRESETS))
def test_no_preset_has_an_error_or_a_warning(name):
    serious = [f.line for f in design_findings(get_preset(name))
               if f.severity.at_least(Severity.WARNING)]
    if name == TUTORIAL:
        assert {f.split(":")[0] for f in serious} == {"layer4.0.conv1", "layer4.0.conv2"}
    else:
        assert serious == []


@pytest.mark.parametrize("name", ["resnet18", "resnet50", "resnet50d", "wide_resnet50_2",
                                  "resnext50_32x4d", "preact_resnet18", "resnet20", "plain20"])
def test_presets_given_as_modules_and_named_have_no_error_or_warning(name):
    spec = get_preset(name)
    result = analyze(build_model(spec), (spec.in_channels, spec.input_size, spec.input_size),
                     name)
    assert [f.line for f in result.findings if f.severity.at_least(Severity.WARNING)] == []


def test_a_design_the_sliders_made_too_small_gets_warnings():
    spec = get_preset("resnet50").replace(input_size=32)  # layer4 runs on 2x2 then 1x1 maps
    found = of_rule(design_findings(spec), Rule.DEAD_TAPS)
    # layer4.0.conv2 (3x3, 512 -> 512, stride 2 on 2x2): 5 of 9 taps dead; layer4.1 and 4.2's
    # conv2 on 1x1: 8 of 9.
    weights = 512 * 512 * 9
    assert [(f.where, f.params) for f in found] == [
        ("layer4.0.conv2", weights * 5 // 9), ("layer4.1.conv2", weights * 8 // 9),
        ("layer4.2.conv2", weights * 8 // 9)]
