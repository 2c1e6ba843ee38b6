"""Hostile inputs: data files that try to run code, small files that unpack to huge ones, and
checkpoints whose fields are wrong. Each must end in our error type with a sentence, run nothing,
and (for the bombs) keep the loading process under about 1 GB, measured in a child process.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import struct
import subprocess
import sys
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from streamlit.testing.v1 import AppTest

from inspector import build_model, get_preset
from inspector.checkpoint import CheckpointError, checkpoint_payload, read_checkpoint
from inspector.cli import main
from inspector.data import (CIFAR_MAX_FILE_BYTES, MAX_IMAGE_PIXELS, DataError, load_dataset,
                            open_image, read_cifar_batch, read_image)
from inspector.spec import ResNetSpec
from test_data import CIFAR_NAMES, _write_cifar
from test_hostile_programs import many_directory_entries

ROOT = Path(__file__).resolve().parent.parent
SMALL = get_preset("resnet20").replace(layers=(1, 1, 1))
#: The ceiling the hardening promises for any one request.
MEMORY_LIMIT_MB = 1024


# --- Payloads that would leave a file behind if they ran -----------------------------------------

class _SystemPayload:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


class _OpenPayload(_SystemPayload):
    def __reduce__(self):
        return (open, (str(self.marker), "w"))


class _SubprocessPayload(_SystemPayload):
    def __reduce__(self):
        return (subprocess.call, (["touch", str(self.marker)],))


PAYLOADS = [_SystemPayload, _OpenPayload, _SubprocessPayload]


@pytest.mark.parametrize("payload", PAYLOADS)
@pytest.mark.parametrize("victim", ["batches.meta", "data_batch_1", "test_batch"])
def test_cifar_files_that_carry_code_run_nothing(tmp_path, payload, victim):
    folder = tmp_path / "cifar-10-batches-py"
    _write_cifar(folder)
    marker = tmp_path / "created-by-the-payload"
    poisoned = {b"label_names": [b"cat"], b"data": payload(marker), b"labels": [0]}
    (folder / victim).write_bytes(pickle.dumps(poisoned, protocol=2))
    with pytest.raises(DataError, match="which a dataset file never contains"):
        load_dataset("cifar10", str(tmp_path))
    assert not marker.exists()


def test_cifar_reader_refuses_codecs_the_format_never_uses(tmp_path):
    # protocol 2 writes bytes as _codecs.encode(text, 'latin1'); any other codec is refused
    crafted = (b"\x80\x02c_codecs\nencode\nX\x03\x00\x00\x00abcX\x05\x00\x00\x00rot13"
               b"\x86R.")
    file = tmp_path / "data_batch_1"
    file.write_bytes(crafted)
    with pytest.raises(DataError, match="'rot13' codec"):
        read_cifar_batch(file)


def test_cifar_reader_refuses_oversized_files_before_reading(tmp_path):
    file = tmp_path / "data_batch_1"
    with open(file, "wb") as handle:  # sparse: costs no disk and is never read
        handle.truncate(CIFAR_MAX_FILE_BYTES + 1)
    with pytest.raises(DataError, match="about 31 MB, so this is not one"):
        read_cifar_batch(file)


def test_cifar_batches_written_by_numpy_1_still_read(tmp_path):
    """numpy 1 names `numpy.core.multiarray._reconstruct`, numpy 2 `numpy._core...`."""
    rows = np.arange(2 * 3072, dtype=np.int64).reshape(2, 3072).astype(np.uint8)
    data = pickle.dumps({b"data": rows, b"labels": [3, 4]}, protocol=2)
    assert b"numpy._core.multiarray" in data
    file = tmp_path / "data_batch_1"
    file.write_bytes(data.replace(b"numpy._core.multiarray", b"numpy.core.multiarray"))
    x, y = read_cifar_batch(file)
    assert y.tolist() == [3, 4]
    assert torch.equal(x.reshape(2, 3072), torch.from_numpy(rows))


def test_the_official_format_still_reads_through_the_restricted_unpickler(tmp_path):
    _write_cifar(tmp_path / "cifar-10-batches-py")
    data = load_dataset("cifar10", str(tmp_path))
    assert data.classes == CIFAR_NAMES and data.x_train.shape == (15, 3, 32, 32)


@pytest.mark.parametrize("payload", PAYLOADS)
def test_checkpoints_that_carry_code_run_nothing(tmp_path, payload):
    marker = tmp_path / "created-by-the-payload"
    zipped = io.BytesIO()
    torch.save({"format": "resnet-inspector-checkpoint", "spec": payload(marker)}, zipped)
    for source in (zipped.getvalue(), pickle.dumps(payload(marker), protocol=2)):
        with pytest.raises(CheckpointError, match="not loaded for safety"):
            read_checkpoint(source)
    assert not marker.exists()


# --- Checkpoint fields ----------------------------------------------------------------------------

def _payload(**changes) -> dict:
    torch.manual_seed(0)
    payload = checkpoint_payload(SMALL, build_model(SMALL, "cpu"), classes=CIFAR_NAMES,
                                 mean=(0.5, 0.5, 0.5), std=(0.25, 0.25, 0.25), dataset="cifar10")
    payload.update(changes)
    return payload


def _spec_text(**fields) -> str:
    return json.dumps({**SMALL.to_dict(), **fields})


def _saved(payload: dict) -> bytes:
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


def test_a_valid_payload_loads():
    checkpoint = read_checkpoint(_saved(_payload()))
    assert checkpoint.classes == CIFAR_NAMES and checkpoint.std == (0.25, 0.25, 0.25)


def _with_state(**tensors) -> dict:
    state = dict(_payload()["state_dict"])
    state.update(tensors)
    return state


BAD_FIELDS = {
    "classes not a list": ({"classes": 5}, "class names are not a list"),
    "classes not text": ({"classes": list(range(10))}, "class names are not a list"),
    "fewer class names": ({"classes": ["a", "b", "c"]}, "names 3 classes but its network has 10"),
    "mean a number": ({"mean": 7}, "mean must be 3 finite numbers"),
    "mean with NaN": ({"mean": [0.5, float("nan"), 0.5]}, "mean must be 3 finite numbers"),
    "std of text": ({"std": "wide"}, "std must be 3 finite numbers"),
    "std too short": ({"std": [0.2]}, "std must be 3 finite numbers"),
    "state_dict a string": ({"state_dict": "weights"}, "not a dict of named tensors"),
    "state_dict a list": ({"state_dict": [torch.zeros(1)]}, "not a dict of named tensors"),
    "1-D conv1.weight": ({"state_dict": _with_state(**{"conv1.weight": torch.zeros(432)})},
                         r"conv1.weight is \(432,\) instead of \(16, 3, 3, 3\)"),
    "integer weights": ({"state_dict": _with_state(
        **{"fc.weight": torch.zeros(10, 64, dtype=torch.int64)})}, "holds torch.int64 values"),
    "missing weight": ({"state_dict": {k: v for k, v in _payload()["state_dict"].items()
                                       if k != "fc.bias"}}, "fc.bias is missing"),
    "spec not text": ({"spec": {"block": "basic"}}, "design \\(spec\\) is not JSON text"),
    "spec not JSON": ({"spec": "{"}, "design is invalid: the spec is not valid JSON"),
    "spec NaN": ({"spec": _spec_text(num_classes=float("nan"))}, "numbers or nesting far"),
    "spec float": ({"spec": _spec_text(num_classes=2.5)}, "num_classes must be a whole"),
    "spec 300-digit expansion": ({"spec": _spec_text(block="bottleneck", expansion=10**300)},
                                 "numbers or nesting far beyond"),
    "spec 300-digit classes": ({"spec": _spec_text(num_classes=10**300)},
                               "numbers or nesting far beyond"),
    "spec deeply nested": ({"spec": "[" * 100_000 + "]" * 100_000},
                           "numbers or nesting far beyond"),
    "metrics not JSON": ({"metrics": "not json"}, "metrics field is damaged"),
    "metrics of numbers": ({"metrics": "[1, 2]"}, "metrics are not a list of records"),
    "config a list": ({"config": "[]"}, "config field is damaged"),
    "version from the future": ({"version": 99}, "format version 99"),
    "version 300 digits": ({"version": 10**300}, "format version 1000"),
    "dataset a number": ({"dataset": 3}, "dataset name is not text"),
}


@pytest.mark.parametrize("name", list(BAD_FIELDS))
def test_every_checkpoint_field_is_checked(name):
    changes, words = BAD_FIELDS[name]
    with pytest.raises(CheckpointError, match=words) as caught:
        read_checkpoint(_saved(_payload(**changes)))
    message = str(caught.value)
    assert message.endswith(".") and len(message) < 500 and "Traceback" not in message


def test_a_plain_state_dict_with_a_1d_stem_is_a_sentence():
    state = _with_state(**{"conv1.weight": torch.zeros(432)})
    with pytest.raises(CheckpointError, match="not a torchvision-style ResNet"):
        read_checkpoint(_saved(state))


# --- Bombs, measured in a child process -----------------------------------------------------------

def _huge_spec() -> ResNetSpec:
    """About 1.5 billion parameters: a design the spec accepts but no request should build."""
    spec = get_preset("resnet18").replace(widths=(64, 128, 256, 7424))
    counted = sum(p.numel() for p in build_model(spec, "meta").parameters())  # meta: no memory
    assert 1.4e9 < counted < 1.6e9
    return spec


def _deflated_bomb(path: Path, numel: int) -> None:
    """A torch.save zip whose one tensor's storage is a deflated entry of `numel` float32 zeros:
    1.2 GB unpacked, about 1.2 MB packed."""
    plan = io.BytesIO()
    torch.save({"fc.weight": torch.empty(numel, device="meta")}, plan)  # writes no storage bytes
    with zipfile.ZipFile(plan) as source, zipfile.ZipFile(path, "w") as bomb:
        prefix = source.namelist()[0].split("/")[0]
        for entry in source.infolist():
            bomb.writestr(entry, source.read(entry.filename))
        block = bytes(1 << 24)
        storage_entry = zipfile.ZipInfo(f"{prefix}/data/0")
        storage_entry.compress_type = zipfile.ZIP_DEFLATED
        with bomb.open(storage_entry, "w", force_zip64=True) as storage:
            for _ in range(numel * 4 // len(block)):
                storage.write(block)


def _png(path: Path, width: int, height: int) -> None:
    """A valid 1-bit greyscale PNG of one colour: a few hundred KB for hundreds of megapixels."""
    row = bytes(1 + -(-width // 8))  # filter byte, then packed bits
    packer = zlib.compressobj(9)
    body = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", body)
                     + chunk(b"IEND", b""))


CHILD = """
import json, sys
def peak_mb_now():  # VmHWM: this process's own peak; ru_maxrss keeps the forking parent's across exec
    return next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:")) / 1024
