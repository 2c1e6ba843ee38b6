"""Inference: top-k, per-stage feature maps (checked against forward hooks and the spec's block
plan), feature grids, latency tables, and the `infer` command."""

from __future__ import annotations

import argparse

import pandas as pd
import pytest
import torch
from PIL import Image

from inspector import build_model, get_preset
from inspector.checkpoint import save_result
from inspector.data import load_dataset
from inspector.infer import (Prediction, feature_grid, feature_maps, latency_display,
                             latency_table, predict_topk, prepare_image, trust_problem)
from inspector.spec import stage_name
from inspector.train import TrainConfig, train
from inspector.train_cli import register


def _model(name: str, **changes):
    torch.manual_seed(0)
    return build_model(get_preset(name).replace(**changes), "cpu").eval()


def test_topk_is_sorted_softmax_of_the_logits():
    model = _model("resnet20")
    x = torch.randn(3, 3, 32, 32)
    classes = [f"c{i}" for i in range(10)]
    top = predict_topk(model, x, k=5, classes=classes)
    with torch.no_grad():
        probabilities = torch.softmax(model(x), 1)
    assert len(top) == 3 and all(len(row) == 5 for row in top)
    for row, expected in zip(top, probabilities):
        assert [p.probability for p in row] == sorted((p.probability for p in row), reverse=True)
        assert row[0].index == int(expected.argmax()) and row[0].label == classes[row[0].index]
        assert row[0].probability == pytest.approx(float(expected.max()), rel=1e-5)
    assert len(predict_topk(model, x[0], k=50)[0]) == 10


@pytest.mark.parametrize("name,size,changes", [
    ("resnet20", 32, {}), ("resnet18", 64, {}), ("preact_resnet18", 32, {}),
    ("resnet50d", 64, {"layers": (1, 1, 1, 1)}), ("plain20", 32, {}),
])
def test_feature_maps_of_every_stage(name, size, changes):
    model = _model(name, input_size=size, **changes)
    spec = model.spec
    x = torch.randn(1, 3, size, size)
    hooked = {}
    for i, stage in enumerate(model.stages):
        stage.register_forward_hook(
            lambda module, args, out, key=stage_name(i): hooked.__setitem__(key, out[0].clone()))
    with torch.no_grad():
        model(x)
    maps = feature_maps(model, x)
    assert list(maps) == ["conv1"] + [stage_name(i) for i in range(spec.num_stages)]
    last = {plan.stage: plan for plan in spec.blocks()}
    for i in range(spec.num_stages):
        plan = last[i]
        assert tuple(maps[stage_name(i)].shape) == (plan.out_channels, plan.out_size,
                                                    plan.out_size)
        assert torch.allclose(maps[stage_name(i)], hooked[stage_name(i)])
    stem = spec.blocks()[0]
    assert tuple(maps["conv1"].shape) == (spec.stem_width, stem.in_size, stem.in_size)


def test_feature_grid_tiles_channels_scaled_to_one():
    maps = torch.randn(20, 5, 7) * 30
    grid = feature_grid(maps, max_channels=16, columns=8, gap=1)
    assert grid.shape == (2 * 5 + 1, 8 * 7 + 7)
    assert grid.min() == pytest.approx(0.0) and grid.max() == pytest.approx(1.0)


def test_latency_table_has_every_batch_size():
    table = latency_table(_model("resnet20"), "cpu", (1, 4, 16), budget_s=0.01)
    assert list(table.batch_size) == [1, 4, 16]
    assert (table.latency_ms > 0).all()
    assert table.images_per_s.tolist() == pytest.approx(
        (table.batch_size / table.latency_ms * 1000).tolist())


class _SmallMemory(torch.nn.Module):
    """Runs batches up to 4 and fails above, as a device with little memory does."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model, self.spec = model, model.spec

    def forward(self, x):
        if len(x) > 4:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 1.00 GiB")
        return self.model(x)


def test_latency_table_stops_at_the_first_batch_size_out_of_memory():
    table = latency_table(_SmallMemory(_model("resnet20")), "cpu", (1, 4, 16, 64), budget_s=0.01)
    assert list(table.batch_size) == [1, 4, 16]
    assert list(table.note) == ["", "", "out of memory"]
    assert table.latency_ms.isna().tolist() == [False, False, True]


def test_latency_display_rounds_to_three_digits_and_drops_empty_columns():
    table = pd.DataFrame({"batch_size": [1, 2, 4], "latency_ms": [1.23456, 123.456, float("nan")],
                          "images_per_s": [810.0001, 16.2, float("nan")],
                          "note": ["", "", "out of memory"]})
    shown = latency_display(table)
    assert list(shown.columns) == ["batch size", "latency (ms)", "images per second", "note"]
    assert shown["latency (ms)"].tolist()[:2] == [1.23, 123.0]
    assert shown["images per second"].tolist()[:2] == [810.0, 16.2]
    assert shown["latency (ms)"].isna().tolist() == [False, False, True]
    assert "note" not in latency_display(table.iloc[:2]).columns


def test_latency_table_leaves_the_model_as_it_was():
    """A cached model is shared by every session: timing must not move it or change its mode."""
    model = _model("resnet20").train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    latency_table(model, "cpu", (1,), budget_s=0.01)
    assert model.training
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_trust_problem_names_non_finite_weights_normalisation_and_outputs():
    model = _model("resnet20")
    assert trust_problem(model, (0.5,) * 3, (0.2,) * 3) is None
    assert "standard deviation of 0.2, 0, 0.2" in trust_problem(model, (0.5,) * 3, (0.2, 0, 0.2))
    overflowing = [[Prediction(0, "cat", float("nan"))]]
    assert "not finite" in trust_problem(model, (0.5,) * 3, (0.2,) * 3, overflowing)
    with torch.no_grad():
        model.layer2[0].conv1.weight[0, 0, 0, 0] = float("inf")
    assert "the first is layer2.0.conv1.weight" in trust_problem(model, (0.5,) * 3, (0.2,) * 3)


def test_prepare_image_resizes_and_normalises(tmp_path):
    path = tmp_path / "grey.png"
    Image.new("RGB", (50, 40), (51, 51, 51)).save(path)
    x = prepare_image(path, 32, (0.2, 0.2, 0.2), (0.5, 0.5, 0.5))
    assert x.shape == (1, 3, 32, 32)
    assert torch.allclose(x, torch.zeros_like(x), atol=1e-5)  # (51/255 - 0.2) / 0.5 = 0


def test_cli_infer_prints_the_top_classes(tmp_path, capsys):
    data = load_dataset("digits")
    result = train(get_preset("resnet20").replace(layers=(1, 1, 1)), data,
                   TrainConfig(steps=2, batch_size=16, precision="fp32"))
    checkpoint = tmp_path / "digits.pt"
    save_result(checkpoint, result)
    image = tmp_path / "digit.png"
    Image.fromarray((data.x_val[0].permute(1, 2, 0).numpy() * 255).astype("uint8")).save(image)
    parser = argparse.ArgumentParser()
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["infer", str(checkpoint), str(image), "--top", "3"])
    assert args.handler(args) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3 and lines[0].startswith("1. ")
    assert all(line.split(". ")[1].split("\t")[0] in data.classes for line in lines)
    args = parser.parse_args(["infer", str(image), str(image)])
    with pytest.raises(ValueError, match="not a PyTorch checkpoint"):
        args.handler(args)
