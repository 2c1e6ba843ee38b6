"""The tracer degrades instead of failing: idioms fx alone cannot follow are still analysed, and
the analysis says which parts took another way.

Every count is checked against `sum(p.numel())` or a hand derivation written beside it.
"""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from inspector.analysis import ModelError, analyze


def params_of(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


class Block(nn.Module):
    """A basic block; `style` picks the idiom its forward is written in."""

    def __init__(self, channels: int, style: str = "plain") -> None:
        super().__init__()
        self.style = style
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)
        self.kernels = [3, 3]  # a list attribute the forward reads (crashed the cache key)
        self.options = {"act": "relu"}  # a dict attribute too

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.style == "fresh":  # the CIFAR-100 repository's idiom: a ReLU made in forward
            return nn.ReLU(inplace=True)(out + x)
        if self.style == "shape" and x.shape[1] == out.shape[1]:  # control flow on a shape
            return F.relu(out + x)
        if self.options["act"] == "relu" and len(self.kernels) == 2:
            return F.relu(out + x)
        return out


class ScriptableBlock(nn.Module):
    """A basic block TorchScript can compile (no layer made in forward)."""

    def __init__(self, channels: int, style: str = "plain") -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x):
        return F.relu(self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x))))) + x)


class ExtraInput(Block):
    """A forward with an optional second input, left at its default."""

    def forward(self, x, extra=None, scale: float = 1.0):
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        if extra is not None:
            out = out + extra
        return F.relu(out * scale + x)


class PoolHead(nn.Module):
    """A timm-style classifier head: a pool type chosen by a string, `pre_logits` flag,
    and a flatten decided by the input's rank (shape-dependent control flow)."""

    def __init__(self, channels: int, classes: int) -> None:
        super().__init__()
        self.pool_type = "avg"
        self.fc = nn.Linear(channels, classes)

    def forward(self, x, pre_logits: bool = False):
        if self.pool_type == "avg":
            x = F.adaptive_avg_pool2d(x, 1)
        if x.dim() == 4:
            x = x.flatten(1)
        return x if pre_logits else self.fc(x)


class Net(nn.Module):
    """stem conv (3 -> 16), two blocks, a head: depth 1 + 2 x 2 + 1 = 6 by the paper's count."""

    def __init__(self, style: str = "plain", block: type = Block, script: bool = False) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 16, 3, padding=1, bias=False), nn.BatchNorm2d(16),
                                  nn.ReLU())
        blocks = [block(16, style), block(16, style)]
        if script:
            blocks[0] = torch.jit.script(blocks[0])
        self.blocks = nn.Sequential(*blocks)
        self.head = PoolHead(16, 10)

    def forward(self, x):
        return self.head(self.blocks(self.stem(x)))


@pytest.mark.parametrize("style", ["plain", "fresh", "shape"])
def test_idioms_fx_cannot_follow_are_analysed(style):
    model = Net(style)
    result = analyze(model, (3, 16, 16))
    assert result.params == params_of(model)
    assert result.depth == 6
    assert len(result.blocks) == 2 and result.shortcut_kinds() == ["identity", "identity"]
    # mult-adds by hand: stem 3*16*9 * 256 px, four block convs 16*16*9 * 256, fc 16*10+10,
    # plus the norms (2 per channel, per image) as torchinfo counts them.
    convs = (3 * 16 * 9 + 4 * 16 * 16 * 9) * 16 * 16
    norms = 5 * 2 * 16
    assert result.mult_adds == convs + norms + 170
    head_note = [n for n in result.notes if "PoolHead" in n]
    assert head_note and "recorded by running it once on meta tensors" in head_note[0]
    if style == "shape":
        assert any("Block (blocks.0, blocks.1) could not be traced" in n for n in result.notes)


def test_an_optional_extra_input_is_traced_at_its_default():
    model = Net(block=ExtraInput)
    result = analyze(model, (3, 16, 16))
    assert result.params == params_of(model) and result.depth == 6
    assert not any("ExtraInput" in n for n in result.notes)  # fx followed it: no fallback


@pytest.mark.filterwarnings("ignore::DeprecationWarning")
def test_a_torchscript_block_is_one_opaque_step_named_in_the_notes():
    model = Net(block=ScriptableBlock, script=True)
    result = analyze(model, (3, 16, 16))
    assert result.params == params_of(model)
    opaque = [op for op in result.ops if op.opaque]
    assert len(opaque) == 1 and opaque[0].params == 2 * (16 * 16 * 9) + 2 * 2 * 16
    assert any("blocks.0 (ScriptableBlock) is TorchScript" in n and "opaque" in n for n in result.notes)
    assert len(result.blocks) == 1  # the scripted block's sum is not visible


