"""The visual diff: two networks aligned block by block, the marks read back from the SVG the
CLI writes."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from inspector import get_preset
from inspector.cli import main
from inspector.diff import MIN_SAME_RUN, align, diff_graphs, read_blocks
from inspector.kinds import DiffStatus
from inspector.render import dot_available
from inspector.trace import trace_graph

needs_dot = pytest.mark.skipif(not dot_available(), reason="Graphviz's dot is not installed")
SVG = "{http://www.w3.org/2000/svg}"

# A ResNet-18 as people write it after torchvision's (BasicBlock with a `downsample`
# projection where the shape changes), with the widths as an argument: conv4_x widened.
WIDENED_RESNET = '''
import torch.nn as nn


class Block(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                            nn.BatchNorm2d(cout))

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


class Wide(nn.Module):
    def __init__(self, widths=(64, 128, 384, 512)):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        layers, cin = [], 64
        for index, width in enumerate(widths):
            stride = 1 if index == 0 else 2
            layers.append(nn.Sequential(Block(cin, width, stride), Block(width, width, 1)))
            cin = width
        self.layer1, self.layer2, self.layer3, self.layer4 = layers
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, 1000)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.avgpool(x).flatten(1))
'''


def marks(svg: bytes) -> dict[str, dict[str, str]]:
    """{side: {block name: status}} for every block node, read from the SVG's classes and the
    bold first line of each node's label."""
    found: dict[str, dict[str, str]] = {"A": {}, "B": {}}
    for group in ET.fromstring(svg).iter(f"{SVG}g"):
        classes = (group.get("class") or "").split()
        node_id = group.get("id") or ""
        if "node" not in classes or not node_id.startswith("diff-"):
            continue
        status = next((c[len("diff-"):] for c in classes if c.startswith("diff-")), None)
        texts = [t for t in group.iter(f"{SVG}text")]
        if status is None or not texts:
            continue
        found[node_id.split("-")[1]][texts[0].text] = status
    return found


def words(svg: bytes, node_id: str) -> list[str]:
    for group in ET.fromstring(svg).iter(f"{SVG}g"):
        if group.get("id") == node_id:
            return [t.text for t in group.iter(f"{SVG}text")]
    raise AssertionError(f"no node {node_id}")


def run_cli(tmp_path, capsys, *args: str) -> tuple[bytes, str]:
    target = tmp_path / "diff.svg"
    assert main(["diff", *args, "-o", str(target)]) == 0
    return target.read_bytes(), capsys.readouterr().out


@needs_dot
def test_resnet34_against_resnet50_marks_every_block_and_says_why(tmp_path, capsys):
    svg, out = run_cli(tmp_path, capsys, "resnet34", "resnet50")
    found = marks(svg)
    # Both have 3, 4, 6, 3 blocks; every pair differs in block type (torchvision's models).
    blocks = [f"conv{s + 2}_{b + 1}" for s, n in enumerate((3, 4, 6, 3)) for b in range(n)]
    for side in "AB":
        assert {k: v for k, v in found[side].items() if k.startswith("conv")} == {
            name: "changed" for name in blocks}
        assert found[side]["stem"] == "same" and found[side]["head"] == "changed"
    said = " ".join(words(svg, "diff-B-0-0"))
    assert "changed: block basic -> bottleneck" in said
    assert "changed: shortcut identity -> projection" in said  # conv2_1: 64 -> 256 channels
    assert "16 changed, 0 added (only in B), 0 removed (only in A), 0 the same" in out


@needs_dot
def test_a_user_resnet18_with_one_widened_stage(tmp_path, capsys):
    module = tmp_path / "wide_nets.py"
    module.write_text(WIDENED_RESNET)
    svg, out = run_cli(tmp_path, capsys, "resnet18", f"{module}:Wide")
    found = marks(svg)
    # conv4_x is 384 wide instead of 256, so conv5_1 reads 384 channels: exactly these differ.
    differing = {"conv4_1", "conv4_2", "conv5_1"}
    for side in "AB":
        blocks = {k: v for k, v in found[side].items() if k.startswith("conv")}
        assert {k for k, v in blocks.items() if v != "same"} == differing, side
        assert set(blocks) >= differing
    conv4_1 = " ".join(words(svg, "diff-B-2-0"))
    assert "conv1 width 256 -> 384" in conv4_1 and "conv2 width 256 -> 384" in conv4_1
    assert "input width 256 -> 384" in " ".join(words(svg, "diff-B-3-0"))
    assert found["A"]["stem"] == found["B"]["stem"] == "same"
    assert "3 changed, 0 added" in out


