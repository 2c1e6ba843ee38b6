"""`python -m inspector`: every subcommand on a preset and on a JSON spec; bad input exits 2."""

import subprocess
import sys
from pathlib import Path

import pytest

from inspector import get_preset
from inspector.cli import main
from inspector.render import dot_available

ROOT = Path(__file__).resolve().parent.parent
needs_dot = pytest.mark.skipif(not dot_available(),
                               reason="Graphviz's dot binary is not installed (apt-get install graphviz)")


@pytest.fixture
def spec_file(tmp_path):
    path = tmp_path / "small.json"
    path.write_text(get_preset("resnet20").replace(layers=(2, 2, 2)).to_json())
    return str(path)


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_presets(capsys):
    code, out, _ = run(capsys, "presets")
    assert code == 0
    lines = out.splitlines()
    assert len(lines) == 23
    # torchvision's 21,797,672 parameters for ResNet-34, in three figures
    assert lines[1].startswith("resnet34") and "21.8M params" in lines[1]


def test_summary_torchinfo_on_request(capsys):
    code, out, _ = run(capsys, "summary", "resnet18", "--torchinfo")
    assert code == 0
    assert "Total params: 11,689,512" in out  # torchvision's published count
    assert "Total mult-adds" in out and "| Stage |" not in out


def test_summary_on_a_preset_with_overrides(capsys):
    code, out, _ = run(capsys, "summary", "resnet50", "--set", "stride_in=1x1", "--set",
                       "input_size=32")
    assert code == 0
    assert out.startswith("resnet50 (stride_in=1x1, input_size=32)")
    assert "50 = 1 (stem conv) + 3 x (3+4+6+3) (block convs) + 1 (fc)" in out
    assert "25,557,032" in out  # parameters do not depend on the input size
    assert "| conv5_x | 3 | 1x1 | 2,048 |" in out  # 32 / 32 leaves one pixel


def test_summary_on_a_json_spec(capsys, spec_file):
    code, out, _ = run(capsys, "summary", spec_file)
    assert code == 0 and out.startswith("small\n")
    assert "14 = 1 (stem conv) + 2 x (2+2+2) (block convs) + 1 (fc)" in out
    code, out, _ = run(capsys, "summary", spec_file, "--layers", "--csv")
    assert code == 0 and out.startswith("layer,type,kernel,stride,groups,")
    assert "layer3.0.downsample,ZeroPadShortcut" in out


def test_graph_dot_to_stdout_and_files(capsys, spec_file, tmp_path):
    code, out, _ = run(capsys, "graph", "resnet34", "--format", "dot", "--direction", "LR")
    assert code == 0 and out.startswith("digraph") and "rankdir=LR" in out
    assert out.count("style=dashed") == 3
    target = tmp_path / "small.dot"
    code, _, err = run(capsys, "graph", spec_file, "--view", "layer", "--format", "dot",
                       "-o", str(target))
    assert code == 0 and "wrote" in err and target.read_text().startswith("digraph")


@needs_dot
@pytest.mark.parametrize("fmt, magic", [("svg", b"<?xml"), ("png", b"\x89PNG"), ("pdf", b"%PDF")])
def test_graph_formats(capsys, tmp_path, fmt, magic):
    target = tmp_path / f"g.{fmt}"
    code, _, _ = run(capsys, "graph", "resnet20", "--format", fmt, "-o", str(target), "--dpi", "50")
    assert code == 0 and target.read_bytes().startswith(magic)


def test_compare_presets_and_json(capsys, spec_file):
    code, out, _ = run(capsys, "compare", "resnet34", "resnet50")
    assert code == 0
    assert "17% more parameters" in out and "| params | 21,797,672 | 25,557,032 |" in out
    code, out, _ = run(capsys, "compare", spec_file, "resnet20", "--set-b", "shortcut=B")
    assert code == 0 and "resnet20 (shortcut=B) stacks 9 blocks" in out


@pytest.mark.parametrize("argv, message", [
    (["summary", "resnet18", "--set", "depth=50"], "Unknown field 'depth'"),
    (["summary", "resnet18", "--set", "input_size"], "--set expects key=value"),
    (["summary", "resnet18", "--set", "layers=2,two"], "layers must be"),
    (["summary", "resnet18", "--set", "input_size=8"], "too small"),
    (["graph", "resnet9000"], "Unknown preset 'resnet9000'"),
    (["graph", "resnet18", "--format", "png"], "give a file with -o"),
    (["summary", "missing.json"], "No such file"),
    (["compare", "resnet18", "resnet34", "--set-a", "shortcut=Z"], "shortcut must be"),
])
def test_bad_input_exits_2_with_one_line(capsys, argv, message):
    code, out, err = run(capsys, *argv)
    assert code == 2 and out == ""
    assert len(err.strip().splitlines()) == 1 and message in err


def test_usage_errors_are_one_line_too(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["graph", "resnet18", "--view", "pixels"])
    assert exit_info.value.code == 2
    assert len(capsys.readouterr().err.strip().splitlines()) == 1


def test_module_entry_point(tmp_path):
    result = subprocess.run([sys.executable, "-m", "inspector", "summary", "resnet18", "--set",
                             "widths=1,2"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ")
