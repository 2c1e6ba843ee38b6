"""A `.pt2` upload's zip directory and JSON, read with every size bounded before it is built.

Why not simply `zipfile.ZipFile(data).infolist()` and `json.loads(text)`: both build whatever
the file declares. A 191 MB archive can hold three million central-directory entries, and
zipfile makes a Python object of each (about 2 GB) before anything can count them; 64 MB of
`{},{},...` becomes 21 million dicts (about 2 GB); JSON nested 200,000 levels deep makes
`json.loads` raise RecursionError. So the end-of-central-directory record (zip64 included) is
parsed here with `struct` first, and a JSON text is scanned for its depth and its number of
values, outside strings, before the standard library parses it. Reading an entry maps zipfile's
own complaints (bad CRC, bad local header, encryption) to one sentence.
"""

from __future__ import annotations

import json
import re
import struct
import zipfile
import zlib
from typing import Any

import numpy as np

from inspector.op_trace import ModelError

NO_PROGRAM = "This file is not a torch.export program (.pt2 saved with torch.export.save)"
#: torch.export.save writes about 77 bytes of directory per entry; 256 leaves room for long
#: names and still bounds what zipfile builds (a directory entry is at least 46 bytes).
DIRECTORY_BYTES_PER_ENTRY = 256
#: A ResNet's graph JSON nests 9 levels and ResNet-1202's holds about 500,000 values.
MAX_JSON_DEPTH = 64
MAX_JSON_VALUES = 2_000_000

_END = struct.Struct("<4s4H2LH")  # end of central directory: signature ... comment length
_END_SIGNATURE = b"PK\x05\x06"
_ZIP64_LOCATOR = struct.Struct("<4sLQL")
_ZIP64_LOCATOR_SIGNATURE = b"PK\x06\x07"
_ZIP64_END = struct.Struct("<4sQ2H2L4Q")
_ZIP64_END_SIGNATURE = b"PK\x06\x06"
_MAX_COMMENT = 0xFFFF
_ENCRYPTED = 0x1  # general purpose flag bit 0

_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_STRUCTURE = bytes(b for b in range(256) if b not in b"[]{},")
_OPENERS = np.frombuffer(b"[{", np.uint8)
_CHUNK = 1 << 20


#: The end records sit in a file's last bytes: the 22-byte record, its comment (up to 64 KiB)
#: and, before it, zip64's 20-byte locator and 56-byte record.
END_RECORDS_BYTES = 22 + 0xFFFF + 20 + 56


def end_records(tail: bytes, file_size: int) -> tuple[int, int] | None:
    """(entries, central directory bytes) as a zip's end records declare them, read from the
    file's last bytes (`tail`, at least END_RECORDS_BYTES of them when the file is longer), zip64
    included; None when there is no end record. ValueError when they are damaged."""
    start = tail.rfind(_END_SIGNATURE, max(0, len(tail) - _END.size - _MAX_COMMENT))
    if start < 0 or start + _END.size > len(tail):
        return None
    _, _, _, _, entries, size, offset, _ = _END.unpack_from(tail, start)
    locator = start - _ZIP64_LOCATOR.size
    if locator >= 0 and tail[locator:locator + 4] == _ZIP64_LOCATOR_SIGNATURE:
        record = locator - _ZIP64_END.size  # where zipfile itself looks for it
        if record < 0 or tail[record:record + 4] != _ZIP64_END_SIGNATURE:
            raise ValueError("its zip64 directory record is damaged")
        *_, entries, size, offset = _ZIP64_END.unpack_from(tail, record)
    if offset + size > file_size:
        raise ValueError("its zip directory points past the end of the file (the file is cut "
                         "short or damaged)")
    return entries, size


def directory_bounds(data: bytes) -> tuple[int, int]:
    """(entries, central directory bytes) of an archive held in memory, or ModelError."""
    try:
        bounds = end_records(data[-END_RECORDS_BYTES:], len(data))
    except ValueError as error:
        raise ModelError(f"{NO_PROGRAM}: {error}.") from None
    if bounds is None:
        raise ModelError(f"{NO_PROGRAM}: it is not a zip archive.")
    return bounds


def check_directory(data: bytes, max_entries: int) -> None:
    """Refuse an archive whose directory is too large to list, before zipfile lists it."""
    entries, size = directory_bounds(data)
    if entries > max_entries or size > max_entries * DIRECTORY_BYTES_PER_ENTRY:
        raise ModelError(f"{NO_PROGRAM}: its zip directory declares {entries:,} entries in "
                         f"{size:,} bytes; a program has at most {max_entries:,}.")


def check_entry_flags(entry: zipfile.ZipInfo) -> None:
    if entry.flag_bits & _ENCRYPTED:
        raise ModelError(f"{NO_PROGRAM}: {entry.filename[:80]!r} is encrypted.")


def read_entry(archive: zipfile.ZipFile, name: str) -> bytes:
    """An entry's bytes, or one sentence for whatever zipfile finds wrong with them."""
    try:
        return archive.read(name)
    except (zipfile.BadZipFile, RuntimeError, NotImplementedError, EOFError, OSError,
            ValueError, zlib.error) as error:
        reason = " ".join(str(error).split())[:120] or type(error).__name__
        raise ModelError(f"{NO_PROGRAM}: its entry {name[:80]!r} is damaged ({reason}).") \
            from None


def check_json_shape(text: bytes, name: str) -> None:
    """Refuse JSON nested deeper than MAX_JSON_DEPTH or holding more than MAX_JSON_VALUES
    values, counting brackets and commas outside strings, before anything is built."""
    structure = _STRING.sub(b'""', text).translate(None, _NOT_STRUCTURE)
    brackets = structure.translate(None, b",")
    values = len(structure) - len(brackets) + 1 + len(brackets) // 2
    if values > MAX_JSON_VALUES:
        raise ModelError(f"{NO_PROGRAM}: {name} holds more than {MAX_JSON_VALUES:,} JSON "
                         f"values.")
    codes = np.frombuffer(brackets, np.uint8)
    depth = 0
    for start in range(0, len(codes), _CHUNK):
        steps = np.where(np.isin(codes[start:start + _CHUNK], _OPENERS), 1, -1).cumsum() + depth
        if steps.max() > MAX_JSON_DEPTH:
            raise ModelError(f"{NO_PROGRAM}: {name} is nested more than {MAX_JSON_DEPTH} "
                             f"levels deep.")
        depth = int(steps[-1])


def parse_json(text: bytes, name: str) -> Any:
    """`json.loads` of a text whose depth and size were bounded first."""
    check_json_shape(text, name)
    try:
        return json.loads(text)
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise ModelError(f"{NO_PROGRAM}: {name} is not valid JSON.") from None
