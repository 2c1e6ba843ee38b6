"""Datasets as whole tensors, and the paper's augmentation applied to whole batches.

Why tensors and not per-image pipelines: the images the app trains on are small (32x32), so the
whole training set fits on the training device, and padding, cropping and flipping a batch there
is one gather instead of 128 PIL calls on the CPU. Images are kept as floats in [0, 1];
`normalize` applies the per-channel mean and std on the device, so padding is black, as in the
paper's recipe (pad with zeros, then normalise).
"""

from __future__ import annotations

import hashlib
import io
import os
import pickle
import struct
import tarfile
import warnings
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from inspector.restricted_pickle import loads_dataset_pickle

DATASETS = ("digits", "cifar10", "folder", "synthetic")
CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
CIFAR_MD5 = "c58f30108f718f92721af3b95e74349a"
CIFAR_DIR = "cifar-10-batches-py"
CIFAR_TRAIN_FILES = tuple(f"data_batch_{i}" for i in range(1, 6))
DEFAULT_DATA_ROOT = Path("data")
#: An official batch file is about 31 MB; anything far larger is not one, and is not read.
CIFAR_MAX_FILE_BYTES = 64 * 2**20
IMAGE_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff"})
#: Larger images are refused before decoding: 40 megapixels is beyond any phone photo, and as
#: 8-bit RGB it is 120 MB.
MAX_IMAGE_PIXELS = 40_000_000
#: Images are box-reduced (in 8 bits) to at most this many times the model's input size before
#: the antialiased resize, which keeps memory small and the result sharp.
WORKING_SCALE = 4
_IMAGE_READ_ERRORS = (OSError, ValueError, SyntaxError, EOFError, struct.error, TypeError,
                      IndexError, ZeroDivisionError)  # what PIL's plugins raise on broken files
#: One fixed split, so that validation figures of two runs are comparable.
SPLIT_SEED = 0


class DataError(ValueError):
    """A dataset that cannot be loaded, with a sentence a user can act on."""


