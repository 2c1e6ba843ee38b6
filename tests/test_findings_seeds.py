"""The source posts' networks (tests/seed_networks.py) get exactly the findings their mistakes call
for. Every number is computed here from the modules or by hand, never from the check's output.
"""

import torch
from torch import nn

from inspector.analysis import analyze
from inspector.kinds import Rule, Severity

from seed_networks import ResidualNet, ResNet18


def on_meta(factory):
    with torch.device("meta"):
        return factory()


def summary(found):
    return [(f.severity, f.rule, f.where) for f in found]


def only(found, rule):
    matches = [f for f in found if f.rule == rule]
    assert len(matches) == 1, matches
    return matches[0]


def test_seed_001_resnet18_on_32x32():
    model = on_meta(ResNet18)
    result = analyze(model, (3, 32, 32))
    found = result.findings
    assert summary(found) == [
        (Severity.ERROR, Rule.ONE_PATH_CHANGE, "blk4"),
        (Severity.ERROR, Rule.BROADCAST_SUM, "blk4"),
        (Severity.WARNING, Rule.DEPTH_NAME, "ResNet18"),
        (Severity.WARNING, Rule.BIAS_BEFORE_NORM, "ResNet18"),
        (Severity.WARNING, Rule.DEAD_TAPS, "blk4.con1"),
        (Severity.WARNING, Rule.DEAD_TAPS, "blk4.con2"),
        (Severity.NOTE, Rule.ACTIVATION_ORDER, "ResNet18"),
        (Severity.NOTE, Rule.INPUT_COVERED, "blk2.con1"),
        (Severity.NOTE, Rule.NORM_ON_1X1, "ResNet18"),
    ]

    # 32 -> 10 (3x3/3 unpadded stem) -> 5 -> 3 -> 2 -> 1: blk4's branch ends at 512x1x1 while
    # its shortcut (ch_in == ch_out: an empty Sequential) passes 512x2x2 on.
    assert "512x1x1 from the residual branch to 512x2x2 from the shortcut" in \
        only(found, Rule.BROADCAST_SUM).message
    assert only(found, Rule.ONE_PATH_CHANGE).nodes == ("blk4.con1",)

    # The ResNet paper's count: the stem conv, two convs per block, the fc; the projections in
    # `extra` are not counted.
    main_convs = [m for name, m in model.named_modules()
                  if isinstance(m, nn.Conv2d) and ".extra." not in f".{name}."]
    layers = len(main_convs) + sum(isinstance(m, nn.Linear) for m in model.modules())
    assert layers == 10
    assert only(found, Rule.DEPTH_NAME).message.startswith(f"named 18, counts {layers} weighted")

    # blk4.con1 reads a 2x2 map with stride 2 and padding 1: its one output sees rows and
    # columns -1, 0, 1, so the taps on -1 (5 of 9) meet padding only. blk4.con2 reads a 1x1
    # map with padding 1: only the centre tap meets data (8 of 9 dead).
    dead = {f.where: f.params for f in found if f.rule == Rule.DEAD_TAPS}
    assert dead == {"blk4.con1": model.blk4.con1.weight.numel() * 5 // 9,
                    "blk4.con2": model.blk4.con2.weight.numel() * 8 // 9}
    total = sum(p.numel() for p in model.parameters())
    assert round(total / 1e6, 1) == 9.6 and round(sum(dead.values()) / 1e6, 1) == 3.4

    # Every conv keeps its default bias and every one is followed by a BatchNorm.
    convs = [m for m in model.modules() if isinstance(m, nn.Conv2d)]
    bias = only(found, Rule.BIAS_BEFORE_NORM)
    assert bias.params == sum(c.bias.numel() for c in convs) and len(bias.nodes) == len(convs)

    assert only(found, Rule.ACTIVATION_ORDER).nodes == tuple(
        f"blk{i}.add" for i in range(1, 5))  # no ReLU after any sum
    # Receptive field: stem 3 (jump 3); blk1 3 + 2x3 = 9, + 2x6 = 21; blk2.con1 21 + 2x6 = 33.
    assert "reaches 33 px" in only(found, Rule.INPUT_COVERED).message
    assert only(found, Rule.NORM_ON_1X1).nodes == ("blk4.bn1", "blk4.bn2")


def test_seed_002_cifar_net_with_its_unused_batchnorms_and_biases():
    model = on_meta(ResidualNet)
    found = analyze(model, (3, 32, 32)).findings
    assert summary(found) == [
        (Severity.WARNING, Rule.UNUSED, "ResidualNet"),  # not in the graph: sorted first
        (Severity.WARNING, Rule.BIAS_BEFORE_NORM, "ResidualNet"),
        (Severity.NOTE, Rule.INPUT_COVERED, "ResNetModule.4.poolLayer.0"),
    ]
    stages = [model.ResNetModule[i] for i in (3, 4, 5)]
    # forward runs entries 0 and 1 of each block's [conv-BN-ReLU, conv, BN]: the BN is unused.
    never_run = [part[2] for stage in stages for part in stage.ResBlockModules]
    assert len(never_run) == 21 and all(isinstance(m, nn.BatchNorm2d) for m in never_run)
    unused = only(found, Rule.UNUSED)
    assert unused.params == sum(p.numel() for m in never_run for p in m.parameters()) == 1568
    assert "21 modules" in unused.message and "21 BatchNorm2d" in unused.message

    # The stem conv and each block's first conv feed a BatchNorm; the second conv now feeds the
    # sum (its BatchNorm never runs), and the 2x2 stride-2 convs feed the blocks.
    first_convs = [part[0][0] for stage in stages for part in stage.ResBlockModules]
    cancelled = [model.ResNetModule[0], *first_convs]
    bias = only(found, Rule.BIAS_BEFORE_NORM)
    assert len(bias.nodes) == 22
    assert bias.params == sum(c.bias.numel() for c in cancelled) == 16 + 7 * (16 + 32 + 64)
