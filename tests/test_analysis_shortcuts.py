"""Shortcut kinds people write by hand, and trace sharing that must not merge different blocks.

Parameters are checked against `sum(p.numel())`; depths against the paper's count (6n+2 for the
CIFAR nets); the dashed edges against where the shortcut changes the shape.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from inspector.analysis import analyze
from inspector.render import dot_available

needs_dot = pytest.mark.skipif(not dot_available(), reason="Graphviz's dot is not installed")


class ConcatZeros(nn.Module):
    """Option A written as a concatenation: subsample, then append zero channels."""

    def __init__(self, extra: int) -> None:
        super().__init__()
        self.extra = extra

    def forward(self, x):
        x = x[:, :, ::2, ::2]
        return torch.cat([x, x.new_zeros(x.shape[0], self.extra, x.shape[2], x.shape[3])], 1)


class PadZeros(nn.Module):
    """Option A with F.pad on the channel dimension, as many CIFAR re-implementations do."""

    def __init__(self, extra: int) -> None:
        super().__init__()
        self.extra = extra

    def forward(self, x):
        return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, self.extra // 2, self.extra // 2))


class Block(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, shortcut: nn.Module | None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.shortcut = shortcut if shortcut is not None else nn.Sequential()

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


def cifar_net(make_shortcut, n: int = 1) -> nn.Module:
    """A CIFAR ResNet-(6n+2): 16, 32, 64 channels; `make_shortcut(cin, cout)` where it changes."""
    layers: list[nn.Module] = [nn.Conv2d(3, 16, 3, 1, 1, bias=False), nn.BatchNorm2d(16),
                               nn.ReLU()]
    cin = 16
    for cout in (16, 32, 64):
        for index in range(n):
            stride = 2 if cout != cin else 1
            layers.append(Block(cin, cout, stride, make_shortcut(cin, cout) if stride > 1
                                else None))
            cin = cout
    layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(64, 10)]
    return nn.Sequential(*layers)


@pytest.mark.parametrize("shortcut", [ConcatZeros, PadZeros])
def test_zero_channel_shortcuts_are_option_a(shortcut):
    model = cifar_net(lambda cin, cout: shortcut(cout - cin), n=3)
    result = analyze(model, (3, 32, 32))
    assert result.shortcut_kinds() == ["identity"] * 3 + ["identity_pad"] + ["identity"] * 2 \
        + ["identity_pad"] + ["identity"] * 2
    assert result.params == sum(p.numel() for p in model.parameters())
    assert result.depth == 20  # 6n+2 with n = 3
    assert "2 zero-padding shortcuts have no weights" in result.explanation
    assert result.closest().sentence == "equivalent to resnet20"  # the paper's option A


class ScaledShortcut(nn.Module):
    """None of the paper's options: a learned 3x3 conv with a ReLU on the shortcut."""

    def __init__(self, cin: int, cout: int) -> None:
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, 3, 2, 1, bias=False)

    def forward(self, x):
        return F.relu(self.conv(x))


def test_a_shortcut_of_none_of_the_papers_options_is_other_and_dashed_where_it_resizes():
    model = cifar_net(ScaledShortcut)
    result = analyze(model, (3, 32, 32))
    assert result.shortcut_kinds() == ["identity", "other", "other"]
    assert [b.dashed for b in result.blocks] == [False, True, True]
    assert result.params == sum(p.numel() for p in model.parameters())
    assert result.depth == 8  # 1 + 2 x (1+1+1) + 1: shortcut convs are not counted
    assert "2 other shortcuts not counted" in result.explanation
    assert any("none of the paper's options" in note for note in result.notes)


@needs_dot
def test_other_shortcuts_are_dashed_in_the_svg():
    svg = analyze(cifar_net(ScaledShortcut), (3, 32, 32)).svg()
    assert svg.count("stroke-dasharray") == 2


# ----- identical blocks share a trace; different ones never do ----------------------------------


def _scale_of(block: "HelperScaled", x):
    return x[:, :, :: block.step, :: block.step]


class HelperScaled(nn.Module):
    """Reads `step` only in a module-level helper, never in its own methods."""

    def __init__(self, step: int, label: int) -> None:
        super().__init__()
        self.step, self.label = step, label  # `label` is bookkeeping no method reads

    def forward(self, x):
        return _scale_of(self, x)


def test_blocks_that_differ_in_an_attribute_read_by_a_helper_get_their_own_shapes():
    model = nn.Sequential(HelperScaled(1, 0), HelperScaled(2, 1), HelperScaled(2, 2))
    result = analyze(model, (3, 16, 16))
    assert [op.shape[2] for op in result.ops if op.label == "slice"] == [16, 8, 4]
