"""The Your model page, driven by AppTest: an uploaded program is shown like a preset, and a
Python file is never run unless the server opted in.

AppTest cannot upload files, so the tests put the upload where the page keeps it (the session).
"""

from __future__ import annotations


from inspector.model import build_model
from inspector.presets import get_preset
from inspector.user_model import ALLOW_CODE_VARIABLE
from test_app_pages import assert_clean, graphs, metric, open_page
from test_exported import export_bytes

PAGE = "pages/own_model.py"

MARKED_CODE = """
from pathlib import Path
Path({marker!r}).write_text("ran")
import torch.nn as nn

def Net():
    return nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU())
"""


def run_with(at, key: str, value) -> None:
    at.session_state[key] = value
    at.run()


def test_uploaded_program_shows_figures_graph_explanation_and_comparison():
    model = build_model(get_preset("resnet18"), "cpu")
    at = open_page(PAGE)
    run_with(at, "own_program", ("my_net.pt2", export_bytes(model, (3, 64, 64))))
    assert_clean(at, "resnet18 program")
    assert metric(at, "Parameters") == f"{sum(p.numel() for p in model.parameters()):,}"
    assert metric(at, "Depth") == "18"
    (svg,) = graphs(at)
    assert svg.count("stroke-dasharray") >= 3  # the three projection shortcuts
    assert any("Like resnet18, with: input 64x64" in i.value.replace("\\", "") for i in at.info)
    assert at.selectbox(key="own_preset").value == "resnet18"
    at.selectbox(key="own_preset").set_value("resnet34").run()
    assert_clean(at, "compared with resnet34")
    totals = next(f.value for f in at.dataframe if "measure" in f.value.columns)
    depth = totals.set_index("measure").loc["Depth"]
    assert (depth["resnet34"], depth["difference"]) == (34, 16)


def test_a_bad_upload_is_one_sentence():
    at = open_page(PAGE)
    run_with(at, "own_program", ("notes.pt2", b"<b>not</b> a program"))
    assert not at.exception
    (error,) = at.error
    assert "not a zip archive" in error.value


def test_python_file_does_not_run_without_the_opt_in(tmp_path, monkeypatch):
    monkeypatch.delenv(ALLOW_CODE_VARIABLE, raising=False)
    marker = tmp_path / "ran"
    at = open_page(PAGE)
    assert not [u for u in at.get("file_uploader") if "Python" in str(u.proto.label)]
    run_with(at, "own_code", ("net.py", MARKED_CODE.format(marker=str(marker)).encode(), "Net",
                              "3x32x32"))
    assert not marker.exists()
    (error,) = at.error
    assert ALLOW_CODE_VARIABLE in error.value.replace("\\", "")  # shown escaped


def test_python_file_runs_with_the_opt_in(tmp_path, monkeypatch):
    monkeypatch.setenv(ALLOW_CODE_VARIABLE, "1")
    marker = tmp_path / "ran"
    at = open_page(PAGE)
    assert any("runs its code" in e.label for e in at.expander)
    run_with(at, "own_code", ("net.py", MARKED_CODE.format(marker=str(marker)).encode(), "Net",
                              "3x32x32"))
    assert_clean(at, "opted-in code")
    assert marker.exists()
    assert metric(at, "Parameters") == f"{3 * 8 * 9 + 8:,}"
    assert any("no residual blocks found" in w.value.replace("\\", "") for w in at.warning)


def test_an_uploaded_model_against_its_closest_preset_block_by_block(tmp_path):
    from inspector.cli import main

    model = build_model(get_preset("resnet18"), "cpu")
    program = export_bytes(model, (3, 64, 64))
    at = open_page(PAGE)
    run_with(at, "own_program", ("my_net.pt2", program))
    at.button(key="own_diff_button").click().run()
    assert_clean(at, "diff against resnet18")
    # The same network (at another input size, which the diff does not compare): nothing marked.
    assert any("0 changed, 0 added (only in B), 0 removed (only in A), 8 the same" in c.value
               for c in at.caption)
    diff = graphs(at)[-1]
    assert "diff&#45;changed" not in diff and "B: resnet18" in diff
    at.selectbox(key="own_preset").set_value("resnet34").run()
    assert len(graphs(at)) == 1, "a diff asked for resnet18 is not shown for resnet34"
    at.button(key="own_diff_button").click().run()
    assert any("0 changed, 8 added (only in B)" in c.value for c in at.caption)
    # The same program from the command line.
    path = tmp_path / "my_net.pt2"
    path.write_bytes(program)
    assert main(["diff", str(path), "resnet34", "-o", str(tmp_path / "d.svg")]) == 0
    assert b"diff&#45;added" in (tmp_path / "d.svg").read_bytes()


def test_uploaded_python_runs_in_a_child_with_limits_that_the_page_names(monkeypatch):
    """A file that ends the program in __init__ is one sentence, and the server keeps running."""
    monkeypatch.setenv(ALLOW_CODE_VARIABLE, "1")
    monkeypatch.setenv("RESNET_INSPECTOR_CODE_TIMEOUT_S", "20")
    at = open_page(PAGE)
    caption = " ".join(c.value.replace("\\", "") for c in at.caption)
    assert "separate process, which is stopped after 20 s and 1 GB of memory" in caption
    source = b"import torch.nn as nn\nclass Net(nn.Module):\n    def __init__(self):\n" \
             b"        raise SystemExit(0)\n"
    run_with(at, "own_code", ("net.py", source, "Net", "3x32x32"))
    assert not at.exception
    (error,) = at.error
    assert "tried to end the program (SystemExit(0))" in error.value.replace("\\", "")
