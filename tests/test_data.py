"""Datasets and the batched augmentation.

The CIFAR-10 test writes its own small files in the official python format (as described on the
dataset's page: pickled dicts with b'data' rows of 3072 uint8 values, red then green then blue
planes, b'labels', and batches.meta with b'label_names').
"""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from inspector.data import (CIFAR_MD5, DataError, augment, download_cifar10, load_dataset,
                            normalize, read_image)

CIFAR_NAMES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship",
               "truck"]


def test_digits_is_the_bundled_set_split_the_same_way_every_time():
    first = load_dataset("digits")
    second = load_dataset("digits")
    assert len(first.x_train) + len(first.x_val) == 1797  # scikit-learn's digits
    assert first.x_train.shape[1:] == (3, 32, 32)
    assert first.classes == [str(d) for d in range(10)]
    assert torch.equal(first.x_val, second.x_val) and torch.equal(first.y_val, second.y_val)
    assert set(first.y_val.tolist()) == set(range(10))  # stratified: every class validated
    assert 0.15 < len(first.x_val) / 1797 < 0.25
    assert float(first.x_train.min()) >= 0.0 and float(first.x_train.max()) <= 1.0
    assert first.mean == pytest.approx(tuple(first.x_train.mean(dim=(0, 2, 3)).tolist()), abs=1e-5)


def _write_cifar(folder: Path, per_batch: int = 3) -> np.ndarray:
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    first = None
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        data = rng.integers(0, 256, (per_batch, 3072), dtype=np.uint8)
        first = data if first is None else first
        batch = {b"batch_label": name.encode(), b"labels": [i % 10 for i in range(per_batch)],
                 b"data": data, b"filenames": [f"{name}_{i}.png".encode()
                                                for i in range(per_batch)]}
        with open(folder / name, "wb") as handle:
            pickle.dump(batch, handle, protocol=2)
    with open(folder / "batches.meta", "wb") as handle:
        pickle.dump({b"label_names": [n.encode() for n in CIFAR_NAMES],
                     b"num_cases_per_batch": per_batch, b"num_vis": 3072}, handle, protocol=2)
    return first


def test_cifar_reader_reads_the_official_python_format(tmp_path):
    first = _write_cifar(tmp_path / "cifar-10-batches-py")
    for path in (tmp_path, tmp_path / "cifar-10-batches-py"):
        data = load_dataset("cifar10", str(path))
        assert data.classes == CIFAR_NAMES
        assert data.x_train.shape == (15, 3, 32, 32) and data.x_val.shape == (3, 3, 32, 32)
        assert data.y_train[:3].tolist() == [0, 1, 2]
        # the first 1024 values of a row are the red plane, row-major
        red = first[0, :1024].reshape(32, 32) / 255.0
        blue = first[0, 2048:].reshape(32, 32) / 255.0
        assert torch.allclose(data.x_train[0, 0], torch.tensor(red, dtype=torch.float32))
        assert torch.allclose(data.x_train[0, 2], torch.tensor(blue, dtype=torch.float32))
    assert len(load_dataset("cifar10", str(tmp_path), limit=4).x_train) == 4


def test_cifar_missing_says_how_to_get_it(tmp_path):
    with pytest.raises(DataError, match="download"):
        load_dataset("cifar10", str(tmp_path))


def test_cifar_download_offline_gives_a_clear_message(tmp_path):
    with pytest.raises(DataError, match="offline"):
        download_cifar10(tmp_path, url="http://127.0.0.1:9/cifar-10-python.tar.gz", timeout=2)


def test_cifar_download_checks_the_md5(tmp_path):
    fake = tmp_path / "served.tar.gz"
    fake.write_bytes(b"not the archive")
    with pytest.raises(DataError, match=CIFAR_MD5):
        download_cifar10(tmp_path / "root", url=fake.as_uri())
    assert not (tmp_path / "root" / "cifar-10-python.tar.gz").exists()


def test_folder_dataset_reads_class_subfolders(tmp_path):
    for name, value in (("cats", 30), ("dogs", 220)):
        (tmp_path / name).mkdir()
        for i in range(5):
            Image.new("RGB", (20, 12), (value, value, value)).save(tmp_path / name / f"{i}.png")
    (tmp_path / "notes.txt").write_text("not a class")
    data = load_dataset("folder", str(tmp_path), image_size=16)
    assert data.classes == ["cats", "dogs"]
    assert data.x_train.shape[1:] == (3, 16, 16)
    assert len(data.x_train) + len(data.x_val) == 10
    dark = torch.cat([data.x_train[data.y_train == 0], data.x_val[data.y_val == 0]])
    assert torch.allclose(dark, torch.full_like(dark, 30 / 255), atol=1e-3)


def test_bad_requests_are_data_errors(tmp_path):
    with pytest.raises(DataError, match="Unknown dataset"):
        load_dataset("imagenet")
    with pytest.raises(DataError, match="no option"):
        load_dataset("digits", download=True)
    with pytest.raises(DataError, match="not a directory"):
        load_dataset("folder", str(tmp_path / "missing"))
    (tmp_path / "x.png").write_text("text")
    with pytest.raises(DataError, match="not an image"):
        read_image(tmp_path / "x.png", 32)


def test_synthetic_has_the_asked_shapes():
    data = load_dataset("synthetic", image_size=16, num_train=20, num_val=5, num_classes=3)
    assert data.x_train.shape == (20, 3, 16, 16) and data.x_val.shape == (5, 3, 16, 16)
    assert data.num_classes == 3 and int(data.y_train.max()) < 3


def test_augment_is_a_padded_crop_possibly_flipped():
    """Every output image must be some 32x32 window of the zero-padded input, or its mirror."""
    torch.manual_seed(0)
    x = torch.rand(6, 3, 32, 32) + 1.0  # no zeros in the image, so padding is recognisable
    out = augment(x, padding=4, generator=torch.Generator().manual_seed(1))
    padded = torch.nn.functional.pad(x, (4, 4, 4, 4))
    flipped_any = shifted_any = False
    for i in range(len(x)):
        matches = [(dy, dx, flip) for dy in range(9) for dx in range(9) for flip in (False, True)
                   if torch.equal(out[i], (lambda w: w.flip(2) if flip else w)(
                       padded[i, :, dy:dy + 32, dx:dx + 32]))]
        assert matches, f"image {i} is not a crop of the padded input"
        flipped_any |= any(flip for _, _, flip in matches)
        shifted_any |= any((dy, dx) != (4, 4) for dy, dx, _ in matches)
    assert flipped_any and shifted_any


def test_normalize_uses_the_channel_statistics():
    x = torch.ones(2, 3, 4, 4)
    y = normalize(x, (0.5, 1.0, 0.0), (0.5, 1.0, 2.0))
    assert y[:, 0].eq(1.0).all() and y[:, 1].eq(0.0).all() and y[:, 2].eq(0.5).all()
