"""Atomic file writes: nothing a crash or a kill interrupts is left half-written.

The content goes to a temporary file in the target's directory, is flushed and fsynced, and
is then renamed over the target (``os.replace`` is atomic on POSIX and Windows), so a reader
sees either the old file or the new one. Used for checkpoints, run summaries, evaluations and
sweep records.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


@contextmanager
def atomic_open(path: str | Path, mode: str = "w") -> Iterator[IO]:
    """Open a temporary file to write (``mode`` ``"w"`` or ``"wb"``) that replaces ``path``
    when the block ends without an exception; on an exception the target is untouched."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open: mode must be 'w' or 'wb', got {mode!r}")
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_open(path, "w") as f:
        f.write(text)


def write_json_atomic(path: str | Path, data: Any, **dumps_kwargs) -> None:
    """Write ``data`` as indented JSON (non-JSON values through ``str``) atomically."""
    dumps_kwargs.setdefault("indent", 2)
    dumps_kwargs.setdefault("default", str)
    write_text_atomic(path, json.dumps(data, **dumps_kwargs) + "\n")