@dataclass
class Dataset:
    """Training and validation images (N, C, H, W) as floats in [0, 1], labels as int64."""

    name: str
    x_train: Tensor
    y_train: Tensor
    x_val: Tensor
    y_val: Tensor
    classes: list[str]
    mean: tuple[float, ...]
    std: tuple[float, ...]

    def __post_init__(self) -> None:
        for split, x, y in (("training", self.x_train, self.y_train),
                            ("validation", self.x_val, self.y_val)):
            if x.ndim != 4 or y.ndim != 1 or len(x) != len(y):
                raise DataError(f"The {split} images must be (N, C, H, W) with one label each.")
        if len(self.x_train) == 0:
            raise DataError(f"Dataset {self.name!r} has no training images.")
        if len(self.mean) != self.in_channels or len(self.std) != self.in_channels:
            raise DataError("Mean and std need one value per image channel.")

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def in_channels(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def image_size(self) -> int:
        return int(self.x_train.shape[-1])

    def describe(self) -> str:
        return (f"{self.name}: {len(self.x_train):,} training and {len(self.x_val):,} validation "
                f"images, {self.in_channels}x{self.image_size}x{self.image_size}, "
                f"{self.num_classes} classes")


def load_dataset(name: str = "digits", path: str | None = None, image_size: int = 32,
                 **options) -> Dataset:
    """Load a dataset by name: 'digits' (bundled), 'cifar10', 'folder' or 'synthetic'.

    Options: `val_fraction` (digits, folder), `download` (cifar10), `limit` (cifar10: keep the
    first N training images), `num_train`, `num_val`, `num_classes`, `channels` (synthetic).
    """
    if image_size < 8 or image_size > 512:
        raise DataError(f"Image size {image_size} is outside the supported 8 to 512 pixels.")
    loaders = {"digits": _digits, "cifar10": _cifar10, "folder": _folder, "synthetic": _synthetic}
    if name not in loaders:
        raise DataError(f"Unknown dataset {name!r}; choose one of: {', '.join(DATASETS)}.")
    allowed = {"digits": {"val_fraction"}, "cifar10": {"download", "limit"},
               "folder": {"val_fraction"},
               "synthetic": {"num_train", "num_val", "num_classes", "channels"}}[name]
    unknown = set(options) - allowed
    if unknown:
        raise DataError(f"Dataset {name!r} takes no option {', '.join(sorted(unknown))}.")
    return loaders[name](path, image_size, **options)


def resize(x: Tensor, image_size: int) -> Tensor:
    """Resize a batch of images (antialiased when shrinking)."""
    if x.shape[-1] == image_size and x.shape[-2] == image_size:
        return x
    shrink = x.shape[-1] > image_size
    return F.interpolate(x, size=(image_size, image_size), mode="bilinear",
                         align_corners=False, antialias=shrink).clamp_(0.0, 1.0)


def channel_stats(x: Tensor) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Per-channel mean and std of a training set (std floored so constant channels stay finite)."""
    mean = x.mean(dim=(0, 2, 3))
    std = x.std(dim=(0, 2, 3)).clamp_min(1e-3)
    return tuple(round(float(v), 6) for v in mean), tuple(round(float(v), 6) for v in std)


def _split(x: Tensor, y: Tensor, val_fraction: float) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    """A fixed, stratified split: the same images land in validation on every machine."""
    if not 0.0 < val_fraction < 1.0:
        raise DataError(f"The validation fraction must be between 0 and 1, not {val_fraction}.")
    generator = torch.Generator().manual_seed(SPLIT_SEED)
    val_index: list[Tensor] = []
    for label in torch.unique(y):
        members = torch.nonzero(y == label).flatten()
        members = members[torch.randperm(len(members), generator=generator)]
        val_index.append(members[: max(1, round(len(members) * val_fraction))])
    is_val = torch.zeros(len(y), dtype=torch.bool)
    is_val[torch.cat(val_index)] = True
    return x[~is_val], y[~is_val], x[is_val], y[is_val]


def _digits(path: str | None, image_size: int, val_fraction: float = 0.2) -> Dataset:
    """scikit-learn's 1,797 8x8 digits (values 0..16), upscaled and repeated to three channels."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = torch.tensor(bunch.images, dtype=torch.float32).unsqueeze(1) / 16.0
    x = resize(x, image_size).repeat(1, 3, 1, 1)
    y = torch.tensor(bunch.target, dtype=torch.int64)
    x_train, y_train, x_val, y_val = _split(x, y, val_fraction)
    mean, std = channel_stats(x_train)
    return Dataset("digits", x_train.contiguous(), y_train, x_val.contiguous(), y_val,
                   [str(d) for d in range(10)], mean, std)


def _synthetic(path: str | None, image_size: int, num_train: int = 1024, num_val: int = 256,
               num_classes: int = 10, channels: int = 3) -> Dataset:
    """Random images and labels: for throughput only, nothing to learn."""
    if num_train < 1 or num_val < 1 or num_classes < 2 or channels < 1:
        raise DataError("Synthetic data needs at least one image per split, two classes and "
                        "one channel.")
    generator = torch.Generator().manual_seed(SPLIT_SEED)
    x = torch.rand(num_train + num_val, channels, image_size, image_size, generator=generator)
    y = torch.randint(0, num_classes, (num_train + num_val,), generator=generator)
    return Dataset("synthetic", x[:num_train], y[:num_train], x[num_train:], y[num_train:],
                   [f"class {i}" for i in range(num_classes)], (0.5,) * channels,
                   (0.2887,) * channels)


# --- CIFAR-10 -------------------------------------------------------------------------------------

def find_cifar10(path: str | None = None) -> Path | None:
    """The `cifar-10-batches-py` folder at `path` (or inside it), else under ./data/."""
    candidates = [Path(path)] if path else [DEFAULT_DATA_ROOT]
    for base in candidates:
        for folder in (base, base / CIFAR_DIR):
            if (folder / "batches.meta").is_file() and (folder / "test_batch").is_file():
                return folder
    return None


def download_cifar10(root: str | Path = DEFAULT_DATA_ROOT, url: str = CIFAR_URL,
                     timeout: float = 30.0) -> Path:
    """Download the official archive, check its MD5 and unpack it under `root`."""
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    archive = root / "cifar-10-python.tar.gz"
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response, open(archive, "wb") as out:
            while chunk := response.read(1 << 20):
                out.write(chunk)
    except (urllib.error.URLError, TimeoutError, OSError) as error:
        archive.unlink(missing_ok=True)
        raise DataError(
            f"Could not download CIFAR-10 from {url} ({error}). This machine may be offline: "
            f"download the archive elsewhere and unpack it so that {root / CIFAR_DIR} exists."
        ) from None
    digest = hashlib.md5(archive.read_bytes()).hexdigest()
    if digest != CIFAR_MD5:
        archive.unlink(missing_ok=True)
        raise DataError(f"The downloaded CIFAR-10 archive is corrupt (MD5 {digest}, expected "
                        f"{CIFAR_MD5}); try again.")
    with tarfile.open(archive, "r:gz") as tar:
        tar.extractall(root, filter="data")
    archive.unlink()
    return root / CIFAR_DIR


def read_cifar_pickle(file: Path) -> object:
    """A file of the official python format, unpickled without running code (see
    inspector.restricted_pickle), after checking its size."""
    try:
        size = file.stat().st_size
        if size > CIFAR_MAX_FILE_BYTES:
            raise DataError(f"{file} is {size / 2**20:,.0f} MB; a CIFAR-10 batch file is about "
                            f"31 MB, so this is not one.")
        return loads_dataset_pickle(file.read_bytes())
    except OSError as error:
        raise DataError(f"Cannot read {file}: {error.strerror}.") from None
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, KeyError, IndexError,
            AttributeError, RecursionError) as error:  # what broken or hostile pickles raise
        raise DataError(f"{file} is not a CIFAR-10 file in the python format: {error}.") from None


