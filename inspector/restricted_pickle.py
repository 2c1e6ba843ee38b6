"""Unpickling of the official CIFAR-10 batch files without running code from them.

Why not `pickle.load`: a pickle is a small program; its GLOBAL opcodes name any importable
callable (`os.system`, `builtins.open`, `subprocess.run`) and REDUCE calls it. A downloaded or
shared dataset folder is data, so only the names the official format needs are resolved: numpy's
array reconstruction (`_reconstruct`, `ndarray`, `dtype`) and `_codecs.encode`, which Python 3
writes for `bytes` in protocol 2 pickles, admitted for the latin-1 codec only. Dicts, lists,
ints, str and bytes need no global at all. Every other name is refused before it is imported.
"""

from __future__ import annotations

import codecs
import io
import pickle
from typing import Any, Callable

import numpy as np

#: numpy 2 moved `numpy.core` to `numpy._core`; pickles name either, depending on who wrote them.
_RECONSTRUCT_MODULES = frozenset({"numpy.core.multiarray", "numpy._core.multiarray"})


def _latin1_encode(text: str, encoding: str = "latin1") -> bytes:
    """`_codecs.encode` as protocol 2 uses it for bytes; other codecs (zlib, ...) are refused."""
    if codecs.lookup(encoding).name != "iso8859-1" or not isinstance(text, str):
        raise pickle.UnpicklingError(f"the file asks for the {encoding!r} codec, which the "
                                     f"dataset format never uses")
    return text.encode("latin1")


def _admitted(module: str, name: str) -> Callable[..., Any] | type | None:
    if module in _RECONSTRUCT_MODULES and name == "_reconstruct":
        return np._core.multiarray._reconstruct
    if module == "numpy" and name == "ndarray":
        return np.ndarray
    if module == "numpy" and name == "dtype":
        return np.dtype
    if module == "_codecs" and name == "encode":
        return _latin1_encode
    return None


class DatasetUnpickler(pickle.Unpickler):
    """Resolves only the globals of the official dataset format; raises UnpicklingError for the
    rest, naming what was asked for."""

    def find_class(self, module: str, name: str) -> Any:
        admitted = _admitted(module, name)
        if admitted is None:
            raise pickle.UnpicklingError(
                f"it asks to run {module}.{name}, which a dataset file never contains")
        return admitted

    def persistent_load(self, pid: Any) -> Any:
        raise pickle.UnpicklingError("it refers to outside objects, which a dataset file never "
                                     "does")


def loads_dataset_pickle(data: bytes) -> Any:
    """Unpickle bytes of the dataset format (Python 2 strings kept as bytes, as the format is)."""
    return DatasetUnpickler(io.BytesIO(data), encoding="bytes").load()
