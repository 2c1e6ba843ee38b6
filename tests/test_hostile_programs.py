"""Damaged and oversized `.pt2` archives: each refused in one line with exit 2, and the largest
ones within about 1 GB, measured in a child process as the checkpoint bombs are.

Each archive starts from a real export and is damaged the way a truncated download, a zip tool
or an attacker would: a flipped byte (CRC mismatch), a broken local header, the encryption flag,
JSON nested 200,000 levels deep, shapes whose product overflows 64 bits, three million
directory entries, 64 MB of empty JSON objects.
"""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import torch

from inspector.exported import load_program
from inspector.op_trace import ModelError
from inspector.program_archive import (MAX_JSON_DEPTH, MAX_JSON_VALUES, check_json_shape,
                                       directory_bounds)
from test_exported import edit_json, export_bytes, rewrite
from test_exported_ops import Tiny

ROOT = Path(__file__).resolve().parent.parent
MEMORY_LIMIT_MB = 1024
MODEL_JSON = "models/model.json"
WEIGHTS_JSON = "data/weights/model_weights_config.json"


@pytest.fixture(scope="module")
def tiny_pt2() -> bytes:
    return export_bytes(Tiny(), (3, 8, 8))


def _entry(data: bytes, suffix: str) -> zipfile.ZipInfo:
    return next(i for i in zipfile.ZipFile(io.BytesIO(data)).infolist()
                if i.filename.endswith(suffix))


def flip_a_data_byte(data: bytes) -> bytes:
    """model.json's first byte changed in place: its CRC no longer matches."""
    entry = _entry(data, MODEL_JSON)
    name_length, extra_length = struct.unpack_from("<2H", data, entry.header_offset + 26)
    start = entry.header_offset + 30 + name_length + extra_length
    return data[:start] + b"[" + data[start + 1:]


def break_local_header(data: bytes) -> bytes:
    offset = _entry(data, MODEL_JSON).header_offset
    return data[:offset] + b"XXXX" + data[offset + 4:]


def set_encryption_flag(data: bytes) -> bytes:
    """Flag bit 0 on model.json's central-directory record (zipfile then asks for a password)."""
    name = _entry(data, MODEL_JSON).filename.encode()
    record = data.rfind(b"PK\x01\x02", 0, data.rfind(name))
    flags = struct.unpack_from("<H", data, record + 8)[0] | 0x1
    return data[:record + 8] + struct.pack("<H", flags) + data[record + 10:]


def deeply_nested(depth: int = 200_000) -> bytes:
    return b"[" * depth + b"]" * depth


def declare_shape(data: bytes, shape: list[int]) -> bytes:
    def edit(config):
        entry = next(iter(config["config"].values()))
        entry["tensor_meta"]["sizes"] = [{"as_int": size} for size in shape]
    return edit_json(data, WEIGHTS_JSON, edit)


def declare_graph_shape(data: bytes, shape: list[int]) -> bytes:
    """The shape of a value in the graph itself (not a weight) changed."""
    def edit(program):
        value = next(iter(program["graph_module"]["graph"]["tensor_values"].values()))
        value["sizes"] = [{"as_int": size} for size in shape]
    return edit_json(data, MODEL_JSON, edit)