def read_cifar_batch(file: Path) -> tuple[Tensor, Tensor]:
    """One batch of the official python format: uint8 rows of 3072 (R, G, B planes) and labels."""
    batch = read_cifar_pickle(file)
    try:
        data = np.asarray(batch[b"data"], dtype=np.uint8)
        labels = np.asarray(batch[b"labels"], dtype=np.int64)
    except (KeyError, TypeError, ValueError, OverflowError) as error:
        raise DataError(f"{file} is not a CIFAR-10 batch in the python format ({error}).") from None
    if data.ndim != 2 or data.shape[1] != 3 * 32 * 32 or len(labels) != len(data):
        raise DataError(f"{file} does not hold 32x32 RGB rows with one label each.")
    return torch.from_numpy(data.reshape(-1, 3, 32, 32)), torch.from_numpy(labels)


def _cifar10(path: str | None, image_size: int, download: bool = False,
             limit: int | None = None) -> Dataset:
    folder = find_cifar10(path)
    if folder is None and download:
        folder = download_cifar10(path or DEFAULT_DATA_ROOT)
    if folder is None:
        where = path or f"./{DEFAULT_DATA_ROOT}/"
        raise DataError(f"CIFAR-10 (the python version, folder {CIFAR_DIR}) was not found at "
                        f"{where}; ask for the download or unpack the official archive there.")
    meta = read_cifar_pickle(folder / "batches.meta")
    try:
        classes = [name.decode() for name in meta[b"label_names"]]
    except (KeyError, TypeError, AttributeError, UnicodeDecodeError):
        raise DataError(f"{folder / 'batches.meta'} is not CIFAR-10 metadata.") from None
    parts = [read_cifar_batch(folder / name) for name in CIFAR_TRAIN_FILES
             if (folder / name).is_file()]
    if not parts:
        raise DataError(f"No training batch (data_batch_1..5) in {folder}.")
    x_train = torch.cat([p[0] for p in parts])
    y_train = torch.cat([p[1] for p in parts])
    if limit is not None:
        x_train, y_train = x_train[:limit], y_train[:limit]
    x_val, y_val = read_cifar_batch(folder / "test_batch")
    x_train = resize(x_train.float().div_(255.0), image_size)
    x_val = resize(x_val.float().div_(255.0), image_size)
    mean, std = channel_stats(x_train)
    return Dataset("cifar10", x_train, y_train, x_val, y_val, classes, mean, std)


# --- Image folders --------------------------------------------------------------------------------

