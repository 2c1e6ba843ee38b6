"""Which ATen operators a `.pt2` program may call: checked against every registered overload's
schema, and crafted programs that call a side-effect operator refused with nothing written.

The crafted archives start from a real export of a small network and change one call in its
`models/model.json`, as an attacker would with a text editor.
"""

from __future__ import annotations

import re

import pytest
import torch
from torch import nn

from inspector import exported
from inspector.cli import main
from inspector.exported import analyze_program, load_program, program_module
from inspector.op_trace import ModelError
from inspector.program_ops import ALLOWED_OPS, IN_PLACE_AS
from test_exported import edit_json, export_bytes

#: Families of operators with effects beyond their result, by name; each pattern is checked to
#: match real overloads so that it cannot pass by matching nothing.
SIDE_EFFECT_FAMILIES = {
    "file and storage access": r"from_file|storage|^set_?$|set_data|_copy_from|pin_memory"
                               r"|record_stream|share_memory",
    "printing and assertions": r"print|assert",
    "random numbers": r"rand|bernoulli|normal|dropout|multinomial|poisson|exponential|uniform",
    "data-dependent values and devices": r"^item$|_local_scalar_dense|nonzero|^to$|_to_copy"
                                         r"|^copy_?$",
}
COLLECTIVE_NAMESPACES = ("_c10d_functional", "c10d")


def all_aten_overloads() -> dict[str, torch._ops.OpOverload]:
    """Every overload registered under aten: `dir(torch.ops.aten)` lists only those already
    looked up, so the dispatcher's own list of names is walked as well."""
    names = {n.split("::", 1)[1].split(".")[0] for n in torch._C._dispatch_get_all_op_names()
             if n.startswith("aten::")}
    names |= {n for n in dir(torch.ops.aten)
              if isinstance(getattr(torch.ops.aten, n, None), torch._ops.OpOverloadPacket)}
    overloads = {}
    for name in sorted(names):
        packet = getattr(torch.ops.aten, name)
        for overload in packet.overloads():
            op = getattr(packet, overload)
            overloads[str(op)] = op
    return overloads


@pytest.fixture(scope="module")
def aten() -> dict[str, torch._ops.OpOverload]:
    return all_aten_overloads()


def writes(op: torch._ops.OpOverload) -> bool:
    schema = op._schema
    return schema.is_mutable or any(
        argument.is_out or (argument.alias_info is not None and argument.alias_info.is_write)
        for argument in (*schema.arguments, *schema.returns))


def family_of(name: str) -> str | None:
    base = name.split(".")[1]
    return next((family for family, pattern in SIDE_EFFECT_FAMILIES.items()
                 if re.search(pattern, base)), None)


def test_the_walk_sees_the_whole_namespace(aten):
    assert len(aten) > 3000  # torch 2.13 registers about 3,400
    assert {"aten.from_file.default", "aten._copy_from.default", "aten.set_.source_Storage",
            "aten._print.default", "aten.add.out"} <= set(aten)
    for family, pattern in SIDE_EFFECT_FAMILIES.items():
        assert any(family_of(name) == family for name in aten), family


def test_every_admitted_operator_exists_and_touches_only_its_result(aten):
    for name, reason in ALLOWED_OPS.items():
        assert name in aten, f"{name} is not an ATen overload"
        assert reason, name
        op = aten[name]
        assert torch.Tag.nondeterministic_seeded not in op.tags, name
        assert family_of(name) is None, (name, family_of(name))
        if name in IN_PLACE_AS:
            functional = IN_PLACE_AS[name]
            assert functional in ALLOWED_OPS and not writes(aten[functional]), name
            assert functional == name.replace("_.", ".", 1)
        else:
            assert not writes(op), f"{name} writes into an argument"


def test_nothing_mutable_or_seeded_is_admitted_unless_rewritten(aten):
    mutable = {name for name, op in aten.items() if writes(op)}
    seeded = {name for name, op in aten.items() if torch.Tag.nondeterministic_seeded in op.tags}
    assert len(mutable) > 1000 and len(seeded) > 50  # the walk found what it looks for
    assert mutable & set(ALLOWED_OPS) == set(IN_PLACE_AS)
    assert not seeded & set(ALLOWED_OPS)


def test_from_file_is_refused(aten):
    assert not writes(aten["aten.from_file.default"])  # its schema alone would not tell
    assert "aten.from_file.default" not in ALLOWED_OPS
    assert not exported.is_allowed_target("torch.ops.aten.from_file.default")


# ----- crafted programs -------------------------------------------------------------------------


