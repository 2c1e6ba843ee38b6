"""Per-block statistics against the same quantities computed here, with autograd, by hand.

The recorder reads its values from hooks; the test runs each block's layers itself (conv, BN,
ReLU in the order the paper's basic block has them), asks autograd for the gradient of every
block parameter, and compares. The tiny design is the paper's CIFAR ResNet with one block per
stage (its shortcuts: identity, then option B projections).
"""

from __future__ import annotations

import copy
import io
import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from inspector import get_preset
from inspector.analysis import analyze
from inspector.block_stats import (BlockStatsLog, BlockStatsRecorder, analysis_probes,
                                   design_probes)
from inspector.checkpoint import result_bytes
from inspector.data import load_dataset
from inspector.kinds import BlockStatistic
from inspector.model import build_model
from inspector.train import TrainConfig, train

TINY = get_preset("resnet20").replace(layers=(1, 1, 1), input_size=8, num_classes=3,
                                      shortcut="B")


def _branch(block, x):
    """F(x) of a post-activation basic block: conv-BN-ReLU-conv-BN."""
    return block.bn2(block.conv2(F.relu(block.bn1(block.conv1(x)))))


def _by_hand(model, x, y):
    """Per block: gradient norm, mean over images of ||F(x_i)|| / ||x_i||, share of zeros."""
    blocks = [model.layer1[0], model.layer2[0], model.layer3[0]]
    h = F.relu(model.bn1(model.conv1(x)))
    ratios, zeros = [], []
    for block in blocks:
        branch = _branch(block, h)
        shortcut = h if block.downsample is None else block.downsample(h)
        ratios.append((branch.flatten(1).norm(dim=1) / h.flatten(1).norm(dim=1)).mean().item())
        h = F.relu(branch + shortcut)
        zeros.append((h == 0).float().mean().item())
    logits = model.fc(torch.flatten(F.adaptive_avg_pool2d(h, 1), 1))
    loss = F.cross_entropy(logits, y)
    grads = []
    for block in blocks:
        params = list(block.parameters())
        parts = torch.autograd.grad(loss, params, retain_graph=True)
        grads.append(math.sqrt(sum(float((g ** 2).sum()) for g in parts)))
    return grads, ratios, zeros


def test_recorded_statistics_equal_autograd_by_hand():
    torch.manual_seed(0)
    model = build_model(TINY, "cpu", generator=torch.Generator().manual_seed(1)).train()
    twin = copy.deepcopy(model)
    x, y = torch.randn(6, 3, 8, 8), torch.tensor([0, 1, 2, 0, 1, 2])
    probes = design_probes(model)
    assert [p.name for p in probes] == ["layer1.0", "layer2.0", "layer3.0"]
    assert [p.branch for p in probes] == ["layer1.0.bn2", "layer2.0.bn2", "layer3.0.bn2"]
    recorder = BlockStatsRecorder(model, probes, every=1)
    recorder.arm()
    loss = F.cross_entropy(model(x), y)
    recorder.disarm()
    loss.backward()
    recorder.collect(1)
    grads, ratios, zeros = _by_hand(twin, x, y)
    log = recorder.log
    assert log.steps == [1]
    assert log.values["grad_norm"][0] == pytest.approx(grads, rel=1e-4)
    assert log.values["branch_ratio"][0] == pytest.approx(ratios, rel=1e-4)
    assert log.values["zero_share"][0] == pytest.approx(zeros, abs=1e-6)
    assert 0 < min(zeros) and max(zeros) < 1  # the ReLU zeroes some outputs, not all


class InPlaceBlock(nn.Module):
    """torchvision's BasicBlock layout: the shortcut is added in place to bn2's output."""

    def __init__(self, channels: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels)
        self.conv2 = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels)

    def forward(self, x):
        out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
        out += x
        return F.relu(out)


class TwoBlockNet(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Conv2d(3, 4, 3, padding=1)
        self.blocks = nn.Sequential(InPlaceBlock(4), InPlaceBlock(4))
        self.head = nn.Linear(4, 3)

    def forward(self, x):
        h = self.blocks(self.stem(x))
        return self.head(h.mean((2, 3)))


def test_an_analysed_models_blocks_are_measured_before_the_in_place_sum():
    torch.manual_seed(0)
    model = TwoBlockNet().train()
    probes, skipped = analysis_probes(analyze(model, (3, 8, 8)))
    assert skipped == []
    assert [(p.name, p.branch) for p in probes] == [("blocks.0", "blocks.0.bn2"),
                                                   ("blocks.1", "blocks.1.bn2")]
    twin = copy.deepcopy(model)
    x, y = torch.randn(4, 3, 8, 8), torch.tensor([0, 1, 2, 0])
    recorder = BlockStatsRecorder(model, probes, every=1)
    recorder.arm()
    F.cross_entropy(model(x), y).backward()
    recorder.collect(1)
    h = twin.stem(x)
    for column, block in enumerate(twin.blocks):
        branch = _branch(block, h)
        expected = (branch.flatten(1).norm(dim=1) / h.flatten(1).norm(dim=1)).mean().item()
        assert recorder.log.values["branch_ratio"][0][column] == pytest.approx(expected, rel=1e-4)
        h = F.relu(branch + h)


def test_a_plain_design_is_measured_per_block_of_layers():
    plain = TINY.replace(residual=False)
    model = build_model(plain, "cpu")
    assert [p.name for p in design_probes(model)] == ["layer1.0", "layer2.0", "layer3.0"]


def test_a_run_records_blocks_and_the_checkpoint_keeps_them():
    data = load_dataset("synthetic", image_size=8, num_train=32, num_val=8, num_classes=3)
    config = TrainConfig(steps=5, batch_size=8, precision="fp32", stats_every=2)
    result = train(TINY, data, config)
    log = result.block_stats
    assert log.steps == [1, 2, 4, 5]
    frame = log.frame()
    assert len(frame) == 4 * 3 and set(frame.block) == {"layer1.0", "layer2.0", "layer3.0"}
    assert frame[[s.value for s in BlockStatistic]].notna().all().all()
    assert (frame.grad_norm > 0).all()
    loaded = torch.load(io.BytesIO(result_bytes(result)), weights_only=True)
    from inspector.checkpoint import read_checkpoint

    checkpoint = read_checkpoint(io.BytesIO(result_bytes(result)))
    assert checkpoint.block_stats.to_dict() == log.to_dict()
    assert "block_stats" in loaded


def test_statistics_can_be_turned_off_and_bad_logs_are_refused():
    data = load_dataset("synthetic", image_size=8, num_train=32, num_val=8, num_classes=3)
    result = train(TINY, data, TrainConfig(steps=2, batch_size=8, block_stats=False))
    assert result.block_stats is None
    with pytest.raises(ValueError, match="one value per block"):
        BlockStatsLog.from_dict({"blocks": ["a"], "steps": [1],
                                 "values": {"grad_norm": [[1.0, 2.0]]}})
