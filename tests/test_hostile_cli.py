"""Hostile command lines, spec files and Python calls: one error type, one sentence.

The CLI's contract: exit 0, or exit 2 with exactly one short line on stderr and never a
traceback. Underneath, the core's: a design that cannot be built, however odd its values or
types, raises SpecError with a sentence (the CLI prints it; pages show it).
"""

from __future__ import annotations

import contextlib
import io
import json
import os

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from inspector import PRESETS, get_preset
from inspector.cli import EXIT_BAD_INPUT, main
from inspector.cli_common import MAX_SPEC_FILE_BYTES
from inspector.spec import MAX_ECHO, ResNetSpec, SpecError, parse_field, quote
from inspector.trace import inspect_block

FIELDS = list(ResNetSpec.__dataclass_fields__)
#: One line: a sentence plus quoted values of at most MAX_ECHO characters (the unknown-preset
#: sentence also lists every preset's name).
MAX_LINE = 700
OVERFLOWING = ("num_classes", "expansion", "groups", "width_per_group")


def run_cli(argv: list[str]) -> tuple[int, str, str]:
    """`python -m inspector ARGV` in-process: (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as stop:  # argparse's usage errors
            code = stop.code
    return code, out.getvalue(), err.getvalue()


def assert_one_sentence(code: int, err: str) -> None:
    assert code in (0, EXIT_BAD_INPUT), (code, err[:300])
    if code == EXIT_BAD_INPUT:
        assert err.endswith("\n") and err.count("\n") == 1, err[:300]
        assert len(err) <= MAX_LINE, f"{len(err):,}-character error line"
        assert "Traceback" not in err


# ----- the audit's findings -----------------------------------------------------------------


@pytest.mark.parametrize("field", OVERFLOWING)
def test_300_digit_numbers_in_set_are_one_line(field):
    code, _, err = run_cli(["summary", "resnet50", "--set", f"{field}={'9' * 300}"])
    assert code == EXIT_BAD_INPUT and field in err
    assert_one_sentence(code, err)
    # Shorter, but still far past every limit: the bound names the field and the limit.
    code, _, err = run_cli(["summary", "resnet50", "--set", f"{field}={'9' * 100}"])
    assert code == EXIT_BAD_INPUT and "must be 1 to" in err
    assert_one_sentence(code, err)


@pytest.mark.parametrize("field", OVERFLOWING)
def test_300_digit_numbers_in_a_json_spec_are_one_line(tmp_path, field):
    path = tmp_path / "big.json"
    path.write_text(json.dumps({**get_preset("resnet50").to_dict(), field: 10**300}))
    code, _, err = run_cli(["summary", str(path)])
    assert code == EXIT_BAD_INPUT and "about 300 digits" in err
    assert_one_sentence(code, err)


@pytest.mark.parametrize("text, fragment", [
    ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
    ('{"num_classes": ' + "9" * 5000 + "}", "number too long"),
    ('{"layers": ' + "[" * 500 + "]" * 500 + "}", "layers must be a list"),
    ('{"stem": "' + "[evil](http://host/evil)" * 1000 + '"}', "stem must be one of"),
])
def test_hostile_json_specs_are_one_line(tmp_path, text, fragment):
    path = tmp_path / "hostile.json"
    path.write_text(text)
    code, _, err = run_cli(["summary", str(path)])
    assert code == EXIT_BAD_INPUT and fragment in err, err[:300]
    assert_one_sentence(code, err)


def test_a_spec_path_that_is_not_a_small_regular_file_is_refused_before_reading(tmp_path):
    zero = tmp_path / "zero.json"
    zero.symlink_to("/dev/zero")  # read whole, this never ends: the audit's MemoryError
    fifo = tmp_path / "fifo.json"
    os.mkfifo(fifo)  # opened for reading, this blocks forever
    folder = tmp_path / "folder.json"
    folder.mkdir()
    big = tmp_path / "big.json"
    big.write_text(" " * (MAX_SPEC_FILE_BYTES + 1))
    binary = tmp_path / "binary.json"
    binary.write_bytes(b"\xff\xfe\x00")
    cases = {zero: "not a regular file", fifo: "not a regular file",
             folder: "not a regular file", big: f"at most {MAX_SPEC_FILE_BYTES:,}",
             binary: "not UTF-8", tmp_path / "missing.json": "No such file",
             "a\0b.json": "not a usable file name",
             f"{tmp_path}/{'x' * 5000}.json": "File name too long"}
    for target, fragment in cases.items():
        code, _, err = run_cli(["summary", str(target)])
        assert code == EXIT_BAD_INPUT and fragment in err, (target, err[:300])
        assert_one_sentence(code, err)


def test_a_long_design_name_or_set_item_is_quoted_short():
    for argv in (["summary", "y" * 1_000_000], ["summary", "resnet18", "--set", "z" * 1_000_000],
                 ["summary", "resnet18", "--set", f"stem={'x' * 1_000_000}"]):
        code, _, err = run_cli(argv)
        assert code == EXIT_BAD_INPUT
        assert_one_sentence(code, err)


def test_validate_checks_types_itself():
    for changes in ({"layers": "abc"}, {"groups": "2"}, {"preact": "yes"}, {"block": 1},
                    {"widths": (64.5, 128, 256, 512)}, {"num_classes": None}):
        with pytest.raises(SpecError, match="must be"):
            ResNetSpec(**changes).validate()


@pytest.mark.parametrize("arguments, fragment", [
    (("basic", "64", 64, 1, "B", (1, 64, 8, 8)), "in_channels must be a whole number"),
    (("basic", 64, 64.0, 1, "B", (1, 64, 8, 8)), "out_channels must be a whole number"),
    (("basic", 64, 64, 1, ["B"], (1, 64, 8, 8)), "shortcut must be text"),
    ((None, 64, 64, 1, "B", (1, 64, 8, 8)), "block must be text"),
    (("basic", 64, 64, 1, "B", None), "input_shape must be a list"),
    (("basic", 64, 64, 1, "B", (1, 64, 8, 10**30)), "four positive whole numbers"),
    (("basic", 10**300, 64, 1, "B", (1, 10**300, 8, 8)), "four positive whole numbers"),
])
def test_inspect_block_with_wrong_types_is_a_spec_error(arguments, fragment):
    with pytest.raises(SpecError, match=fragment):
        inspect_block(*arguments)


def test_quote_is_short_and_never_fails():
    nested: list = []
    for _ in range(5000):
        nested = [nested]
    for value in ("x" * 10**6, 10**5000, nested, {"a": [1] * 10**5}, b"\x00" * 10**5):
        text = quote(value)
        assert 0 < len(text) <= MAX_ECHO
    assert quote("resnet50") == "'resnet50'"


# ----- properties over generated command lines and values -----------------------------------

hostile_text = st.one_of(
    st.text(max_size=40),
    st.integers(20, 400).map(lambda digits: "9" * digits),
    st.integers(201, 20_000).map(lambda size: "x" * size),
    st.lists(st.integers(-5, 2000), max_size=8).map(lambda items: ",".join(map(str, items))),
    st.integers(-10, 10**7).map(str),
    st.sampled_from(["true", "auto", "none", "1x1", "cifar", "D", "[evil](http://host/evil)",
                     "", " ", "1e3", "0x10", "nan", "-0", "1_000"]),
)
set_items = st.one_of(
    st.builds(lambda key, value: f"{key}={value}", st.sampled_from(FIELDS), hostile_text),
    st.builds(lambda key, value: f"{key}={value}", st.text(max_size=20), hostile_text),
    st.text(max_size=40),
)
designs = st.one_of(st.sampled_from(list(PRESETS)), st.text(max_size=40),
                    st.text(max_size=20).map(lambda name: f"{name}.json"))


def with_set_examples(test):
    """The audit's `--set` calls, tried first on every run."""
    for field in OVERFLOWING:
        test = example("resnet50", [f"{field}={'9' * 300}"])(test)
    test = example("resnet20", ["layers=201,1,1"])(test)
    test = example("resnet18", ["layers=abc"])(test)
    return test