class Tiny(nn.Module):
    """A small network whose forward makes a tensor (`torch.zeros`): the call an attacker swaps."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(3, 4, 3)
        self.fc = nn.Linear(4, 10)

    def forward(self, x):
        x = torch.relu(self.conv(x)).mean((2, 3))
        return self.fc(x) + torch.zeros(10)


@pytest.fixture(scope="module")
def tiny_pt2() -> bytes:
    return export_bytes(Tiny(), (3, 8, 8))


def _arg(name: str, **value) -> dict:
    return {"name": name, "arg": value, "kind": 1}


def calling(data: bytes, target: str, inputs: list[dict] | None = None) -> bytes:
    """The program with its `zeros` call replaced by `target` (keeping its output's name)."""
    def swap(program):
        for node in program["graph_module"]["graph"]["nodes"]:
            if node["target"] == "torch.ops.aten.zeros.default":
                node["target"] = target
                if inputs is not None:
                    node["inputs"] = inputs
    return edit_json(data, "models/model.json", swap)


def from_file_program(data: bytes, canary) -> bytes:
    """`torch.from_file(canary, shared=True, size=10)`: creates the file, or grows an existing
    one and maps it for writing."""
    return calling(data, "torch.ops.aten.from_file.default",
                   [_arg("filename", as_string=str(canary)), _arg("shared", as_bool=True),
                    _arg("size", as_int=10)])


#: One call per family; each would get at least as far as the analysis with the old check.
FAMILY_TARGETS = [
    "torch.ops.aten.from_file.default",
    "torch.ops.aten._copy_from.default",
    "torch.ops.aten.set_.source_Tensor",
    "torch.ops.aten.copy_.default",
    "torch.ops.aten.add.out",
    "torch.ops.aten.randn.default",
    "torch.ops.aten.bernoulli_.float",
    "torch.ops.aten._print.default",
    "torch.ops.aten._assert_async.msg",
    "torch.ops.aten._to_copy.default",
    "torch.ops._c10d_functional.all_reduce.default",
    "torch.ops.higher_order.cond",
]


def test_the_crafted_from_file_program_writes_a_file_when_admitted(tiny_pt2, tmp_path,
                                                                   monkeypatch):
    """Proof that the archive below is a real attack, and that running on meta does not stop
    it: with the allow-list switched off, analysing it creates the canary."""
    canary = tmp_path / "canary"

    class Everything(dict):
        def __contains__(self, key) -> bool:
            return True

    monkeypatch.setattr(exported, "is_allowed_target", lambda target: True)
    monkeypatch.setattr(exported, "ALLOWED_OPS", Everything())
    analyze_program(from_file_program(tiny_pt2, canary))
    assert canary.exists()


def test_from_file_is_refused_by_name_and_writes_nothing(tiny_pt2, tmp_path):
    canary = tmp_path / "canary"
    with pytest.raises(ModelError, match=r"calls 'torch\.ops\.aten\.from_file\.default'"):
        analyze_program(from_file_program(tiny_pt2, canary))
    assert not canary.exists()


@pytest.mark.parametrize("target", FAMILY_TARGETS)
def test_every_side_effect_family_is_refused_before_the_deserializer(tiny_pt2, target,
                                                                     monkeypatch):
    def never(*args, **kwargs):
        raise AssertionError("torch's deserializer saw a refused program")

    from torch._export.serde import serialize
    monkeypatch.setattr(serialize.ExportedProgramDeserializer, "deserialize", never)
    with pytest.raises(ModelError) as refused:
        load_program(calling(tiny_pt2, target))
    assert target in str(refused.value) and "\n" not in str(refused.value)


def test_the_command_line_refuses_it_in_one_line(tiny_pt2, tmp_path, capsys):
    canary = tmp_path / "canary"
    path = tmp_path / "crafted.pt2"
    path.write_bytes(from_file_program(tiny_pt2, canary))
    for argv in (["summary", str(path)], ["compare", str(path), "resnet18"]):
        assert main(argv) == 2
        out, err = capsys.readouterr()
        assert err.count("\n") == 1 and "from_file" in err and not out
    assert not canary.exists()


@pytest.mark.parametrize("target", FAMILY_TARGETS[1:])
def test_the_command_line_refuses_every_family_in_one_line(tiny_pt2, tmp_path, capsys, target):
    path = tmp_path / "crafted.pt2"
    path.write_bytes(calling(tiny_pt2, target))
    assert main(["summary", str(path)]) == 2
    out, err = capsys.readouterr()
    assert err.count("\n") == 1 and target in err and not out


def test_the_untouched_program_is_analysed_with_zeros_on_meta(tiny_pt2):
    module, shape = program_module(load_program(tiny_pt2))
    (zeros,) = [n for n in module.graph.nodes if "zeros" in str(n.target)]
    assert zeros.kwargs["device"] == torch.device("meta") and "pin_memory" not in zeros.kwargs
    model = Tiny()
    assert analyze_program(tiny_pt2).params == sum(p.numel() for p in model.parameters())


def test_in_place_calls_run_as_their_out_of_place_overloads(tiny_pt2):
    data = calling(tiny_pt2, "torch.ops.aten.zeros.default")  # unchanged, then relu -> relu_
    data = edit_json(data, "models/model.json", lambda program: [
        node.update(target="torch.ops.aten.relu_.default")
        for node in program["graph_module"]["graph"]["nodes"]
        if node["target"] == "torch.ops.aten.relu.default"])
    program = load_program(data)
    assert "aten.relu_.default" in {str(n.target) for n in program.graph.nodes}
    module, _ = program_module(program)
    targets = [str(n.target) for n in module.graph.nodes if n.op == "call_function"]
    assert not [t for t in targets if re.search(r"\w_\b|_\.", t)], targets
    assert analyze_program(data).params == analyze_program(tiny_pt2).params