from inspector.checkpoint import CheckpointError, read_checkpoint
from inspector.data import DataError, read_image
for kind, path in json.loads(sys.argv[1]):
    try:
        if kind == "checkpoint":
            read_checkpoint(path)
        elif kind == "checkpoint-bytes":
            read_checkpoint(open(path, "rb").read())
        else:
            read_image(path, 32)
        outcome = "loaded"
    except (CheckpointError, DataError) as error:
        outcome = f"{type(error).__name__}: {error}"
    peak_mb = peak_mb_now()
    print(json.dumps({"path": path, "kind": kind, "outcome": outcome, "peak_mb": peak_mb}))
"""


@pytest.fixture(scope="module")
def bombs(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bombs")
    huge = folder / "huge-spec.pt"
    small = build_model(SMALL, "cpu")
    torch.save(checkpoint_payload(SMALL, small) | {"spec": _huge_spec().to_json(indent=None)},
               huge)
    _deflated_bomb(folder / "deflated.pt", 300_000_000)
    _png(folder / "12000.png", 12_000, 12_000)
    _png(folder / "30000.png", 30_000, 30_000)
    many_directory_entries(folder / "many-entries.pt")  # 183 MB: 3 million directory records
    return {name: folder / name for name in
            ("huge-spec.pt", "deflated.pt", "12000.png", "30000.png", "many-entries.pt")}


def test_bomb_files_are_small(bombs):
    sizes = {name: path.stat().st_size for name, path in bombs.items()
             if name != "many-entries.pt"}
    assert all(size < 2 * 2**20 for size in sizes.values()), sizes
    with pytest.warns(Image.DecompressionBombWarning):  # PIL itself sees a 144 MP image
        assert Image.open(bombs["12000.png"]).size == (12_000, 12_000)
    header = bombs["30000.png"].read_bytes()[16:24]  # IHDR; PIL refuses to open this one
    assert struct.unpack(">II", header) == (30_000, 30_000)


def test_bombs_are_refused_with_a_sentence_in_bounded_memory(bombs):
    cases = [("checkpoint", str(bombs["huge-spec.pt"])),
             ("checkpoint-bytes", str(bombs["huge-spec.pt"])),
             ("checkpoint", str(bombs["deflated.pt"])),
             ("checkpoint-bytes", str(bombs["deflated.pt"])),
             ("image", str(bombs["12000.png"])),
             ("image", str(bombs["30000.png"])),
             ("checkpoint", str(bombs["many-entries.pt"]))]
    child = subprocess.run([sys.executable, "-c", CHILD, json.dumps(cases)], cwd=ROOT,
                           capture_output=True, text=True, timeout=300,
                           env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert child.returncode == 0, child.stderr[-2000:]
    rows = [json.loads(line) for line in child.stdout.splitlines()]
    assert len(rows) == len(cases)
    params = sum(p.numel() for p in build_model(_huge_spec(), "meta").parameters())
    expected = [f"CheckpointError: This network has {params:,} parameters",
                f"CheckpointError: This network has {params:,} parameters",
                "CheckpointError: This file's entry 'archive/data/0' is compressed",
                "CheckpointError: This file's entry 'archive/data/0' is compressed",
                "DataError: This image is 12,000 x 12,000 pixels (144 megapixels); images up to "
                "40 megapixels are read.",
                "DataError: This image has far more than the 40 megapixels",
                "CheckpointError: This file's zip directory declares 3,000,000 entries"]
    for row, start in zip(rows, expected):
        assert row["outcome"].startswith(start), row
        # each figure is the peak so far, so the last one bounds every case
        assert row["peak_mb"] < MEMORY_LIMIT_MB, row


# --- Images ---------------------------------------------------------------------------------------

def _encoded(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


IMAGE_MODES = {  # mode, format, expected grey level of every pixel in [0, 1]
    "16-bit grey": (Image.fromarray(np.full((6, 9), 32896, np.uint16)), "PNG", 128 / 255),
    "32-bit float": (Image.fromarray(np.full((6, 9), 0.25, np.float32)), "TIFF", 64 / 255),
    "palette": (Image.new("P", (9, 6), 0), "PNG", 0.0),
    "grey with alpha": (Image.new("LA", (9, 6), (100, 0)), "PNG", 100 / 255),
    "RGBA": (Image.new("RGBA", (9, 6), (200, 200, 200, 10)), "PNG", 200 / 255),
    "CMYK": (Image.new("CMYK", (9, 6), (0, 0, 0, 0)), "TIFF", 1.0),
    "1-bit": (Image.new("1", (9, 6), 1), "PNG", 1.0),
}


@pytest.mark.parametrize("name", list(IMAGE_MODES))
def test_every_image_mode_becomes_8_bit_in_the_models_channels(name):
    image, fmt, level = IMAGE_MODES[name]
    data = _encoded(image, fmt)
    for channels, mode in ((3, "RGB"), (1, "L")):
        shown = open_image(data, channels)
        assert shown.mode == mode and shown.size == (9, 6)
        x = read_image(data, 16, channels)
        assert x.shape == (channels, 16, 16)
        assert torch.allclose(x, torch.full_like(x, level), atol=1.5 / 255), (name, x.mean())


def test_large_images_are_reduced_before_they_become_floats():
    photo = _encoded(Image.new("RGB", (4000, 3000), (90, 30, 10)), "PNG")
    assert max(open_image(photo, 3, 32).size) <= 4 * 32
    x = read_image(photo, 32)
    assert torch.allclose(x[:, 0, 0], torch.tensor([90, 30, 10]) / 255.0, atol=1e-3)


def test_broken_images_are_data_errors():
    valid = _encoded(Image.new("RGB", (64, 64), (1, 2, 3)), "PNG")
    for broken in (valid[: len(valid) // 2], valid[:40], b"\x89PNG\r\n\x1a\n", b"GIF89a"):
        with pytest.raises(DataError, match="not an image that can be read"):
            read_image(broken, 32)
    with pytest.raises(DataError, match="1 or 3 input channels"):
        read_image(valid, 32, channels=4)
    assert MAX_IMAGE_PIXELS == 40_000_000


# --- The Inference page ---------------------------------------------------------------------------

def _inference_page_with(payload: dict) -> AppTest:
    at = AppTest.from_file(str(ROOT / "pages" / "inference.py"), default_timeout=120)
    at.run()
    at.file_uploader(key="infer_upload").set_value(
        ("model.pt", _saved(payload), "application/octet-stream")).run()
    assert not at.exception, at.exception
    return at


def _digits_payload(**changes) -> dict:
    return _payload(classes=[str(d) for d in range(10)], dataset="digits", **changes)


def test_inference_page_with_an_uploaded_checkpoint_predicts_and_drops_the_notice():
    at = _inference_page_with(_digits_payload())
    assert not at.info and not at.error and not at.warning
    assert any(c.value.startswith("Prediction: ") for c in at.caption)
    at.number_input(key="infer_index").set_value(5000).run()
    assert not at.exception, at.exception
    assert "image 5,000 does not exist" in at.warning[0].value
    assert not any(c.value.startswith("Prediction: ") for c in at.caption)


@pytest.mark.parametrize("changes,words", [
    ({"fc.weight": float("nan")}, "hold NaN or infinite values (the first is fc.weight)"),
    ({"bn1.running_var": float("inf")}, "hold NaN or infinite values"),
    ({"std": [0.0, 0.0, 0.0]}, "standard deviation of 0, 0, 0"),
])
def test_inference_page_warns_instead_of_predicting_when_outputs_mean_nothing(changes, words):
    payload = _digits_payload()
    for key, value in changes.items():
        if key in payload:
            payload[key] = value
        else:
            payload["state_dict"][key] = torch.full_like(payload["state_dict"][key], value)
    at = _inference_page_with(payload)
    assert words in at.warning[0].value
    assert not any(c.value.startswith("Prediction: ") for c in at.caption)
    assert not at.get("plotly_chart") and len(at.get("image")) == 1  # no chart, no feature maps


def test_inference_page_shows_and_predicts_a_16_bit_png():
    at = _inference_page_with(_digits_payload())
    at.radio(key="infer_image_source").set_value("Upload an image").run()
    grey16 = _encoded(Image.fromarray(np.full((40, 30), 40000, np.uint16)), "PNG")
    at.file_uploader(key="infer_image").set_value(("grey16.png", grey16, "image/png")).run()
    assert not at.exception and not at.error, (at.exception, at.error)
    assert any(c.value.startswith("Prediction: ") for c in at.caption)
    assert "uploaded" in at.get("image")[0].proto.imgs[0].caption


def test_an_unreadable_upload_is_named_by_its_file_name():
    at = _inference_page_with(_digits_payload())
    at.radio(key="infer_image_source").set_value("Upload an image").run()
    at.file_uploader(key="infer_image").set_value(("holiday.png", b"not an image at all",
                                                   "image/png")).run()
    assert not at.exception
    (error,) = at.error
    shown = error.value.replace("\\", "")
    assert shown.startswith("The file 'holiday.png' is not an image that can be read"), shown
    assert "UploadedFile" not in shown and "upload_url" not in shown and "file_id" not in shown


def test_image_errors_name_a_path_or_a_file_name_never_a_repr(tmp_path):
    path = tmp_path / "notes.png"
    path.write_bytes(b"text")
    with pytest.raises(DataError, match="^The file 'notes.png' is not an image"):
        read_image(str(path), 32)
    with pytest.raises(DataError, match=r"^This file is not an image .*\(its format"):
        read_image(b"text", 32)


def test_cli_infer_refuses_to_predict_with_nan_weights(tmp_path, capsys):
    payload = _digits_payload()
    payload["state_dict"]["fc.bias"] = torch.full((10,), float("nan"))
    (tmp_path / "nan.pt").write_bytes(_saved(payload))
    Image.new("RGB", (32, 32), (9, 9, 9)).save(tmp_path / "image.png")
    assert main(["infer", str(tmp_path / "nan.pt"), str(tmp_path / "image.png")]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert captured.err.count("\n") == 1 and "NaN or infinite values" in captured.err