@with_set_examples
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(designs, st.lists(set_items, max_size=3))
def test_any_summary_call_exits_0_or_2_with_one_line(design, sets):
    argv = ["summary", design]
    for item in sets:
        argv += ["--set", item]
    code, out, err = run_cli(argv)
    assert_one_sentence(code, err)
    if code == 0:
        assert not err and out


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(FIELDS), hostile_text)
def test_parse_field_returns_a_value_or_a_spec_error(field, text):
    try:
        value = parse_field(field, text)
    except SpecError as error:
        assert len(str(error)) <= MAX_LINE and str(error).endswith(".")
        return
    try:
        get_preset("resnet18").replace(**{field: value}).validate()
    except SpecError as error:
        assert len(str(error)) <= MAX_LINE and str(error).endswith(".")


json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**400), 10**400) | st.floats()
    | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner,
                                                                max_size=3),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=5))
def test_any_json_values_are_a_spec_or_a_spec_error(data):
    try:
        ResNetSpec.from_dict({**get_preset("resnet18").to_dict(), **data}).validate()
    except SpecError as error:
        assert len(str(error)) <= MAX_LINE and str(error).endswith(".")


whole_or_not = st.one_of(st.integers(-3, 70), st.integers(10**20, 10**300), st.text(max_size=5),
                         st.none(), st.floats(allow_nan=True), st.booleans())