class FunctionalWRN(nn.Module):
    """Weights kept as tensors and used through F.conv2d / F.linear, as the functional Wide
    ResNet does; the names are kept in a list the forward reads."""

    def __init__(self) -> None:
        super().__init__()
        self.names = ["conv0", "block.conv0", "block.conv1", "fc.weight", "fc.bias"]
        shapes = [(16, 3, 3, 3), (16, 16, 3, 3), (16, 16, 3, 3), (10, 16), (10,)]
        self.weights = nn.ParameterList(nn.Parameter(torch.randn(s)) for s in shapes)

    def forward(self, x):
        w = dict(zip(self.names, self.weights))
        x = F.conv2d(x, w["conv0"], padding=1)
        out = F.conv2d(F.relu(x), w["block.conv0"], padding=1)
        out = F.conv2d(F.relu(out), w["block.conv1"], padding=1)
        x = F.avg_pool2d(out + x, 8)
        return F.linear(x.flatten(1), w["fc.weight"], w["fc.bias"])


def test_functional_weights_are_weighted_layers_with_their_costs():
    model = FunctionalWRN()
    result = analyze(model, (3, 8, 8))
    assert result.params == params_of(model)
    assert result.depth == 4  # 1 (stem conv) + 2 (block convs) + 1 (fc)
    convs = [op for op in result.ops if op.kind == "conv"]
    assert [op.params for op in convs] == [432, 2304, 2304]
    # mult-adds: every conv pays its weights once per output pixel (8x8), the fc once
    assert result.mult_adds == (432 + 2304 + 2304) * 64 + 170
    assert len(result.blocks) == 1


def test_two_required_inputs_are_refused_with_that_reason():
    class TwoInputs(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 1)

        def forward(self, x, mask):
            return self.conv(x) * mask

    with pytest.raises(ModelError, match=r"forward needs 2 inputs \(x, mask\)"):
        analyze(TwoInputs(), (3, 8, 8))


def test_data_dependent_control_flow_is_refused_with_that_reason():
    class Gate(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(3, 3, 3, padding=1)

        def forward(self, x):
            out = self.conv(x)
            if out.mean() > 0:
                return out + x
            return x

    reason = r"cannot trace Gate at 0 \(.*line \d+: if out.mean\(\) > 0:\).*reads tensor values"
    with pytest.raises(ModelError, match=reason):
        analyze(nn.Sequential(Gate()), (3, 8, 8))


@pytest.mark.parametrize("size", [7, 8, 32, 33])
@pytest.mark.parametrize("kernel, stride, padding, dilation", [
    (1, 1, 0, 1), (3, 1, 1, 1), (3, 2, 1, 1), (7, 2, 3, 1), (2, 2, 0, 1), (3, 3, 0, 1),
    (3, 2, 0, 2), (5, 2, 2, 1)])
@pytest.mark.parametrize("ceil", [False, True])
def test_window_arithmetic_agrees_with_the_meta_kernels(size, kernel, stride, padding, dilation,
                                                        ceil):
    """Conv and pool shapes are computed by formula (the meta kernels import sympy on first
    use); the formula must give exactly what PyTorch's kernels give."""
    from inspector.op_trace import _window_shape

    x = torch.empty(1, 4, size, size, device="meta")
    layers = [nn.Conv2d(4, 6, kernel, stride, padding, dilation, device="meta"),
              nn.MaxPool2d(kernel, stride, padding, dilation, ceil_mode=ceil)]
    if dilation == 1:
        layers.append(nn.AvgPool2d(kernel, stride, padding, ceil_mode=ceil))
    for layer in layers:
        assert _window_shape(layer, x) == tuple(layer(x).shape), layer


def test_a_hand_written_silu_is_an_activation_not_attention():
    """`x * torch.sigmoid(x)` multiplies a sigmoid in, but nothing beside the path computes the
    gate: no attention branch, and the block's two convs count."""

    class SwishBlock(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.conv2 = nn.Conv2d(8, 8, 3, padding=1), nn.Conv2d(8, 8, 3, padding=1)

        def forward(self, x):
            out = self.conv1(x)
            out = out * torch.sigmoid(out)
            return x + self.conv2(out)

    result = analyze(nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), SwishBlock()), (3, 8, 8))
    assert [b.attention_ops for b in result.blocks] == [()]
    assert result.depth == 3  # stem conv + the block's two convs
