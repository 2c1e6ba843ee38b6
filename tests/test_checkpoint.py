"""Checkpoints: round trips, torchvision-format state_dicts, and clear errors for other files."""

from __future__ import annotations

import io
import pickle
from dataclasses import asdict

import pytest
import torch
from PIL import Image

from inspector import build_model, get_preset
from inspector.checkpoint import (CheckpointError, load_checkpoint, read_checkpoint, result_bytes,
                                  save_checkpoint, save_result)
from inspector.data import load_dataset, normalize
from inspector.train import TrainConfig, train

SMALL = get_preset("resnet20").replace(layers=(1, 1, 1))


@pytest.fixture(scope="module")
def trained():
    data = load_dataset("synthetic", image_size=16, num_train=64, num_val=16, num_classes=4)
    result = train(SMALL, data, TrainConfig(steps=3, batch_size=16, log_every=1,
                                            precision="fp32"))
    return data, result


def test_round_trip_gives_identical_outputs(trained, tmp_path):
    data, result = trained
    path = tmp_path / "run.pt"
    save_result(path, result)
    x = normalize(data.x_val, data.mean, data.std)
    with torch.no_grad():
        expected = result.model.eval()(x)
    for source in (path, str(path), path.read_bytes(), io.BytesIO(result_bytes(result))):
        loaded = read_checkpoint(source)
        with torch.no_grad():
            assert torch.equal(loaded.model(x), expected)
        assert loaded.spec == result.spec and loaded.spec.num_classes == 4
        assert loaded.metrics == [asdict(e) for e in result.metrics]
        assert loaded.classes == data.classes and loaded.mean == data.mean
        assert loaded.dataset == "synthetic" and loaded.config["steps"] == 3
    spec, model, metrics = load_checkpoint(path)
    assert spec == result.spec and len(metrics) == 3 and not model.training


def test_checkpoints_load_with_weights_only(trained, monkeypatch):
    _, result = trained
    seen = []
    original = torch.load

    def spy(*args, **kwargs):
        seen.append(kwargs.get("weights_only"))
        return original(*args, **kwargs)

    monkeypatch.setattr(torch, "load", spy)
    read_checkpoint(result_bytes(result))
    assert seen == [True]


def _torchvision_style_resnet18() -> tuple[dict, torch.nn.Module]:
    torch.manual_seed(0)
    model = build_model(get_preset("resnet18"), "cpu")
    for module in model.modules():  # non-trivial statistics, so a bad load would show
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-0.1, 0.1)
            module.running_var.uniform_(0.5, 1.5)
    return {key: value.clone() for key, value in model.state_dict().items()}, model.eval()


def test_torchvision_format_state_dict_loads_strictly_into_resnet18(tmp_path):
    state, original = _torchvision_style_resnet18()
    # torchvision's resnet18 keys: 62 parameters and 20 batch norms x 3 buffers
    assert len(state) == 122
    assert tuple(state["layer2.0.downsample.0.weight"].shape) == (128, 64, 1, 1)
    assert tuple(state["layer4.1.bn2.running_var"].shape) == (512,)
    assert tuple(state["fc.weight"].shape) == (1000, 512)
    path = tmp_path / "resnet18-weights.pth"
    torch.save(state, path)  # what torch.save(torchvision_model.state_dict(), path) writes
    loaded = read_checkpoint(path)
    assert loaded.spec == get_preset("resnet18") and loaded.source_format == "state_dict"
    x = torch.randn(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(loaded.model(x), original(x))
    # DataParallel's "module." prefix and a {"state_dict": ...} wrapper are common too
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}, "epoch": 90}, path)
    assert read_checkpoint(path).spec == get_preset("resnet18")


def test_a_state_dict_that_does_not_fit_is_an_error(tmp_path):
    state, _ = _torchvision_style_resnet18()
    del state["layer3.1.conv2.weight"]
    buffer = io.BytesIO()
    torch.save(state, buffer)
    with pytest.raises(CheckpointError, match="No preset matches"):
        read_checkpoint(buffer.getvalue())
    with pytest.raises(CheckpointError, match="do not fit"):
        read_checkpoint(buffer.getvalue(), spec=get_preset("resnet18"))


class _Payload:
    def __reduce__(self):
        return (print, ("this must never run",))


def test_files_that_are_not_checkpoints_give_clear_errors(tmp_path, capsys):
    image = io.BytesIO()
    Image.new("RGB", (8, 8)).save(image, format="PNG")
    with_object = io.BytesIO()
    torch.save({"model": _Payload()}, with_object)
    not_weights = io.BytesIO()
    torch.save({"epoch": 3, "note": "hello"}, not_weights)
    cases = [
        (image.getvalue(), "not a PyTorch checkpoint"),
        (b"just some text\n", "not a PyTorch checkpoint"),
        (b"", "not a PyTorch checkpoint"),
        (with_object.getvalue(), "not loaded for safety"),
        (pickle.dumps(_Payload(), protocol=2), "not loaded for safety"),
        (not_weights.getvalue(), "not a ResNet checkpoint"),
        (str(tmp_path / "missing.pt"), "No such file"),
    ]
    for source, words in cases:
        with pytest.raises(CheckpointError, match=words):
            read_checkpoint(source)
    assert "must never run" not in capsys.readouterr().out


def test_save_checkpoint_takes_plain_metrics(tmp_path):
    model = build_model(SMALL, "cpu")
    save_checkpoint(tmp_path / "plain.pt", SMALL, model, [{"step": 1, "loss": 2.0}])
    spec, _, metrics = load_checkpoint(tmp_path / "plain.pt")
    assert spec == SMALL and metrics == [{"step": 1, "loss": 2.0}]