@settings(max_examples=60, deadline=None)
@given(block=st.sampled_from(["basic", "bottleneck", "other", 3]), channels=whole_or_not,
       out_channels=whole_or_not, stride=whole_or_not, size=whole_or_not,
       shortcut=st.sampled_from(["A", "B", "C", "D", None]))
def test_inspect_block_returns_or_raises_a_spec_error(block, channels, out_channels, stride,
                                                      size, shortcut):
    try:
        inspection = inspect_block(block, channels, out_channels, stride, shortcut,
                                   (1, channels, size, size))
    except SpecError as error:
        assert len(str(error)) <= MAX_LINE and str(error).endswith(".")
        return
    assert inspection.output_shape[1] == out_channels


# ----- seeds and warnings ---------------------------------------------------------------------


@pytest.mark.parametrize("seed", [2**64, 2**70, -1])
def test_a_seed_torch_cannot_take_is_refused_before_training_is_announced(seed, tmp_path):
    code, out, err = run_cli(["train", "--seed", str(seed), "--steps", "1",
                              "--out", str(tmp_path / "run.pt")])
    assert code == EXIT_BAD_INPUT and out == "" and "Training" not in err
    assert "Seed must be a whole number from 0 to 18,446,744,073,709,551,615" in err
    assert_one_sentence(code, err)


def test_the_largest_seed_is_one_torch_takes():
    import torch

    from inspector.train import MAX_SEED, TrainConfig

    TrainConfig(steps=1, seed=MAX_SEED).validate()
    torch.Generator().manual_seed(MAX_SEED)
    with pytest.raises((RuntimeError, ValueError)):  # the bound is torch's own
        torch.Generator().manual_seed(MAX_SEED + 1)


def _cli_in_a_fresh_process(*argv: str) -> tuple[int, str]:
    """Real stderr, with Python's default warning filters (pytest's capture would hide them)."""
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    child = subprocess.run([sys.executable, "-m", "inspector", *argv], cwd=root,
                           capture_output=True, text=True, timeout=300,
                           env={**os.environ, "PYTHONPATH": str(root)})
    return child.returncode, child.stderr


def test_library_warnings_stay_out_of_the_one_line_errors(tmp_path):
    """A raw pickle checkpoint (torch warns about its protocol) and a folder dataset with one
    image per class (torch warns about the standard deviation of one image)."""
    import pickle

    import numpy as np
    from PIL import Image

    (tmp_path / "raw.pt").write_bytes(pickle.dumps({"weights": [1, 2]}, protocol=4))
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "image.png")
    for name in ("cats", "dogs"):
        (tmp_path / "folder" / name).mkdir(parents=True)
        Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "folder" / name / "a.png")
    for argv, words in (
            (("infer", str(tmp_path / "raw.pt"), str(tmp_path / "image.png")),
             "Python objects other than tensors"),
            (("train", "--dataset", "folder", "--data-path", str(tmp_path / "folder"),
              "--steps", "1", "--out", str(tmp_path / "run.pt")), "no training images")):
        code, err = _cli_in_a_fresh_process(*argv)
        assert code == EXIT_BAD_INPUT and words in err and "Warning" not in err, err
        assert_one_sentence(code, err)