@needs_dot
def test_resnet50_against_resnet101_folds_the_same_and_marks_what_is_added(tmp_path, capsys):
    svg, out = run_cli(tmp_path, capsys, "resnet50", "resnet101")
    found = marks(svg)
    assert found["B"]["conv4_7 .. conv4_23"] == "added"
    assert not any(status != "same" for status in found["A"].values())
    # Identical pairs drawn once a run: conv2_1 .. conv2_3 stands for three pairs.
    assert found["A"]["conv2_1 .. conv2_3"] == found["B"]["conv4_1 .. conv4_6"] == "same"
    assert "17 added (only in B)" in out and "16 the same" in out
    diff = diff_graphs(trace_graph(get_preset("resnet50"), "layer"),
                       trace_graph(get_preset("resnet101"), "layer"), ("a", "b"))
    assert diff.marked() == {"A": [], "B": [f"conv4_{i}" for i in range(7, 24)]}


def test_alignment_pairs_runs_first_then_by_position():
    _, r18, _ = read_blocks(trace_graph(get_preset("resnet18"), "layer"))
    _, r34, _ = read_blocks(trace_graph(get_preset("resnet34"), "layer"))
    rows = align(r18[1], r34[1])  # conv3_x: 2 blocks against 4, the first of each alike
    assert [r.status for r in rows] == [DiffStatus.SAME, DiffStatus.SAME, DiffStatus.ADDED,
                                        DiffStatus.ADDED]
    assert [r.b.name for r in rows] == ["conv3_1", "conv3_2", "conv3_3", "conv3_4"]
    removed = align(r34[1], r18[1])
    assert [r.status for r in removed][-2:] == [DiffStatus.REMOVED] * 2
    assert MIN_SAME_RUN == 3


@needs_dot
def test_diff_exports_and_bad_input(tmp_path, capsys):
    pdf = tmp_path / "d.pdf"
    assert main(["diff", "resnet18", "resnet34", "-o", str(pdf)]) == 0
    assert pdf.read_bytes().startswith(b"%PDF")
    png = tmp_path / "d.png"
    assert main(["diff", "resnet18", "resnet34", "-o", str(png), "--dpi", "72"]) == 0
    assert png.read_bytes().startswith(b"\x89PNG")
    capsys.readouterr()
    assert main(["diff", "resnet18", "resnet34", "-o", str(tmp_path / "d.docx")]) == 2
    assert main(["diff", "resnet18", "nope"]) == 2
    assert main(["diff", "resnet18", str(tmp_path / "missing.py") + ":Net"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 3 and "format must be one of" in err


def test_pre_activation_is_a_change_of_layer_order():
    diff = diff_graphs(trace_graph(get_preset("preact_resnet18"), "layer"),
                       trace_graph(get_preset("resnet18"), "layer"), ("pre", "post"))
    rows = [row for stage in diff.stages for row in stage.rows]
    assert [row.status for row in rows] == [DiffStatus.CHANGED] * 8
    # He et al. 2016: BN and ReLU before each conv, against the original's after.
    assert all(any(c.startswith("layer order BN ReLU conv BN ReLU conv -> conv BN ReLU")
                   for c in row.changes) for row in rows)


def test_a_change_of_block_type_does_not_repeat_the_layer_order_it_implies():
    diff = diff_graphs(trace_graph(get_preset("resnet34"), "layer"),
                       trace_graph(get_preset("resnet50"), "layer"), ("34", "50"))
    changed = [row for stage in diff.stages for row in stage.rows if row.changes]
    assert changed and all("block basic -> bottleneck" in row.changes for row in changed)
    assert not any(c.startswith("layer order") for row in changed for c in row.changes)


def test_a_set_for_a_file_model_is_refused(tmp_path, capsys):
    module = tmp_path / "wide_nets.py"
    module.write_text(WIDENED_RESNET)
    assert main(["diff", "resnet18", f"{module}:Wide", "--set-b", "groups=2"]) == 2
    assert "--set-b changes a design's spec fields" in capsys.readouterr().err
