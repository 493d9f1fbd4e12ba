"""One array of an ``.npz`` archive, memory-mapped where the archive allows it.

An ``.npz`` file is a zip archive of ``.npy`` files. ``np.load(file, mmap_mode="r")``
ignores ``mmap_mode`` for archives and reads a member whole, which a 12.7 GB member makes
impractical. A member *stored* uncompressed (``np.savez``) is a plain byte range of the
archive, so :func:`map_member` maps it with :class:`numpy.memmap`: nothing is read until a
page is touched. A *deflate-compressed* member (``np.savez_compressed``) cannot be mapped;
:func:`read_rows` decompresses it block by block, so a caller can fill its own buffer
without holding a second copy.

Where the bytes are (the zip format, PKWARE APPNOTE §4.3): the central directory gives each
member's local header offset; a local header is 30 bytes (signature ``PK\\x03\\x04``, file
name length at byte 26, extra field length at byte 28, little-endian uint16), followed by
the name, the extra field (zip64 sizes for members over 4 GB, which ``np.savez`` always
writes) and the member's bytes. Those start with the ``.npy`` magic string and header
(format 1.0 or 2.0: dtype, fortran_order, shape); the array's bytes follow.

Every failure is a :class:`~pyrodisent.data.paths.DataFileError` naming the file and the
problem. Mapping checks that the header's shape fits the member's size; only a full read
(:func:`read_rows`) checks the member's CRC.
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pyrodisent.data.paths import DataFileError

_LOCAL_HEADER = b"PK\x03\x04"
_READ_ERRORS = (OSError, ValueError, EOFError, zipfile.BadZipFile, zlib.error)


@dataclass(frozen=True)
class NpzMember:
    """Where one array of an archive lives and what its ``.npy`` header says."""

    file: Path
    key: str
    shape: tuple[int, ...]
    dtype: np.dtype
    fortran_order: bool
    compressed: bool
    data_offset: int | None  # byte offset of the array's data in the archive (stored members)

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize


def _read_npy_header(stream, file: Path, key: str) -> tuple[tuple[int, ...], np.dtype, bool]:
    try:
        version = np.lib.format.read_magic(stream)
        if version == (1, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_1_0(stream)
        elif version == (2, 0):
            shape, fortran_order, dtype = np.lib.format.read_array_header_2_0(stream)
        else:
            raise DataFileError(file, f"array {key!r} has .npy format version {version}; 1.0 or 2.0 expected")
    except DataFileError:
        raise
    except _READ_ERRORS as exc:
        raise DataFileError(file, f"array {key!r} has no valid .npy header ({type(exc).__name__}: {exc})") from None
    return tuple(int(s) for s in shape), np.dtype(dtype), bool(fortran_order)


def inspect_member(file: str | Path, key: str) -> NpzMember:
    """Read the zip directory and the ``.npy`` header of array ``key`` (no array data)."""
    file = Path(file)
    try:
        archive = zipfile.ZipFile(file)
    except _READ_ERRORS as exc:
        raise DataFileError(file, f"cannot be read as an .npz archive ({type(exc).__name__}: {exc})") from None
    with archive:
        names = archive.namelist()
        if f"{key}.npy" not in names:
            keys = sorted(n[:-4] if n.endswith(".npy") else n for n in names)
            raise DataFileError(file, f"has no array {key!r} (keys: {keys})")
        info = archive.getinfo(f"{key}.npy")
        if info.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
            raise DataFileError(
                file,
                f"array {key!r} uses zip compression method {info.compress_type}; np.savez (stored) "
                "or np.savez_compressed (deflate) expected",
            )
        compressed = info.compress_type == zipfile.ZIP_DEFLATED
        try:
            with archive.open(info) as stream:
                shape, dtype, fortran_order = _read_npy_header(stream, file, key)
                header_size = stream.tell()
        except DataFileError:
            raise
        except _READ_ERRORS as exc:
            raise DataFileError(file, f"is truncated or corrupt ({type(exc).__name__}: {exc})") from None
    member = NpzMember(file, key, shape, dtype, fortran_order, compressed, None)
    if dtype.hasobject:  # pickled objects: no fixed size, never mapped nor unpickled
        return member
    if header_size + member.nbytes != info.file_size:
        raise DataFileError(
            file,
            f"array {key!r}: its header says {list(shape)} {dtype} = {member.nbytes} bytes, but the member "
            f"holds {info.file_size - header_size} (truncated or corrupt)",
        )
    if compressed:
        return member
    with open(file, "rb") as raw:
        raw.seek(info.header_offset)
        local = raw.read(30)
    if len(local) < 30 or local[:4] != _LOCAL_HEADER:
        raise DataFileError(file, f"array {key!r}: no zip local header at byte {info.header_offset} (corrupt)")
    name_length, extra_length = struct.unpack("<HH", local[26:30])
    offset = info.header_offset + 30 + name_length + extra_length + header_size
    if offset + member.nbytes > file.stat().st_size:
        raise DataFileError(
            file, f"array {key!r} needs bytes up to {offset + member.nbytes}, the file has {file.stat().st_size} (truncated)"
        )
    return NpzMember(file, key, shape, dtype, fortran_order, compressed, offset)


def map_member(member: NpzMember) -> np.ndarray:
    """The stored (uncompressed) array as a copy-on-write :class:`numpy.memmap`.

    Copy-on-write (``mode="c"``): the file is never written; the array is writable, so
    ``torch.from_numpy`` shares it without a warning, and a page written to becomes a
    private copy.
    """
    if member.compressed or member.data_offset is None:
        raise ValueError(f"{member.file}: array {member.key!r} is deflate-compressed and cannot be memory-mapped")
    if member.dtype.hasobject:
        raise DataFileError(member.file, f"array {member.key!r} holds Python objects (pickled), not numbers")
    order = "F" if member.fortran_order else "C"
    return np.memmap(member.file, member.dtype, "c", member.data_offset, member.shape, order)


def read_rows(member: NpzMember, rows: int) -> Iterator[tuple[int, np.ndarray]]:
    """(start row, block) pairs of at most ``rows`` rows, decompressed as they are read.

    Works for stored and compressed members of a C-ordered array; the member's CRC is
    checked when its last byte has been read.
    """
    if member.fortran_order or member.dtype.hasobject:
        raise DataFileError(member.file, f"array {member.key!r} must be a C-ordered numeric array to be read in rows")
    n = member.shape[0]
    row_bytes = member.nbytes // n if n else 0
    try:
        with zipfile.ZipFile(member.file) as archive, archive.open(f"{member.key}.npy") as stream:
            _read_npy_header(stream, member.file, member.key)
            for start in range(0, n, rows):
                count = min(rows, n - start)
                data = bytearray(count * row_bytes)  # writable, so torch.from_numpy shares it
                got = stream.readinto(data)
                if got != len(data):
                    raise DataFileError(member.file, f"array {member.key!r} ends after row {start + got // row_bytes} of {n} (truncated)")
                yield start, np.frombuffer(data, member.dtype).reshape(count, *member.shape[1:])
            stream.read(1)  # reaching the end checks the CRC
    except DataFileError:
        raise
    except _READ_ERRORS as exc:
        raise DataFileError(member.file, f"is truncated or corrupt ({type(exc).__name__}: {exc})") from None
