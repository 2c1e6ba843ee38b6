"""Uploaded torch.export programs: analysed like modules, and read as data only.

The figures are checked against an independent count (`sum(p.numel())` of the model that was
exported) and against the analysis of the same model given as a module; the crafted archives
each carry something torch.export.load would unpickle, evaluate or call.
"""

from __future__ import annotations

import io
import json
import pickle
import zipfile
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
import torch

from inspector.analysis import analyze
from inspector.exported import analyze_program, load_program
from inspector.model import build_model
from inspector.op_trace import ModelError
from inspector.presets import get_preset


def export_bytes(model: torch.nn.Module, shape: tuple[int, ...], **kwargs) -> bytes:
    program = torch.export.export(model.eval(), (torch.randn(1, *shape),), **kwargs)
    buffer = io.BytesIO()
    torch.export.save(program, buffer)
    return buffer.getvalue()


@pytest.fixture(scope="module")
def resnet20_pt2() -> bytes:
    """The paper's CIFAR ResNet-20: option-A shortcuts (slices and zero channels) in ATen."""
    return export_bytes(build_model(get_preset("resnet20"), "cpu"), (3, 32, 32))


@pytest.fixture(scope="module")
def resnet18_pt2() -> bytes:
    return export_bytes(build_model(get_preset("resnet18"), "cpu"), (3, 64, 64))


def rewrite(data: bytes, changes: dict[str, bytes | None],
            compress: int = zipfile.ZIP_STORED) -> bytes:
    """The archive with entries replaced, added (bytes) or removed (None); names after the top
    folder."""
    source = zipfile.ZipFile(io.BytesIO(data))
    top = source.namelist()[0].split("/")[0]
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=compress) as target:
        for name in source.namelist():
            rest = name.split("/", 1)[1]
            if rest in changes:
                continue
            target.writestr(name, source.read(name))
        for rest, payload in changes.items():
            if payload is not None:
                target.writestr(f"{top}/{rest}", payload)
    return out.getvalue()


def edit_json(data: bytes, name: str, edit) -> bytes:
    value = json.loads(zipfile.ZipFile(io.BytesIO(data)).read(
        f"{zipfile.ZipFile(io.BytesIO(data)).namelist()[0].split('/')[0]}/{name}"))
    edit(value)
    return rewrite(data, {name: json.dumps(value).encode()})


class Marker:
    """Unpickling this writes a file: proof that a payload was unpickled."""

    path = ""

    def __reduce__(self):
        return (Path(self.path).write_text, ("unpickled",))


# ----- analysed like the module -----------------------------------------------------------------


@pytest.mark.parametrize("preset, shape", [("resnet20", (3, 32, 32)), ("resnet18", (3, 64, 64))])
def test_program_gives_the_modules_facts(preset, shape, request):
    data = request.getfixturevalue(f"{preset}_pt2")
    model = build_model(get_preset(preset), "cpu")
    result = analyze_program(data, preset)
    assert result.params == sum(p.numel() for p in model.parameters())
    module_facts = analyze(model, shape).facts
    if preset == "resnet20":
        # ATen writes option A's x[:, :, ::2, ::2] as two slices: one more small tensor each.
        assert result.facts.activation_bytes > module_facts.activation_bytes
        module_facts = replace(module_facts, activation_bytes=result.facts.activation_bytes)
    assert result.facts == module_facts
    assert result.input_shape == (1, *shape)


def test_resnet20_program_is_recognised_with_its_zero_padding_shortcuts(resnet20_pt2):
    result = analyze_program(resnet20_pt2)
    assert result.depth == 20
    assert result.shortcut_kinds().count("identity_pad") == 2
    assert result.closest().sentence == "equivalent to resnet20"
    assert result.svg().count("stroke-dasharray") >= 2


def test_layer_names_are_the_users_module_paths(resnet18_pt2):
    table = analyze_program(resnet18_pt2).layer_table()
    assert {"conv1", "layer1.0.conv1", "layer4.1.bn2", "fc"} <= set(table["layer"])


def test_weights_are_never_read(resnet18_pt2):
    """Zeroing every weight record changes nothing: only the JSON's shapes are used."""
    names = [n.split("/", 1)[1] for n in zipfile.ZipFile(io.BytesIO(resnet18_pt2)).namelist()
             if "/data/weights/weight_" in n]
    emptied = rewrite(resnet18_pt2, {n: b"" for n in names})
    program = load_program(emptied)
    assert all(p.device.type == "meta" for p in program.state_dict.values())
    assert analyze_program(emptied).params == analyze_program(resnet18_pt2).params