def open_image(source, channels: int = 3, image_size: int | None = None):
    """An image (path, bytes, file-like or PIL image) as an 8-bit PIL image: 'RGB' for three
    channels, 'L' for one, whatever mode it was stored in (16-bit, float, palette, alpha, CMYK).

    Why the order: PIL reads the header first and decodes on demand, so the pixel count is
    checked before a pixel is decoded (a few-KB PNG can claim 30000x30000). With `image_size`,
    the image is then box-reduced in 8 bits to at most `WORKING_SCALE` times that size, so a
    large photo never becomes a float array at full size.
    """
    from PIL import Image

    if channels not in (1, 3):
        raise DataError(f"Images can be given to networks with 1 or 3 input channels; this one "
                        f"takes {channels}.")
    if isinstance(source, bytes):
        source = io.BytesIO(source)
    if not isinstance(source, Image.Image) and hasattr(source, "seek"):
        source.seek(0)  # an upload may have been read before
    try:
        with warnings.catch_warnings():  # PIL warns above its own limit; ours is lower
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            image = source if isinstance(source, Image.Image) else Image.open(source)
        _check_pixel_count(*image.size)
        image = _to_8bit(image, "RGB" if channels == 3 else "L")
        if image_size is not None:
            factor = -(-max(image.size) // (WORKING_SCALE * image_size))  # rounded up
            image = image.reduce(factor) if factor > 1 else image
        return image
    except DataError:  # a ValueError too, but already the sentence to show
        raise
    except Image.DecompressionBombError:
        raise DataError(f"This image has far more than the {MAX_IMAGE_PIXELS / 1e6:.0f} "
                        f"megapixels that are read.") from None
    except _IMAGE_READ_ERRORS as error:
        raise DataError(f"{_called(source)} is not an image that can be read "
                        f"({_reason(error, source)}).") from None


def _called(source) -> str:
    """How a message names the image: its file name (an upload's `.name`, a path), else
    "This file". Never the object's repr (an upload's repr names its id and upload URL)."""
    name = source if isinstance(source, (str, Path)) else getattr(source, "name", None)
    if not isinstance(name, (str, Path)) or not str(name):
        return "This file"
    text = Path(name).name
    return f"The file {text[:80]!r}" if len(text) <= 80 else f"The file {text[:77]!r}..."


def _reason(error: Exception, source) -> str:
    """PIL's words, without the repr of what it was given ("cannot identify image file
    <UploadedFile(file_id=..., upload_url=...)>")."""
    from PIL import UnidentifiedImageError

    if isinstance(error, UnidentifiedImageError):
        return "its format is not one that can be identified"
    text = " ".join(str(error).split())
    return text.replace(repr(source), "it")[:160] or type(error).__name__


def _check_pixel_count(width: int, height: int) -> None:
    if width * height > MAX_IMAGE_PIXELS:
        raise DataError(f"This image is {width:,} x {height:,} pixels "
                        f"({width * height / 1e6:,.0f} megapixels); images up to "
                        f"{MAX_IMAGE_PIXELS / 1e6:.0f} megapixels are read.")


def _to_8bit(image, mode: str):
    """Convert to 8-bit `mode`. PIL's own conversion clips 16-bit and float images to 0..255
    (a 16-bit photo turns white), so those are scaled from their full range instead: 0..65535
    for integer modes, 0..1 for float ('F') images."""
    from PIL import Image

    if image.mode == mode:
        image.load()
        return image
    if image.mode in ("I", "F") or image.mode.startswith("I;16"):
        array = np.asarray(image, dtype=np.float32)
        scale = 1.0 if image.mode == "F" else 65535.0
        grey = np.clip(np.nan_to_num(array / scale), 0.0, 1.0)
        image = Image.fromarray(np.round(grey * 255.0).astype(np.uint8), mode="L")
    return image.convert(mode)


def image_tensor(image, image_size: int) -> Tensor:
    """An 8-bit PIL image (from `open_image`) as a (C, H, W) float tensor in [0, 1], resized."""
    array = np.asarray(image, dtype=np.float32) / 255.0
    tensor = torch.from_numpy(array)
    tensor = tensor.unsqueeze(0) if tensor.ndim == 2 else tensor.permute(2, 0, 1)
    return resize(tensor.unsqueeze(0), image_size)[0]


def read_image(source, image_size: int, channels: int = 3) -> Tensor:
    """One image (path, bytes, file-like or PIL image) as a (C, H, W) float tensor in [0, 1],
    resized; see `open_image` for the checks."""
    return image_tensor(open_image(source, channels, image_size), image_size)


def _folder(path: str | None, image_size: int, val_fraction: float = 0.2) -> Dataset:
    """One subfolder per class, its images inside; a fixed stratified split."""
    if not path or not Path(path).is_dir():
        raise DataError(f"The folder dataset needs a directory with one subfolder per class; "
                        f"{path!r} is not a directory.")
    class_dirs = sorted(d for d in Path(path).iterdir() if d.is_dir())
    images: list[Tensor] = []
    labels: list[int] = []
    classes: list[str] = []
    for class_dir in class_dirs:
        files = sorted(f for f in class_dir.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
        if not files:
            continue
        for file in files:
            images.append(read_image(file, image_size))
            labels.append(len(classes))
        classes.append(class_dir.name)
    if len(classes) < 2:
        raise DataError(f"{path} needs at least two class subfolders holding images.")
    x = torch.stack(images)
    y = torch.tensor(labels, dtype=torch.int64)
    x_train, y_train, x_val, y_val = _split(x, y, val_fraction)
    mean, std = channel_stats(x_train)
    return Dataset("folder", x_train, y_train, x_val, y_val, classes, mean, std)


# --- Batches on the device ------------------------------------------------------------------------

def normalize(x: Tensor, mean: tuple[float, ...], std: tuple[float, ...]) -> Tensor:
    """(x - mean) / std per channel, on x's device."""
    mean_t = torch.tensor(mean, device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
    std_t = torch.tensor(std, device=x.device, dtype=x.dtype).view(1, -1, 1, 1)
    return (x - mean_t) / std_t


def augment(x: Tensor, padding: int = 4, generator: torch.Generator | None = None) -> Tensor:
    """The paper's augmentation for a whole batch: zero-pad, random crop back, random flip.

    Offsets and flips are drawn on the CPU from `generator` (so a seed gives the same batches on
    any device) and applied with two gathers on x's device.
    """
    n, channels, height, width = x.shape
    offsets = torch.randint(0, 2 * padding + 1, (2, n), generator=generator).to(x.device)
    flips = (torch.rand(n, generator=generator) < 0.5).to(x.device)
    padded = F.pad(x, (padding, padding, padding, padding))
    rows = offsets[0].view(n, 1) + torch.arange(height, device=x.device)
    cols = offsets[1].view(n, 1) + torch.arange(width, device=x.device)
    cols = torch.where(flips.view(n, 1), cols.flip(1), cols)
    out = padded.gather(2, rows.view(n, 1, height, 1).expand(n, channels, height,
                                                             width + 2 * padding))
    return out.gather(3, cols.view(n, 1, 1, width).expand(n, channels, height, width))


# --- The server's data root -----------------------------------------------------------------------

#: Where the app (not the CLI) may read datasets from; set by whoever runs the server.
DATA_ROOT_ENV = "RESNET_INSPECTOR_DATA_ROOT"


def data_root() -> Path:
    """The server's data folder, symlinks resolved: `$RESNET_INSPECTOR_DATA_ROOT`, else ./data.

    Why one root: a page is driven by whoever opens it, so it offers only what the operator put
    here and never reads or creates a path a visitor typed.
    """
    return Path(os.environ.get(DATA_ROOT_ENV) or DEFAULT_DATA_ROOT).resolve()


def under_root(name: str, root: Path | None = None) -> Path:
    """`name` (relative) resolved inside the root; anything that leads out of it is a DataError."""
    root = (root or data_root()).resolve()
    relative = Path(name)
    if relative.is_absolute() or ".." in relative.parts:
        raise DataError(f"{name!r} must be a folder name inside the data root, without '..'.")
    path = (root / relative).resolve()
    if not path.is_relative_to(root):
        raise DataError(f"{name!r} leads outside the data root (a link to elsewhere).")
    return path


def image_folders(root: Path | None = None) -> list[str]:
    """Folders directly under the root with at least two class subfolders: the folder datasets.

    Only names are listed (no image is opened), so that building the page's select stays cheap.
    """
    root = (root or data_root()).resolve()
    if not root.is_dir():
        return []
    found = []
    for folder in sorted(root.iterdir()):
        if folder.name == CIFAR_DIR or not folder.is_dir():
            continue
        try:
            path = under_root(folder.name, root)
            classes = sum(1 for child in path.iterdir() if child.is_dir())
        except (DataError, OSError):
            continue
        if classes >= 2:
            found.append(folder.name)
    return found
