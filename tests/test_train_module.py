"""Any network trains with the same engine: from a Python file on the command line and from the
Python API, its blocks measured, its head replaced (with a note) when the classes differ."""

from __future__ import annotations

import textwrap

import pytest
import torch
from torch import nn

from inspector.cli import main as cli_main
from inspector.data import load_dataset
from inspector.train import TrainConfig
from inspector.train_module import train_model

NETS = textwrap.dedent('''
    import torch.nn.functional as F
    from torch import nn

    class Block(nn.Module):
        """torchvision's BasicBlock layout (identity shortcut added in place)."""

        def __init__(self, c):
            super().__init__()
            self.conv1 = nn.Conv2d(c, c, 3, padding=1, bias=False)
            self.bn1 = nn.BatchNorm2d(c)
            self.conv2 = nn.Conv2d(c, c, 3, padding=1, bias=False)
            self.bn2 = nn.BatchNorm2d(c)

        def forward(self, x):
            out = self.bn2(self.conv2(F.relu(self.bn1(self.conv1(x)))))
            out += x
            return F.relu(out)

    class Tiny(nn.Module):
        def __init__(self):
            super().__init__()
            self.stem = nn.Conv2d(3, 8, 3, padding=1)
            self.blocks = nn.Sequential(Block(8), Block(8))
            self.fc = nn.Linear(8, 1000)

        def forward(self, x):
            return self.fc(self.blocks(self.stem(x)).mean((2, 3)))
''')


def test_cli_trains_a_file_defined_network(tmp_path, capsys):
    (tmp_path / "nets.py").write_text(NETS)
    out = tmp_path / "tiny.pt"
    code = cli_main(["train", f"{tmp_path / 'nets.py'}:Tiny", "--input", "3x32x32", "--steps",
                     "3", "--batch-size", "16", "--precision", "fp32", "--quiet", "--out",
                     str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "replaced by a new Linear(8, 10)" in captured.err
    saved = torch.load(out, weights_only=True)
    assert saved["state_dict"]["fc.weight"].shape == (10, 8)
    assert '"blocks": ["blocks.0", "blocks.1"]' in saved["block_stats"]


def test_cli_refuses_an_input_that_is_not_the_datasets(tmp_path, capsys):
    (tmp_path / "nets.py").write_text(NETS)
    code = cli_main(["train", f"{tmp_path / 'nets.py'}:Tiny", "--input", "3x64x64"])
    assert code == 2
    assert "--input 3x64x64 does not match the dataset's images (3x32x32)" in \
        capsys.readouterr().err


class Plain(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.AdaptiveAvgPool2d(1))
        self.head = nn.Linear(4, 4)

    def forward(self, x):
        return self.head(torch.flatten(self.features(x), 1))


def test_the_python_api_trains_a_copy_and_leaves_the_model_alone():
    data = load_dataset("synthetic", image_size=8, num_train=32, num_val=8, num_classes=4,
                        channels=1)
    model = Plain()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    result = train_model(model, data, TrainConfig(steps=3, batch_size=8, precision="fp32"))
    assert result.stopped_reason == "completed", result.message
    assert "No residual block was found" in result.message
    assert result.block_stats is None
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert not all(torch.equal(before[k], v) for k, v in result.model.state_dict().items())