# ----- read as data only ------------------------------------------------------------------------


def test_pickled_weight_is_refused_without_unpickling(resnet20_pt2, tmp_path):
    Marker.path = str(tmp_path / "ran")
    payload = pickle.dumps(Marker())

    def mark_pickled(config):
        entry = next(iter(config["config"].values()))
        entry["use_pickle"] = True

    data = edit_json(resnet20_pt2, "data/weights/model_weights_config.json", mark_pickled)
    data = rewrite(data, {"data/weights/weight_0": payload})
    with pytest.raises(ModelError, match="pickled object"):
        analyze_program(data)
    assert not (tmp_path / "ran").exists()


def test_pickled_sample_inputs_are_never_opened(resnet20_pt2, tmp_path):
    """torch retries sample inputs with weights_only=False; here they are not read at all."""
    Marker.path = str(tmp_path / "ran")
    data = rewrite(resnet20_pt2, {"data/sample_inputs/model.pt": pickle.dumps(Marker())})
    assert analyze_program(data).depth == 20
    assert not (tmp_path / "ran").exists()


@pytest.mark.parametrize("entry", ["data/aotinductor/model/model.so", "data/weights/model.pt",
                                   "data/constants/custom_obj_0", "serialized_state_dict.json"])
def test_entries_torch_would_run_or_unpickle_are_refused(resnet20_pt2, entry):
    with pytest.raises(ModelError, match="not read here"):
        load_program(rewrite(resnet20_pt2, {entry: b"x"}))


def test_a_call_outside_aten_is_refused(resnet20_pt2):
    def call_system(program):
        program["graph_module"]["graph"]["nodes"][0]["target"] = "torch.os.system"

    with pytest.raises(ModelError, match="'torch.os.system', which is not an ATen operator"):
        load_program(edit_json(resnet20_pt2, "models/model.json", call_system))


def test_symbolic_expressions_are_refused_before_sympy_sees_them(resnet20_pt2):
    def add_expression(program):
        program["graph_module"]["graph"]["sym_int_values"] = {
            "s0": {"as_expr": {"expr_str": "__import__('os').system('true')", "hint": None}}}

    with pytest.raises(ModelError, match="dynamic shapes"):
        load_program(edit_json(resnet20_pt2, "models/model.json", add_expression))


@pytest.mark.parametrize("data, message", [
    (b"not a zip at all", "not a zip archive"),
    (b"", "not a zip archive"),
])
def test_foreign_bytes_are_one_sentence(data, message):
    with pytest.raises(ModelError, match=message):
        load_program(data)


def test_compressed_archive_is_refused(resnet20_pt2):
    with pytest.raises(ModelError, match="compressed"):
        load_program(rewrite(resnet20_pt2, {}, compress=zipfile.ZIP_DEFLATED))


def test_declared_size_beyond_the_limit_is_refused_before_allocating(resnet20_pt2):
    def huge(config):
        entry = next(iter(config["config"].values()))
        entry["tensor_meta"]["sizes"] = [{"as_int": 100_000}, {"as_int": 100_000}]

    with pytest.raises(ModelError, match="billion weights"):
        load_program(edit_json(resnet20_pt2, "data/weights/model_weights_config.json", huge))


def test_a_saved_module_with_a_plain_dict_is_not_a_program():
    buffer = io.BytesIO()
    torch.save({"weight": torch.zeros(2)}, buffer)
    with pytest.raises(ModelError, match="not read here"):
        load_program(buffer.getvalue())


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_any_corruption_of_the_graph_is_a_sentence_or_a_result(resnet20_pt2, data):
    """Random byte changes in the graph's JSON: torch.export.load would be at their mercy."""
    archive = zipfile.ZipFile(io.BytesIO(resnet20_pt2))
    name = next(n for n in archive.namelist() if n.endswith("models/model.json"))
    text = bytearray(archive.read(name))
    for _ in range(data.draw(st.integers(1, 8))):
        text[data.draw(st.integers(0, len(text) - 1))] = data.draw(st.integers(32, 126))
    try:
        analyze_program(rewrite(resnet20_pt2, {name.split("/", 1)[1]: bytes(text)}))
    except ModelError as error:
        assert str(error) and "\n" not in str(error)
