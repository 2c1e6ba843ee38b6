"""`python -m inspector check`: findings one a line or as JSON, and the exit status CI reads."""

import json
import subprocess
import sys
from pathlib import Path

from inspector.cli import main

ROOT = Path(__file__).resolve().parent.parent
SEEDS = str(Path(__file__).resolve().parent / "seed_networks.py")


def run(capsys, *argv):
    try:
        code = main(list(argv))
    except SystemExit as stop:  # argparse's usage errors
        code = stop.code
    out, err = capsys.readouterr()
    return code, out, err


def test_an_error_level_finding_exits_1_with_one_line_each(capsys):
    code, out, err = run(capsys, "check", f"{SEEDS}:ResNet18", "--input", "3x32x32")
    assert code == 1
    lines = out.splitlines()
    assert len(lines) == 9  # 2 errors, 4 warnings, 3 notes (tests/test_findings_seeds.py)
    assert lines[0].startswith("blk4: error: ") and lines[1].startswith("blk4: error: ")
    assert "512x1x1" in lines[1] and "512x2x2" in lines[1]
    assert lines[2].startswith("ResNet18: warning: named 18, counts 10")
    assert [line.split(": ")[1] for line in lines] == ["error"] * 2 + ["warning"] * 4 + \
        ["note"] * 3
    assert err.strip() == "ResNet18: 2 errors, 4 warnings, 3 notes"


def test_warnings_alone_pass_unless_fail_on_says_otherwise(capsys):
    target = f"{SEEDS}:ResidualNet"
    assert run(capsys, "check", target, "--input", "3x32x32")[0] == 0
    assert run(capsys, "check", target, "--input", "3x32x32", "--fail-on", "warning")[0] == 1
    assert run(capsys, "check", "resnet18")[0] == 0  # a preset: one note
    assert run(capsys, "check", "resnet18", "--fail-on", "note")[0] == 1
    assert run(capsys, "check", "resnet18", "--fail-on", "warning")[0] == 0


def test_a_design_made_too_small_and_a_spec_file_are_checked(capsys, tmp_path):
    from inspector import get_preset

    spec = tmp_path / "small.json"
    spec.write_text(get_preset("resnet18").replace(layers=(1, 1, 1, 1), input_size=32).to_json())
    code, out, _ = run(capsys, "check", str(spec), "--fail-on", "warning")
    assert code == 1
    # 32 -> 8 after the stem and pool, 4, 2, then layer4.0.conv1 (stride 2) on 2x2, conv2 on 1x1
    assert [line.split(": ")[:2] for line in out.splitlines()[:2]] == [
        ["layer4.0.conv1", "warning"], ["layer4.0.conv2", "warning"]]
    assert run(capsys, "check", str(spec))[0] == 0  # no error
    code, out, _ = run(capsys, "check", "resnet18", "--set", "layers=1,1,1,1")
    assert "resnet18 (layers=1,1,1,1): warning: named 18, counts 10 weighted layers" in out


def test_json_for_tools(capsys):
    code, out, _ = run(capsys, "check", f"{SEEDS}:ResNet18", "--input", "3x32x32",
                       "--format", "json")
    assert code == 1
    report = json.loads(out)
    assert report["network"] == "ResNet18"
    assert report["summary"] == "2 errors, 4 warnings, 3 notes"
    first = report["findings"][0]
    assert set(first) == {"severity", "rule", "where", "message", "fix", "nodes", "params",
                          "anchor"}
    dead = [f for f in report["findings"] if f["rule"] == "dead-taps"]
    assert [(f["where"], f["params"]) for f in dead] == [
        ("blk4.con1", 512 * 512 * 5), ("blk4.con2", 512 * 512 * 8)]
    assert all(f["severity"] in ("error", "warning", "note") for f in report["findings"])


def test_bad_input_exits_2_with_one_line(capsys, tmp_path):
    for argv in (["check", str(tmp_path / "missing.py") + ":Net"],
                 ["check", f"{SEEDS}:ResNet18", "--input", "3x32"],
                 ["check", f"{SEEDS}:NoSuchNet"],
                 ["check", "resnet_nope"],
                 ["check", "resnet18", "--format", "xml"],
                 ["check", "resnet18", "--set", "input_size=8"]):
        code, out, err = run(capsys, *argv)
        assert code == 2, argv
        assert out == "" and len(err.strip().splitlines()) == 1, (argv, err)


def test_the_command_runs_as_a_module():
    done = subprocess.run([sys.executable, "-m", "inspector", "check", "resnet20"], cwd=ROOT,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stderr.strip() == "resnet20: 1 note"
