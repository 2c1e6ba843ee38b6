"""`summary` and `graph` on a network given as path/to/file.py:NAME; bad input exits 2."""

from pathlib import Path

import pytest

from inspector.cli import main
from inspector.render import dot_available

NETWORKS = Path(__file__).resolve().parent / "user_networks.py"


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_summary_of_a_file_model(capsys):
    code, out, _ = run(capsys, "summary", f"{NETWORKS}:CifarResNet20", "--input", "3x32x32")
    assert code == 0
    assert "20 = 1 (stem conv) + 2 x (3+3+3) (block convs) + 1 (fc)" in out
    assert "params     269,722" in out  # He et al. Table 6: 0.27M; the preset's exact count
    assert "equivalent to resnet20" in out


@pytest.mark.skipif(not dot_available(), reason="Graphviz's dot is not installed")
def test_graph_of_a_file_model(capsys):
    code, out, _ = run(capsys, "graph", f"{NETWORKS}:TutorialResNet18", "--input", "3x32x32")
    assert code == 0 and "<svg" in out
    assert out.count("stroke-dasharray") == 3


@pytest.mark.parametrize("target, extra, message", [
    ("DataDependent", ("--input", "3x8x8"), "cannot trace"),
    ("NoSuchThing", (), "has no class or function"),
    ("CifarResNet20", ("--input", "1x32x32"), "rejects this input"),
    ("CifarResNet20", ("--input", "3x32"), "--input must be CxHxW"),
])
def test_bad_input_exits_2_with_one_line(capsys, target, extra, message):
    code, out, err = run(capsys, "summary", f"{NETWORKS}:{target}", *extra)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and message in err


def test_a_file_that_does_not_import(capsys, tmp_path):
    broken = tmp_path / "broken.py"
    broken.write_text("import not_a_module_anywhere\n")
    code, _, err = run(capsys, "summary", f"{broken}:Net")
    assert code == 2 and err.count("\n") == 1 and "does not import: ModuleNotFoundError" in err


def test_compare_a_file_model_with_a_preset(capsys):
    """The tutorial "ResNet18" of the first source post against the real one (torchvision)."""
    code, out, _ = run(capsys, "compare", f"{NETWORKS}:TutorialResNet18", "resnet18",
                       "--input", "3x32x32")
    assert code == 0
    lines = out.splitlines()
    assert lines[0].startswith("TutorialResNet18: depth 10 = ")
    assert "like tutorial_resnet10, with: " in lines[0]  # the post's net is ten layers deep
    assert lines[1].startswith("resnet18: depth 18 = ") and "equivalent to resnet18" in lines[1]
    params = next(line for line in lines if line.startswith("| params"))
    assert "11,689,512" in params  # torchvision's resnet18


def test_compare_two_file_models(capsys):
    code, out, _ = run(capsys, "compare", f"{NETWORKS}:CifarResNet20",
                       f"{NETWORKS}:CifarResNet20", "--input", "3x32x32")
    assert code == 0
    assert "CifarResNet20 (A)" in out and "CifarResNet20 (B)" in out
    depth = next(line for line in out.splitlines() if line.startswith("| depth"))
    assert depth.split("|")[2:5] == [" 20 ", " 20 ", " 0 "]


def test_compare_with_a_file_model_that_does_not_trace_exits_2(capsys):
    code, out, err = run(capsys, "compare", f"{NETWORKS}:DataDependent", "resnet18",
                         "--input", "3x8x8")
    assert code == 2 and out == "" and err.count("\n") == 1 and "cannot trace" in err


def test_summary_of_an_exported_program(capsys, tmp_path):
    """A `.pt2` saved by torch.export.save is a design argument too, read as data."""
    import torch

    from inspector import build_model, get_preset

    model = build_model(get_preset("resnet20"), device="cpu").eval()
    program = torch.export.export(model, (torch.randn(1, 3, 32, 32),))
    path = tmp_path / "resnet20.pt2"
    torch.export.save(program, path)
    code, out, _ = run(capsys, "summary", str(path))
    assert code == 0
    assert f"params     {sum(p.numel() for p in model.parameters()):,}" in out
    assert "20 = 1 (stem conv) + 2 x (3+3+3) (block convs) + 1 (fc)" in out
    code, _, err = run(capsys, "summary", str(tmp_path / "missing.pt2"))
    assert code == 2 and err.count("\n") == 1 and "missing.pt2" in err


def test_summary_options_mean_the_same_for_a_file_model(capsys):
    """The stage table by default, every layer with --layers, CSV of either with --csv."""
    target = f"{NETWORKS}:CifarResNet20"
    code, out, _ = run(capsys, "summary", target, "--input", "3x32x32")
    assert code == 0 and "| Stage | Blocks |" in out and "| conv4_x | 3 | 8x8 | 64 |" in out
    code, out, _ = run(capsys, "summary", target, "--input", "3x32x32", "--layers")
    assert code == 0 and "| Layer | Type |" in out and "| layers.8.conv2 |" in out
    code, out, _ = run(capsys, "summary", target, "--input", "3x32x32", "--csv")
    rows = out.splitlines()
    assert code == 0 and rows[0].startswith("stage,blocks,") and len(rows) == 6  # + 5 rows
    # the stage rows' parameters add up to the model's (He et al. Table 6: 0.27M)
    assert sum(int(r.split(",")[4]) for r in rows[1:]) == 269_722


def test_torchinfo_of_a_file_model(capsys):
    code, out, _ = run(capsys, "summary", f"{NETWORKS}:CifarResNet20", "--input", "3x32x32",
                       "--torchinfo")
    assert code == 0 and "Total params: 269,722" in out


@pytest.mark.parametrize("argv", [
    ("summary", f"{NETWORKS}:CifarResNet20", "--set", "layers=2,2,2"),
    ("graph", f"{NETWORKS}:CifarResNet20", "--set", "layers=2,2,2", "--format", "dot"),
    ("compare", f"{NETWORKS}:CifarResNet20", "resnet20", "--set-a", "layers=2,2,2"),
])
def test_set_on_a_file_model_is_refused_with_a_sentence(capsys, argv):
    code, out, err = run(capsys, *argv, "--input", "3x32x32")
    assert code == 2 and out == "" and err.count("\n") == 1
    assert "is a model with no spec" in err
