"""The standalone export runs without this project and builds the very same network."""

import importlib.util
import subprocess
import sys

import pytest
import torch

from inspector import build_model, compute_facts, get_preset
from inspector.codegen import standalone_source


def load_module(path):
    module_spec = importlib.util.spec_from_file_location(path.stem, path)
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", ["resnet18", "resnet50_v1", "resnext50_32x4d", "resnet50d",
                                  "resnet20", "plain20", "preact_resnet164", "tutorial_resnet10"])
def test_generated_file_builds_the_same_network(tmp_path, name):
    spec = get_preset(name)
    path = tmp_path / f"generated_{name}.py"
    path.write_text(standalone_source(spec))
    generated = load_module(path).build().eval()
    assert sum(p.numel() for p in generated.parameters()) == compute_facts(spec).params
    ours = build_model(spec, device="cpu").eval()
    generated.load_state_dict(ours.state_dict(), strict=True)
    x = torch.randn(2, spec.in_channels, spec.input_size, spec.input_size)
    with torch.no_grad():
        expected = ours(x)
        actual = generated(x)
    assert actual.shape == (2, spec.num_classes)
    torch.testing.assert_close(actual, expected)


def test_generated_file_needs_only_torch(tmp_path):
    path = tmp_path / "net.py"
    spec = get_preset("resnet20").replace(zero_init_residual=True)
    path.write_text(standalone_source(spec))
    # -I: isolated mode, so this project is not importable from the child process.
    result = subprocess.run([sys.executable, "-I", str(path)], capture_output=True, text=True,
                            cwd=tmp_path, timeout=120)
    assert result.returncode == 0, result.stderr
    # The paper gives ResNet-20 0.27M parameters; the exact count comes from the built model.
    params = sum(p.numel() for p in build_model(spec).parameters())
    assert round(params / 1e6, 2) == 0.27
    assert f"{params:,} parameters; output (2, 10)" in result.stdout