def many_directory_entries(path: Path, count: int = 3_000_000) -> None:
    """A zip64 archive whose central directory holds `count` records (about 61 bytes each):
    zipfile would build a ZipInfo for every one of them."""
    name = b"archive/extra/e"
    local = struct.pack("<4s5H3L2H", b"PK\x03\x04", 20, 0, 0, 0, 0, 0, 0, 0, len(name),
                        0) + name  # one empty entry, which every record points at
    record = struct.pack("<4s6H3L5H2L", b"PK\x01\x02", 45, 45, 0, 0, 0, 0, 0, 0, 0,
                         len(name), 0, 0, 0, 0, 0, 0) + name
    size = len(record) * count
    zip64_end = struct.pack("<4sQ2H2L4Q", b"PK\x06\x06", 44, 45, 45, 0, 0, count, count,
                            size, len(local))
    locator = struct.pack("<4sLQL", b"PK\x06\x07", 0, len(local) + size, 1)
    end = struct.pack("<4s4H2LH", b"PK\x05\x06", 0, 0, 0xFFFF, 0xFFFF, 0xFFFFFFFF,
                      0xFFFFFFFF, 0)
    with open(path, "wb") as out:
        out.write(local)
        for _ in range(count // 100_000):
            out.write(record * 100_000)
        out.write(zip64_end + locator + end)


def empty_objects(total_bytes: int = 63_000_000) -> bytes:
    return b"[" + b"{}," * (total_bytes // 3 - 1) + b"{}]"


# ----- quick checks, in this process ------------------------------------------------------------


def test_the_directory_counts_come_from_the_end_records(tiny_pt2, tmp_path):
    entries, size = directory_bounds(tiny_pt2)
    archive = zipfile.ZipFile(io.BytesIO(tiny_pt2))
    assert entries == len(archive.infolist())
    assert size == len(tiny_pt2) - archive.start_dir - 22 - 20 - 56  # torch writes zip64 ends
    many_directory_entries(tmp_path / "many.pt2", 200_000)
    assert directory_bounds((tmp_path / "many.pt2").read_bytes()) == (200_000, 200_000 * 61)


def test_json_shape_is_counted_outside_strings():
    check_json_shape(b'{"a": "[[[[[[[[" , "b": [1, 2, {"c": "]]]"}]}', "x")
    legit = json.dumps({"a": [[[[1]]]], "s": "[" * 500}).encode()
    check_json_shape(legit, "x")
    with pytest.raises(ModelError, match=f"nested more than {MAX_JSON_DEPTH}"):
        check_json_shape(b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1), "x")
    with pytest.raises(ModelError, match="JSON values"):
        check_json_shape(b"[" + b"0," * MAX_JSON_VALUES + b"0]", "x")


@pytest.mark.parametrize("damage, words", [
    (flip_a_data_byte, r"is damaged \(Bad CRC-32"),
    (break_local_header, r"is damaged \(Bad magic number"),
    (set_encryption_flag, "is encrypted"),
    (lambda d: rewrite(d, {MODEL_JSON: deeply_nested()}), "nested more than"),
    (lambda d: rewrite(d, {WEIGHTS_JSON: deeply_nested()}), "nested more than"),
    (lambda d: declare_shape(d, [0, 2**64]), r"shape \[0, 18446744073709551616\]"),
    (lambda d: declare_shape(d, [2**40, 2**40, 0]), "billion weights"),
    (lambda d: declare_shape(d, [1] * 9), "billion weights"),
    (lambda d: declare_shape(d, [2.5, 3]), "no plain shape"),
    (lambda d: declare_graph_shape(d, [0, 2**64]), "could not be read|does not read"),
    (lambda d: declare_graph_shape(d, [2**40, 2**40, 0]), "could not be read|does not read"),
    (lambda d: declare_shape(d, [True, 3]), "no plain shape"),
    # cut short, the file's last end record is the one of model.pt, itself a zip, inside it
    (lambda d: d[:len(d) - 30], "not a zip archive|cut short|not read here"),
    (lambda d: d[:len(d) // 2], "not a zip archive|cut short|not read here"),
])
def test_each_damage_is_one_sentence(tiny_pt2, damage, words):
    with pytest.raises(ModelError, match=words) as refused:
        load_program(damage(tiny_pt2))
    assert "\n" not in str(refused.value)


# ----- the command line, in a child process whose peak memory is measured ----------------------

CHILD = """
import contextlib, io, json, sys
def peak_mb_now():  # VmHWM: this process's own peak; ru_maxrss keeps the forking parent's across exec
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:")) / 1024
from inspector.cli import main
for path in json.loads(sys.argv[1]):
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        code = main(["summary", path])
    peak_mb = peak_mb_now()
    print(json.dumps({"path": path, "code": code, "err": err.getvalue(), "peak_mb": peak_mb}))
"""


def test_damaged_archives_exit_2_with_one_line_in_bounded_memory(tiny_pt2, tmp_path):
    cases = {
        "crc.pt2": (flip_a_data_byte(tiny_pt2), "Bad CRC-32"),
        "header.pt2": (break_local_header(tiny_pt2), "Bad magic number"),
        "encrypted.pt2": (set_encryption_flag(tiny_pt2), "is encrypted"),
        "deep-model.pt2": (rewrite(tiny_pt2, {MODEL_JSON: deeply_nested()}), "nested"),
        "deep-weights.pt2": (rewrite(tiny_pt2, {WEIGHTS_JSON: deeply_nested()}), "nested"),
        "shape-2-64.pt2": (declare_shape(tiny_pt2, [0, 2**64]), "has the shape [0, 1844"),
        "shape-2-80.pt2": (declare_shape(tiny_pt2, [2**40, 2**40, 0]), "billion weights"),
        "empty-objects.pt2": (rewrite(tiny_pt2, {MODEL_JSON: empty_objects()}), "JSON values"),
        "many-entries.pt2": (None, "3,000,000 entries"),
    }
    for name, (data, _) in cases.items():
        if data is not None:
            (tmp_path / name).write_bytes(data)
    many_directory_entries(tmp_path / "many-entries.pt2")
    assert 150e6 < (tmp_path / "many-entries.pt2").stat().st_size < 200e6
    assert 60e6 < (tmp_path / "empty-objects.pt2").stat().st_size < 64e6
    paths = [str(tmp_path / name) for name in cases]
    child = subprocess.run([sys.executable, "-c", CHILD, json.dumps(paths)], cwd=ROOT,
                           capture_output=True, text=True, timeout=600,
                           env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert child.returncode == 0, child.stderr[-2000:]
    rows = [json.loads(line) for line in child.stdout.splitlines()]
    assert len(rows) == len(cases)
    for row, (_, words) in zip(rows, cases.values()):
        assert row["code"] == 2 and row["err"].count("\n") == 1, row
        assert row["err"].startswith("error: ") and words in row["err"], row
        print(f"{Path(row['path']).name}: peak {row['peak_mb']:.0f} MB, {row['err'].strip()}")
        assert row["peak_mb"] < MEMORY_LIMIT_MB, row  # the peak so far bounds every case
